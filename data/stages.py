"""The data system's pipeline stages: the synthetic NTU set (the demo) and skeleton preprocessing."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.config import ConfigError
from pipeline.core import Context, Paths, Stage, python, register


@dataclass
class SyntheticStage:
    """Generate the synthetic NTU-like dataset first (the demo); off for real data."""

    enabled: bool = False
    seed: int = 0
    args: list[str] = field(default_factory=list)


@dataclass
class PrepareStage:
    enabled: bool = True  # off for journeys without NTU skeletons (e.g. Kinetics-TPS only)
    workers: int = 0  # 0: all cores


def use_synthetic_inputs(cfg: Any, paths: Paths) -> None:
    if not cfg.synthetic.enabled:
        return
    paths.skeletons = [paths.synthetic / "skeletons"]
    paths.videos = paths.synthetic / "videos"
    # The synthetic maps are drawn from the skeletons; the parser's output on the few synthetic
    # videos only shows that path runs, so training uses the drawn maps.
    paths.parsing_maps = Path(cfg.parsing_maps) if cfg.parsing_maps else paths.synthetic / "parsing"


def synthetic_stages(ctx: Context) -> list[Stage]:
    cfg, paths = ctx.cfg, ctx.paths
    if not cfg.synthetic.enabled:
        return []
    return [Stage(
        "synthetic",
        [python("-m", "data.synthetic", "--out", paths.synthetic, "--seed", str(cfg.synthetic.seed),
                *cfg.synthetic.args)],
        done=lambda: (paths.synthetic / "synthetic.json").is_file(),
    )]


def prepare_stages(ctx: Context) -> list[Stage]:
    cfg, paths = ctx.cfg, ctx.paths
    if not cfg.prepare.enabled:
        return []
    if not paths.skeletons:
        raise ConfigError("pipeline: 'skeletons' names no folder of .skeleton files (and synthetic is off)")
    split_dirs = [paths.split_dir(cfg.benchmark, split) for split in ("train", "test")]
    prepare = python("-m", "data.ntu", "prepare", "--skeletons", *paths.skeletons, "--out", paths.prepared,
                     "--benchmarks", cfg.benchmark, "--on-error", "skip")
    if cfg.prepare.workers:
        prepare += ["--workers", str(cfg.prepare.workers)]
    return [Stage("prepare", [prepare], done=lambda: all((d / "meta.json").is_file() for d in split_dirs))]


register(10, synthetic_stages, section="synthetic", section_cls=SyntheticStage, configure=use_synthetic_inputs)
register(11, prepare_stages, section="prepare", section_cls=PrepareStage)
