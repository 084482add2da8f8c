"""Skeleton motion of one synthetic sample: performers, camera placement and the sensor's noise."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from data.ntu import parse_name
from data.synthetic.body import (
    _END_JOINTS,
    COAT,
    FPS,
    HAT,
    STANDING_ANKLE_Y,
    Clock,
    Worn,
    _rot_y,
    pose_body,
    project_to_kinect,
)
from data.synthetic.plan import SamplePlan, SyntheticConfig


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
)  # and the garments HAT (1), COAT (7) of data.synthetic.body
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
    # garments draw from their own stream, so that adding them left every other colour as it was
    garments = np.random.default_rng([seed, 4, subject])
    colors[COAT] = tuple(int(v) for v in garments.integers(30, 200, 3))
    colors[HAT] = tuple(int(v) for v in garments.integers(30, 230, 3))
    return Look(float(rng.uniform(0.92, 1.08)), rng.normal(0.0, 0.008, (25, 3)), colors)


Reported = tuple[str, np.ndarray]  # one body in one frame: bodyID and its (25, 12) joint-line numbers


@dataclass
class Sample:
    """A synthesised sample: `actors` `(A, T, 25, 3)` camera-space metres of the performers in every
    frame (what the video shows), `frames` the `.skeleton` content (per frame, `(bodyID, (25, 12))`
    pairs as the sensor reported them, noise included), the performers' looks and, per actor, the
    garments worn in each frame (which the sensor does not report)."""

    actors: np.ndarray
    frames: list[list[Reported]]
    looks: list[Look]
    worn: list[Worn]


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
        return Sample(np.zeros((0, T, 25, 3)), [[] for _ in range(T)], [], [])

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
    worn = [action_class.wears(clock), *({} for _ in range(1, action_class.persons))]
    return Sample(actors_xyz, _sensor_frames(plan, actors_xyz, rng), looks, worn)


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
