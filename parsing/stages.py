"""The parsing system's pipeline stages: person frames and parsing maps from the videos, and the
pictures of a sample's maps at the end of the journey."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from engine.config import ConfigError
from pipeline.core import Context, Stage, python, register


@dataclass
class ParserStage:
    """Person frames from the RGB videos, then the parser on them (SCHP for EPP-Net, PSPNet for IPP-Net)."""

    enabled: bool = True
    model: Literal["schp", "pspnet"] = "schp"
    checkpoint: str = ""  # the official final.pth / PSPNet_last; empty with random_weights for a smoke run
    random_weights: bool = False
    batch_size: int = 4
    args: list[str] = field(default_factory=list)


def parser_stages(ctx: Context) -> list[Stage]:
    cfg, paths = ctx.cfg, ctx.paths
    if not (cfg.parser.enabled and paths.videos is not None):
        return []
    weights = (["--checkpoint", cfg.parser.checkpoint] if cfg.parser.checkpoint
               else ["--random-weights", "--seed", "0"] if cfg.parser.random_weights else [])
    if not weights:
        raise ConfigError("pipeline: parser.checkpoint (the official final.pth) is empty; "
                          "set it, set parser.random_weights for a smoke run, or parser.enabled: false")
    return [Stage(
        "person frames + parsing",
        [
            python("-m", "parsing", "frames", "--videos", paths.videos, "--skeletons", paths.skeletons[0],
                   "--out", paths.person_frames),
            python("-m", "parsing", "parse", "--frames", paths.person_frames, "--out", paths.parsed,
                   "--model", cfg.parser.model, "--batch-size", str(cfg.parser.batch_size), "--device", cfg.device,
                   *weights,
                   *cfg.parser.args),
        ],
        note="random weights: the maps only show that this path runs" if not cfg.parser.checkpoint else "",
    )]


def _first_sample_name(split_dir: Path) -> str:
    names = split_dir / "names.txt"
    if not names.is_file():
        return ""
    with open(names) as fh:
        return fh.readline().strip()


def picture_stages(ctx: Context) -> list[Stage]:
    """A feature map and an animation of the first test sample's parsing maps."""
    paths = ctx.paths
    sample = _first_sample_name(paths.split_dir(ctx.cfg.benchmark, "test"))
    pictures = []
    if sample:
        npy = paths.parsing_maps / f"{sample}.npy"
        show = python("-m", "parsing", "show")
        pictures += [
            [*show, "feature-map", "--parsing", str(npy), "--out", str(paths.results / f"{sample}_feature_map.png")],
            [*show, "gif", "--parsing", str(npy), "--out", str(paths.results / f"{sample}_parsing.gif")],
        ]
    return [Stage("pictures", pictures)]


register(20, parser_stages, section="parser", section_cls=ParserStage)
register(90, picture_stages)
