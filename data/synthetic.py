"""Synthetic NTU RGB+D: the project's embedded dataset for `make demo` and the tests.

    python -m data.synthetic --out DIR [--seed 0] [--classes 8] [--two-person-classes 2]
        [--samples-per-class 40] [--videos 3] [--missing 2] [--noise-rate 0.08] [--no-parsing]

writes, byte-identically for a seed:

- `DIR/skeletons/<name>.skeleton`: real-format files (REFERENCE.md §2) of a jointed body model whose
  limbs move differently per class, seen by a Kinect-like camera (pinhole fitted to real files);
- `DIR/parsing/<name>.npy`: uint8 `(T, 119, 119, 1)` LIP label maps (§8) drawn from the same bodies;
- `DIR/videos/<name>_rgb.avi`: 1920×1080 MJPG videos of a few samples, body parts painted at the
  skeleton's colour coordinates, so the person-frame and parser tools run on them unchanged;
- `DIR/synthetic.json`: the classes, every sample, and which noise each got.

Names are valid NTU names spread over setups, cameras and subjects so that all four benchmarks have
train and test samples of every class. The noise is what the reference preprocessing (§3.1-§3.2)
removes: short extra bodies, spread-out "furniture" bodies, a body that vanishes and returns, frames
with no body, and a few files with no body at all ("missing skeletons").
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from data.actions import action_name
from data.ntu import BENCHMARKS, parse_name
from data.skeleton import write_skeleton

# ---------------------------------------------------------------- camera (fitted on real fixtures)
# colorX ≈ 1050 x/z + 975, colorY ≈ 545 - 1058 y/z in the 1920×1080 video; depthX ≈ 366 x/z + 259,
# depthY ≈ 209 - 366 y/z in the 512×424 depth map. The two sensors' centres really are offset.
COLOR_FOCAL = 1054.0
COLOR_CENTER = (972.0, 545.0)
DEPTH_FOCAL = 366.4
DEPTH_CENTER = (259.0, 209.0)
VIDEO_SIZE = (1920, 1080)
FPS = 30.0


def project_to_kinect(xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Camera-space metres `(..., 3)` -> (depth pixels `(..., 2)`, colour pixels `(..., 2)`)."""
    u = xyz[..., 0] / xyz[..., 2]
    v = xyz[..., 1] / xyz[..., 2]
    depth = np.stack([DEPTH_CENTER[0] + DEPTH_FOCAL * u, DEPTH_CENTER[1] - DEPTH_FOCAL * v], axis=-1)
    color = np.stack([COLOR_CENTER[0] + COLOR_FOCAL * u, COLOR_CENTER[1] - COLOR_FOCAL * v], axis=-1)
    return depth, color


# ---------------------------------------------------------------- body model
# NTU joints, 0-based: 0 spine base, 1 spine mid, 2 neck, 3 head, 4-7 left shoulder/elbow/wrist/hand,
# 8-11 the same on the right, 12-15 left hip/knee/ankle/foot, 16-19 right, 20 spine shoulder,
# 21/22 left hand tip/thumb, 23/24 right. Body frame: metres, origin at the spine base, X to the
# person's right, Y up, Z backwards (the person faces -Z).
UPPER_ARM, FOREARM, HAND, HAND_TIP = 0.28, 0.25, 0.08, 0.07
THIGH, SHANK = 0.42, 0.41
HIP_Y, SHOULDER_Y, SHOULDER_X, HIP_X = -0.01, 0.47, 0.17, 0.09
STANDING_ANKLE_Y = HIP_Y - THIGH - SHANK
_AXIAL = {1: (0.0, 0.27, 0.0), 20: (0.0, 0.50, 0.0), 2: (0.0, 0.57, 0.0), 3: (0.0, 0.70, -0.01)}
# joints without a bone orientation in real files (head, feet, hand tips, thumbs) carry zeros there
_END_JOINTS = (3, 15, 19, 21, 22, 23, 24)
# Degrees of freedom (radians, metres for "walk"); class motions return offsets from this rest pose.
REST_POSE = {
    "lean": 0.0, "walk": 0.0,
    "r_flex": 0.1, "r_abd": 0.12, "r_elbow": 0.15, "r_twist": 0.0,
    "l_flex": 0.1, "l_abd": 0.12, "l_elbow": 0.15, "l_twist": 0.0,
    "r_hip": 0.0, "r_knee": 0.05, "l_hip": 0.0, "l_knee": 0.05,
}


def _rot_x(a: np.ndarray) -> np.ndarray:
    """(T,) angles -> (T, 3, 3); positive turns a downward vector forward (towards -Z)."""
    c, s, o, i = np.cos(a), np.sin(a), np.zeros_like(a), np.ones_like(a)
    return np.stack([i, o, o, o, c, -s, o, s, c], axis=-1).reshape(-1, 3, 3)


def _rot_z(a: np.ndarray) -> np.ndarray:
    """(T,) angles -> (T, 3, 3); positive turns a downward vector towards +X."""
    c, s, o, i = np.cos(a), np.sin(a), np.zeros_like(a), np.ones_like(a)
    return np.stack([c, -s, o, s, c, o, o, o, i], axis=-1).reshape(-1, 3, 3)


def _rot_y(a: np.ndarray) -> np.ndarray:
    """(T,) angles -> (T, 3, 3) about the vertical axis; -pi/2 turns a body facing -Z to face +X."""
    c, s, o, i = np.cos(a), np.sin(a), np.zeros_like(a), np.ones_like(a)
    return np.stack([c, o, s, o, i, o, -s, o, c], axis=-1).reshape(-1, 3, 3)


