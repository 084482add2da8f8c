"""What the pose-guided branches draw from keypoints: heatmaps, limb and body masks, coloured dots,
and keypoints in a crop's frame.

Conventions: keypoints are ``(J, 2)`` float pixel positions ``x, y`` in an image of ``(width,
height)``, continuous coordinates (pixel ``i`` spans ``[i, i + 1)``); a keypoint that is NaN, or
``False`` in an optional ``visible`` ``(J,)`` mask, is absent and draws nothing. Boxes are ``x0, y0,
x1, y1`` with ``x1, y1`` exclusive, as :func:`pose_guidance.boxes.person_boxes` returns them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

_SHIFT = 4  # OpenCV fixed-point bits: sub-pixel positions for lines and circles


def _cv_fixed(points: np.ndarray) -> np.ndarray:
    """Continuous pixel positions -> OpenCV's fixed-point ones (OpenCV puts pixel centres at integers)."""
    return np.round((points - 0.5) * (1 << _SHIFT)).astype(np.int64)


def _present(keypoints: np.ndarray, visible: np.ndarray | None) -> np.ndarray:
    points = np.asarray(keypoints, dtype=np.float64)
    present = np.isfinite(points).all(axis=-1)
    if visible is not None:
        present &= np.asarray(visible, dtype=bool)
    return present


def to_crop_frame(keypoints: np.ndarray, box: Sequence[float], crop_size: tuple[int, int]) -> np.ndarray:
    """Keypoints ``(..., 2)`` of the full image -> the same points in the crop of ``box`` resized to
    ``crop_size`` (width, height): ``x' = (x - x0) * width / (x1 - x0)``, likewise for y."""
    x0, y0, x1, y1 = (float(v) for v in box)
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"empty box {tuple(box)}: expected x0 < x1 and y0 < y1")
    scale = np.array([crop_size[0] / (x1 - x0), crop_size[1] / (y1 - y0)])
    return (np.asarray(keypoints, dtype=np.float64) - [x0, y0]) * scale


def from_crop_frame(keypoints: np.ndarray, box: Sequence[float], crop_size: tuple[int, int]) -> np.ndarray:
    """The inverse of :func:`to_crop_frame`: crop pixels -> full-image pixels."""
    x0, y0, x1, y1 = (float(v) for v in box)
    scale = np.array([(x1 - x0) / crop_size[0], (y1 - y0) / crop_size[1]])
    return np.asarray(keypoints, dtype=np.float64) * scale + [x0, y0]


def joint_heatmaps(keypoints: np.ndarray, image_size: tuple[int, int], grid: tuple[int, int],
                   sigma: float = 1.0, visible: np.ndarray | None = None) -> np.ndarray:
    """One Gaussian per joint on a feature grid: float32 ``(J, grid_h, grid_w)``, peak 1.

    ``grid`` is (height, width) of the feature map that covers the whole image; cell ``(i, j)`` sits at
    image position ``((j + 0.5) * width / grid_w, (i + 0.5) * height / grid_h)``, and ``sigma`` is in
    cells. Absent joints give an all-zero map.
    """
    width, height = image_size
    grid_h, grid_w = grid
    points = np.asarray(keypoints, dtype=np.float64).reshape(-1, 2)
    present = _present(points, visible)
    cells = np.where(present[:, None], points, 0.0) / [width / grid_w, height / grid_h] - 0.5  # (J, 2)
    dx = np.arange(grid_w)[None, :] - cells[:, 0:1]  # (J, grid_w)
    dy = np.arange(grid_h)[None, :] - cells[:, 1:2]  # (J, grid_h)
    maps = np.exp(-(dy[:, :, None] ** 2 + dx[:, None, :] ** 2) / (2.0 * sigma**2))
    maps[~present] = 0.0
    return maps.astype(np.float32)


