"""Person or part detection on Kinetics-TPS as an engine task (``train_part_detector.py``).

``data.target: person`` trains the person detector on whole frames; ``data.target: part`` the part detector on
person crops, with the pose-guided embedding drawn on them (``data.pose_embedding: true``) or not: the two
configs ``configs/kinetics-tps/part_detector{,_no_embedding}.yaml`` are the paper's ablation (part AP50 53.1
without, 79.7 with). Keypoints come from ``data.{train,test}_keypoints`` (a COCO-style JSON or a pyskl
pickle, :mod:`part_parsing.keypoints`). The engine evaluates AP50 (:mod:`part_parsing.detection.evaluation`)
and keeps the epoch with the best; the loss is the sum of torchvision's terms (``classification``,
``bbox_regression``, ``bbox_ctrness`` for FCOS; ``loss_*`` of the RPN and box head for Faster R-CNN).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch

from engine import Task
from engine.config import ConfigError, Experiment
from part_parsing.detection.evaluation import DetectionEvaluation
from part_parsing.detection.model import Detector, build_detector
from part_parsing.detection.samples import (
    DetectionImages,
    collate_detections,
    detector_classes,
    part_samples,
    person_samples,
)
from part_parsing.keypoints import read_keypoints
from part_parsing.task import read_split, split_paths
from part_parsing.tps import read_images


@dataclass
class DetectorModelConfig:
    arch: Literal["fcos", "retinanet", "faster_rcnn"] = "fcos"
    backbone: Literal["resnet18", "resnet34", "resnet50", "resnet101"] = "resnet50"
    backbone_weights: str = ""  # a local torchvision ImageNet file (e.g. resnet50-11ad3fa6.pth); "" random init
    trainable_layers: int = 3  # 0..5 ResNet stages trained (from the top), as torchvision's builders count them
    min_size: int = 800  # the detector's resize: the official 1333 x 800
    max_size: int = 1333
    anchor_size: int = 0  # the smallest anchor in pixels; 0: torchvision's default (FCOS 8, the others 32)
    fpn_channels: int = 256  # torchvision's; the heads' convolutions have as many
    score_threshold: float = 0.05  # the official test_cfg: score_thr 0.05, NMS IoU 0.6, 100 boxes
    nms_threshold: float = 0.6
    max_detections: int = 100
    image_mean: list[float] = field(default_factory=lambda: [0.485, 0.456, 0.406])
    image_std: list[float] = field(default_factory=lambda: [0.229, 0.224, 0.225])


@dataclass
class DetectorDataConfig:
    root: str = ""  # the release's folder (python -m data.synthetic.kinetics_tps --out ROOT writes one)
    train_annotations: str = "train_annotations"
    test_annotations: str = "test_annotations"
    train_frames: str = "train_frames"
    test_frames: str = "test_frames"
    target: Literal["person", "part"] = "part"
    merge_sides: bool = False  # part classes without left / right (the official yolof_part_woR: 6 classes)
    pose_embedding: bool = True  # draw the keypoints on the crops (part target)
    embedding_mode: Literal["paint", "add"] = "paint"  # the official drawing covers pixels; "add": X + G(K)
    embedding_box: bool = True  # draw the person box too, as the official drawing does
    train_keypoints: str = "train_keypoints.pkl"  # relative to root unless absolute; COCO JSON or pyskl pickle
    test_keypoints: str = "test_keypoints.pkl"
    keypoint_threshold: float = 0.3  # keypoints drawn and used for the crop above this score
    frame_step: int = 5  # every 5th frame from the first: the scored frames
    flip_ratio: float = 0.5


@dataclass
class DetectorExperiment(Experiment):
    model: DetectorModelConfig = field(default_factory=DetectorModelConfig)
    data: DetectorDataConfig = field(default_factory=DetectorDataConfig)


def classes(cfg: DetectorExperiment) -> tuple[str, ...]:
    return detector_classes(cfg.data.target, cfg.data.merge_sides)


def keypoints_path(cfg: DetectorExperiment, split: str) -> Path:
    path = Path(getattr(cfg.data, f"{split}_keypoints"))
    return path if path.is_absolute() else Path(cfg.data.root) / path


def build_dataset(cfg: DetectorExperiment, split: str) -> DetectionImages:
    data = cfg.data
    if data.frame_step < 1:
        raise ConfigError(f"'data.frame_step' should be at least 1, found {data.frame_step}")
    if not 0 <= data.flip_ratio <= 1:
        raise ConfigError(f"'data.flip_ratio' should be in [0, 1], found {data.flip_ratio}")
    if not 0 <= data.keypoint_threshold < 1:
        raise ConfigError(f"'data.keypoint_threshold' should be in [0, 1), found {data.keypoint_threshold}")
    videos, sources = read_split(*split_paths(data, split))  # type: ignore[arg-type]
    folders = [s.frames_dir for s in sources]
    if data.target == "person":
        samples = person_samples(videos, folders, data.frame_step)
        embedding = False
    else:
        path = keypoints_path(cfg, split)
        if not path.is_file():
            raise ConfigError(f"keypoints file {path} (data.{split}_keypoints) does not exist")
        try:
            poses = read_keypoints(path)
        except ValueError as err:  # the engine reports input errors in one line
            raise ConfigError(str(err)) from None
        if not any(v.name in poses for v in videos):
            raise ConfigError(f"keypoints file {path} (data.{split}_keypoints) has no poses for any video of "
                              f"{split_paths(data, split)[0]}")  # type: ignore[arg-type]
        sizes = []
        for source in sources:  # one frame per video gives its size
            height, width = read_images(source.frames_dir, [1])[1].shape[:2]
            sizes.append((width, height))
        samples = part_samples(videos, folders, poses, sizes, frame_step=data.frame_step,
                               merge_sides=data.merge_sides, threshold=data.keypoint_threshold)
        embedding = data.pose_embedding
    if not samples:
        raise ConfigError(f"{split_paths(data, split)[0]}: no annotated person on frames 1, "  # type: ignore[arg-type]
                          f"{1 + data.frame_step}, ... (data.frame_step {data.frame_step})")
    return DetectionImages(samples, embedding=embedding, train=split == "train", flip_ratio=data.flip_ratio,
                           mode=data.embedding_mode, draw_box=data.embedding_box, threshold=data.keypoint_threshold)


def build_model(cfg: DetectorExperiment) -> Detector:
    m = cfg.model
    checks = {"fpn_channels": m.fpn_channels >= 1, "max_detections": m.max_detections >= 1,
              "anchor_size": m.anchor_size >= 0, "score_threshold": 0 <= m.score_threshold < 1,
              "nms_threshold": 0 < m.nms_threshold <= 1}
    wrong = [key for key, ok in checks.items() if not ok]
    if wrong:
        rules = {"fpn_channels": "at least 1", "max_detections": "at least 1", "anchor_size": "0 (default) or more",
                 "score_threshold": "in [0, 1)", "nms_threshold": "in (0, 1]"}
        raise ConfigError(f"'model.{wrong[0]}' should be {rules[wrong[0]]}, found {getattr(m, wrong[0])}")
    if m.min_size < 1 or m.max_size < m.min_size:
        raise ConfigError(f"'model.min_size' / 'model.max_size' should be 1 <= min <= max, found {m.min_size}, "
                          f"{m.max_size}")
    return Detector(build_detector(
        m.arch, m.backbone, len(classes(cfg)), weights=m.backbone_weights, trainable_layers=m.trainable_layers,
        min_size=m.min_size, max_size=m.max_size, anchor_size=m.anchor_size, fpn_channels=m.fpn_channels,
        score_threshold=m.score_threshold,
        nms_threshold=m.nms_threshold, max_detections=m.max_detections, image_mean=tuple(m.image_mean),
        image_std=tuple(m.image_std)))


def compute_loss(output: dict[str, torch.Tensor], target: object, cfg: DetectorExperiment) -> dict[str, torch.Tensor]:
    """torchvision's loss terms, named without their ``loss_`` prefix (the engine adds its own)."""
    return {name.removeprefix("loss_"): term for name, term in output.items()}


TASK = Task(
    name="part_detector",
    config_cls=DetectorExperiment,
    build_model=build_model,
    build_dataset=build_dataset,
    compute_loss=compute_loss,
    collate_fn=collate_detections,
    evaluation=lambda cfg: DetectionEvaluation(classes(cfg)),
)
