"""A detector's evaluation in the engine: AP50 per class over the split, and every image's detections.

Metrics: ``ap50`` (the mean over the classes with ground truth; it chooses the best epoch) and ``ap50_<class>``,
COCO-style (:mod:`part_parsing.detection_ap`). The score files hold, per sample name, the image's detections as
float32 ``(K, 6)`` rows ``x1, y1, x2, y2, score, class`` (``class`` 0-based among the detector's classes), in
the pixels of the image the detector saw (the crop, for a part detector).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.evaluation import dataset_order
from engine.scores import write_pickle
from part_parsing.detection_ap import ImageBoxes, average_precision


def detection_rows(detection: Mapping[str, torch.Tensor]) -> np.ndarray:
    """torchvision's ``{"boxes", "scores", "labels"}`` (labels 1..C) -> float32 ``(K, 6)`` rows (class 0-based)."""
    boxes = detection["boxes"].detach().float().cpu().numpy().reshape(-1, 4)
    scores = detection["scores"].detach().float().cpu().numpy().reshape(-1, 1)
    labels = detection["labels"].detach().cpu().numpy().reshape(-1, 1).astype(np.float32) - 1
    return np.concatenate([boxes, scores, labels], axis=1).astype(np.float32)


class DetectionEvaluation:
    """The engine's :class:`~engine.evaluation.Evaluation` of a detector (module docstring)."""

    key = "ap50"

    def __init__(self, classes: Sequence[str], iou_threshold: float = 0.5) -> None:
        self.classes, self.iou_threshold = tuple(classes), iou_threshold

    def batch(self, output: Any, target: Any, index: torch.Tensor) -> Any:
        rows = [detection_rows(d) for d in output]
        truth = []
        for boxes, labels in zip(target["boxes"], target["labels"], strict=True):
            real = labels >= 0
            truth.append((boxes[real].float().cpu().numpy(), labels[real].cpu().numpy() - 1))
        return index.cpu(), rows, truth

    def summarise(self, records: Sequence[Any], size: int) -> tuple[dict[str, float], list[Any]]:
        index = torch.cat([r[0] for r in records])
        rows = [row for r in records for row in r[1]]
        truth = [t for r in records for t in r[2]]
        order = dataset_order(index, size).tolist()
        rows, truth = [rows[i] for i in order], [truth[i] for i in order]
        result = average_precision([ImageBoxes(b, l) for b, l in truth],
                                   [ImageBoxes(r[:, :4], r[:, 5].astype(np.int64), r[:, 4]) for r in rows],
                                   num_classes=len(self.classes), iou_threshold=self.iou_threshold)
        metrics = {"ap50": float(result.mean)}
        metrics.update({f"ap50_{name}": float(ap) for name, ap in zip(self.classes, result.per_class, strict=True)})
        return metrics, rows

    def describe(self, metrics: Mapping[str, float]) -> str:
        per_class = "  ".join(f"{name} {100 * metrics[f'ap50_{name}']:.1f}" for name in self.classes
                              if not math.isnan(metrics.get(f"ap50_{name}", math.nan)))
        return f"AP50 {100 * metrics['ap50']:.2f}%  ({per_class})"

    def save(self, path: Path, names: Sequence[str], entries: Sequence[Any]) -> None:
        write_pickle(path, {name: np.asarray(rows, dtype=np.float32)
                            for name, rows in zip(names, entries, strict=True)})


def run_table(runs: Sequence[tuple[str, Path]]) -> tuple[str, dict[str, Any]]:
    """The AP50 of trained detector runs side by side (their last evaluation in ``metrics.jsonl``): a
    Markdown table and its JSON, e.g. the embedding ablation."""
    table: dict[str, Any] = {}
    for label, run in runs:
        path = Path(run) / "metrics.jsonl"
        lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        evaluated = [m for m in lines if "eval_ap50" in m]
        if not evaluated:
            raise ValueError(f"{path}: no evaluated epoch (eval_ap50)")
        last = evaluated[-1]
        table[label] = {"run": str(run), "epoch": last["epoch"],
                        **{k.removeprefix("eval_"): v for k, v in last.items() if k.startswith("eval_ap50")}}
    classes = sorted({k for row in table.values() for k in row if k.startswith("ap50_")})
    header = "| run | epoch | AP50 | " + " | ".join(c.removeprefix("ap50_") for c in classes) + " |"
    lines = [header, "|" + "---|" * (3 + len(classes))]

    def cell(value: Any) -> str:
        return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f}"

    for label, row in table.items():
        lines.append(f"| {label} | {row['epoch']} | {cell(row['ap50'])} | "
                     + " | ".join(cell(row.get(c)) for c in classes) + " |")
    return "\n".join(lines) + "\n", table
