"""Can the parsing loader feed the model? Loader-only samples/s beside the CPU train-step rate."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from benchmarks.harness import Result, case
from benchmarks.loader import loader_rate, synthetic_parsing_dataset


@case("loader")
def parsing_loader_feeds() -> Iterator[Result]:
    workers = min(2, os.cpu_count() or 1)
    with tempfile.TemporaryDirectory() as tmp:
        dataset = synthetic_parsing_dataset(Path(tmp), samples=96, train=True)
        for count in (0, workers):
            yield Result(f"parsing loader 299 train, {count} workers", loader_rate(dataset, count, 16, 4),
                         "samples/s")
