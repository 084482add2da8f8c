"""The shared training engine on a toy task: configs, learning, resume, DDP, work-dir safety."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from engine import ConfigError, Experiment, OptimConfig, load_config
from engine.checkpoint import CheckpointError, load_model_weights
from engine.scores import load_scores
from engine.trainer import lr_factor, run_task
from tests import toy_task
from tests.toy_task import TASK, Clusters, ToyExperiment, build_model

TOY_SCRIPT = Path(toy_task.__file__)


def write_yaml(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def toy_config(tmp_path: Path, **train) -> Path:
    return write_yaml(
        tmp_path / "toy.yaml",
        {
            "seed": 3,
            "optim": {"lr": 0.1, "warmup_epochs": 1, "milestones": [3], "weight_decay": 1e-4},
            "train": {"epochs": 4, "batch_size": 16, "eval_batch_size": 16, "num_workers": 0, **train},
        },
    )


def final_weights(work_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(work_dir / "checkpoints" / "last.pt", weights_only=True)["model"]


# -- configs ----------------------------------------------------------------------------------------


def test_unknown_key_names_file_key_and_closest(tmp_path: Path) -> None:
    path = write_yaml(tmp_path / "bad.yaml", {"optim": {"lrr": 0.1}})
    with pytest.raises(ConfigError) as err:
        load_config(ToyExperiment, path)
    message = str(err.value)
    assert str(path) in message and "optim.lrr" in message and "'lr'" in message


def test_unknown_section_suggests_closest(tmp_path: Path) -> None:
    path = write_yaml(tmp_path / "bad.yaml", {"trian": {"epochs": 1}})
    with pytest.raises(ConfigError, match="did you mean 'train'"):
        load_config(ToyExperiment, path)


@pytest.mark.parametrize(
    ("section", "value", "expected"),
    [
        ({"train": {"epochs": "many"}}, "'many'", "should be int"),
        ({"train": {"amp": "fp8"}}, "'fp8'", "one of 'none', 'bf16', 'fp16'"),
        ({"optim": {"milestones": [1, "x"]}}, "'x'", "should be int"),
        ({"optim": {"nesterov": 1}}, "1", "should be bool"),
    ],
)
def test_wrong_type_names_expected_type(tmp_path: Path, section: dict, value: str, expected: str) -> None:
    path = write_yaml(tmp_path / "bad.yaml", section)
    with pytest.raises(ConfigError) as err:
        load_config(ToyExperiment, path)
    assert str(path) in str(err.value) and expected in str(err.value) and value in str(err.value)


def test_overrides_base_files_and_numbers(tmp_path: Path) -> None:
    write_yaml(tmp_path / "base.yaml", {"optim": {"lr": 0.5, "gamma": 0.2}, "model": {"hidden": 7}})
    child = write_yaml(tmp_path / "child.yaml", {"_base_": "base.yaml", "optim": {"lr": "1e-3"}})
    cfg = load_config(ToyExperiment, child, ["train.epochs=9", "optim.milestones=[2, 4]", "data.noise=0"])
    assert cfg.optim.lr == pytest.approx(1e-3)  # the child wins, and YAML's string "1e-3" is a float
    assert cfg.optim.gamma == pytest.approx(0.2) and cfg.model.hidden == 7
    assert cfg.train.epochs == 9 and cfg.optim.milestones == [2, 4] and cfg.data.noise == 0.0
    with pytest.raises(ConfigError, match="'optim.lrate'.*did you mean 'lr'"):
        load_config(ToyExperiment, None, ["optim.lrate=1"])
    with pytest.raises(ConfigError, match="should be int"):
        load_config(ToyExperiment, None, ["train.epochs=1.5"])


def test_schedule_warmup_then_steps() -> None:
    cfg = load_config(ToyExperiment, None)
    factors = [lr_factor(e, cfg) for e in range(65)]
    assert factors[:5] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])  # CTR-GCN: lr * (epoch + 1) / warm-up
    assert factors[34] == 1.0 and factors[35] == pytest.approx(0.1) and factors[55] == pytest.approx(0.01)
    cfg.optim.schedule, cfg.optim.warmup_epochs = "cosine", 0
    cosine = [lr_factor(e, cfg) for e in range(cfg.train.epochs)]
    assert cosine[0] == 1.0 and all(a > b for a, b in zip(cosine, cosine[1:], strict=False))


# -- training ---------------------------------------------------------------------------------------


def test_toy_run_learns_and_writes_outputs(tmp_path: Path) -> None:
    work = tmp_path / "run"
    assert run_task(TASK, ["--config", str(toy_config(tmp_path)), "--work-dir", str(work)]) == 0
    resolved = yaml.safe_load((work / "config.yaml").read_text())
    assert resolved["train"]["epochs"] == 4 and resolved["work_dir"] == str(work)
    scores = load_scores(work / "scores" / "final.pkl")
    test_set = Clusters(ToyExperiment().data, "test")
    assert list(scores) == test_set.sample_names
    predictions = np.array([scores[name].argmax() for name in test_set.sample_names])
    assert (predictions == test_set.labels).mean() > 0.8  # chance is 0.25
    assert (work / "scores" / "best_chosen_on_eval.pkl").is_file()
    assert "top1" in (work / "log.txt").read_text()
    assert list((work / "tensorboard").iterdir())

    # --eval-only --weights reproduces the final scores from the final checkpoint
    eval_dir = tmp_path / "eval"
    args = ["--config", str(toy_config(tmp_path)), "--work-dir", str(eval_dir), "--eval-only",
            "--weights", str(work / "checkpoints" / "last.pt")]
    assert run_task(TASK, args) == 0
    again = load_scores(eval_dir / "scores" / "eval.pkl")
    assert all(np.allclose(again[k], scores[k], atol=1e-6) for k in scores)


def test_resume_after_kill_matches_uninterrupted_run(tmp_path: Path) -> None:
    config = toy_config(tmp_path)
    full = tmp_path / "full"
    assert run_task(TASK, ["--config", str(config), "--work-dir", str(full), "--deterministic"]) == 0

    killed = tmp_path / "killed"
    steps_per_epoch = 96 // 16
    toy_task._steps, toy_task.crash_after_steps = 0, 2 * steps_per_epoch + 3  # dies in the middle of epoch 3
    try:
        assert run_task(TASK, ["--config", str(config), "--work-dir", str(killed), "--deterministic"]) == 130
    finally:
        toy_task.crash_after_steps = 0
    saved = torch.load(killed / "checkpoints" / "last.pt", weights_only=True)
    assert saved["epoch"] == 2
    assert run_task(TASK, ["--config", str(config), "--work-dir", str(killed), "--deterministic", "--resume"]) == 0

    a, b = final_weights(full), final_weights(killed)
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


def test_refuses_non_empty_work_dir_unless_resume_or_overwrite(tmp_path: Path, capsys) -> None:
    config = str(toy_config(tmp_path, epochs=1))
    work = tmp_path / "run"
    assert run_task(TASK, ["--config", config, "--work-dir", str(work)]) == 0
    assert run_task(TASK, ["--config", config, "--work-dir", str(work)]) == 2
    message = capsys.readouterr().err
    assert str(work) in message and "--resume" in message and "--overwrite" in message
    (work / "notes.txt").write_text("mine")
    assert run_task(TASK, ["--config", config, "--work-dir", str(work), "--overwrite"]) == 0
    assert (work / "notes.txt").read_text() == "mine"  # --overwrite removes only what a run writes
    assert run_task(TASK, ["--config", config, "--work-dir", str(tmp_path / "new"), "--resume"]) == 2


def test_weights_loading_is_strict_and_names_keys(tmp_path: Path) -> None:
    model = build_model(ToyExperiment())
    state = {f"module.{k}": v for k, v in model.state_dict().items()}
    state["module.extra.weight"] = torch.zeros(1)
    state["module.3.weight"] = torch.zeros(2, 2)
    path = tmp_path / "foreign.pt"
    torch.save({"state_dict": state}, path)
    with pytest.raises(CheckpointError) as err:
        load_model_weights(model, path)
    assert "extra.weight" in str(err.value) and "3.weight" in str(err.value) and str(path) in str(err.value)

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    evil = tmp_path / "evil.pt"
    torch.save({"model": Evil()}, evil)
    with pytest.raises(CheckpointError, match="weights_only"):
        load_model_weights(model, evil)


def test_two_process_ddp_on_cpu_writes_one_score_file_in_dataset_order(tmp_path: Path) -> None:
    work = tmp_path / "ddp"
    config = toy_config(tmp_path, epochs=2)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(TOY_SCRIPT.parents[1])}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(TOY_SCRIPT), "--config", str(config), "--work-dir", str(work), "--device", "cpu",
           "--set", "data.test_size=41"]  # odd size: the ranks get different numbers of samples
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 process(es)" in (work / "log.txt").read_text()
    scores = load_scores(work / "scores" / "final.pkl")
    cfg = load_config(ToyExperiment, config, ["data.test_size=41"])
    test_set = Clusters(cfg.data, "test")
    assert list(scores) == test_set.sample_names

    model = build_model(cfg)
    load_model_weights(model, work / "checkpoints" / "last.pt")
    model.eval()
    with torch.no_grad():
        expected = model(torch.from_numpy(test_set.points)).numpy()
    np.testing.assert_allclose(np.stack([scores[n] for n in test_set.sample_names]), expected, atol=1e-5)



@dataclass
class TunedExperiment(Experiment):
    optim: OptimConfig = field(default_factory=lambda: OptimConfig(lr=0.03, warmup_epochs=0))


def test_yaml_section_keeps_the_experiments_own_defaults(tmp_path: Path) -> None:
    cfg = load_config(TunedExperiment, write_yaml(tmp_path / "c.yaml", {"optim": {"weight_decay": 1e-4}}))
    assert cfg.optim.lr == pytest.approx(0.03) and cfg.optim.warmup_epochs == 0
    assert cfg.optim.weight_decay == pytest.approx(1e-4)
