"""Parsing branch throughput: the feature-map renderer, the dataset through a DataLoader, train steps.

The renderer and loader read the real parsing maps of S001C001P001R001A001 (103 frames) when the
shared fixtures are beside the checkout, else generated maps of the same size. EPP-Net's own
renderer does about 190 training / 380 evaluation samples per second per process on a 2-core
development machine; ours must not be slower. Train steps: SGD on random images, one warm-up step.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from benchmarks.harness import Result, calls_per_second, case
from parsing.feature_map import render_feature_map
from parsing_branch.dataset import ParsingFeatureMapDataset
from parsing_branch.models import build_backbone, classification_loss

FIXTURE = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "ntu" / "parsing" / "S001C001P001R001A001.npy"
LOADER_SAMPLES = 96


def _parsing_maps() -> np.ndarray:
    """(103, 119, 119, 1) uint8 LIP labels: the real fixture, or moving part-sized blocks."""
    if FIXTURE.is_file():
        return np.load(FIXTURE)
    maps = np.zeros((103, 119, 119, 1), np.uint8)
    for t in range(103):
        for part, (top, left) in enumerate(((10, 50), (30, 40), (60, 45), (85, 40), (85, 62)), start=2):
            maps[t, top : top + 22, left + t % 7 : left + t % 7 + 18] = part * 3 % 20
    return maps


@case("parsing_branch_renderer")
def renderer_throughput() -> Iterator[Result]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sample.npy"
        np.save(path, _parsing_maps())
        rng = np.random.default_rng(0)
        for frames in (9, 5):
            def render(n: int = frames, train: bool = False) -> object:
                return render_feature_map(np.load(path, mmap_mode="r"), n, train=train, rng=rng)

            yield Result(f"feature map N={frames} evaluation (load + render)", calls_per_second(render), "samples/s")
            yield Result(f"feature map N={frames} training (load + render)",
                         calls_per_second(lambda render=render: render(train=True)), "samples/s")


@case("parsing_branch_loader")
def loader_throughput() -> Iterator[Result]:
    maps = _parsing_maps()
    with tempfile.TemporaryDirectory() as tmp:
        names = [f"S001C001P001R{r:03d}A{a:03d}" for r in range(1, 9) for a in range(1, 13)][:LOADER_SAMPLES]
        for name in names:
            np.save(Path(tmp) / f"{name}.npy", maps)
        labels = [int(name[-3:]) - 1 for name in names]
        for train in (True, False):
            dataset = ParsingFeatureMapDataset(names, labels, tmp, train=train, image_size=299)
            for workers in (0, 2):
                loader = DataLoader(dataset, batch_size=16, num_workers=workers)
                start = time.perf_counter()
                seen = sum(len(batch[1]) for batch in loader)  # worker start-up included, as in an epoch
                yield Result(f"dataset 299 {'train' if train else 'eval'}, {workers} workers",
                             seen / (time.perf_counter() - start), "samples/s")


def _train_step_rate(backbone: str, size: int, batch: int, steps: int, device: torch.device) -> float:
    model = build_backbone(backbone, 60).to(device).train()
    on_cuda = device.type == "cuda"
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if on_cuda else torch.autocast("cpu", enabled=False)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.03, momentum=0.9, nesterov=True, weight_decay=1e-4)
    images = torch.randn(batch, 3, size, size, device=device)
    target = torch.randint(0, 60, (batch,), device=device)

    def step() -> None:
        with amp:
            loss = classification_loss(model(images), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def wait() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    step()
    wait()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    wait()
    return batch * steps / (time.perf_counter() - start)


@case("parsing_branch_train_step")
def train_step_throughput() -> Iterator[Result]:
    cpu = torch.device("cpu")
    threads = torch.get_num_threads()
    yield Result(f"ResNet-18 224 train step, CPU batch 8 ({threads} threads)",
                 _train_step_rate("resnet18", 224, 8, 3, cpu), "samples/s")
    yield Result(f"InceptionV3 299 train step, CPU batch 4 ({threads} threads)",
                 _train_step_rate("inception_v3", 299, 4, 2, cpu), "samples/s")
    if torch.cuda.is_available():
        yield Result("InceptionV3 299 train step, CUDA bf16 batch 64",
                     _train_step_rate("inception_v3", 299, 64, 10, torch.device("cuda")), "samples/s")
