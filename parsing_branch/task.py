"""The parsing branch as an engine task: its config sections, model, datasets and loss.

Sample names and labels of a split come from the prepared skeleton data (``data.root`` and
``data.benchmark``, read with ``data.storage.open_split``) or, for EPP-Net's own lists, from
``data.train_list`` / ``data.test_list`` (one NTU name per line; labels from the names' action).
Either way the feature maps are ``<data.parsing_dir>/<name>.npy``. The dataset hands over uint8 images;
the task's ``device_transform`` normalises them on the device (``parsing_branch.dataset.normalise_images``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import nn
from torchvision.models.inception import InceptionOutputs

from data.ntu import class_count, parse_name
from data.storage import open_split
from engine import Task
from engine.config import ConfigError, Experiment
from parsing.map_files import BadParsingMapError
from parsing.store import CorruptParsingStoreError
from parsing_branch.dataset import ParsingFeatureMapDataset, normalise_images
from parsing_branch.models import build_backbone, classification_loss


@dataclass
class ParsingModelConfig:
    backbone: Literal["inception_v3", "resnet18", "resnet50"] = "inception_v3"
    num_classes: int = 0  # 0: the benchmark's (60 or 120)
    pretrained: str = ""  # "", "imagenet" or the path of a weights file
    aux_weight: float = 0.0  # InceptionV3's auxiliary loss; EPP-Net trains on the main logits only
    transform_input: bool = True  # InceptionV3: as torchvision's ImageNet weights (and EPP-Net) expect


@dataclass
class ParsingDataConfig:
    benchmark: str = "ntu60-xsub"
    root: str = ""  # prepared data (python -m data.ntu prepare --out ROOT) giving split names and labels
    train_list: str = ""  # or EPP-Net's sample lists, used when root is empty
    test_list: str = ""
    # folder of <name>.npy parsing maps (uint8 (T, H, W, 1): SCHP 119, PSPNet 256), or a parsing store
    # (python -m parsing store pack): the same feature maps either way
    parsing_dir: str = ""
    layout: Literal["eppnet", "ipp-net"] = "eppnet"  # parsing.feature_map: 3 x 3 palette grid, or grey strips
    byte_wrap: bool | None = None  # IPP-Net's ToPILImage byte wrap; null: on for ipp-net, off for eppnet
    num_frames: int = 9  # frames per feature map: 9 in EPP-Net, 5 in IPP-Net
    image_size: int = 299
    color_jitter: float = 0.2
    eval_cache_dir: str = ""  # optional folder caching the deterministic evaluation images


@dataclass
class ParsingExperiment(Experiment):
    """The engine's ``optim`` and ``train`` sections plus the branch's ``model`` and ``data``.

    EPP-Net's hyper-parameters are spelt out in ``configs/<benchmark>/parsing.yaml``.
    """

    model: ParsingModelConfig = field(default_factory=ParsingModelConfig)
    data: ParsingDataConfig = field(default_factory=ParsingDataConfig)


def split_names_and_labels(data: ParsingDataConfig, split: str) -> tuple[list[str], np.ndarray]:
    """The split's sample names in order and their 0-based labels, without loading any frames."""
    if data.root:
        prepared = open_split(data.root, data.benchmark, split)
        return list(prepared.names), np.asarray(prepared.labels, dtype=np.int64)
    list_file = data.train_list if split == "train" else data.test_list
    if not list_file:
        raise ConfigError(f"data.root is empty and so is data.{split}_list: say where the {split} split's "
                          "sample names come from")
    path = Path(list_file)
    if not path.is_file():
        raise ConfigError(f"data.{split}_list: {path} does not exist")
    names = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    try:
        labels = np.array([parse_name(name).label for name in names], dtype=np.int64)
    except ValueError as err:
        raise ConfigError(f"data.{split}_list {path}: {err}") from err
    return names, labels


def num_classes(cfg: ParsingExperiment) -> int:
    return class_count(cfg.data.benchmark, cfg.model.num_classes, key="model.num_classes")


def build_model(cfg: ParsingExperiment) -> nn.Module:
    return build_backbone(cfg.model.backbone, num_classes(cfg), pretrained=cfg.model.pretrained,
                          transform_input=cfg.model.transform_input)


def build_dataset(cfg: ParsingExperiment, split: str) -> ParsingFeatureMapDataset:
    if not cfg.data.parsing_dir:
        raise ConfigError("data.parsing_dir is empty: set it to the folder of <name>.npy parsing maps")
    names, labels = split_names_and_labels(cfg.data, split)
    train = split == "train"
    try:
        return ParsingFeatureMapDataset(
            names, labels, cfg.data.parsing_dir, train=train, num_frames=cfg.data.num_frames,
            image_size=cfg.data.image_size, color_jitter=cfg.data.color_jitter,
            cache_dir=None if train or not cfg.data.eval_cache_dir else cfg.data.eval_cache_dir,
            layout=cfg.data.layout, byte_wrap=cfg.data.byte_wrap,
        )
    except (BadParsingMapError, CorruptParsingStoreError) as err:  # one line and exit 2, before the work dir
        raise ConfigError(f"data.parsing_dir ({split} split): {err}") from None


def compute_loss(output: torch.Tensor | InceptionOutputs, target: torch.Tensor, cfg: ParsingExperiment) -> torch.Tensor:
    return classification_loss(output, target, cfg.model.aux_weight)


def device_transform(images: torch.Tensor, cfg: ParsingExperiment) -> torch.Tensor:
    """The dataset's uint8 images, on the device, ToTensor'd and ImageNet-normalised there."""
    return normalise_images(images)


TASK = Task(name="parsing", config_cls=ParsingExperiment, build_model=build_model, build_dataset=build_dataset,
            compute_loss=compute_loss, device_transform=device_transform)
