"""A ``--val_sample`` list names score rows by position, so ``ensemble.py`` checks its order wherever the
split's order is known: from ``--benchmark`` (REFERENCE.md §3.6) or from score files keyed by name."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from data.ntu import BENCHMARKS, split_order
from ensemble import main
from fusion import get_benchmark
from tests.test_ensemble import dump, labels_of, noisy_logits, ntu_names

PROJECT = Path(__file__).resolve().parents[1]
CLASSES = 10


def write_scores(folder: Path, names: list[str], *, named: tuple[str, ...] = ("parsing",),
                 orders: dict[str, list[str]] | None = None, classes: int = CLASSES) -> dict[str, Path]:
    """A joint file keyed test_i (row i is ``names[i]``) and files keyed by name (in ``orders[stream]``,
    default ``names``): the reference chain's mix."""
    rng = np.random.default_rng(0)
    labels = labels_of(names)
    paths = {"joint": dump(folder / "joint.pkl", {f"test_{i}": row for i, row in
                                                 enumerate(noisy_logits(labels, classes, 2.0, rng))})}
    for stream in named:
        rows = dict(zip(names, noisy_logits(labels, classes, 2.0, rng), strict=True))
        paths[stream] = dump(folder / f"{stream}.pkl", {n: rows[n] for n in (orders or {}).get(stream, names)})
    return paths


def write_list(path: Path, names: list[str]) -> Path:
    path.write_text("".join(f"{n}\n" for n in names))
    return path


def argv(paths: dict[str, Path], sample_list: Path, *extra: str) -> list[str]:
    return [*(f"--score={s}={p}:1" for s, p in paths.items()), "--val_sample", str(sample_list), *extra]


def one_error_line(args: list[str], capsys: pytest.CaptureFixture) -> str:
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("ensemble.py: error: "), err
    return err


def first_difference(a: list[str], b: list[str]) -> int:
    return next(i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y)


# -- the benchmark's split order --------------------------------------------------------------------


def test_a_sorted_list_is_not_the_cross_subject_order(tmp_path: Path) -> None:
    names = ntu_names(120, 60, benchmark="NTU60XSub")  # split order: by subject in the list's order
    assert names == split_order(names, BENCHMARKS["ntu60-xsub"], "test") and names != sorted(names)
    paths = write_scores(tmp_path, names, classes=60)
    good = write_list(tmp_path / "names.txt", names)
    bad = write_list(tmp_path / "sorted.txt", sorted(names))  # IPP-Net's parsing list: the same set, sorted
    i = first_difference(sorted(names), names)

    def ensemble(sample_list: Path) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "ensemble.py", "--benchmark", "NTU60XSub", *argv(paths, sample_list)],
                              cwd=PROJECT, capture_output=True, text=True, timeout=120)

    assert ensemble(good).returncode == 0
    result = ensemble(bad)
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"ensemble.py: error: {bad}: not in the NTU60 XSub test split's order")
    assert f"at position {i} (test_{i}) it has {sorted(names)[i]} where the split order has {names[i]}" in lines[0]


@pytest.mark.parametrize("benchmark", ["NTU60XView", "NTU120XSub", "NTU120XSet"])
def test_every_benchmark_knows_its_order(tmp_path: Path, capsys: pytest.CaptureFixture, benchmark: str) -> None:
    classes = BENCHMARKS[get_benchmark(benchmark).folder].num_classes
    names = ntu_names(2 * classes, classes, benchmark=benchmark)
    paths = write_scores(tmp_path, names, classes=classes)
    assert main(["--benchmark", benchmark, *argv(paths, write_list(tmp_path / "names.txt", names))]) == 0
    swapped = [names[1], names[0], *names[2:]]
    err = one_error_line(["--benchmark", benchmark, *argv(paths, write_list(tmp_path / "swapped.txt", swapped))],
                         capsys)
    assert f"at position 0 (test_0) it has {names[1]} where the split order has {names[0]}" in err


def test_names_of_other_splits_are_listed(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    names = ntu_names(60, 60, benchmark="NTU60XSub")
    train = ["S001C001P001R001A001", "S002C002P002R002A002"]  # subjects 1 and 2 are training subjects
    listed_names = [*names[:10], *train, *names[10:]]
    paths = write_scores(tmp_path, listed_names, named=(), classes=60)
    listed = write_list(tmp_path / "names.txt", listed_names)
    err = one_error_line(["--benchmark", "NTU60XSub", *argv(paths, listed)], capsys)
    assert f"{listed}: 2 of 62 names are not samples of the NTU60 XSub test split" in err
    assert f"e.g. {train[0]}, {train[1]}" in err


def test_validation_lists_are_not_held_to_the_test_order(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    test_names = ntu_names(60, 60, benchmark="NTU60XSub")
    val_names = ntu_names(60, 60, seed=1, subjects=(1, 3))  # held out of training: subjects 1, 2, sorted
    (tmp_path / "val").mkdir()
    test = write_scores(tmp_path, test_names, classes=60)
    val = write_scores(tmp_path / "val", val_names, classes=60)
    args = ["--benchmark", "NTU60XSub", *argv(test, write_list(tmp_path / "names.txt", test_names)),
            "--search-weights", "--val-sample-list", str(write_list(tmp_path / "val.txt", val_names))]
    assert main([*args, *(f"--val-score={s}={p}" for s, p in val.items())]) == 0
    assert "weights searched on validation (60 samples" in capsys.readouterr().out


# -- the order of score files keyed by name --------------------------------------------------------


def test_without_a_benchmark_the_named_score_files_give_the_order(tmp_path: Path, capsys) -> None:
    names = ntu_names(50, CLASSES, seed=3)
    paths = write_scores(tmp_path, names, named=("bone", "parsing"))
    assert main(argv(paths, write_list(tmp_path / "names.txt", names))) == 0
    shuffled = list(np.random.default_rng(0).permutation(names))
    listed = write_list(tmp_path / "shuffled.txt", shuffled)
    err = one_error_line(argv(paths, listed), capsys)
    i = first_difference(shuffled, names)
    assert err.startswith(f"ensemble.py: error: {listed}: not in the order of {paths['bone']}, {paths['parsing']}")
    assert f"at position {i} (test_{i}) it has {shuffled[i]} where the score file has {names[i]}" in err


def test_named_files_that_disagree_give_no_order(tmp_path: Path) -> None:
    names = ntu_names(50, CLASSES, seed=4)
    paths = write_scores(tmp_path, names, named=("bone", "parsing"), orders={"bone": names[::-1]})
    listed = write_list(tmp_path / "sorted.txt", sorted(names, key=lambda n: n[::-1]))
    assert main(argv({"bone": paths["bone"], "parsing": paths["parsing"]}, listed)) == 0


def test_a_list_of_other_samples_says_which_are_missing_and_extra(tmp_path: Path, capsys) -> None:
    names = ntu_names(50, CLASSES, seed=5)
    paths = write_scores(tmp_path, names)
    other = "S017C003P041R002A010"  # ntu_names draws subjects below 41
    listed = write_list(tmp_path / "names.txt", [*names[:-1], other])
    err = one_error_line(argv({"parsing": paths["parsing"]}, listed), capsys)
    assert f"stream 'parsing' ({paths['parsing']}) and {listed} hold different samples" in err
    assert f"1 of 50 expected are missing (e.g. {other}), 1 are not expected (e.g. {names[-1]})" in err
