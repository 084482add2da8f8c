"""Body parts painted at the skeleton's colour pixels: shared by the parsing maps and the videos."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from data.synthetic.body import COLOR_FOCAL, project_to_kinect
from data.synthetic.skeletons import (
    FACE,
    HAIR,
    LEFT_ARM,
    LEFT_LEG,
    LEFT_SHOE,
    PANTS,
    RIGHT_ARM,
    RIGHT_LEG,
    RIGHT_SHOE,
    UPPER_CLOTHES,
)

# ---------------------------------------------------------------- drawing body parts
# (LIP label, shape, points, width in metres, depth bias in metres); parts are painted far to near
# by their points' mean depth plus the bias, which keeps the torso behind limbs at the same depth.
# Points 25 and 26 are the hair and face centres added by _part_points.
_PARTS = (
    (UPPER_CLOTHES, "poly", (4, 8, 16, 12), 0.0, 0.06),
    (UPPER_CLOTHES, "line", (0, 1, 20, 2), 0.24, 0.06),
    (PANTS, "line", (12, 16), 0.16, 0.05),
    (PANTS, "line", (12, 13), 0.15, 0.0),
    (PANTS, "line", (16, 17), 0.15, 0.0),
    (LEFT_LEG, "line", (13, 14), 0.11, 0.0),
    (RIGHT_LEG, "line", (17, 18), 0.11, 0.0),
    (LEFT_SHOE, "line", (14, 15), 0.09, -0.01),
    (RIGHT_SHOE, "line", (18, 19), 0.09, -0.01),
    (UPPER_CLOTHES, "line", (4, 5), 0.10, 0.0),
    (UPPER_CLOTHES, "line", (8, 9), 0.10, 0.0),
    (LEFT_ARM, "line", (5, 6, 7, 21), 0.075, 0.0),
    (RIGHT_ARM, "line", (9, 10, 11, 23), 0.075, 0.0),
    (HAIR, "circle", (25,), 0.11, 0.0),
    (FACE, "circle", (26,), 0.085, 0.0),
)
_SHIFT = 2  # OpenCV fixed-point bits: sub-pixel positions keep small maps moving smoothly
# (27, parts) averaging matrix: a part's depth and scale are the means over its points
_PART_MEAN = np.array([[1.0 / len(part[2]) if j in part[2] else 0.0 for part in _PARTS] for j in range(27)])
_PART_WIDTH = np.array([part[3] for part in _PARTS])
_PART_BIAS = np.array([part[4] for part in _PARTS])


def _part_points(xyz: np.ndarray) -> np.ndarray:
    """`(..., 25, 3)` -> `(..., 27, 3)`: the joints plus hair and face centres, placed behind and in
    front of the head so that depth order shows the face or the back of the head."""
    up = xyz[..., 2, :] - xyz[..., 0, :]
    back = np.cross(xyz[..., 8, :] - xyz[..., 4, :], up)
    up /= np.linalg.norm(up, axis=-1, keepdims=True)
    back /= np.linalg.norm(back, axis=-1, keepdims=True) + 1e-9
    head = xyz[..., 3, :]
    hair = head + 0.03 * up + 0.035 * back
    face = head - 0.02 * up - 0.03 * back
    return np.concatenate([xyz, hair[..., None, :], face[..., None, :]], axis=-2)


@dataclass(frozen=True)
class Projected:
    """Actors `(A, T, 25, 3)` seen by the colour camera: `pixels` `(A, T, 27, 2)` of the part points,
    and per part the paint order key `depth` `(A, T, parts)` metres and the drawn `size` in pixels."""

    pixels: np.ndarray
    depth: np.ndarray
    size: np.ndarray

    @classmethod
    def of(cls, actors: np.ndarray) -> Projected:
        points = _part_points(actors)
        _, pixels = project_to_kinect(points)
        px_per_metre = COLOR_FOCAL / points[..., 2]
        depth = points[..., 2] @ _PART_MEAN + _PART_BIAS
        return cls(pixels, depth, (px_per_metre @ _PART_MEAN) * _PART_WIDTH)


def paint_bodies(canvas: np.ndarray, pixels: np.ndarray, depth: np.ndarray, size: np.ndarray,
                 color: Callable[[int, int], int | tuple[int, int, int]]) -> None:
    """Draw A bodies of one frame onto `canvas` in place, far parts first.

    `pixels` `(A, 27, 2)` canvas positions of the part points, `depth` `(A, parts)` paint order key,
    `size` `(A, parts)` line widths and circle radii in canvas pixels, `color(actor, lip_label)` the paint.
    """
    fixed = np.round(pixels * (1 << _SHIFT)).astype(np.int32)
    for flat in np.argsort(-depth.ravel(), kind="stable").tolist():
        a, k = divmod(flat, len(_PARTS))
        label, shape, pts, _, _ = _PARTS[k]
        paint = color(a, label)
        p = fixed[a, list(pts)]
        if shape == "poly":
            cv2.fillPoly(canvas, [p], paint, cv2.LINE_8, _SHIFT)
        elif shape == "line":
            cv2.polylines(canvas, [p], False, paint, max(1, round(float(size[a, k]))), cv2.LINE_8, _SHIFT)
        else:
            radius = max(1 << _SHIFT, round(float(size[a, k]) * (1 << _SHIFT)))
            cv2.circle(canvas, (int(p[0, 0]), int(p[0, 1])), radius, paint, -1, cv2.LINE_8, _SHIFT)
