"""The parsing branch: its dataset against EPP-Net's transforms, split order, missing maps, models,
configs, and a short training run on class-dependent parsing maps."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from torch.utils.data import DataLoader
from torchvision import transforms
from torchvision.models.inception import InceptionOutputs

from engine import load_config
from engine.checkpoint import CheckpointError
from engine.scores import load_scores
from engine.trainer import run_task
from parsing.feature_map import render_feature_map
from parsing_branch.dataset import MissingParsingMapsError, ParsingFeatureMapDataset, normalise_images
from parsing_branch.models import build_backbone, classification_loss, load_pretrained
from parsing_branch.task import TASK, ParsingExperiment, build_dataset, num_classes

PROJECT = Path(__file__).resolve().parents[1]
BENCHMARKS = ("ntu60-xsub", "ntu60-xview", "ntu120-xsub", "ntu120-xset")
NUM_CLASSES = 3


def class_maps(label: int, frames: int, rng: np.random.Generator) -> np.ndarray:
    """Parsing maps (frames, 119, 119, 1) uint8 whose body part and position depend on the class."""
    maps = np.zeros((frames, 119, 119, 1), np.uint8)
    for t in range(frames):
        top = 10 + 30 * label + int(rng.integers(0, 8))
        left = 20 + int(rng.integers(0, 40))
        maps[t, top : top + 30, left : left + 40] = (5, 9, 14)[label]
        maps[t, 60:100, 50:70] = 13  # a part every class shares
    return maps


def write_split(root: Path, benchmark: str, split: str, names: list[str]) -> None:
    """A prepared split in the docs/ARCHITECTURE.md layout: one zero frame per sample suffices here."""
    folder = root / benchmark / split
    folder.mkdir(parents=True)
    np.save(folder / "frames.npy", np.zeros((len(names), 150), np.float32))
    np.save(folder / "offsets.npy", np.arange(len(names) + 1, dtype=np.int64))
    np.save(folder / "labels.npy", np.array([int(n[-3:]) - 1 for n in names], np.int64))
    (folder / "names.txt").write_text("".join(f"{n}\n" for n in names))
    meta = {"benchmark": benchmark, "split": split, "num_classes": 60, "num_samples": len(names), "max_frames": 1}
    (folder / "meta.json").write_text(json.dumps(meta))


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> tuple[Path, Path, dict[str, list[str]]]:
    """Prepared NTU60-XSub splits (train subject 1, test subject 3) and their parsing maps."""
    base = tmp_path_factory.mktemp("parsing_branch")
    rng = np.random.default_rng(0)
    parsing = base / "parsing"
    parsing.mkdir()
    splits = {}
    for split, subject, count in (("train", 1, 12), ("test", 3, 6)):
        # Reversed replication order: the dataset must keep the split's order, not sort it.
        names = [f"S001C001P{subject:03d}R{r:03d}A{a:03d}" for r in range(count, 0, -1) for a in (1, 2, 3)]
        for name in names:
            np.save(parsing / f"{name}.npy", class_maps(int(name[-3:]) - 1, int(rng.integers(5, 30)), rng))
        write_split(base / "prepared", "ntu60-xsub", split, names)
        splits[split] = names
    return base / "prepared", parsing, splits


def experiment(prepared_root: Path, parsing: Path, **data) -> ParsingExperiment:
    cfg = ParsingExperiment()
    cfg.data.root, cfg.data.parsing_dir = str(prepared_root), str(parsing)
    cfg.data.image_size = 64
    for key, value in data.items():
        setattr(cfg.data, key, value)
    return cfg


def epp_net_transform(train: bool, size: int) -> transforms.Compose:
    """EPP-Net's feeder transforms, in its order."""
    steps = [transforms.ColorJitter(0.2, 0.2, 0.2)] if train else []
    steps += [transforms.Resize(size), transforms.ToTensor(),
              transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])]
    return transforms.Compose(steps)


# -- the dataset ------------------------------------------------------------------------------------


def test_names_and_labels_follow_the_prepared_split(prepared):
    root, parsing, splits = prepared
    for split in ("train", "test"):
        dataset = build_dataset(experiment(root, parsing), split)
        assert dataset.sample_names == splits[split]
        assert dataset.labels.tolist() == [int(n[-3:]) - 1 for n in splits[split]]


