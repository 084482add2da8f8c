"""Synthetic NTU RGB+D: the project's embedded dataset for `make demo` and the tests.

    python -m data.synthetic --out DIR [--seed 0] [--classes 8] [--two-person-classes 2] [--twin-pairs 0]
        [--one-person-actions 8,9] [--samples-per-class 40] [--videos 3] [--missing 2] [--noise-rate 0.08]
        [--no-parsing]

writes, byte-identically for a seed:

- `DIR/skeletons/<name>.skeleton`: real-format files (REFERENCE.md §2) of a jointed body model whose
  limbs move differently per class, seen by a Kinect-like camera (pinhole fitted to real files);
- `DIR/parsing/<name>.npy`: uint8 `(T, 119, 119, 1)` LIP label maps (§8) drawn from the same bodies
  and what they wear (the twin classes' coat or hat, which no skeleton shows);
- `DIR/videos/<name>_rgb.avi`: 1920×1080 MJPG videos of a few samples, body parts painted at the
  skeleton's colour coordinates, so the person-frame and parser tools run on them unchanged;
- `DIR/synthetic.json`: the classes, every sample, and which noise each got.

Names are valid NTU names spread over setups, cameras and subjects so that all four benchmarks have
train and test samples of every class. The noise is what the reference preprocessing (§3.1-§3.2)
removes: short extra bodies, spread-out "furniture" bodies, a body that vanishes and returns, frames
with no body, and a few files with no body at all ("missing skeletons").

The package is split by what it makes, so a new modality adds a file: ``body`` (class motions, camera),
``plan`` (configuration, names, noise), ``skeletons`` (skeleton motion and sensor noise), ``drawing``,
``parsing_maps`` and ``videos``; this module writes the dataset.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from data.skeleton import write_skeleton
from data.synthetic.body import (
    COLOR_CENTER,
    COLOR_FOCAL,
    ONE_PERSON_CLASSES,
    TWIN_CLASSES,
    TWO_PERSON_CLASSES,
    project_to_kinect,
)
from data.synthetic.parsing_maps import PARSING_SIZE, parsing_maps
from data.synthetic.plan import NOISE_KINDS, SamplePlan, SyntheticConfig, plan_samples
from data.synthetic.skeletons import synthesize
from data.synthetic.videos import write_video
from engine.errors import describe_os_error

__all__ = [
    "COLOR_CENTER",
    "COLOR_FOCAL",
    "NOISE_KINDS",
    "ONE_PERSON_CLASSES",
    "PARSING_SIZE",
    "TWIN_CLASSES",
    "TWO_PERSON_CLASSES",
    "SamplePlan",
    "SyntheticConfig",
    "generate",
    "main",
    "parsing_maps",
    "plan_samples",
    "project_to_kinect",
    "synthesize",
    "write_video",
]

# ---------------------------------------------------------------- the whole dataset
SUMMARY_FILE = "synthetic.json"


def _output_files(out: Path, name: str) -> tuple[Path, Path, Path]:
    """The skeleton, parsing-map and video paths of sample `name`."""
    return (out / "skeletons" / f"{name}.skeleton", out / "parsing" / f"{name}.npy",
            out / "videos" / f"{name}_rgb.avi")


def _clear_previous(out: Path, plans: list[SamplePlan]) -> None:
    """Remove what an earlier run wrote into `out` (listed in its summary), so that a smaller dataset
    leaves no stale samples behind; refuse to mix with skeleton files that no run of ours wrote."""
    previous = out / SUMMARY_FILE
    ours = {p.name for p in plans}
    if previous.is_file():
        for sample in json.loads(previous.read_text())["samples"]:
            ours.add(sample["name"])
            for path in _output_files(out, sample["name"]):
                path.unlink(missing_ok=True)
    foreign = sorted(p.name for p in (out / "skeletons").glob("*.skeleton") if p.stem not in ours)
    if foreign:
        raise FileExistsError(
            f"{out / 'skeletons'} holds {len(foreign)} .skeleton files this generator did not write "
            f"(e.g. {foreign[0]}); use an empty folder"
        )


def generate(out_dir: str | Path, config: SyntheticConfig | None = None, *,
             progress: bool = True) -> dict[str, Any]:
    """Write the synthetic dataset into `out_dir` (see the module docstring); returns the summary that
    is also saved as `out_dir/synthetic.json`."""
    config = config or SyntheticConfig()
    plans = plan_samples(config)
    classes = config.action_classes()
    out = Path(out_dir)
    for sub in ("skeletons", "parsing", "videos"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    _clear_previous(out, plans)

    for plan in tqdm(plans, desc="synthetic NTU", unit="sample", disable=not progress):
        sample = synthesize(plan, config)
        skeleton_path, parsing_path, video_path = _output_files(out, plan.name)
        write_skeleton(skeleton_path, sample.frames, newline="\r\n" if plan.crlf else "\n")
        if plan.missing:
            continue
        if config.parsing:
            np.save(parsing_path, parsing_maps(sample.actors, sample.worn))
        if plan.video:
            write_video(video_path, sample.actors, sample.looks, sample.worn)

    summary = {
        "seed": config.seed,
        "config": asdict(config),
        "classes": [{"index": c, "action": a.action, "name": a.name, "persons": a.persons}
                    for c, a in enumerate(classes)],
        "samples": [
            {"name": p.name, "class": p.class_index, "action": classes[p.class_index].action,
             "frames": p.frames, "persons": 0 if p.missing else classes[p.class_index].persons,
             "noise": list(p.noise),
             "line_endings": "crlf" if p.crlf else "lf", "video": p.video, "missing": p.missing}
            for p in plans
        ],
        "missing": [p.name for p in plans if p.missing],
        "videos": [p.name for p in plans if p.video],
        "noise": {kind: [p.name for p in plans if kind in p.noise] for kind in NOISE_KINDS},
    }
    (out / SUMMARY_FILE).write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def _action_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated NTU action numbers, found {text!r}") from None


def main(argv: list[str] | None = None) -> int:
    defaults = SyntheticConfig()
    parser = argparse.ArgumentParser(prog="python -m data.synthetic", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--classes", type=int, default=defaults.classes, help="number of classes")
    parser.add_argument("--two-person-classes", type=int, default=defaults.two_person_classes)
    parser.add_argument("--twin-pairs", type=int, default=defaults.twin_pairs,
                        help="pairs of classes with one motion, told apart only by a garment (parsing, video)")
    parser.add_argument("--one-person-actions", type=_action_list, default=defaults.one_person_actions,
                        metavar="A,B,...", help="NTU actions of the one-person classes (default: the first ones)")
    parser.add_argument("--samples-per-class", type=int, default=defaults.samples_per_class)
    parser.add_argument("--min-frames", type=int, default=defaults.min_frames)
    parser.add_argument("--max-frames", type=int, default=defaults.max_frames)
    parser.add_argument("--setups", type=int, default=defaults.setups, help="use setups 1..N")
    parser.add_argument("--videos", type=int, default=defaults.videos, help="samples that get an RGB video")
    parser.add_argument("--missing", type=int, default=defaults.missing, help="extra samples with no body")
    parser.add_argument("--noise-rate", type=float, default=defaults.noise_rate,
                        help="share of samples given each kind of noise: " + ", ".join(NOISE_KINDS))
    parser.add_argument("--crlf-rate", type=float, default=defaults.crlf_rate, help="share of CRLF files")
    parser.add_argument("--no-parsing", dest="parsing", action="store_false", help="skip the parsing maps")
    args = vars(parser.parse_args(argv))
    out = args.pop("out")
    config = SyntheticConfig(**args)
    try:
        config.validate()
    except ValueError as err:
        parser.error(str(err))
    try:
        summary = generate(out, config)
    except (OSError, FileExistsError) as err:  # an unwritable or foreign output folder
        print(f"python -m data.synthetic: error: {describe_os_error(err)}", file=sys.stderr)
        return 2
    print(f"wrote {len(summary['samples'])} samples ({len(summary['missing'])} without a body, "
          f"{len(summary['videos'])} videos) of {config.classes} classes to {out}")
    return 0
