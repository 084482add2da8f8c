"""``python -m data.ntu prepare`` / ``export-npz`` end to end, and reading the results with open_split."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import data.prepare
from data.ntu.__main__ import main
from data.prepare import prepare
from data.preprocess import preprocess
from data.skeleton import SkeletonFormatError, read_skeleton, write_skeleton
from data.storage import open_split

A001 = "S001C001P001R001A001"  # one body, subject 1, camera 1
A058 = "S001C003P008R002A058"  # two bodies, subject 8, camera 3
BENCHMARK_NAMES = ("ntu60-xsub", "ntu60-xview", "ntu120-xsub", "ntu120-xset")


def _person(rng: np.random.Generator, frames: int) -> list[np.ndarray]:
    pose = np.stack([np.linspace(-0.2, 0.2, 25), np.linspace(-0.8, 0.7, 25), np.full(25, 3.0)], 1)
    return list(pose + np.cumsum(rng.normal(0, 0.01, (frames, 1, 3)), axis=0))


def _write_person(path: Path, frames: int, seed: int) -> Path:
    write_skeleton(
        path, [[("72057594037900001", joints)] for joints in _person(np.random.default_rng(seed), frames)]
    )
    return path


@pytest.fixture
def skeletons(ntu_fixtures: Path, tmp_path: Path) -> Path:
    """The two real files plus generated ones across setups, subjects and cameras, and a missing skeleton."""
    folder = tmp_path / "skeletons"
    folder.mkdir()
    for name in (A001, A058):
        shutil.copy(ntu_fixtures / "skeletons" / f"{name}.skeleton", folder)
    for k, name in enumerate(
        [
            "S002C002P003R001A010",
            "S017C001P040R002A060",
            "S018C003P045R001A090",
            "S032C002P106R002A120",
            "S001C002P001R001A002",
        ]
    ):
        _write_person(folder / f"{name}.skeleton", 20 + 7 * k, seed=k)
    write_skeleton(folder / "S003C001P002R001A005.skeleton", [[], [], []])  # missing skeleton
    return folder


def _outputs(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.glob("ntu*/*/*"))}


def test_prepare_real_fixtures_and_layout(ntu_fixtures: Path, tmp_path: Path) -> None:
    root = tmp_path / "prepared"
    assert (
        main(
            [
                "prepare",
                "--skeletons",
                str(ntu_fixtures / "skeletons"),
                "--out",
                str(root),
                "--benchmarks",
                ",".join(BENCHMARK_NAMES),
                "--workers",
                "2",
            ]
        )
        == 0
    )
    expected = {
        name: preprocess(read_skeleton(ntu_fixtures / "skeletons" / f"{name}.skeleton"))[0]
        for name in (A001, A058)
    }
    for benchmark in ("ntu60-xsub", "ntu120-xsub"):
        split = open_split(root, benchmark, "train")
        assert split.names == [A001, A058]  # subject 1 before subject 8
        assert split.labels.tolist() == [0, 57] and split.max_frames == 103
        assert split.num_classes == (60 if benchmark.startswith("ntu60") else 120)
        one, two = split[0], split[1]
        assert one.shape == (103, 150) and one.dtype == np.float32 and isinstance(one, np.memmap)
        np.testing.assert_array_equal(one[:, :75], expected[A001])
        # §3.5: NTU60 leaves the second actor zero, NTU120 copies the first
        np.testing.assert_array_equal(one[:, 75:], 0 if benchmark.startswith("ntu60") else expected[A001])
        np.testing.assert_array_equal(two, expected[A058])
        assert len(open_split(root, benchmark, "test")) == 0
    xview = open_split(root, "ntu60-xview", "test")
    assert xview.names == [A001]
    meta = json.loads((root / "ntu60-xview" / "train" / "meta.json").read_text())
    assert meta == {
        "benchmark": "ntu60-xview",
        "split": "train",
        "num_classes": 60,
        "num_samples": 1,
        "max_frames": 103,
    }


def test_line_endings_do_not_change_the_output(ntu_fixtures: Path, tmp_path: Path) -> None:
    converted = tmp_path / "converted"
    converted.mkdir()
    for name in (A001, A058):
        text = (ntu_fixtures / "skeletons" / f"{name}.skeleton").read_bytes()
        lf = text.replace(b"\r\n", b"\n")
        (converted / f"{name}.skeleton").write_bytes(lf if b"\r\n" in text else lf.replace(b"\n", b"\r\n"))
    prepare([ntu_fixtures / "skeletons"], tmp_path / "a", workers=1, progress=False)
    prepare([converted], tmp_path / "b", workers=1, progress=False)
    assert _outputs(tmp_path / "a") == _outputs(tmp_path / "b")


def test_splits_setups_and_missing_skeletons(skeletons: Path, tmp_path: Path) -> None:
    root = tmp_path / "prepared"
    summary = prepare([skeletons], root, workers=1, progress=False)
    assert (summary.ok, summary.missing, summary.bad) == (7, 1, 0)
    # NTU60 only uses setups 1-17; the NTU120 sets use all, grouped by the ID lists' order
    assert open_split(root, "ntu60-xview", "train").names == [
        "S001C002P001R001A002",
        "S002C002P003R001A010",
        A058,
    ]
    assert open_split(root, "ntu60-xsub", "test").names == ["S002C002P003R001A010", "S017C001P040R002A060"]
    assert open_split(root, "ntu120-xsub", "test").names[-1] == "S032C002P106R002A120"
    assert open_split(root, "ntu120-xset", "train").names == [
        "S002C002P003R001A010",
        "S018C003P045R001A090",
        "S032C002P106R002A120",
    ]
    assert open_split(root, "ntu60-xsub", "train").max_frames == 103
    assert open_split(root, "ntu120-xsub", "train").max_frames == 103
    report = json.loads((root / "report.json").read_text())
    assert report["missing_skeletons"] == ["S003C001P002R001A005"]
    assert report["samples"][A058]["decisions"][0]["actor"] == 1
    all_names = {n for b in BENCHMARK_NAMES for s in ("train", "test") for n in open_split(root, b, s).names}
    assert "S003C001P002R001A005" not in all_names


def test_only_needed_setups_are_parsed(skeletons: Path, tmp_path: Path) -> None:
    summary = prepare([skeletons], tmp_path / "p", ["ntu60-xsub"], workers=1, progress=False)
    assert summary.files == 6 and not (tmp_path / "p" / "ntu120-xsub").exists()


def _break(path: Path) -> None:
    rows = path.read_text().splitlines()
    rows[5] = rows[5].replace(" ", " x", 1)
    path.write_text("\n".join(rows) + "\n")


def test_bad_files_raise_or_are_recorded(skeletons: Path, tmp_path: Path, monkeypatch) -> None:
    bad = skeletons / "S002C002P003R001A010.skeleton"
    _break(bad)
    (skeletons / "notes.skeleton").write_text("1\n0\n")
    root = tmp_path / "prepared"
    with pytest.raises(Exception, match="notes"):
        prepare([skeletons], root, workers=1, progress=False)
    (skeletons / "notes.skeleton").unlink()
    with pytest.raises(
        SkeletonFormatError, match=r"S002C002P003R001A010.skeleton: line 6: expected a joint line"
    ):
        prepare([skeletons], root, workers=1, progress=False)
    assert main(["prepare", "--skeletons", str(skeletons), "--out", str(root), "--workers", "1"]) == 2  # user error

    parsed = []
    original = data.prepare.process_file
    monkeypatch.setattr(
        data.prepare, "process_file", lambda source: parsed.append(source.name) or original(source)
    )
    summary = prepare([skeletons], root, on_error="skip", workers=1, progress=False)
    # what finished before the error (the files sorted before it) was cached and is not parsed again
    assert parsed[0] == "S002C002P003R001A010" and not {A001, A058, "S001C002P001R001A002"} & set(parsed)
    assert summary.bad == 1 and summary.ok == 6
    report = json.loads((root / "report.json").read_text())
    assert (
        report["bad_files"][0]["name"] == "S002C002P003R001A010"
        and "line 6" in report["bad_files"][0]["error"]
    )
    assert "S002C002P003R001A010" not in open_split(root, "ntu60-xsub", "test").names


def test_resume_after_interruption(skeletons: Path, tmp_path: Path, monkeypatch) -> None:
    fresh = tmp_path / "fresh"
    prepare([skeletons], fresh, workers=1, progress=False)

    root = tmp_path / "resumed"
    parsed: list[str] = []
    original = data.prepare.process_file

    def interrupted(source):
        if len(parsed) == 3:
            raise KeyboardInterrupt
        parsed.append(source.name)
        return original(source)

    monkeypatch.setattr(data.prepare, "process_file", interrupted)
    with pytest.raises(KeyboardInterrupt):
        prepare([skeletons], root, workers=1, shard_size=2, progress=False)
    first = list(parsed)
    parsed.clear()
    monkeypatch.setattr(
        data.prepare, "process_file", lambda source: parsed.append(source.name) or original(source)
    )
    prepare([skeletons], root, workers=1, progress=False)
    assert len(first) == 3 and not set(first) & set(parsed) and len(first) + len(parsed) == 8
    assert _outputs(root) == _outputs(fresh)

    parsed.clear()
    (skeletons / f"{A001}.skeleton").touch()  # a changed file is parsed again
    prepare([skeletons], root, workers=1, progress=False)
    assert parsed == [A001] and _outputs(root) == _outputs(fresh)


def test_export_npz_round_trip(skeletons: Path, tmp_path: Path) -> None:
    root = tmp_path / "prepared"
    prepare([skeletons], root, ["ntu60-xsub", "ntu120-xset"], workers=1, progress=False)
    out = tmp_path / "NTU60_CS.npz"
    assert main(["export-npz", "--prepared", str(root), "--benchmark", "ntu60-xsub", "--out", str(out)]) == 0
    with np.load(out) as npz:
        assert npz["x_train"].shape == (3, 103, 150) and npz["x_train"].dtype == np.float32
        assert npz["y_test"].shape == (2, 60) and npz["y_test"].sum() == 2
    for split in ("train", "test"):
        prepared = open_split(root, "ntu60-xsub", split)
        exported = open_split(out, split=split)
        assert len(exported) == 0 or isinstance(exported[0], np.memmap)
        assert exported.names == [f"{split}_{i}" for i in range(len(prepared))]
        assert exported.labels.tolist() == prepared.labels.tolist() and exported.max_frames == 103
        for i in range(len(prepared)):
            np.testing.assert_array_equal(exported[i], prepared[i])
        named = open_split(out, split=split, names=root / "ntu60-xsub" / split / "names.txt")
        assert named.names == prepared.names
    with np.load(out) as npz:
        sample = open_split(root, "ntu60-xsub", "train")[2]
        np.testing.assert_array_equal(npz["x_train"][2, : len(sample)], sample)
        np.testing.assert_array_equal(npz["x_train"][2, len(sample) :], 0)


def test_open_split_reads_a_reference_npz_in_place(tmp_path: Path) -> None:
    x = np.zeros((2, 5, 150), dtype=np.float32)
    x[0, :3], x[1, :5] = 1, 2
    y = np.eye(60)[[4, 7]]
    path = tmp_path / "NTU60_CS.npz"
    np.savez(path, x_train=x, y_train=y, x_test=x[:1], y_test=y[:1])
    split = open_split(path, split="train")
    assert (split.names, split.labels.tolist(), split.num_classes, split.max_frames) == (
        ["train_0", "train_1"],
        [4, 7],
        60,
        5,
    )
    assert split[0].shape == (3, 150) and isinstance(split[0], np.memmap)  # trailing padding trimmed
    np.testing.assert_array_equal(split[1], x[1])
    with pytest.raises(ValueError, match="1 samples but 2 names"):
        open_split(path, split="test", names=["a", "b"])