def test_epp_net_sample_lists_are_read_too(prepared, tmp_path):
    root, parsing, splits = prepared
    listing = tmp_path / "val_samples.txt"
    listing.write_text("\n".join(splits["test"][::-1]) + "\n")
    dataset = build_dataset(experiment(Path(""), parsing, root="", test_list=str(listing)), "test")
    assert dataset.sample_names == splits["test"][::-1]
    assert dataset.labels.tolist() == [int(n[-3:]) - 1 for n in splits["test"][::-1]]


@pytest.mark.parametrize("size", [64, 299])
def test_evaluation_tensor_is_epp_nets(ntu_fixtures, size):
    fixture = ntu_fixtures / "parsing"
    dataset = ParsingFeatureMapDataset(["S001C001P001R001A001"], [0], fixture, train=False, image_size=size)
    item, label = dataset[0]
    assert label == 0 and item.shape == (3, size, size) and item.dtype == torch.uint8 and item.is_contiguous()
    image = TASK.device_transform(item[None], None)[0]  # what the engine gives the model
    labels = np.load(fixture / "S001C001P001R001A001.npy")
    expected = epp_net_transform(False, size)(Image.fromarray(render_feature_map(labels, 9)))
    assert image.dtype == torch.float32 and torch.equal(image, expected)


def test_training_tensor_replays_epp_nets_transforms(ntu_fixtures):
    fixture = ntu_fixtures / "parsing"
    dataset = ParsingFeatureMapDataset(["S001C001P001R001A001"], [0], fixture, train=True, num_frames=5,
                                       image_size=96)
    labels = np.load(fixture / "S001C001P001R001A001.npy")
    for seed in range(3):
        torch.manual_seed(seed)
        ours = normalise_images(dataset[0][0][None])[0]
        torch.manual_seed(seed)
        rng = np.random.default_rng(int(torch.randint(0, 2**62, ())))
        picture = Image.fromarray(render_feature_map(labels, 5, train=True, rng=rng))
        assert torch.equal(ours, epp_net_transform(True, 96)(picture))


def test_missing_parsing_maps_are_listed_before_training(prepared, tmp_path):
    root, parsing, splits = prepared
    partial = tmp_path / "partial"
    partial.mkdir()
    for name in splits["test"][2:]:
        (partial / f"{name}.npy").symlink_to(parsing / f"{name}.npy")
    with pytest.raises(MissingParsingMapsError, match=rf"2 of 18 samples .*{splits['test'][0]}, {splits['test'][1]}"):
        build_dataset(experiment(root, partial), "test")


def test_loader_workers_are_reproducible_under_torch_seeding(prepared):
    root, parsing, _ = prepared
    dataset = build_dataset(experiment(root, parsing, image_size=32), "train")

    def first_batch(seed: int) -> torch.Tensor:
        torch.manual_seed(seed)
        return next(iter(DataLoader(dataset, batch_size=6, num_workers=2)))[0]

    assert torch.equal(first_batch(0), first_batch(0))
    assert not torch.equal(first_batch(0), first_batch(1))


def test_evaluation_cache_gives_the_same_tensors(prepared, tmp_path):
    root, parsing, _ = prepared
    plain = build_dataset(experiment(root, parsing), "test")
    cached = build_dataset(experiment(root, parsing, eval_cache_dir=str(tmp_path / "cache")), "test")
    for _ in range(2):  # the first pass writes the cache, the second reads it
        assert all(torch.equal(cached[i][0], plain[i][0]) for i in range(3))
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 3


# -- models -----------------------------------------------------------------------------------------


def test_pretrained_file_skips_a_head_of_another_size(tmp_path):
    source = build_backbone("resnet18", 120)
    torch.save({"state_dict": {f"module.{k}": v for k, v in source.state_dict().items()}}, tmp_path / "w.pt")
    model = build_backbone("resnet18", 60, pretrained=str(tmp_path / "w.pt"))
    assert torch.equal(model.conv1.weight, source.conv1.weight) and model.fc.out_features == 60
    assert load_pretrained(build_backbone("resnet18", 120), tmp_path / "w.pt") == []
    torch.save({"conv1.weight": torch.zeros(1)}, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="conv1.weight"):
        load_pretrained(model, tmp_path / "bad.pt")


