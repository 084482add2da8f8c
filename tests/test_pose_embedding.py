"""The pose-guided positional embedding against the official drawing, step by step, written here in BGR."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from pose_guidance.embedding import embedding_thickness, layout_colors, pose_embedding
from pose_guidance.layouts import COCO17, NTU25
from pose_guidance.maps import dot_radius

# The official palettes (poseguide_embedding.py), indexed here by hand rather than through the module's arrays.
PALETTE_KPT = [(0, 255, 0), (255, 0, 0), (0, 0, 255), (128, 0, 0), (0, 0, 128), (255, 0, 255), (0, 255, 255),
               (255, 255, 0), (0, 128, 128), (128, 128, 0)]
JOINT_INDEX = [0, 0, 0, 0, 0, 3, 4, 3, 4, 1, 2, 5, 5, 6, 7, 8, 9]
SKELETON_1_BASED = [[16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13], [6, 7], [6, 8], [7, 9],
                    [8, 10], [9, 11], [2, 3], [1, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5, 7]]
LIMB_PALETTE = {0: (255, 128, 0), 7: (255, 51, 255), 9: (51, 153, 255), 16: (0, 255, 0)}
LIMB_INDEX = [0, 0, 0, 0, 7, 7, 7, 9, 9, 9, 9, 9, 16, 16, 16, 16, 16, 16, 16]


def official_bgr(image_bgr: np.ndarray, persons: list[np.ndarray], boxes: list[list[float]]) -> np.ndarray:
    """mmpose's show_result as poseguide_embedding.py calls it: boxes, then per person dots, then limbs."""
    img = image_bgr.copy()
    h, w = img.shape[:2]
    radius = max(int(math.sqrt(w * h) / 30), 3)
    thickness = max(int(math.sqrt(w * h) / 90), 1)
    for box in boxes:
        b = np.array(box).astype(np.int32)
        cv2.rectangle(img, (int(b[0]), int(b[1])), (int(b[2]), int(b[3])), (0, 255, 0), thickness=1)
    for kpts in persons:
        for kid, kpt in enumerate(kpts):
            x, y, s = int(kpt[0]), int(kpt[1]), kpt[2]
            if s > 0.3:
                cv2.circle(img, (x, y), radius, PALETTE_KPT[JOINT_INDEX[kid]], -1)
        for sk_id, sk in enumerate(SKELETON_1_BASED):
            pos1 = (int(kpts[sk[0] - 1, 0]), int(kpts[sk[0] - 1, 1]))
            pos2 = (int(kpts[sk[1] - 1, 0]), int(kpts[sk[1] - 1, 1]))
            if (0 < pos1[0] < w and 0 < pos1[1] < h and 0 < pos2[0] < w and 0 < pos2[1] < h
                    and kpts[sk[0] - 1, 2] > 0.3 and kpts[sk[1] - 1, 2] > 0.3):
                cv2.line(img, pos1, pos2, LIMB_PALETTE[LIMB_INDEX[sk_id]], thickness=thickness)
    return img


@pytest.mark.parametrize("seed", range(6))
def test_embedding_is_the_official_drawing_pixel_for_pixel(seed: int) -> None:
    rng = np.random.default_rng(seed)
    h, w = int(rng.integers(60, 400)), int(rng.integers(60, 400))
    rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    persons = []
    for _ in range(int(rng.integers(1, 4))):
        xy = rng.uniform([-10, -10], [w + 10, h + 10], (17, 2))
        persons.append(np.concatenate([xy, rng.uniform(0, 1, (17, 1))], axis=1))
    boxes = [list(rng.uniform(0, [w, h, w, h])) for _ in range(len(persons))]
    ours = pose_embedding(rgb, [p[:, :2] for p in persons], [p[:, 2] for p in persons], boxes=boxes)
    reference = official_bgr(np.ascontiguousarray(rgb[:, :, ::-1]), persons, boxes)[:, :, ::-1]
    np.testing.assert_array_equal(ours, reference)


def test_dots_land_at_the_keypoints_with_the_stated_radius() -> None:
    w, h = 120, 240  # sqrt(28800) = 169.7 -> radius 5, thickness 1
    assert (dot_radius(w, h), embedding_thickness(w, h)) == (5, 1)
    points = np.full((17, 2), np.nan)
    scores = np.zeros(17)
    points[9], scores[9] = (60.7, 100.2), 0.9  # left wrist: palette_kpt[1] = B255 G0 R0 -> RGB blue
    points[0], scores[0] = (20.0, 20.0), 0.3  # nose at the threshold: not drawn (strictly above 0.3)
    out = pose_embedding(np.zeros((h, w, 3), np.uint8), [points], [scores])
    lit = np.argwhere(out.any(axis=2))
    assert tuple(out[100, 60]) == (0, 0, 255)
    assert np.hypot(lit[:, 1] - 60, lit[:, 0] - 100).max() == pytest.approx(5, abs=0.5)  # centred on int(x), int(y)
    assert not out[20, 20].any()


def test_add_mode_is_the_image_plus_the_drawing_saturated() -> None:
    image = np.full((90, 90, 3), 200, np.uint8)
    points, scores = np.full((17, 2), 45.0), np.ones(17)
    painted = pose_embedding(image, [points], [scores], limbs=False)
    added = pose_embedding(image, [points], [scores], limbs=False, mode="add")
    joint = tuple(int(c) for c in painted[45, 45])  # the last joint drawn (right ankle) wins the centre
    assert joint == tuple(layout_colors(COCO17)[0][16])
    assert tuple(added[45, 45]) == tuple(min(200 + c, 255) for c in joint)
    assert (added[0, 0] == 200).all() and (image == 200).all()


def test_other_layouts_draw_their_own_joints_and_refuse_a_wrong_count() -> None:
    points = np.tile([[30.0, 30.0]], (25, 1))
    out = pose_embedding(np.zeros((64, 64, 3), np.uint8), [points], [np.ones(25)], layout=NTU25, limbs=False)
    assert out[30, 30].any()
    with pytest.raises(ValueError, match="25 keypoints"):
        pose_embedding(np.zeros((64, 64, 3), np.uint8), [points[:17]], [np.ones(17)], layout=NTU25)
