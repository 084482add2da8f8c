"""Short RGB-branch training runs on synthetic NTU person frames and synthetic JHMDB: every model above
chance, score keys equal to the split's names, the auxiliary pose loss logged as its own term, the configs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from data.synthetic import SyntheticConfig, generate
from data.synthetic.frames import write_person_frames
from data.synthetic.jhmdb import write_synthetic_jhmdb
from engine import load_config, run_task
from engine.scores import load_scores
from rgb_branch.jhmdb import JHMDB_CLASSES, read_split
from rgb_branch.task import TASK, RgbExperiment, num_classes

PROJECT = Path(__file__).resolve().parents[1]


def write_names(root: Path, split: str, names: list[str], labels: list[int]) -> None:
    """A prepared ntu60-xsub split (docs/ARCHITECTURE.md); the RGB branch reads only names and labels."""
    folder = root / "ntu60-xsub" / split
    folder.mkdir(parents=True)
    np.save(folder / "frames.npy", np.zeros((len(names), 150), np.float32))
    np.save(folder / "offsets.npy", np.arange(len(names) + 1, dtype=np.int64))
    np.save(folder / "labels.npy", np.array(labels, np.int64))
    (folder / "names.txt").write_text("".join(f"{n}\n" for n in names))
    meta = {"benchmark": "ntu60-xsub", "split": split, "num_classes": 60, "num_samples": len(names), "max_frames": 1}
    (folder / "meta.json").write_text(json.dumps(meta))


@pytest.fixture(scope="module")
def ntu(tmp_path_factory) -> tuple[Path, dict[str, list[str]]]:
    base = tmp_path_factory.mktemp("rgb_ntu")
    summary = generate(base / "synthetic", SyntheticConfig(classes=2, two_person_classes=1, samples_per_class=12,
                       videos=0, min_frames=30, max_frames=40, parsing=False, noise_rate=0.0), progress=False)
    write_person_frames(base / "synthetic", base / "frames", size=32)
    samples = [s for s in summary["samples"] if not s["missing"]]
    splits: dict[str, list[str]] = {"train": [], "test": []}
    for i, sample in enumerate(samples):
        splits["test" if i % 3 == 2 else "train"].append(sample["name"])
    label = {s["name"]: s["class"] for s in samples}  # 0: drink water, 1: a two-person action
    for split, names in splits.items():
        write_names(base / "prepared", split, names, [label[n] for n in names])
    return base, splits


def ntu_config(path: Path, base: Path, model: dict, data: dict, epochs: int, lr: float = 0.02,
               batch_size: int = 4, milestones: list[int] | None = None) -> Path:
    path.write_text(yaml.safe_dump({
        "seed": 0,
        "model": model,
        "data": {"dataset": "ntu", "benchmark": "ntu60-xsub", "root": str(base / "prepared"),
                 "frames_dir": str(base / "frames"), "skeletons_dir": str(base / "synthetic" / "skeletons"),
                 "image_size": 32} | data,
        "optim": {"lr": lr, "warmup_epochs": 0, "milestones": milestones or [epochs]},
        "train": {"epochs": epochs, "batch_size": batch_size, "eval_batch_size": 16, "eval_interval": epochs,
                  "num_workers": 0, "grad_clip": 5.0},
    }))
    return path


@pytest.fixture
def one_thread():
    """Tiny models train several times faster on one thread than on a busy machine's few, and reproducibly."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# Each model from scratch, seconds on one CPU thread: (model, data, ntu_config options). Chance is 1/2 and a
