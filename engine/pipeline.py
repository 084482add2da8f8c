"""The whole journey in one command: data, parsing maps, five streams, fusion, pictures.

    python -m engine.pipeline configs/demo/pipeline.yaml
    python -m engine.pipeline configs/ntu60-xsub/pipeline.yaml --only fuse

Each stage runs the same command a user would type (it is printed first), in order. A stage whose
outputs are complete is skipped, a training run that was interrupted is resumed, so running the
pipeline again after a crash continues where it stopped. Point it at real NTU data with a config
whose ``skeletons`` / ``videos`` / ``parsing_maps`` name the real folders (see configs/ and README).
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from engine.config import ConfigError, load_config

POSE_STREAMS = ("joint", "bone", "joint_motion", "bone_motion")
PROJECT_ROOT = Path(__file__).resolve().parents[1]


@dataclass
class SyntheticStage:
    """Generate the synthetic NTU-like dataset first (the demo); off for real data."""

    enabled: bool = False
    seed: int = 0
    args: list[str] = field(default_factory=list)


@dataclass
class PrepareStage:
    workers: int = 0  # 0: all cores


@dataclass
class ParserStage:
    """Person frames from the RGB videos, then the SCHP parser on them."""

    enabled: bool = True
    checkpoint: str = ""  # the official final.pth; empty with random_weights for a smoke run
    random_weights: bool = False
    batch_size: int = 4
    args: list[str] = field(default_factory=list)


@dataclass
class TrainStage:
    config: str = ""
    overrides: list[str] = field(default_factory=list)


@dataclass
class PoseStage:
    streams: list[str] = field(default_factory=lambda: list(POSE_STREAMS))
    config: str = "configs/demo/pose_{stream}.yaml"  # {stream} is replaced by each stream's name
    overrides: list[str] = field(default_factory=list)


@dataclass
class FusionStage:
    weights: dict[str, float] = field(
        default_factory=lambda: {"joint": 2.0, "bone": 2.0, "joint_motion": 1.0, "bone_motion": 1.0, "parsing": 2.0}
    )


@dataclass
class PipelineConfig:
    out_dir: str = "demo_output"
    benchmark: str = "ntu60-xsub"
    device: str = "auto"
    skeletons: list[str] = field(default_factory=list)  # folders of .skeleton files (real data)
    videos: str = ""  # folder of <name>_rgb.avi; parsed into parsing maps when the parser stage is on
    parsing_maps: str = ""  # folder of <name>.npy the parsing branch trains on; default: the parser's output
    synthetic: SyntheticStage = field(default_factory=SyntheticStage)
    prepare: PrepareStage = field(default_factory=PrepareStage)
    parser: ParserStage = field(default_factory=ParserStage)
    pose: PoseStage = field(default_factory=PoseStage)
    parsing_branch: TrainStage = field(default_factory=lambda: TrainStage(config="configs/demo/parsing.yaml"))
    fusion: FusionStage = field(default_factory=FusionStage)


@dataclass
class Stage:
    name: str
    commands: list[list[str]]
    done: Callable[[], bool] = lambda: False
    note: str = ""


class Paths:
    """Where each stage reads and writes, derived from the config in one place."""

    def __init__(self, cfg: PipelineConfig) -> None:
        self.out = Path(cfg.out_dir)
        self.synthetic = self.out / "synthetic"
        self.prepared = self.out / "prepared"
        self.person_frames = self.out / "person_frames"
        self.parsed = self.out / "parsed"
        # Per benchmark, so that the four benchmarks can share one out_dir (and its parsed data).
        self.runs = self.out / "runs" / cfg.benchmark
        self.results = self.out / "results" / cfg.benchmark
        if cfg.synthetic.enabled:
            self.skeletons = [self.synthetic / "skeletons"]
            self.videos = self.synthetic / "videos"
            # The synthetic maps are drawn from the skeletons; the parser's output on the few synthetic
            # videos only shows that path runs, so training uses the drawn maps.
            self.parsing_maps = Path(cfg.parsing_maps) if cfg.parsing_maps else self.synthetic / "parsing"
        else:
            self.skeletons = [Path(p) for p in cfg.skeletons]
            self.videos = Path(cfg.videos) if cfg.videos else None
            self.parsing_maps = Path(cfg.parsing_maps) if cfg.parsing_maps else self.parsed

    def run_dir(self, name: str) -> Path:
        return self.runs / name


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


def build_stages(cfg: PipelineConfig) -> list[Stage]:
    paths = Paths(cfg)
    bench = cfg.benchmark
    split_dirs = [paths.prepared / bench / split for split in ("train", "test")]
    stages: list[Stage] = []

    if cfg.synthetic.enabled:
        stages.append(Stage(
            "synthetic",
            [python("-m", "data.synthetic", "--out", paths.synthetic, "--seed", str(cfg.synthetic.seed),
                    *cfg.synthetic.args)],
            done=lambda: (paths.synthetic / "synthetic.json").is_file(),
        ))

    if not paths.skeletons:
        raise ConfigError("pipeline: 'skeletons' names no folder of .skeleton files (and synthetic is off)")
    prepare = python("-m", "data.ntu", "prepare", "--skeletons", *paths.skeletons, "--out", paths.prepared,
                     "--benchmarks", bench, "--on-error", "skip")
    if cfg.prepare.workers:
        prepare += ["--workers", str(cfg.prepare.workers)]
    stages.append(Stage("prepare", [prepare], done=lambda: all((d / "meta.json").is_file() for d in split_dirs)))

    if cfg.parser.enabled and paths.videos is not None:
        weights = (["--checkpoint", cfg.parser.checkpoint] if cfg.parser.checkpoint
                   else ["--random-weights", "--seed", "0"] if cfg.parser.random_weights else [])
        if not weights:
            raise ConfigError("pipeline: parser.checkpoint (the official final.pth) is empty; "
                              "set it, set parser.random_weights for a smoke run, or parser.enabled: false")
        stages.append(Stage(
            "person frames + parsing",
            [
                python("-m", "parsing", "frames", "--videos", paths.videos, "--skeletons", paths.skeletons[0],
                       "--out", paths.person_frames),
                python("-m", "parsing", "parse", "--frames", paths.person_frames, "--out", paths.parsed,
                       "--batch-size", str(cfg.parser.batch_size), "--device", cfg.device, *weights,
                       *cfg.parser.args),
            ],
            note="random weights: the maps only show that this path runs" if not cfg.parser.checkpoint else "",
        ))

    data_overrides = [f"data.root={paths.prepared}", f"data.benchmark={bench}"]
    for stream in cfg.pose.streams:
        work_dir = paths.run_dir(f"pose_{stream}")
        stages.append(Stage(
            f"train pose {stream}",
            [train_command(PROJECT_ROOT / "train_pose.py", cfg.pose.config.format(stream=stream), work_dir,
                           [*data_overrides, *cfg.pose.overrides], cfg.device)],
            done=lambda w=work_dir: (w / "scores" / "final.pkl").is_file(),
        ))

    parsing_dir = paths.run_dir("parsing")
    stages.append(Stage(
        "train parsing",
        [train_command(PROJECT_ROOT / "train_parsing.py", cfg.parsing_branch.config, parsing_dir,
                       [*data_overrides, f"data.parsing_dir={paths.parsing_maps}", *cfg.parsing_branch.overrides],
                       cfg.device)],
        done=lambda: (parsing_dir / "scores" / "final.pkl").is_file(),
    ))

    streams = [*(f"pose_{s}" for s in cfg.pose.streams), "parsing"]
    score_args: list[str] = []
    for run in streams:
        stream = run.removeprefix("pose_")
        weight = cfg.fusion.weights.get(stream)
        if weight is None:
            raise ConfigError(f"pipeline: fusion.weights has no weight for stream '{stream}'")
        score_args += ["--score", f"{stream}={paths.run_dir(run) / 'scores' / 'final.pkl'}:{weight:g}"]
    stages.append(Stage(
        "fuse",
        [python(PROJECT_ROOT / "ensemble.py", *score_args, "--labels", paths.prepared / bench / "test",
                "--out", paths.results)],
    ))

    sample = _first_sample_name(split_dirs[1])
    pictures = []
    if sample:
        npy = paths.parsing_maps / f"{sample}.npy"
        show = python("-m", "parsing", "show")
        pictures += [
            [*show, "feature-map", "--parsing", str(npy), "--out", str(paths.results / f"{sample}_feature_map.png")],
            [*show, "gif", "--parsing", str(npy), "--out", str(paths.results / f"{sample}_parsing.gif")],
        ]
    stages.append(Stage("pictures", pictures))
    return stages


def _first_sample_name(split_dir: Path) -> str:
    names = split_dir / "names.txt"
    if not names.is_file():
        return ""
    with open(names) as fh:
        return fh.readline().strip()


def run_pipeline(cfg: PipelineConfig, only: list[str] | None = None) -> None:
    # Later stages read what earlier ones wrote (e.g. the first test sample), so stages are built lazily.
    names = [s.name for s in build_stages(cfg)]
    for index, name in enumerate(names):
        stage = build_stages(cfg)[index]
        if only and not any(word in name for word in only):
            continue
        if stage.done():
            print(f"\n== {name}: complete, skipped", flush=True)
            continue
        print(f"\n== {name}" + (f" ({stage.note})" if stage.note else ""), flush=True)
        start = time.perf_counter()
        for cmd in stage.commands:
            print("$ " + shlex.join(cmd), flush=True)
            result = subprocess.run(cmd)
            if result.returncode != 0:
                raise SystemExit(f"pipeline: stage '{name}' failed (exit {result.returncode}); "
                                 "fix the cause and run the pipeline again: finished stages are skipped")
        print(f"== {name}: {time.perf_counter() - start:.0f}s", flush=True)
    results = Paths(cfg).results
    for report in sorted(results.glob("report_*.txt")):
        print("\n" + report.read_text().rstrip(), flush=True)
    print(f"\nDone. Results, tables and pictures: {results}/", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config", help="pipeline YAML, e.g. configs/demo/pipeline.yaml")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a field")
    parser.add_argument("--only", action="append", help="run only stages whose name contains this (repeatable)")
    args = parser.parse_args(argv)
    try:
        cfg = load_config(PipelineConfig, args.config, args.set)
        run_pipeline(cfg, args.only)
    except ConfigError as err:
        print(f"config error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
