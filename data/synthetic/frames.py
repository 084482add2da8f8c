"""Person frames for every sample of a synthetic NTU set, in the layout ``python -m parsing frames`` writes.

    python -m data.synthetic.frames --synthetic DIR --out DIR [--size 112]

The generator writes RGB videos for a few samples only; RGB systems need frames for all of them. This
reads the skeletons the generator wrote (``DIR/skeletons/<name>.skeleton``, and the seed from
``DIR/synthetic.json``), keeps the bodies the person box covers (``pose_guidance.boxes``: denoised,
ranked, one or two actors), paints them in each performer's clothing colours at the skeleton's colour
pixels (``data.synthetic.drawing``, the videos' painter; garments are not drawn, since no skeleton
holds them), cropped to the person box and resized to ``size`` x ``size``: ``OUT/<name>/<frame>.jpg``,
0-based. Samples without a body get no folder. Each sample is written to a temporary folder and renamed.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import cv2
import numpy as np

from data.ntu import parse_name
from data.synthetic.drawing import Projected, paint_bodies, worn_parts
from data.synthetic.skeletons import performer_look
from pose_guidance.boxes import actors_in_action, person_boxes, rank_bodies
from pose_guidance.skeleton_colors import SkeletonColors, read_skeleton_colors

BACKGROUND = (200, 204, 206)  # BGR, the synthetic videos' background
JPEG_QUALITY = 95


def ranked_actors(skeleton: SkeletonColors, max_actors: int) -> np.ndarray:
    """``(max_actors, T, 25, 3)`` camera-space joints of the bodies the person box covers, by rank; NaN
    where a rank has no body in a frame; frames without any body take the nearest frame that has one."""
    xyz = np.full((max_actors, skeleton.num_frames, 25, 3), np.nan)
    taken = np.zeros(skeleton.num_frames, dtype=np.int64)
    for body in rank_bodies(skeleton.bodies):
        for frame, joints in zip(body.frames, body.xyz, strict=True):
            if taken[frame] < max_actors:
                xyz[taken[frame], frame] = joints
                taken[frame] += 1
    with_body = np.flatnonzero(taken > 0)
    if len(with_body):  # frames the sensor dropped show the person of the nearest frame, as the video does
        nearest = with_body[np.abs(np.arange(skeleton.num_frames)[:, None] - with_body[None]).argmin(axis=1)]
        xyz = xyz[:, nearest]
    return xyz


def person_frame_images(skeleton: SkeletonColors, name: str, seed: int, size: int) -> list[np.ndarray]:
    """The sample's ``(size, size, 3)`` uint8 BGR person frames, one per skeleton frame."""
    actors = actors_in_action(name)
    boxes = person_boxes(skeleton, actors)
    xyz = ranked_actors(skeleton, actors)
    present = np.isfinite(xyz).all(axis=(2, 3))  # (A, T)
    with np.errstate(invalid="ignore", divide="ignore"):
        seen = Projected.of(np.where(np.isfinite(xyz), xyz, 1.0))  # placeholders for absent ranks
    subject = parse_name(name).subject
    looks = [performer_look(seed, subject + 200 * a) for a in range(actors)]
    garments = worn_parts([{} for _ in range(actors)], skeleton.num_frames)
    images = []
    for t in range(skeleton.num_frames):
        x0, y0, x1, y1 = boxes[t].astype(np.float64)
        scale = np.array([size / (x1 - x0), size / (y1 - y0)])
        canvas = np.full((size, size, 3), BACKGROUND, np.uint8)
        keep = np.flatnonzero(present[:, t])
        if len(keep):
            pixels = (seen.pixels[keep, t] - [x0, y0]) * scale
            paint_bodies(canvas, pixels, seen.depth[keep, t], seen.size[keep, t] * scale.mean(),
                         lambda a, label, keep=keep: looks[keep[a]].colors[label], garments[keep, t])
        images.append(canvas)
    return images


def write_person_frames(synthetic_dir: Path, out_dir: Path, size: int = 112) -> int:
    """Write ``out_dir/<name>/<frame>.jpg`` for every synthetic sample with a body; returns how many samples."""
    synthetic_dir, out_dir = Path(synthetic_dir), Path(out_dir)
    summary_path = synthetic_dir / "synthetic.json"
    if not summary_path.is_file():
        raise FileNotFoundError(f"{summary_path}: not a synthetic NTU set (python -m data.synthetic writes it)")
    summary = json.loads(summary_path.read_text())
    out_dir.mkdir(parents=True, exist_ok=True)
    written = 0
    for sample in summary["samples"]:
        if sample["missing"]:
            continue
        name = sample["name"]
        skeleton = read_skeleton_colors(synthetic_dir / "skeletons" / f"{name}.skeleton")
        partial = out_dir / f".{name}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        for t, image in enumerate(person_frame_images(skeleton, name, int(summary["seed"]), size)):
            cv2.imwrite(str(partial / f"{t}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        final = out_dir / name
        shutil.rmtree(final, ignore_errors=True)
        partial.rename(final)
        written += 1
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m data.synthetic.frames", description=__doc__.split("\n\n")[0])
    parser.add_argument("--synthetic", required=True, type=Path, help="folder written by python -m data.synthetic")
    parser.add_argument("--out", required=True, type=Path, help="person-frames folder to write")
    parser.add_argument("--size", type=int, default=112, help="side of the square frames in pixels")
    args = parser.parse_args(argv)
    try:
        count = write_person_frames(args.synthetic, args.out, args.size)
    except (OSError, ValueError) as err:
        print(f"error: {err}")
        return 2
    print(f"wrote person frames of {count} samples to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
