"""Synthetic Kinetics-TPS: a small dataset in the release's layout, for the demo and the tests.

    python -m data.synthetic.kinetics_tps --out DIR [--seed 0] [--classes 4] [--videos-per-class 6]
        [--test-per-class 2] [--frames 30] [--width 160] [--height 120] [--fps 10] [--videos]

writes, byte-identically for a seed (layout of ``Hypnosx/Kinetics-TPS`` README.md, "Dataset Structure"):

- ``DIR/list/``: ``body_part.txt`` (the 10 parts), ``part_stat.txt``, ``object.txt``,
  ``video_{train,test}_flist.csv`` (``video,frames`` rows);
- ``DIR/{train,test}_annotations/<class>/<video>/<video>/img_NNNNN.json``: one JSON per frame, the tree
  ``part_parsing.tps`` reads (the release has no test annotations; here they stand in for the hidden ground
  truth);
- ``DIR/{train,test}_frames/<class>/<video>/img_NNNNN.jpg``: frames numbered from 1 (mmaction2 rawframes);
- with ``--videos``, ``DIR/{train,test}_videos/<class>/<video>.mp4`` holding the same frames;
- ``DIR/{train,test}_keypoints.pkl``: COCO-17 keypoints of every annotated person in every frame, as a 2D pose
  estimator would give them, in pyskl's layout (:func:`part_parsing.keypoints.write_pyskl_keypoints`; ``label``
  the class index, ``split`` the split's videos): at each frame, the persons of that frame's JSON ``humans``,
  in the same order. Joints sit in their part's box (:data:`KEYPOINT_LAYOUT`) with a jitter of up to 1 % of
  the person's height; scores are 0.9-1.0 inside the frame and 0 outside (feet below it);
- ``DIR/synthetic_tps.json``: the configuration and every video.

What a model should learn is in the pixels: each person is a torso with ten part rectangles filled with the
colour of the part's current state (:data:`STATE_COLORS`), and the person's motion depends on the class
(across, bounce, squat, still, sway, circle), as does the scene (:data:`WALL_COLORS`, :data:`FLOOR_COLORS`:
Kinetics scenes go with their actions, and a video classifier sees the whole frame). States follow a
class-dependent rhythm with some noise, so segment labels change within a video. A video's name spans its
length in seconds (``frames / fps``), as Kinetics names do. Some persons stand partly below the frame (their
feet are not annotated), and some videos have a few blank frames whose JSON lists no humans.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from part_parsing.keypoints import KEYPOINT_NAMES, PersonPose, Poses, write_pyskl_keypoints
from part_parsing.tps import BODY_PARTS, frame_image_name, frame_json_name, part_group

CLASSES = (("jogging", "across"), ("jumping_jacks", "bounce"), ("squat", "squat"),
           ("waving_hand", "still"), ("side_step", "sway"), ("dancing_in_circle", "circle"))
GROUP_STATES = {"head": ("none", "look_up", "look_down"), "hip": ("none", "bend", "twist"),
                "arm": ("unbend", "bend", "raise"), "hand": ("none", "wave", "clap"),
                "leg": ("unbend", "bend", "step"), "foot": ("step_on", "kick", "none")}
# The scene of each class: a pale wall and a darker floor (the bottom third), varied a little per video; tinted
# greys, so that JPEG's colour subsampling does not pull a part's state colour towards another state's.
WALL_COLORS = ((215, 190, 180), (205, 210, 165), (180, 190, 215), (180, 210, 180), (195, 195, 195), (210, 180, 210))
FLOOR_COLORS = ((160, 110, 100), (160, 155, 100), (100, 115, 160), (105, 150, 105), (130, 130, 130), (150, 105, 150))
PART_STATES = tuple(dict.fromkeys(s for states in GROUP_STATES.values() for s in states))
OBJECTS = ("none", "ball", "rope", "chair")
# Saturated and far apart, so that JPEG keeps them apart; backgrounds and torsos are greyish.
STATE_COLORS = {"none": (255, 255, 255), "look_up": (255, 0, 0), "look_down": (0, 0, 255),
                "bend": (0, 200, 0), "twist": (255, 0, 255), "unbend": (255, 255, 0), "raise": (0, 255, 255),
                "wave": (255, 128, 0), "clap": (128, 0, 255), "step": (0, 128, 128), "step_on": (128, 64, 0),
                "kick": (255, 0, 128)}
# Part rectangles as fractions (x1, y1, x2, y2) of the person's box; a person faces the camera,
# so their left is on the image's right.
PART_LAYOUT = {"head": (0.35, 0.0, 0.65, 0.17), "left_arm": (0.78, 0.2, 0.98, 0.44),
               "right_arm": (0.02, 0.2, 0.22, 0.44), "left_hand": (0.78, 0.47, 0.98, 0.57),
               "right_hand": (0.02, 0.47, 0.22, 0.57), "hip": (0.28, 0.46, 0.72, 0.6),
               "left_leg": (0.52, 0.62, 0.72, 0.88), "right_leg": (0.28, 0.62, 0.48, 0.88),
               "left_foot": (0.52, 0.9, 0.78, 1.0), "right_foot": (0.22, 0.9, 0.48, 1.0)}
TORSO = (0.28, 0.19, 0.72, 0.45)
# Each COCO keypoint as (part, fx, fy): the fractions of that part's rectangle where the joint sits (eyes and
# ears in the head, shoulders at the top of the arms, elbows low in the arms, wrists in the hands, hips at the
# sides of the hip box, knees at the bottom of the legs, ankles in the feet); left joints in left parts.
KEYPOINT_LAYOUT = {"nose": ("head", 0.5, 0.6), "left_eye": ("head", 0.67, 0.4), "right_eye": ("head", 0.33, 0.4),
                   "left_ear": ("head", 0.9, 0.45), "right_ear": ("head", 0.1, 0.45),
                   "left_shoulder": ("left_arm", 0.5, 0.1), "right_shoulder": ("right_arm", 0.5, 0.1),
                   "left_elbow": ("left_arm", 0.5, 0.85), "right_elbow": ("right_arm", 0.5, 0.85),
                   "left_wrist": ("left_hand", 0.5, 0.5), "right_wrist": ("right_hand", 0.5, 0.5),
                   "left_hip": ("hip", 0.85, 0.5), "right_hip": ("hip", 0.15, 0.5),
                   "left_knee": ("left_leg", 0.5, 0.9), "right_knee": ("right_leg", 0.5, 0.9),
                   "left_ankle": ("left_foot", 0.35, 0.3), "right_ankle": ("right_foot", 0.65, 0.3)}
KEYPOINT_JITTER = 0.01  # of the person's height, at most, each way
SUMMARY_FILE = "synthetic_tps.json"
_OUTPUT_DIRS = ("list",) + tuple(f"{split}_{kind}" for split in ("train", "test")
                                 for kind in ("annotations", "frames", "videos"))
_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@dataclass(frozen=True)
class TPSSyntheticConfig:
    seed: int = 0
    classes: int = 4
    videos_per_class: int = 6
    test_per_class: int = 2
    frames: int = 30
    width: int = 160
    height: int = 120
    fps: float = 10.0
    videos: bool = False

    def validate(self) -> None:
        if not 1 <= self.classes <= len(CLASSES):
            raise ValueError(f"classes must be 1..{len(CLASSES)}, got {self.classes}")
        if not 0 <= self.test_per_class < self.videos_per_class:
            raise ValueError("test-per-class must be at least 0 and less than videos-per-class")
        if self.frames < 1 or self.fps <= 0:
            raise ValueError("frames must be at least 1 and fps positive")
        if self.width < 64 or self.height < 64:
            raise ValueError(f"frames of {self.width}x{self.height} are too small; use at least 64x64")


@dataclass(frozen=True)
class _Person:
    center_x: float       # pixels, at rest
    bottom: float         # pixels; below the frame for persons whose feet are cut off
    height: float
    torso: tuple[int, int, int]
    phase: float          # radians, so that two persons do not move in step


def _video_name(rng: np.random.Generator, seconds: int) -> str:
    """A Kinetics-style name ``<11-character id>_<start>_<end>`` (seconds), spanning ``seconds``."""
    start = int(rng.integers(0, 300))
    video_id = "".join(_ID_ALPHABET[i] for i in rng.integers(0, len(_ID_ALPHABET), 11))
    return f"{video_id}_{start:06d}_{start + seconds:06d}"


def _person_box(person: _Person, motion: str, t: int, cfg: TPSSyntheticConfig) -> tuple[float, ...]:
    """``(x1, y1, x2, y2)`` of a person at frame ``t`` (0-based), before clipping to the frame."""
    angle = 2 * math.pi * t / 12 + person.phase
    cx, bottom, height = person.center_x, person.bottom, person.height
    if motion == "across":
        cx += (t / max(cfg.frames - 1, 1) - 0.5) * cfg.width * 0.3
    elif motion == "bounce":
        bottom -= 0.15 * height * abs(math.sin(angle))
    elif motion == "squat":
        height *= 1 - 0.3 * (1 - math.cos(angle)) / 2
    elif motion == "sway":
        cx += 0.08 * cfg.width * math.sin(angle)
    elif motion == "circle":
        cx += 0.06 * cfg.width * math.cos(angle)
        bottom += 0.06 * cfg.height * math.sin(angle)
    width = 0.5 * person.height  # the width stays: a squat only lowers the head
    return cx - width / 2, bottom - height, cx + width / 2, bottom


def _state(class_index: int, part: str, t: int, rng: np.random.Generator) -> str:
    """A class-dependent rhythm: a dominant and a secondary state per part, the sides half a period apart."""
    group = part_group(part)
    states = GROUP_STATES[group]
    if rng.random() < 0.08:
        return states[int(rng.integers(0, len(states)))]
    shift = class_index + list(GROUP_STATES).index(group)
    period = 8 + 2 * class_index
    offset = period // 2 if part.startswith("right_") else 0
    dominant = (t + offset) % period < math.ceil(2 * period / 3)
    return states[shift % len(states)] if dominant else states[(shift + 1) % len(states)]


def _clip(box: tuple[float, ...], cfg: TPSSyntheticConfig) -> list[int] | None:
    """Integer inclusive pixel box inside the frame, or None if nothing of it is inside."""
    x1, y1 = max(0, round(box[0])), max(0, round(box[1]))
    x2, y2 = min(cfg.width - 1, round(box[2]) - 1), min(cfg.height - 1, round(box[3]) - 1)
    return [x1, y1, x2, y2] if x1 <= x2 and y1 <= y2 else None


def _place(box: tuple[float, ...], fractions: tuple[float, ...]) -> tuple[float, ...]:
    """The rectangle at ``fractions`` (x1, y1, x2, y2) of ``box``."""
    w, h = box[2] - box[0], box[3] - box[1]
    return (box[0] + fractions[0] * w, box[1] + fractions[1] * h,
            box[0] + fractions[2] * w, box[1] + fractions[3] * h)


def _pose(extent: tuple[float, ...], rng: np.random.Generator, cfg: TPSSyntheticConfig) -> PersonPose:
    """The COCO keypoints of a person whose box is ``extent`` (:data:`KEYPOINT_LAYOUT`), jittered by ``rng``."""
    points = []
    for name in KEYPOINT_NAMES:
        part, fx, fy = KEYPOINT_LAYOUT[name]
        x1, y1, x2, y2 = _place(extent, PART_LAYOUT[part])
        points.append((x1 + fx * (x2 - x1), y1 + fy * (y2 - y1)))
    height = extent[3] - extent[1]
    keypoints = np.array(points) + rng.uniform(-1, 1, (len(points), 2)) * KEYPOINT_JITTER * height
    scores = rng.uniform(0.9, 1.0, len(points))
    inside = ((keypoints >= 0) & (keypoints <= (cfg.width - 1, cfg.height - 1))).all(axis=1)
    return PersonPose(keypoints, np.where(inside, scores, 0.0))


def _draw_frame(people: list[_Person], class_index: int, t: int, blank: bool, background: np.ndarray,
                rng: np.random.Generator, cfg: TPSSyntheticConfig
                ) -> tuple[np.ndarray, list[dict[str, Any]], list[tuple[float, ...]]]:
    """One RGB frame ``(H, W, 3)`` uint8, its ``humans`` list and those humans' unclipped boxes."""
    image = background.copy()
    if blank:
        image[:] = 128
        return image, [], []
    humans, extents = [], []
    motion = CLASSES[class_index][1]
    for person in people:
        extent = _person_box(person, motion, t, cfg)
        torso = _clip(_place(extent, TORSO), cfg)
        if torso:
            cv2.rectangle(image, tuple(torso[:2]), tuple(torso[2:]), person.torso, -1)
        parts = {}
        for number, name in enumerate(BODY_PARTS, start=1):
            state = _state(class_index, name, t, rng)
            box = _clip(_place(extent, PART_LAYOUT[name]), cfg)
            if box is None:
                continue
            cv2.rectangle(image, tuple(box[:2]), tuple(box[2:]), STATE_COLORS[state], -1)
            parts[name] = {"number": number, "box": box, "verb": state, "name": name}
        box = _clip(extent, cfg)
        if box and parts:
            humans.append({"number": len(humans) + 1, "box": box, "parts": parts})
            extents.append(extent)
    return image, humans, extents


