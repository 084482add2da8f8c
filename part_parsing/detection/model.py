"""torchvision's detectors behind the engine's dict inputs: FCOS, RetinaNet or Faster R-CNN on a ResNet-FPN.

The backbone is a torchvision ResNet whose ImageNet weights come from a local file (``model.backbone_weights``,
e.g. ``resnet50-11ad3fa6.pth``; nothing is downloaded), extracted with an FPN as torchvision's own detection
builders do: P3-P7 (``LastLevelP6P7``) for the single-stage FCOS and RetinaNet, P2-P6 (max-pool) for Faster
R-CNN; the FPN has ``model.fpn_channels`` channels (torchvision's 256; fewer make a light head). Anchors start
at ``model.anchor_size`` and double per level (RetinaNet adds the 2^(1/3), 2^(2/3) scales
and the three ratios; Faster R-CNN the three ratios), as torchvision's defaults do from 32 (FCOS: from 8).

Input ``{"image": uint8 (N, 3, H, W), "size": (N, 2), "boxes": (N, G, 4), "labels": (N, G)}``: the uint8
images go to the device and are scaled there (to [0, 1]; the detector's transform then normalises with
``model.image_mean`` / ``image_std`` and resizes to ``min_size`` / ``max_size``). In training the model
returns torchvision's loss terms; in evaluation a list of ``{"boxes", "scores", "labels"}`` per image (labels
1..C; boxes of the background label 0, which FCOS and RetinaNet score like any class, are dropped).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torchvision
from torch import nn
from torchvision.models.detection import FCOS, FasterRCNN, RetinaNet
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.ops import FrozenBatchNorm2d
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool, LastLevelP6P7

from engine.checkpoint import extract_state_dict, load_all_but_head, safe_load
from engine.config import ConfigError

ARCHS = ("fcos", "retinanet", "faster_rcnn")
BACKBONES = ("resnet18", "resnet34", "resnet50", "resnet101")


def resnet_trunk(name: str, weights: str) -> nn.Module:
    """A torchvision ResNet, with the ImageNet weights of a local file when given (its ``fc`` may differ)."""
    if name not in BACKBONES:
        raise ConfigError(f"'model.backbone' should be one of {', '.join(BACKBONES)}, found {name!r}")
    if not weights:
        return getattr(torchvision.models, name)(weights=None)
    # pretrained: batch norm frozen, as torchvision's detection builders (and the official norm_eval) have it
    trunk = getattr(torchvision.models, name)(weights=None, norm_layer=FrozenBatchNorm2d)
    state = {k: v for k, v in extract_state_dict(safe_load(weights), weights).items()
             if not k.endswith("num_batches_tracked")}
    load_all_but_head(trunk, state, weights, ("fc.",), drop_absent_heads=True)
    return trunk


def fpn_features(trunk: nn.Module, trainable_layers: int, returned_layers: list[int], extra_blocks: nn.Module,
                 out_channels: int) -> BackboneWithFPN:
    """The ResNet's stages ``returned_layers`` under an FPN of ``out_channels``, its top ``trainable_layers``
    stages trained and the rest frozen: what torchvision's ``_resnet_fpn_extractor`` builds, with the width free."""
    trained = ["layer4", "layer3", "layer2", "layer1", "conv1"][:trainable_layers] + (["bn1"] if trainable_layers == 5
                                                                                     else [])
    for name, parameter in trunk.named_parameters():
        if not name.startswith(tuple(trained)):
            parameter.requires_grad_(False)
    stage2 = trunk.inplanes // 8  # layer1's width: 64 (basic blocks) or 256 (bottlenecks)
    return BackboneWithFPN(trunk, {f"layer{k}": str(v) for v, k in enumerate(returned_layers)},
                           [stage2 * 2 ** (k - 1) for k in returned_layers], out_channels, extra_blocks=extra_blocks)


def build_detector(arch: str, backbone: str, num_classes: int, *, weights: str = "", trainable_layers: int = 3,
                   min_size: int = 800, max_size: int = 1333, anchor_size: int = 0, fpn_channels: int = 256,
                   score_threshold: float = 0.05,
                   nms_threshold: float = 0.6, max_detections: int = 100,
                   image_mean: tuple[float, ...] = (0.485, 0.456, 0.406),
                   image_std: tuple[float, ...] = (0.229, 0.224, 0.225)) -> nn.Module:
    """A torchvision detector for ``num_classes`` classes plus background (module docstring)."""
    if arch not in ARCHS:
        raise ConfigError(f"'model.arch' should be one of {', '.join(ARCHS)}, found {arch!r}")
    if not 0 <= trainable_layers <= 5:
        raise ConfigError(f"'model.trainable_layers' should be 0..5, found {trainable_layers}")
    trunk = resnet_trunk(backbone, weights)
    common: dict[str, Any] = {"min_size": min_size, "max_size": max_size, "image_mean": list(image_mean),
                              "image_std": list(image_std)}
    if arch == "faster_rcnn":
        features = fpn_features(trunk, trainable_layers, [1, 2, 3, 4], LastLevelMaxPool(), fpn_channels)
        base = anchor_size or 32
        anchors = AnchorGenerator(tuple((base * 2**k,) for k in range(5)), ((0.5, 1.0, 2.0),) * 5)
        return FasterRCNN(features, num_classes + 1, rpn_anchor_generator=anchors, box_score_thresh=score_threshold,
                          box_nms_thresh=nms_threshold, box_detections_per_img=max_detections, **common)
    features = fpn_features(trunk, trainable_layers, [2, 3, 4], LastLevelP6P7(fpn_channels, fpn_channels), fpn_channels)
    if arch == "fcos":
        base = anchor_size or 8
        anchors = AnchorGenerator(tuple((base * 2**k,) for k in range(5)), ((1.0,),) * 5)
        return FCOS(features, num_classes + 1, anchor_generator=anchors, score_thresh=score_threshold,
                    nms_thresh=nms_threshold, detections_per_img=max_detections, **common)
    base = anchor_size or 32
    anchors = AnchorGenerator(tuple(tuple(int(base * 2**k * 2 ** (s / 3)) for s in range(3)) for k in range(5)),
                              ((0.5, 1.0, 2.0),) * 5)
    return RetinaNet(features, num_classes + 1, anchor_generator=anchors, score_thresh=score_threshold,
                     nms_thresh=nms_threshold, detections_per_img=max_detections, **common)


class Detector(nn.Module):
    """The engine's face of a torchvision detector (module docstring)."""

    def __init__(self, detector: nn.Module) -> None:
        super().__init__()
        self.detector = detector

    def forward(self, batch: Mapping[str, torch.Tensor]) -> Any:
        sizes = batch["size"].tolist()
        images = [batch["image"][n, :, :h, :w].float().div_(255.0) for n, (h, w) in enumerate(sizes)]
        if not self.training:
            # label 0 is the background; single-stage heads score it like a class, so drop its boxes
            return [{k: v[d["labels"] > 0] for k, v in d.items()} for d in self.detector(images)]
        targets = []
        for boxes, labels in zip(batch["boxes"], batch["labels"], strict=True):
            real = labels >= 0
            targets.append({"boxes": boxes[real].float(), "labels": labels[real]})
        return self.detector(images, targets)
