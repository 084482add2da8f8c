"""Speed of the synthetic NTU generator (`python -m data.synthetic`) at its default size.

Skeleton files and parsing maps are timed apart from the 1920×1080 videos, which cost per frame.
"""

from __future__ import annotations

import tempfile
import time

from benchmarks.harness import Result, case
from data.synthetic import SyntheticConfig, generate


@case("synthetic")
def default_dataset():
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        summary = generate(out, SyntheticConfig(videos=0), progress=False)
        seconds = time.perf_counter() - start
    yield Result(f"synthetic {len(summary['samples'])} samples, skeletons + parsing maps", seconds, "s")
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        config = SyntheticConfig(classes=2, two_person_classes=1, samples_per_class=4, videos=2, missing=0,
                                 parsing=False)
        summary = generate(out, config, progress=False)
        seconds = time.perf_counter() - start
    frames = sum(s["frames"] for s in summary["samples"] if s["video"])
    yield Result("synthetic video frames (1920×1080 MJPG) per second", frames / seconds, "frames/s")