def _plan_people(rng: np.random.Generator, cfg: TPSSyntheticConfig) -> list[_Person]:
    count = 2 if rng.random() < 0.4 else 1
    people = []
    for k in range(count):
        height = cfg.height * rng.uniform(0.55, 0.72)
        lane = (k + 0.5) / count if count > 1 else rng.uniform(0.4, 0.6)
        cut = rng.random() < 0.25
        bottom = cfg.height + 0.05 * height if cut else cfg.height * rng.uniform(0.85, 0.95)
        torso = tuple(int(c) for c in rng.integers(60, 110, 3))
        people.append(_Person(lane * cfg.width, bottom, height, torso, float(rng.uniform(0, 2 * math.pi))))
    return people


def _clear_previous(out: Path) -> None:
    """Remove what an earlier run wrote; refuse to write over output folders no run of ours wrote."""
    present = [d for d in _OUTPUT_DIRS if (out / d).exists()]
    if present and not (out / SUMMARY_FILE).is_file():
        raise FileExistsError(f"{out / present[0]} exists but {out / SUMMARY_FILE} does not; use an empty folder")
    for folder in present:
        shutil.rmtree(out / folder)


def generate(out_dir: str | Path, config: TPSSyntheticConfig | None = None) -> dict[str, Any]:
    """Write the dataset (module docstring) into ``out_dir``; returns the summary also saved there."""
    cfg = config or TPSSyntheticConfig()
    cfg.validate()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _clear_previous(out)
    lists = out / "list"
    lists.mkdir()
    for name, lines in (("body_part.txt", BODY_PARTS), ("part_stat.txt", PART_STATES), ("object.txt", OBJECTS)):
        (lists / name).write_text("\n".join(lines) + "\n")
    flists: dict[str, list[str]] = {"train": [], "test": []}
    poses: dict[str, Poses] = {"train": {}, "test": {}}
    labels: dict[str, int] = {}
    videos = []
    for c in range(cfg.classes):
        action = CLASSES[c][0]
        for v in range(cfg.videos_per_class):
            split = "test" if v >= cfg.videos_per_class - cfg.test_per_class else "train"
            rng = np.random.default_rng([cfg.seed, c, v])
            pose_rng = np.random.default_rng([cfg.seed, c, v, 1])  # apart, so the other files stay as they were
            name = _video_name(rng, max(1, round(cfg.frames / cfg.fps)))
            people = _plan_people(rng, cfg)
            blank_start = int(rng.integers(0, cfg.frames)) if rng.random() < 0.3 else None
            ramp = np.linspace(-20, 20, cfg.height)[:, None, None] * np.array([0, 1, 0])
            background = np.empty((cfg.height, cfg.width, 3), np.uint8)
            background[:] = np.clip(np.array(WALL_COLORS[c]) + rng.integers(-8, 9, 3) + ramp, 0, 255)
            background[cfg.height - cfg.height // 3:] = np.array(FLOOR_COLORS[c]) + rng.integers(-8, 9)
            notes = out / f"{split}_annotations" / action / name / name
            frames_dir = out / f"{split}_frames" / action / name
            notes.mkdir(parents=True)
            frames_dir.mkdir(parents=True)
            writer = None
            if cfg.videos:
                video_path = out / f"{split}_videos" / action / f"{name}.mp4"
                video_path.parent.mkdir(parents=True, exist_ok=True)
                writer = cv2.VideoWriter(str(video_path), cv2.VideoWriter_fourcc(*"mp4v"), cfg.fps,
                                         (cfg.width, cfg.height))
                if not writer.isOpened():
                    raise RuntimeError(f"{video_path}: OpenCV cannot open an mp4v writer here")
            frame_poses = poses[split].setdefault(name, {})
            labels[name] = c
            try:
                for t in range(cfg.frames):
                    blank = blank_start is not None and 0 <= t - blank_start < 3
                    image, humans, extents = _draw_frame(people, c, t, blank, background, rng, cfg)
                    frame_poses[t + 1] = [_pose(extent, pose_rng, cfg) for extent in extents]
                    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
                    cv2.imwrite(str(frames_dir / frame_image_name(t + 1)), bgr, [cv2.IMWRITE_JPEG_QUALITY, 95])
                    (notes / frame_json_name(t + 1)).write_text(json.dumps({"humans": humans}) + "\n")
                    if writer is not None:
                        writer.write(bgr)
            finally:
                if writer is not None:
                    writer.release()
            flists[split].append(f"{name},{cfg.frames}")
            videos.append({"split": split, "action": action, "name": name, "frames": cfg.frames,
                           "persons": len(people)})
    for split, rows in flists.items():
        (lists / f"video_{split}_flist.csv").write_text("".join(row + "\n" for row in rows))
        write_pyskl_keypoints(out / f"{split}_keypoints.pkl", poses[split], (cfg.width, cfg.height),
                              dict.fromkeys(poses[split], cfg.frames), labels=labels, split=split)
    summary = {"seed": cfg.seed, "config": asdict(cfg), "classes": [c[0] for c in CLASSES[:cfg.classes]],
               "videos": videos}
    (out / SUMMARY_FILE).write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def main(argv: list[str] | None = None) -> int:
    defaults = TPSSyntheticConfig()
    parser = argparse.ArgumentParser(prog="python -m data.synthetic.kinetics_tps",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--classes", type=int, default=defaults.classes, help=f"1..{len(CLASSES)}")
    parser.add_argument("--videos-per-class", type=int, default=defaults.videos_per_class)
    parser.add_argument("--test-per-class", type=int, default=defaults.test_per_class)
    parser.add_argument("--frames", type=int, default=defaults.frames, help="frames per video")
    parser.add_argument("--width", type=int, default=defaults.width)
    parser.add_argument("--height", type=int, default=defaults.height)
    parser.add_argument("--fps", type=float, default=defaults.fps)
    parser.add_argument("--videos", action="store_true", help="also write .mp4 videos of the frames")
    args = vars(parser.parse_args(argv))
    out = args.pop("out")
    config = TPSSyntheticConfig(**args)
    try:
        config.validate()
    except ValueError as err:
        parser.error(str(err))
    summary = generate(out, config)
    print(f"wrote {len(summary['videos'])} videos of {config.classes} classes to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
