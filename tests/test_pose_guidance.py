"""Pose guidance: heatmaps, masks, dots, crop coordinates and boxes land where the keypoints are."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pose_guidance.boxes import enlarge_box_to_keypoints
from pose_guidance.layouts import COCO17, JHMDB15, LAYOUTS, NTU25, get_layout
from pose_guidance.maps import (
    body_mask,
    dot_radius,
    draw_keypoints,
    from_crop_frame,
    joint_heatmaps,
    keypoint_dots,
    limb_mask,
    to_crop_frame,
    weaken_background,
)


def test_heatmap_peaks_in_the_cell_of_its_joint_with_the_gaussian_value_elsewhere() -> None:
    # image 64 x 32 on an 8 x 16 grid: cells are 4 x 4 pixels; cell (i=2, j=5) is centred at (22, 10)
    keypoints = np.array([[22.0, 10.0], [np.nan, np.nan], [1.0, 1.0]])
    maps = joint_heatmaps(keypoints, image_size=(64, 32), grid=(8, 16), sigma=1.5, visible=[True, True, False])
    assert maps.shape == (3, 8, 16) and maps.dtype == np.float32
    assert np.unravel_index(maps[0].argmax(), maps[0].shape) == (2, 5) and maps[0, 2, 5] == pytest.approx(1.0)
    # a cell 3 right and 1 up of the centre: exp(-(3^2 + 1^2) / (2 * 1.5^2))
    assert maps[0, 1, 8] == pytest.approx(math.exp(-10 / 4.5), rel=1e-6)
    assert not maps[1].any() and not maps[2].any()  # absent: NaN, and not visible


def test_crop_frame_maps_box_corners_to_crop_corners_and_back() -> None:
    box = (100, 50, 300, 450)  # 200 x 400
    points = np.array([[100.0, 50.0], [300.0, 450.0], [200.0, 250.0]])
    crop = to_crop_frame(points, box, (64, 128))
    np.testing.assert_allclose(crop, [[0, 0], [64, 128], [32, 64]])
    np.testing.assert_allclose(from_crop_frame(crop, box, (64, 128)), points)
    with pytest.raises(ValueError, match="empty box"):
        to_crop_frame(points, (10, 10, 10, 20), (8, 8))


def test_limb_mask_draws_only_limbs_whose_joints_are_present() -> None:
    keypoints = np.array([[2.5, 5.5], [12.5, 5.5], [np.nan, np.nan]])  # pixel centres
    mask = limb_mask(keypoints, [(0, 1), (1, 2)], size=(20, 10), thickness=1)
    assert mask.shape == (10, 20)
    rows, cols = np.nonzero(mask)
    assert set(rows.tolist()) == {5} and cols.min() == 2 and cols.max() == 12


def test_body_mask_fills_the_hull_of_the_joints() -> None:
    keypoints = np.array([[5.0, 5.0], [25.0, 5.0], [15.0, 25.0]])
    mask = body_mask(keypoints, [], size=(30, 30), thickness=1)
    assert mask[10, 15] and not mask[28, 2]


@pytest.mark.parametrize(("size", "expected"), [((100, 400), 6), ((120, 120), 4), ((30, 30), 3), ((89, 100), 3)])
def test_dot_radius_is_sqrt_area_over_30_truncated_at_least_3(size: tuple[int, int], expected: int) -> None:
    assert dot_radius(*size) == expected == max(int((size[0] * size[1]) ** 0.5 / 30), 3)


def test_dots_land_at_the_keypoints_with_the_stated_radius_and_colour() -> None:
    keypoints = np.array([[40.0, 30.0], [10.0, 70.0]])
    colors = [(255, 0, 0), (0, 255, 0)]
    dots = keypoint_dots(keypoints, size=(60, 90), colors=colors)  # radius sqrt(5400)/30 = 2.45 -> 3
    assert dots.shape == (90, 60, 3)
    assert tuple(dots[30, 40]) == (255, 0, 0) and tuple(dots[70, 10]) == (0, 255, 0)
    assert tuple(dots[30, 42]) == (255, 0, 0)  # 2 px from the centre: inside a radius-3 dot
    assert not dots[30, 45].any() and not dots[36, 40].any()  # 5 and 6 px away: outside
    filled = np.argwhere(dots[:, :, 0] == 255)
    assert np.hypot(filled[:, 1] + 0.5 - 40, filled[:, 0] + 0.5 - 30).max() <= 3 + 0.75  # pixel centres


def test_draw_keypoints_paints_or_adds_with_saturation() -> None:
    image = np.full((20, 20, 3), 200, np.uint8)
    keypoints = np.array([[10.0, 10.0]])
    painted = draw_keypoints(image, keypoints, [(255, 0, 0)], radius=3)
    added = draw_keypoints(image, keypoints, [(255, 0, 0)], radius=3, mode="add")
    assert tuple(painted[10, 10]) == (255, 0, 0) and tuple(added[10, 10]) == (255, 200, 200)
    assert tuple(painted[0, 0]) == (200, 200, 200) and (image == 200).all()  # the input is untouched
    with pytest.raises(ValueError, match="mode"):
        draw_keypoints(image, keypoints, [(255, 0, 0)], mode="blend")


def test_enlarged_box_contains_the_box_and_every_visible_keypoint() -> None:
    box = np.array([10.0, 10.0, 50.0, 80.0])
    keypoints = np.array([[5.0, 40.0], [30.0, 95.0], [200.0, 200.0], [np.nan, 1.0]])
    out = enlarge_box_to_keypoints(box, keypoints, visible=[True, True, False, True])
    np.testing.assert_array_equal(out, [5, 10, 50, 95])
    inside = enlarge_box_to_keypoints(box, np.array([[20.0, 20.0]]))
    np.testing.assert_array_equal(inside, box)
    clipped = enlarge_box_to_keypoints(box, np.array([[-4.0, 120.0]]), image_size=(64, 100))
    np.testing.assert_array_equal(clipped, [0, 10, 50, 100])


def test_background_is_weakened_by_the_factor() -> None:
    image = np.full((4, 4, 3), 100, np.uint8)
    mask = np.zeros((4, 4), bool)
    mask[1:3, 1:3] = True
    out = weaken_background(image, mask)
    assert out[1, 1, 0] == 100 and out[0, 0, 0] == 50  # (x + mask * x) / 2
    assert weaken_background(image, mask, factor=0.25)[0, 0, 0] == 25


@pytest.mark.parametrize("layout", [NTU25, COCO17, JHMDB15])
def test_layouts_have_valid_limbs_and_distinct_colours(layout) -> None:
    assert layout.num_joints == {"ntu25": 25, "coco17": 17, "jhmdb15": 15}[layout.name]
    assert all(0 <= a < layout.num_joints and 0 <= b < layout.num_joints for a, b in layout.limbs)
    assert len(set(layout.colors())) == layout.num_joints
    assert get_layout(layout.name) is layout and set(LAYOUTS) == {"ntu25", "coco17", "jhmdb15"}
    with pytest.raises(ValueError, match="unknown keypoint layout"):
        get_layout("mpii")
