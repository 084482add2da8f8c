"""The multitask network's pipeline stages (off by default): pose, then action, then fine-tuning, each
starting from the previous stage's checkpoint; optionally the estimated skeletons exported and CTR-GCN
trained on them.

Config section ``multitask`` (``enabled: false`` unless a pipeline config turns it on). Fusion streams:
``multitask`` (the fine-tuned model's action logits) and, with ``export: true``, ``multitask_joint``
(CTR-GCN's joint stream on the estimated skeletons).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pipeline.core import PROJECT_ROOT, Context, Stage, python, register, scores_done, train_command

STAGES = ("pose", "action", "finetune")


@dataclass
class MultitaskStage:
    enabled: bool = False
    config: str = "configs/demo/multitask_{stage}.yaml"  # {stage}: pose, action, finetune
    overrides: list[str] = field(default_factory=list)
    export: bool = False  # write the estimated skeletons and train the pose branch's joint stream on them
    pose_config: str = "configs/demo/pose_joint.yaml"


def _with_weights(command: list[str], weights: Path) -> list[str]:
    """Start from ``weights`` unless the run resumes its own checkpoint."""
    return command if "--resume" in command else [*command, "--weights", str(weights)]


def multitask_stages(ctx: Context) -> list[Stage]:
    cfg, paths = ctx.cfg, ctx.paths
    section: MultitaskStage = cfg.multitask
    if not section.enabled:
        return []
    data = [f"data.benchmark={cfg.benchmark}"]
    if paths.skeletons:
        data.append(f"data.skeletons={paths.skeletons[0]}")
    if paths.videos is not None:
        data.append(f"data.videos={paths.videos}")
    stages, previous = [], None
    for stage in STAGES:
        work_dir = paths.run_dir(f"multitask_{stage}")
        command = train_command(PROJECT_ROOT / "train_multitask.py", section.config.format(stage=stage), work_dir,
                                [*data, *section.overrides], cfg.device)
        if previous is not None:
            command = _with_weights(command, previous)
        stages.append(Stage(f"train multitask {stage}", [command], done=scores_done(work_dir),
                            streams={"multitask": work_dir / "scores" / "final.pkl"} if stage == "finetune" else {}))
        previous = work_dir / "checkpoints" / "last.pt"
    if section.export:
        estimated = paths.out / "prepared_estimated"
        export = python("-m", "multitask", "export", "--config", section.config.format(stage="finetune"),
                        "--weights", previous, "--out", estimated, "--quiet",
                        *[arg for item in [*data, *section.overrides] for arg in ("--set", item)])
        meta = estimated / cfg.benchmark / "test" / "meta.json"
        stages.append(Stage("export multitask skeletons", [export], done=meta.is_file))
        work_dir = paths.run_dir("multitask_pose_joint")
        stages.append(Stage(
            "train pose joint on multitask skeletons",
            [train_command(PROJECT_ROOT / "train_pose.py", section.pose_config, work_dir,
                           [f"data.root={estimated}", f"data.benchmark={cfg.benchmark}"], cfg.device)],
            done=scores_done(work_dir), streams={"multitask_joint": work_dir / "scores" / "final.pkl"}))
    return stages


register(45, multitask_stages, section="multitask", section_cls=MultitaskStage)
