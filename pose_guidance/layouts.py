"""Keypoint layouts the pose-guided systems meet: joint names, the limbs drawn between them, dot colours.

* ``NTU25``: the Kinect v2 joints of NTU RGB+D (0-based; REFERENCE.md §2), limbs = the CTR-GCN bones.
* ``COCO17``: the COCO keypoints of 2D pose estimators (mmpose, HRNet), limbs = COCO's skeleton.
* ``JHMDB15``: JHMDB's ``joint_positions.mat`` order (neck, belly, face, R/L shoulder, R/L hip,
  R/L elbow, R/L knee, R/L wrist, R/L ankle).
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

from pose_branch.graph import INWARD


@dataclass(frozen=True)
class KeypointLayout:
    """Names of the ``J`` keypoints in order and the ``(a, b)`` index pairs of the limbs between them."""

    name: str
    joints: tuple[str, ...]
    limbs: tuple[tuple[int, int], ...]

    @property
    def num_joints(self) -> int:
        return len(self.joints)

    def colors(self) -> list[tuple[int, int, int]]:
        """One fixed, distinct RGB colour per joint (hues evenly spaced), the same on every call."""
        count = self.num_joints
        return [tuple(int(round(255 * c)) for c in colorsys.hsv_to_rgb(j / count, 1.0, 1.0)) for j in range(count)]


NTU25 = KeypointLayout(
    "ntu25",
    ("spine_base", "spine_mid", "neck", "head", "left_shoulder", "left_elbow", "left_wrist", "left_hand",
     "right_shoulder", "right_elbow", "right_wrist", "right_hand", "left_hip", "left_knee", "left_ankle",
     "left_foot", "right_hip", "right_knee", "right_ankle", "right_foot", "spine_shoulder", "left_hand_tip",
     "left_thumb", "right_hand_tip", "right_thumb"),
    INWARD,  # the CTR-GCN bones, 0-based
)

COCO17 = KeypointLayout(
    "coco17",
    ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder", "left_elbow",
     "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee",
     "left_ankle", "right_ankle"),
    ((15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7), (6, 8), (7, 9),
     (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6)),
)

JHMDB15 = KeypointLayout(
    "jhmdb15",
    ("neck", "belly", "face", "right_shoulder", "left_shoulder", "right_hip", "left_hip", "right_elbow",
     "left_elbow", "right_knee", "left_knee", "right_wrist", "left_wrist", "right_ankle", "left_ankle"),
    ((0, 1), (0, 2), (0, 3), (0, 4), (1, 5), (1, 6), (3, 7), (4, 8), (5, 9), (6, 10), (7, 11), (8, 12),
     (9, 13), (10, 14)),
)

LAYOUTS = {layout.name: layout for layout in (NTU25, COCO17, JHMDB15)}


def get_layout(name: str) -> KeypointLayout:
    if name not in LAYOUTS:
        raise ValueError(f"unknown keypoint layout {name!r}; expected one of {', '.join(LAYOUTS)}")
    return LAYOUTS[name]
