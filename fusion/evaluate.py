"""One fusion evaluated: each stream, the pose-only fusion and the full fusion, overall and per class."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from fusion.benchmarks import Benchmark
from fusion.combine import fuse_scores
from fusion.metrics import confusion_matrix, per_class_accuracy
from fusion.significance import DEFAULT_BOOTSTRAP, Bootstrap, bootstrap_intervals
from fusion.spec import AlignedScores
from fusion.streams import POSE_STREAMS


@dataclass
class FusionResult:
    title: str
    stem: str  # file-name part of this run's CSV and pictures
    benchmark: Benchmark | None
    top1: dict[str, float]  # row label -> top-1 in %
    per_class: dict[str, np.ndarray]  # column -> (C,) accuracy
    class_counts: np.ndarray
    confusion: np.ndarray  # (C, C) counts of the full fusion
    weights: dict[str, float]
    correct: dict[str, np.ndarray]  # row label -> (N,) bool, prediction == label
    intervals: dict[str, tuple[float, float]]  # row label -> bootstrap (low, high) top-1 in %
    bootstrap: Bootstrap


def fusion_rows(
    data: AlignedScores, weights: Mapping[str, float], *, pose_alone: bool = False
) -> dict[str, np.ndarray]:
    """Each stream's (N, C) scores, the pose-only fusion and the full fusion, keyed by the row labels the
    tables use. The pose-only row needs pose streams, and other streams beside them unless ``pose_alone``."""
    rows = dict(data.streams)
    pose = [n for n in POSE_STREAMS if n in data.streams]
    if pose and (pose_alone or len(pose) < len(data.streams)):
        rows["pose fusion"] = fuse_scores([data.streams[n] for n in pose], [weights[n] for n in pose])
    rows["full fusion"] = fuse_scores(list(data.streams.values()), [weights[n] for n in data.streams])
    return rows


def evaluate_fusion(
    data: AlignedScores,
    benchmark: Benchmark | None = None,
    extra: Mapping[str, np.ndarray] | None = None,
    bootstrap: Bootstrap = DEFAULT_BOOTSTRAP,
) -> FusionResult:
    """Each stream, the pose-only fusion, the full fusion and any ``extra`` rows ((N, C) scores, e.g. the
    stacking): top-1 with its bootstrap interval, and per-class accuracy."""
    c = data.num_classes
    outputs = fusion_rows(data, data.weights, pose_alone=True)
    outputs.update(extra or {})
    top1, per_class, correct = {}, {}, {}
    for label, scores in outputs.items():
        predictions = scores.argmax(axis=1)
        correct[label] = predictions == data.labels
        top1[label] = 100 * float(correct[label].mean())
        per_class[label] = per_class_accuracy(predictions, data.labels, c)
    confusion = confusion_matrix(outputs["full fusion"].argmax(axis=1), data.labels, c)
    counts = np.bincount(data.labels, minlength=c)
    title, stem = (benchmark.title, benchmark.folder) if benchmark else ("fusion", "fusion")
    return FusionResult(
        title, stem, benchmark, top1, per_class, counts, confusion, dict(data.weights), correct,
        bootstrap_intervals(correct, bootstrap), bootstrap,
    )
