"""SCHP parser throughput: frames per second at the LIP input size (473), random weights.

On the CPU: fp32, batch 4, one warm-up batch then a few timed ones. On CUDA (when present): bf16
autocast with channels-last weights, batch 16. Also the input transform alone, per frame, on a
person-frame-sized image.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import torch

from benchmarks.harness import Result, case
from parsing.schp import build_schp, parse_batch, schp_input

INPUT_SIZE = 473


def _frames_per_second(batch_size: int, iterations: int, device: torch.device, amp: str | None) -> float:
    model = build_schp("lip", seed=0).to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    batch = torch.randn(batch_size, 3, INPUT_SIZE, INPUT_SIZE, generator=torch.Generator().manual_seed(0))
    parse_batch(model, batch, amp)  # warm-up: oneDNN / cuDNN pick their kernels on the first call
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(iterations):
        parse_batch(model, batch, amp)  # returns NumPy, so each call waits for the device
    return batch_size * iterations / (time.perf_counter() - start)


@case("parsing")
def schp_throughput() -> Iterator[Result]:
    image = np.random.default_rng(0).integers(0, 256, size=(460, 125, 3), dtype=np.uint8)
    start = time.perf_counter()
    for _ in range(200):
        schp_input(image)
    yield Result("SCHP input transform 125x460 -> 473 (CPU)", 200 / (time.perf_counter() - start), "frames/s")

    threads = torch.get_num_threads()
    fps = _frames_per_second(4, 2, torch.device("cpu"), None)
    yield Result(f"SCHP 473 fp32 CPU batch 4 ({threads} threads)", fps, "frames/s")
    if torch.cuda.is_available():
        fps = _frames_per_second(16, 10, torch.device("cuda"), "bf16")
        yield Result("SCHP 473 bf16 CUDA batch 16", fps, "frames/s")
