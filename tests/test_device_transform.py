"""``Task.device_transform``: uint8 images to the device, normalised there.

The engine applies the hook to the inputs only, on the device, before autocast and the model, in
training and evaluation; channels-last applies to its float output. The parsing branch's path
(uint8 dataset item -> ``normalise_images``) gives the bits of the float32 tensors the dataset made on
the CPU before; the multitask network's path gives those of its ``to_network``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import Dataset, default_collate

from engine import Task
from engine.config import load_config
from engine.distributed import DistInfo
from engine.trainer import Runner, run_task
from multitask.clips import chw_frames, normalise_frames
from multitask.task import TASK as MULTITASK_TASK
from parsing_branch.dataset import ParsingFeatureMapDataset, chw_tensor, normalise_images, normalised_tensor
from parsing_branch.models import build_backbone
from parsing_branch.task import TASK as PARSING_TASK
from parsing_branch.task import ParsingExperiment, build_dataset
from tests.test_parsing_branch import prepared  # noqa: F401  (the fixture: tiny prepared splits and maps)
from tests.toy_task import ToyExperiment

BASE = ["--device", "cpu", "--set", "train.epochs=1", "--set", "train.batch_size=16", "--set",
        "train.eval_batch_size=8", "--set", "train.num_workers=0", "--set", "optim.warmup_epochs=0"]
_MEAN32 = np.array((0.485, 0.456, 0.406), dtype=np.float32)
_STD32 = np.array((0.229, 0.224, 0.225), dtype=np.float32)


def old_normalised_tensor(image: np.ndarray) -> torch.Tensor:
    """The dataset's float path before uint8 items (NumPy ToTensor + Normalize), kept as the reference."""
    scaled = image.astype(np.float32) / np.float32(255)
    normalised = (scaled - _MEAN32) / _STD32
    return torch.from_numpy(np.ascontiguousarray(normalised.transpose(2, 0, 1)))


# -- the engine's hook, on a toy task -------------------------------------------------------------------


class ByteClusters(Dataset):
    """The toy task's clusters as uint8 codes (``x * 10 + 128``) in a dict; the target stays the label."""

    def __init__(self, split: str) -> None:
        rng = np.random.default_rng(1 if split == "train" else 2)
        centres = np.random.default_rng(0).normal(size=(4, 8)) * 2
        self.labels = np.arange(48 if split == "train" else 24) % 4
        points = centres[self.labels] + rng.normal(size=(len(self.labels), 8)) * 0.3
        self.codes = np.clip(np.round(points * 10 + 128), 0, 255).astype(np.uint8)
        self.sample_names = [f"{split}_{i}" for i in range(len(self.labels))]

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[dict[str, torch.Tensor], int]:
        return {"x": torch.from_numpy(self.codes[index])}, int(self.labels[index])


class Recorder:
    """What the transform, the model and the loss saw, in call order."""

    def __init__(self) -> None:
        self.events: list[tuple] = []

    def transform(self, inputs: dict[str, torch.Tensor], cfg: ToyExperiment) -> dict[str, torch.Tensor]:
        x = inputs["x"]
        self.events.append(("transform", sorted(inputs), x.dtype, x.device.type, torch.is_autocast_enabled("cpu")))
        return {"x": (x.float() - 128) / 10}

    def build_model(self, cfg: ToyExperiment) -> nn.Module:
        recorder = self

        class Model(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))

            def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
                recorder.events.append(("model", self.training, inputs["x"].dtype))
                return self.net(inputs["x"])

        return Model()

    def loss(self, output: torch.Tensor, target: torch.Tensor, cfg: ToyExperiment) -> torch.Tensor:
        self.events.append(("loss", target.dtype))
        return nn.functional.cross_entropy(output.float(), target)


def recording_task() -> tuple[Task, Recorder]:
    recorder = Recorder()
    task = Task(name="bytes", config_cls=ToyExperiment, build_model=recorder.build_model,
                build_dataset=lambda cfg, split: ByteClusters(split), compute_loss=recorder.loss,
                device_transform=recorder.transform)
    return task, recorder


