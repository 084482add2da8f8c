"""RGB branch throughput on the CPU: the NTU person-frame loader (0 and 2 workers) and a train step per model.

The loader reads synthetic person frames (``data.synthetic.frames``, 64 px) with their skeletons: 8
frames per clip, masks and heatmaps on. Train steps: SGD on random clips of 8 frames at 64 px (grid:
9 crops of 32 px), batch 4, after one warm-up step; sizes are small so the case runs in a minute.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from benchmarks.harness import Result, case
from data.synthetic import SyntheticConfig, generate
from data.synthetic.frames import write_person_frames
from rgb_branch.dataset import NtuRgbDataset
from rgb_branch.models import build_rgb_model
from rgb_branch.task import compute_loss

BATCH = 4
MODELS = {
    "two_stream resnet18 + alexnet": dict(name="two_stream", spatial="resnet18", stack="alexnet"),
    "c3d (width 16, fc 256)": dict(name="c3d", c3d_width=16, c3d_fc=256),
    "r3d_18": dict(name="r3d_18"),
    "attention_pool resnet18, pose input": dict(name="attention_pool", spatial="resnet18", pose="input"),
    "rgb_grid resnet18": dict(name="rgb_grid", spatial="resnet18"),
}


@case("rgb_loader")
def loader_throughput() -> Iterator[Result]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        summary = generate(root / "synthetic", SyntheticConfig(classes=2, samples_per_class=8, videos=0,
                           two_person_classes=1, parsing=False), progress=False)
        write_person_frames(root / "synthetic", root / "frames", size=64)
        names = [s["name"] for s in summary["samples"] if not s["missing"]]
        data = NtuRgbDataset(names, [0] * len(names), root / "frames", root / "synthetic" / "skeletons", train=True,
                             num_frames=8, image_size=64, background=0.5, pose_maps="input", heatmap_grid=2)
        for workers in (0, 2):
            loader = DataLoader(data, batch_size=BATCH, num_workers=workers, shuffle=True)
            next(iter(loader))
            start, count = time.perf_counter(), 0
            for inputs, _ in loader:
                count += len(inputs["frames"])
            yield Result(f"rgb loader, {workers} workers (8 x 64 px frames + masks + heatmaps)",
                         count / (time.perf_counter() - start), "samples/s")


def _train_step(model: torch.nn.Module, optimiser: torch.optim.Optimizer, inputs: dict[str, torch.Tensor],
                target: torch.Tensor) -> None:
    optimiser.zero_grad()
    compute_loss(model(inputs), target, None).backward()  # type: ignore[arg-type]
    optimiser.step()


@case("rgb_train_step")
def train_step_throughput() -> Iterator[Result]:
    for label, options in MODELS.items():
        options = dict(options)
        frames = 9 if options["name"] == "rgb_grid" else 8
        size = 32 if options["name"] == "rgb_grid" else 64
        model = build_rgb_model(options.pop("name"), 60, frames=frames, image_size=size, **options)
        optimiser = torch.optim.SGD(model.parameters(), lr=0.01)
        inputs = {"frames": torch.randn(BATCH, frames, 3, size, size), "heatmaps": torch.rand(BATCH, frames, 25, 2, 2)}
        target = torch.randint(0, 60, (BATCH,))

        _train_step(model, optimiser, inputs, target)
        start, steps = time.perf_counter(), 0
        while steps < 3 or time.perf_counter() - start < 2.0:
            _train_step(model, optimiser, inputs, target)
            steps += 1
        yield Result(f"rgb train step {label}", steps * BATCH / (time.perf_counter() - start), "samples/s")
