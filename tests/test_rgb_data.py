"""The RGB branch's data: masks and heatmaps of the real fixture sample land on the person, frame
sampling, synthetic person frames for every sample, and the JHMDB reader with its errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io

from data.synthetic import SyntheticConfig, generate
from data.synthetic.frames import write_person_frames
from data.synthetic.jhmdb import write_synthetic_jhmdb
from rgb_branch.clips import sample_frame_indices
from rgb_branch.dataset import MissingFramesError, NtuRgbDataset
from rgb_branch.jhmdb import JHMDB_CLASSES, JhmdbDataset, JhmdbError, read_split

SAMPLE = "S001C001P001R001A001"


@pytest.fixture(scope="module")
def fixture_dataset(ntu_fixtures: Path) -> NtuRgbDataset:
    return NtuRgbDataset([SAMPLE], [0], ntu_fixtures / "person_frames", ntu_fixtures / "skeletons", train=False,
                         num_frames=15, image_size=64, background=0.5, pose_maps="input", heatmap_grid=8)


def test_fixture_mask_covers_the_person(fixture_dataset):
    for frame in (0, 50, 102):
        image, mask, points = fixture_dataset.load_frame(0, frame)
        assert 0.2 < mask.mean() < 0.6
        # the actor wears dark clothes before a light wall: the mask holds the dark pixels
        assert image[mask].mean() < image[~mask].mean() - 30
        inside = (points[0] >= 0).all(axis=1) & (points[0] < [image.shape[1], image.shape[0]]).all(axis=1)
        assert inside.mean() > 0.9


def test_fixture_heatmaps_put_head_above_feet(fixture_dataset):
    inputs, label = fixture_dataset[0]
    assert inputs["frames"].shape == (15, 3, 64, 64) and inputs["heatmaps"].shape == (15, 25, 8, 8) and label == 0
    maps = inputs["heatmaps"][7]
    row = {j: int(maps[j].argmax()) // 8 for j in (3, 0, 15, 19)}  # head, spine base, left / right foot
    assert row[3] <= 1 and 3 <= row[0] <= 5 and row[15] >= 6 and row[19] >= 6


def test_background_weakening_halves_the_outside(ntu_fixtures):
    plain, masked = (NtuRgbDataset([SAMPLE], [0], ntu_fixtures / "person_frames", ntu_fixtures / "skeletons",
                                   train=False, num_frames=3, image_size=32, background=b) for b in (1.0, 0.5))
    a, b = plain[0][0]["frames"], masked[0][0]["frames"]
    assert (b < a - 1e-3).float().mean() > 0.3  # darker where weakened
    assert np.isclose(float((a - b).abs().min()), 0.0, atol=1e-5)  # unchanged on the person


@pytest.mark.parametrize("sampling", ["random_sorted", "consecutive", "eppnet_grid"])
def test_frame_sampling(sampling):
    rng = np.random.default_rng(0)
    count = 9 if sampling == "eppnet_grid" else 15
    for total in (4, 40):  # too short a clip repeats frames (EPP-Net's grid pads by reflection in time)
        chosen = sample_frame_indices(total, count, sampling, train=True, rng=rng)
        assert len(chosen) == count and all(0 <= i < total for i in chosen)
        assert chosen == sorted(chosen) or (sampling == "eppnet_grid" and total < count)
    assert sample_frame_indices(40, 15, "random_sorted", train=True, rng=rng) != list(range(15))
    assert len(set(sample_frame_indices(40, 15, "random_sorted", train=True, rng=rng))) == 15


def test_synthetic_person_frames_for_every_sample(tmp_path):
    summary = generate(tmp_path / "synthetic", SyntheticConfig(classes=2, two_person_classes=1, samples_per_class=4,
                       videos=0, min_frames=30, max_frames=32, parsing=False), progress=False)
    count = write_person_frames(tmp_path / "synthetic", tmp_path / "frames", size=32)
    with_body = [s for s in summary["samples"] if not s["missing"]]
    assert count == len(with_body)
    for sample in with_body:
        files = list((tmp_path / "frames" / sample["name"]).glob("*.jpg"))
        assert len(files) == sample["frames"]
    names = [s["name"] for s in with_body]
    data = NtuRgbDataset(names, [0] * len(names), tmp_path / "frames", tmp_path / "synthetic" / "skeletons",
                         train=True, num_frames=4, image_size=32)
    assert data[0][0]["frames"].shape == (4, 3, 32, 32)
    with pytest.raises(MissingFramesError, match="1 of"):
        NtuRgbDataset([*names, "S001C001P001R001A001"], [0] * (len(names) + 1), tmp_path / "frames",
                      tmp_path / "synthetic" / "skeletons", train=False, num_frames=4, image_size=32)


@pytest.fixture(scope="module")
def jhmdb(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("jhmdb")
    write_synthetic_jhmdb(root, JHMDB_CLASSES, videos_per_class=3, frames=10, size=(64, 48))
    return root


def test_jhmdb_splits_and_items(jhmdb):
    splits = [read_split(jhmdb, k) for k in (1, 2, 3)]
    assert all(len(s["train"]) == 42 and len(s["test"]) == 21 for s in splits)
    assert len({tuple(s["test"]) for s in splits}) == 3
    data = JhmdbDataset(jhmdb, splits[0]["test"], train=False, num_frames=15, image_size=32, background=0.5,
                        pose_maps="target", heatmap_grid=4)
    inputs, target = data[5]
    assert inputs["frames"].shape == (15, 3, 32, 32) and target["heatmaps"].shape == (15, 15, 4, 4)
    assert target["label"] == 5
    _, mask, points = data.load_frame(5, 3)
    rows, cols = points[0, :, 1].astype(int), points[0, :, 0].astype(int)
    assert mask[rows.clip(0, 47), cols.clip(0, 63)].mean() > 0.8  # the joints lie on the puppet mask


def _copy_tree(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_jhmdb_errors_name_the_file(jhmdb, tmp_path):
    root = _copy_tree(jhmdb, tmp_path / "broken")
    names = read_split(root, 1)["test"]
    mask = root / "puppet_mask" / names[0] / "puppet_mask.mat"
    mask.write_bytes(b"not a mat file")
    with pytest.raises(JhmdbError, match=str(mask)):
        JhmdbDataset(root, names, train=False, num_frames=4, image_size=32)
    scipy.io.savemat(str(mask), {"part_mask": np.zeros((10, 10, 10), np.uint8)})
    with pytest.raises(JhmdbError, match="masks are 10x10"):
        JhmdbDataset(root, names, train=False, num_frames=4, image_size=32)
    mask.unlink()
    with pytest.raises(JhmdbError, match="file missing"):
        JhmdbDataset(root, names, train=False, num_frames=4, image_size=32)
    for frame in (root / "Rename_Images" / names[1]).glob("*.png"):
        frame.unlink()
    with pytest.raises(JhmdbError, match="no frames"):
        JhmdbDataset(root, names[1:], train=False, num_frames=4, image_size=32)