@pytest.mark.parametrize("amp", ["none", "bf16"])
def test_engine_transforms_the_inputs_only_before_the_model_in_train_and_eval(tmp_path: Path, amp: str) -> None:
    task, recorder = recording_task()
    work = tmp_path / "run"
    assert run_task(task, [*BASE, "--set", f"train.amp={amp}", "--work-dir", str(work)]) == 0
    events = recorder.events
    transforms = [e for e in events if e[0] == "transform"]
    models = [e for e in events if e[0] == "model"]
    assert len(transforms) == len(models) == 3 + 3  # 48 / 16 training batches, 24 / 8 evaluation batches
    # Every batch: the transform on the uint8 inputs (only them: the dict's one key), outside autocast,
    # then the model on its float output; the target reaches the loss as the int64 labels.
    assert all(e == ("transform", ["x"], torch.uint8, "cpu", False) for e in transforms)
    for i in range(0, len(events) - 1):
        if events[i][0] == "transform":
            assert events[i + 1][0] == "model"
    assert [e[1] for e in models] == [True] * 3 + [False] * 3  # training, then evaluation
    assert all(e[2] == torch.float32 for e in models)
    assert [e for e in events if e[0] == "loss"] == [("loss", torch.int64)] * 3
    last = json.loads((work / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["eval_top1"] > 0.5  # the decoded inputs are the clusters


def cpu_runner(task: Task, cfg) -> Runner:
    args = argparse.Namespace(weights=None, eval_only=False, resume=False)
    return Runner(task, cfg, args, DistInfo(0, 1, 0, torch.device("cpu")), Path("unused"))


def test_channels_last_applies_to_the_normalised_images_and_gives_the_same_logits() -> None:
    cfg = load_config(ParsingExperiment, None, ["model.backbone=resnet18", "model.num_classes=5"])
    images = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (2, 3, 32, 32), dtype=np.uint8))
    plain = cpu_runner(PARSING_TASK, cfg).to_device(images, inputs=True)
    cfg.train.channels_last = True
    last = cpu_runner(PARSING_TASK, cfg).to_device(images, inputs=True)
    assert plain.dtype == last.dtype == torch.float32 and plain.is_contiguous()
    assert last.is_contiguous(memory_format=torch.channels_last) and not last.is_contiguous()
    assert torch.equal(plain, last)
    torch.manual_seed(0)
    model = build_backbone("resnet18", 5).eval()
    with torch.no_grad():
        expected = model(plain)
        got = model.to(memory_format=torch.channels_last)(last)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    # Targets (and uint8 tensors) keep their layout: only floating 4-D tensors become channels-last.
    runner = cpu_runner(PARSING_TASK, cfg)
    assert runner.to_device(images).is_contiguous() and runner.to_device(images).dtype == torch.uint8


# -- the parsing branch: the same bits as the float path ------------------------------------------------


def test_normalisation_is_bit_identical_on_random_and_every_byte_value() -> None:
    rng = np.random.default_rng(0)
    every = np.broadcast_to(np.arange(256, dtype=np.uint8).reshape(16, 16, 1), (16, 16, 3)).copy()
    images = [every, *rng.integers(0, 256, (5, 16, 16, 3), dtype=np.uint8)]
    batch = torch.stack([chw_tensor(image) for image in images])
    assert batch.dtype == torch.uint8 and batch.is_contiguous()
    ours = PARSING_TASK.device_transform(batch, None)
    assert ours.dtype == torch.float32
    assert torch.equal(ours, torch.stack([old_normalised_tensor(image) for image in images]))
    for image in images:
        assert torch.equal(normalised_tensor(image), old_normalised_tensor(image))
    big = rng.integers(0, 256, (299, 299, 3), dtype=np.uint8)
    assert torch.equal(normalise_images(chw_tensor(big)[None])[0], old_normalised_tensor(big))
    with pytest.raises(TypeError, match="uint8"):
        normalise_images(ours)