def _apply(rot: np.ndarray, vec: np.ndarray) -> np.ndarray:
    """(T, 3, 3) @ (3,) or (T, 3) -> (T, 3)."""
    return np.einsum("tij,tj->ti", rot, np.broadcast_to(vec, (len(rot), 3)))


def pose_body(dofs: dict[str, np.ndarray | float], num_frames: int) -> np.ndarray:
    """Forward kinematics of the body model: `(T, 25, 3)` body-frame metres, feet on the floor.

    `dofs` holds offsets from :data:`REST_POSE` per degree of freedom, each `(T,)` or a scalar.
    """
    get = {key: np.broadcast_to(np.asarray(dofs.get(key, 0.0), float) + rest, (num_frames,))
           for key, rest in REST_POSE.items()}
    joints = np.zeros((num_frames, 25, 3))
    down = np.array([0.0, -1.0, 0.0])
    torso = _rot_x(-get["lean"])  # leaning forward tilts the upper body towards -Z
    for idx, rest in _AXIAL.items():
        joints[:, idx] = _apply(torso, np.array(rest))
    arms = ((1.0, "r", 8, 9, 10, 11, 23, 24), (-1.0, "l", 4, 5, 6, 7, 21, 22))
    for side, p, shoulder, elbow, wrist, hand, tip, thumb in arms:
        joints[:, shoulder] = _apply(torso, np.array([side * SHOULDER_X, SHOULDER_Y, 0.0]))
        upper = torso @ _rot_x(get[f"{p}_flex"]) @ _rot_z(side * get[f"{p}_abd"])
        joints[:, elbow] = joints[:, shoulder] + _apply(upper, UPPER_ARM * down)
        # twisting the upper arm inwards turns the elbow's bending plane towards the body's midline
        fore = upper @ _rot_y(side * get[f"{p}_twist"]) @ _rot_x(get[f"{p}_elbow"])
        joints[:, wrist] = joints[:, elbow] + _apply(fore, FOREARM * down)
        joints[:, hand] = joints[:, wrist] + _apply(fore, HAND * down)
        joints[:, tip] = joints[:, hand] + _apply(fore, HAND_TIP * down)
        joints[:, thumb] = joints[:, wrist] + _apply(fore, np.array([-side * 0.035, -0.05, -0.02]))
    legs = ((1.0, "r", 16, 17, 18, 19), (-1.0, "l", 12, 13, 14, 15))
    for side, p, hip, knee, ankle, foot in legs:
        joints[:, hip] = (side * HIP_X, HIP_Y, 0.0)
        thigh = _rot_x(get[f"{p}_hip"])
        joints[:, knee] = joints[:, hip] + _apply(thigh, THIGH * down)
        shank = thigh @ _rot_x(-get[f"{p}_knee"])  # knees bend backwards
        joints[:, ankle] = joints[:, knee] + _apply(shank, SHANK * down)
        joints[:, foot] = joints[:, ankle] + _apply(shank, np.array([0.0, -0.05, -0.12]))
    # the lower ankle stands on the floor: crouching and sitting lower the whole body
    joints[:, :, 1] += (STANDING_ANKLE_Y - np.minimum(joints[:, 14, 1], joints[:, 18, 1]))[:, None]
    joints[:, :, 2] -= get["walk"][:, None]
    return joints


# ---------------------------------------------------------------- class motions
@dataclass(frozen=True)
class Clock:
    """Per-sample timing of a motion: `u` (T,) normalised time 0..1 (jittered), `t` (T,) seconds
    scaled by the sample's speed, amplitude factor `amp` and phase `phase` of periodic parts."""

    u: np.ndarray
    t: np.ndarray
    amp: float
    phase: float

    def ramp(self, a: float, b: float) -> np.ndarray:
        x = np.clip((self.u - a) / (b - a), 0.0, 1.0)
        return x * x * (3.0 - 2.0 * x)

    def bump(self, a: float, b: float, width: float) -> np.ndarray:
        """Smooth rise over [a, a + width], hold, fall over [b - width, b]."""
        return self.ramp(a, a + width) * (1.0 - self.ramp(b - width, b))

    def wave(self, hz: float, shift: float = 0.0) -> np.ndarray:
        return np.sin(2.0 * np.pi * hz * self.t + self.phase + shift)


@dataclass(frozen=True)
class Scene:
    """What a class does: per actor the DOF offsets, the actors' start distance (metres) and
    whether they face each other (two-person classes)."""

    actors: list[dict[str, np.ndarray]]
    gap: float = 0.0
    facing: bool = True


def _drink_water(c: Clock) -> Scene:
    lift = c.bump(0.15, 0.85, 0.2) * c.amp
    return Scene([{"r_flex": 0.55 * lift, "r_elbow": 2.2 * lift, "r_abd": -0.3 * lift, "r_twist": 0.8 * lift,
                   "lean": -0.08 * lift}])


def _eat_meal(c: Clock) -> Scene:
    right, left = 0.5 - 0.5 * c.wave(0.9), 0.5 + 0.5 * c.wave(0.9)
    hands = [{f"{p}_flex": 0.5 * w, f"{p}_elbow": 2.1 * w * c.amp, f"{p}_abd": -0.3 * w,
              f"{p}_twist": 0.8 * w} for p, w in (("r", right), ("l", left))]
    return Scene([{**hands[0], **hands[1], "lean": 0.15}])


def _brush_teeth(c: Clock) -> Scene:
    lift = c.bump(0.1, 0.9, 0.15)
    scrub = 0.2 * c.amp * c.wave(4.0)
    return Scene([{"r_flex": 0.5 * lift, "r_elbow": 2.2 * lift, "r_abd": (scrub - 0.3) * lift,
                   "r_twist": 0.8 * lift}])


