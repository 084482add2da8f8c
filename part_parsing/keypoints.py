"""2D pose-estimator output for Kinetics-TPS: COCO-17 keypoints per person per frame, read and written.

Two formats, chosen by the suffix (``.json``; ``.pkl`` / ``.pickle``), else by the first byte:

- COCO keypoints JSON (cocodataset.org "Data format", 2. Keypoint Detection): ``{"images": [{"id",
  "file_name"}], "annotations": [{"image_id", "keypoints": [x1, y1, v1, ..., x17, y17, v17]}]}``. Here
  ``file_name`` is ``<video>/img_NNNNN.jpg`` or ``<class>/<video>/img_NNNNN.jpg``: the video is the parent
  folder, the frame the ``img_NNNNN`` number. The third value is a COCO visibility flag when it is a JSON
  integer 0, 1 or 2 (0: not labelled -> score 0; 1, 2: labelled -> score 1) and a confidence otherwise
  (pose estimators write their confidence there, as the results format does); an optional
  ``keypoint_scores`` list of 17 numbers overrides it. Images without annotations are frames without persons.
  The COCO *results* format (cocodataset.org "Results Format", 2. Keypoint Detection: a list of
  ``{"image_id", "category_id", "keypoints", "score"}``) is read when ``image_id`` is such a file name; with
  COCO's integer ids it needs the images table. Persons keep the file's annotation order.
- pyskl annotation pickle (``kennymckormick/pyskl: tools/data/README.md``): ``dict(split={name: [frame_dir,
  ...]}, annotations=[dict(frame_dir, total_frames, img_shape=(h, w), original_shape, label, keypoint
  (M, T, V, 2), keypoint_score (M, T, V))])``; V must be 17. Frame t (0-based) is frame index t + 1, and
  slot m is a person at frame t unless all its scores there are <= 0. Persons keep their slot order. Read
  with :mod:`engine.scores`' restricted unpickler: only containers, strings, numbers and NumPy arrays.

Keypoints are pixel ``(x, y)`` of the full frame in COCO's order (:data:`KEYPOINT_NAMES`, the ``keypoints``
of COCO's ``person`` category). Frame indices count from 1, as :func:`part_parsing.tps.frame_index` does.
Malformed input raises :class:`part_parsing.tps.TPSFormatError` (a ``ValueError``) naming the file and field.
"""

from __future__ import annotations

import json
import math
import pickle
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from data.storage import atomic_write_bytes
from engine.scores import ScoreFileError, read_pickle
from part_parsing.tps import TPSFormatError, describe, frame_image_name, read_json

KEYPOINT_NAMES = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
                  "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
                  "left_knee", "right_knee", "left_ankle", "right_ankle")
NUM_KEYPOINTS = len(KEYPOINT_NAMES)
PICKLE_PROTOCOL = 2  # what mmcv.dump, which writes pyskl's files, uses
_IMAGE_NAME = re.compile(r"^img_(\d+)\.\w+$")


@dataclass(frozen=True, eq=False)
class PersonPose:
    """One person in one frame: ``keypoints`` float32 (17, 2) pixel (x, y), ``scores`` float32 (17,).

    The arrays are read-only copies; two poses are equal when both arrays are exactly equal."""

    keypoints: np.ndarray
    scores: np.ndarray

    def __post_init__(self) -> None:
        for name, shape in (("keypoints", (NUM_KEYPOINTS, 2)), ("scores", (NUM_KEYPOINTS,))):
            array = np.array(getattr(self, name), dtype=np.float32)
            if array.shape != shape:
                raise ValueError(f"PersonPose.{name}: expected shape {shape}, found {array.shape}")
            array.setflags(write=False)
            object.__setattr__(self, name, array)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PersonPose):
            return NotImplemented
        return np.array_equal(self.keypoints, other.keypoints) and np.array_equal(self.scores, other.scores)


# video name -> 1-based frame index -> persons, in the file's order
Poses = dict[str, dict[int, list[PersonPose]]]