@pytest.mark.parametrize("split", ["train", "test"])
def test_parsing_batches_are_bit_identical_to_the_float_path(prepared, split: str) -> None:  # noqa: F811
    root, parsing, _ = prepared
    cfg = ParsingExperiment()
    cfg.data.root, cfg.data.parsing_dir, cfg.data.image_size = str(root), str(parsing), 64
    dataset = build_dataset(cfg, split)
    items, expected = [], []
    for i in range(6):
        torch.manual_seed(i)  # training items are random: the same draws for both paths
        items.append(dataset[i])
        torch.manual_seed(i)
        expected.append(old_normalised_tensor(dataset.image(i)))
    images, labels = default_collate(items)
    assert images.dtype == torch.uint8 and images.shape == (6, 3, 64, 64)
    assert labels.tolist() == dataset.labels[:6].tolist()
    assert torch.equal(PARSING_TASK.device_transform(images, cfg), torch.stack(expected))


def test_real_parsing_map_is_bit_identical_at_299(ntu_fixtures: Path) -> None:
    dataset = ParsingFeatureMapDataset(["S001C001P001R001A001"], [0], ntu_fixtures / "parsing", train=False)
    item, _ = dataset[0]
    assert item.dtype == torch.uint8 and item.shape == (3, 299, 299) and item.is_contiguous()
    assert item.numel() * item.element_size() == 3 * 299 * 299  # a quarter of float32's 1,072,812 bytes
    assert torch.equal(normalise_images(item[None])[0], old_normalised_tensor(dataset.image(0)))


def test_parsing_models_keep_their_state_dict_keys() -> None:
    cfg = load_config(ParsingExperiment, None, ["model.backbone=resnet18", "model.num_classes=5"])
    model = PARSING_TASK.build_model(cfg)
    assert list(model.state_dict()) == list(build_backbone("resnet18", 5).state_dict())


def test_parsing_training_runs_one_epoch_under_cpu_bf16(prepared, tmp_path: Path) -> None:  # noqa: F811
    root, parsing, splits = prepared
    work = tmp_path / "run"
    argv = ["--device", "cpu", "--work-dir", str(work), "--set", "model.backbone=resnet18", "--set",
            "model.num_classes=3", "--set", f"data.root={root}", "--set", f"data.parsing_dir={parsing}", "--set",
            "data.image_size=32", "--set", "train.epochs=1", "--set", "train.batch_size=12", "--set",
            "train.eval_batch_size=18", "--set", "train.num_workers=0", "--set", "optim.warmup_epochs=0",
            "--set", "train.amp=bf16", "--set", "train.channels_last=true"]
    assert run_task(PARSING_TASK, argv) == 0
    last = json.loads((work / "metrics.jsonl").read_text().splitlines()[-1])
    assert np.isfinite(last["loss"]) and 0 <= last["eval_top1"] <= 1


# -- the multitask network ------------------------------------------------------------------------------


def test_multitask_frames_are_bit_identical_to_the_float_path() -> None:
    images = np.random.default_rng(0).integers(0, 256, (2, 4, 16, 16, 3), dtype=np.uint8)
    images[0, 0, 0, :3, 0] = (0, 127, 255)
    old = torch.stack([torch.from_numpy(np.ascontiguousarray(clip)).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)
                       for clip in images])  # the dataset's float path before uint8 items
    frames = torch.stack([chw_frames(clip) for clip in images])
    assert frames.dtype == torch.uint8 and frames.is_contiguous()
    boxes = torch.rand(2, 4)
    out = MULTITASK_TASK.device_transform({"frames": frames, "box": boxes}, None)
    assert torch.equal(out["frames"], old) and out["box"] is boxes
    assert torch.equal(normalise_frames(torch.zeros(1, dtype=torch.uint8)), torch.tensor([-1.0]))
