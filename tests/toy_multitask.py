"""A toy multi-output task for the engine's tests: dict inputs and targets, two loss terms, a metric.

Each sample is a variable number of points around a class centre (so batches need the task's own
collation, which pads them and returns a mask); the model returns ``{"logits", "offset"}`` and is
trained on a classification term and a regression term. Runnable as a trainer script, also under
``torchrun``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine import Experiment, Task, run_task  # noqa: E402


@dataclass
class MultiData:
    num_classes: int = 3
    train_size: int = 60
    test_size: int = 7
    dim: int = 4
    max_points: int = 5


@dataclass
class MultiModel:
    hidden: int = 16
    offset_weight: float = 0.5


@dataclass
class MultiExperiment(Experiment):
    model: MultiModel = field(default_factory=MultiModel)
    data: MultiData = field(default_factory=MultiData)


class PointSets(Dataset):
    """Item: ``({"points": (P, dim)}, {"label": int, "offset": (dim,)})`` with P varying per sample."""

    def __init__(self, cfg: MultiData, split: str) -> None:
        rng = np.random.default_rng(1 if split == "train" else 2)
        centres = np.random.default_rng(0).normal(size=(cfg.num_classes, cfg.dim)).astype(np.float32) * 2
        size = cfg.train_size if split == "train" else cfg.test_size
        self.labels = np.arange(size) % cfg.num_classes
        self.offsets = rng.normal(size=(size, cfg.dim)).astype(np.float32)
        counts = rng.integers(1, cfg.max_points + 1, size)
        self.points = [centres[c] + o + 0.3 * rng.normal(size=(n, cfg.dim)).astype(np.float32)
                       for c, o, n in zip(self.labels, self.offsets, counts, strict=True)]
        self.sample_names = [f"{split}_{i:03d}" for i in range(size)]

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        return ({"points": torch.from_numpy(self.points[index])},
                {"label": int(self.labels[index]), "offset": torch.from_numpy(self.offsets[index])})


def pad_points(items: list[tuple[dict, dict]]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Pad the point sets to the batch's largest: ``points (N, P, dim)`` and ``mask (N, P)``."""
    largest = max(inputs["points"].shape[0] for inputs, _ in items)
    dim = items[0][0]["points"].shape[1]
    points = torch.zeros(len(items), largest, dim)
    mask = torch.zeros(len(items), largest, dtype=torch.bool)
    for i, (inputs, _) in enumerate(items):
        n = inputs["points"].shape[0]
        points[i, :n], mask[i, :n] = inputs["points"], True
    labels = torch.tensor([target["label"] for _, target in items])
    offsets = torch.stack([target["offset"] for _, target in items])
    return {"points": points, "mask": mask}, {"label": labels, "offset": offsets}


class PointNet(nn.Module):
    def __init__(self, cfg: MultiExperiment) -> None:
        super().__init__()
        self.encode = nn.Sequential(nn.Linear(cfg.data.dim, cfg.model.hidden), nn.ReLU())
        self.classify = nn.Linear(cfg.model.hidden, cfg.data.num_classes)
        self.regress = nn.Linear(cfg.model.hidden, cfg.data.dim)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        mask = batch["mask"].unsqueeze(-1).float()
        pooled = (self.encode(batch["points"]) * mask).sum(1) / mask.sum(1)
        return {"logits": self.classify(pooled), "offset": self.regress(pooled)}


def compute_loss(output: dict, target: dict, cfg: MultiExperiment) -> dict[str, torch.Tensor]:
    return {"cls": nn.functional.cross_entropy(output["logits"], target["label"]),
            "offset": nn.functional.mse_loss(output["offset"], target["offset"])}


def batch_metrics(output: dict, target: dict, cfg: MultiExperiment) -> dict[str, tuple[float, float]]:
    """Mean absolute offset error over every coordinate of the split."""
    error = (output["offset"].float() - target["offset"]).abs()
    return {"offset_mae": (float(error.sum()), float(error.numel()))}


TASK = Task(
    name="toy_multitask",
    config_cls=MultiExperiment,
    build_model=PointNet,
    build_dataset=lambda cfg, split: PointSets(cfg.data, split),
    compute_loss=compute_loss,
    loss_weights=lambda cfg: {"offset": cfg.model.offset_weight},
    logits_key="logits",
    batch_metrics=batch_metrics,
    collate_fn=pad_points,
)

if __name__ == "__main__":
    raise SystemExit(run_task(TASK))
