"""Reading (and, for tests and benchmarks, writing) NTU RGB+D ``.skeleton`` text files.

The format is REFERENCE.md §2; what is kept while reading is §3.1: frames without bodies are dropped,
bodies are keyed by bodyID in order of first appearance, and each body keeps its (x, y, z) joint
positions for the kept frames it appears in. Colours are not kept (the person-frame tools read them
themselves). Files may use CRLF or LF line endings.

Errors name the file and the 1-based line: :class:`SkeletonFormatError` for text that breaks the
format, :class:`BadSampleError` for well-formed files on which the reference chain fails.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

NUM_JOINTS = 25
BODY_FIELDS = 10
JOINT_FIELDS = 12
_NUMBER_BYTES = b"0123456789.-+eE \r\n"


class SkeletonError(Exception):
    """A skeleton file that cannot become a sample; the message starts with the file's path."""

    def __init__(self, path: str | Path, message: str) -> None:
        self.path = str(path)
        self.message = message
        super().__init__(f"{self.path}: {message}")

    def __reduce__(self):  # keeps the fields when a worker process sends the error back
        return (type(self), (self.path, self.message))


class SkeletonFormatError(SkeletonError):
    """The text breaks the ``.skeleton`` format at ``line`` (1-based)."""

    def __init__(self, path: str | Path, line: int, expected: str, found: str) -> None:
        self.line = line
        self.expected = expected
        self.found = found
        super().__init__(path, f"line {line}: expected {expected}, found {found}")

    def __reduce__(self):
        return (type(self), (self.path, self.line, self.expected, self.found))


class BadSampleError(SkeletonError):
    """A well-formed file on which the reference chain fails, e.g. every body is filtered out."""


@dataclass
class Body:
    """One bodyID of a sample.

    ``joints`` is (n, 25, 3) float32 over the n kept frames the body appears in. The reference's
    ``interval`` is ``start, start + 1, ..., start + n - 1``: a body that vanishes and comes back is
    treated as contiguous (§3.1), so its interval may end later than its real last frame.
    """

    body_id: str
    joints: np.ndarray
    start: int

    @property
    def num_frames(self) -> int:
        return len(self.joints)

    @property
    def end(self) -> int:
        return self.start + len(self.joints) - 1


@dataclass
class RawSkeleton:
    """A parsed file: ``num_frames`` kept frames (those with at least one body) and its bodies."""

    path: str
    declared_frames: int
    num_frames: int
    bodies: list[Body]


def _shown(line: bytes) -> str:
    text = line.decode("utf-8", errors="replace").strip()
    return repr(text) if text else "an empty line"


def read_skeleton(path: str | Path) -> RawSkeleton:
    """Parse a ``.skeleton`` file (REFERENCE.md §2, §3.1) into its bodies' (n, 25, 3) float32 joints.

    Raises :class:`SkeletonFormatError` naming the line for truncated files, wrong joint counts,
    non-numeric fields and non-finite coordinates. Text after the declared frames is ignored, as the
    reference does.
    """
    data = Path(path).read_bytes()
    # Well-formed files take the vectorised path; anything it does not vouch for (including every
    # broken file) is read line by line, which finds the offending line for the error message.
    fast = _read_regular(path, data)
    return fast if fast is not None else _read_checked(path, data)


def _bodies(
    path: str | Path, declared: int, kept: int, xyz: np.ndarray, block_ids: list[bytes], block_frames: list[int]
) -> RawSkeleton:
    """The parsed sample from each body-frame's joints ``xyz`` (blocks, 25, 3), bodyID and kept-frame index."""
    members: dict[bytes, list[int]] = {}
    for k, body_id in enumerate(block_ids):
        members.setdefault(body_id, []).append(k)
    bodies = [
        Body(body_id.decode("ascii", errors="replace"), xyz[blocks], block_frames[blocks[0]])
        for body_id, blocks in members.items()
    ]
    return RawSkeleton(str(path), declared, kept, bodies)


