"""Late fusion at NTU120 XSet size: five streams of 59,477 x 120 logits, from score pickles to top-1/top-5,
and the uncertainty of one table: bootstrap intervals of its seven rows and a McNemar test.

The inputs look like the reference chain's: four CTR-GCN files keyed ``test_i`` (named through the sample
list) and a parsing file keyed by sample name in a shuffled order, so alignment does real work.
"""

from __future__ import annotations

import pickle
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from itertools import islice, product
from pathlib import Path

import numpy as np

from benchmarks.harness import Result, case
from fusion import (
    BENCHMARKS,
    Bootstrap,
    FusionSpec,
    StreamSpec,
    bootstrap_intervals,
    fuse_scores,
    load_streams,
    mcnemar,
    topk_accuracy,
)

SAMPLES, CLASSES = 59_477, 120
STREAMS = {"joint": 2.0, "bone": 2.0, "joint-motion": 1.0, "bone-motion": 1.0, "parsing": 2.0}


def _write_inputs(folder: Path) -> FusionSpec:
    combos = islice(product(range(1, 33, 2), range(1, 4), range(1, 107), range(1, 3), range(1, 121)), SAMPLES)
    names = [f"S{s:03d}C{c:03d}P{p:03d}R{r:03d}A{a:03d}" for s, c, p, r, a in combos]
    labels = np.array([int(n[-3:]) - 1 for n in names])
    rng = np.random.default_rng(0)
    sample_list = folder / "names.txt"
    sample_list.write_text("\n".join(names) + "\n")
    streams = []
    for stream, weight in STREAMS.items():
        logits = rng.normal(size=(SAMPLES, CLASSES)).astype(np.float32)
        logits[np.arange(SAMPLES), labels] += 2.0
        if stream == "parsing":
            content = {names[i]: logits[i] for i in rng.permutation(SAMPLES)}
        else:
            content = {f"test_{i}": row for i, row in enumerate(logits)}
        path = folder / f"{stream}.pkl"
        with path.open("wb") as f:
            pickle.dump(content, f, protocol=4)
        streams.append(StreamSpec(stream, path, weight))
    return FusionSpec(tuple(streams), BENCHMARKS["NTU120XSet"], sample_list=sample_list)


def _fuse(spec: FusionSpec) -> tuple[float, float]:
    """Load, align, fuse, score; returns (load seconds, fuse + top-k seconds)."""
    start = time.perf_counter()
    data = load_streams(spec)
    loaded = time.perf_counter()
    fused = fuse_scores(list(data.streams.values()), list(data.weights.values()))
    topk_accuracy(fused, data.labels)
    return loaded - start, time.perf_counter() - loaded


@case("fusion")
def fuse_five_streams() -> Iterator[Result]:
    with tempfile.TemporaryDirectory() as tmp:
        spec = _write_inputs(Path(tmp))
        load_s, fuse_s = min(_fuse(spec) for _ in range(2))  # the first run also warms the page cache
        tracemalloc.start()
        _fuse(spec)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    label = f"fusion 5 x {SAMPLES} x {CLASSES}"
    yield Result(f"{label}: load + fuse + top-k", load_s + fuse_s, "s")
    yield Result(f"{label}: fuse + top-k only", fuse_s, "s")
    yield Result(f"{label}: peak traced memory", peak / 2**20, "MiB")


@case("fusion-uncertainty")
def bootstrap_a_table() -> Iterator[Result]:
    rng = np.random.default_rng(0)
    correct = {f"row {i}": rng.random(SAMPLES) < 0.9 for i in range(7)}  # 4 streams, parsing, 2 fusions
    start = time.perf_counter()
    bootstrap_intervals(correct, Bootstrap(1000))
    seconds = time.perf_counter() - start
    start = time.perf_counter()
    mcnemar(correct["row 5"], correct["row 6"])
    yield Result(f"bootstrap 1000 x {SAMPLES} samples, 7 rows", seconds, "s")
    yield Result(f"McNemar on {SAMPLES} samples", time.perf_counter() - start, "s")