def test_inception_v3_has_epp_nets_heads_and_loads_its_checkpoints(tmp_path):
    model = build_backbone("inception_v3", 60)
    assert model.transform_input and model.aux_logits
    with torch.no_grad():
        output = model.train()(torch.randn(2, 3, 299, 299))  # the auxiliary head needs the full size
        assert output.logits.shape == output.aux_logits.shape == (2, 60)
        assert model.eval()(torch.randn(1, 3, 80, 80)).shape == (1, 60)
    # EPP-Net saves its Model wrapper: keys under 'inception_v3.', a 120-way head and the 1000-way aux head.
    state = {f"inception_v3.{k}": v for k, v in model.state_dict().items()}
    state["inception_v3.fc.weight"], state["inception_v3.fc.bias"] = torch.zeros(120, 2048), torch.zeros(120)
    state["inception_v3.AuxLogits.fc.weight"] = torch.zeros(1000, 768)
    state["inception_v3.AuxLogits.fc.bias"] = torch.zeros(1000)
    torch.save(state, tmp_path / "epp.pt")
    assert load_pretrained(model, tmp_path / "epp.pt") == [
        "AuxLogits.fc.weight", "AuxLogits.fc.bias", "fc.weight", "fc.bias"]


def test_auxiliary_loss_weight_and_graph():
    logits, aux = torch.randn(4, 6, requires_grad=True), torch.randn(4, 6, requires_grad=True)
    target = torch.tensor([0, 1, 2, 5])
    main_only = classification_loss(InceptionOutputs(logits, aux), target)
    assert torch.allclose(main_only, torch.nn.functional.cross_entropy(logits, target))
    weighted = classification_loss(InceptionOutputs(logits, aux), target, 0.4)
    assert torch.allclose(weighted, main_only + 0.4 * torch.nn.functional.cross_entropy(aux, target))
    main_only.backward()
    # At weight 0 the auxiliary head still gets a (zero) gradient: DDP needs every parameter used.
    assert aux.grad is not None and not aux.grad.any()
    assert torch.equal(classification_loss(logits, target), torch.nn.functional.cross_entropy(logits, target))


# -- configs and training ---------------------------------------------------------------------------


@pytest.mark.parametrize("benchmark", BENCHMARKS)
def test_benchmark_configs_hold_the_reference_settings(benchmark):
    cfg = load_config(ParsingExperiment, PROJECT / "configs" / benchmark / "parsing.yaml")
    assert (cfg.model.backbone, cfg.model.pretrained, cfg.data.num_frames, cfg.data.image_size) == (
        "inception_v3", "imagenet", 9, 299)
    assert (cfg.optim.lr, cfg.optim.momentum, cfg.optim.nesterov, cfg.optim.weight_decay) == (0.03, 0.9, True, 1e-4)
    assert (cfg.optim.warmup_epochs, cfg.optim.milestones, cfg.train.epochs, cfg.train.batch_size) == (
        0, [10, 20, 30, 40], 45, 64)
    assert cfg.data.benchmark == benchmark and cfg.model.aux_weight == 0.0
    assert num_classes(cfg) == (60 if benchmark.startswith("ntu60") else 120)


def test_short_training_run_beats_chance_and_scores_follow_the_split(prepared, tmp_path):
    root, parsing, splits = prepared
    config = tmp_path / "parsing.yaml"
    config.write_text(yaml.safe_dump({
        "seed": 0,
        "model": {"backbone": "resnet18", "num_classes": NUM_CLASSES},
        "data": {"benchmark": "ntu60-xsub", "root": str(root), "parsing_dir": str(parsing), "image_size": 48},
        "optim": {"lr": 0.01, "warmup_epochs": 0, "milestones": [3]},
        "train": {"epochs": 3, "batch_size": 6, "eval_batch_size": 18, "eval_interval": 3, "num_workers": 0},
    }))
    work = tmp_path / "run"
    assert run_task(TASK, ["--config", str(config), "--work-dir", str(work), "--device", "cpu"]) == 0
    scores = load_scores(work / "scores" / "final.pkl")
    assert list(scores) == splits["test"]
    predictions = np.array([scores[name].argmax() for name in splits["test"]])
    truth = np.array([int(name[-3:]) - 1 for name in splits["test"]])
    assert (predictions == truth).mean() > 1 / NUM_CLASSES + 0.25
