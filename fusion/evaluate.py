"""One fusion evaluated: each stream, the pose-only fusion and the full fusion, overall and per class."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fusion.benchmarks import Benchmark
from fusion.combine import fuse_scores
from fusion.metrics import confusion_matrix, per_class_accuracy
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


def evaluate_fusion(data: AlignedScores, benchmark: Benchmark | None = None) -> FusionResult:
    """Each stream, the pose-only fusion, the full fusion: top-1 and per-class accuracy."""
    c = data.num_classes
    outputs = dict(data.streams)
    pose = [n for n in POSE_STREAMS if n in data.streams]
    if pose:
        outputs["pose fusion"] = fuse_scores([data.streams[n] for n in pose], [data.weights[n] for n in pose])
    outputs["full fusion"] = fuse_scores(list(data.streams.values()), [data.weights[n] for n in data.streams])
    top1, per_class = {}, {}
    for label, scores in outputs.items():
        predictions = scores.argmax(axis=1)
        top1[label] = 100 * float((predictions == data.labels).mean())
        per_class[label] = per_class_accuracy(predictions, data.labels, c)
    confusion = confusion_matrix(outputs["full fusion"].argmax(axis=1), data.labels, c)
    counts = np.bincount(data.labels, minlength=c)
    title, stem = (benchmark.title, benchmark.folder) if benchmark else ("fusion", "fusion")
    return FusionResult(title, stem, benchmark, top1, per_class, counts, confusion, dict(data.weights))
