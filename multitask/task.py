"""The multitask network (Luvizon et al., CVPR 2018) as an engine task: 3D pose and action from NTU clips.

``train_multitask.py`` hands :data:`TASK` to the engine. The three training stages are one config
key, ``model.stage``:

- ``pose``: pose estimation only (elastic net per block + visibility BCE × 0.01);
- ``action``: the action branches, the pose part frozen (weights from the pose stage, ``--weights``);
- ``finetune``: everything, all terms.

The official code (``dluvizon/deephar``, ``deephar/models/action.py`` ``compile``) trains the action
parts with SGD lr 1e-3, momentum 0.95, Nesterov; the elastic net is ``Σ |Δ| + Δ²`` over the valid
joints' coordinates (``deephar/objectives.py``), visibility BCE weighs 0.01
(``deephar/models/reception.py`` ``compile``); every action block's output gets cross-entropy.

A dataset item is ``({"frames": uint8 (T, 3, S, S)}, {"label", "pose" (T, J, 3), "valid" (T, J), "xyz_mm"
(T, J, 3), "box" (4,), "root_z", "scale", "camera" (4,)})``; images come from the RGB videos
(``data.source: video``), from person frames (``data.source: frames``: ``<data.frames_dir>/<name>/<frame>.jpg``
as ``python -m parsing frames`` or ``python -m data.synthetic.frames`` write them, each the skeleton's person
box of its frame, :func:`multitask.clips.crop_person_frame`; the clip's crop outside that box is black) or, for
tests and the demo, from coloured joint dots drawn in the crop (``data.source: dots``). Only samples with a
video (a person-frame folder) take part. The frames stay uint8 up to the device, where the task's
``device_transform`` scales them to [-1, 1] (``multitask.clips.normalise_frames``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from data.ntu import BENCHMARKS, class_count, parse_name, split_order
from engine import Task
from engine.config import ConfigError, Experiment
from multitask.clips import (
    ClipTargets,
    chw_frames,
    crop_frame,
    crop_person_frame,
    main_body,
    normalise_frames,
    ntu_clip,
    pose_to_camera_mm,
)
from multitask.model import PA20J_FROM_NTU, MultitaskNet, MultitaskSizes
from pose_guidance.boxes import actors_in_action, person_boxes
from pose_guidance.layouts import NTU25
from pose_guidance.maps import keypoint_dots
from pose_guidance.skeleton_colors import read_skeleton_colors

VIDEO_SUFFIX = "_rgb.avi"
PCK_THRESHOLD = 0.2  # of the crop size


@dataclass
class MultitaskModelConfig:
    stage: Literal["pose", "action", "finetune"] = "pose"
    variant: Literal["full", "tiny"] = "full"  # MultitaskSizes.full() / .tiny(); the keys below override
    num_class: int = 0  # 0: the benchmark's (60 or 120)
    image_size: int = 0  # 0: the variant's (256 / 64)
    num_blocks: int = 0  # K, 0: the variant's (4 / 2)
    depth_bins: int = 0  # Nd, 0: the variant's (8 / 4)
    visibility_weight: float = 0.01


@dataclass
class MultitaskDataConfig:
    benchmark: str = "ntu60-xsub"
    skeletons: str = ""  # folder of <name>.skeleton
    videos: str = ""  # folder of <name>_rgb.avi (source: video)
    frames_dir: str = ""  # folder of <name>/<frame>.jpg person frames (source: frames; python -m parsing frames)
    source: Literal["video", "dots", "frames"] = "video"
    clip_frames: int = 0  # T, 0: the variant's (20 / 8)
    train_subsample: list[int] = field(default_factory=lambda: [1, 2, 3])
    test_subsample: int = 2
    scales: list[float] = field(default_factory=lambda: [0.7, 1.0, 1.3])  # training crop scales
    flip: bool = True  # training only
    max_samples: int = 0  # per split, 0: all (quick runs)


@dataclass
class MultitaskExperiment(Experiment):
    """The NTU multitask model (the configs set the official SGD: lr 1e-3, momentum 0.95, Nesterov)."""

    model: MultitaskModelConfig = field(default_factory=MultitaskModelConfig)
    data: MultitaskDataConfig = field(default_factory=MultitaskDataConfig)


def sizes_of(cfg: MultitaskExperiment) -> MultitaskSizes:
    """The network sizes of a config: the variant, with the non-zero keys replacing its values."""
    classes = class_count(cfg.data.benchmark, cfg.model.num_class, key="model.num_class")
    base = MultitaskSizes.full(classes) if cfg.model.variant == "full" else MultitaskSizes.tiny(classes)
    changes = {"image_size": cfg.model.image_size, "num_blocks": cfg.model.num_blocks,
               "depth_bins": cfg.model.depth_bins, "num_frames": cfg.data.clip_frames}
    values = {**base.__dict__, **{k: v for k, v in changes.items() if v}}
    if values["image_size"] % 32:
        raise ConfigError(f"model.image_size must be a multiple of 32, found {values['image_size']}")
    return MultitaskSizes(**values)


def build_model(cfg: MultitaskExperiment) -> MultitaskNet:
    model = MultitaskNet(sizes_of(cfg))
    if cfg.model.stage == "action":
        model.freeze_pose()
    elif cfg.model.stage == "pose":
        model.freeze_action()
    return model


# ---------------------------------------------------------------- data
def read_video_frames(path: Path, indices: np.ndarray) -> dict[int, np.ndarray]:
    """``{frame index: (H, W, 3) uint8 RGB}`` for the wanted frames (decoded in order; missing ones absent)."""
    wanted, frames = set(int(i) for i in indices), {}
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise ValueError(f"{path}: OpenCV cannot open the video")
    try:
        index, last = 0, max(wanted)
        while index <= last:
            ok, image = capture.read()
            if not ok:
                break
            if index in wanted:
                frames[index] = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
            index += 1
    finally:
        capture.release()
    return frames


def read_person_frames(sample_dir: Path, indices: np.ndarray) -> dict[int, np.ndarray]:
    """``{frame index: (h, w, 3) uint8 RGB}`` of the wanted person frames ``sample_dir/<index>.jpg`` (0-based,
    the layout of ``python -m parsing frames``); missing ones absent, as past a video's end."""
    frames = {}
    for index in sorted(set(int(i) for i in indices)):
        path = sample_dir / f"{index}.jpg"
        if not path.is_file():
            continue
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f"{path}: OpenCV cannot read the person frame")
        frames[index] = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    return frames


