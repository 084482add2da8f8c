"""The fusion stage of the pipeline: ``ensemble.py`` over every score stream the stages before it wrote."""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.config import ConfigError
from pipeline.core import PROJECT_ROOT, Context, Stage, python, register


@dataclass
class FusionStage:
    weights: dict[str, float] = field(
        default_factory=lambda: {"joint": 2.0, "bone": 2.0, "joint_motion": 1.0, "bone_motion": 1.0, "parsing": 2.0}
    )


def fusion_stages(ctx: Context) -> list[Stage]:
    cfg, paths = ctx.cfg, ctx.paths
    score_args: list[str] = []
    for stage in ctx.stages:
        for stream, path in stage.streams.items():
            weight = cfg.fusion.weights.get(stream)
            if weight is None:
                raise ConfigError(f"pipeline: fusion.weights has no weight for stream '{stream}'")
            score_args += ["--score", f"{stream}={path}:{weight:g}"]
    return [Stage(
        "fuse",
        [python(PROJECT_ROOT / "ensemble.py", *score_args, "--labels", paths.split_dir(cfg.benchmark, "test"),
                "--out", paths.results)],
    )]


register(80, fusion_stages, section="fusion", section_cls=FusionStage)
