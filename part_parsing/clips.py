"""What the classifiers see: a clip of the whole video and one person tube per segment.

A video is a :class:`VideoSource`: its rawframes folder (``img_NNNNN.jpg`` numbered from 1) and, per
frame, the persons' boxes (ground truth in training; ground truth or a user's detections in prediction).
A dataset item is one video:

- ``clip``: ``(3, T_c, H_c, W_c)`` frames of the whole video, resized (the video classifier's input);
- ``tubes``: ``(S, 3, T_t, H_t, W_t)``, for each of the video's S segments frames cropped around its persons
  (the union of the frame's person boxes, widened by ``tube_margin``; a frame without persons takes the
  nearest frame's) and resized (the part-state classifiers' input);

normalised with torchvision's Kinetics-400 mean and std by default. Frames are spread evenly over the span
(``frame_interval: 0``, TSN-style) or taken ``frame_interval`` apart from its middle (the baseline's
``SampleFrames(clip_len=32, frame_interval=2)``, ``SheldongChen/A-Baseline-...: mmaction_202108/configs/
parthuman/csn_*/ircsn_*_kinetics400_rgb.py``); in training the positions are jittered.

Segment lengths: ``segment_frames``, or ``segment_seconds`` (3 s in the paper) at ``fps``, which by default
comes from the video's name: a Kinetics name ends in its start and end second (``<id>_000057_000067``).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from engine.config import ConfigError
from part_parsing.segments import segment_bounds, segment_length
from part_parsing.tps import Box, Video, frame_image_name

_SPAN = re.compile(r"_(\d+)_(\d+)$")


@dataclass(frozen=True)
class BoxedHuman:
    """A person's box and, per body part name, 1-5 boxes (a detector's proposals or the annotation)."""

    box: Box
    parts: Mapping[str, tuple[Box, ...]]


@dataclass(frozen=True)
class VideoSource:
    """A video to read: ``humans`` maps 1-based frame indices to the persons there; ``action`` may be ""."""

    name: str
    action: str
    frames_dir: Path
    num_frames: int
    humans: Mapping[int, tuple[BoxedHuman, ...]]


@dataclass(frozen=True)
class ClipSpec:
    """How clips and tubes are cut (the ``data`` keys of the same names)."""

    clip_frames: int
    clip_size: tuple[int, int]
    tube_frames: int
    tube_size: tuple[int, int]
    frame_interval: int
    tube_margin: float
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    segment_seconds: float
    segment_frames: int
    fps: float


def count_frames(folder: Path) -> int:
    """The number of ``img_NNNNN.jpg`` in a rawframes folder."""
    count = sum(1 for _ in folder.glob("img_*.jpg")) if folder.is_dir() else 0
    if not count:
        raise FileNotFoundError(2, "No rawframes img_NNNNN.jpg in this folder", str(folder))
    return count


def source_from_annotations(video: Video, frames_dir: Path) -> VideoSource:
    """A video's ground-truth boxes as a :class:`VideoSource`."""
    humans = {f.index: tuple(BoxedHuman(h.box, {p.name: (p.box,) for p in h.parts.values()}) for h in f.humans)
              for f in video.frames}
    return VideoSource(video.name, video.action, frames_dir, count_frames(frames_dir), humans)


def video_fps(name: str, num_frames: int, fps: float) -> float:
    """``fps`` if positive, else frames per second of the name's time span."""
    if fps > 0:
        return fps
    match = _SPAN.search(name)
    seconds = int(match[2]) - int(match[1]) if match else 0
    if seconds <= 0:
        raise ConfigError(f"video {name!r}: its name gives no time span (<id>_<start>_<end>); set 'data.fps'")
    return num_frames / seconds


def segment_frames(source: VideoSource, spec: ClipSpec) -> int:
    """The video's segment length in frames."""
    if spec.segment_frames > 0:
        return segment_length(source.num_frames, frames=spec.segment_frames)
    return segment_length(source.num_frames, seconds=spec.segment_seconds,
                          fps=video_fps(source.name, source.num_frames, spec.fps))


def segments_of(source: VideoSource, spec: ClipSpec) -> list[tuple[int, int]]:
    """The video's segments ``[(start, end), ...]`` (1-based, inclusive)."""
    return segment_bounds(source.num_frames, segment_frames(source, spec))


def sample_indices(start: int, end: int, count: int, interval: int, train: bool) -> np.ndarray:
    """``count`` frame indices in ``start..end``: spread evenly (``interval`` 0) or ``interval`` apart from the
    middle, clipped to the span; jittered in training (NumPy's global generator, which the engine seeds)."""
    span = end - start + 1
    if interval <= 0:
        offsets = (np.arange(count) + (np.random.random(count) if train else 0.5)) * span / count
    else:
        window = count * interval
        first = np.random.randint(0, max(span - window, 0) + 1) if train else max(span - window, 0) // 2
        offsets = first + np.arange(count) * interval
    return start + np.clip(offsets.astype(np.int64), 0, span - 1)


