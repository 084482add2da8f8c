"""Write NTU RGB+D `.skeleton` text files (REFERENCE.md §2) from arrays.

The synthetic dataset writes every file through :func:`write_skeleton`, and tests use it to build
hand-made edge cases (empty frames, noise bodies, vanishing bodies) in the exact real format:

    body = SkeletonBody(body_id=72057594037931101, xyz=joints)   # joints: (25, 3) metres
    write_skeleton(path, [[body], [], [body]])                    # 3 frames, the middle one empty

Depth and colour pixel positions default to a pinhole projection fitted to real Kinect v2 files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

NUM_JOINTS = 25
# Fitted on the real fixtures: colorX ≈ 1050 x/z + 975, colorY ≈ 545 - 1058 y/z (1920×1080), and
# depthX ≈ 366 x/z + 259, depthY ≈ 209 - 366 y/z (512×424). The sensors' centres are offset in reality.
COLOR_FOCAL = 1054.0
COLOR_CENTER = (972.0, 545.0)
DEPTH_FOCAL = 366.4
DEPTH_CENTER = (259.0, 209.0)

# Kinect writes 7 significant digits (e.g. "0.2181153 3.785547 1036.233").
_JOINT_LINE = " ".join(["%.7g"] * 11) + " %d"
_BODY_LINE = "%d %d %d %d %d %d %d %.7g %.7g %d"


def project_kinect(xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Camera-space metres `(..., 3)` -> (depth pixels `(..., 2)` in 512×424, colour pixels `(..., 2)`
    in 1920×1080)."""
    xyz = np.asarray(xyz, dtype=np.float64)
    u = xyz[..., 0] / xyz[..., 2]
    v = xyz[..., 1] / xyz[..., 2]
    depth = np.stack([DEPTH_CENTER[0] + DEPTH_FOCAL * u, DEPTH_CENTER[1] - DEPTH_FOCAL * v], axis=-1)
    color = np.stack([COLOR_CENTER[0] + COLOR_FOCAL * u, COLOR_CENTER[1] - COLOR_FOCAL * v], axis=-1)
    return depth, color


@dataclass
class SkeletonBody:
    """One tracked body in one frame.

    `xyz` is `(25, 3)` camera-space metres; `depth_xy` / `color_xy` `(25, 2)` pixels default to
    :func:`project_kinect`; `orientation` `(25, 4)` quaternions (w, x, y, z) default to zeros;
    `tracking` `(25,)` joint tracking states (0 not tracked, 1 inferred, 2 tracked) default to 2.
    `hand_states` is handLeftConfidence, handLeftState, handRightConfidence, handRightState.
    """

    body_id: int
    xyz: np.ndarray
    depth_xy: np.ndarray | None = None
    color_xy: np.ndarray | None = None
    orientation: np.ndarray | None = None
    tracking: np.ndarray | None = None
    lean: tuple[float, float] = (0.0, 0.0)
    clipped_edges: int = 0
    hand_states: tuple[int, int, int, int] = (1, 1, 1, 1)
    is_restricted: int = 0
    tracking_state: int = 2
    _rows: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        xyz = np.asarray(self.xyz, dtype=np.float64)
        if xyz.shape != (NUM_JOINTS, 3):
            raise ValueError(f"body {self.body_id}: xyz must have shape (25, 3), found {xyz.shape}")
        depth, color = project_kinect(xyz)
        depth = depth if self.depth_xy is None else np.asarray(self.depth_xy, dtype=np.float64)
        color = color if self.color_xy is None else np.asarray(self.color_xy, dtype=np.float64)
        orientation = np.zeros((NUM_JOINTS, 4)) if self.orientation is None else self.orientation
        tracking = np.full(NUM_JOINTS, 2) if self.tracking is None else self.tracking
        self._rows = np.concatenate(
            [xyz, depth, color, np.asarray(orientation, np.float64), np.asarray(tracking)[:, None]], axis=1
        )
        if self._rows.shape != (NUM_JOINTS, 12):
            raise ValueError(
                f"body {self.body_id}: per-joint fields must give (25, 12) numbers, found {self._rows.shape}"
            )

    def lines(self) -> list[str]:
        """The body's 27 text lines: the 10-field body line, the joint count, 25 joint lines."""
        header = _BODY_LINE % (
            self.body_id, self.clipped_edges, *self.hand_states, self.is_restricted, *self.lean,
            self.tracking_state,
        )
        joints = [_JOINT_LINE % tuple(row) for row in self._rows.tolist()]
        return [header, str(NUM_JOINTS), *joints]


def format_skeleton(frames: Sequence[Sequence[SkeletonBody]]) -> list[str]:
    """Lines of a `.skeleton` file: frame count, then per frame the body count and each body."""
    lines = [str(len(frames))]
    for bodies in frames:
        lines.append(str(len(bodies)))
        for body in bodies:
            lines.extend(body.lines())
    return lines


def write_skeleton(path: str | Path, frames: Sequence[Sequence[SkeletonBody]], *, crlf: bool = False) -> None:
    """Write `frames` (per frame, the list of its bodies; an empty list is a frame with no body) as a
    `.skeleton` file with LF or, as some real files have, CRLF line endings."""
    newline = "\r\n" if crlf else "\n"
    text = newline.join(format_skeleton(frames)) + newline
    Path(path).write_bytes(text.encode("ascii"))
