"""The pose-guided positional embedding of the part detector: ``X' = X + G(K)``, keypoints drawn on the image.

Chen et al. (part-level action parsing, Kinetics-TPS) draw each person's 2D keypoints on the image the
part detector sees, so that it knows where the limbs are. What the official code does
(``SheldongChen/A-Baseline-Framework-for-Part-level-Action-Parsing-and-Action-Recognition:
poseguide_embedding.py``, drawing with mmpose's ``TopDown.show_result`` / ``imshow_keypoints`` of
``mmpose_202108/mmpose/core/visualization/image.py``), for an image of ``w x h`` pixels:

* radius ``max(int(sqrt(w * h) / 30), 3)`` (:func:`pose_guidance.maps.dot_radius`), limb thickness
  ``max(int(sqrt(w * h) / 90), 1)``;
* first the persons' boxes, green, 1 pixel (``imshow_bboxes``, integer corners);
* then per person: a filled dot per keypoint whose score is above 0.3, at ``(int(x), int(y))``, in the
  joint's colour; then its limbs (the COCO skeleton) as lines between ``(int(x), int(y))`` ends, drawn
  when both scores are above 0.3 and both ends lie strictly inside the image;
* colours: the COCO-17 joints get ``palette_kpt[[0, 0, 0, 0, 0, 3, 4, 3, 4, 1, 2, 5, 5, 6, 7, 8, 9]]`` and
  the limbs ``palette[[0, 0, 0, 0, 7, 7, 7, 9, 9, 9, 9, 9, 16, 16, 16, 16, 16, 16, 16]]`` of that file; the
  image is BGR there (mmcv), so the triples are B, G, R. :func:`pose_embedding` takes RGB images and
  swaps them.

The drawing covers the pixels (``mode="paint"``, as the code does); ``mode="add"`` draws ``G(K)`` on
black and adds it with saturation, the paper's ``X + G(K)``. Other layouts (NTU-25, JHMDB-15) take
:meth:`~pose_guidance.layouts.KeypointLayout.colors` and their own limbs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from pose_guidance.layouts import COCO17, KeypointLayout
from pose_guidance.maps import dot_radius

_PALETTE = np.array([[255, 128, 0], [255, 153, 51], [255, 178, 102], [230, 230, 0], [255, 153, 255],
                     [153, 204, 255], [255, 102, 255], [255, 51, 255], [102, 178, 255], [51, 153, 255],
                     [255, 153, 153], [255, 102, 102], [255, 51, 51], [153, 255, 153], [102, 255, 102],
                     [51, 255, 51], [0, 255, 0], [0, 0, 255], [255, 0, 0], [255, 255, 255]])
_PALETTE_KPT = np.array([[0, 255, 0], [255, 0, 0], [0, 0, 255], [128, 0, 0], [0, 0, 128], [255, 0, 255],
                         [0, 255, 255], [255, 255, 0], [0, 128, 128], [128, 128, 0]])
# B, G, R as the official code hands them to OpenCV on a BGR image
COCO17_JOINT_BGR = _PALETTE_KPT[[0, 0, 0, 0, 0, 3, 4, 3, 4, 1, 2, 5, 5, 6, 7, 8, 9]]
COCO17_LIMB_BGR = _PALETTE[[0, 0, 0, 0, 7, 7, 7, 9, 9, 9, 9, 9, 16, 16, 16, 16, 16, 16, 16]]
BOX_RGB = (0, 255, 0)  # mmcv's "green": the same in B, G, R order
SCORE_THRESHOLD = 0.3


def embedding_thickness(width: int, height: int) -> int:
    """``max(int(sqrt(w * h) / 90), 1)``: the limbs' line width."""
    return max(int(math.sqrt(width * height) / 90), 1)


def layout_colors(layout: KeypointLayout) -> tuple[np.ndarray, np.ndarray]:
    """RGB ``(joint colours (J, 3), limb colours (L, 3))`` of a layout: the official ones for COCO-17."""
    if layout.name == COCO17.name:
        return COCO17_JOINT_BGR[:, ::-1].copy(), COCO17_LIMB_BGR[:, ::-1].copy()
    joints = np.array(layout.colors())
    return joints, np.array([joints[a] for a, _ in layout.limbs]).reshape(-1, 3)


def _color(rgb: np.ndarray) -> tuple[int, int, int]:
    return tuple(int(c) for c in rgb)  # type: ignore[return-value]


def pose_embedding(image: np.ndarray, keypoints: Sequence[np.ndarray], scores: Sequence[np.ndarray], *,
                   boxes: Sequence[Sequence[float]] = (), layout: KeypointLayout = COCO17,
                   score_threshold: float = SCORE_THRESHOLD, radius: int | None = None,
                   thickness: int | None = None, limbs: bool = True, mode: str = "paint") -> np.ndarray:
    """An RGB uint8 image ``(H, W, 3)`` with the persons' keypoints drawn (module docstring); a new array.

    ``keypoints[p]`` is ``(J, 2)`` pixel x, y of person ``p`` in this image, ``scores[p]`` its ``(J,)`` scores;
    ``boxes`` are drawn first (x1, y1, x2, y2), as the official drawing does with the persons' boxes.
    """
    if mode not in ("paint", "add"):
        raise ValueError(f"mode must be 'paint' or 'add', found {mode!r}")
    if len(keypoints) != len(scores):
        raise ValueError(f"{len(keypoints)} persons' keypoints but {len(scores)} persons' scores")
    height, width = image.shape[:2]
    radius = dot_radius(width, height) if radius is None else radius
    thickness = embedding_thickness(width, height) if thickness is None else thickness
    joint_rgb, limb_rgb = layout_colors(layout)
    canvas = np.ascontiguousarray(image.copy() if mode == "paint" else np.zeros_like(image))
    for box in boxes:
        x1, y1, x2, y2 = (int(np.int32(v)) for v in box)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), BOX_RGB, 1)
    for points, score in zip(keypoints, scores, strict=True):
        points, score = np.asarray(points, dtype=np.float64), np.asarray(score, dtype=np.float64)
        if points.shape != (layout.num_joints, 2) or score.shape != (layout.num_joints,):
            raise ValueError(f"expected {layout.num_joints} keypoints of layout {layout.name}, "
                             f"found {points.shape} and scores {score.shape}")
        ends = np.trunc(np.nan_to_num(points, nan=-1.0)).astype(np.int64)  # Python's int(): towards zero
        shown = score > score_threshold
        for j in np.flatnonzero(shown):
            cv2.circle(canvas, (int(ends[j, 0]), int(ends[j, 1])), int(radius), _color(joint_rgb[j]), -1)
        if not limbs:
            continue
        inside = (ends[:, 0] > 0) & (ends[:, 0] < width) & (ends[:, 1] > 0) & (ends[:, 1] < height)
        for (a, b), color in zip(layout.limbs, limb_rgb, strict=True):
            if inside[a] and inside[b] and shown[a] and shown[b]:
                cv2.line(canvas, (int(ends[a, 0]), int(ends[a, 1])), (int(ends[b, 0]), int(ends[b, 1])),
                         _color(color), thickness=int(thickness))
    if mode == "add":
        return np.minimum(image.astype(np.uint16) + canvas, 255).astype(np.uint8)
    return canvas