# The x, y, z fields of a joint line must lie in its first _XYZ_WINDOW bytes for the fast path (Kinect
# files use at most ~40); longer ones send the file to the line-by-line reader.
_XYZ_WINDOW = 64


def _read_regular(path: str | Path, data: bytes) -> RawSkeleton | None:
    """:func:`read_skeleton` of ``data`` if it is a regular Kinect file, else None (nothing is raised).

    Returns exactly what :func:`_read_checked` returns whenever it returns something: the structure is
    walked with the same int() and split() on the same lines, it only accepts joint blocks that the
    checked reader reads with its ``regular`` shortcut (joint text of number bytes and single spaces),
    and it hands NumPy's text reader the same x, y, z field bytes. Only those fields are cut out (at
    each joint line's first three spaces, found in a fixed window), so the reader converts a quarter of
    the text, and no Python object is made per joint line.
    """
    size = len(data)
    if size == 0:
        return None
    padded = np.zeros(size + _XYZ_WINDOW, dtype=np.uint8)  # zero bytes past the end fail every check
    padded[:size] = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(padded[:size] == ord("\n"))
    if data[-1:] != b"\n":  # the last line has no newline
        ends = np.append(ends, size)
    line_end = ends.tolist()
    n_lines = len(line_end)

    def line(i: int) -> bytes:
        return data[line_end[i - 1] + 1 if i else 0 : line_end[i]]

    other_spaces = 0  # spaces in the count and body lines walked so far

    def count(i: int) -> int:
        nonlocal other_spaces
        text = line(i)
        other_spaces += text.count(b" ")
        value = int(text)
        if value < 0:
            raise ValueError
        return value

    block_starts: list[int] = []
    block_frames: list[int] = []
    block_ids: list[bytes] = []
    kept = 0
    spaces_before_last_block = 0  # other_spaces when the last joint block was reached
    try:
        declared = count(0)
        i = 1
        for _ in range(declared):
            num_bodies = count(i)
            i += 1
            if num_bodies == 0:
                continue
            for _ in range(num_bodies):
                body_line = line(i)
                fields = body_line.split()
                if len(fields) != BODY_FIELDS or count(i + 1) != NUM_JOINTS or i + 2 + NUM_JOINTS > n_lines:
                    return None
                other_spaces += body_line.count(b" ")
                block_starts.append(i + 2)
                block_frames.append(kept)
                block_ids.append(fields[0])
                spaces_before_last_block = other_spaces
                i += 2 + NUM_JOINTS
            kept += 1
    except (ValueError, IndexError):  # a bad count line, or the file ends early
        return None
    if not block_starts:
        return _bodies(path, declared, kept, np.zeros((0, NUM_JOINTS, 3), dtype=np.float32), [], [])

    # The checked reader's `regular` test on the joint text: number bytes only (checked on the whole
    # file, which is stricter), and 11 spaces per joint line (all spaces up to the end of the last joint
    # line but those of the count and body lines in between). A CR must end a line: NumPy's reader
    # rejects a lone one.
    body_end = line_end[block_starts[-1] + NUM_JOINTS - 1]
    n_joint_lines = NUM_JOINTS * len(block_starts)
    if data.translate(None, _NUMBER_BYTES) or (
        np.count_nonzero(padded[:body_end] == ord(" ")) - spaces_before_last_block != (JOINT_FIELDS - 1) * n_joint_lines
    ):
        return None
    if data.find(b"\r") >= 0:
        returns = np.flatnonzero(padded[:size] == ord("\r"))
        if not (padded[returns + 1] == ord("\n")).all():
            return None

    ends_array = np.asarray(ends)
    joint_lines = (np.asarray(block_starts)[:, None] + np.arange(NUM_JOINTS)).ravel()
    starts = ends_array[joint_lines - 1] + 1
    windows = np.lib.stride_tricks.sliding_window_view(padded, _XYZ_WINDOW)[starts]  # (n, window) copy
    spaces = windows == ord(" ")
    rows = np.arange(n_joint_lines)
    previous = np.full(n_joint_lines, -1)
    for _ in range(3):  # the first three spaces end x, y and z; each field must be non-empty
        found = spaces.argmax(axis=1)
        if not (found > previous + 1).all() or not spaces[rows, found].all():
            return None
        spaces[rows, found] = False
        previous = found
    windows[rows, previous] = ord("\n")
    xyz_text = windows[np.arange(_XYZ_WINDOW) <= previous[:, None]]
    if np.count_nonzero(xyz_text == ord("\n")) != n_joint_lines:  # a line too short for three fields
        return None
    try:
        values = np.loadtxt(io.BytesIO(xyz_text.tobytes()), dtype=np.float64, comments=None, delimiter=" ", ndmin=2)
    except ValueError:
        return None
    if values.shape != (n_joint_lines, 3) or not np.isfinite(values).all():
        return None
    # The reference parses each number to float32 through a Python float, i.e. via float64.
    xyz = values.astype(np.float32).reshape(-1, NUM_JOINTS, 3)
    return _bodies(path, declared, kept, xyz, block_ids, block_frames)


