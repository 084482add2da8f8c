"""How sure a top-1 is: bootstrap intervals over test samples, and McNemar's paired test between two rows.

Both work on per-sample correctness, ``correct[row]`` = (N,) bool "row's prediction is the label", so
they apply to any row of a table (a stream, the pose-only fusion, the full fusion, the stacking).

* :func:`bootstrap_intervals`: the percentile bootstrap. Each resample draws N test samples with
  replacement, the same draws for every row, from a generator with a fixed seed; a row's interval is the
  central ``level`` share of its resampled top-1s. A resample's top-1s depend only on how many of its
  draws fall on each pattern of right and wrong across the rows, so those counts are drawn directly
  (multinomial over the patterns seen, with their shares as probabilities): the same distribution as
  drawing sample indices, in time independent of N.
* :func:`mcnemar`: of the samples exactly one of rows A and B gets right, are A's as many as B's? Only
  these discordant samples count (``only_a``, ``only_b``, n = their sum). Below
  :data:`EXACT_BELOW` discordant samples it is the exact binomial test, p = min(1, 2 P(X <= min)) for
  X ~ Binomial(n, 1/2); from there on the chi-square test with Edwards' continuity correction,
  chi2 = (|only_a - only_b| - 1)^2 / n on one degree of freedom. The chi-square is a large-sample
  approximation of that binomial and is poor with few discordant samples, hence the switch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from fusion.errors import FusionError

DEFAULT_RESAMPLES = 1000
DEFAULT_SEED = 0
EXACT_BELOW = 25  # discordant samples; the usual rule of thumb for McNemar's chi-square


@dataclass(frozen=True)
class Bootstrap:
    """How the intervals were made, said beside every table that shows them."""

    resamples: int = DEFAULT_RESAMPLES
    seed: int = DEFAULT_SEED
    level: float = 0.95

    def describe(self, samples: int) -> str:
        return (
            f"{100 * self.level:g}% intervals: percentile bootstrap, {self.resamples} resamples of the "
            f"{samples} test samples (seed {self.seed})"
        )


DEFAULT_BOOTSTRAP = Bootstrap()


def bootstrap_intervals(
    correct: Mapping[str, np.ndarray], bootstrap: Bootstrap = DEFAULT_BOOTSTRAP
) -> dict[str, tuple[float, float]]:
    """Per row, the (low, high) top-1 in % of the percentile bootstrap; ``correct[row]`` is (N,) bool."""
    if bootstrap.resamples < 1 or not 0 < bootstrap.level < 1:
        raise FusionError(
            f"bootstrap: expected at least 1 resample and a level in (0, 1), found "
            f"{bootstrap.resamples} and {bootstrap.level}"
        )
    names = list(correct)
    table = np.stack([np.asarray(correct[n], dtype=bool) for n in names], axis=1)  # (N, rows)
    n = len(table)
    if n == 0:
        raise FusionError("bootstrap: no test samples")
    patterns, which = np.unique(table, axis=0, return_inverse=True)  # (K, rows), (N,)
    shares = np.bincount(which.ravel(), minlength=len(patterns)) / n
    counts = np.random.default_rng(bootstrap.seed).multinomial(n, shares, size=bootstrap.resamples)  # (B, K)
    rates = counts @ patterns.astype(np.float64) / n  # (B, rows)
    tail = 100 * (1 - bootstrap.level) / 2
    low, high = np.percentile(100 * rates, [tail, 100 - tail], axis=0)
    return {name: (float(lo), float(hi)) for name, lo, hi in zip(names, low, high, strict=True)}


@dataclass(frozen=True)
class McNemar:
    """McNemar's test of rows ``a`` and ``b``: samples only ``a`` / only ``b`` gets right, the test used
    (``"exact binomial"`` or ``"chi-square, continuity-corrected"``), its statistic (the smaller count for
    the exact test, chi2 otherwise) and the two-sided p-value."""

    a: str
    b: str
    only_a: int
    only_b: int
    test: str
    statistic: float
    p_value: float

    def describe(self) -> str:
        n = self.only_a + self.only_b
        why = f"{n} discordant < {EXACT_BELOW}" if n < EXACT_BELOW else f"{n} discordant >= {EXACT_BELOW}"
        statistic = f"min = {self.statistic:g}" if self.test == "exact binomial" else f"chi2 = {self.statistic:.3f}"
        return (
            f"McNemar {self.a} vs {self.b}: {self.only_a} samples right only in {self.a}, {self.only_b} "
            f"only in {self.b}; {self.test} test ({why}), {statistic}, p = {self.p_value:.4g}"
        )


def mcnemar(correct_a: np.ndarray, correct_b: np.ndarray, a: str = "a", b: str = "b") -> McNemar:
    """McNemar's paired test on (N,) bool correctness of two rows over the same samples (see the module)."""
    correct_a, correct_b = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    if correct_a.shape != correct_b.shape:
        raise FusionError(f"McNemar {a} vs {b}: {correct_a.shape} and {correct_b.shape} samples")
    only_a = int(np.sum(correct_a & ~correct_b))
    only_b = int(np.sum(~correct_a & correct_b))
    n = only_a + only_b
    if n < EXACT_BELOW:
        smaller = min(only_a, only_b)
        tail = sum(math.comb(n, i) for i in range(smaller + 1))
        p = min(1.0, 2 * tail / 2**n)
        return McNemar(a, b, only_a, only_b, "exact binomial", float(smaller), p)
    chi2 = (abs(only_a - only_b) - 1) ** 2 / n
    # the chi-square survival function on one degree of freedom
    return McNemar(a, b, only_a, only_b, "chi-square, continuity-corrected", chi2, math.erfc(math.sqrt(chi2 / 2)))
