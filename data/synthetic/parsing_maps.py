"""Parsing maps of a synthetic sample: LIP labels drawn from its bodies, as the real chain crops them."""

from __future__ import annotations

import numpy as np

from data.synthetic.body import COLOR_FOCAL, Worn
from data.synthetic.drawing import Projected, paint_bodies, worn_parts

PARSING_SIZE = 119


def parsing_maps(actors: np.ndarray, worn: list[Worn]) -> np.ndarray:
    """LIP label maps of the actors `(A, T, 25, 3)` wearing `worn` (per actor, garment -> `(T,)` bool):
    uint8 `(T, 119, 119, 1)`.

    Like the real chain, each frame is the person box (the union box of all actors, from the colour
    pixels of their body points, plus a margin) scaled into the square map with its aspect kept and centred.
    """
    seen = Projected.of(actors)
    T = actors.shape[1]
    garments = worn_parts(worn, T)
    margin = 0.12 * COLOR_FOCAL / actors[:, :, 0, 2].mean(axis=0)  # (T,) pixels
    lo = seen.pixels[:, :, :27].min(axis=(0, 2)) - margin[:, None]  # (T, 2)
    hi = seen.pixels[:, :, :27].max(axis=(0, 2)) + margin[:, None]
    k = (PARSING_SIZE - 1) / (hi - lo).max(axis=1)  # (T,) map pixels per colour pixel
    local = (seen.pixels - (lo + hi)[:, None] / 2) * k[:, None, None] + (PARSING_SIZE - 1) / 2
    size = seen.size * k[:, None]
    maps = np.zeros((T, PARSING_SIZE, PARSING_SIZE, 1), np.uint8)
    for t in range(T):
        canvas = np.zeros((PARSING_SIZE, PARSING_SIZE), np.uint8)
        paint_bodies(canvas, local[:, t], seen.depth[:, t], size[:, t], lambda a, label: label, garments[:, t])
        maps[t, :, :, 0] = canvas
    return maps