def limb_mask(keypoints: np.ndarray, limbs: Sequence[tuple[int, int]], size: tuple[int, int],
              thickness: float, visible: np.ndarray | None = None) -> np.ndarray:
    """The limbs as thick segments: bool ``(height, width)`` for ``size`` (width, height).

    A limb is drawn when both of its joints are present; ``thickness`` is the full line width in pixels.
    """
    width, height = size
    points = np.asarray(keypoints, dtype=np.float64).reshape(-1, 2)
    present = _present(points, visible)
    canvas = np.zeros((height, width), np.uint8)
    fixed = _cv_fixed(np.where(present[:, None], points, 0.5))
    line = max(1, int(round(thickness)))
    for a, b in limbs:
        if present[a] and present[b]:
            cv2.line(canvas, tuple(fixed[a].tolist()), tuple(fixed[b].tolist()), 1, line, cv2.LINE_8, _SHIFT)
    return canvas.astype(bool)


def body_mask(keypoints: np.ndarray, limbs: Sequence[tuple[int, int]], size: tuple[int, int],
              thickness: float, visible: np.ndarray | None = None) -> np.ndarray:
    """The limbs and the filled convex hull of the present joints: bool ``(height, width)``.

    A coarse person mask where no segmentation exists (NTU), for background weakening.
    """
    mask = limb_mask(keypoints, limbs, size, thickness, visible).astype(np.uint8)
    points = np.asarray(keypoints, dtype=np.float64).reshape(-1, 2)[_present(keypoints, visible)]
    if len(points) >= 3:
        hull = cv2.convexHull(_cv_fixed(points).astype(np.int32))
        cv2.fillPoly(mask, [hull], 1, cv2.LINE_8, _SHIFT)
    return mask.astype(bool)


def dot_radius(width: float, height: float) -> int:
    """The dot radius of the pose-guided positional embedding: ``max(int(sqrt(w * h) / 30), 3)`` pixels, truncated
    as the official code does (``SheldongChen/A-Baseline-...: poseguide_embedding.py``)."""
    return max(int(math.sqrt(width * height) / 30), 3)


def keypoint_dots(keypoints: np.ndarray, size: tuple[int, int], colors: Sequence[tuple[int, int, int]],
                  radius: float | None = None, visible: np.ndarray | None = None) -> np.ndarray:
    """``G(K)``: filled dots of a fixed colour per joint on black, uint8 ``(height, width, 3)``.

    ``radius`` defaults to :func:`dot_radius` of the image; later joints are drawn over earlier ones.
    """
    width, height = size
    points = np.asarray(keypoints, dtype=np.float64).reshape(-1, 2)
    if len(colors) < len(points):
        raise ValueError(f"{len(points)} keypoints but {len(colors)} colours")
    present = _present(points, visible)
    radius = dot_radius(width, height) if radius is None else radius
    canvas = np.zeros((height, width, 3), np.uint8)
    scaled = int(round(radius * (1 << _SHIFT)))
    for j in np.flatnonzero(present):
        centre = tuple(_cv_fixed(points[j]).tolist())
        cv2.circle(canvas, centre, scaled, tuple(int(c) for c in colors[j]), -1, cv2.LINE_8, _SHIFT)
    return canvas


def draw_keypoints(image: np.ndarray, keypoints: np.ndarray, colors: Sequence[tuple[int, int, int]],
                   radius: float | None = None, visible: np.ndarray | None = None, mode: str = "paint") -> np.ndarray:
    """The image with its keypoints as coloured dots: uint8 ``(height, width, 3)``, a new array.

    ``mode="paint"`` covers the pixels under a dot with its colour; ``mode="add"`` is ``X + G(K)``
    saturated at 255, the additive form of the pose-guided positional embedding.
    """
    height, width = image.shape[:2]
    dots = keypoint_dots(keypoints, (width, height), colors, radius, visible)
    if mode == "add":
        return np.minimum(image.astype(np.uint16) + dots, 255).astype(np.uint8)
    if mode != "paint":
        raise ValueError(f"mode must be 'paint' or 'add', found {mode!r}")
    covered = dots.any(axis=2)
    out = image.copy()
    out[covered] = dots[covered]
    return out


def weaken_background(image: np.ndarray, mask: np.ndarray, factor: float = 0.5) -> np.ndarray:
    """Pixels outside ``mask`` ``(height, width)`` bool scaled by ``factor``: ``x * (mask + (1 - mask) * factor)``.

    ``factor=0.5`` is ``(x + mask * x) / 2``, the pose-guided RGB stream's masked input.
    """
    weight = np.where(mask, 1.0, factor).astype(np.float32)
    return (image.astype(np.float32) * weight[..., None] if image.ndim == 3 else image * weight)
