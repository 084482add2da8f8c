"""The synthetic performers' body model and class motions, and the Kinect-like camera.

A class motion maps a :class:`Clock` to per-actor degrees of freedom (:class:`Scene`); :func:`pose_body`
turns them into NTU joints `(T, 25, 3)`; :func:`project_to_kinect` gives the sensor's pixels.

:data:`TWIN_CLASSES` are pairs of real NTU actions that share one motion and differ only in a garment
the performer puts on or takes off (a coat, a hat): what the skeleton cannot see and the parsing maps
and videos show. They are the classes where the parsing stream has something to add.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from data.actions import action_name

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


Worn = dict[int, np.ndarray]  # LIP label of a garment -> (T,) bool: worn in that frame


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


def _dress(c: Clock) -> Scene:
    """A jacket's motion, on or off alike: each arm in turn reaches back and comes forward again."""
    right, left = c.bump(0.12, 0.5, 0.12) * c.amp, c.bump(0.45, 0.85, 0.12) * c.amp
    return Scene([{"r_flex": -0.7 * right, "r_abd": 0.5 * right, "r_elbow": 1.3 * right,
                   "l_flex": -0.7 * left, "l_abd": 0.5 * left, "l_elbow": 1.3 * left,
                   "lean": 0.12 * (c.bump(0.12, 0.85, 0.2))}])


def _hat(c: Clock) -> Scene:
    """A hat's motion, on or off alike: the right hand goes to the top of the head and down again."""
    lift = c.bump(0.1, 0.75, 0.2) * c.amp
    return Scene([{"r_flex": 2.5 * lift, "r_elbow": 1.5 * lift, "r_abd": 0.15 * lift, "lean": 0.05 * lift}])


def _puts_on(label: int, at: float) -> Callable[[Clock], Worn]:
    return lambda c: {label: c.u >= at}


def _takes_off(label: int, at: float) -> Callable[[Clock], Worn]:
    return lambda c: {label: c.u < at}


def _wears_nothing(c: Clock) -> Worn:
    return {}


@dataclass(frozen=True)
class ActionClass:
    """An NTU action as the generator plays it: the motion and, per frame, the garments worn over the
    body (``wears(clock)``, LIP label -> `(T,)` bool; nothing for most classes)."""

    action: int  # NTU action id, 1-based (the reference label is action - 1)
    persons: int
    motion: Callable[[Clock], Scene]
    wears: Callable[[Clock], Worn] = _wears_nothing

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

# LIP labels (REFERENCE.md §8) of the garments the twin classes put on and take off
HAT, COAT = 1, 7
# Pairs with one motion: only the garment's timing differs (worn in the last 65 % / first 35 % of the
# clip, the smaller hat 80 % / 20 %), so the parsing maps show it in most frames of one twin and in few of
# the other.
TWIN_CLASSES = (
    ActionClass(14, 1, _dress, _puts_on(COAT, 0.35)),
    ActionClass(15, 1, _dress, _takes_off(COAT, 0.35)),
    ActionClass(20, 1, _hat, _puts_on(HAT, 0.2)),
    ActionClass(21, 1, _hat, _takes_off(HAT, 0.2)),
)
