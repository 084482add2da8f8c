"""Kinetics-TPS on disk: the ``list/`` files, the per-frame JSON tree, frames and videos, evaluation files.

The release layout (``Hypnosx/Kinetics-TPS`` README.md)::

    train_videos/<class>/<video>.mp4                         24 classes, 3,809 videos (test_videos/: 932)
    train_annotations/<class>/<video>/<video>/img_NNNNN.json one JSON per annotated frame
    list/body_part.txt, part_stat.txt, object.txt            10 parts, 74 part states, 75 objects
    list/video_train_flist.csv, video_test_flist.csv         frames per video

Frames are extracted with mmaction2's ``build_rawframes.py`` into ``<frames>/<class>/<video>/img_%05d.jpg``
numbered from 1 (README "Frame Extraction"; the baseline renumbers denseflow's output from 1 in
``SheldongChen/A-Baseline-...: mmaction_202108/tools/data/fileplusone.py``).

A frame JSON is read as the tree the evaluation files use for one frame (``xiadingZ/Kinetics-TPS-evaluation``
README.md, "Part Result Format")::

    {"humans": [{"box": [x1, y1, x2, y2], "parts": {"left_arm": {"box": [x1, y1, x2, y2], "verb": "bend"}}}]}

Other keys (``number``, ``name``, ...) are ignored. The raw annotation schema itself is not published in
any of the three repositories; this reader assumes it is that tree. The CSV lists are read as rows whose
first field is the video and whose last field is its frame count (a header row is skipped).

Errors in the files raise :class:`TPSFormatError`, which names the file and the JSON field.
"""

from __future__ import annotations

import csv
import gc
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from data.storage import atomic_write_bytes

Box = tuple[float, float, float, float]

BODY_PARTS = ("head", "hip", "left_arm", "right_arm", "left_hand", "right_hand",
              "left_leg", "right_leg", "left_foot", "right_foot")
# One part-state classifier per group, left and right together: the baseline's six CSN configs
# (SheldongChen/A-Baseline-...: mmaction_202108/configs/parthuman/csn_{head,hip,arm,hand,leg,foot}/).
PART_GROUPS = ("head", "hip", "arm", "hand", "leg", "foot")
SPLITS = ("train", "test")
GT_VID_FILE, GT_PART_FILE = "gt_vid_result.json", "gt_part_result.json"
PRED_VID_FILE, PRED_PART_FILE = "pred_vid_result.json", "pred_part_result.json"
# Only img_00001, img_00006, ... are scored; at most 10 humans a frame and 5 proposals a part
# (xiadingZ/Kinetics-TPS-evaluation: README.md items 5-6, asserted in eval_detection.py).
SCORED_FRAME_STEP = 5
MAX_HUMANS = 10
MAX_PROPOSALS = 5

_FRAME_NAME = re.compile(r"^img_(\d+)\.json$")


class TPSFormatError(ValueError):
    """A Kinetics-TPS file that does not hold what it should: ``str()`` is ``"<file>: <field>: <problem>"``."""

    def __init__(self, path: str | Path, field: str, problem: str) -> None:
        super().__init__(f"{path}: {field}: {problem}")
        self.path, self.field, self.problem = str(path), field, problem


def field_name(*keys: str | int) -> str:
    """The JSON path of a field, e.g. ``field_name("humans", 0, "box") == '["humans"][0]["box"]'``."""
    return "".join(f"[{k}]" if isinstance(k, int) else f'["{k}"]' for k in keys)


def is_box(value: Any) -> bool:
    """Whether ``value`` is a JSON box: a list of 4 numbers (``true``/``false`` are not numbers)."""
    return type(value) is list and len(value) == 4 and all(type(c) in (int, float) for c in value)


def describe(value: Any) -> str:
    """A short description of a JSON value for an error message."""
    text = json.dumps(value) if isinstance(value, (dict, list, str, int, float, bool, type(None))) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def read_json(path: str | Path) -> Any:
    """``json.load`` of ``path``; invalid JSON raises :class:`TPSFormatError` with the line and column."""
    collecting = gc.isenabled()
    gc.disable()  # a results file is millions of new containers: each GC pass rescans them and frees none
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as err:
        raise TPSFormatError(path, f"line {err.lineno} column {err.colno}", f"invalid JSON: {err.msg}") from None
    except UnicodeDecodeError:
        raise TPSFormatError(path, "bytes", "not UTF-8 text") from None
    finally:
        if collecting:
            gc.enable()


