"""What every system's pipeline stages are made of: :class:`Stage`, the shared :class:`Paths`, and
:func:`register`, through which a system contributes its config section and its stages.

A system adds a ``<package>/stages.py`` that calls :func:`register` at import; the pipeline finds
those modules itself (``pipeline.runner.discover``), so a new branch adds its stages without editing
a central list. A contribution's ``order`` places its stages in the journey (data 10, parsing maps
20, skeleton training 30, parsing training 40, fusion 80, pictures 90; leave gaps for new systems).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Stage:
    """One step of the journey: the commands a user would type, and how to tell it is finished.

    ``streams`` names the score files the stage writes (fusion stream name -> path), so that the
    fusion stage can fuse whatever the systems before it trained.
    """

    name: str
    commands: list[list[str]]
    done: Callable[[], bool] = lambda: False
    note: str = ""
    streams: dict[str, Path] = field(default_factory=dict)


class Paths:
    """Where each stage reads and writes, derived from the config in one place.

    Systems may move the inputs in their ``configure`` hook (the synthetic data set does: skeletons,
    videos and parsing maps then come from the generated folder).
    """

    def __init__(self, cfg: Any) -> None:
        self.out = Path(cfg.out_dir)
        self.synthetic = self.out / "synthetic"
        self.prepared = self.out / "prepared"
        self.person_frames = self.out / "person_frames"
        self.parsed = self.out / "parsed"
        # Per benchmark, so that the four benchmarks can share one out_dir (and its parsed data).
        self.runs = self.out / "runs" / cfg.benchmark
        self.results = self.out / "results" / cfg.benchmark
        self.skeletons = [Path(p) for p in cfg.skeletons]
        self.videos: Path | None = Path(cfg.videos) if cfg.videos else None
        self.parsing_maps = Path(cfg.parsing_maps) if cfg.parsing_maps else self.parsed

    def run_dir(self, name: str) -> Path:
        return self.runs / name

    def split_dir(self, benchmark: str, split: str) -> Path:
        return self.prepared / benchmark / split


@dataclass
class Context:
    """What a contribution's ``build`` sees: the whole config, the paths, and the stages built before it."""

    cfg: Any
    paths: Paths
    stages: list[Stage]


@dataclass(frozen=True)
class Contribution:
    """A system's part of the pipeline: an optional config section and the stages it builds."""

    order: int
    build: Callable[[Context], list[Stage]]
    section: str = ""  # top-level key of the pipeline YAML, e.g. "pose"
    section_cls: type | None = None  # its dataclass (defaults = the section's defaults)
    configure: Callable[[Any, Paths], None] | None = None  # adjust the shared paths first
    module: str = ""


_CONTRIBUTIONS: list[Contribution] = []


def register(order: int, build: Callable[[Context], list[Stage]], *, section: str = "",
             section_cls: type | None = None, configure: Callable[[Any, Paths], None] | None = None) -> None:
    """Add a system's stages (and its config section) to the pipeline; called by ``<package>/stages.py``."""
    module = getattr(build, "__module__", "")
    if any(c.build is build for c in _CONTRIBUTIONS):
        return  # the module was imported twice (as a script and as a module)
    if section and any(c.section == section for c in _CONTRIBUTIONS):
        other = next(c.module for c in _CONTRIBUTIONS if c.section == section)
        raise ValueError(f"{module}: pipeline section {section!r} is already contributed by {other}")
    _CONTRIBUTIONS.append(Contribution(order, build, section, section_cls, configure, module))


def contributions() -> list[Contribution]:
    """Every registered contribution in journey order (ties: registration order)."""
    return sorted(_CONTRIBUTIONS, key=lambda c: c.order)


def python(*args: str | Path) -> list[str]:
    return [sys.executable, *map(str, args)]


def train_command(script: Path, config: str, work_dir: Path, overrides: list[str], device: str) -> list[str]:
    """Resume an interrupted run, replace a run that never saved a checkpoint, else start afresh."""
    cmd = python(script, "--config", config, "--work-dir", work_dir, "--device", device)
    if (work_dir / "checkpoints" / "last.pt").is_file():
        cmd.append("--resume")
    elif work_dir.exists():
        cmd.append("--overwrite")
    for item in overrides:
        cmd += ["--set", item]
    return cmd


def scores_done(work_dir: Path) -> Callable[[], bool]:
    """A training stage is finished when its final score file exists."""
    return lambda: (work_dir / "scores" / "final.pkl").is_file()
