"""NTU names and splits, reading .skeleton files, and the §3 preprocessing against a plain transcription."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from data.ntu import BENCHMARKS, NtuName, parse_name, split_order
from data.preprocess import preprocess, second_actor_layout
from data.skeleton import BadSampleError, SkeletonFormatError, read_skeleton, write_skeleton

A001 = "S001C001P001R001A001"  # one body, 103 frames, LF
A058 = "S001C003P008R002A058"  # two bodies, 70 frames, CRLF


# ---------------------------------------------------------------------------------------------------------
# A plain transcription of REFERENCE.md §3.1-§3.4, in the reference's loop style, independent of data/.


def transcribed_chain(path: Path) -> np.ndarray:
    """The translated (T, 75 | 150) float32 frames of one file, or an exception where the reference fails."""
    with open(path, newline="") as f:
        rows = f.readlines()
    declared = int(rows[0].strip("\r\n"))
    bodies: dict[str, dict] = {}
    kept = -1
    line = 1
    for _ in range(declared):
        count = int(rows[line].strip("\r\n"))
        line += 1
        if count == 0:
            continue
        kept += 1
        for _ in range(count):
            body_id = rows[line].strip("\r\n").split()[0]
            joint_count = int(rows[line + 1].strip("\r\n"))
            line += 2
            joints = np.zeros((joint_count, 3), dtype=np.float32)
            for j in range(joint_count):
                joints[j] = np.array(rows[line].strip("\r\n").split()[:3], dtype=np.float32)
                line += 1
            if body_id not in bodies:
                bodies[body_id] = {"joints": joints, "interval": [kept]}
            else:
                body = bodies[body_id]
                body["joints"] = np.vstack((body["joints"], joints))
                body["interval"].append(body["interval"][-1] + 1)
    num_frames = kept + 1
    if len(bodies) > 1:
        for body in bodies.values():
            body["motion"] = np.sum(np.var(body["joints"], axis=0))

    def place(out, body, first_column):
        start, end = body["interval"][0], body["interval"][-1]
        out[start : end + 1, first_column : first_column + 75] = body["joints"].reshape(-1, 75)

    if len(bodies) == 1:
        out = np.zeros((num_frames, 75), dtype=np.float32)
        place(out, next(iter(bodies.values())), 0)
    else:
        for body_id in list(bodies):
            if len(bodies[body_id]["interval"]) <= 11:
                del bodies[body_id]
        if len(bodies) > 1:
            for body_id in list(bodies):
                if len(bodies) == 1:
                    break
                frames = bodies[body_id]["joints"].reshape(-1, 25, 3)
                valid = []
                for i in range(len(frames)):
                    x, y = frames[i, :, 0], frames[i, :, 1]
                    # NumPy 1.x (which the reference needs) computes 0.8 * float32-scalar in float64.
                    if (x.max() - x.min()) <= 0.8 * np.float64(y.max() - y.min()):
                        valid.append(i)
                noisy = len(frames) - len(valid)
                if noisy == 0:
                    continue
                if noisy / float(len(frames)) >= 0.69754:
                    del bodies[body_id]
                else:
                    less = np.sum(np.var(frames[valid].reshape(-1, 3), axis=0))
                    bodies[body_id]["motion"] = min(bodies[body_id]["motion"], less)
        ranked = sorted(bodies.items(), key=lambda item: item[1]["motion"], reverse=True)
        if len(ranked) == 1:
            out = np.zeros((num_frames, 75), dtype=np.float32)
            place(out, ranked[0][1], 0)
        else:
            out = np.zeros((num_frames, 150), dtype=np.float32)
            actor1 = ranked[0][1]  # IndexError when every body was dropped, as in the reference
            place(out, actor1, 0)
            start1, end1 = actor1["interval"][0], actor1["interval"][-1]
            start2, end2 = 0, 0
            for _, body in ranked[1:]:
                start, end = body["interval"][0], body["interval"][-1]
                if min(end1, end) - max(start1, start) <= 0:
                    place(out, body, 0)
                    start1, end1 = min(start, start1), max(end, end1)
                elif min(end2, end) - max(start2, start) <= 0:
                    place(out, body, 75)
                    start2, end2 = min(start, start2), max(end, end2)
        out = out[np.where(out.sum(axis=1) != 0)[0]]

    if out.shape[1] == 150:
        missing1 = np.where(out[:, :75].sum(axis=1) == 0)[0]
        missing2 = np.where(out[:, 75:].sum(axis=1) == 0)[0]
    i = 0
    while i < len(out):
        if np.any(out[i, :75] != 0):
            break
        i += 1
    origin = np.copy(out[i, 3:6])  # IndexError when actor 1 is never non-zero, as in the reference
    for f in range(len(out)):
        out[f] -= np.tile(origin, out.shape[1] // 3)
    if out.shape[1] == 150:
        out[missing1, :75] = 0
        out[missing2, 75:] = 0
    return out


# ---------------------------------------------------------------------------------------------------------
# Generated noisy scenes in the real text format.

_REST_POSE = np.stack(
    [np.sin(np.arange(25)) * 0.25, np.linspace(-0.8, 0.7, 25), np.cos(np.arange(25)) * 0.1], 1
)


def body_track(
    rng: np.random.Generator, frames: int, noisy_share: float = 0.0, x0: float = 0.0
) -> np.ndarray:
    """(frames, 25, 3) joints of a person walking a little; ``noisy_share`` of frames are x-stretched."""
    drift = np.cumsum(rng.normal(0, 0.01, (frames, 1, 3)), axis=0)
    joints = _REST_POSE + drift + rng.normal(0, 0.005, (frames, 25, 3)) + np.array([x0, 0.0, 3.0])
    noisy = rng.random(frames) < noisy_share
    joints[noisy, :, 0] = x0 + (joints[noisy, :, 0] - x0) * 8.0
    return joints


def write_scene(
    path: Path, tracks: dict[str, tuple[list[int], np.ndarray]], num_frames: int, newline: str = "\n"
) -> Path:
    """Write bodies ``{bodyID: (frame indices, (n, 25, 3) joints)}`` as a .skeleton of ``num_frames``."""
    frames: list[list] = [[] for _ in range(num_frames)]
    for body_id, (indices, joints) in tracks.items():
        for k, f in enumerate(indices):
            frames[f].append((body_id, joints[k]))
    write_skeleton(path, frames, newline)
    return path


def random_scene(rng: np.random.Generator, path: Path) -> Path:
    """A sample with 1-4 bodies of random spans, gaps, lengths and spread noise, and empty frames."""
    num_frames = int(rng.integers(20, 60))
    tracks = {}
    for b in range(int(rng.integers(1, 5))):
        start = int(rng.integers(0, num_frames - 5))
        end = int(rng.integers(start + 1, num_frames + 1))
        indices = list(range(start, end))
        if rng.random() < 0.3:  # vanishes for a while and comes back
            cut = int(rng.integers(start, end))
            indices = [f for f in indices if not cut <= f < cut + 6]
        share = float(rng.choice([0.0, 0.0, 0.3, 0.9]))
        tracks[f"7205759403794{b:04d}"] = (indices, body_track(rng, len(indices), share, x0=0.8 * b - 1.0))
    return write_scene(path, tracks, num_frames)


SCENES = {
    # two people, one short-lived ghost, zero-body frames at both ends
    "length": lambda rng: (
        {
            "1": (list(range(3, 40)), body_track(rng, 37)),
            "2": (list(range(5, 40)), body_track(rng, 35, x0=1.0)),
            "3": (list(range(10, 18)), body_track(rng, 8, x0=-1.0)),
        },
        43,
    ),
    # a stretched (noisy) body is dropped by spread; another gets its motion lowered
    "spread": lambda rng: (
        {
            "1": (list(range(30)), body_track(rng, 30, 0.9)),
            "2": (list(range(30)), body_track(rng, 30, 0.25, x0=1.0)),
            "3": (list(range(30)), body_track(rng, 30, x0=-1.0)),
        },
        30,
    ),
    # actor 1 is two bodies one after the other, actor 2 overlaps, a fourth overlaps both: dropped
    "actors": lambda rng: (
        {
            "1": (list(range(0, 25)), body_track(rng, 25)),
            "2": (list(range(24, 50)), body_track(rng, 26)),
            "3": (list(range(5, 45)), body_track(rng, 40, x0=1.0)),
            "4": (list(range(10, 30)), body_track(rng, 20, x0=-1.0)),
        },
        50,
    ),
    # a body vanishes and returns (treated as contiguous); frames with no body in between
    "gap": lambda rng: (
        {
            "1": ([*range(0, 15), *range(25, 40)], body_track(rng, 30)),
            "2": (list(range(0, 20)), body_track(rng, 20, x0=1.0)),
        },
        40,
    ),
    # one body only, with empty frames: a 75-wide sample that keeps all its frames
    "single": lambda rng: ({"1": ([*range(0, 10), *range(14, 30)], body_track(rng, 26))}, 30),
}


@pytest.mark.parametrize("scene", sorted(SCENES))
def test_denoising_branches_match_transcription(scene: str, tmp_path: Path) -> None:
    tracks, num_frames = SCENES[scene](np.random.default_rng(7))
    path = write_scene(tmp_path / f"{scene}.skeleton", tracks, num_frames)
    frames, log = preprocess(read_skeleton(path))
    np.testing.assert_array_equal(frames, transcribed_chain(path))
    decisions = [(d["action"], d.get("rule"), d.get("actor")) for d in log.get("decisions", [])]
    expected = {
        "length": ("dropped", "length", None),
        "spread": ("dropped", "spread", None),
        "actors": ("dropped", "overlaps both actors", None),
        "gap": ("actor", None, 2),
    }
    if scene in expected:
        assert expected[scene] in decisions
    if scene == "spread":
        assert ("motion", "spread", None) in decisions
    if scene == "single":
        assert frames.shape == (26, 75) and "decisions" not in log


def test_random_noisy_samples_match_transcription(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    seen = set()
    for k in range(60):
        path = random_scene(rng, tmp_path / f"{k}.skeleton")
        try:
            expected = transcribed_chain(path)
        except IndexError:
            with pytest.raises(BadSampleError, match=str(path)):
                preprocess(read_skeleton(path))
            seen.add("bad")
            continue
        frames, log = preprocess(read_skeleton(path))
        np.testing.assert_array_equal(frames, expected, err_msg=str(path))
        seen |= {(d["action"], d.get("rule")) for d in log.get("decisions", [])}
        seen.add(frames.shape[1])
    assert {
        ("dropped", "length"),
        ("dropped", "spread"),
        ("motion", "spread"),
        ("actor", None),
        75,
        150,
    } <= seen


def test_real_fixtures_match_transcription(ntu_fixtures: Path) -> None:
    for name, shape in ((A001, (103, 75)), (A058, (70, 150))):
        path = ntu_fixtures / "skeletons" / f"{name}.skeleton"
        frames, _ = preprocess(read_skeleton(path))
        assert frames.shape == shape and frames.dtype == np.float32
        np.testing.assert_array_equal(frames, transcribed_chain(path))
        np.testing.assert_array_equal(frames[0, 3:6], 0)  # joint 2 of actor 1 is the origin


def test_crlf_and_lf_read_the_same(ntu_fixtures: Path, tmp_path: Path) -> None:
    for name in (A001, A058):
        original = (ntu_fixtures / "skeletons" / f"{name}.skeleton").read_bytes()
        lf = original.replace(b"\r\n", b"\n")
        converted = tmp_path / f"{name}.skeleton"
        converted.write_bytes(lf if b"\r\n" in original else lf.replace(b"\n", b"\r\n"))
        a, b = read_skeleton(ntu_fixtures / "skeletons" / f"{name}.skeleton"), read_skeleton(converted)
        assert [x.body_id for x in a.bodies] == [x.body_id for x in b.bodies]
        for x, y in zip(a.bodies, b.bodies, strict=True):
            np.testing.assert_array_equal(x.joints, y.joints)


def test_real_fixture_values(ntu_fixtures: Path) -> None:
    raw = read_skeleton(ntu_fixtures / "skeletons" / f"{A001}.skeleton")
    assert raw.num_frames == 103 and [b.body_id for b in raw.bodies] == ["72057594037931101"]
    np.testing.assert_array_equal(raw.bodies[0].joints[0, 0], np.float32([0.2181153, 0.1725972, 3.785547]))


def test_empty_frames_are_dropped_and_renumbered(tmp_path: Path) -> None:
    joints = body_track(np.random.default_rng(1), 2)
    path = tmp_path / "s.skeleton"
    write_skeleton(path, [[], [("1", joints[0])], [], [("1", joints[1])], []])
    raw = read_skeleton(path)
    assert (raw.declared_frames, raw.num_frames, raw.bodies[0].start) == (5, 2, 0)
    frames, log = preprocess(raw)
    assert frames.shape == (2, 75) and log == {"empty_frames_dropped": 3}


def test_all_bodies_filtered_is_a_bad_sample(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    path = write_scene(
        tmp_path / "short.skeleton",
        {"1": (list(range(8)), body_track(rng, 8)), "2": (list(range(8)), body_track(rng, 8))},
        8,
    )
    with pytest.raises(BadSampleError, match="short.skeleton.*11 or fewer"):
        preprocess(read_skeleton(path))


def _joint_line(rows: list[str], k: int, edit) -> list[str]:
    """``rows`` with its k-th joint line (counting from 0 over the file) replaced by ``edit(line)``."""
    index = [i for i, row in enumerate(rows) if row.count(" ") == 11][k]
    return rows[:index] + [edit(rows[index])] + rows[index + 1 :]


@pytest.mark.parametrize(
    ("edit", "fast"),
    [
        (lambda rows: rows, True),
        (lambda rows: rows + ["trailing text the reader ignores"], False),  # read, but not by the fast path
        (lambda rows: _joint_line(rows, 3, lambda r: "1.5e-05 -2E+01 " + r.split(" ", 2)[2]), True),
        (lambda rows: _joint_line(rows, 3, lambda r: r.replace(" ", "  ", 1)), False),  # double space
        (lambda rows: _joint_line(rows, 3, lambda r: r.replace(" ", "\t", 5)), False),  # tabs
        (lambda rows: _joint_line(rows, 3, lambda r: r + " 7"), False),  # 13 fields: an error
        # 11 and 13 fields balance the space count; the checked reader's shortcut accepts this
        (lambda rows: _joint_line(_joint_line(rows, 3, lambda r: r + " 7"), 4, lambda r: r.rsplit(" ", 1)[0]), True),
        (lambda rows: _joint_line(rows, 5, lambda r: r.replace(" ", "\r", 1)), False),  # a lone CR: an error
        (lambda rows: _joint_line(rows, 5, lambda r: r.replace(" ", "", 1)), False),  # x and y run together
        (lambda rows: _joint_line(rows, 5, lambda r: "0." + "1" * 70 + " " + r.split(" ", 1)[1]), False),  # long x
        (lambda rows: _joint_line(rows, 6, lambda r: "1e400 " + r.split(" ", 1)[1]), False),  # inf: an error
        (lambda rows: _joint_line(rows, 6, lambda r: "1.2.3 " + r.split(" ", 1)[1]), False),  # an error
        (lambda rows: _joint_line(rows, 6, lambda r: r.split(" ", 1)[0] + " 1.2.3 " + r.split(" ", 2)[2]), False),
        (lambda rows: _joint_line(rows, 6, lambda r: r.rsplit(" ", 1)[0] + " 1.2.3"), True),  # not x, y, z
        (lambda rows: rows[:-1], False),  # truncated: an error
    ],
)
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_fast_and_checked_readers_agree(ntu_fixtures: Path, tmp_path: Path, edit, fast: bool, newline: str) -> None:
    """The vectorised reader returns what the line-by-line one does, or leaves the file to it."""
    from data.skeleton import SkeletonError, _read_checked, _read_regular

    path = tmp_path / f"{A001}.skeleton"
    path.write_bytes((newline.join(edit(_lines_of(ntu_fixtures))) + newline).encode())
    data = path.read_bytes()
    quick = _read_regular(path, data)
    assert (quick is not None) == fast
    try:
        checked = _read_checked(path, data)
    except SkeletonError:
        assert quick is None
        return
    if quick is not None:
        assert (quick.path, quick.declared_frames, quick.num_frames) == (
            checked.path,
            checked.declared_frames,
            checked.num_frames,
        )
        assert [b.body_id for b in quick.bodies] == [b.body_id for b in checked.bodies]
        for a, b in zip(quick.bodies, checked.bodies, strict=True):
            assert a.start == b.start and a.joints.dtype == b.joints.dtype
            assert a.joints.tobytes() == b.joints.tobytes()


# ---------------------------------------------------------------------------------------------------------
# Format errors name the file and the line.


def _lines_of(fixtures: Path) -> list[str]:
    return (fixtures / "skeletons" / f"{A001}.skeleton").read_text().splitlines()


@pytest.mark.parametrize(
    ("edit", "line", "found"),
    [
        (lambda rows: rows[:100], 101, "end of the file"),  # truncated inside a joint block
        (lambda rows: rows[:2], 3, "end of the file"),  # truncated after a body count
        (lambda rows: rows[:2] + [rows[2], "24"] + rows[4:], 4, "24"),  # wrong joint count
        (lambda rows: rows[:10] + [rows[10].replace("0.", "x.", 1)] + rows[11:], 11, "x."),  # non-numeric
        (lambda rows: rows[:10] + [rows[10].rsplit(" ", 1)[0]] + rows[11:], 11, "11 fields"),  # short line
        (
            lambda rows: rows[:10] + ["nan " + rows[10].split(" ", 1)[1]] + rows[11:],
            11,
            "nan",
        ),  # NaN coordinate
        (lambda rows: rows[:1] + ["two"] + rows[2:], 2, "two"),  # non-numeric body count
        (lambda rows: [], 1, "empty line"),  # empty file
    ],
)
def test_format_errors_name_file_and_line(
    ntu_fixtures: Path, tmp_path: Path, edit, line: int, found: str
) -> None:
    path = tmp_path / f"{A001}.skeleton"
    path.write_text("\n".join(edit(_lines_of(ntu_fixtures))) + "\n")
    with pytest.raises(SkeletonFormatError) as caught:
        read_skeleton(path)
    assert caught.value.line == line and found in caught.value.found
    assert str(path) in str(caught.value) and f"line {line}" in str(caught.value)


def test_errors_survive_pickling() -> None:
    import pickle

    err = pickle.loads(pickle.dumps(SkeletonFormatError("a.skeleton", 3, "25", "24")))
    assert (err.path, err.line, str(err)) == ("a.skeleton", 3, "a.skeleton: line 3: expected 25, found 24")


# ---------------------------------------------------------------------------------------------------------
# Names, benchmarks, split order.


def test_parse_name() -> None:
    assert parse_name("S017C002P040R002A060") == NtuName(17, 2, 40, 2, 60)
    assert parse_name(A001).label == 0
    for bad in ("S001C001P001R001A001.skeleton", "S001C004P001R001A001", "S033C001P001R001A001", "x"):
        with pytest.raises(ValueError, match="S"):
            parse_name(bad)


def test_split_order_groups_by_id_list_order() -> None:
    names = [
        "S001C001P002R001A001",
        "S001C002P001R001A001",
        "S002C001P001R001A002",
        "S001C001P001R002A001",
        "S001C001P003R001A001",
        "S018C001P001R001A001",
        "S001C001P001R001A061",
    ]
    xsub = BENCHMARKS["ntu60-xsub"]
    # train ids start 1, 2: subject 1 in sorted order, then subject 2; setup 18 and A061 are NTU120 only
    assert split_order(names, xsub, "train") == [
        "S001C001P001R002A001",
        "S001C002P001R001A001",
        "S002C001P001R001A002",
        "S001C001P002R001A001",
    ]
    assert split_order(names, xsub, "test") == ["S001C001P003R001A001"]
    xview = BENCHMARKS["ntu60-xview"]
    assert split_order(names, xview, "train") == ["S001C002P001R001A001"]
    xset = BENCHMARKS["ntu120-xset"]
    assert split_order(names, xset, "train") == ["S002C001P001R001A002", "S018C001P001R001A001"]
    assert split_order(names, xset, "test") == [
        "S001C001P001R001A061",
        "S001C001P001R002A001",
        "S001C001P002R001A001",
        "S001C001P003R001A001",
        "S001C002P001R001A001",
    ]


def test_benchmark_id_lists() -> None:
    xsub120 = BENCHMARKS["ntu120-xsub"]
    assert len(xsub120.train_ids) == 53 and sorted(xsub120.train_ids + xsub120.test_ids) == list(
        range(1, 107)
    )
    assert BENCHMARKS["ntu120-xset"].test_ids == tuple(range(1, 33, 2))
    assert [b.max_setup for b in BENCHMARKS.values()] == [17, 17, 32, 32]


def test_second_actor_zero_for_ntu60_copy_for_ntu120() -> None:
    one = np.arange(2 * 75, dtype=np.float32).reshape(2, 75)
    np.testing.assert_array_equal(second_actor_layout(one, copy_first_actor=False)[:, 75:], 0)
    np.testing.assert_array_equal(second_actor_layout(one, copy_first_actor=True)[:, 75:], one)
    two = np.ones((2, 150), dtype=np.float32)
    assert second_actor_layout(two, copy_first_actor=True) is two
