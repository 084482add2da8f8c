"""The pose task end to end: train_pose through the engine on tiny prepared data, and one-file inference."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import yaml

from engine import run_task
from engine.scores import load_scores
from pose_branch.ctrgcn import CTRGCN
from pose_branch.infer import main as infer_main
from pose_branch.task import TASK

CLASSES = 4


def write_prepared(root: Path, split: str, per_class: int, seed: int) -> None:
    """A prepared ntu60-xsub split whose action k raises a different limb, at its own pace."""
    rng = np.random.default_rng(seed)
    limbs = [(4, 5, 6, 7), (8, 9, 10, 11), (12, 13, 14, 15), (16, 17, 18, 19)]  # 0-based joints
    subjects = (1, 2) if split == "train" else (3, 6)
    samples, names, labels = [], [], []
    for k in range(CLASSES):
        for i in range(per_class):
            t = int(rng.integers(50, 90))
            frames = rng.normal(scale=0.02, size=(t, 2, 25, 3)).astype(np.float32)
            frames[:, 0] += rng.normal(size=(25, 3)).astype(np.float32) * 0.1
            lift = 0.3 + 0.3 * np.sin(np.linspace(0, np.pi * (1 + k % 2), t))
            frames[:, 0, list(limbs[k]), 1] += lift[:, None].astype(np.float32)
            frames[:, 1] = 0
            samples.append(frames.reshape(t, 150))
            names.append(f"S001C001P{subjects[i % 2]:03d}R{1 + i // 2:03d}A{k + 1:03d}")
            labels.append(k)
    folder = root / "ntu60-xsub" / split
    folder.mkdir(parents=True)
    np.save(folder / "frames.npy", np.concatenate(samples))
    np.save(folder / "offsets.npy", np.cumsum([0] + [len(s) for s in samples]).astype(np.int64))
    np.save(folder / "labels.npy", np.array(labels, dtype=np.int64))
    (folder / "names.txt").write_text("\n".join(names) + "\n")
    meta = {"benchmark": "ntu60-xsub", "split": split, "num_classes": 60, "num_samples": len(names),
            "max_frames": max(len(s) for s in samples)}
    (folder / "meta.json").write_text(json.dumps(meta))


def tiny_config(path: Path, root: Path, stream: str) -> Path:
    config = {
        "seed": 0,
        "model": {"num_class": CLASSES, "base_channels": 8},
        "data": {"benchmark": "ntu60-xsub", "root": str(root), "stream": stream, "window_size": 16},
        "optim": {"lr": 0.05, "warmup_epochs": 2, "milestones": [16]},  # stable across seeds and BLAS builds
        "train": {"epochs": 20, "batch_size": 8, "eval_batch_size": 32, "eval_interval": 10, "num_workers": 0,
                  "amp": "none", "log_interval": 100},
    }
    path.write_text(yaml.safe_dump(config))
    return path


def test_train_pose_beats_chance_and_writes_scores_in_split_order(tmp_path: Path) -> None:
    root = tmp_path / "prepared"
    write_prepared(root, "train", per_class=10, seed=0)
    write_prepared(root, "test", per_class=6, seed=1)
    config = tiny_config(tmp_path / "pose.yaml", root, "joint")
    work = tmp_path / "run"
    assert run_task(TASK, ["--config", str(config), "--work-dir", str(work), "--device", "cpu"]) == 0

    metrics = [json.loads(line) for line in (work / "metrics.jsonl").read_text().splitlines()]
    assert metrics[-1]["eval_top1"] > 2 / CLASSES  # chance is 1/4
    scores = load_scores(work / "scores" / "final.pkl")
    assert list(scores) == (root / "ntu60-xsub" / "test" / "names.txt").read_text().split()
    assert all(v.shape == (CLASSES,) for v in scores.values())


def test_infer_prints_the_five_likeliest_named_actions(tmp_path: Path, ntu_fixtures: Path, capsys) -> None:
    config = tmp_path / "pose.yaml"
    config.write_text(yaml.safe_dump({"model": {"base_channels": 8}, "data": {"benchmark": "ntu60-xsub"}}))
    weights = tmp_path / "ctrgcn.pt"
    torch.save({f"module.{k}": v for k, v in CTRGCN(num_class=60, base_channels=8).state_dict().items()}, weights)
    skeleton = ntu_fixtures / "skeletons" / "S001C001P001R001A001.skeleton"
    assert infer_main([str(skeleton), "--weights", str(weights), "--config", str(config), "--stream", "bone"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("S001C001P001R001A001.skeleton (bone stream")
    assert len(lines) == 6 and all("%" in line and " A" in line for line in lines[1:])
    probabilities = [float(line.split("%")[0]) for line in lines[1:]]
    assert probabilities == sorted(probabilities, reverse=True)


def test_infer_reports_a_checkpoint_that_does_not_fit(tmp_path: Path, ntu_fixtures: Path, capsys) -> None:
    config = tmp_path / "pose.yaml"
    config.write_text(yaml.safe_dump({"model": {"base_channels": 8}, "data": {"benchmark": "ntu120-xsub"}}))
    weights = tmp_path / "ctrgcn60.pt"
    torch.save(CTRGCN(num_class=60, base_channels=8).state_dict(), weights)
    skeleton = ntu_fixtures / "skeletons" / "S001C001P001R001A001.skeleton"
    assert infer_main([str(skeleton), "--weights", str(weights), "--config", str(config)]) == 2
    assert "fc.weight" in capsys.readouterr().err
