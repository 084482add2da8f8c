"""pyskl / MMAction2 skeleton annotation pickles: the format, read safely as pose-branch input.

The format (kennymckormick/pyskl: ``tools/data/README.md``, ``tools/data/ntu_preproc.py``,
``pyskl/datasets/pose_dataset.py``) is a pickle of ``dict(split=..., annotations=...)``:

* ``split``: split name -> list of sample identifiers (``frame_dir``). NTU60 files have ``xsub_train``,
  ``xsub_val``, ``xview_train``, ``xview_val``; NTU120 files ``xsub_train``, ``xsub_val``, ``xset_train``,
  ``xset_val``. ``PoseDataset`` keeps the annotations whose ``frame_dir`` is in the chosen list.
* ``annotations``: one dict per sample: ``frame_dir`` (str), ``label`` (int, 0-based), ``keypoint``
  (M x T x V x C; float16 in ``ntu_preproc.py``, C = 3 for NTU's 3D joints), ``total_frames`` (= T);
  2D files add ``keypoint_score`` (M x T x V), ``img_shape`` and ``original_shape`` ((height, width)).

pyskl's own 3D files hold camera coordinates and leave the centring to its pipeline; this project's pose
branch takes the CTR-GCN chain's translated frames, so reading a 3D file applies REFERENCE.md §3.4's
translation (a no-op on files exported from prepared data, which are translated already). 2D keypoints
become the channels (x, y, score), as pyskl's ``GenSkeFeat`` / ``FormatGCNInput`` concatenate the score,
with x and y normalised to [-1, 1] by ``img_shape`` and zeroed where the score is <= 0.01, as its
``PreNormalize2D`` (mode ``fix``, default 1080 x 1920) does. More than two persons keep the first two and
a single person gets NTU60's zeros or NTU120's copy in the second slot (§3.5; ``FormatGCNInput``'s
``zero`` and ``loop`` modes). The pose branch's graph is NTU's, so V must be 25.

Pickles are downloaded and shared, so they are read with :mod:`engine.scores`' restricted unpickler:
only plain containers, strings, numbers and NumPy arrays. Exporting prepared splits is
:func:`data.storage.export_pyskl` (``python -m data.pyskl``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from data.ntu import BENCHMARKS, Benchmark
from data.preprocess import ACTOR_WIDTH, second_actor_layout, translate
from engine.scores import ScoreFileError, read_pickle

# pyskl's split names: the part of our benchmark names after the dataset, and "val" for our "test"
SPLIT_KIND = {"ntu60-xsub": "xsub", "ntu60-xview": "xview", "ntu120-xsub": "xsub", "ntu120-xset": "xset"}
DATASET_BENCHMARKS = {"ntu60": ("ntu60-xsub", "ntu60-xview"), "ntu120": ("ntu120-xsub", "ntu120-xset")}
NUM_JOINTS = 25
NUM_PERSONS = 2
SCORE_THRESHOLD = 0.01  # PreNormalize2D's: points at or below it lose their coordinates
DEFAULT_IMAGE_SHAPE = (1080, 1920)  # PreNormalize2D's (height, width)
PICKLE_PROTOCOL = 2  # what mmcv.dump writes pickles with


def split_name(benchmark: str, split: str) -> str:
    """Our ``(benchmark, split)`` as pyskl names it: ``("ntu60-xsub", "test")`` -> ``"xsub_val"``."""
    if benchmark not in SPLIT_KIND:
        raise ValueError(f"benchmark must be one of {', '.join(SPLIT_KIND)}, found {benchmark!r}")
    return f"{SPLIT_KIND[benchmark]}_{'train' if split == 'train' else 'val'}"


def annotation(name: str, frames: np.ndarray, label: int, copy_single_actor: bool) -> dict[str, Any]:
    """One prepared sample (T, 150) as a pyskl annotation; a second actor that is empty (zeros, or NTU120's
    copy of the first) is left out, so ``keypoint`` is float16 (M, T, 25, 3) with M = 1 or 2."""
    t = len(frames)
    keypoint = np.asarray(frames, dtype=np.float32).reshape(t, NUM_PERSONS, NUM_JOINTS, 3).transpose(1, 0, 2, 3)
    second = keypoint[1]
    if (copy_single_actor and np.array_equal(second, keypoint[0])) or not second.any():
        keypoint = keypoint[:1]
    return {"frame_dir": name, "label": int(label), "keypoint": keypoint.astype(np.float16), "total_frames": t}


def _keypoint_channels(entry: Mapping[str, Any], source: str) -> np.ndarray:
    """An annotation's keypoints as float32 (M, T, 25, 3): 3D as they are, 2D as (x, y, score)."""
    keypoint = entry.get("keypoint")
    if not isinstance(keypoint, np.ndarray) or keypoint.ndim != 4 or keypoint.shape[2] != NUM_JOINTS:
        shape = getattr(keypoint, "shape", type(keypoint).__name__)
        raise ValueError(
            f"{source}: 'keypoint' must be an array (M, T, {NUM_JOINTS}, C) in NTU's joint layout (the pose "
            f"branch's graph), found {shape}"
        )
    if keypoint.shape[-1] == 3 and "keypoint_score" not in entry:
        return keypoint.astype(np.float32)
    score = entry.get("keypoint_score")
    if keypoint.shape[-1] != 2 or not isinstance(score, np.ndarray) or score.shape != keypoint.shape[:3]:
        raise ValueError(
            f"{source}: expected 3D keypoints (C = 3) or 2D ones (C = 2) with 'keypoint_score' "
            f"{keypoint.shape[:3]}, found keypoint {keypoint.shape} and keypoint_score "
            f"{getattr(score, 'shape', None)}"
        )
    height, width = entry.get("img_shape", DEFAULT_IMAGE_SHAPE)
    xy = keypoint.astype(np.float32)
    xy[..., 0] = (xy[..., 0] - width / 2) / (width / 2)
    xy[..., 1] = (xy[..., 1] - height / 2) / (height / 2)
    score = score.astype(np.float32)
    xy[score <= SCORE_THRESHOLD] = 0
    return np.concatenate([xy, score[..., None]], axis=-1)


