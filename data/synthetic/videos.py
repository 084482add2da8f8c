"""RGB videos of a synthetic sample: the body parts in clothing colours at the skeleton's colour pixels."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from data.synthetic.body import FPS, VIDEO_SIZE, Worn
from data.synthetic.drawing import Projected, paint_bodies, worn_parts
from data.synthetic.skeletons import Look


def write_video(path: Path, actors: np.ndarray, looks: list[Look], worn: list[Worn]) -> None:
    """A 1920×1080 MJPG AVI of the actors `(A, T, 25, 3)` wearing `worn` (per actor, garment -> `(T,)`
    bool) on a plain background, one frame per skeleton frame, body parts at the skeleton's colour pixels."""
    seen = Projected.of(actors)
    garments = worn_parts(worn, actors.shape[1])
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, VIDEO_SIZE)
    if not writer.isOpened():
        raise RuntimeError(f"{path}: OpenCV cannot open an MJPG AVI writer here")
    background = np.full((VIDEO_SIZE[1], VIDEO_SIZE[0], 3), (200, 204, 206), np.uint8)
    try:
        for t in range(actors.shape[1]):
            frame = background.copy()
            paint_bodies(frame, seen.pixels[:, t], seen.depth[:, t], seen.size[:, t],
                         lambda a, label: looks[a].colors[label], garments[:, t])
            writer.write(frame)
    finally:
        writer.release()
