"""The pose feeder against REFERENCE.md §4: test crop and resize, rotation, bones, motion, .npz input."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from data.storage import SkeletonSplit, open_split
from pose_branch.feeder import (
    STREAMS,
    SkeletonFeeder,
    frames_to_ctvm,
    make_stream,
    prepare_sample,
    rotation_matrix,
    valid_crop_resize,
)
from pose_branch.graph import BONE_PAIRS


def random_frames(rng: np.random.Generator, t: int, two_actors: bool = True) -> np.ndarray:
    frames = rng.normal(size=(t, 150)).astype(np.float32)
    if not two_actors:
        frames[:, 75:] = 0
    return frames


def plain_test_sample(frames: np.ndarray, window: int) -> np.ndarray:
    """§4 written out: (T, 150) -> (3, window, 25, 2) via the centre crop and linear resampling."""
    data = frames.reshape(len(frames), 2, 25, 3).transpose(3, 0, 2, 1)  # C, T, V, M
    valid = int((data.sum(axis=(0, 2, 3)) != 0).sum())
    bias = int((1 - 0.95) * valid / 2)
    crop = data[:, bias : valid - bias].astype(np.float64)
    length = crop.shape[1]
    out = np.empty((3, window, 25, 2))
    for j in range(window):  # align_corners=False: source = (j + 0.5) * length / window - 0.5, clamped at 0
        src = max((j + 0.5) * length / window - 0.5, 0.0)
        i0 = min(int(math.floor(src)), length - 1)
        i1 = min(i0 + 1, length - 1)
        w = src - i0
        out[:, j] = (1 - w) * crop[:, i0] + w * crop[:, i1]
    return out


@pytest.mark.parametrize(("frames", "valid"), [(103, 103), (300, 77), (40, 40), (64, 64), (20, 20)])
def test_test_crop_and_resize_follow_the_reference(frames: int, valid: int) -> None:
    rng = np.random.default_rng(frames)
    sample = random_frames(rng, frames, two_actors=valid % 2 == 1)
    sample[valid:] = 0  # padding at the end, as in the reference's .npz
    ours = prepare_sample(sample, "joint", 64, train=False)
    assert ours.shape == (3, 64, 25, 2) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, plain_test_sample(sample, 64), rtol=1e-5, atol=1e-5)


def test_random_crop_keeps_at_least_64_frames_and_stays_inside_the_valid_ones() -> None:
    t = 200
    ramp = np.broadcast_to(np.arange(1, t + 1, dtype=np.float32)[:, None], (t, 150)).copy()
    ramp[150:] = 0  # 150 valid frames
    data = frames_to_ctvm(ramp)
    rng = np.random.default_rng(0)
    for _ in range(50):
        out = valid_crop_resize(data, 150, (0.5, 1.0), 64, rng)
        first, last = out[0, 0, 0, 0], out[0, -1, 0, 0]
        assert 1 <= first and last <= 150
        assert last - first > 60  # the crop spans at least 64 of the 150 frames
    short = valid_crop_resize(data[:, :30], 30, (0.5, 1.0), 64, rng)  # fewer than 64: all of them
    assert short[0, 0, 0, 0] == 1 and short[0, -1, 0, 0] == 30


def test_rotation_is_rz_ry_rx_with_the_reference_signs() -> None:
    ax, ay, az = 0.1, -0.2, 0.25
    c, s = np.cos, np.sin
    rx = np.array([[1, 0, 0], [0, c(ax), s(ax)], [0, -s(ax), c(ax)]])
    ry = np.array([[c(ay), 0, -s(ay)], [0, 1, 0], [s(ay), 0, c(ay)]])
    rz = np.array([[c(az), s(az), 0], [-s(az), c(az), 0], [0, 0, 1]])
    np.testing.assert_allclose(rotation_matrix((ax, ay, az)), rz @ ry @ rx, atol=1e-6)
    assert not np.allclose(rotation_matrix((ax, ay, az)), rx @ ry @ rz, atol=1e-3)
    # x rotation maps the y axis to (0, cos, -sin): R acts on column vectors (x, y, z).
    np.testing.assert_allclose(rotation_matrix((ax, 0, 0)) @ [0, 1, 0], [0, c(ax), -s(ax)], atol=1e-6)


def test_training_rotates_every_frame_by_one_matrix() -> None:
    sample = random_frames(np.random.default_rng(1), 64)
    rotated = prepare_sample(sample, "joint", 64, train=True, rng=np.random.default_rng(5))
    plain = prepare_sample(sample, "joint", 64, train=True, rotate=False, rng=np.random.default_rng(5))
    r = np.linalg.lstsq(plain.reshape(3, -1).T, rotated.reshape(3, -1).T, rcond=None)[0].T
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-4)
    assert np.abs(r - np.eye(3)).max() > 1e-3
    assert np.arccos(np.clip((np.trace(r) - 1) / 2, -1, 1)) <= 3 * 0.3 + 1e-4  # three angles of at most 0.3


def hand_made_skeleton() -> np.ndarray:
    """(3, 4, 25, 2): joint j of person m at frame t sits at (j, 10 m, t^2)."""
    data = np.zeros((3, 4, 25, 2), dtype=np.float32)
    data[0] = np.arange(25)[None, :, None]
    data[1] = 10 * np.arange(2)[None, None, :]
    data[2] = (np.arange(4) ** 2)[:, None, None]
    return data


def test_bone_is_child_minus_parent_and_the_root_bone_is_zero() -> None:
    bone = make_stream(hand_made_skeleton(), "bone")
    for child, parent in BONE_PAIRS:
        assert np.all(bone[0, :, child - 1] == child - parent)
    assert np.all(bone[:, :, 20] == 0)  # joint 21 is its own parent
    assert np.all(bone[1:] == 0)


def test_motion_is_the_next_frame_minus_this_one_with_a_zero_last_frame() -> None:
    motion = make_stream(hand_made_skeleton(), "joint_motion")
    assert np.all(motion[2, :3] == np.array([1, 3, 5])[:, None, None])
    assert np.all(motion[:, 3] == 0) and np.all(motion[:2] == 0)
    bone_motion = make_stream(hand_made_skeleton() * np.float32(1.5), "bone_motion")
    expected = make_stream(make_stream(hand_made_skeleton() * np.float32(1.5), "bone"), "joint_motion")
    np.testing.assert_array_equal(bone_motion, expected)


def test_unknown_stream_is_named() -> None:
    with pytest.raises(ValueError, match="velocity"):
        make_stream(hand_made_skeleton(), "velocity")


def make_prepared_split(samples: list[np.ndarray], names: list[str]) -> SkeletonSplit:
    offsets = np.cumsum([0] + [len(s) for s in samples]).astype(np.int64)
    labels = np.array([int(n[-3:]) - 1 for n in names], dtype=np.int64)
    return SkeletonSplit(np.concatenate(samples), offsets, names, labels, 60, max(len(s) for s in samples))


@pytest.mark.parametrize("stream", STREAMS)
def test_reference_npz_and_prepared_storage_give_the_same_samples(tmp_path: Path, stream: str) -> None:
    rng = np.random.default_rng(2)
    lengths = [70, 33, 120]
    samples = [random_frames(rng, t, two_actors=i != 1) for i, t in enumerate(lengths)]
    names = ["S001C001P001R001A001", "S001C001P001R001A007", "S001C001P003R002A055"]
    x = np.zeros((3, 300, 150), dtype=np.float32)
    for i, s in enumerate(samples):
        x[i, : len(s)] = s
    y = np.zeros((3, 60), dtype=np.float32)
    y[[0, 1, 2], [0, 6, 54]] = 1
    np.savez(tmp_path / "NTU60_CS.npz", x_train=x[:0], y_train=y[:0], x_test=x, y_test=y)

    from_npz = SkeletonFeeder(open_split(tmp_path / "NTU60_CS.npz", split="test"), stream)
    prepared = SkeletonFeeder(make_prepared_split(samples, names), stream)
    assert from_npz.sample_names == ["test_0", "test_1", "test_2"] and prepared.sample_names == names
    for i in range(3):
        a, label_a = from_npz[i]
        b, label_b = prepared[i]
        assert isinstance(a, torch.Tensor) and a.dtype == torch.float32 and a.shape == (3, 64, 25, 2)
        assert label_a == label_b == [0, 6, 54][i]
        assert torch.equal(a, b)


def test_training_samples_are_reproducible_under_numpy_seeding() -> None:
    samples = [random_frames(np.random.default_rng(i), 90) for i in range(2)]
    feeder = SkeletonFeeder(make_prepared_split(samples, ["S001C001P001R001A001", "S001C001P001R001A002"]),
                            "bone", train=True)
    np.random.seed(7)
    first = feeder[0][0]
    np.random.seed(7)
    again = feeder[0][0]
    other = feeder[0][0]
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert torch.equal(SkeletonFeeder(feeder.split, "bone")[1][0], SkeletonFeeder(feeder.split, "bone")[1][0])


def test_an_empty_sample_is_named() -> None:
    feeder = SkeletonFeeder(make_prepared_split([np.zeros((5, 150), np.float32)], ["S001C001P001R001A001"]))
    with pytest.raises(ValueError, match="S001C001P001R001A001"):
        feeder[0]