def annotation_frames(entry: Mapping[str, Any], copy_single_actor: bool, source: str) -> np.ndarray:
    """A pyskl annotation as the pose branch's (T, 150) float32 frames (see the module docstring)."""
    keypoint = _keypoint_channels(entry, source)[:NUM_PERSONS]
    m, t = keypoint.shape[:2]
    frames = np.ascontiguousarray(keypoint.transpose(1, 0, 2, 3).reshape(t, m * ACTOR_WIDTH))
    if keypoint.shape[-1] == 3 and "keypoint_score" not in entry and frames[:, :ACTOR_WIDTH].any():
        frames = translate(frames)
    return second_actor_layout(frames, copy_single_actor)


class AnnotationSplit:
    """One split of a pyskl annotation pickle with :class:`data.storage.SkeletonSplit`'s interface:
    ``names`` (the split list's order), ``labels`` (int64 (N,)), ``num_classes``, ``max_frames`` (the
    longest sample of the file) and ``split[i]`` -> (T_i, 150) float32, converted on access."""

    def __init__(self, entries: list[Mapping[str, Any]], benchmark: Benchmark, max_frames: int, source: str) -> None:
        self._entries = entries
        self._benchmark = benchmark
        self._source = source
        self.names = [str(e["frame_dir"]) for e in entries]
        self.labels = np.array([int(e["label"]) for e in entries], dtype=np.int64)
        self.num_classes = benchmark.num_classes
        self.max_frames = max_frames

    def __len__(self) -> int:
        return len(self._entries)

    def __getitem__(self, i: int) -> np.ndarray:
        if not -len(self) <= i < len(self):
            raise IndexError(f"sample {i} of a split of {len(self)}")
        entry = self._entries[i]
        return annotation_frames(entry, self._benchmark.copy_single_actor, f"{self._source} [{entry['frame_dir']}]")


def read_annotations(path: Path) -> tuple[dict[str, list[str]], list[dict[str, Any]]]:
    """``(split, annotations)`` of a pyskl pickle, read with the restricted unpickler and checked."""
    try:
        data = read_pickle(path, "a pyskl annotation pickle")
    except ScoreFileError as err:
        raise ValueError(str(err)) from None
    if not isinstance(data, Mapping) or not isinstance(data.get("split"), Mapping) or not isinstance(
        data.get("annotations"), list
    ):
        raise ValueError(f"{path}: expected dict(split={{name: [frame_dir, ...]}}, annotations=[dict, ...])")
    for i, entry in enumerate(data["annotations"]):
        missing = [k for k in ("frame_dir", "label", "keypoint", "total_frames") if not isinstance(entry, Mapping)
                   or k not in entry]
        if missing:
            raise ValueError(f"{path}: annotation {i} lacks {', '.join(missing)}")
    return {str(k): [str(n) for n in v] for k, v in data["split"].items()}, data["annotations"]


def open_annotation_split(path: Path, benchmark: str | None, split: str) -> AnnotationSplit:
    """``split`` ("train" or "test") of ``benchmark`` in a pyskl pickle (its ``<kind>_train`` / ``_val`` list)."""
    if benchmark not in SPLIT_KIND:
        raise ValueError(f"{path}: reading a pyskl pickle needs the benchmark ({', '.join(SPLIT_KIND)}), "
                         f"found {benchmark!r}")
    splits, annotations = read_annotations(path)
    key = split_name(benchmark, split)
    if key not in splits:
        raise ValueError(f"{path}: has no split {key!r} ({benchmark} {split}); it has {', '.join(splits) or 'none'}")
    by_name = {str(e["frame_dir"]): e for e in annotations}
    absent = [n for n in splits[key] if n not in by_name]
    if absent:
        raise ValueError(f"{path}: split {key!r} names {len(absent)} samples with no annotation, e.g. {absent[0]}")
    max_frames = max((int(e["total_frames"]) for e in annotations), default=0)
    return AnnotationSplit([by_name[n] for n in splits[key]], BENCHMARKS[benchmark], max_frames, str(path))