def _read_checked(path: str | Path, data: bytes) -> RawSkeleton:
    """:func:`read_skeleton` line by line, raising the error that names the first offending line."""
    # CRLF files keep a b"\r" at the end of each line; int(), split() and the number reader skip it.
    lines = data.split(b"\n")
    if lines[-1] == b"":  # the final newline ends the last line; it does not start another
        lines.pop()
    n_lines = len(lines)

    def count(i: int, what: str) -> int:
        if i >= n_lines:
            raise SkeletonFormatError(path, i + 1, what, "the end of the file")
        try:
            value = int(lines[i])
        except ValueError:
            raise SkeletonFormatError(path, i + 1, what, _shown(lines[i])) from None
        if value < 0:
            raise SkeletonFormatError(path, i + 1, what, _shown(lines[i]))
        return value

    declared = count(0, "the frame count (an integer)")
    block_starts: list[int] = []  # line index of each body-frame's first joint line
    block_frames: list[int] = []  # kept-frame index of each body-frame
    block_ids: list[bytes] = []
    kept = 0
    i = 1
    for _ in range(declared):
        num_bodies = count(i, "a body count (an integer)")
        i += 1
        if num_bodies == 0:
            continue
        for _ in range(num_bodies):
            if i >= n_lines:
                raise SkeletonFormatError(
                    path, i + 1, f"a body line of {BODY_FIELDS} fields", "the end of the file"
                )
            fields = lines[i].split()
            if len(fields) != BODY_FIELDS:
                raise SkeletonFormatError(
                    path,
                    i + 1,
                    f"a body line of {BODY_FIELDS} fields",
                    f"{len(fields)} fields: {_shown(lines[i])}",
                )
            joints = count(i + 1, "the joint count 25")
            if joints != NUM_JOINTS:
                raise SkeletonFormatError(path, i + 2, "the joint count 25", str(joints))
            i += 2
            if i + NUM_JOINTS > n_lines:
                raise SkeletonFormatError(
                    path, n_lines + 1, f"{NUM_JOINTS} joint lines", "the end of the file"
                )
            block_starts.append(i)
            block_frames.append(kept)
            block_ids.append(fields[0])
            i += NUM_JOINTS
        kept += 1

    xyz = _joint_positions(path, lines, block_starts)
    return _bodies(path, declared, kept, xyz, block_ids, block_frames)


