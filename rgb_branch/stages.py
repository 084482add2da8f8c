"""The RGB branch's pipeline stages (section ``rgb``, off by default): synthetic person frames for every
sample when the data set is synthetic, then one RGB stream trained, whose scores the fusion stage fuses
under the stream name ``rgb.stream`` (``rgb`` or ``rgb_masked``; give it a weight in ``fusion.weights``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from engine.config import ConfigError
from pipeline.core import PROJECT_ROOT, Context, Stage, python, register, scores_done, train_command


@dataclass
class RgbStage:
    enabled: bool = False
    config: str = "configs/demo/rgb_masked.yaml"
    stream: str = "rgb_masked"  # the fusion stream name: rgb (plain frames) or rgb_masked (background weakened)
    frames_dir: str = ""  # real data: person frames (python -m parsing frames); default <out_dir>/person_frames
    frame_size: int = 112  # synthetic person frames: side in pixels
    overrides: list[str] = field(default_factory=list)


def synthetic_frames_done(synthetic: Path, frames: Path) -> bool:
    """Every sample with a body of the synthetic set has its person-frames folder."""
    summary = synthetic / "synthetic.json"
    if not summary.is_file() or not frames.is_dir():
        return False
    names = [s["name"] for s in json.loads(summary.read_text())["samples"] if not s["missing"]]
    return all((frames / name).is_dir() for name in names)


def rgb_stages(ctx: Context) -> list[Stage]:
    cfg, paths = ctx.cfg, ctx.paths
    if not cfg.rgb.enabled:
        return []
    if not paths.skeletons:
        raise ConfigError("pipeline: rgb needs the skeletons (masks and heatmaps); 'skeletons' names no folder")
    stages = []
    frames = Path(cfg.rgb.frames_dir) if cfg.rgb.frames_dir else paths.person_frames
    if cfg.synthetic.enabled:
        frames = paths.out / "rgb_frames"
        stages.append(Stage(
            "rgb person frames",
            [python("-m", "data.synthetic.frames", "--synthetic", paths.synthetic, "--out", frames,
                    "--size", str(cfg.rgb.frame_size))],
            done=lambda: synthetic_frames_done(paths.synthetic, frames),
        ))
    work_dir = paths.run_dir(cfg.rgb.stream)
    overrides = [f"data.root={paths.prepared}", f"data.benchmark={cfg.benchmark}", f"data.frames_dir={frames}",
                 f"data.skeletons_dir={paths.skeletons[0]}", *cfg.rgb.overrides]
    stages.append(Stage(
        f"train {cfg.rgb.stream}",
        [train_command(PROJECT_ROOT / "train_rgb.py", cfg.rgb.config, work_dir, overrides, cfg.device)],
        done=scores_done(work_dir),
        streams={cfg.rgb.stream: work_dir / "scores" / "final.pkl"},
    ))
    return stages


register(45, rgb_stages, section="rgb", section_cls=RgbStage)
