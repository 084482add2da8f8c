"""What one pose training sample is (REFERENCE.md §4): crop, resize, rotate, and the four streams.

The steps are pure functions on (C, T, V, M) arrays so tests and the inference script can call
them on a single sample; :class:`SkeletonFeeder` chains them over a prepared split
(``data.storage.SkeletonSplit``, or anything with ``names``, ``labels`` and ``split[i] -> (T, 150)``).

Randomness: each training sample draws a fresh ``np.random.Generator`` seeded from NumPy's global
RNG, which the engine seeds per epoch and per loader worker, so augmentation is reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from pose_branch.graph import BONE_PAIRS

STREAMS = ("joint", "bone", "joint_motion", "bone_motion")
NUM_PERSONS, NUM_JOINTS, NUM_COORDS = 2, 25, 3
TRAIN_P_INTERVAL = (0.5, 1.0)
TEST_P_INTERVAL = (0.95,)
MIN_CROP_FRAMES = 64  # the reference's lower bound on a random crop, independent of the window
ROTATION_RANGE = 0.3  # radians, each of x, y, z


class SplitLike(Protocol):
    names: list[str]
    labels: np.ndarray

    def __len__(self) -> int: ...

    def __getitem__(self, i: int) -> np.ndarray: ...


def frames_to_ctvm(frames: np.ndarray) -> np.ndarray:
    """(T, 150) rows of 2 persons x 25 joints x (x, y, z) -> float32 (3, T, 25, 2) as C, T, V, M."""
    t = frames.shape[0]
    return np.ascontiguousarray(
        np.asarray(frames, dtype=np.float32).reshape(t, NUM_PERSONS, NUM_JOINTS, NUM_COORDS).transpose(3, 0, 2, 1)
    )


def count_valid_frames(data: np.ndarray) -> int:
    """Frames of (C, T, V, M) whose values do not sum to zero (the padding sits at the end)."""
    return int(np.sum(data.sum(0).sum(-1).sum(-1) != 0))


def valid_crop_resize(data: np.ndarray, valid_frames: int, p_interval: Sequence[float], window: int,
                      rng: np.random.Generator | None = None) -> np.ndarray:
    """Crop the valid frames of (C, T, V, M) and resize them to (C, window, V, M) float32.

    One ``p_interval`` value p: a centre crop dropping ``int((1 - p) * valid / 2)`` frames at each
    end. Two values: a random share p of the frames (at least 64, at most all) at a random start,
    drawn from ``rng``. The crop is resized by linear interpolation along time.
    """
    c, _, v, m = data.shape
    if valid_frames <= 0:
        raise ValueError("the sample has no valid (non-zero) frame to crop")
    if len(p_interval) == 1:
        bias = int((1 - p_interval[0]) * valid_frames / 2)
        crop = data[:, bias : valid_frames - bias]
    else:
        if rng is None:
            raise ValueError("a random crop (two p_interval values) needs an rng")
        p = rng.random() * (p_interval[1] - p_interval[0]) + p_interval[0]
        length = min(max(int(math.floor(valid_frames * p)), MIN_CROP_FRAMES), valid_frames)
        bias = int(rng.integers(0, valid_frames - length + 1))
        crop = data[:, bias : bias + length]
    length = crop.shape[1]
    # The reference resizes a (1, 1, C*V*M, length) image bilinearly: along its rows (size kept)
    # that is the identity, so this is linear interpolation along time with its exact arithmetic.
    rows = torch.from_numpy(np.ascontiguousarray(crop, dtype=np.float32)).permute(0, 2, 3, 1).reshape(c * v * m, length)
    resized = F.interpolate(rows[None, None], size=(c * v * m, window), mode="bilinear", align_corners=False)
    return resized.view(c, v, m, window).permute(0, 3, 1, 2).contiguous().numpy()


def rotation_matrix(angles: Sequence[float]) -> np.ndarray:
    """R = Rz @ Ry @ Rx (float32 (3, 3)) for angles (x, y, z) in radians, as the reference builds it."""
    cx, cy, cz = (np.float32(math.cos(a)) for a in angles)
    sx, sy, sz = (np.float32(math.sin(a)) for a in angles)
    rx = np.array([[1, 0, 0], [0, cx, sx], [0, -sx, cx]], dtype=np.float32)
    ry = np.array([[cy, 0, -sy], [0, 1, 0], [sy, 0, cy]], dtype=np.float32)
    rz = np.array([[cz, sz, 0], [-sz, cz, 0], [0, 0, 1]], dtype=np.float32)
    return rz @ ry @ rx


def random_rotation(data: np.ndarray, rng: np.random.Generator, theta: float = ROTATION_RANGE) -> np.ndarray:
    """Rotate every frame of (3, T, V, M) by one random R = Rz Ry Rx, angles ~ U(-theta, theta)."""
    r = rotation_matrix(rng.uniform(-theta, theta, size=3))
    return np.einsum("ij,jtvm->itvm", r, data).astype(np.float32, copy=False)


def to_bone(data: np.ndarray) -> np.ndarray:
    """(C, T, V, M) joints -> bones: child minus parent, written at the child (the root's is zero)."""
    bone = np.zeros_like(data)
    for child, parent in BONE_PAIRS:
        bone[:, :, child - 1] = data[:, :, child - 1] - data[:, :, parent - 1]
    return bone


def to_motion(data: np.ndarray) -> np.ndarray:
    """(C, T, V, M) -> frame differences x[t+1] - x[t]; the last frame is zero."""
    motion = np.zeros_like(data)
    motion[:, :-1] = data[:, 1:] - data[:, :-1]
    return motion


def make_stream(data: np.ndarray, stream: str) -> np.ndarray:
    """One of :data:`STREAMS` from (C, T, V, M) joints; bone-motion is the motion of bones."""
    if stream not in STREAMS:
        raise ValueError(f"stream must be one of {', '.join(STREAMS)}, found {stream!r}")
    if stream.startswith("bone"):
        data = to_bone(data)
    if stream.endswith("motion"):
        data = to_motion(data)
    return data


def prepare_sample(frames: np.ndarray, stream: str, window: int, *, train: bool, rotate: bool = True,
                   rng: np.random.Generator | None = None) -> np.ndarray:
    """(T, 150) preprocessed frames -> one model input (3, window, 25, 2) float32.

    ``train=False`` is deterministic (centre crop, no rotation). ``train=True`` crops at random
    and, with ``rotate``, rotates, drawing from ``rng``.
    """
    data = frames_to_ctvm(frames)
    valid = count_valid_frames(data)
    if not train:
        return make_stream(valid_crop_resize(data, valid, TEST_P_INTERVAL, window), stream)
    if rng is None:
        raise ValueError("training augmentation needs an rng")
    data = valid_crop_resize(data, valid, TRAIN_P_INTERVAL, window, rng)
    if rotate:
        data = random_rotation(data, rng)
    return make_stream(data, stream)


class SkeletonFeeder(Dataset):
    """A split as model inputs: ``feeder[i] -> (FloatTensor (3, window, 25, 2), int label)``.

    ``sample_names`` are the split's NTU names in order, so score files line up with the parsing
    branch and with the reference's ``test_i`` keys.
    """

    def __init__(self, split: SplitLike, stream: str = "joint", *, train: bool = False, window: int = 64,
                 rotate: bool = True) -> None:
        if stream not in STREAMS:
            raise ValueError(f"stream must be one of {', '.join(STREAMS)}, found {stream!r}")
        self.split = split
        self.stream = stream
        self.train = train
        self.window = window
        self.rotate = rotate
        self.sample_names: list[str] = list(split.names)
        self.labels = np.asarray(split.labels, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.sample_names)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        rng = np.random.default_rng(np.random.randint(2**31)) if self.train else None
        try:
            data = prepare_sample(self.split[i], self.stream, self.window, train=self.train, rng=rng,
                                  rotate=self.rotate)
        except ValueError as err:
            raise ValueError(f"sample {i} ({self.sample_names[i]}): {err}") from err
        return torch.from_numpy(data), int(self.labels[i])