def _brush_hair(c: Clock) -> Scene:
    lift = c.bump(0.1, 0.9, 0.2)
    stroke = c.amp * c.wave(1.5)
    return Scene([{"l_flex": (2.3 + 0.2 * stroke) * lift, "l_elbow": (1.4 + 0.4 * stroke) * lift,
                   "l_abd": 0.2 * lift}])


def _drop(c: Clock) -> Scene:
    hold = c.bump(0.1, 0.55, 0.15) * c.amp
    return Scene([{"r_flex": 1.1 * hold, "r_elbow": 0.4 * hold, "lean": 0.25 * c.ramp(0.5, 0.75)}])


def _pick_up(c: Clock) -> Scene:
    bend = c.bump(0.15, 0.85, 0.3) * c.amp
    return Scene([{"lean": 0.9 * bend, "r_hip": 0.5 * bend, "l_hip": 0.5 * bend, "r_knee": 0.9 * bend,
                   "l_knee": 0.9 * bend, "r_flex": 0.7 * bend}])


def _throw(c: Clock) -> Scene:
    flex = 2.8 * c.ramp(0.15, 0.4) - 1.6 * c.ramp(0.45, 0.6) - 1.2 * c.ramp(0.7, 0.9)
    return Scene([{"r_flex": flex * c.amp, "r_elbow": 1.6 * c.bump(0.15, 0.55, 0.15),
                   "lean": 0.35 * c.bump(0.45, 0.85, 0.15), "l_hip": 0.35 * c.bump(0.1, 0.8, 0.2)}])


def _sit(down: np.ndarray, c: Clock) -> Scene:
    balance = c.bump(0.2, 0.9, 0.25) * c.amp
    return Scene([{"r_hip": 1.45 * down, "l_hip": 1.45 * down, "r_knee": 1.45 * down, "l_knee": 1.45 * down,
                   "lean": 0.35 * balance + 0.1 * down, "r_flex": 0.4 * balance, "l_flex": 0.4 * balance}])


def _sit_down(c: Clock) -> Scene:
    return _sit(c.ramp(0.2, 0.7), c)


def _stand_up(c: Clock) -> Scene:
    return _sit(1.0 - c.ramp(0.3, 0.8), c)


def _clap(c: Clock) -> Scene:
    arms = c.bump(0.1, 0.9, 0.15)
    spread = (0.45 * (0.5 + 0.5 * c.wave(2.4)) * c.amp - 0.3) * arms
    return Scene([{"r_flex": arms, "l_flex": arms, "r_elbow": 0.9 * arms, "l_elbow": 0.9 * arms,
                   "r_abd": spread, "l_abd": spread}])


def _shake_hands(c: Clock) -> Scene:
    reach = c.bump(0.15, 0.85, 0.2)
    shake = 0.15 * c.amp * c.wave(2.5)
    hand = {"r_flex": (0.9 + shake) * reach, "r_elbow": 0.5 * reach, "r_abd": -0.25 * reach}
    return Scene([hand, dict(hand)], gap=0.95)


def _gait(c: Clock, distance: np.ndarray) -> dict[str, np.ndarray]:
    swing = c.wave(1.7)
    return {"r_hip": 0.35 * swing, "l_hip": -0.35 * swing, "r_knee": 0.5 * np.maximum(0.0, -swing),
            "l_knee": 0.5 * np.maximum(0.0, swing), "r_flex": -0.3 * swing, "l_flex": 0.3 * swing,
            "walk": distance}


def _walk_towards(c: Clock) -> Scene:
    step = 0.5 * c.amp * c.u
    return Scene([_gait(c, step), _gait(c, step)], gap=0.8 + 1.0 * c.amp)


def _walk_apart(c: Clock) -> Scene:
    step = 0.5 * c.amp * c.u
    return Scene([_gait(c, step), _gait(c, step)], gap=0.6, facing=False)


def _punch(c: Clock) -> Scene:
    guard = c.bump(0.05, 0.95, 0.1)
    jab = np.maximum(0.0, c.wave(1.4)) ** 3 * c.amp
    hit = np.maximum(0.0, c.wave(1.4, shift=-0.6)) ** 3
    return Scene([{"r_flex": (0.9 + 0.6 * jab) * guard, "r_elbow": (2.0 - 1.9 * jab) * guard,
                   "l_flex": 0.9 * guard, "l_elbow": 2.0 * guard},
                  {"lean": -0.25 * hit, "l_flex": 0.6 * guard, "l_elbow": 1.5 * guard}], gap=0.85)


def _push(c: Clock) -> Scene:
    push = c.bump(0.2, 0.7, 0.15) * c.amp
    return Scene([{"r_flex": 1.4 * push, "l_flex": 1.4 * push, "r_elbow": 0.3 * push, "l_elbow": 0.3 * push,
                   "lean": 0.2 * push, "walk": 0.25 * c.ramp(0.3, 0.6)},
                  {"walk": -0.5 * c.ramp(0.4, 0.75), "lean": -0.2 * c.bump(0.35, 0.8, 0.15)}], gap=0.75)


def _hug(c: Clock) -> Scene:
    arms = c.bump(0.3, 0.9, 0.15) * c.amp
    hug = {"walk": 0.3 * c.ramp(0.1, 0.45), "r_flex": 1.4 * arms, "l_flex": 1.4 * arms,
           "r_elbow": 1.3 * arms, "l_elbow": 1.3 * arms, "r_abd": 0.3 * arms, "l_abd": 0.3 * arms}
    return Scene([hug, dict(hug)], gap=1.2)