def tube_box(source: VideoSource, index: int, margin: float, image_size: tuple[int, int]) -> tuple[int, ...]:
    """The crop ``(x1, y1, x2, y2)`` (exclusive end) of frame ``index``: the union of its persons' boxes, or
    of the nearest frame's with persons, widened by ``margin`` of its size; the whole frame if none has any."""
    height, width = image_size
    with_humans = sorted(i for i, humans in source.humans.items() if humans)
    if not with_humans:
        return 0, 0, width, height
    at = bisect.bisect_left(with_humans, index)
    nearest = min(with_humans[max(at - 1, 0):at + 1], key=lambda i: (abs(i - index), i))
    boxes = np.array([h.box for h in source.humans[nearest]], np.float64)
    x1, y1 = boxes[:, :2].min(0)
    x2, y2 = boxes[:, 2:].max(0) + 1  # boxes are inclusive
    dx, dy = margin * (x2 - x1), margin * (y2 - y1)
    x1, y1 = max(0, int(x1 - dx)), max(0, int(y1 - dy))
    x2, y2 = min(width, int(np.ceil(x2 + dx))), min(height, int(np.ceil(y2 + dy)))
    return (x1, y1, x2, y2) if x2 > x1 and y2 > y1 else (0, 0, width, height)


def read_frame(folder: Path, index: int) -> np.ndarray:
    """Frame ``index`` of a rawframes folder, ``(H, W, 3)`` uint8 RGB."""
    path = folder / frame_image_name(index)
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(2, "No such frame or not an image", str(path))
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


class PartClips(Dataset):
    """Item: ``({"clip": (3, T_c, H_c, W_c), "tubes": (S, 3, T_t, H_t, W_t)}, target)``, float32.

    ``target`` is ``{"label": int, "part_<group>": int64 (S, parts)}`` when ``targets`` (per video, the
    group arrays of :func:`part_parsing.labels.encode_segments`) and ``labels`` are given, else
    ``{"label": -1}``. In training at most ``max_segments`` random segments of a video are used (0: all).
    """

    def __init__(self, sources: Sequence[VideoSource], spec: ClipSpec, *, train: bool,
                 labels: Sequence[int] | None = None, targets: Sequence[Mapping[str, np.ndarray]] | None = None,
                 max_segments: int = 0) -> None:
        self.sources, self.spec, self.train = list(sources), spec, train
        self.labels, self.targets, self.max_segments = labels, targets, max_segments
        self.bounds = [segments_of(source, spec) for source in self.sources]
        self.sample_names = [source.name for source in self.sources]

    def __len__(self) -> int:
        return len(self.sources)

    def __getitem__(self, i: int) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        source, spec, bounds = self.sources[i], self.spec, self.bounds[i]
        chosen = np.arange(len(bounds))
        if self.train and 0 < self.max_segments < len(bounds):
            chosen = np.sort(np.random.choice(len(bounds), self.max_segments, replace=False))
        clip_at = sample_indices(1, source.num_frames, spec.clip_frames, spec.frame_interval, self.train)
        tube_at = [sample_indices(*bounds[s], spec.tube_frames, spec.frame_interval, self.train) for s in chosen]
        images = {int(k): read_frame(source.frames_dir, int(k)) for k in {*clip_at, *np.concatenate(tube_at)}}
        clip = np.stack([cv2.resize(images[int(k)], spec.clip_size[::-1], interpolation=cv2.INTER_AREA)
                         for k in clip_at])
        tubes = []
        for indices in tube_at:
            crops = []
            for k in indices:
                image = images[int(k)]
                x1, y1, x2, y2 = tube_box(source, int(k), spec.tube_margin, image.shape[:2])
                crops.append(cv2.resize(image[y1:y2, x1:x2], spec.tube_size[::-1], interpolation=cv2.INTER_AREA))
            tubes.append(np.stack(crops))
        inputs = {"clip": self._tensor(clip), "tubes": torch.stack([self._tensor(t) for t in tubes])}
        target: dict[str, Any] = {"label": int(self.labels[i]) if self.labels is not None else -1}
        if self.targets is not None:
            target.update({f"part_{g}": torch.from_numpy(a[chosen]) for g, a in self.targets[i].items()})
        return inputs, target

    def _tensor(self, frames: np.ndarray) -> torch.Tensor:
        """``(T, H, W, 3)`` uint8 -> normalised ``(3, T, H, W)`` float32."""
        mean = np.asarray(self.spec.mean, np.float32) * 255
        std = np.asarray(self.spec.std, np.float32) * 255
        return torch.from_numpy(((frames.astype(np.float32) - mean) / std).transpose(3, 0, 1, 2).copy())


def pad_segments(items: list[tuple[dict, dict]]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Batch items of different segment counts: ``tubes (N, S_max, 3, T, H, W)`` zero-padded,
    ``segments (N, S_max)`` bool (which are real), part targets padded with ABSENT (-1)."""
    largest = max(inputs["tubes"].shape[0] for inputs, _ in items)
    first = items[0][0]["tubes"]
    tubes = first.new_zeros((len(items), largest, *first.shape[1:]))
    segments = torch.zeros(len(items), largest, dtype=torch.bool)
    for n, (inputs, _) in enumerate(items):
        count = inputs["tubes"].shape[0]
        tubes[n, :count], segments[n, :count] = inputs["tubes"], True
    batch_inputs = {"clip": torch.stack([inputs["clip"] for inputs, _ in items]), "tubes": tubes,
                    "segments": segments}
    target: dict[str, torch.Tensor] = {"label": torch.tensor([t["label"] for _, t in items])}
    for key in (k for k in items[0][1] if k.startswith("part_")):
        parts = items[0][1][key].shape[1]
        padded = torch.full((len(items), largest, parts), -1, dtype=torch.long)
        for n, (_, t) in enumerate(items):
            padded[n, :t[key].shape[0]] = t[key]
        target[key] = padded
    return batch_inputs, target
