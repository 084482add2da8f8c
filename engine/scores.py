"""Score files: pickles of ``{sample name: float32 logits (C,)}``, written by the trainers, read by
``ensemble.py``.

The format is the reference chain's (REFERENCE.md §6): CTR-GCN keys its test scores ``test_0, test_1, ...``,
EPP-Net's parsing branch keys them by NTU sample name, and both store raw logits. Reading goes through a
restricted unpickler because score files are downloaded and shared, and a plain ``pickle.load`` runs
whatever callable the file names.
"""

from __future__ import annotations

import codecs
import os
import pickle
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

# The globals NumPy's own pickling emits for arrays, dtypes and scalars, under the NumPy 1.x
# (``numpy.core``) and 2.x (``numpy._core``) module paths; nothing else may be called while loading.
_NUMPY_GLOBALS = frozenset(
    {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
    }
)

# Protocol-2 pickles (and Python 2 era files) store array bytes as ``_codecs.encode(text, "latin1")``.
_LATIN1_ENCODE = ("_codecs", "encode")


class ScoreFileError(ValueError):
    """A score file that cannot be read as ``{sample name: logits vector}``."""


def _encode_latin1(text: str, encoding: str = "utf-8") -> bytes:
    if encoding != "latin1":
        raise pickle.UnpicklingError(f"_codecs.encode is only allowed with 'latin1', not {encoding!r}")
    return codecs.encode(text, "latin1")


class _ScoreUnpickler(pickle.Unpickler):
    """Builds only plain containers, strings, numbers and NumPy arrays/scalars."""

    def __init__(self, file: Any, path: Path, what: str = "a score file") -> None:
        super().__init__(file)
        self._path, self._what = path, what

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _NUMPY_GLOBALS:
            return super().find_class(module, name)
        if (module, name) == _LATIN1_ENCODE:
            return _encode_latin1
        raise ScoreFileError(
            f"{self._path}: refused to load global {module}.{name}; {self._what} may only hold dicts, "
            "lists, tuples, strings, numbers and NumPy arrays"
        )


def _positional_keys(count: int) -> list[str]:
    # A bare sequence of vectors means "in test order", which is what CTR-GCN's test_i keys mean too.
    return [f"test_{i}" for i in range(count)]


def _as_named_rows(obj: Any, path: Path) -> tuple[list[str], list[Any]]:
    if isinstance(obj, Mapping):
        keys = list(obj.keys())
        bad = [k for k in keys if not isinstance(k, str)]
        if bad:
            raise ScoreFileError(
                f"{path}: expected sample-name (str) keys, found {type(bad[0]).__name__} key {bad[0]!r}"
            )
        return [str(k) for k in keys], list(obj.values())
    if isinstance(obj, np.ndarray) and obj.ndim == 2:
        return _positional_keys(len(obj)), list(obj)
    if isinstance(obj, list | tuple):
        return _positional_keys(len(obj)), list(obj)
    raise ScoreFileError(
        f"{path}: expected a dict {{sample name: logits vector}} (or a list of vectors), "
        f"found {type(obj).__name__}"
    )


def _stack_rows(names: list[str], rows: list[Any], path: Path | str) -> np.ndarray:
    """Rows of equal length -> (N, C) float32, with the offending sample named on failure."""
    if not rows:
        raise ScoreFileError(f"{path}: holds no samples")
    try:
        matrix = np.array(rows)  # one C-level pass; the per-row walk below only runs to explain a failure
    except ValueError:
        matrix = None
    if matrix is not None and matrix.ndim == 2 and matrix.dtype.kind in "iuf":
        return matrix.astype(np.float32, copy=False)
    raise _first_bad_row(names, rows, path)


def _first_bad_row(names: list[str], rows: list[Any], path: Path | str) -> ScoreFileError:
    width = None
    for name, row in zip(names, rows, strict=True):
        array = np.asarray(row)
        if array.ndim != 1 or array.dtype.kind not in "iuf":
            return ScoreFileError(
                f"{path}: sample {name!r}: expected a 1-D numeric logits vector, "
                f"found {array.dtype} array of shape {array.shape}"
            )
        if width is None:
            width = len(array)
        elif len(array) != width:
            return ScoreFileError(
                f"{path}: sample {name!r} has {len(array)} scores, expected {width} like {names[0]!r}"
            )
    return ScoreFileError(f"{path}: expected equal-length numeric logits vectors")


def _check_finite(names: list[str], matrix: np.ndarray, path: Path | str) -> None:
    bad = np.flatnonzero(~np.isfinite(matrix).all(axis=1))
    if len(bad):
        shown = ", ".join(names[i] for i in bad[:5])
        raise ScoreFileError(f"{path}: {len(bad)} samples have NaN or infinite scores, e.g. {shown}")


def read_pickle(path: str | os.PathLike, what: str = "a score file") -> Any:
    """Unpickle an untrusted file building only plain containers, strings, numbers and NumPy arrays; a
    forbidden global or unreadable bytes raise one :class:`ScoreFileError` naming the file and ``what`` it is."""
    path = Path(path)
    with path.open("rb") as f:
        try:
            return _ScoreUnpickler(f, path, what).load()
        except ScoreFileError:
            raise
        except Exception as exc:  # a truncated or foreign file fails in many ways; name it once
            problem = f"{type(exc).__name__}: {exc}"
            raise ScoreFileError(f"{path}: not a readable pickle, expected {what} ({problem})") from exc


def load_score_matrix(path: str | os.PathLike) -> tuple[list[str], np.ndarray]:
    """Read a score file as ``(keys, scores)``: keys in file order and an (N, C) float32 matrix.

    A file holding a bare list/array of vectors gets the keys ``test_0 ...`` (test order).
    """
    path = Path(path)
    obj = read_pickle(path, "a score file")
    names, rows = _as_named_rows(obj, path)
    matrix = _stack_rows(names, rows, path)
    _check_finite(names, matrix, path)
    return names, matrix


def load_scores(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a score file as ``{name: float32 (C,)}`` in file order (values are rows of one array)."""
    names, matrix = load_score_matrix(path)
    return dict(zip(names, matrix, strict=True))


def save_scores(path: str | os.PathLike, scores: Mapping[str, Any]) -> None:
    """Write ``{name: logits (C,)}`` as a pickle of float32 arrays, atomically, keeping key order.

    Non-finite scores are written as they are (a diverged run's scores are still worth keeping);
    ``load_scores`` refuses them.
    """
    path = Path(path)
    names = list(scores.keys())
    bad = [k for k in names if not isinstance(k, str)]
    if bad:
        raise ScoreFileError(
            f"{path}: expected sample-name (str) keys, found {type(bad[0]).__name__} {bad[0]!r}"
        )
    matrix = _stack_rows(names, list(scores.values()), path)
    # One standalone array per sample, as the reference scripts write and read them.
    write_pickle(path, {name: row.copy() for name, row in zip(names, matrix, strict=True)})


def write_pickle(path: str | os.PathLike, payload: Any) -> None:
    """Pickle ``payload`` (plain containers and arrays) to ``path`` atomically, with the usual permissions."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp makes the file private (0600); score files are shared like every other output
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_name, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as f:
            # Protocol 4 stores arrays in-band, readable by every Python 3.8+ and by the reference scripts.
            pickle.dump(payload, f, protocol=4)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
