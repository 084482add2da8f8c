"""The pose branch's pipeline stages: CTR-GCN trained on each skeleton stream."""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.core import PROJECT_ROOT, Context, Stage, register, scores_done, train_command

POSE_STREAMS = ("joint", "bone", "joint_motion", "bone_motion")


@dataclass
class PoseStage:
    streams: list[str] = field(default_factory=lambda: list(POSE_STREAMS))
    config: str = "configs/demo/pose_{stream}.yaml"  # {stream} is replaced by each stream's name
    overrides: list[str] = field(default_factory=list)


def pose_stages(ctx: Context) -> list[Stage]:
    cfg, paths = ctx.cfg, ctx.paths
    data_overrides = [f"data.root={paths.prepared}", f"data.benchmark={cfg.benchmark}"]
    stages = []
    for stream in cfg.pose.streams:
        work_dir = paths.run_dir(f"pose_{stream}")
        stages.append(Stage(
            f"train pose {stream}",
            [train_command(PROJECT_ROOT / "train_pose.py", cfg.pose.config.format(stream=stream), work_dir,
                           [*data_overrides, *cfg.pose.overrides], cfg.device)],
            done=scores_done(work_dir),
            streams={stream: work_dir / "scores" / "final.pkl"},
        ))
    return stages


register(30, pose_stages, section="pose", section_cls=PoseStage)
