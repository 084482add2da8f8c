"""IPP-Net's pair files: the row of the parsing score file that belongs to each test sample.

liujf69/IPP-Net-Parsing fuses by position, and its parsing branch lists the test samples in another
order than CTR-GCN does (sorted names, ``data/ntu/xsub/NTU60_Xsub_valsample.txt``, against CTR-GCN's
``CTR_NTU60_Xsub_valsample.txt``). ``Ensemble/ensemble.py`` (``swap``) therefore re-orders the parsing
scores through ``Ensemble/Match_txt/<benchmark>pair.txt`` before adding them up: ``np.loadtxt`` of the
file, and row i of the parsing stream becomes row ``pairs[i, 1]`` of the parsing file.

The files (checked on all four: 16487, 18932, 50919 and 59477 lines) hold one line per test sample,
``i.0 j.0``: two integers written as floats, separated by a space; the first column is ``0 .. N-1`` in
order, the second a permutation of it. Files with names as keys are aligned by name anyway; there the
pairs must agree with the names, which is checked.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fusion.errors import FusionError

POSITIONAL_PREFIX = "test_"


def read_pair_file(path: Path) -> np.ndarray:
    """(N,) int64: for test sample i, the row of the parsing score file (the second column)."""
    rows = []
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split()
        try:
            values = [float(f) for f in fields]
        except ValueError:
            values = []
        if len(values) != 2 or any(v != int(v) or v < 0 for v in values):
            raise FusionError(f"{path}: line {number}: expected two non-negative integers 'i j', found {line!r}")
        rows.append((int(values[0]), int(values[1])))
    if not rows:
        raise FusionError(f"{path}: expected one 'i j' line per test sample, found none")
    pairs = np.array(rows, dtype=np.int64)
    n = len(pairs)
    if not np.array_equal(pairs[:, 0], np.arange(n)):
        line = int(np.flatnonzero(pairs[:, 0] != np.arange(n))[0])
        raise FusionError(f"{path}: line {line + 1}: first column should be {line}, found {pairs[line, 0]}")
    if not np.array_equal(np.sort(pairs[:, 1]), np.arange(n)):
        raise FusionError(f"{path}: the second column is not a permutation of 0..{n - 1} (rows repeat or are missing)")
    return pairs[:, 1]


def apply_pairs(
    keys: Sequence[str], scores: np.ndarray, pairs: np.ndarray, source: str
) -> tuple[list[str], np.ndarray]:
    """Re-order a parsing stream as IPP-Net does: row i becomes row ``pairs[i]``.

    Keys that are names move with their rows; positional keys (``test_i``, or a bare list) become
    ``test_0 .. test_{N-1}``, i.e. the test order the pairs lead to.
    """
    if len(pairs) != len(scores):
        raise FusionError(f"{source}: the pair file has {len(pairs)} lines for {len(scores)} parsing scores")
    if all(k.startswith(POSITIONAL_PREFIX) for k in keys):
        return [f"{POSITIONAL_PREFIX}{i}" for i in range(len(pairs))], scores[pairs]
    return [keys[j] for j in pairs], scores[pairs]


def check_pairs_agree(names: Sequence[str], order: Sequence[str], source: str) -> None:
    """Named parsing scores re-ordered by the pairs must come out in the split's order (a different
    sample count is left to the alignment to report)."""
    if len(names) != len(order):
        return
    wrong = [i for i, (a, b) in enumerate(zip(names, order, strict=True)) if a != b]
    if wrong:
        i = wrong[0]
        raise FusionError(
            f"{source}: the pair file puts {names[i]} at test position {i}, but the sample list has {order[i]} "
            f"there ({len(wrong)} positions disagree)"
        )
