"""Body parts painted at the skeleton's colour pixels: shared by the parsing maps and the videos."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from data.synthetic.body import COAT, COLOR_FOCAL, HAT, Worn, project_to_kinect
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
# Garments over the body, drawn only in the frames they are worn (Sample.worn): a coat over the shirt
# and the arms down to the wrists, a wide-brimmed hat on the head (its crown is point 27, its brim runs
# from point 28 to 29; _garment_points adds them).
_GARMENTS = (
    (COAT, "poly", (4, 8, 16, 12), 0.0, 0.055),
    (COAT, "line", (0, 1, 20, 2), 0.30, 0.055),
    (COAT, "line", (4, 5), 0.115, -0.002),
    (COAT, "line", (8, 9), 0.115, -0.002),
    (COAT, "line", (5, 6), 0.095, -0.002),
    (COAT, "line", (9, 10), 0.095, -0.002),
    (HAT, "circle", (27,), 0.12, -0.04),
    (HAT, "line", (28, 29), 0.06, -0.04),
)
_SHIFT = 2  # OpenCV fixed-point bits: sub-pixel positions keep small maps moving smoothly


def _mean_matrix(parts: tuple, points: int) -> np.ndarray:
    """(points, parts) averaging matrix: a part's depth and scale are the means over its points."""
    return np.array([[1.0 / len(part[2]) if j in part[2] else 0.0 for part in parts] for j in range(points)])


_PART_MEAN = _mean_matrix(_PARTS, 27)
_PART_WIDTH = np.array([part[3] for part in _PARTS])
_PART_BIAS = np.array([part[4] for part in _PARTS])
_GARMENT_MEAN = _mean_matrix(_GARMENTS, 30)
_GARMENT_WIDTH = np.array([part[3] for part in _GARMENTS])
_GARMENT_BIAS = np.array([part[4] for part in _GARMENTS])
_GARMENT_LABELS = tuple(part[0] for part in _GARMENTS)


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


def _garment_points(points: np.ndarray) -> np.ndarray:
    """`(..., 27, 3)` part points -> `(..., 30, 3)`: plus the hat's crown on top of the head and the two
    ends of its brim, level with the shoulders' line."""
    up = points[..., 2, :] - points[..., 0, :]
    side = points[..., 8, :] - points[..., 4, :]
    up /= np.linalg.norm(up, axis=-1, keepdims=True)
    side /= np.linalg.norm(side, axis=-1, keepdims=True)
    crown = points[..., 3, :] + 0.1 * up
    brim = points[..., 3, :] + 0.05 * up
    extra = [crown, brim - 0.2 * side, brim + 0.2 * side]
    return np.concatenate([points, *(p[..., None, :] for p in extra)], axis=-2)


def worn_parts(worn: list[Worn], num_frames: int) -> np.ndarray:
    """Per actor the garments worn in each frame -> `(A, T, garment parts)` bool of the parts to draw."""
    mask = np.zeros((len(worn), num_frames, len(_GARMENTS)), bool)
    for a, garments in enumerate(worn):
        for k, label in enumerate(_GARMENT_LABELS):
            if label in garments:
                mask[a, :, k] = garments[label]
    return mask


@dataclass(frozen=True)
class Projected:
    """Actors `(A, T, 25, 3)` seen by the colour camera: `pixels` `(A, T, 30, 2)` of the part points
    (the 27 of the body, then the hat's 3), and per part, body parts then garment parts, the paint order
    key `depth` `(A, T, parts)` metres and the drawn `size` in pixels."""

    pixels: np.ndarray
    depth: np.ndarray
    size: np.ndarray

    @classmethod
    def of(cls, actors: np.ndarray) -> Projected:
        body = _part_points(actors)
        points = _garment_points(body)
        _, pixels = project_to_kinect(points)
        # body and garments apart: the body's numbers are those of a generator without garments
        depth = np.concatenate([body[..., 2] @ _PART_MEAN + _PART_BIAS,
                                points[..., 2] @ _GARMENT_MEAN + _GARMENT_BIAS], axis=-1)
        size = np.concatenate([((COLOR_FOCAL / body[..., 2]) @ _PART_MEAN) * _PART_WIDTH,
                               ((COLOR_FOCAL / points[..., 2]) @ _GARMENT_MEAN) * _GARMENT_WIDTH], axis=-1)
        return cls(pixels, depth, size)


def paint_bodies(canvas: np.ndarray, pixels: np.ndarray, depth: np.ndarray, size: np.ndarray,
                 color: Callable[[int, int], int | tuple[int, int, int]], worn: np.ndarray) -> None:
    """Draw A bodies of one frame onto `canvas` in place, far parts first.

    `pixels` `(A, 30, 2)` canvas positions of the part points, `depth` `(A, parts)` paint order key,
    `size` `(A, parts)` line widths and circle radii in canvas pixels, `color(actor, lip_label)` the paint,
    `worn` `(A, garment parts)` bool: the garment parts drawn in this frame.
    """
    fixed = np.round(pixels * (1 << _SHIFT)).astype(np.int32)
    parts = (*_PARTS, *_GARMENTS)
    for flat in np.argsort(-depth.ravel(), kind="stable").tolist():
        a, k = divmod(flat, len(parts))
        if k >= len(_PARTS) and not worn[a, k - len(_PARTS)]:
            continue
        label, shape, pts, _, _ = parts[k]
        paint = color(a, label)
        p = fixed[a, list(pts)]
        if shape == "poly":
            cv2.fillPoly(canvas, [p], paint, cv2.LINE_8, _SHIFT)
        elif shape == "line":
            cv2.polylines(canvas, [p], False, paint, max(1, round(float(size[a, k]))), cv2.LINE_8, _SHIFT)
        else:
            radius = max(1 << _SHIFT, round(float(size[a, k]) * (1 << _SHIFT)))
            cv2.circle(canvas, (int(p[0, 0]), int(p[0, 1])), radius, paint, -1, cv2.LINE_8, _SHIFT)
