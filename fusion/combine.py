"""Combining streams: EPP-Net's weighted sum of logits, a search of its weights on validation scores, and
the per-sample normalisation of fused scores into class probabilities."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fusion.errors import FusionError
from fusion.metrics import top1

DEFAULT_GRID = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0)


def fuse_scores(scores: Sequence[np.ndarray], weights: Sequence[float]) -> np.ndarray:
    """Weighted sum of (N, C) logits in float32, accumulated in stream order from zero like the reference."""
    if len(scores) != len(weights) or not scores:
        raise FusionError(f"need one weight per stream, got {len(weights)} weights for {len(scores)} streams")
    shapes = {s.shape for s in scores}
    if len(shapes) > 1:
        raise FusionError(f"score matrices have different shapes: {sorted(shapes)}")
    fused = np.zeros(scores[0].shape, dtype=np.float32)
    term = np.empty_like(fused)
    for stream, weight in zip(scores, weights, strict=True):
        np.multiply(stream, np.float32(weight), out=term)
        fused += term
    return fused


def log_softmax(scores: np.ndarray) -> np.ndarray:
    """(N, C) logits -> (N, C) float64 log class probabilities per sample."""
    shifted = scores.astype(np.float64) - scores.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def softmax(scores: np.ndarray) -> np.ndarray:
    """(N, C) logits -> (N, C) float32 class probabilities per sample (each row sums to 1)."""
    return np.exp(log_softmax(scores)).astype(np.float32)


def search_weights(
    scores: Sequence[np.ndarray],
    labels: np.ndarray,
    initial: Sequence[float],
    grid: Sequence[float] = DEFAULT_GRID,
    rounds: int = 5,
) -> tuple[list[float], float]:
    """Coordinate search of stream weights over ``grid`` maximising top-1 on the given (validation) scores.

    Starts from ``initial``, changes one weight at a time and keeps a change only if accuracy strictly
    improves. Returns ``(weights, top-1)``.
    """
    weights = [float(w) for w in initial]
    best = top1(fuse_scores(scores, weights), labels)
    for _ in range(rounds):
        improved = False
        for i in range(len(weights)):
            for candidate in grid:
                trial = [*weights[:i], float(candidate), *weights[i + 1 :]]
                if trial == weights or not any(trial):
                    continue
                accuracy = top1(fuse_scores(scores, trial), labels)
                if accuracy > best:
                    weights, best, improved = trial, accuracy, True
        if not improved:
            break
    return weights, best
