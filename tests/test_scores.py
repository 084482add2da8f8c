"""Score files: atomic writes that keep order, and a reader that refuses anything but data."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from engine.scores import ScoreFileError, load_score_matrix, load_scores, save_scores

NAMES = ["S001C001P001R001A001", "S001C001P001R001A002", "S001C002P003R002A060"]


def test_round_trip_keeps_order_and_float32(tmp_path: Path) -> None:
    scores = {name: np.arange(5, dtype=np.float64) + i for i, name in enumerate(reversed(NAMES))}
    path = tmp_path / "run" / "scores.pkl"
    save_scores(path, scores)
    loaded = load_scores(path)
    assert list(loaded) == list(reversed(NAMES))
    for name, row in scores.items():
        assert loaded[name].dtype == np.float32
        np.testing.assert_array_equal(loaded[name], row.astype(np.float32))
    assert [p.name for p in path.parent.iterdir()] == ["scores.pkl"], "no temporary file may be left"


def test_saved_file_is_a_plain_pickle_of_arrays(tmp_path: Path) -> None:
    # The reference scripts read score files with plain pickle.load.
    path = tmp_path / "s.pkl"
    save_scores(path, {NAMES[0]: [1.0, 2.0]})
    with path.open("rb") as f:
        content = pickle.load(f)
    assert isinstance(content[NAMES[0]], np.ndarray) and content[NAMES[0]].dtype == np.float32


def test_failed_save_leaves_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "s.pkl"
    save_scores(path, {NAMES[0]: [1.0, 2.0]})
    with pytest.raises(ScoreFileError, match="has 3 scores, expected 2"):
        save_scores(path, {NAMES[0]: [1.0, 2.0], NAMES[1]: [1.0, 2.0, 3.0]})
    assert list(load_scores(path)) == [NAMES[0]]
    assert [p.name for p in tmp_path.iterdir()] == ["s.pkl"]


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_reads_reference_pickles_of_any_protocol(tmp_path: Path, protocol: int) -> None:
    # CTR-GCN writes dict(zip(['test_0', ...], score_rows)) with pickle.dump.
    rows = np.random.default_rng(0).normal(size=(4, 60)).astype(np.float32)
    path = tmp_path / "ctrgcn.pkl"
    with path.open("wb") as f:
        pickle.dump({f"test_{i}": row for i, row in enumerate(rows)}, f, protocol=protocol)
    names, matrix = load_score_matrix(path)
    assert names == ["test_0", "test_1", "test_2", "test_3"]
    np.testing.assert_array_equal(matrix, rows)


def test_accepts_lists_arrays_and_numpy_scalars(tmp_path: Path) -> None:
    path = tmp_path / "s.pkl"
    path.write_bytes(pickle.dumps({NAMES[0]: [1, 2, 3], NAMES[1]: [np.float32(1.5), np.float64(2), 3]}))
    loaded = load_scores(path)
    assert loaded[NAMES[1]].dtype == np.float32
    np.testing.assert_array_equal(loaded[NAMES[1]], [1.5, 2, 3])

    # A bare sequence of vectors is in test order, like CTR-GCN's test_i keys.
    path.write_bytes(pickle.dumps([[1.0, 2.0], [3.0, 4.0]]))
    assert list(load_scores(path)) == ["test_0", "test_1"]
    path.write_bytes(pickle.dumps(np.ones((3, 2), dtype=np.float16)))
    assert load_score_matrix(path)[1].shape == (3, 2)


class _RunsCode:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_refuses_a_pickle_that_would_run_code(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({NAMES[0]: _RunsCode(marker)}))
    with pytest.raises(ScoreFileError, match=r"evil\.pkl: refused to load global (posix|nt|os)\.system"):
        load_scores(path)
    assert not marker.exists()


def test_refuses_builtins(tmp_path: Path) -> None:
    path = tmp_path / "evil.pkl"
    # GLOBAL builtins.eval, called on a string: what a hand-made malicious file looks like.
    path.write_bytes(b"cbuiltins\neval\n(V1+1\ntR.")
    with pytest.raises(ScoreFileError, match=r"refused to load global builtins\.eval"):
        load_scores(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not scores", "expected a dict .* found str"),
        (42, "expected a dict .* found int"),
        ({}, "holds no samples"),
        ({1: [1.0]}, "expected sample-name \\(str\\) keys, found int"),
        ({NAMES[0]: [1.0, 2.0], NAMES[1]: [1.0]}, f"sample '{NAMES[1]}' has 1 scores, expected 2"),
        ({NAMES[0]: [[1.0, 2.0]]}, f"sample '{NAMES[0]}': expected a 1-D numeric logits vector"),
        ({NAMES[0]: ["a", "b"]}, f"sample '{NAMES[0]}': expected a 1-D numeric .* <U1"),
        ({NAMES[0]: [1.0, float("nan")], NAMES[1]: [np.inf, 0.0]}, "2 samples have NaN or infinite scores"),
    ],
)
def test_clear_errors(tmp_path: Path, content: object, message: str) -> None:
    path = tmp_path / "bad.pkl"
    path.write_bytes(pickle.dumps(content))
    with pytest.raises(ScoreFileError, match=rf"bad\.pkl: {message}"):
        load_scores(path)


def test_truncated_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "cut.pkl"
    path.write_bytes(pickle.dumps({NAMES[0]: np.ones(60, dtype=np.float32)})[:40])
    with pytest.raises(ScoreFileError, match=r"cut\.pkl: not a readable pickle, expected a score file"):
        load_scores(path)