DOT_COLORS = [NTU25.colors()[j] for j in PA20J_FROM_NTU]


def dot_frames(clip: ClipTargets, size: int) -> np.ndarray:
    """``(T, S, S, 3)`` uint8: the clip's valid joints as coloured dots in the crop (the synthetic image)."""
    radius = max(1.5, size / 24)
    return np.stack([keypoint_dots(clip.pose[t, :, :2] * size, (size, size), DOT_COLORS, radius, clip.valid[t] > 0)
                     for t in range(len(clip.pose))])


class NtuClips(Dataset):
    """The NTU samples of one split (reference order, REFERENCE.md §3.6) as clips; see the module docstring.

    Files without a body give black frames and no valid joint (they still count for the action).
    """

    def __init__(self, cfg: MultitaskExperiment, split: str) -> None:
        data, self.sizes = cfg.data, sizes_of(cfg)
        if data.benchmark not in BENCHMARKS:
            raise ConfigError(f"data.benchmark must be one of {', '.join(BENCHMARKS)}, found {data.benchmark!r}")
        if not data.skeletons or not Path(data.skeletons).is_dir():
            raise ConfigError(f"data.skeletons: {data.skeletons!r} is not a folder of .skeleton files")
        self.skeletons = Path(data.skeletons)
        names = [p.stem for p in self.skeletons.glob("*.skeleton")]
        if data.source == "video":
            if not data.videos or not Path(data.videos).is_dir():
                raise ConfigError(f"data.videos: {data.videos!r} is not a folder of <name>{VIDEO_SUFFIX} videos")
            self.videos = Path(data.videos)
            names = [n for n in names if (self.videos / f"{n}{VIDEO_SUFFIX}").is_file()]
        elif data.source == "frames":
            if not data.frames_dir or not Path(data.frames_dir).is_dir():
                raise ConfigError(f"data.frames_dir: {data.frames_dir!r} is not a folder of <name>/<frame>.jpg "
                                  "person frames (python -m parsing frames)")
            self.frames_dir = Path(data.frames_dir)
            names = [n for n in names if (self.frames_dir / n).is_dir()]
        self.sample_names = split_order(names, BENCHMARKS[data.benchmark], split)
        if data.max_samples:
            self.sample_names = self.sample_names[: data.max_samples]
        if not self.sample_names:
            where = {"video": f" with a video in {data.videos}", "frames": f" with person frames in {data.frames_dir}"}
            raise ConfigError(f"data.skeletons: no {split} sample of {data.benchmark} in {self.skeletons}"
                              + where.get(data.source, ""))
        self.data, self.train = data, split == "train"
        self._person_boxes: dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.sample_names)

    def clip(self, index: int, rng: np.random.Generator | None) -> ClipTargets | None:
        """The clip of sample ``index``: random (training, ``rng``) or the centred test clip."""
        body = main_body(read_skeleton_colors(self.skeletons / f"{self.sample_names[index]}.skeleton"))
        if body is None:
            return None
        if rng is None:
            return ntu_clip(body, self.sizes.num_frames, self.data.test_subsample)
        return ntu_clip(body, self.sizes.num_frames, int(rng.choice(self.data.train_subsample)), rng=rng,
                        scale=float(rng.choice(self.data.scales)), flip=self.data.flip and bool(rng.integers(2)))

    def decode(self, name: str, frames: np.ndarray) -> dict[int, np.ndarray] | None:
        """The video frames (``source: video``) or person frames (``frames``) ``frames`` of sample ``name``,
        ``{index: RGB}``; None for ``dots``, which draws its images."""
        if self.data.source == "video":
            return read_video_frames(self.videos / f"{name}{VIDEO_SUFFIX}", frames)
        if self.data.source == "frames":
            return read_person_frames(self.frames_dir / name, frames)
        return None

    def person_boxes(self, name: str) -> np.ndarray:
        """``(F, 4)`` the person box of every skeleton frame, the boxes the person frames were cut to."""
        if name not in self._person_boxes:
            skeleton = read_skeleton_colors(self.skeletons / f"{name}.skeleton")
            self._person_boxes[name] = person_boxes(skeleton, actors_in_action(name))
        return self._person_boxes[name]

    def images(self, name: str, clip: ClipTargets, decoded: dict[int, np.ndarray] | None = None) -> np.ndarray:
        """``(T, S, S, 3)`` uint8 RGB crops of the clip (from ``decoded`` frames, :meth:`decode`, when given);
        frames past the last one read repeat it."""
        size = self.sizes.image_size
        if self.data.source == "dots":
            return dot_frames(clip, size)
        if decoded is None:
            decoded = self.decode(name, clip.frames)
        if not decoded:
            where = self.videos / f"{name}{VIDEO_SUFFIX}" if self.data.source == "video" else self.frames_dir / name
            raise ValueError(f"{where}: no frame of the clip could be read")
        keys = [int(f) if int(f) in decoded else max(decoded) for f in clip.frames]
        if self.data.source == "video":
            return np.stack([crop_frame(decoded[k], clip.box, size, clip.flipped) for k in keys])
        boxes = self.person_boxes(name)
        return np.stack([crop_person_frame(decoded[k], boxes[min(k, len(boxes) - 1)], clip.box, size, clip.flipped)
                         for k in keys])

    def __getitem__(self, index: int) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        name = self.sample_names[index]
        rng = np.random.default_rng(random.getrandbits(32)) if self.train else None
        clip = self.clip(index, rng)
        t, j, size = self.sizes.num_frames, self.sizes.num_joints, self.sizes.image_size
        label = parse_name(name).label
        if clip is None:
            zeros = torch.zeros
            return ({"frames": zeros(t, 3, size, size, dtype=torch.uint8)},  # black: -1 once normalised
                    {"label": label, "pose": zeros(t, j, 3), "valid": zeros(t, j), "xyz_mm": zeros(t, j, 3),
                     "box": torch.tensor([0.0, 0.0, 1.0, 1.0]), "root_z": torch.tensor(0.0),
                     "scale": torch.tensor(1.0), "camera": torch.ones(4)})
        frames = chw_frames(self.images(name, clip))  # uint8: normalised on the device (device_transform)
        camera = np.nan_to_num(clip.camera, nan=1.0)
        return ({"frames": frames},
                {"label": label, "pose": torch.from_numpy(clip.pose), "valid": torch.from_numpy(clip.valid),
                 "xyz_mm": torch.from_numpy(clip.xyz_mm), "box": torch.from_numpy(clip.box).float(),
                 "root_z": torch.tensor(clip.root_z, dtype=torch.float32),
                 "scale": torch.tensor(clip.scale, dtype=torch.float32),
                 "camera": torch.from_numpy(camera).float()})


