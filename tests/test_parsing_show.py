"""Pictures: feature map PNG, parsing GIF with a legend, overlay strip; the label sets and palette."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from parsing.__main__ import main
from parsing.labels import ATR_CLASSES, LIP_CLASSES, PASCAL_CLASSES, voc_palette
from parsing.show import labels_on_frame

SAMPLE = "S001C001P001R001A001"


@pytest.fixture
def parsing_npy(ntu_fixtures: Path) -> Path:
    return ntu_fixtures / "parsing" / f"{SAMPLE}.npy"


def test_voc_palette_and_label_sets() -> None:
    palette = voc_palette(256)
    assert palette.shape == (256, 3) and palette.dtype == np.uint8
    expected = {
        0: (0, 0, 0),
        1: (128, 0, 0),
        2: (0, 128, 0),
        4: (0, 0, 128),
        8: (64, 0, 0),
        15: (192, 128, 128),
    }
    for index, rgb in expected.items():
        assert tuple(palette[index]) == rgb
    np.testing.assert_array_equal(voc_palette(20), palette[:20])
    assert (len(LIP_CLASSES), len(ATR_CLASSES), len(PASCAL_CLASSES)) == (20, 18, 7)
    assert LIP_CLASSES[5] == "Upper-clothes" and LIP_CLASSES[19] == "Right-shoe"


def test_feature_map_png(parsing_npy: Path, tmp_path: Path) -> None:
    out = tmp_path / "feature_map.png"
    assert main(["show", "feature-map", "--parsing", str(parsing_npy), "--out", str(out)]) == 0
    image = Image.open(out)
    assert image.size == (480, 480) and image.mode == "RGB"


def test_parsing_gif_has_every_frame_and_a_legend(parsing_npy: Path, tmp_path: Path) -> None:
    out = tmp_path / "parsing.gif"
    assert main(["show", "gif", "--parsing", str(parsing_npy), "--out", str(out), "--scale", "2"]) == 0
    gif = Image.open(out)
    assert gif.n_frames == 103
    assert gif.size[0] > 2 * 119 + 100 and gif.size[1] >= 2 * 119  # maps plus the legend column


def test_overlay_strip(parsing_npy: Path, ntu_fixtures: Path, tmp_path: Path) -> None:
    out = tmp_path / "overlay.png"
    frames = ntu_fixtures / "person_frames" / SAMPLE
    argv = ["show", "overlay", "--parsing", str(parsing_npy), "--frames", str(frames), "--out", str(out)]
    assert main([*argv, "--count", "3"]) == 0
    strip = np.asarray(Image.open(out))
    assert strip.shape[0] == 460 and 3 * 100 < strip.shape[1] < 3 * 150


def test_labels_map_back_onto_the_frame_without_stretching() -> None:
    # A map whose label is 1 exactly where the 125x460 frame sits inside the 473 square, 0 around it.
    width, height, k = 125, 460, 472 / 459
    left = 236 - k * (width - 1) / 2
    columns = np.arange(119) * 4.0  # map pixel i sits at input pixel 4 i
    labels = np.zeros((119, 119), dtype=np.uint8)
    labels[:, (columns >= left) & (columns <= 472 - left)] = 1
    on_frame = labels_on_frame(labels, (width, height))
    assert on_frame.shape == (height, width)
    assert on_frame[:, 3:-3].all()  # a plain resize would squeeze the person into the middle quarter


def test_corrupt_parsing_file_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.npy"
    bad.write_bytes(b"garbage")
    assert main(["show", "gif", "--parsing", str(bad), "--out", str(tmp_path / "x.gif")]) == 2