@dataclass(frozen=True)
class ActionClass:
    action: int  # NTU action id, 1-based (the reference label is action - 1)
    persons: int
    motion: Callable[[Clock], Scene]

    @property
    def name(self) -> str:
        return action_name(self.action - 1)


# Real NTU actions; the motions are simple stand-ins that a model can tell apart.
ONE_PERSON_CLASSES = (
    ActionClass(1, 1, _drink_water),
    ActionClass(2, 1, _eat_meal),
    ActionClass(3, 1, _brush_teeth),
    ActionClass(4, 1, _brush_hair),
    ActionClass(5, 1, _drop),
    ActionClass(6, 1, _pick_up),
    ActionClass(7, 1, _throw),
    ActionClass(8, 1, _sit_down),
    ActionClass(9, 1, _stand_up),
    ActionClass(10, 1, _clap),
)
TWO_PERSON_CLASSES = (
    ActionClass(58, 2, _shake_hands),
    ActionClass(59, 2, _walk_towards),
    ActionClass(50, 2, _punch),
    ActionClass(52, 2, _push),
    ActionClass(55, 2, _hug),
    ActionClass(60, 2, _walk_apart),
)


# ---------------------------------------------------------------- configuration and sample plan
NOISE_KINDS = ("short_body", "spread_body", "vanishing_body", "dropped_frames")