# constant answer scores 5/8 on the 8 evaluation clips (5 drink water, 3 two-person). C3D is narrowed (width 8,
# fc 64 instead of 64 / 4096: a deviation from the paper), without dropout and with batches of 2, so that it
# gets past the plain 8-conv net's plateau in its 80 steps. r2plus1d_18 needs 10 epochs with the learning rate
# dropped after 8: at a constant rate it fits the training clips but evaluates to one class (its batch-norm
# running statistics trail the weights).
RECIPES = {
    "c3d": ({"c3d_width": 8, "c3d_fc": 64, "dropout": 0.0}, {"num_frames": 8},
            {"epochs": 10, "batch_size": 2, "milestones": [8]}),
    "two_stream": ({"spatial": "resnet18", "stack": "resnet18"}, {"num_frames": 4}, {"epochs": 6}),
    "attention_pool": ({"spatial": "resnet18", "pose": "input"}, {"num_frames": 2}, {"epochs": 6}),
    "r3d_18": ({}, {"num_frames": 4}, {"epochs": 6}),
    "r2plus1d_18": ({}, {"num_frames": 4}, {"epochs": 10, "milestones": [8]}),
    "rgb_grid": ({"spatial": "resnet18"}, {"num_frames": 9, "sampling": "eppnet_grid", "background": 0.5,
                                          "image_size": 16}, {"epochs": 6}),
}


@pytest.mark.parametrize("name", RECIPES)
def test_each_model_beats_chance(ntu, tmp_path, one_thread, name):
    base, splits = ntu
    model, data, options = RECIPES[name]
    config = ntu_config(tmp_path / "rgb.yaml", base, {"name": name, "num_classes": 2} | model, data, **options)
    work = tmp_path / "run"
    assert run_task(TASK, ["--config", str(config), "--work-dir", str(work), "--device", "cpu"]) == 0
    scores = load_scores(work / "scores" / "final.pkl")
    assert list(scores) == splits["test"]
    predictions = np.array([scores[n].argmax() for n in splits["test"]])
    truth = np.array([0 if n.endswith("A001") else 1 for n in splits["test"]])
    assert (predictions == truth).mean() >= 7 / 8  # chance 1/2, a constant answer 5/8


def test_attention_pooling_logs_the_auxiliary_pose_loss(ntu, tmp_path):
    base, splits = ntu
    model = {"name": "attention_pool", "num_classes": 2, "spatial": "resnet18", "pose": "aux", "pose_loss_weight": 0.5}
    config = ntu_config(tmp_path / "rgb.yaml", base, model, {"num_frames": 2}, epochs=1, lr=0.005)
    work = tmp_path / "run"
    assert run_task(TASK, ["--config", str(config), "--work-dir", str(work), "--device", "cpu"]) == 0
    log = [json.loads(line) for line in (work / "metrics.jsonl").read_text().splitlines()]
    assert any("loss_pose" in row and "loss_cls" in row for row in log)
    assert list(load_scores(work / "scores" / "final.pkl")) == splits["test"]


def test_jhmdb_scores_are_keyed_by_the_split_names(tmp_path):
    write_synthetic_jhmdb(tmp_path / "jhmdb", JHMDB_CLASSES, videos_per_class=2, frames=8, size=(48, 36))
    config = tmp_path / "jhmdb.yaml"
    config.write_text(yaml.safe_dump({
        "seed": 0,
        "model": {"name": "c3d", "c3d_width": 4, "c3d_fc": 16},
        "data": {"dataset": "jhmdb", "jhmdb_root": str(tmp_path / "jhmdb"), "split": 2, "num_frames": 4,
                 "image_size": 32, "background": 0.5},
        "optim": {"lr": 0.01, "warmup_epochs": 0},
        "train": {"epochs": 1, "batch_size": 8, "eval_batch_size": 32, "num_workers": 0},
    }))
    work = tmp_path / "run"
    assert run_task(TASK, ["--config", str(config), "--work-dir", str(work), "--device", "cpu"]) == 0
    scores = load_scores(work / "scores" / "final.pkl")
    assert list(scores) == read_split(tmp_path / "jhmdb", 2)["test"]
    assert all(v.shape == (21,) for v in scores.values())


def test_configs_load():
    configs = sorted((PROJECT / "configs").glob("*/rgb*.yaml")) + sorted((PROJECT / "configs" / "jhmdb").glob("*.yaml"))
    assert len(configs) >= 4 * 2 + 3 * 2
    for path in configs:
        cfg = load_config(RgbExperiment, path)
        assert num_classes(cfg) in (6, 21, 60, 120), path
