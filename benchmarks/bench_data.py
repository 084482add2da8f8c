"""Throughput and peak memory of ``python -m data.ntu prepare`` on generated, realistically sized files.

Files look like real NTU ones (about 340 KB, ~100 frames, one or two bodies, all 12 joint fields);
a few dozen distinct files are written under many sample names. ``prepare`` runs as a child process,
end to end (interpreter start, parsing on all cores, cache, report, all four benchmarks' splits),
at two dataset sizes: its peak memory should not depend on the size.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.harness import Result, case
from data.skeleton import format_skeleton

PROJECT = Path(__file__).resolve().parents[1]
TEMPLATES = 24
SIZES = (1000, 3000)

# Peak RSS of every process of `prepare`, read by a wrapper that runs it: the largest single process
# (main or a parsing worker) is what a machine must provide per process.
_WRAPPER = """
import resource, subprocess, sys, time
start = time.perf_counter()
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
seconds = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss)
"""


def _realistic_file(rng: np.random.Generator) -> str:
    """~100 frames of one or two bodies with all 12 joint fields, as the Kinect v2 writes them."""
    frames = int(rng.integers(90, 110))
    people = 2 if rng.random() < 0.3 else 1  # about 1.3 bodies per frame on average, as in NTU
    pose = np.stack(
        [np.sin(np.arange(25)) * 0.25, np.linspace(-0.8, 0.7, 25), np.cos(np.arange(25)) * 0.1], 1
    )
    tracks = []
    for p in range(people):
        xyz = pose + np.cumsum(rng.normal(0, 0.01, (frames, 1, 3)), axis=0) + [0.8 * p - 0.4, 0.0, 3.2]
        full = np.empty((frames, 25, 12))
        full[..., :3] = xyz + rng.normal(0, 0.003, xyz.shape)
        full[..., 3:5] = 256 + 100 * xyz[..., :2] + rng.normal(0, 1, (frames, 25, 2))
        full[..., 5:7] = 960 + 400 * xyz[..., :2] + rng.normal(0, 1, (frames, 25, 2))
        quat = rng.normal(0, 1, (frames, 25, 4))
        full[..., 7:11] = quat / np.linalg.norm(quat, axis=-1, keepdims=True)
        full[..., 11] = 2
        tracks.append((f"720575940379{p:05d}", full))
    return format_skeleton([[(body_id, joints[f]) for body_id, joints in tracks] for f in range(frames)])


def _write_dataset(folder: Path, count: int, templates: list[bytes]) -> None:
    folder.mkdir(parents=True)
    for k in range(count):
        setup, camera, subject, action = k % 32 + 1, k % 3 + 1, k % 106 + 1, k % 120 + 1
        name = f"S{setup:03d}C{camera:03d}P{subject:03d}R{k // 3816 + 1:03d}A{action:03d}"
        (folder / f"{name}.skeleton").write_bytes(templates[k % len(templates)])


@case("data.prepare")
def prepare_throughput():
    rng = np.random.default_rng(0)
    templates = [_realistic_file(rng).encode() for _ in range(TEMPLATES)]
    mean_kb = sum(map(len, templates)) / len(templates) / 1024
    workers = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="bench_data_") as tmp:
        for count in SIZES:
            skeletons, out = Path(tmp) / f"skeletons_{count}", Path(tmp) / f"prepared_{count}"
            _write_dataset(skeletons, count, templates)
            command = [
                sys.executable,
                "-m",
                "data.ntu",
                "prepare",
                "--skeletons",
                str(skeletons),
                "--out",
                str(out),
                "--workers",
                str(workers),
            ]
            answer = subprocess.run(
                [sys.executable, "-c", _WRAPPER, *command],
                cwd=PROJECT,
                check=True,
                capture_output=True,
                text=True,
            )
            seconds, cpu_seconds, peak_kb = (float(x) for x in answer.stdout.split())
            report = json.loads((out / "report.json").read_text())["summary"]
            assert report["samples"] == count, report
            yield Result(
                f"prepare {count} files x {mean_kb:.0f} KB, {workers} workers", count / seconds, "files/s"
            )
            # CPU time of all its processes: the throughput on otherwise idle cores is cores / this.
            yield Result(f"prepare {count} files: CPU time per file", 1000 * cpu_seconds / count, "ms")
            yield Result(f"prepare {count} files: peak RSS of one process", peak_kb / 1024, "MB")