def read_keypoints(path: str | Path) -> Poses:
    """Read a COCO keypoints JSON or a pyskl pickle (module docstring) into :data:`Poses`."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".json", ".pkl", ".pickle"):
        with open(path, "rb") as f:
            head = f.read(64).lstrip()
        suffix = ".json" if head[:1] in (b"{", b"[") else ".pkl" if head[:1] == b"\x80" else ""
        if not suffix:
            raise TPSFormatError(path, "content", "neither JSON nor a pickle; expected a .json or .pkl file")
    return _read_coco(path) if suffix == ".json" else _read_pyskl(path)


# ---------------------------------------------------------------- COCO JSON
def _frame_of(file_name: Any, path: Path, field: str) -> tuple[str, int]:
    """``"<class>/<video>/img_00006.jpg" -> ("<video>", 6)``."""
    if type(file_name) is not str:
        raise TPSFormatError(path, field, f"expected a file name, found {describe(file_name)}")
    name = PurePosixPath(file_name.replace("\\", "/"))
    match = _IMAGE_NAME.match(name.name)
    if not match or int(match.group(1)) < 1 or not name.parent.name:
        raise TPSFormatError(path, field, f"expected '<video>/img_NNNNN.jpg' numbered from 1, found {file_name!r}")
    return name.parent.name, int(match.group(1))


def _numbers(value: Any, count: int, path: Path, field: str) -> list[float | int]:
    if type(value) is not list:
        raise TPSFormatError(path, field, f"expected a list of {count} numbers, found {describe(value)}")
    if len(value) != count:
        raise TPSFormatError(path, field, f"expected {count} numbers, found {len(value)}")
    for i, number in enumerate(value):
        if type(number) not in (int, float) or not math.isfinite(number):
            raise TPSFormatError(path, f"{field}[{i}]", f"expected a finite number, found {describe(number)}")
    return value


def _coco_person(entry: Mapping[str, Any], path: Path, field: str) -> PersonPose:
    values = _numbers(_entry(entry, ("keypoints",), path, field)["keypoints"], 3 * NUM_KEYPOINTS, path,
                      f"{field}.keypoints")
    if "keypoint_scores" in entry:
        scores = _numbers(entry["keypoint_scores"], NUM_KEYPOINTS, path, f"{field}.keypoint_scores")
    else:  # integer 0/1/2: a COCO visibility flag; anything else: a confidence
        scores = [float(v > 0) if type(v) is int and v in (0, 1, 2) else v for v in values[2::3]]
    keypoints = np.array([values[0::3], values[1::3]], dtype=np.float32).T
    return PersonPose(keypoints, np.array(scores, dtype=np.float32))


def _entry(value: Any, keys: tuple[str, ...], path: Path, field: str) -> Mapping[str, Any]:
    """``value`` if it is an object (a dict) holding ``keys``."""
    if not isinstance(value, Mapping):
        raise TPSFormatError(path, field, f"expected an object, found {describe(value)}")
    missing = [key for key in keys if key not in value]
    if missing:
        raise TPSFormatError(path, f"{field}.{missing[0]}", "missing field")
    return value


def _add(poses: Poses, video: str, index: int, person: PersonPose | None) -> None:
    persons = poses.setdefault(video, {}).setdefault(index, [])
    if person is not None:
        persons.append(person)


def _sorted(poses: Poses) -> Poses:  # frames in index order
    return {video: dict(sorted(frames.items())) for video, frames in poses.items()}


def _read_coco(path: Path) -> Poses:
    content = read_json(path)
    poses: Poses = {}
    if type(content) is list:  # the results format: image_id must name the frame
        for i, entry in enumerate(content):
            field = f"[{i}]"
            if type(_entry(entry, ("image_id",), path, field)["image_id"]) is not str:
                raise TPSFormatError(path, f"{field}.image_id", f"found {describe(entry['image_id'])}: numeric image "
                                     "ids need an images table ({'images': [{id, file_name}], 'annotations': [...]})")
            video, index = _frame_of(entry["image_id"], path, f"{field}.image_id")
            _add(poses, video, index, _coco_person(entry, path, field))
        return _sorted(poses)
    if type(content) is not dict:
        raise TPSFormatError(path, "top level", f"expected a COCO object or a results list, found {describe(content)}")
    for key in ("images", "annotations"):
        if type(content.get(key)) is not list:
            problem = "missing field" if key not in content else f"expected a list, found {describe(content[key])}"
            raise TPSFormatError(path, key, problem)
    frames: dict[Any, tuple[str, int]] = {}
    seen: dict[tuple[str, int], int] = {}
    for i, image in enumerate(content["images"]):
        field = f"images[{i}]"
        if type(_entry(image, ("id", "file_name"), path, field)["id"]) not in (int, str) or image["id"] in frames:
            raise TPSFormatError(path, f"{field}.id", f"expected a unique id, found {describe(image['id'])}")
        frame = _frame_of(image["file_name"], path, f"{field}.file_name")
        if frame in seen:
            raise TPSFormatError(path, f"{field}.file_name", f"frame {frame[1]} of video {frame[0]!r} is also "
                                 f"images[{seen[frame]}]")
        seen[frame] = i
        frames[image["id"]] = frame
        _add(poses, *frame, None)
    for i, entry in enumerate(content["annotations"]):
        field = f"annotations[{i}]"
        image_id = _entry(entry, ("image_id",), path, field)["image_id"]
        if type(image_id) not in (int, str) or image_id not in frames:
            raise TPSFormatError(path, f"{field}.image_id", f"{describe(image_id)} is not an id of 'images'")
        _add(poses, *frames[image_id], _coco_person(entry, path, field))
    return _sorted(poses)


# ---------------------------------------------------------------- pyskl pickle
def _read_pyskl(path: Path) -> Poses:
    try:
        content = read_pickle(path, "a keypoint pickle")
    except ScoreFileError as err:
        raise ValueError(str(err)) from None
    entries = content.get("annotations") if isinstance(content, Mapping) else content  # a bare list is read too
    if not isinstance(entries, list):
        found = "no annotations" if entries is None else type(entries).__name__
        raise TPSFormatError(path, "annotations", f"expected dict(split=..., annotations=[...]), found {found}")
    poses: Poses = {}
    for i, entry in enumerate(entries):
        field = f"annotations[{i}]"
        _entry(entry, ("frame_dir", "keypoint", "keypoint_score", "total_frames"), path, field)
        video, keypoint, score = entry["frame_dir"], entry["keypoint"], entry["keypoint_score"]
        if not isinstance(video, str) or not video:
            raise TPSFormatError(path, f"{field}.frame_dir", f"expected a video name, found {video!r}")
        if video in poses:
            raise TPSFormatError(path, f"{field}.frame_dir", f"video {video!r} has two annotations")
        if not isinstance(keypoint, np.ndarray) or keypoint.ndim != 4 or keypoint.shape[2:] != (NUM_KEYPOINTS, 2):
            raise TPSFormatError(path, f"{field}.keypoint", f"expected an array (M, T, {NUM_KEYPOINTS}, 2) of COCO "
                                 f"keypoints, found {getattr(keypoint, 'shape', type(keypoint).__name__)}")
        if not isinstance(score, np.ndarray) or score.shape != keypoint.shape[:3]:
            raise TPSFormatError(path, f"{field}.keypoint_score", f"expected an array {keypoint.shape[:3]}, found "
                                 f"{getattr(score, 'shape', type(score).__name__)}")
        total = entry["total_frames"]
        if not isinstance(total, (int, np.integer)) or isinstance(total, bool) or total != keypoint.shape[1]:
            raise TPSFormatError(path, f"{field}.total_frames", f"expected {keypoint.shape[1]} (the keypoint "
                                 f"array's T), found {total!r}")
        xy, score = keypoint.astype(np.float32), score.astype(np.float32)
        present = (score > 0).any(axis=2)  # (M, T)
        poses[video] = {t + 1: [PersonPose(xy[m, t], score[m, t]) for m in np.flatnonzero(present[:, t])]
                        for t in range(keypoint.shape[1])}
    return poses


# ---------------------------------------------------------------- writers
def _write(path: str | Path, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, data)
    return path


def _check_poses(poses: Mapping[str, Mapping[int, Sequence[PersonPose]]]) -> None:
    for video, frames in poses.items():
        if not isinstance(video, str) or not video or "/" in video:
            raise ValueError(f"video names must be non-empty strings without '/', found {video!r}")
        for index, persons in frames.items():
            if type(index) is not int or index < 1:
                raise ValueError(f"video {video!r}: frame indices count from 1, found {index!r}")
            if not all(isinstance(p, PersonPose) for p in persons):
                raise ValueError(f"video {video!r} frame {index}: expected a list of PersonPose")


def write_pyskl_keypoints(path: str | Path, poses: Mapping[str, Mapping[int, Sequence[PersonPose]]],
                          image_size: tuple[int, int], num_frames: Mapping[str, int], *,
                          labels: Mapping[str, int] | None = None, split: str = "all") -> Path:
    """Write ``poses`` as a pyskl pickle, atomically; returns the path.

    A video of ``num_frames[video]`` frames gets ``keypoint`` float32 (M, T, 17, 2) and ``keypoint_score``
    (M, T, 17), M its most persons in a frame: slot m of frame t holds that frame's m-th person (slots are
    list positions, not tracks) and zeros where the frame has fewer. ``img_shape`` is ``(height, width)`` of
    ``image_size`` ``(width, height)``; ``label`` is ``labels[video]`` (-1 without labels); ``split`` names
    the one split list, every video in order. Reading it back gives ``poses`` with every frame 1..T present
    (missing frames come back empty), so a person whose scores are all <= 0, which reads as absent, is refused.
    """
    _check_poses(poses)
    width, height = image_size
    if labels is not None and (missing := [v for v in poses if v not in labels]):
        raise ValueError(f"labels has no entry for video {missing[0]!r}")
    annotations = []
    for video, frames in poses.items():
        if video not in num_frames:
            raise ValueError(f"num_frames has no entry for video {video!r}")
        total = int(num_frames[video])
        if frames and max(frames) > total:
            raise ValueError(f"video {video!r}: frame {max(frames)} is past its {total} frames")
        slots = max((len(p) for p in frames.values()), default=0)
        keypoint = np.zeros((slots, total, NUM_KEYPOINTS, 2), np.float32)
        score = np.zeros((slots, total, NUM_KEYPOINTS), np.float32)
        for index, persons in frames.items():
            for m, person in enumerate(persons):
                if not (person.scores > 0).any():
                    raise ValueError(f"video {video!r} frame {index} person {m}: all scores are <= 0, which a "
                                     "pyskl file reads as no person")
                keypoint[m, index - 1], score[m, index - 1] = person.keypoints, person.scores
        annotations.append({"frame_dir": video, "label": int(labels[video]) if labels is not None else -1,
                            "img_shape": (int(height), int(width)), "original_shape": (int(height), int(width)),
                            "total_frames": total, "keypoint": keypoint, "keypoint_score": score})
    payload = {"split": {split: list(poses)}, "annotations": annotations}
    return _write(path, pickle.dumps(payload, protocol=PICKLE_PROTOCOL))


def write_coco_keypoints(path: str | Path, poses: Mapping[str, Mapping[int, Sequence[PersonPose]]]) -> Path:
    """Write ``poses`` as a COCO keypoints JSON, atomically; returns the path.

    Every frame is an image ``<video>/img_NNNNN.jpg`` (ids from 1), every person an annotation of category 1
    whose third values are the scores (JSON floats: they read back as scores, exactly)."""
    _check_poses(poses)
    images, annotations = [], []
    for video, frames in poses.items():
        for index, persons in sorted(frames.items()):
            images.append({"id": len(images) + 1, "file_name": f"{video}/{frame_image_name(index)}"})
            for person in persons:
                values = np.concatenate([person.keypoints, person.scores[:, None]], axis=1).ravel()
                annotations.append({"id": len(annotations) + 1, "image_id": len(images), "category_id": 1,
                                    "keypoints": [float(v) for v in values],
                                    "num_keypoints": int((person.scores > 0).sum())})
    content = {"images": images, "annotations": annotations,
               "categories": [{"id": 1, "name": "person", "keypoints": list(KEYPOINT_NAMES)}]}
    return _write(path, json.dumps(content, separators=(",", ":")).encode("utf-8"))
