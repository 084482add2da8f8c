"""Loader-only throughput: can the input pipeline feed a model at a given rate?

Shared by the ``make bench`` case ``loader`` and ``make gpu-check``. The dataset is the parsing
branch's (EPP-Net feature maps at 299 px, training augmentation) over generated label maps; its items
are uint8 images, normalised on the device by the task's ``device_transform``, as in training.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from torch.utils.data import DataLoader, Dataset

from parsing_branch.dataset import ParsingFeatureMapDataset


def synthetic_parsing_dataset(folder: Path, samples: int, train: bool, frames: int = 60) -> ParsingFeatureMapDataset:
    """``samples`` generated parsing maps ``(frames, 119, 119, 1)`` in ``folder``, as the parsing dataset."""
    rng = np.random.default_rng(0)
    names = []
    for i in range(samples):
        name = f"S001C001P{i // 60 + 1:03d}R001A{i % 60 + 1:03d}"
        maps = np.zeros((frames, 119, 119, 1), np.uint8)
        for label in (2, 5, 9, 13, 14, 15, 16, 17):
            top, left = rng.integers(0, 95, 2)
            maps[:, top : top + 24, left : left + 16] = label
        np.save(folder / f"{name}.npy", maps)
        names.append(name)
    return ParsingFeatureMapDataset(names, [int(n[-3:]) - 1 for n in names], folder, train=train)


def loader_rate(dataset: Dataset, workers: int, batch: int, batches: int) -> float:
    """Samples per second a DataLoader with ``workers`` delivers, after its first batch (worker start-up)."""
    loader = DataLoader(dataset, batch_size=batch, shuffle=True, num_workers=workers,
                        persistent_workers=workers > 0, prefetch_factor=4 if workers else None)
    iterator = iter(loader)
    next(iterator)
    start, seen = time.perf_counter(), 0
    for _ in range(batches):
        try:
            seen += len(next(iterator)[1])
        except StopIteration:
            break
    return seen / max(time.perf_counter() - start, 1e-12)
