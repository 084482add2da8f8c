"""A synthetic data set in JHMDB's file format, for the tests of JHMDB readers.

    write_synthetic_jhmdb(out, classes, videos_per_class=3, frames=16, size=(320, 240), seed=0)

writes, for each class and video ``<class>_v<k>``:

- ``Rename_Images/<class>/<video>/00001.png ...``: a jointed figure on a textured background;
- ``puppet_mask/<class>/<video>/puppet_mask.mat``: ``part_mask`` uint8 ``(height, width, frames)``,
  1 = person (the figure's limbs and hull);
- ``joint_positions/<class>/<video>/joint_positions.mat``: ``pos_img`` ``(2, 15, frames)``, MATLAB's
  1-based pixel positions, in JHMDB's joint order (neck, belly, face, R/L shoulder, R/L hip, R/L elbow,
  R/L knee, R/L wrist, R/L ankle; ``pose_guidance.layouts.JHMDB15``), plus ``scale`` ``(1, frames)``;
- ``splits/<class>_test_split<k>.txt`` for k = 1, 2, 3: ``<video>.avi 1`` (train) or ``2`` (test), one
  test video per class and split, a different one in each split.

Each class holds its arms at its own angles and swings them at its own rate, so a frame's pose tells
the class; the figure's colour is the same for all classes. The layout is that of the official archives
(see JHMDB's ``README_puppet_mask.txt`` / ``README_joint_positions.txt``, quoted by
ShangwuYao/Pose-guided-action-recognition under ``c3d/``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import scipy.io

from pose_guidance.layouts import JHMDB15
from pose_guidance.maps import body_mask, limb_mask

SPLITS = (1, 2, 3)


def _pose(class_index: int, t: np.ndarray, width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """``(T, 15, 2)`` continuous pixel positions of the figure in JHMDB's joint order."""
    cls = np.random.default_rng([7, class_index])
    arm_base = cls.uniform(-2.6, 0.6, 2)  # right, left arm angles from straight down (radians)
    arm_swing, rate = cls.uniform(0.2, 0.9), cls.uniform(0.5, 2.0)
    unit = height / 8.0
    centre = np.stack([width / 2 + rng.uniform(-0.1, 0.1) * width + 0.02 * width * np.sin(t),
                       np.full_like(t, height * 0.45)], axis=-1)  # (T, 2) belly
    points = np.zeros((len(t), 15, 2))
    offsets = {0: (0, -1.4), 1: (0, 0), 2: (0, -2.0), 3: (-0.6, -1.3), 4: (0.6, -1.3), 5: (-0.4, 0.6),
               6: (0.4, 0.6), 9: (-0.45, 1.7), 10: (0.45, 1.7), 13: (-0.5, 2.8), 14: (0.5, 2.8)}
    for joint, (dx, dy) in offsets.items():
        points[:, joint] = centre + unit * np.array([dx, dy])
    for side, (shoulder, elbow, wrist) in enumerate(((3, 7, 11), (4, 8, 12))):
        angle = arm_base[side] * (1 if side == 0 else -1) + arm_swing * np.sin(rate * t + side)
        direction = np.stack([np.sin(angle), np.cos(angle)], axis=-1)
        points[:, elbow] = points[:, shoulder] + unit * 0.8 * direction
        points[:, wrist] = points[:, elbow] + unit * 0.8 * direction
    return points


def _frame(points: np.ndarray, size: tuple[int, int], background: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One BGR frame and its person mask from ``(15, 2)`` joints."""
    width, height = size
    thickness = max(2.0, height / 25)
    mask = body_mask(points, JHMDB15.limbs, size, thickness)
    limbs = limb_mask(points, JHMDB15.limbs, size, thickness * 1.5)
    image = background.copy()
    image[mask] = (60, 90, 200)
    image[limbs] = (40, 160, 230)
    cv2.circle(image, tuple(int(v) for v in points[2]), max(2, int(height / 16)), (120, 170, 230), -1)
    mask = mask | limbs
    head = np.zeros((height, width), np.uint8)
    cv2.circle(head, tuple(int(v) for v in points[2]), max(2, int(height / 16)), 1, -1)
    return image, mask | head.astype(bool)


def write_synthetic_jhmdb(out: str | Path, classes: Sequence[str], videos_per_class: int = 3, frames: int = 16,
                          size: tuple[int, int] = (320, 240), seed: int = 0) -> list[str]:
    """Write the data set (module docstring) into ``out``; returns the ``<class>/<video>`` names."""
    if videos_per_class < 2:
        raise ValueError(f"videos_per_class must be at least 2 (train and test), found {videos_per_class}")
    out = Path(out)
    width, height = size
    names = []
    for c, cls in enumerate(classes):
        for k in range(videos_per_class):
            video = f"{cls}_v{k}"
            rng = np.random.default_rng([seed, c, k])
            background = rng.integers(60, 200, (height // 8 + 1, width // 8 + 1, 3)).astype(np.uint8)
            background = cv2.resize(background, (width, height), interpolation=cv2.INTER_NEAREST)
            points = _pose(c, np.arange(frames) * 0.4 + rng.uniform(0, 6), width, height, rng)
            frame_dir = out / "Rename_Images" / cls / video
            frame_dir.mkdir(parents=True, exist_ok=True)
            masks = np.zeros((height, width, frames), np.uint8)
            for t in range(frames):
                image, mask = _frame(points[t], size, background)
                cv2.imwrite(str(frame_dir / f"{t + 1:05d}.png"), image)
                masks[:, :, t] = mask
            for folder, file, content in (
                ("puppet_mask", "puppet_mask.mat", {"part_mask": masks}),
                ("joint_positions", "joint_positions.mat",
                 {"pos_img": (points + 0.5).transpose(2, 1, 0), "scale": np.ones((1, frames)),
                  "viewpoint": "E"}),
            ):
                target = out / folder / cls / video
                target.mkdir(parents=True, exist_ok=True)
                scipy.io.savemat(str(target / file), content)
            names.append(f"{cls}/{video}")
    splits = out / "splits"
    splits.mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        for cls in classes:
            test = (split - 1) % videos_per_class
            lines = [f"{cls}_v{k}.avi {2 if k == test else 1}" for k in range(videos_per_class)]
            (splits / f"{cls}_test_split{split}.txt").write_text("\n".join(lines) + "\n")
    return names
