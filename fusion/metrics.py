"""Accuracy of (N, C) score matrices: top-k, per class, confusion counts."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fusion.errors import FusionError


def class_ranks(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Rank (0 = best) of the true class per sample; ties rank the lower class first, as argmax does."""
    true = scores[np.arange(len(labels)), labels][:, None]
    lower_index = np.arange(scores.shape[1])[None, :] < labels[:, None]
    return (scores > true).sum(axis=1) + ((scores == true) & lower_index).sum(axis=1)


def topk_accuracy(scores: np.ndarray, labels: np.ndarray, ks: Sequence[int] = (1, 5)) -> dict[int, float]:
    """Top-k accuracy in [0, 1] for each k; top-1 equals ``mean(argmax == label)``."""
    if len(scores) != len(labels):
        raise FusionError(f"{len(scores)} score rows for {len(labels)} labels")
    if labels.min() < 0 or labels.max() >= scores.shape[1]:
        raise FusionError(
            f"labels span {labels.min()}..{labels.max()} but the scores have {scores.shape[1]} classes"
        )
    ranks = class_ranks(scores, labels)
    return {k: float((ranks < k).mean()) for k in ks}


def per_class_accuracy(predictions: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """(num_classes,) top-1 accuracy per true class; NaN for classes with no samples."""
    total = np.bincount(labels, minlength=num_classes)
    correct = np.bincount(labels[predictions == labels], minlength=num_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, correct / total, np.nan)


def confusion_matrix(predictions: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """(num_classes, num_classes) counts, rows = true class, columns = predicted class."""
    flat = np.bincount(labels * num_classes + predictions, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes)


def top1(scores: np.ndarray, labels: np.ndarray) -> float:
    return float((scores.argmax(axis=1) == labels).mean())
