"""Coarse-to-fine part-level action parsing as an engine task: the video's class, then part states.

The system of Chen et al., "Part-level Action Parsing via a Pose-guided Coarse-to-Fine Framework" (ISCAS
2022; challenge code ``SheldongChen/A-Baseline-Framework-for-Part-level-Action-Parsing-and-Action-
Recognition``): a video classifier on the whole clip, and part-state classifiers on person tubes that predict
segment-level labels ``"(action) part: state"`` (the most frequent state of each part over a segment; the
paper finds 3 s segments within 0.1 % of per-frame prediction at a third of the compute), one classifier per
part group (the baseline's six configs ``csn_{head,hip,arm,hand,leg,foot}``). The paper reports a 60.89
Kinetics-TPS score with ip-CSN-152 (TSN-R50: 49.23; the official baseline 29.79) and 96.46 % video accuracy.

Two trunks by default: the video classifier's sees the whole clip, the part classifiers' sees the person
tubes. The baseline trains a separate CSN for the video class and for every group; here the six groups share
one trunk (and one head per group predicts both sides), while scene context and person detail keep their
own. ``model.shared_backbone: true`` uses one trunk for both views (half the weights; clip and tubes of the
same shape then go through it as one batch).

A dataset item is one video (:class:`part_parsing.clips.PartClips`), so the score file
``scores/final.pkl`` has the video-class logits keyed by video name. Losses: ``video`` (cross-entropy) and one
term per group (cross-entropy over the group's labels, present parts only), weighted by
``model.video_loss_weight`` and ``model.part_loss_weight``. Metrics: ``eval_part_<group>`` and ``eval_part``,
the top-1 accuracy of the group classifiers on their ``"(action) part: state"`` labels (as the baseline's
part configs measure it), over the parts present in the evaluation split.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from engine import Task
from engine.config import ConfigError, Experiment
from part_parsing.backbones import KINETICS_MEAN, KINETICS_STD, VideoTrunk, feature_shape, freeze
from part_parsing.clips import ClipSpec, PartClips, VideoSource, pad_segments, segment_frames, source_from_annotations
from part_parsing.labels import ABSENT, GROUP_PARTS, Vocabulary, build_vocabulary, encode_segments
from part_parsing.segments import SegmentLabel, segment_labels
from part_parsing.tps import PART_GROUPS, TPSFormatError, Video, frames_folder, list_videos, read_video


@dataclass
class PartModelConfig:
    backbone: Literal["r2plus1d_18", "r3d_18", "mvit_v2_s", "s3d"] = "r2plus1d_18"
    pretrained: str = ""  # a local torchvision weights file (e.g. r2plus1d_18-91a641e6.pth); "" random init
    shared_backbone: bool = False  # one trunk for the clip and the person tubes
    stages: int = 5  # 1..5: the trunk's stages used (stem, then 4 resolution stages); fewer: a shallower trunk
    frozen_stages: int = 0  # 0..stages: the first stages without gradients
    freeze_bn: bool = False  # batch norm in eval mode everywhere (the baseline's norm_eval / bn_frozen)
    part_grid: list[int] = field(default_factory=lambda: [3, 2])  # rows, columns of the pooled tube features
    dropout: float = 0.5
    video_loss_weight: float = 1.0
    part_loss_weight: float = 1.0  # each of the six group terms


@dataclass
class PartDataConfig:
    root: str = ""  # the release's folder (python -m data.synthetic.kinetics_tps --out ROOT writes one)
    train_annotations: str = "train_annotations"  # relative to root unless absolute
    test_annotations: str = "test_annotations"  # the evaluation split: needs annotations
    train_frames: str = "train_frames"  # rawframes <class>/<video>/img_NNNNN.jpg
    test_frames: str = "test_frames"
    segment_seconds: float = 3.0  # the paper's segments
    segment_frames: int = 0  # > 0: segments of this many frames instead
    fps: float = 0.0  # 0: from the video name's time span (<id>_<start>_<end>) and its frame count
    clip_frames: int = 16
    clip_size: list[int] = field(default_factory=lambda: [112, 112])  # height, width
    tube_frames: int = 16
    tube_size: list[int] = field(default_factory=lambda: [112, 112])
    frame_interval: int = 0  # 0: frames spread over the span; k: consecutive frames k apart
    tube_margin: float = 0.1
    max_segments: int = 0  # training: at most this many random segments per video (0: all)
    mean: list[float] = field(default_factory=lambda: list(KINETICS_MEAN))
    std: list[float] = field(default_factory=lambda: list(KINETICS_STD))


@dataclass
class PartExperiment(Experiment):
    """The engine's ``optim`` and ``train`` sections plus ``model`` and ``data``; the baseline's recipe is
    spelt out in ``configs/kinetics-tps/part_*.yaml``."""

    model: PartModelConfig = field(default_factory=PartModelConfig)
    data: PartDataConfig = field(default_factory=PartDataConfig)


def clip_spec(data: PartDataConfig) -> ClipSpec:
    """The ``data`` section checked and frozen for :class:`~part_parsing.clips.PartClips`."""
    for key in ("clip_size", "tube_size"):
        value = getattr(data, key)
        if len(value) != 2 or min(value) < 1:
            raise ConfigError(f"'data.{key}' should be [height, width] of positive pixels, found {value}")
    for key in ("clip_frames", "tube_frames"):
        if getattr(data, key) < 1:
            raise ConfigError(f"'data.{key}' should be at least 1, found {getattr(data, key)}")
    if len(data.mean) != 3 or len(data.std) != 3 or min(data.std) <= 0:
        raise ConfigError(f"'data.mean' / 'data.std' should be 3 values (std positive), found {data.mean}, {data.std}")
    if data.segment_frames <= 0 and data.segment_seconds <= 0:
        raise ConfigError(f"'data.segment_seconds' should be positive (or set data.segment_frames), "
                          f"found {data.segment_seconds}")
    return ClipSpec(data.clip_frames, tuple(data.clip_size), data.tube_frames, tuple(data.tube_size),
                    data.frame_interval, data.tube_margin, tuple(data.mean), tuple(data.std),
                    data.segment_seconds, data.segment_frames, data.fps)  # type: ignore[arg-type]


def split_paths(data: PartDataConfig, split: str) -> tuple[Path, Path]:
    """``(annotations, frames)`` folders of a split."""
    if not data.root:
        raise ConfigError("'data.root' is empty: set it to a Kinetics-TPS folder "
                          "(python -m data.synthetic.kinetics_tps --out DIR writes a small one)")
    root = Path(data.root)
    return root / getattr(data, f"{split}_annotations"), root / getattr(data, f"{split}_frames")


@functools.lru_cache(maxsize=4)
def read_split(annotations: Path, frames: Path) -> tuple[tuple[Video, ...], tuple[VideoSource, ...]]:
    """Every video of an annotation tree and its source (cached: the model and both datasets read it)."""
    if not annotations.is_dir():
        raise ConfigError(f"annotations folder {annotations} does not exist")
    videos, sources = [], []
    try:
        for action, name in tqdm(list_videos(annotations), desc=f"reading {annotations.name}", leave=False):
            video = read_video(annotations, action, name)
            videos.append(video)
            sources.append(source_from_annotations(video, frames_folder(frames, action, name)))
    except TPSFormatError as err:  # the engine reports configuration and input errors in one line
        raise ConfigError(str(err)) from None
    if not videos:
        raise ConfigError(f"annotations folder {annotations} holds no <class>/<video>/<video>/ folder")
    return tuple(videos), tuple(sources)


def labelled_split(cfg: PartExperiment, split: str) -> tuple[list[VideoSource], list[list[SegmentLabel]]]:
    """A split's sources and each video's segment labels."""
    videos, sources = read_split(*split_paths(cfg.data, split))
    spec = clip_spec(cfg.data)
    segments = [segment_labels(v, s.num_frames, segment_frames(s, spec)) for v, s in zip(videos, sources, strict=True)]
    return list(sources), segments


def vocabulary(cfg: PartExperiment) -> Vocabulary:
    """The classes of the training split (the classifiers' outputs)."""
    sources, segments = labelled_split(cfg, "train")
    vocab = build_vocabulary((s.action, seg) for s, seg in zip(sources, segments, strict=True))
    empty = [g for g in PART_GROUPS if not vocab.labels[g]]
    if empty:
        raise ConfigError(f"{split_paths(cfg.data, 'train')[0]}: no part of group {empty[0]} is annotated, "
                          "so its classifier has no classes")
    return vocab


def build_dataset(cfg: PartExperiment, split: str) -> PartClips:
    vocab = vocabulary(cfg)
    sources, segments = labelled_split(cfg, split)
    unknown = sorted({s.action for s in sources} - set(vocab.classes))
    if unknown:
        raise ConfigError(f"{split_paths(cfg.data, split)[0]}: class {unknown[0]!r} is not a class of the "
                          f"training annotations {split_paths(cfg.data, 'train')[0]}")
    return PartClips(sources, clip_spec(cfg.data), train=split == "train",
                     labels=[vocab.class_index(s.action) for s in sources],
                     targets=[encode_segments(s.action, seg, vocab) for s, seg in zip(sources, segments, strict=True)],
                     max_segments=cfg.data.max_segments)


class PartParsingNet(nn.Module):
    """``{"clip", "tubes", "segments"}`` (see :func:`part_parsing.clips.pad_segments`) ->
    ``{"video": (N, classes), "part_<group>": (N, S, parts, labels)}`` (zeros at padded segments)."""

    def __init__(self, cfg: PartExperiment, vocab: Vocabulary) -> None:
        super().__init__()
        m, spec = cfg.model, clip_spec(cfg.data)
        if len(m.part_grid) != 2 or min(m.part_grid) < 1:
            raise ConfigError(f"'model.part_grid' should be [rows, columns], at least 1 each, found {m.part_grid}")
        feature_shape(m.backbone, m.stages, spec.clip_frames, spec.clip_size, "data.clip_size")
        feature_shape(m.backbone, m.stages, spec.tube_frames, spec.tube_size, "data.tube_size")
        self.video_trunk = VideoTrunk(m.backbone, m.pretrained, m.stages)
        self.part_trunk = self.video_trunk if m.shared_backbone else VideoTrunk(m.backbone, m.pretrained, m.stages)
        trunks = [self.video_trunk] if m.shared_backbone else [self.video_trunk, self.part_trunk]
        self.frozen = [module for trunk in trunks for module in freeze(trunk, m.frozen_stages)]
        self.freeze_bn = m.freeze_bn
        channels = self.video_trunk.channels
        self.video_head = nn.Sequential(nn.Dropout(m.dropout), nn.Linear(channels, len(vocab.classes)))
        self.part_pool = nn.AdaptiveAvgPool3d((1, *m.part_grid))
        self.part_shapes = {g: (len(GROUP_PARTS[g]), len(vocab.labels[g])) for g in PART_GROUPS}
        self.part_heads = nn.ModuleDict({
            g: nn.Sequential(nn.Dropout(m.dropout), nn.Linear(channels * m.part_grid[0] * m.part_grid[1], p * n))
            for g, (p, n) in self.part_shapes.items()})

    def train(self, mode: bool = True) -> PartParsingNet:
        super().train(mode)
        for module in self.frozen:
            module.eval()
        if self.freeze_bn:
            for module in self.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
        return self

    def forward(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        clip, tubes, present = batch["clip"], batch["tubes"], batch["segments"]
        flat = tubes[present]  # (M, 3, T, H, W): the real segments
        if self.part_trunk is self.video_trunk and clip.shape[1:] == flat.shape[1:]:
            maps = self.video_trunk(torch.cat([clip, flat]))
            clip_map, tube_map = maps[:len(clip)], maps[len(clip):]
        else:
            clip_map, tube_map = self.video_trunk(clip), self.part_trunk(flat)
        out = {"video": self.video_head(clip_map.mean(dim=(2, 3, 4)))}
        pooled = self.part_pool(tube_map).flatten(1)
        for group, head in self.part_heads.items():
            parts, labels = self.part_shapes[group]
            logits = head(pooled).view(-1, parts, labels)
            full = logits.new_zeros((*present.shape, parts, labels))
            full[present] = logits
            out[f"part_{group}"] = full
        return out


def build_model(cfg: PartExperiment) -> PartParsingNet:
    return PartParsingNet(cfg, vocabulary(cfg))


def compute_loss(output: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor],
                 cfg: PartExperiment) -> dict[str, torch.Tensor]:
    """``video`` and one cross-entropy per group over its present, known parts (0 with none in the batch)."""
    terms = {"video": F.cross_entropy(output["video"], target["label"])}
    for group in PART_GROUPS:
        logits, labels = output[f"part_{group}"], target[f"part_{group}"]
        known = labels >= 0
        terms[group] = (F.cross_entropy(logits[known].float(), labels[known]) if bool(known.any())
                        else logits.sum() * 0.0)
    return terms


def loss_weights(cfg: PartExperiment) -> dict[str, float]:
    return {"video": cfg.model.video_loss_weight, **{g: cfg.model.part_loss_weight for g in PART_GROUPS}}


def batch_metrics(output: Mapping[str, torch.Tensor], target: Mapping[str, Any],
                  cfg: PartExperiment) -> dict[str, tuple[float, float]]:
    """Per group and over all groups: (right labels, present parts); a label unseen in training is wrong."""
    metrics, right_all, count_all = {}, 0.0, 0.0
    for group in PART_GROUPS:
        labels = target[f"part_{group}"]
        present = labels != ABSENT
        right = float(((output[f"part_{group}"].argmax(-1) == labels) & present).sum())
        count = float(present.sum())
        metrics[f"part_{group}"] = (right, count)
        right_all, count_all = right_all + right, count_all + count
    metrics["part"] = (right_all, count_all)
    return metrics


TASK = Task(
    name="part",
    config_cls=PartExperiment,
    build_model=build_model,
    build_dataset=build_dataset,
    compute_loss=compute_loss,
    loss_weights=loss_weights,
    logits_key="video",
    batch_metrics=batch_metrics,
    collate_fn=pad_segments,
)
