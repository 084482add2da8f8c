"""The feature-map renderer against a plain transcription of REFERENCE.md §9 and EPP-Net's own picture."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest
from PIL import Image
from torchvision.transforms import functional as TF

from parsing.feature_map import feature_map_palette, render_feature_map, select_frames, tile_layout

# sha256 of the RGB pixels of EPP-Net's published rendering of this sample
# (liujf69/EPP-Net, Parsing/S001C001P001R001A001.png: 9 frames, evaluation sampling).
PUBLISHED_RENDERING_SHA256 = "cf6e13bb4b288943597d48d376a31df7dee58e2c288dc35a9efcac2c85d2899c"


def section9_palette() -> list[int]:
    """768 palette entries as §9 states them: VOC bits for the 20 LIP classes, grey beyond."""
    palette = []
    for index in range(256):
        rgb = [index, index, index]
        if index < 20:
            rgb, code, bit = [0, 0, 0], index, 7
            while code:
                for channel in range(3):
                    rgb[channel] |= ((code >> channel) & 1) << bit
                code >>= 3
                bit -= 1
        palette += rgb
    return palette


def section9_rendering(labels: np.ndarray, n: int, train: bool, rng: np.random.Generator | None) -> np.ndarray:
    """§9 done the plain way: pad, pick frames, one PIL palette image per tile, paste on a canvas."""
    if labels.shape[0] < n:
        labels = np.pad(labels, ((0, n - labels.shape[0]), (0, 0), (0, 0), (0, 0)), mode="reflect")
    total = labels.shape[0]
    start, step = 0, total // n
    flip, angle = False, 0.0
    if train:
        start = int(rng.integers(0, total % n + 1))
        step = int(rng.integers(1, total // n + 1))
        flip = rng.random() > 0.5
        angle = rng.random() * 30
    root = math.sqrt(n)
    side = int(480 / root)
    canvas = Image.new("RGB", (480, 480))
    for k, frame in enumerate(range(start, total, step)[:n]):
        tile = Image.fromarray(labels[frame].squeeze(-1)).resize((side, side), Image.Resampling.BICUBIC)
        tile.putpalette(section9_palette())
        if train:
            if flip:
                tile = TF.hflip(tile)
            tile = TF.rotate(tile, angle)
        canvas.paste(tile, (side * int(k % root), side * int(k // root)))
    return np.asarray(canvas)


@pytest.fixture(scope="module")
def labels(ntu_fixtures) -> np.ndarray:
    """SCHP's real output for S001C001P001R001A001: (103, 119, 119, 1) uint8."""
    return np.load(ntu_fixtures / "parsing" / "S001C001P001R001A001.npy")


def test_matches_the_published_epp_net_rendering(labels):
    image = render_feature_map(labels, 9)
    assert image.shape == (480, 480, 3) and image.dtype == np.uint8
    assert hashlib.sha256(image.tobytes()).hexdigest() == PUBLISHED_RENDERING_SHA256
    # Bicubic overshoot at part borders shows up as the grey indices 20-22.
    assert {(20, 20, 20), (21, 21, 21)} <= set(map(tuple, image.reshape(-1, 3)))


@pytest.mark.parametrize("n", [9, 5])
def test_evaluation_rendering_is_pixel_identical(labels, n):
    np.testing.assert_array_equal(render_feature_map(labels, n), section9_rendering(labels, n, False, None))


@pytest.mark.parametrize("n", [9, 5])
def test_training_rendering_replays_the_same_draws(labels, n):
    flips = set()
    for seed in range(12):
        ours = render_feature_map(labels, n, train=True, rng=np.random.default_rng(seed))
        plain = section9_rendering(labels, n, True, np.random.default_rng(seed))
        np.testing.assert_array_equal(ours, plain, err_msg=f"seed {seed}")
        replay = np.random.default_rng(seed)
        replay.integers(0, len(labels) % n + 1), replay.integers(1, len(labels) // n + 1)
        flips.add(replay.random() > 0.5)
    assert flips == {True, False}, "the seeds should exercise both flip branches"


@pytest.mark.parametrize("total", [1, 2, 4, 8])
@pytest.mark.parametrize("train", [False, True])
def test_short_samples_are_padded_by_reflection(labels, total, train):
    short = labels[40 : 40 + total]
    rng_a, rng_b = np.random.default_rng(7), np.random.default_rng(7)
    np.testing.assert_array_equal(
        render_feature_map(short, 9, train=train, rng=rng_a), section9_rendering(short, 9, train, rng_b)
    )


def test_accepts_three_dimensional_labels_and_memory_maps(labels, ntu_fixtures):
    mapped = np.load(ntu_fixtures / "parsing" / "S001C001P001R001A001.npy", mmap_mode="r")
    np.testing.assert_array_equal(render_feature_map(labels[..., 0], 5), render_feature_map(mapped, 5))


def test_frame_selection():
    assert select_frames(103, 9) == [0, 11, 22, 33, 44, 55, 66, 77, 88]
    assert select_frames(4, 9) == [0, 1, 2, 3, 2, 1, 0, 1, 2]
    for seed in range(50):
        picked = select_frames(103, 9, train=True, rng=np.random.default_rng(seed))
        steps = set(np.diff(picked).tolist())
        assert len(picked) == 9 and picked[0] <= 103 % 9 and len(steps) == 1 and 1 <= steps.pop() <= 11


def test_layout_and_palette():
    assert tile_layout(9) == (160, tuple((160 * c, 160 * r) for r in range(3) for c in range(3)))
    assert tile_layout(5) == (214, ((0, 0), (214, 0), (428, 0), (0, 214), (214, 214)))
    palette = feature_map_palette()
    assert palette.shape == (256, 3) and tuple(palette[1]) == (128, 0, 0) and tuple(palette[19]) == (128, 192, 0)
    assert tuple(palette[20]) == (20, 20, 20) and tuple(palette[255]) == (255, 255, 255)


def test_rejects_other_dtypes(labels):
    with pytest.raises(ValueError, match="uint8"):
        render_feature_map(labels.astype(np.int64), 9)
