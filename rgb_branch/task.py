"""The pose-guided RGB branch as an engine task: config sections, model, datasets and losses.

NTU (``data.dataset: ntu``): names and labels of a split from the prepared skeleton data
(``data.root`` + ``data.benchmark``, ``data.storage.open_split``), frames from ``data.frames_dir``
(``python -m parsing frames``), masks and heatmaps from ``data.skeletons_dir``. JHMDB (``jhmdb``):
``data.jhmdb_root`` and official split ``data.split`` (1-3), 21 classes. Pose guidance:
``data.background`` < 1 weakens the background outside the person (0.5: Yao's ``(x + mask x) / 2``);
``model.pose`` (attentional pooling) ``input`` feeds joint heatmaps to the top-down conv, ``aux`` adds
the L2 heatmap loss as the loss term ``pose`` (weight ``model.pose_loss_weight``) beside ``cls``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from data.ntu import class_count
from data.storage import open_split
from engine import Task
from engine.config import ConfigError, Experiment
from rgb_branch.clips import ClipDataset
from rgb_branch.dataset import NtuRgbDataset
from rgb_branch.jhmdb import JHMDB_CLASSES, JhmdbDataset, read_split
from rgb_branch.models import build_rgb_model

NUM_JOINTS = {"ntu": 25, "jhmdb": 15}


@dataclass
class RgbModelConfig:
    name: Literal["two_stream", "c3d", "r3d_18", "r2plus1d_18", "attention_pool", "rgb_grid"] = "two_stream"
    num_classes: int = 0  # 0: the data set's (NTU 60 / 120, JHMDB 21)
    spatial: Literal["resnet18", "resnet50", "resnet101"] = "resnet101"  # two-stream spatial, attention trunk, grid
    stack: Literal["alexnet", "vgg16", "resnet18", "resnet50", "resnet101"] = "alexnet"  # stacked-frames stream
    first_layer: Literal["replicate", "divide"] = "replicate"  # cat([w] * F) (Yao), or / F as well (TSN)
    pretrained: str = ""  # local weights file: spatial stream / trunk / whole model
    stack_pretrained: str = ""  # local 3-channel weights file for the stacked stream (first conv inflated)
    pose: Literal["none", "input", "aux"] = "none"  # attentional pooling's use of the joints
    pose_loss_weight: float = 1.0
    c3d_width: int = 64  # C3D's first conv channels (the paper's 64: 64, 128, 256, 512, 512 after it)
    c3d_fc: int = 4096  # fc6 / fc7 (the paper's 4096); narrower width / fc only for tiny-data tests
    dropout: float = 0.5


@dataclass
class RgbDataConfig:
    dataset: Literal["ntu", "jhmdb"] = "ntu"
    benchmark: str = "ntu60-xsub"
    root: str = ""  # NTU: prepared data giving split names and labels
    frames_dir: str = ""  # NTU: <frames_dir>/<sample>/<frame>.jpg person frames
    skeletons_dir: str = ""  # NTU: <skeletons_dir>/<sample>.skeleton
    jhmdb_root: str = ""  # JHMDB: Rename_Images/, puppet_mask/, joint_positions/, splits/
    split: int = 1  # JHMDB official split 1, 2 or 3
    num_frames: int = 15
    image_size: int = 224
    sampling: Literal["random_sorted", "consecutive", "eppnet_grid"] = "random_sorted"
    background: float = 1.0  # 1: plain RGB; 0.5: the pose-masked stream
    heatmap_grid: int = 0  # 0: image_size // 32 (the res5 grid)
    sigma: float = 1.0  # heatmap Gaussian, in grid cells
    heatmap_style: Literal["gaussian", "disk"] = "gaussian"


@dataclass
class RgbExperiment(Experiment):
    """The engine's ``optim`` and ``train`` sections plus the branch's ``model`` and ``data``."""

    model: RgbModelConfig = field(default_factory=RgbModelConfig)
    data: RgbDataConfig = field(default_factory=RgbDataConfig)


def num_classes(cfg: RgbExperiment) -> int:
    if cfg.data.dataset == "jhmdb":
        return cfg.model.num_classes or len(JHMDB_CLASSES)
    return class_count(cfg.data.benchmark, cfg.model.num_classes, key="model.num_classes")


def pose_maps(cfg: RgbExperiment) -> str:
    """Where the dataset puts heatmaps: ``input``, ``target`` (auxiliary loss) or ``none``."""
    if cfg.model.name != "attention_pool" or cfg.model.pose == "none":
        return "none"
    return "input" if cfg.model.pose == "input" else "target"


def build_model(cfg: RgbExperiment) -> nn.Module:
    m = cfg.model
    return build_rgb_model(m.name, num_classes(cfg), frames=cfg.data.num_frames, image_size=cfg.data.image_size,
                           spatial=m.spatial, stack=m.stack, pose=m.pose, num_joints=NUM_JOINTS[cfg.data.dataset],
                           c3d_width=m.c3d_width, c3d_fc=m.c3d_fc, dropout=m.dropout, pretrained=m.pretrained,
                           stack_pretrained=m.stack_pretrained, first_layer=m.first_layer)


def build_dataset(cfg: RgbExperiment, split: str) -> ClipDataset:
    d = cfg.data
    if cfg.model.name == "rgb_grid" and d.num_frames != 9:
        raise ConfigError(f"data.num_frames must be 9 for model.name rgb_grid (the 3 x 3 grid), found {d.num_frames}")
    options: dict[str, Any] = dict(
        train=split == "train", num_frames=d.num_frames, image_size=d.image_size, sampling=d.sampling,
        background=d.background, pose_maps=pose_maps(cfg), heatmap_grid=d.heatmap_grid or max(1, d.image_size // 32),
        sigma=d.sigma, heatmap_style=d.heatmap_style)
    if d.dataset == "jhmdb":
        if not d.jhmdb_root:
            raise ConfigError("data.jhmdb_root is empty: set it to the JHMDB folder (Rename_Images/, puppet_mask/, "
                              "joint_positions/, splits/)")
        return JhmdbDataset(d.jhmdb_root, read_split(d.jhmdb_root, d.split)[split], **options)
    for key in ("root", "frames_dir", "skeletons_dir"):
        if not getattr(d, key):
            raise ConfigError(f"data.{key} is empty: NTU needs the prepared data, the person frames and the skeletons")
    prepared = open_split(d.root, d.benchmark, split)
    return NtuRgbDataset(list(prepared.names), prepared.labels, d.frames_dir, d.skeletons_dir, **options)


def compute_loss(output: dict[str, torch.Tensor], target: Any,
                 cfg: RgbExperiment) -> torch.Tensor | dict[str, torch.Tensor]:
    """Cross-entropy; with the auxiliary pose head also ``pose``: the mean squared heatmap error."""
    if not isinstance(target, dict):
        return F.cross_entropy(output["logits"], target)
    predicted, wanted = output["heatmaps"], target["heatmaps"].to(output["heatmaps"].dtype)
    if wanted.shape[-2:] != predicted.shape[-2:]:
        wanted = F.interpolate(wanted.flatten(0, 1), size=predicted.shape[-2:], mode="bilinear",
                               align_corners=False).view_as(predicted)
    return {"cls": F.cross_entropy(output["logits"], target["label"]), "pose": F.mse_loss(predicted, wanted)}


def loss_weights(cfg: RgbExperiment) -> dict[str, float]:
    return {"pose": cfg.model.pose_loss_weight} if pose_maps(cfg) == "target" else {}


TASK = Task(name="rgb", config_cls=RgbExperiment, build_model=build_model, build_dataset=build_dataset,
            compute_loss=compute_loss, loss_weights=loss_weights, logits_key="logits")
