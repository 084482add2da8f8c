"""A toy task for the engine's tests: Gaussian clusters, a small MLP, a noisy augmentation.

Runnable as a trainer script (``python tests/toy_task.py --config ...``), also under ``torchrun``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine import Experiment, Task, run_task  # noqa: E402


@dataclass
class ToyData:
    num_classes: int = 4
    train_size: int = 96
    test_size: int = 40
    dim: int = 8
    noise: float = 0.3


@dataclass
class ToyModel:
    hidden: int = 16
    dropout: float = 0.1


@dataclass
class ToyExperiment(Experiment):
    model: ToyModel = field(default_factory=ToyModel)
    data: ToyData = field(default_factory=ToyData)


class Clusters(Dataset):
    """Class k is a Gaussian around a fixed centre; training samples get fresh noise each epoch."""

    def __init__(self, cfg: ToyData, split: str) -> None:
        centres = np.random.default_rng(0).normal(size=(cfg.num_classes, cfg.dim)).astype(np.float32) * 2
        size = cfg.train_size if split == "train" else cfg.test_size
        rng = np.random.default_rng(1 if split == "train" else 2)
        self.labels = np.arange(size) % cfg.num_classes
        self.points = centres[self.labels] + rng.normal(size=(size, cfg.dim)).astype(np.float32)
        self.sample_names = [f"{split}_{i:04d}" for i in range(size)]
        self.augment = split == "train"
        self.noise = cfg.noise

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        x = self.points[index]
        if self.augment:
            x = x + np.random.normal(scale=self.noise, size=x.shape).astype(np.float32)
        return torch.from_numpy(np.ascontiguousarray(x)), int(self.labels[index])


def build_model(cfg: ToyExperiment) -> nn.Module:
    return nn.Sequential(
        nn.Linear(cfg.data.dim, cfg.model.hidden), nn.ReLU(), nn.Dropout(cfg.model.dropout),
        nn.Linear(cfg.model.hidden, cfg.data.num_classes),
    )


_steps = 0
crash_after_steps = 0  # > 0: raise after this many training steps, to simulate a killed run (not a setting)


def compute_loss(output: torch.Tensor, target: torch.Tensor, cfg: ToyExperiment) -> torch.Tensor:
    global _steps
    _steps += 1
    if crash_after_steps and _steps > crash_after_steps:
        raise KeyboardInterrupt("simulated kill")
    return nn.functional.cross_entropy(output, target)


TASK = Task(
    name="toy",
    config_cls=ToyExperiment,
    build_model=build_model,
    build_dataset=lambda cfg, split: Clusters(cfg.data, split),
    compute_loss=compute_loss,
)

if __name__ == "__main__":
    raise SystemExit(run_task(TASK))
