"""CTR-GCN throughput on the CPU: our model against the official implementation, side by side.

Batch 16, 64 frames, 25 joints, 2 persons, float32, one SGD step per "train step". The official
code is not part of this project; point ``CTRGCN_OFFICIAL_DIR`` at a checkout of
Uason-Chen/CTR-GCN (the folder holding ``model/`` and ``graph/``) to get its rows and the
speed-up; without it only our rows are reported. Rounds alternate between the models and the
best round counts, so a busy machine penalises both alike.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.harness import Result, case
from pose_branch.ctrgcn import CTRGCN

BATCH, FRAMES, JOINTS, PERSONS, CLASSES = 16, 64, 25, 2, 60
ROUNDS = 6


def _official_model() -> nn.Module | None:
    root = os.environ.get("CTRGCN_OFFICIAL_DIR")
    if not root or not (Path(root) / "model" / "ctrgcn.py").is_file():
        return None
    sys.path.insert(0, root)  # the official Model imports its graph module by name when built
    try:
        model_cls = importlib.import_module("model.ctrgcn").Model
        return model_cls(num_class=CLASSES, graph="graph.ntu_rgb_d.Graph", graph_args={"labeling_mode": "spatial"})
    finally:
        sys.path.remove(root)


def _step_timers(model: nn.Module) -> tuple[Callable[[], float], Callable[[], float]]:
    x = torch.randn(BATCH, 3, FRAMES, JOINTS, PERSONS)
    y = torch.randint(0, CLASSES, (BATCH,))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)

    def train_step() -> float:
        model.train()
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
        return time.perf_counter() - start

    def eval_step() -> float:
        model.eval()
        with torch.inference_mode():
            start = time.perf_counter()
            model(x)
            return time.perf_counter() - start

    return train_step, eval_step


@case("pose")
def ctrgcn_cpu_throughput() -> Iterator[Result]:
    threads = torch.get_num_threads()
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    try:
        models = {"ours": CTRGCN(CLASSES)}
        official = _official_model()
        if official is not None:
            models["official"] = official
        timers = {name: _step_timers(m) for name, m in models.items()}
        best = {name: [float("inf"), float("inf")] for name in models}
        for _ in range(ROUNDS + 1):  # the first round warms up allocators and kernels
            for name, (train_step, eval_step) in timers.items():
                best[name][0] = min(best[name][0], train_step())
                best[name][1] = min(best[name][1], eval_step())
        where = f"b{BATCH} T{FRAMES} M{PERSONS} cpu fp32 {torch.get_num_threads()} threads"
        for name, (train_s, eval_s) in best.items():
            yield Result(f"ctrgcn {name} train step {where}", BATCH / train_s, "samples/s")
            yield Result(f"ctrgcn {name} eval {where}", BATCH / eval_s, "samples/s")
        if official is not None:
            yield Result("ctrgcn train speed-up ours/official", best["official"][0] / best["ours"][0], "x")
            yield Result("ctrgcn eval speed-up ours/official", best["official"][1] / best["ours"][1], "x")
    finally:
        torch.set_num_threads(threads)
