"""How a split's outputs become metrics and a score file: classification by default, a task's own otherwise.

The engine runs the model over the evaluation split in every process, hands each batch to
:meth:`Evaluation.batch`, gathers the records of all processes, and calls :meth:`Evaluation.summarise`
with them; ``summarise`` returns the metrics and one score entry per sample in dataset order, which
:meth:`Evaluation.save` writes. ``Evaluation.key`` names the metric (larger is better) that chooses the
best epoch.

:class:`ClassificationEvaluation` is the engine's classic path: top-1, top-5 and cross-entropy of the
logits, and ``{sample: float32 logits}`` score pickles. A task that does not classify (a detector) gives
``Task.evaluation`` a factory of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F

from engine.scores import save_scores


class Evaluation(Protocol):
    """What the engine needs to evaluate a task (module docstring)."""

    key: str

    def batch(self, output: Any, target: Any, index: torch.Tensor) -> Any:
        """A picklable, CPU record of one batch (``index``: the samples' positions in the split)."""

    def summarise(self, records: Sequence[Any], size: int) -> tuple[dict[str, float], list[Any]]:
        """All processes' records -> ``(metrics, score entries in dataset order)``; every sample exactly once."""

    def describe(self, metrics: Mapping[str, float]) -> str:
        """The log line's text for ``metrics``."""

    def save(self, path: Path, names: Sequence[str], entries: Sequence[Any]) -> None:
        """Write the score file ``path`` of ``{name: entry}``."""


def topk_correct(logits: torch.Tensor, labels: torch.Tensor, ks: tuple[int, ...] = (1, 5)) -> list[int]:
    maxk = min(max(ks), logits.shape[1])
    top = logits.topk(maxk, dim=1).indices
    hits = top.eq(labels[:, None])
    return [int(hits[:, : min(k, maxk)].any(dim=1).sum()) for k in ks]


def dataset_order(index: torch.Tensor, size: int) -> torch.Tensor:
    """The permutation that puts gathered samples in dataset order; refuses a split not covered exactly once."""
    order = torch.argsort(index)
    if index[order].tolist() != list(range(size)):
        raise RuntimeError("evaluation did not cover every sample exactly once")
    return order


class ClassificationEvaluation:
    """Top-1/top-5/loss of the logits and ``{sample: logits}`` score pickles."""

    key = "top1"

    def __init__(self, logits: Callable[[Any], torch.Tensor], labels: Callable[[Any], torch.Tensor]) -> None:
        self.logits, self.labels = logits, labels

    def batch(self, output: Any, target: Any, index: torch.Tensor) -> Any:
        return index.cpu(), self.logits(output).float().cpu(), torch.as_tensor(self.labels(target)).cpu()

    def summarise(self, records: Sequence[Any], size: int) -> tuple[dict[str, float], list[Any]]:
        index, logits, labels = (torch.cat([r[i] for r in records]) for i in range(3))
        order = dataset_order(index, size)
        logits, labels = logits[order], labels[order]
        top1, top5 = topk_correct(logits, labels)
        metrics = {"top1": top1 / size, "top5": top5 / size, "loss": float(F.cross_entropy(logits, labels))}
        return metrics, [row.numpy().astype(np.float32) for row in logits]

    def describe(self, metrics: Mapping[str, float]) -> str:
        standard = ("top1", "top5", "loss", "samples_per_s")
        extra = "".join(f"  {k} {v:.4g}" for k, v in metrics.items() if k not in standard)
        return (f"top1 {100 * metrics['top1']:.2f}%  top5 {100 * metrics['top5']:.2f}%  "
                f"loss {metrics['loss']:.4f}{extra}")

    def save(self, path: Path, names: Sequence[str], entries: Sequence[Any]) -> None:
        save_scores(path, dict(zip(names, entries, strict=True)))
