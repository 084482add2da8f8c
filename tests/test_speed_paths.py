"""The GPU speed paths, exercised on the CPU: bf16 autocast, torch.compile, channels-last, loader settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from engine.config import ConfigError, load_config
from engine.trainer import run_task
from parsing_branch.models import build_backbone
from parsing_branch.task import TASK as PARSING_TASK
from parsing_branch.task import ParsingExperiment
from pose_branch.ctrgcn import CTRGCN
from pose_branch.task import TASK as POSE_TASK
from pose_branch.task import PoseExperiment
from tests import toy_multitask, toy_task

BASE = ["--device", "cpu", "--set", "train.epochs=2", "--set", "train.batch_size=16", "--set",
        "train.eval_batch_size=8", "--set", "train.num_workers=0", "--set", "optim.warmup_epochs=1"]


def bf16_train_step(task, cfg, model: torch.nn.Module, inputs, target) -> tuple[torch.Tensor, bool]:
    """One SGD step under CPU bf16 autocast, as the engine takes it; (loss, whether weights changed)."""
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model.train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        output = model(inputs)
        loss, _ = task.loss_terms(output, target, cfg)
    assert task.logits(output).dtype == torch.bfloat16  # the autocast path really ran
    loss.backward()
    optimizer.step()
    return loss.detach(), any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_pose_task_trains_under_cpu_bf16_autocast() -> None:
    cfg = load_config(PoseExperiment, None, ["model.num_class=5", "model.base_channels=8"])
    torch.manual_seed(0)
    model = CTRGCN(num_class=5, base_channels=8)
    loss, changed = bf16_train_step(POSE_TASK, cfg, model, torch.randn(4, 3, 16, 25, 2), torch.tensor([0, 1, 2, 3]))
    assert torch.isfinite(loss) and changed


@pytest.mark.parametrize("backbone", ["resnet18", "inception_v3"])
def test_parsing_task_trains_under_cpu_bf16_autocast(backbone: str) -> None:
    cfg = load_config(ParsingExperiment, None, [f"model.backbone={backbone}", "model.num_classes=5",
                                                "model.aux_weight=0.4"])
    torch.manual_seed(0)
    model = build_backbone(backbone, 5)
    size = 299 if backbone == "inception_v3" else 32  # the auxiliary head needs the full size in training
    loss, changed = bf16_train_step(PARSING_TASK, cfg, model, torch.randn(2, 3, size, size), torch.tensor([0, 4]))
    assert torch.isfinite(loss) and changed


def test_engine_runs_bf16_on_cpu_and_refuses_fp16_before_writing(tmp_path: Path, capsys) -> None:
    work = tmp_path / "bf16"
    assert run_task(toy_multitask.TASK, [*BASE, "--set", "train.amp=bf16", "--work-dir", str(work)]) == 0
    last = json.loads((work / "metrics.jsonl").read_text().splitlines()[-1])
    assert all(torch.isfinite(torch.tensor(last[k])) for k in ("loss", "loss_cls", "eval_offset_mae"))
    refused = tmp_path / "fp16"
    assert run_task(toy_task.TASK, [*BASE, "--set", "train.amp=fp16", "--work-dir", str(refused)]) == 2
    assert "train.amp" in capsys.readouterr().err and not refused.exists()


def test_aot_eager_compile_gives_eager_logits() -> None:
    torch.manual_seed(0)
    model = CTRGCN(num_class=5, base_channels=8).eval()
    inputs = torch.randn(2, 3, 16, 25, 2)
    compiled = torch.compile(model, backend="aot_eager")
    with torch.no_grad():
        torch.testing.assert_close(compiled(inputs), model(inputs), rtol=1e-4, atol=1e-5)


def test_engine_trains_with_a_named_compile_backend(tmp_path: Path) -> None:
    eager, compiled = tmp_path / "eager", tmp_path / "compiled"  # a task without dropout: same numbers
    assert run_task(toy_multitask.TASK, [*BASE, "--work-dir", str(eager)]) == 0
    assert run_task(toy_multitask.TASK, [*BASE, "--set", "train.compile=aot_eager", "--work-dir", str(compiled)]) == 0
    a = json.loads((eager / "metrics.jsonl").read_text().splitlines()[-1])
    b = json.loads((compiled / "metrics.jsonl").read_text().splitlines()[-1])
    assert b["eval_top1"] == a["eval_top1"] and b["loss"] == pytest.approx(a["loss"], rel=1e-4)


def test_compile_setting_accepts_backends_and_booleans() -> None:
    from tests.toy_task import ToyExperiment

    assert load_config(ToyExperiment, None, ["train.compile=true"]).train.compile_backend() == "inductor"
    assert load_config(ToyExperiment, None, ["train.compile=false"]).train.compile_backend() == "none"
    assert load_config(ToyExperiment, None, ["train.compile=aot_eager"]).train.compile_backend() == "aot_eager"
    with pytest.raises(ConfigError, match="train.compile"):
        load_config(ToyExperiment, None, ["train.compile=tensorrt"])


@pytest.mark.parametrize("backbone", ["resnet18", "inception_v3"])
def test_channels_last_gives_the_same_logits(backbone: str) -> None:
    torch.manual_seed(0)
    model = build_backbone(backbone, 5).eval()
    size = 75 if backbone == "inception_v3" else 32
    inputs = torch.randn(2, 3, size, size)
    with torch.no_grad():
        expected = model(inputs)
        model = model.to(memory_format=torch.channels_last)
        got = model(inputs.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


def test_persistent_workers_give_the_same_run_as_fresh_workers_with_per_sample_seeds(tmp_path: Path) -> None:
    """With persistent workers every sample is seeded from (seed, epoch, index): any worker count, same run."""
    runs = {}
    for name, workers in (("one", "1"), ("two", "2")):
        work = tmp_path / name
        assert run_task(toy_task.TASK, [*BASE, "--set", f"train.num_workers={workers}", "--set",
                                        "train.persistent_workers=true", "--set", "train.prefetch_factor=3",
                                        "--work-dir", str(work)]) == 0
        runs[name] = torch.load(work / "checkpoints" / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(runs["one"][k], runs["two"][k]) for k in runs["one"])


@pytest.mark.parametrize(("key", "value"), [("train.batch_size", "0"), ("train.epochs", "0"),
                                            ("train.eval_interval", "0"), ("optim.lr", "0"),
                                            ("train.prefetch_factor", "0"), ("optim.milestones", "[5, 2]")])
def test_engine_settings_are_checked_before_anything_is_written(tmp_path: Path, capsys, key: str,
                                                                  value: str) -> None:
    work = tmp_path / "run"
    assert run_task(toy_task.TASK, [*BASE, "--set", f"{key}={value}", "--work-dir", str(work)]) == 2
    assert key in capsys.readouterr().err and not work.exists()
