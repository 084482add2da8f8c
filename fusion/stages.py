"""The fusion stage of the pipeline: ``ensemble.py`` over every score stream the stages before it wrote.

The printed table carries bootstrap intervals, and McNemar's test of the pose-only against the full
fusion when there are pose streams and others beside them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.config import ConfigError
from fusion.significance import DEFAULT_RESAMPLES
from fusion.streams import POSE_STREAMS, canonical_stream_name
from pipeline.core import PROJECT_ROOT, Context, Stage, python, register


@dataclass
class FusionStage:
    weights: dict[str, float] = field(
        default_factory=lambda: {"joint": 2.0, "bone": 2.0, "joint_motion": 1.0, "bone_motion": 1.0, "parsing": 2.0}
    )
    bootstrap: int = DEFAULT_RESAMPLES  # resamples of the test samples for the top-1 intervals


def fusion_stages(ctx: Context) -> list[Stage]:
    cfg, paths = ctx.cfg, ctx.paths
    score_args: list[str] = []
    streams: list[str] = []
    for stage in ctx.stages:
        for stream, path in stage.streams.items():
            weight = cfg.fusion.weights.get(stream)
            if weight is None:
                raise ConfigError(f"pipeline: fusion.weights has no weight for stream '{stream}'")
            score_args += ["--score", f"{stream}={path}:{weight:g}"]
            streams.append(canonical_stream_name(stream))
    if not streams:
        return []  # a journey that trains no score stream (e.g. Kinetics-TPS only) has nothing to fuse
    pose = [s for s in streams if s in POSE_STREAMS]
    compare = ["--compare", "pose fusion", "full fusion"] if pose and len(pose) < len(streams) else []
    return [Stage(
        "fuse",
        [python(PROJECT_ROOT / "ensemble.py", *score_args, "--labels", paths.split_dir(cfg.benchmark, "test"),
                "--bootstrap", str(cfg.fusion.bootstrap), *compare, "--out", paths.results)],
    )]


register(80, fusion_stages, section="fusion", section_cls=FusionStage)
