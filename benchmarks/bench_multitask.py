"""The multitask network's train step on the CPU, per stage: clips per second at the tiny sizes.

Batch 4 clips of 8 frames, 64 px crops, K = 2 blocks, 4 depth bins, 60 classes, float32, one SGD step
(lr 1e-3, momentum 0.95, Nesterov) with the stage's loss terms. ``pose`` and ``finetune`` backpropagate
through the whole network; ``action`` only through the action branches (the pose part frozen). The
best of a few rounds counts, after a warm-up round.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import torch

from benchmarks.harness import Result, case
from engine.config import load_config
from multitask.task import TASK, MultitaskExperiment, build_model

BATCH, ROUNDS = 4, 4


def _train_step_seconds(stage: str) -> float:
    cfg = load_config(MultitaskExperiment, None, ["model.variant=tiny", f"model.stage={stage}"])
    torch.manual_seed(0)
    model = build_model(cfg).train()
    sizes = model.sizes
    inputs = {"frames": torch.rand(BATCH, sizes.num_frames, 3, sizes.image_size, sizes.image_size) * 2 - 1}
    target = {"label": torch.randint(0, sizes.num_classes, (BATCH,)),
              "pose": torch.rand(BATCH, sizes.num_frames, sizes.num_joints, 3),
              "valid": torch.ones(BATCH, sizes.num_frames, sizes.num_joints)}
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=1e-3, momentum=0.95, nesterov=True)
    best = float("inf")
    for _ in range(ROUNDS + 1):
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss, _ = TASK.loss_terms(model(inputs), target, cfg)
        loss.backward()
        optimizer.step()
        best = min(best, time.perf_counter() - start)
    return best


@case("multitask")
def multitask_cpu_train_steps() -> Iterator[Result]:
    threads = torch.get_num_threads()
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    try:
        for stage in ("pose", "action", "finetune"):
            seconds = _train_step_seconds(stage)
            yield Result(f"multitask {stage} train step (b{BATCH} T8 64px K2, cpu fp32)", BATCH / seconds, "clips/s")
    finally:
        torch.set_num_threads(threads)