def write_json_atomic(path: str | Path, content: Any) -> Path:
    """Write ``content`` as JSON to ``path`` through a temporary file and a rename; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, json.dumps(content, separators=(",", ":")).encode("utf-8"))
    return path


# ---------------------------------------------------------------- list/
@dataclass(frozen=True)
class TPSLists:
    """The ``list/`` folder: vocabularies, and frame counts ``{split: {video: frames}}``."""

    body_parts: tuple[str, ...]
    part_states: tuple[str, ...]
    objects: tuple[str, ...]
    frame_counts: dict[str, dict[str, int]]


def read_name_list(path: str | Path) -> tuple[str, ...]:
    """One name a line (blank lines skipped)."""
    names = tuple(line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip())
    if not names:
        raise TPSFormatError(path, "lines", "no names in the file")
    return names


def read_frame_counts(path: str | Path) -> dict[str, int]:
    """``video_*_flist.csv`` -> ``{video: frames}``; the video is the first field (path and extension
    dropped), the count the last."""
    counts: dict[str, int] = {}
    with open(path, encoding="utf-8", newline="") as f:
        for line_number, row in enumerate(csv.reader(f), start=1):
            row = [cell.strip() for cell in row if cell.strip()]
            if not row:
                continue
            if len(row) < 2 or not row[-1].isdigit():
                if line_number == 1:
                    continue  # a header
                raise TPSFormatError(path, f"line {line_number}", f"expected 'video,frames', found {row}")
            counts[Path(row[0]).stem] = int(row[-1])
    return counts


def read_lists(lists_dir: str | Path) -> TPSLists:
    """Read the five files of ``list/``."""
    folder = Path(lists_dir)
    return TPSLists(
        body_parts=read_name_list(folder / "body_part.txt"),
        part_states=read_name_list(folder / "part_stat.txt"),
        objects=read_name_list(folder / "object.txt"),
        frame_counts={split: read_frame_counts(folder / f"video_{split}_flist.csv") for split in SPLITS},
    )


def part_group(part: str) -> str:
    """``left_arm -> arm``, ``head -> head``: the classifier group of a body part."""
    return part.removeprefix("left_").removeprefix("right_")


# ---------------------------------------------------------------- the annotation tree
@dataclass(frozen=True)
class Part:
    """One annotated body part: ``box`` ``[x1, y1, x2, y2]`` in pixels, inclusive; ``state`` its verb."""

    name: str
    box: Box
    state: str


@dataclass(frozen=True)
class Human:
    """One annotated person: ``box`` and up to 10 parts by name, in the file's order."""

    box: Box
    parts: Mapping[str, Part]


@dataclass(frozen=True)
class Frame:
    """The annotation of frame ``index`` (1-based: ``img_00001.json`` is 1)."""

    index: int
    humans: tuple[Human, ...]


@dataclass(frozen=True)
class Video:
    """A video's annotated frames, sorted by index (frames without a JSON are absent)."""

    action: str
    name: str
    frames: tuple[Frame, ...]

    def frame(self, index: int) -> Frame | None:
        return next((f for f in self.frames if f.index == index), None)


def frame_json_name(index: int) -> str:
    return f"img_{index:05d}.json"


def frame_image_name(index: int) -> str:
    return f"img_{index:05d}.jpg"


def frame_index(path: str | Path) -> int:
    """``.../img_00006.json -> 6``."""
    match = _FRAME_NAME.match(Path(path).name)
    if not match or int(match.group(1)) < 1:
        raise TPSFormatError(path, "file name", "expected img_NNNNN.json numbered from 1")
    return int(match.group(1))