def build_dataset(cfg: MultitaskExperiment, split: str) -> NtuClips:
    return NtuClips(cfg, split)


# ---------------------------------------------------------------- losses and metrics
def elastic_net(pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """``Σ_joints,coords (|Δ| + Δ²)`` over valid joints, averaged over clips and frames; ``(..., J, 3)``."""
    diff = (pred.float() - target) * valid.unsqueeze(-1)
    per_frame = (diff.abs() + diff.square()).sum((-2, -1))
    return per_frame.mean()


def binary_cross_entropy(prob: torch.Tensor, target: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Mean BCE of probabilities, written out: ``F.binary_cross_entropy`` refuses CUDA autocast regions."""
    p = prob.float().clamp(eps, 1 - eps)
    return -(target * p.log() + (1 - target) * (1 - p).log()).mean()


def compute_loss(output: dict[str, torch.Tensor], target: dict[str, torch.Tensor],
                 cfg: MultitaskExperiment) -> dict[str, torch.Tensor]:
    """Named terms by stage: ``pose_<k>`` and ``visible_<k>`` per pose block, ``action_<k>`` per action
    block (pose branch 1-4, appearance 5-8) and ``action`` for the aggregate."""
    terms: dict[str, torch.Tensor] = {}
    if cfg.model.stage in ("pose", "finetune"):
        for k, (pose, visible) in enumerate(zip(output["pose_blocks"], output["visible_blocks"], strict=True)):
            terms[f"pose_{k + 1}"] = elastic_net(pose, target["pose"], target["valid"])
            terms[f"visible_{k + 1}"] = binary_cross_entropy(visible, target["valid"])
    if cfg.model.stage in ("action", "finetune"):
        for k, logits in enumerate(output["action_blocks"]):
            terms[f"action_{k + 1}"] = F.cross_entropy(logits.float(), target["label"])
        terms["action"] = F.cross_entropy(output["action"].float(), target["label"])
    return terms


def loss_weights(cfg: MultitaskExperiment) -> dict[str, float]:
    if cfg.model.stage == "action":
        return {}
    return {f"visible_{k + 1}": cfg.model.visibility_weight for k in range(sizes_of(cfg).num_blocks)}


def pck(pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor,
        threshold: float = PCK_THRESHOLD) -> tuple[float, float]:
    """Correct and counted joints: valid joints whose x, y (crop units) lie within ``threshold`` of the truth."""
    dist = (pred[..., :2].float() - target[..., :2]).norm(dim=-1)
    mask = valid > 0
    return float(((dist < threshold) & mask).sum()), float(mask.sum())


def root_relative_mpjpe(pred_mm: torch.Tensor, true_mm: torch.Tensor, valid: torch.Tensor) -> tuple[float, float]:
    """Summed millimetres and counted joints: ``|(p - p_root) - (t - t_root)|`` over the valid joints of
    frames whose root is valid; ``(N, T, J, 3)``."""
    rel_pred = pred_mm - pred_mm[..., :1, :]
    rel_true = true_mm - true_mm[..., :1, :]
    mask = (valid > 0) & (valid[..., :1] > 0)
    err = (rel_pred - rel_true).norm(dim=-1)
    return float(err[mask].sum()), float(mask.sum())


def batch_metrics(output: dict[str, torch.Tensor], target: dict[str, torch.Tensor],
                  cfg: MultitaskExperiment) -> dict[str, tuple[float, float]]:
    pose = output["pose"].float()
    pred_mm = pose_to_camera_mm(pose, target["box"], target["root_z"], target["scale"], target["camera"])
    return {"pck": pck(pose, target["pose"], target["valid"]),
            "mpjpe_mm": root_relative_mpjpe(pred_mm, target["xyz_mm"].float(), target["valid"])}


def device_transform(inputs: dict[str, torch.Tensor], cfg: MultitaskExperiment) -> dict[str, torch.Tensor]:
    """The dataset's uint8 frames, on the device, scaled to [-1, 1] there (the other inputs as they are)."""
    return {**inputs, "frames": normalise_frames(inputs["frames"])}


TASK = Task(
    name="multitask",
    config_cls=MultitaskExperiment,
    build_model=build_model,
    build_dataset=build_dataset,
    compute_loss=compute_loss,
    loss_weights=loss_weights,
    logits_key="action",
    batch_metrics=batch_metrics,
    device_transform=device_transform,
)
