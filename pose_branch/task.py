"""The pose branch as an engine task: CTR-GCN on one skeleton stream of a prepared NTU split.

``train_pose.py`` hands :data:`TASK` to the engine; the YAML files in ``configs/<benchmark>/``
(``joint.yaml``, ``bone.yaml``, ``joint_motion.yaml``, ``bone_motion.yaml``) fill
:class:`PoseExperiment`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from torch import nn

from data.ntu import class_count
from data.storage import open_split
from engine import Task
from engine.config import ConfigError, Experiment
from pose_branch.ctrgcn import CTRGCN
from pose_branch.feeder import SkeletonFeeder


@dataclass
class PoseModelConfig:
    num_class: int = 0  # 0: the benchmark's (60 or 120)
    base_channels: int = 64  # 64 is the official CTR-GCN; smaller only for quick demos
    drop_out: float = 0.0


@dataclass
class PoseDataConfig:
    benchmark: str = "ntu60-xsub"
    root: str = ""  # prepared data (python -m data.ntu prepare --out ROOT), a reference .npz or a pyskl .pkl
    stream: Literal["joint", "bone", "joint_motion", "bone_motion"] = "joint"
    window_size: int = 64  # frames after the crop-and-resize
    random_rotation: bool = True  # training only


@dataclass
class PoseExperiment(Experiment):
    """CTR-GCN training as in the reference: SGD Nesterov, lr 0.1, 65 epochs (the engine's defaults)."""

    model: PoseModelConfig = field(default_factory=PoseModelConfig)
    data: PoseDataConfig = field(default_factory=PoseDataConfig)


def num_classes(cfg: PoseExperiment) -> int:
    return class_count(cfg.data.benchmark, cfg.model.num_class, key="model.num_class")


def build_model(cfg: PoseExperiment) -> nn.Module:
    return CTRGCN(num_class=num_classes(cfg), drop_out=cfg.model.drop_out, base_channels=cfg.model.base_channels)


def build_dataset(cfg: PoseExperiment, split: str) -> SkeletonFeeder:
    if not cfg.data.root:
        raise ConfigError("data.root is empty: set it to a prepared data folder, a reference .npz or a pyskl .pkl")
    samples = open_split(cfg.data.root, cfg.data.benchmark, split)
    classes = num_classes(cfg)
    if len(samples.labels) and int(samples.labels.max()) >= classes:
        raise ConfigError(f"{cfg.data.root} ({split}) has label {int(samples.labels.max())} but the model has "
                          f"{classes} classes (model.num_class / data.benchmark)")
    return SkeletonFeeder(samples, cfg.data.stream, train=split == "train", window=cfg.data.window_size,
                          rotate=cfg.data.random_rotation)


TASK = Task(name="pose", config_cls=PoseExperiment, build_model=build_model, build_dataset=build_dataset)