def parse_frame(content: Any, path: str | Path, index: int) -> Frame:
    """A frame JSON's content (see the module docstring) -> :class:`Frame`."""

    def fail(problem: str, *keys: str | int) -> TPSFormatError:
        return TPSFormatError(path, field_name(*keys) or "top level", problem)

    if type(content) is not dict:
        raise fail(f"expected an object, found {describe(content)}")
    if "humans" not in content:
        raise fail("missing field", "humans")
    if type(content["humans"]) is not list:
        raise fail(f"expected a list, found {describe(content['humans'])}", "humans")
    humans = []
    for h, human in enumerate(content["humans"]):
        if type(human) is not dict:
            raise fail(f"expected an object, found {describe(human)}", "humans", h)
        for key in ("box", "parts"):
            if key not in human:
                raise fail("missing field", "humans", h, key)
        if not is_box(human["box"]):
            raise fail(f"expected [x1, y1, x2, y2], found {describe(human['box'])}", "humans", h, "box")
        if type(human["parts"]) is not dict:
            raise fail(f"expected an object, found {describe(human['parts'])}", "humans", h, "parts")
        parts = {}
        for name, part in human["parts"].items():
            keys = ("humans", h, "parts", name)
            if type(part) is not dict:
                raise fail(f"expected an object, found {describe(part)}", *keys)
            for key in ("box", "verb"):
                if key not in part:
                    raise fail("missing field", *keys, key)
            if not is_box(part["box"]):
                raise fail(f"expected [x1, y1, x2, y2], found {describe(part['box'])}", *keys, "box")
            if type(part["verb"]) is not str:
                raise fail(f"expected a part-state name, found {describe(part['verb'])}", *keys, "verb")
            parts[name] = Part(name, tuple(part["box"]), part["verb"])
        humans.append(Human(tuple(human["box"]), parts))
    return Frame(index, tuple(humans))


def read_frame(path: str | Path) -> Frame:
    """Read one ``img_NNNNN.json``."""
    return parse_frame(read_json(path), path, frame_index(path))


def video_annotation_dir(annotations_dir: str | Path, action: str, video: str) -> Path:
    """``<annotations>/<class>/<video>/<video>/``: the doubled video folder is the release's layout."""
    return Path(annotations_dir) / action / video / video


def list_videos(annotations_dir: str | Path) -> list[tuple[str, str]]:
    """Every ``(class, video)`` of an annotation tree, sorted."""
    root = Path(annotations_dir)
    if not root.is_dir():
        raise FileNotFoundError(2, "No such directory", str(root))
    found = []
    for action_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for video_dir in sorted(p for p in action_dir.iterdir() if p.is_dir()):
            if not (video_dir / video_dir.name).is_dir():
                raise TPSFormatError(video_dir, "layout", "expected <class>/<video>/<video>/img_NNNNN.json")
            found.append((action_dir.name, video_dir.name))
    return found


def find_video(annotations_dir: str | Path, video: str) -> str:
    """The class of ``video`` in an annotation tree."""
    matches = sorted(p.parent.name for p in Path(annotations_dir).glob(f"*/{video}") if p.is_dir())
    if len(matches) != 1:
        found = "no class folder holds it" if not matches else f"it is in {len(matches)} classes: {matches}"
        raise ValueError(f"{annotations_dir}: video {video!r}: {found}")
    return matches[0]


def read_video(annotations_dir: str | Path, action: str, video: str) -> Video:
    """Read every frame JSON of one video."""
    folder = video_annotation_dir(annotations_dir, action, video)
    paths = sorted(folder.glob("img_*.json"), key=frame_index)
    return Video(action, video, tuple(read_frame(p) for p in paths))


def iter_videos(annotations_dir: str | Path) -> Iterator[Video]:
    for action, video in list_videos(annotations_dir):
        yield read_video(annotations_dir, action, video)


def check_vocabulary(video: Video, lists: TPSLists, annotations_dir: str | Path) -> None:
    """Raise :class:`TPSFormatError` if ``video`` uses a part or state that ``list/`` does not name."""
    parts, states = set(lists.body_parts), set(lists.part_states)
    folder = video_annotation_dir(annotations_dir, video.action, video.name)
    for frame in video.frames:
        for h, human in enumerate(frame.humans):
            for part in human.parts.values():
                keys = ("humans", h, "parts", part.name)
                if part.name not in parts:
                    raise TPSFormatError(folder / frame_json_name(frame.index), field_name(*keys),
                                         "not a body part of list/body_part.txt")
                if part.state not in states:
                    raise TPSFormatError(folder / frame_json_name(frame.index), field_name(*keys, "verb"),
                                         f"{part.state!r} is not a state of list/part_stat.txt")


# ---------------------------------------------------------------- frames and videos
def frames_folder(frames_root: str | Path, action: str, video: str) -> Path:
    """A video's rawframes folder: ``<root>/<class>/<video>/`` (mmaction2 ``--level 2``) or ``<root>/<video>/``."""
    nested = Path(frames_root) / action / video
    return nested if nested.is_dir() else Path(frames_root) / video


