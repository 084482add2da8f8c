"""The Kinetics-TPS score at the size of the real test split: 932 videos, from the four JSON files.

Videos have 90-300 frames (Kinetics clips of up to 10 s; every 5th frame is scored), 1-3 persons a frame
(2 on average) with 6-10 parts. Predictions find most persons with jittered boxes, add a false person now
and then, and give 1-3 proposals a part (the first usually right), the class right 9 times in 10.
"""

from __future__ import annotations

import gc
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from benchmarks.harness import Result, case
from part_parsing.evaluate import evaluate, evaluate_files
from part_parsing.tps import BODY_PARTS, read_json, write_evaluation_files

VIDEOS = 932
STATES = ("none", "bend", "unbend", "step", "raise", "wave")


def _frame(rng: np.random.Generator) -> tuple[dict, dict]:
    """One scored frame of ground truth and of prediction."""
    n = int(rng.integers(1, 4))
    bodies = rng.integers(0, 500, (n, 2))
    bodies = np.concatenate([bodies, bodies + rng.integers(50, 200, (n, 2))], axis=1)
    corners = rng.integers(0, 500, (n, 10, 2))
    boxes = np.concatenate([corners, corners + rng.integers(10, 60, (n, 10, 2))], axis=2)
    proposals = (boxes[:, :, None] + rng.integers(-4, 5, (n, 10, 3, 4))).tolist()
    order = rng.random((n, 10)).argsort(axis=1).tolist()
    counts, states = rng.integers(6, 11, n).tolist(), rng.integers(0, len(STATES), (n, 10)).tolist()
    k, right = rng.integers(1, 4, (n, 10)).tolist(), (rng.random((n, 10, 3)) < 0.7).tolist()
    other = rng.integers(0, len(STATES), (n, 10, 3)).tolist()
    found = (rng.random(n) < 0.9).tolist()
    moved = (bodies + rng.integers(-4, 5, (n, 4))).tolist()
    humans, predicted = [], []
    boxes, bodies = boxes.tolist(), bodies.tolist()
    for h in range(n):
        parts = {BODY_PARTS[p]: (p, {"box": boxes[h][p], "verb": STATES[states[h][p]]}) for p in order[h][:counts[h]]}
        humans.append({"box": bodies[h], "parts": {name: part for name, (_, part) in parts.items()}})
        if found[h]:
            predicted.append({"box": moved[h], "parts": {name: {
                "box": proposals[h][p][:k[h][p]],
                "verb": [part["verb"] if right[h][p][i] else STATES[other[h][p][i]] for i in range(k[h][p])]}
                for name, (p, part) in parts.items()}})
    if rng.random() < 0.2:
        predicted.append({"box": moved[0], "parts": {}})
    return {"humans": humans}, {"humans": predicted}


def _results(rng: np.random.Generator) -> tuple[dict, dict, dict, dict]:
    gt_vid, gt_part, pred_vid, pred_part = {}, {}, {}, {}
    for v in range(VIDEOS):
        name, action = f"video{v:04d}_000000_000010", f"class{v % 24}"
        gt_vid[name] = action
        pred_vid[name] = action if rng.random() < 0.9 else "class_wrong"
        gt_part[name], pred_part[name] = {}, {}
        for index in range(1, int(rng.integers(90, 301)) + 1, 5):
            gt_part[name][f"img_{index:05d}.json"], pred_part[name][f"img_{index:05d}.json"] = _frame(rng)
    return gt_vid, gt_part, pred_vid, pred_part


@case("part_parsing")
def kinetics_tps_score() -> Iterator[Result]:
    gc.disable()  # building millions of containers: collections would only rescan them
    try:
        results = _results(np.random.default_rng(0))
    finally:
        gc.enable()
    frames = sum(len(f) for f in results[1].values())
    with tempfile.TemporaryDirectory() as tmp:
        gt_files = write_evaluation_files(tmp, results[0], results[1], prediction=False)
        pred_files = write_evaluation_files(tmp, results[2], results[3], prediction=True)
        files = (gt_files[0], gt_files[1], pred_files[0], pred_files[1])
        size = sum(Path(f).stat().st_size for f in files)
        loaded = [read_json(f) for f in files]
        score_s = min(_timed(lambda: evaluate(*loaded)) for _ in range(2))
        total_s = _timed(lambda: evaluate_files(*files))  # the files are in the page cache: just written
    label = f"TPS score {VIDEOS} videos, {frames} scored frames"
    yield Result(f"{label}: read JSON + score", total_s, "s")
    yield Result(f"{label}: score only", score_s, "s")
    yield Result(f"{label}: size of the four files", size / 2**20, "MiB")


def _timed(run) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start