def _joint_positions(path: str | Path, lines: list[bytes], block_starts: list[int]) -> np.ndarray:
    """(blocks, 25, 3) float32 x, y, z of the 25-line joint blocks starting at ``block_starts``."""
    if not block_starts:
        return np.zeros((0, NUM_JOINTS, 3), dtype=np.float32)
    joint_lines: list[bytes] = []
    for start in block_starts:
        joint_lines += lines[start : start + NUM_JOINTS]
    text = b"\n".join(joint_lines)
    # NumPy's C text reader is several times faster than splitting lines in Python. Kinect files have
    # 12 fields separated by single spaces and only number characters; when that holds (two C-speed
    # byte scans) only x, y, z need converting. Anything else is read in full, and any failure goes
    # to the line-by-line check, which names the offending line.
    regular = text.count(b" ") == (JOINT_FIELDS - 1) * len(joint_lines) and not text.translate(
        None, _NUMBER_BYTES
    )
    try:
        values = np.loadtxt(
            io.BytesIO(text), dtype=np.float64, comments=None, ndmin=2, usecols=(0, 1, 2) if regular else None
        )
    except ValueError:
        values = None
    if values is None or values.shape[0] != len(joint_lines) or values.shape[1] not in (3, JOINT_FIELDS):
        _raise_joint_line_error(path, lines, block_starts)
    xyz = values[:, :3]
    finite = np.isfinite(xyz).all(axis=1)
    if not finite.all():
        row = int(np.flatnonzero(~finite)[0])
        line = block_starts[row // NUM_JOINTS] + row % NUM_JOINTS
        raise SkeletonFormatError(path, line + 1, "finite x, y, z", _shown(lines[line]))
    # The reference parses each number to float32 through a Python float, i.e. via float64.
    return xyz.astype(np.float32).reshape(-1, NUM_JOINTS, 3)


def _raise_joint_line_error(path: str | Path, lines: list[bytes], block_starts: list[int]) -> None:
    expected = f"a joint line of {JOINT_FIELDS} numbers"
    for start in block_starts:
        for line in range(start, start + NUM_JOINTS):
            fields = lines[line].split()
            if len(fields) != JOINT_FIELDS:
                raise SkeletonFormatError(
                    path, line + 1, expected, f"{len(fields)} fields: {_shown(lines[line])}"
                )
            for field in fields:
                try:
                    float(field)
                except ValueError:
                    raise SkeletonFormatError(
                        path, line + 1, expected, f"{field.decode(errors='replace')!r}"
                    ) from None
    raise SkeletonError(path, "the joint lines could not be read as numbers")


def format_skeleton(frames: Sequence[Sequence[tuple[str, np.ndarray]]], newline: str = "\n") -> str:
    """The ``.skeleton`` text of ``frames``: per frame a list of ``(bodyID, joints)`` pairs.

    ``joints`` is (25, 3) x, y, z (the other joint fields are written as plausible constants) or
    (25, 12) full joint lines. Used to build test and benchmark inputs in the real format.
    """
    out = [str(len(frames))]
    for bodies in frames:
        out.append(str(len(bodies)))
        for body_id, joints in bodies:
            joints = np.asarray(joints, dtype=np.float64)
            if joints.shape == (NUM_JOINTS, 3):
                full = np.zeros((NUM_JOINTS, JOINT_FIELDS))
                full[:, :3] = joints
                full[:, 3:5] = 256.0 + 100.0 * joints[:, :2]  # depthX, depthY
                full[:, 5:7] = 960.0 + 400.0 * joints[:, :2]  # colorX, colorY
                full[:, 7] = 1.0  # orientationW
                full[:, 11] = 2  # trackingState: tracked
                joints = full
            if joints.shape != (NUM_JOINTS, JOINT_FIELDS):
                raise ValueError(
                    f"body {body_id}: expected joints of shape (25, 3) or (25, 12), found {joints.shape}"
                )
            out.append(f"{body_id} 0 1 1 1 1 0 0.01 -0.2 2")
            out.append(str(NUM_JOINTS))
            # One %-format of all 300 values is ~3x faster than a format call per value; "%.7g" and
            # "%d" write exactly what f"{v:.7g}" and int() do.
            out.append(newline.join([_JOINT_LINE] * NUM_JOINTS) % tuple(joints.ravel().tolist()))
    return newline.join(out) + newline


_JOINT_LINE = " ".join(["%.7g"] * (JOINT_FIELDS - 1)) + " %d"


def write_skeleton(
    path: str | Path, frames: Sequence[Sequence[tuple[str, np.ndarray]]], newline: str = "\n"
) -> None:
    """Write :func:`format_skeleton` of ``frames`` to ``path``."""
    Path(path).write_bytes(format_skeleton(frames, newline).encode("ascii"))