@dataclass(frozen=True)
class SyntheticConfig:
    """What to generate. Classes are the first `classes - two_person_classes` of
    :data:`ONE_PERSON_CLASSES` followed by the first `two_person_classes` of :data:`TWO_PERSON_CLASSES`.
    Each noise kind goes to `ceil(noise_rate * samples)` samples; `missing` extra samples have no body;
    `videos` (at most one per class) samples get an RGB video."""

    seed: int = 0
    classes: int = 8
    two_person_classes: int = 2
    samples_per_class: int = 40
    min_frames: int = 40
    max_frames: int = 100
    setups: int = 4
    videos: int = 3
    missing: int = 2
    noise_rate: float = 0.08
    crlf_rate: float = 0.05
    parsing: bool = True

    def action_classes(self) -> list[ActionClass]:
        ones = self.classes - self.two_person_classes
        twos = self.two_person_classes
        if not (1 <= ones <= len(ONE_PERSON_CLASSES) and 0 <= twos <= len(TWO_PERSON_CLASSES)):
            raise ValueError(
                f"classes={self.classes}, two_person_classes={self.two_person_classes}: expected 1-"
                f"{len(ONE_PERSON_CLASSES)} one-person and 0-{len(TWO_PERSON_CLASSES)} two-person classes"
            )
        return [*ONE_PERSON_CLASSES[:ones], *TWO_PERSON_CLASSES[:twos]]

    def validate(self) -> None:
        self.action_classes()
        # 4 samples per class are the least that give every benchmark split every class (see plan_samples)
        if not 4 <= self.samples_per_class <= 500:
            raise ValueError(f"samples_per_class must be 4-500, found {self.samples_per_class}")
        if not 30 <= self.min_frames <= self.max_frames <= 300:
            raise ValueError(
                f"expected 30 <= min_frames <= max_frames <= 300 (room for the noise), found "
                f"{self.min_frames}, {self.max_frames}"
            )
        if not 2 <= self.setups <= 17:
            raise ValueError(f"setups must be 2-17 (NTU60 setups, both parities), found {self.setups}")
        for key in ("noise_rate", "crlf_rate"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise ValueError(f"{key} must be in [0, 1], found {getattr(self, key)}")
        if self.videos < 0 or self.missing < 0:
            raise ValueError(f"videos and missing must be >= 0, found {self.videos}, {self.missing}")


@dataclass(frozen=True)
class SamplePlan:
    """One sample to write: NTU name, class index, frame count, noise kinds, line endings, video."""

    name: str
    class_index: int
    sample_index: int
    frames: int
    noise: tuple[str, ...] = ()
    crlf: bool = False
    video: bool = False
    missing: bool = False


def plan_samples(config: SyntheticConfig) -> list[SamplePlan]:
    """Names, frame counts and noise of every sample, sorted by name.

    Sample `i` of a class uses camera `i % 3 + 1`, an odd setup for even `i` and an even one for odd
    `i`, and a subject of the NTU60 XSub train list when `(i // 2)` is even, else of its test list:
    any 4 consecutive samples put the class in the train and test split of all four benchmarks.
    """
    config.validate()
    classes = config.action_classes()
    rng = np.random.default_rng([config.seed, 0])
    xsub = BENCHMARKS["ntu60-xsub"]
    subjects = (xsub.train_ids, xsub.test_ids)
    odd_even = tuple([s for s in range(1, config.setups + 1) if s % 2 == parity] for parity in (1, 0))
    per_class, n_classes = config.samples_per_class, len(classes)
    slots = [(c, i, False) for c in range(n_classes) for i in range(per_class)]
    slots += [(j % n_classes, per_class + j // n_classes, True) for j in range(config.missing)]
    used: set[str] = set()
    plans = []
    for c, i, missing in slots:
        while True:  # another replication or subject when the name is taken
            setup, subject = int(rng.choice(odd_even[i % 2])), int(rng.choice(subjects[(i // 2) % 2]))
            replication = int(rng.integers(1, 3))
            name = f"S{setup:03d}C{i % 3 + 1:03d}P{subject:03d}R{replication:03d}A{classes[c].action:03d}"
            if name not in used:
                break
        used.add(name)
        frames = int(rng.integers(config.min_frames, config.max_frames + 1))
        plans.append(SamplePlan(name, c, i, frames, missing=missing))

    regular = [k for k, p in enumerate(plans) if not p.missing]
    noise: dict[int, list[str]] = {k: [] for k in regular}
    for kind in NOISE_KINDS:
        for k in rng.choice(regular, math.ceil(config.noise_rate * len(regular)), replace=False):
            noise[int(k)].append(kind)
    crlf = set(rng.choice(len(plans), math.ceil(config.crlf_rate * len(plans)), replace=False).tolist())
    # the first sample of a class gets its video: one-person class 0 and the first two-person class first
    video_order = [0, *([n_classes - config.two_person_classes] if config.two_person_classes else [])]
    video_order += [c for c in range(n_classes) if c not in video_order]
    videos = {(c, 0) for c in video_order[: config.videos]}
    plans = [
        replace(p, noise=tuple(noise.get(k, ())), crlf=k in crlf,
                video=not p.missing and (p.class_index, p.sample_index) in videos)
        for k, p in enumerate(plans)
    ]
    return sorted(plans, key=lambda p: p.name)


# ---------------------------------------------------------------- one sample
@dataclass(frozen=True)
class Look:
    """A performer: body scale, fixed per-joint offsets `(25, 3)` metres, clothing colours (BGR)."""

    scale: float
    offsets: np.ndarray
    colors: dict[int, tuple[int, int, int]]


# LIP labels (REFERENCE.md §8) that the body parts are drawn with
HAIR, UPPER_CLOTHES, PANTS, FACE, LEFT_ARM, RIGHT_ARM, LEFT_LEG, RIGHT_LEG, LEFT_SHOE, RIGHT_SHOE = (
    2, 5, 9, 13, 14, 15, 16, 17, 18, 19
)
_SKIN = ((140, 170, 225), (110, 145, 200), (80, 110, 160), (60, 80, 120))


def performer_look(seed: int, subject: int) -> Look:
    """The same subject id looks (and is sized) the same in every sample of a seed."""
    rng = np.random.default_rng([seed, 3, subject])
    skin = _SKIN[int(rng.integers(len(_SKIN)))]
    shirt = tuple(int(v) for v in rng.integers(40, 230, 3))
    pants = tuple(int(v) for v in rng.integers(20, 120, 3))
    colors = {HAIR: (30, 35, 45), UPPER_CLOTHES: shirt, PANTS: pants, LEFT_SHOE: (25, 25, 25),
              RIGHT_SHOE: (25, 25, 25)}
    colors.update(dict.fromkeys((FACE, LEFT_ARM, RIGHT_ARM, LEFT_LEG, RIGHT_LEG), skin))
    return Look(float(rng.uniform(0.92, 1.08)), rng.normal(0.0, 0.008, (25, 3)), colors)


Reported = tuple[str, np.ndarray]  # one body in one frame: bodyID and its (25, 12) joint-line numbers


@dataclass
class Sample:
    """A synthesised sample: `actors` `(A, T, 25, 3)` camera-space metres of the performers in every
    frame (what the video shows), `frames` the `.skeleton` content (per frame, `(bodyID, (25, 12))`
    pairs as the sensor reported them, noise included) and the performers' looks."""

    actors: np.ndarray
    frames: list[list[Reported]]
    looks: list[Look]


_CAMERA_YAW = {1: -0.7, 2: 0.0, 3: 0.7}  # radians; NTU's three cameras look from -45°, 0° and +45°


def _to_camera(points: np.ndarray, pitch: float) -> np.ndarray:
    """Scene `(..., 3)` (Y up, Z forward along the floor) -> camera space of a camera pitched down."""
    c, s = math.cos(pitch), math.sin(pitch)
    x, y, z = points[..., 0], points[..., 1], points[..., 2]
    return np.stack([x, c * y + s * z, -s * y + c * z], axis=-1)


def synthesize(plan: SamplePlan, config: SyntheticConfig) -> Sample:
    """Performers, camera, motion and sensor noise of one sample, from its own random stream."""
    rng = np.random.default_rng([config.seed, 1, plan.class_index, plan.sample_index])
    action_class = config.action_classes()[plan.class_index]
    fields = parse_name(plan.name)
    T = plan.frames
    if plan.missing:
        return Sample(np.zeros((0, T, 25, 3)), [[] for _ in range(T)], [])

    steps = np.arange(T)
    clock = Clock(
        u=np.clip(steps / (T - 1) + rng.uniform(-0.06, 0.06), 0.0, 1.0),
        t=steps / FPS * rng.uniform(0.8, 1.25),
        amp=float(rng.uniform(0.85, 1.15)),
        phase=float(rng.uniform(0.0, 2.0 * np.pi)),
    )
    scene = action_class.motion(clock)
    # each setup has its own camera height and tilt; each sample its own placement
    setup_rng = np.random.default_rng([config.seed, 2, fields.setup])
    pitch, aim = setup_rng.uniform(0.15, 0.35), setup_rng.uniform(-0.05, 0.15)
    # tripod height that puts the spine base of a person 3.1 m away at camera height `aim`, as in real files
    height = -STANDING_ANKLE_Y + 0.08 + (3.1 * math.sin(pitch) - aim) / math.cos(pitch)
    pitch += rng.uniform(-0.02, 0.02)
    view = _CAMERA_YAW[fields.camera] + rng.uniform(-0.15, 0.15)
    centre = np.array([rng.uniform(-0.3, 0.3), -height, rng.uniform(2.9, 3.5)])
    # the partner of a two-person action is not in the name; an id beyond NTU's 106 gives them a look
    looks = [performer_look(config.seed, fields.subject + 200 * a) for a in range(action_class.persons)]
    facing = (-np.pi / 2, np.pi / 2) if scene.facing else (np.pi / 2, -np.pi / 2)
    actors = []
    for a, (dofs, look) in enumerate(zip(scene.actors, looks, strict=True)):
        body = pose_body(dofs, T) * look.scale + look.offsets * look.scale
        yaw = view + (facing[a] if action_class.persons == 2 else 0.0)
        lateral = (a - 0.5) * scene.gap if action_class.persons == 2 else 0.0
        place = centre + _rot_y(np.array([view]))[0] @ np.array([lateral, 0.0, 0.0])
        place[1] += 0.08 - STANDING_ANKLE_Y * look.scale  # ankles 8 cm above the floor
        sway = 0.015 * np.sin(2 * np.pi * 0.3 * clock.t[:, None] + rng.uniform(0, 2 * np.pi, 3))
        scene_xyz = body @ _rot_y(np.array([yaw]))[0].T + place + sway[:, None, :]
        actors.append(_to_camera(scene_xyz, pitch) + rng.normal(0.0, 0.004, (T, 25, 3)))
    actors_xyz = np.stack(actors)
    return Sample(actors_xyz, _sensor_frames(plan, actors_xyz, rng), looks)


def _joint_rows(xyz: np.ndarray, yaw: float, rng: np.random.Generator) -> np.ndarray:
    """`(n, 25, 3)` -> `(n, 25, 12)` joint lines: xyz, depth, colour, orientation, tracking state."""
    depth, color = project_to_kinect(xyz)
    orientation = np.zeros(xyz.shape[:2] + (4,))
    orientation[..., 0], orientation[..., 2] = math.cos(yaw / 2), math.sin(yaw / 2)
    orientation[:, _END_JOINTS] = 0.0
    tracking = np.where(rng.random(xyz.shape[:2] + (1,)) < 0.03, 1.0, 2.0)  # a few "inferred" joints
    return np.concatenate([xyz, depth, color, orientation, tracking], axis=-1)


def _sensor_frames(plan: SamplePlan, actors: np.ndarray, rng: np.random.Generator) -> list[list[Reported]]:
    """What the sensor reports: the actors `(A, T, 25, 3)` plus the plan's noise, per frame."""
    A, T = actors.shape[:2]
    present = np.ones(T, bool)
    if "dropped_frames" in plan.noise:  # no body at the start and in a gap in the middle
        present[: rng.integers(1, 6)] = False
        gap = int(rng.integers(T // 3, 2 * T // 3))
        present[gap : gap + rng.integers(2, 8)] = False
    kept = np.flatnonzero(present)
    tracks: list[tuple[np.ndarray, np.ndarray]] = []  # (frame indices, (n, 25, 3)) per bodyID
    for a in range(A):
        visible = present.copy()
        if a == A - 1 and "vanishing_body" in plan.noise:  # lost for a few frames, then back (same bodyID)
            start = kept[int(rng.integers(len(kept) // 3, len(kept) // 2))]
            visible[start : start + rng.integers(3, 9)] = False
        tracks.append((np.flatnonzero(visible), actors[a, visible]))
    if "short_body" in plan.noise:  # a ghost of the first actor for 11 frames or fewer
        length = int(rng.integers(3, 12))
        first = int(rng.integers(0, len(kept) - length + 1))
        idx = kept[first : first + length]
        towards_centre = -np.sign(actors[0, idx, 0, 0].mean())  # keeps the ghost inside the picture
        shift = np.array([towards_centre * rng.uniform(0.4, 0.9), 0.0, rng.uniform(-0.2, 0.2)])
        tracks.append((idx, actors[0, idx] + shift + rng.normal(0.0, 0.02, (len(idx), 25, 3))))
    if "spread_body" in plan.noise:  # a flat "furniture" body, wider than tall in most frames
        length = int(rng.integers(max(12, len(kept) // 2), len(kept) + 1))
        first = int(rng.integers(0, len(kept) - length + 1))
        idx = kept[first : first + length]
        pattern = rng.uniform([-0.55, -0.12, -0.15], [0.55, 0.12, 0.15], (25, 3))
        xyz = np.broadcast_to(pattern, (length, 25, 3)).copy()
        tall = rng.choice(length, length // 8, replace=False)  # a few frames pass the spread test
        xyz[tall, :, 1] *= 5.0
        xyz += [rng.uniform(-1.0, 1.0), rng.uniform(-0.5, 0.1), rng.uniform(2.6, 3.8)]
        tracks.append((idx, xyz + rng.normal(0.0, 0.01, xyz.shape)))

    ids = 72057594037900000 + int(rng.integers(0, 90000)) + np.cumsum(rng.integers(1, 8, len(tracks)))
    frames: list[list[Reported]] = [[] for _ in range(T)]
    for body_id, (idx, xyz) in zip(ids.tolist(), tracks, strict=True):
        # no tool reads the joint orientations; a body-wide yaw keeps them valid unit quaternions
        rows = _joint_rows(xyz, float(rng.uniform(-np.pi, np.pi)), rng)
        for t, row in zip(idx.tolist(), rows, strict=True):
            frames[t].append((str(body_id), row))
    return frames


# ---------------------------------------------------------------- drawing body parts
# (LIP label, shape, points, width in metres, depth bias in metres); parts are painted far to near
# by their points' mean depth plus the bias, which keeps the torso behind limbs at the same depth.
# Points 25 and 26 are the hair and face centres added by _part_points.
_PARTS = (
    (UPPER_CLOTHES, "poly", (4, 8, 16, 12), 0.0, 0.06),
    (UPPER_CLOTHES, "line", (0, 1, 20, 2), 0.24, 0.06),
    (PANTS, "line", (12, 16), 0.16, 0.05),
    (PANTS, "line", (12, 13), 0.15, 0.0),
    (PANTS, "line", (16, 17), 0.15, 0.0),
    (LEFT_LEG, "line", (13, 14), 0.11, 0.0),
    (RIGHT_LEG, "line", (17, 18), 0.11, 0.0),
    (LEFT_SHOE, "line", (14, 15), 0.09, -0.01),
    (RIGHT_SHOE, "line", (18, 19), 0.09, -0.01),
    (UPPER_CLOTHES, "line", (4, 5), 0.10, 0.0),
    (UPPER_CLOTHES, "line", (8, 9), 0.10, 0.0),
    (LEFT_ARM, "line", (5, 6, 7, 21), 0.075, 0.0),
    (RIGHT_ARM, "line", (9, 10, 11, 23), 0.075, 0.0),
    (HAIR, "circle", (25,), 0.11, 0.0),
    (FACE, "circle", (26,), 0.085, 0.0),
)
_SHIFT = 2  # OpenCV fixed-point bits: sub-pixel positions keep small maps moving smoothly
# (27, parts) averaging matrix: a part's depth and scale are the means over its points
_PART_MEAN = np.array([[1.0 / len(part[2]) if j in part[2] else 0.0 for part in _PARTS] for j in range(27)])
_PART_WIDTH = np.array([part[3] for part in _PARTS])
_PART_BIAS = np.array([part[4] for part in _PARTS])


def _part_points(xyz: np.ndarray) -> np.ndarray:
    """`(..., 25, 3)` -> `(..., 27, 3)`: the joints plus hair and face centres, placed behind and in
    front of the head so that depth order shows the face or the back of the head."""
    up = xyz[..., 2, :] - xyz[..., 0, :]
    back = np.cross(xyz[..., 8, :] - xyz[..., 4, :], up)
    up /= np.linalg.norm(up, axis=-1, keepdims=True)
    back /= np.linalg.norm(back, axis=-1, keepdims=True) + 1e-9
    head = xyz[..., 3, :]
    hair = head + 0.03 * up + 0.035 * back
    face = head - 0.02 * up - 0.03 * back
    return np.concatenate([xyz, hair[..., None, :], face[..., None, :]], axis=-2)


@dataclass(frozen=True)
class Projected:
    """Actors `(A, T, 25, 3)` seen by the colour camera: `pixels` `(A, T, 27, 2)` of the part points,
    and per part the paint order key `depth` `(A, T, parts)` metres and the drawn `size` in pixels."""

    pixels: np.ndarray
    depth: np.ndarray
    size: np.ndarray

    @classmethod
    def of(cls, actors: np.ndarray) -> Projected:
        points = _part_points(actors)
        _, pixels = project_to_kinect(points)
        px_per_metre = COLOR_FOCAL / points[..., 2]
        depth = points[..., 2] @ _PART_MEAN + _PART_BIAS
        return cls(pixels, depth, (px_per_metre @ _PART_MEAN) * _PART_WIDTH)


def paint_bodies(canvas: np.ndarray, pixels: np.ndarray, depth: np.ndarray, size: np.ndarray,
                 color: Callable[[int, int], int | tuple[int, int, int]]) -> None:
    """Draw A bodies of one frame onto `canvas` in place, far parts first.

    `pixels` `(A, 27, 2)` canvas positions of the part points, `depth` `(A, parts)` paint order key,
    `size` `(A, parts)` line widths and circle radii in canvas pixels, `color(actor, lip_label)` the paint.
    """
    fixed = np.round(pixels * (1 << _SHIFT)).astype(np.int32)
    for flat in np.argsort(-depth.ravel(), kind="stable").tolist():
        a, k = divmod(flat, len(_PARTS))
        label, shape, pts, _, _ = _PARTS[k]
        paint = color(a, label)
        p = fixed[a, list(pts)]
        if shape == "poly":
            cv2.fillPoly(canvas, [p], paint, cv2.LINE_8, _SHIFT)
        elif shape == "line":
            cv2.polylines(canvas, [p], False, paint, max(1, round(float(size[a, k]))), cv2.LINE_8, _SHIFT)
        else:
            radius = max(1 << _SHIFT, round(float(size[a, k]) * (1 << _SHIFT)))
            cv2.circle(canvas, (int(p[0, 0]), int(p[0, 1])), radius, paint, -1, cv2.LINE_8, _SHIFT)


PARSING_SIZE = 119


def parsing_maps(actors: np.ndarray) -> np.ndarray:
    """LIP label maps of the actors `(A, T, 25, 3)`: uint8 `(T, 119, 119, 1)`.

    Like the real chain, each frame is the person box (the union box of all actors, from their colour
    pixels, plus a margin) scaled into the square map with its aspect kept and centred.
    """
    seen = Projected.of(actors)
    T = actors.shape[1]
    margin = 0.12 * COLOR_FOCAL / actors[:, :, 0, 2].mean(axis=0)  # (T,) pixels
    lo = seen.pixels.min(axis=(0, 2)) - margin[:, None]  # (T, 2)
    hi = seen.pixels.max(axis=(0, 2)) + margin[:, None]
    k = (PARSING_SIZE - 1) / (hi - lo).max(axis=1)  # (T,) map pixels per colour pixel
    local = (seen.pixels - (lo + hi)[:, None] / 2) * k[:, None, None] + (PARSING_SIZE - 1) / 2
    size = seen.size * k[:, None]
    maps = np.zeros((T, PARSING_SIZE, PARSING_SIZE, 1), np.uint8)
    for t in range(T):
        canvas = np.zeros((PARSING_SIZE, PARSING_SIZE), np.uint8)
        paint_bodies(canvas, local[:, t], seen.depth[:, t], size[:, t], lambda a, label: label)
        maps[t, :, :, 0] = canvas
    return maps


def write_video(path: Path, actors: np.ndarray, looks: list[Look]) -> None:
    """A 1920×1080 MJPG AVI of the actors `(A, T, 25, 3)` on a plain background, one frame per
    skeleton frame, body parts at the skeleton's colour pixels."""
    seen = Projected.of(actors)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, VIDEO_SIZE)
    if not writer.isOpened():
        raise RuntimeError(f"{path}: OpenCV cannot open an MJPG AVI writer here")
    background = np.full((VIDEO_SIZE[1], VIDEO_SIZE[0], 3), (200, 204, 206), np.uint8)
    try:
        for t in range(actors.shape[1]):
            frame = background.copy()
            paint_bodies(frame, seen.pixels[:, t], seen.depth[:, t], seen.size[:, t],
                         lambda a, label: looks[a].colors[label])
            writer.write(frame)
    finally:
        writer.release()


# ---------------------------------------------------------------- the whole dataset
SUMMARY_FILE = "synthetic.json"


def _output_files(out: Path, name: str) -> tuple[Path, Path, Path]:
    """The skeleton, parsing-map and video paths of sample `name`."""
    return (out / "skeletons" / f"{name}.skeleton", out / "parsing" / f"{name}.npy",
            out / "videos" / f"{name}_rgb.avi")


def _clear_previous(out: Path, plans: list[SamplePlan]) -> None:
    """Remove what an earlier run wrote into `out` (listed in its summary), so that a smaller dataset
    leaves no stale samples behind; refuse to mix with skeleton files that no run of ours wrote."""
    previous = out / SUMMARY_FILE
    ours = {p.name for p in plans}
    if previous.is_file():
        for sample in json.loads(previous.read_text())["samples"]:
            ours.add(sample["name"])
            for path in _output_files(out, sample["name"]):
                path.unlink(missing_ok=True)
    foreign = sorted(p.name for p in (out / "skeletons").glob("*.skeleton") if p.stem not in ours)
    if foreign:
        raise FileExistsError(
            f"{out / 'skeletons'} holds {len(foreign)} .skeleton files this generator did not write "
            f"(e.g. {foreign[0]}); use an empty folder"
        )


def generate(out_dir: str | Path, config: SyntheticConfig | None = None, *,
             progress: bool = True) -> dict[str, Any]:
    """Write the synthetic dataset into `out_dir` (see the module docstring); returns the summary that
    is also saved as `out_dir/synthetic.json`."""
    config = config or SyntheticConfig()
    plans = plan_samples(config)
    classes = config.action_classes()
    out = Path(out_dir)
    for sub in ("skeletons", "parsing", "videos"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    _clear_previous(out, plans)

    for plan in tqdm(plans, desc="synthetic NTU", unit="sample", disable=not progress):
        sample = synthesize(plan, config)
        skeleton_path, parsing_path, video_path = _output_files(out, plan.name)
        write_skeleton(skeleton_path, sample.frames, newline="\r\n" if plan.crlf else "\n")
        if plan.missing:
            continue
        if config.parsing:
            np.save(parsing_path, parsing_maps(sample.actors))
        if plan.video:
            write_video(video_path, sample.actors, sample.looks)

    summary = {
        "seed": config.seed,
        "config": asdict(config),
        "classes": [{"index": c, "action": a.action, "name": a.name, "persons": a.persons}
                    for c, a in enumerate(classes)],
        "samples": [
            {"name": p.name, "class": p.class_index, "action": classes[p.class_index].action,
             "frames": p.frames, "persons": 0 if p.missing else classes[p.class_index].persons,
             "noise": list(p.noise),
             "line_endings": "crlf" if p.crlf else "lf", "video": p.video, "missing": p.missing}
            for p in plans
        ],
        "missing": [p.name for p in plans if p.missing],
        "videos": [p.name for p in plans if p.video],
        "noise": {kind: [p.name for p in plans if kind in p.noise] for kind in NOISE_KINDS},
    }
    (out / SUMMARY_FILE).write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def main(argv: list[str] | None = None) -> int:
    defaults = SyntheticConfig()
    parser = argparse.ArgumentParser(prog="python -m data.synthetic", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--classes", type=int, default=defaults.classes, help="number of classes")
    parser.add_argument("--two-person-classes", type=int, default=defaults.two_person_classes)
    parser.add_argument("--samples-per-class", type=int, default=defaults.samples_per_class)
    parser.add_argument("--min-frames", type=int, default=defaults.min_frames)
    parser.add_argument("--max-frames", type=int, default=defaults.max_frames)
    parser.add_argument("--setups", type=int, default=defaults.setups, help="use setups 1..N")
    parser.add_argument("--videos", type=int, default=defaults.videos, help="samples that get an RGB video")
    parser.add_argument("--missing", type=int, default=defaults.missing, help="extra samples with no body")
    parser.add_argument("--noise-rate", type=float, default=defaults.noise_rate,
                        help="share of samples given each kind of noise: " + ", ".join(NOISE_KINDS))
    parser.add_argument("--crlf-rate", type=float, default=defaults.crlf_rate, help="share of CRLF files")
    parser.add_argument("--no-parsing", dest="parsing", action="store_false", help="skip the parsing maps")
    args = vars(parser.parse_args(argv))
    out = args.pop("out")
    config = SyntheticConfig(**args)
    try:
        config.validate()
    except ValueError as err:
        parser.error(str(err))
    summary = generate(out, config)
    print(f"wrote {len(summary['samples'])} samples ({len(summary['missing'])} without a body, "
          f"{len(summary['videos'])} videos) of {config.classes} classes to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
