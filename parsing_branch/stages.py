"""The parsing branch's pipeline stage: the CNN trained on parsing feature maps."""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.core import PROJECT_ROOT, Context, Stage, register, scores_done, train_command


@dataclass
class ParsingBranchStage:
    enabled: bool = True
    config: str = "configs/demo/parsing.yaml"
    overrides: list[str] = field(default_factory=list)


def parsing_branch_stages(ctx: Context) -> list[Stage]:
    cfg, paths = ctx.cfg, ctx.paths
    if not cfg.parsing_branch.enabled:
        return []
    work_dir = paths.run_dir("parsing")
    overrides = [f"data.root={paths.prepared}", f"data.benchmark={cfg.benchmark}",
                 f"data.parsing_dir={paths.parsing_maps}", *cfg.parsing_branch.overrides]
    return [Stage(
        "train parsing",
        [train_command(PROJECT_ROOT / "train_parsing.py", cfg.parsing_branch.config, work_dir, overrides,
                       cfg.device)],
        done=scores_done(work_dir),
        streams={"parsing": work_dir / "scores" / "final.pkl"},
    )]


register(40, parsing_branch_stages, section="parsing_branch", section_cls=ParsingBranchStage)
