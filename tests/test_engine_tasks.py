"""Tasks with more than one output: dict batches, weighted loss terms, named logits, task metrics."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.scores import load_scores
from engine.task import Task, move_to
from engine.trainer import run_task
from tests import toy_multitask
from tests.toy_multitask import TASK, MultiExperiment, PointNet, PointSets, pad_points

ARGS = ["--device", "cpu", "--set", "train.epochs=3", "--set", "train.batch_size=12", "--set",
        "train.eval_batch_size=4", "--set", "train.num_workers=0", "--set", "optim.warmup_epochs=1"]


def read_metrics(work_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (work_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work_dir = tmp_path_factory.mktemp("multitask") / "run"
    assert run_task(TASK, [*ARGS, "--work-dir", str(work_dir)]) == 0
    return work_dir


def test_every_loss_term_and_the_weighted_total_are_logged(trained: Path) -> None:
    for epoch in read_metrics(trained):
        assert {"loss", "loss_cls", "loss_offset"} <= set(epoch)
        # total = cls + 0.5 * offset for every batch, so also for the sample-weighted epoch means
        assert epoch["loss"] == pytest.approx(epoch["loss_cls"] + 0.5 * epoch["loss_offset"], rel=1e-6)


def test_task_metric_equals_a_direct_computation_on_the_final_model(trained: Path) -> None:
    cfg = MultiExperiment()
    model = PointNet(cfg)
    model.load_state_dict(torch.load(trained / "checkpoints" / "last.pt", weights_only=True)["model"])
    model.eval()
    data = PointSets(cfg.data, "test")
    errors = []
    with torch.no_grad():
        for i in range(len(data)):
            inputs, target = data[i]
            output = model({"points": inputs["points"][None], "mask": torch.ones(1, len(inputs["points"]), dtype=bool)})
            errors.append((output["offset"][0] - target["offset"]).abs().numpy())
    last = read_metrics(trained)[-1]
    assert last["eval_offset_mae"] == pytest.approx(float(np.concatenate(errors).mean()), rel=1e-5)


def test_score_file_holds_the_named_logits_in_split_order(trained: Path) -> None:
    scores = load_scores(trained / "scores" / "final.pkl")
    data = PointSets(MultiExperiment().data, "test")
    assert list(scores) == data.sample_names
    assert all(v.shape == (3,) and v.dtype == np.float32 for v in scores.values())


def test_task_metrics_reach_tensorboard(trained: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(trained / "tensorboard"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"eval/offset_mae", "train/loss_cls", "train/loss_offset", "eval/top1"} <= tags


def test_collate_pads_and_masks() -> None:
    data = PointSets(MultiExperiment().data, "train")
    inputs, target = pad_points([data[i] for i in range(6)])
    counts = [len(data[i][0]["points"]) for i in range(6)]
    assert inputs["points"].shape == (6, max(counts), 4)
    assert inputs["mask"].sum(1).tolist() == counts
    assert target["label"].tolist() == [int(data[i][1]["label"]) for i in range(6)]


def test_move_to_reaches_every_tensor_of_a_nested_batch() -> None:
    batch = {"a": torch.zeros(2), "b": [torch.ones(1), {"c": torch.zeros(3)}], "name": "x"}
    moved = move_to(batch, torch.device("cpu"), lambda t: t + 1)
    assert moved["a"].tolist() == [1, 1] and moved["b"][0].tolist() == [2] and moved["b"][1]["c"].tolist() == [1] * 3
    assert moved["name"] == "x"


def test_logits_key_must_match_an_output() -> None:
    task = Task("t", MultiExperiment, PointNet, lambda cfg, split: None, logits_key="scores")
    with pytest.raises(KeyError, match="logits_key is 'scores'"):
        task.logits({"logits": torch.zeros(1, 3)})


def test_loss_weights_for_unknown_terms_are_refused() -> None:
    task = Task("t", MultiExperiment, PointNet, lambda cfg, split: None,
                compute_loss=lambda o, t, c: {"cls": torch.tensor(1.0)}, loss_weights=lambda cfg: {"clss": 2.0})
    with pytest.raises(KeyError, match="clss"):
        task.loss_terms(None, None, MultiExperiment())


def test_metrics_are_reduced_over_processes(tmp_path: Path) -> None:
    """Three Gloo processes on a split of 7: the metric is the same as in one process."""
    single = tmp_path / "single"
    assert run_task(TASK, [*ARGS, "--set", "train.epochs=1", "--set", "train.eval_batch_size=3",
                           "--work-dir", str(single)]) == 0
    ddp = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(toy_multitask.__file__).parents[1])}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=3",
           toy_multitask.__file__, *ARGS, "--set", "train.epochs=1", "--set", "train.eval_batch_size=3",
           "--work-dir", str(ddp)]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    one, three = read_metrics(single)[-1], read_metrics(ddp)[-1]
    assert not math.isnan(three["eval_offset_mae"])
    assert list(load_scores(ddp / "scores" / "final.pkl")) == list(load_scores(single / "scores" / "final.pkl"))
    # 3 x 4 samples per step are the single process's 12 (DistributedSampler interleaves one
    # permutation) and DDP averages the gradients: the same model, so the same metrics
    assert three["eval_offset_mae"] == pytest.approx(one["eval_offset_mae"], rel=1e-4)
    assert three["loss_offset"] == pytest.approx(one["loss_offset"], rel=1e-4)