def video_file(videos_root: str | Path, action: str, video: str) -> Path:
    """``<root>/<class>/<video>.mp4`` (or another extension)."""
    matches = sorted((Path(videos_root) / action).glob(f"{video}.*"))
    if not matches:
        raise FileNotFoundError(2, "No such video file", str(Path(videos_root) / action / f"{video}.mp4"))
    return matches[0]


def read_images(source: str | Path, indices: Iterable[int]) -> dict[int, np.ndarray]:
    """Frames ``indices`` (1-based) of a rawframes folder or a video file -> ``{index: (H, W, 3) uint8 RGB}``."""
    source, wanted = Path(source), sorted(set(indices))
    images = {}
    if source.is_dir():
        for index in wanted:
            path = source / frame_image_name(index)
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                raise FileNotFoundError(2, "No such frame or not an image", str(path))
            images[index] = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        return images
    capture = cv2.VideoCapture(str(source))
    if not capture.isOpened():
        raise FileNotFoundError(2, "OpenCV cannot open this video", str(source))
    try:
        index = 0
        while wanted and index < wanted[-1]:
            ok, image = capture.read()  # decoding in order: seeking is not frame-exact in every codec
            if not ok:
                break
            index += 1
            if index in wanted:
                images[index] = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    finally:
        capture.release()
    missing = [i for i in wanted if i not in images]
    if missing:
        raise ValueError(f"{source}: frame {missing[0]}: the video has only {index} frames")
    return images


# ---------------------------------------------------------------- evaluation files
def human_result(human: Human) -> dict[str, Any]:
    """One ground-truth human in the evaluation files' form."""
    return {"box": list(human.box),
            "parts": {p.name: {"box": list(p.box), "verb": p.state} for p in human.parts.values()}}


def ground_truth(videos: Iterable[Video], step: int = SCORED_FRAME_STEP) -> tuple[dict, dict]:
    """``(gt_vid_result, gt_part_result)`` of the evaluation code: ``{video: class}`` and
    ``{video: {"img_NNNNN.json": {"humans": [...]}}}`` over the scored frames 1, 1 + step, ..."""
    gt_vid: dict[str, str] = {}
    gt_part: dict[str, dict[str, Any]] = {}
    for video in videos:
        if video.name in gt_vid:
            raise ValueError(f"video {video.name!r} is in two classes: {gt_vid[video.name]!r} and {video.action!r}")
        gt_vid[video.name] = video.action
        gt_part[video.name] = {frame_json_name(f.index): {"humans": [human_result(h) for h in f.humans]}
                               for f in video.frames if (f.index - 1) % step == 0}
    return gt_vid, gt_part


@dataclass(frozen=True)
class Proposal:
    """One predicted box of a body part and its predicted state."""

    box: Box
    state: str


@dataclass(frozen=True)
class PredictedHuman:
    """A predicted person: ``box`` and, per part name, up to 5 proposals."""

    box: Box
    parts: Mapping[str, Sequence[Proposal]]


def prediction_frame(humans: Sequence[PredictedHuman]) -> dict[str, Any]:
    """One frame of ``pred_part_result.json``; raises ``ValueError`` past the official limits."""
    if len(humans) > MAX_HUMANS:
        raise ValueError(f"{len(humans)} humans in a frame: the evaluation allows {MAX_HUMANS}")
    frame = []
    for human in humans:
        parts = {}
        for name, proposals in human.parts.items():
            if len(proposals) > MAX_PROPOSALS:
                raise ValueError(f"part {name!r}: {len(proposals)} proposals, the evaluation allows {MAX_PROPOSALS}")
            parts[name] = {"box": [list(p.box) for p in proposals], "verb": [p.state for p in proposals]}
        frame.append({"box": list(human.box), "parts": parts})
    return {"humans": frame}


def write_evaluation_files(out_dir: str | Path, vid_result: Mapping[str, str], part_result: Mapping[str, Any],
                           *, prediction: bool) -> tuple[Path, Path]:
    """Write ``gt_*`` (``prediction=False``) or ``pred_*`` files into ``out_dir``, each atomically."""
    names = (PRED_VID_FILE, PRED_PART_FILE) if prediction else (GT_VID_FILE, GT_PART_FILE)
    out = Path(out_dir)
    return write_json_atomic(out / names[0], vid_result), write_json_atomic(out / names[1], part_result)
