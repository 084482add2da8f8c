"""Pose-guided part detection on the CPU: the embedding, a detector's train step and inference, AP50.

- the embedding (:func:`pose_guidance.embedding.pose_embedding`) on a 200 x 400 person crop, one person;
- the demo's part detector (FCOS, ResNet-18 FPN of 64 channels, crops resized to 96-160 px; batches of 8) and
  the paper's size (FCOS, ResNet-50 FPN, 800 px; batches of 2) on random images, train step and inference,
  fp32 (``make gpu-check`` measures the paper size on a GPU);
- AP50 over 2,000 images of 10 part classes with 60 detections each (Kinetics-TPS test: 932 videos x about
  40 scored frames x 2 persons is some 75,000 person crops; scale by 37).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from benchmarks.harness import Result, calls_per_second, case
from part_parsing.detection.model import Detector, build_detector
from part_parsing.detection_ap import ImageBoxes, average_precision
from pose_guidance.embedding import pose_embedding


def _batch(images: int, size: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    corners = torch.rand((images, 10, 2), generator=generator) * size * 0.7
    sides = size * 0.05 + torch.rand((images, 10, 2), generator=generator) * size * 0.2
    return {"image": torch.randint(0, 256, (images, 3, size, size), dtype=torch.uint8, generator=generator),
            "size": torch.tensor([[size, size]] * images), "boxes": torch.cat([corners, corners + sides], 2),
            "labels": torch.randint(1, 11, (images, 10), generator=generator)}


@case("part_detection")
def part_detection() -> Iterator[Result]:
    rng = np.random.default_rng(0)
    crop = rng.integers(0, 256, (400, 200, 3), dtype=np.uint8)
    points, scores = rng.uniform([0, 0], [200, 400], (17, 2)), np.full(17, 0.9)
    rate = calls_per_second(lambda: pose_embedding(crop, [points], [scores], boxes=[(0, 0, 199, 399)]), seconds=1.0)
    yield Result("pose-guided embedding, 200 x 400 crop", rate, "crops/s")

    generator = torch.Generator().manual_seed(0)
    sizes = (("demo FCOS-R18 FPN-64", "resnet18", 64, 96, 160, 128, 8),
             ("paper-size FCOS-R50 FPN-256", "resnet50", 256, 800, 1333, 800, 2))
    for label, backbone, channels, min_size, max_size, side, images in sizes:
        torch.manual_seed(0)
        model = Detector(build_detector("fcos", backbone, 10, min_size=min_size, max_size=max_size,
                                        fpn_channels=channels))
        batch = _batch(images, side, generator)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.9)

        def step(model: Detector = model, batch: dict = batch, optimizer: torch.optim.Optimizer = optimizer) -> None:
            model.train()
            loss = sum(model(batch).values())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        yield Result(f"{label} train step, batch {images} of {side} px", images * calls_per_second(step, seconds=2.0),
                     "images/s")
        with torch.no_grad():
            model.eval()
            rate = calls_per_second(lambda model=model, batch=batch: model(batch), seconds=2.0)
            yield Result(f"{label} inference, batch {images} of {side} px", images * rate, "images/s")

    truth, found = [], []
    for _ in range(2000):
        corners = rng.uniform(0, 150, (10, 2))
        boxes = np.concatenate([corners, corners + rng.uniform(10, 50, (10, 2))], 1)
        truth.append(ImageBoxes(boxes, np.arange(10)))
        jitter = np.repeat(boxes, 6, axis=0) + rng.normal(0, 6, (60, 4))
        jitter[:, 2:] = np.maximum(jitter[:, 2:], jitter[:, :2] + 1)
        found.append(ImageBoxes(jitter, np.repeat(np.arange(10), 6), rng.random(60)))
    rate = calls_per_second(lambda: average_precision(truth, found, 10), seconds=2.0)
    yield Result("AP50 of 2,000 images x 60 detections, 10 classes", 2000 * rate, "images/s")
