"""Read the joints of an NTU ``.skeleton`` file per body, keeping every frame index of the file.

Unlike the pose preprocessing (REFERENCE.md §3.1), frames with zero bodies are *not* dropped here:
the frame index must stay aligned with the RGB video so that each video frame finds its joints.
Only what person boxes need is kept: camera-space x, y, z (to rank and denoise bodies) and colorX, colorY.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

NUM_JOINTS = 25
_BODY_FIELDS = 10
_JOINT_FIELDS = 12


@dataclass(frozen=True)
class SkeletonBody:
    """One tracked body: the file frames it appears in and its joints there."""

    body_id: str
    frames: np.ndarray  # (F,) int64 frame indices of the file, ascending
    xyz: np.ndarray  # (F, 25, 3) float32 camera-space x, y, z in metres
    color: np.ndarray  # (F, 25, 2) float32 colorX, colorY in pixels of the 1920x1080 video


@dataclass(frozen=True)
class SkeletonColors:
    """All bodies of one ``.skeleton`` file and its frame count."""

    path: Path
    num_frames: int
    bodies: list[SkeletonBody]


def read_skeleton_colors(path: str | Path) -> SkeletonColors:
    """Parse a ``.skeleton`` file (CRLF or LF) into per-body joint tracks; errors name the file and line."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: cannot read the skeleton file ({err})") from err

    cursor = 0

    def next_fields(expected: int | None, what: str) -> list[str]:
        nonlocal cursor
        if cursor >= len(lines):
            raise ValueError(f"{path}: file ends at line {cursor} while reading {what}")
        fields = lines[cursor].split()
        cursor += 1
        if expected is not None and len(fields) < expected:
            raise ValueError(f"{path}:{cursor}: expected {expected} fields for {what}, found {len(fields)}")
        return fields

    def next_int(what: str) -> int:
        fields = next_fields(1, what)
        try:
            return int(fields[0])
        except ValueError:
            raise ValueError(f"{path}:{cursor}: expected an integer {what}, found {fields[0]!r}") from None

    tracks: dict[str, tuple[list[int], list[np.ndarray]]] = {}
    num_frames = next_int("frame count")
    for frame in range(num_frames):
        for _ in range(next_int(f"body count of frame {frame}")):
            body_id = next_fields(_BODY_FIELDS, "a body line")[0]
            num_joints = next_int("joint count")
            if num_joints != NUM_JOINTS:
                raise ValueError(f"{path}:{cursor}: expected {NUM_JOINTS} joints, found {num_joints}")
            rows = [next_fields(_JOINT_FIELDS, "a joint line") for _ in range(NUM_JOINTS)]
            try:
                joints = np.array([[float(v) for v in row[:_JOINT_FIELDS]] for row in rows], dtype=np.float32)
            except ValueError as err:
                raise ValueError(f"{path}:{cursor}: non-numeric joint value ({err})") from None
            frames, values = tracks.setdefault(body_id, ([], []))
            frames.append(frame)
            values.append(joints)

    bodies = []
    for body_id, (frames, values) in tracks.items():
        joints = np.stack(values)  # (F, 25, 12)
        bodies.append(
            SkeletonBody(
                body_id=body_id,
                frames=np.asarray(frames, dtype=np.int64),
                xyz=joints[:, :, 0:3].copy(),
                color=joints[:, :, 5:7].copy(),
            )
        )
    return SkeletonColors(path=path, num_frames=num_frames, bodies=bodies)
