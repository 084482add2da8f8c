"""The RGB branch's models, one file in the timm style: blocks, models, the mapping of 3-channel weights.

Every model takes the dataset's input dict and returns a dict whose ``"logits"`` are ``(N, K)``:

* ``two_stream`` (Yao 2018, ShangwuYao/Pose-guided-action-recognition, README.md): a spatial ResNet
  (18/50/101) on the middle frame and a stacked-frames stream (AlexNet, VGG16 or a ResNet) on the F
  frames as ``3F`` channels; logits = mean of the two streams' logits. The stacked stream's first
  conv starts from a 3-channel (ImageNet) state dict, replicated ``cat([w] * F, dim=1)`` (Yao) or
  divided by F as well (TSN's cross-modality initialisation); on F identical frames the first gives
  F times the one-frame response, the second the same response.
* ``c3d`` (Tran et al. 2015): 3x3x3 convs 64, 128, 256x2, 512x2, 512x2, pool1 1x2x2 then 2x2x2
  (pool5 padded 0, 1, 1), fc6 / fc7 4096 with dropout 0.5, on ``(N, 3, 16, 112, 112)`` clips;
  ``model.c3d_width`` / ``model.c3d_fc`` narrow it (a deviation from the paper, for tiny-data tests);
  ``r3d_18`` and ``r2plus1d_18`` are torchvision's.
* ``attention_pool`` (Girdhar & Ramanan, NeurIPS 2017): on ResNet res5 features X ``(C, h, w)``, a
  bottom-up map ``X b`` (1x1 conv to 1) and top-down maps ``X a_k`` (1x1 conv to K); logit_k = spatial
  mean of their product. Pose ``input``: the joint heatmaps are concatenated to X before the top-down
  conv (Yao's ``c3d/attentionpooling.ipynb`` adds the joint maps to the top-down attention);
  ``aux``: a 1x1 head regresses the heatmaps from X (L2 loss, as in Girdhar's code). Frame logits are
  averaged over the video.
* ``rgb_grid`` (EPP-Net's modality ablation): the 9 frames tiled row by row into the 3 x 3 grid of the
  parsing feature map (``parsing.feature_map.tile_layout``), then a torchvision backbone.

Inputs: ``frames`` ``(N, F, 3, S, S)`` ImageNet-normalised, ``heatmaps`` ``(N, F, J, g, g)`` when the
model uses pose. Starting weights come from local files only, read with ``engine.checkpoint.safe_load``.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torchvision import models as tv

from engine.checkpoint import extract_state_dict, load_all_but_head, safe_load

MODELS = ("two_stream", "c3d", "r3d_18", "r2plus1d_18", "attention_pool", "rgb_grid")
RESNETS = ("resnet18", "resnet50", "resnet101")
STACK_BACKBONES = ("alexnet", "vgg16", *RESNETS)
FIRST_LAYER_MODES = ("replicate", "divide")
POSE_MODES = ("none", "input", "aux")
# First conv and classifier keys of each torchvision backbone.
FIRST_CONV = {"alexnet": "features.0", "vgg16": "features.0", "resnet18": "conv1", "resnet50": "conv1",
              "resnet101": "conv1", "r3d_18": "stem.0", "r2plus1d_18": "stem.0"}
HEAD_PREFIXES = ("fc.", "classifier.6.", "fc8.")


# ---------------------------------------------------------------- weights from 3-channel state dicts
def inflate_first_conv(weight: torch.Tensor, frames: int, mode: str = "replicate") -> torch.Tensor:
    """``(O, 3, k, k)`` -> ``(O, 3F, k, k)``: ``cat([w] * F, dim=1)``, divided by F for ``mode="divide"``."""
    if mode not in FIRST_LAYER_MODES:
        raise ValueError(f"first-layer mode must be one of {', '.join(FIRST_LAYER_MODES)}, found {mode!r}")
    stacked = torch.cat([weight] * frames, dim=1)
    return stacked / frames if mode == "divide" else stacked


def load_weights(model: nn.Module, path: str | Path, *, first_conv: str = "", frames: int = 1,
                 mode: str = "replicate", prefix: str = "") -> list[str]:
    """Load a local 3-channel state dict into ``model``; returns the skipped head keys.

    ``first_conv`` (e.g. ``"conv1"``) names the conv whose weight is inflated to ``3 * frames`` input
    channels; ``prefix`` is stripped from the file's keys. Classifier keys whose shape differs (or
    that the model lacks) are skipped; every other key must fit, else one error names the file and the keys.
    """
    state = {k.removeprefix(prefix): v for k, v in extract_state_dict(safe_load(path), path).items()}
    key = f"{first_conv}.weight"
    if first_conv and key in state and frames > 1 and state[key].shape[1] == 3:
        state[key] = inflate_first_conv(state[key], frames, mode)
    return load_all_but_head(model, state, path, HEAD_PREFIXES, drop_absent_heads=True)


def _replace_conv(conv: nn.Conv2d, in_channels: int) -> nn.Conv2d:
    return nn.Conv2d(in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                     bias=conv.bias is not None)


def image_backbone(name: str, num_classes: int, in_channels: int = 3) -> nn.Module:
    """A torchvision 2D classifier ``(N, in_channels, S, S) -> (N, num_classes)``, random weights."""
    if name not in STACK_BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; expected one of {', '.join(STACK_BACKBONES)}")
    model = tv.get_model(name, weights=None, num_classes=num_classes)
    if in_channels != 3:
        if name in RESNETS:
            model.conv1 = _replace_conv(model.conv1, in_channels)
        else:
            model.features[0] = _replace_conv(model.features[0], in_channels)
    return model


def middle_frame(frames: torch.Tensor) -> torch.Tensor:
    """``(N, F, 3, S, S)`` -> ``(N, 3, S, S)``: frame ``F // 2``."""
    return frames[:, frames.shape[1] // 2]


# ---------------------------------------------------------------- two-stream
class TwoStream(nn.Module):
    """Spatial ResNet on the middle frame + a stacked-frames network on ``3F`` channels; mean of logits."""

    def __init__(self, num_classes: int, frames: int, spatial: str = "resnet101", stack: str = "alexnet") -> None:
        super().__init__()
        if spatial not in RESNETS:
            raise ValueError(f"model.spatial must be one of {', '.join(RESNETS)}, found {spatial!r}")
        self.frames = frames
        self.spatial = image_backbone(spatial, num_classes)
        self.stack = image_backbone(stack, num_classes, in_channels=3 * frames)
        self.stack_name = stack

    def forward(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        frames = inputs["frames"]
        if frames.shape[1] != self.frames:
            raise ValueError(f"two_stream was built for {self.frames} frames, got {frames.shape[1]}")
        spatial = self.spatial(middle_frame(frames))
        stack = self.stack(frames.flatten(1, 2))  # (N, 3F, S, S), frame-major as cat([w] * F) expects
        return {"logits": (spatial + stack) / 2, "spatial_logits": spatial, "stack_logits": stack}


# ---------------------------------------------------------------- C3D and torchvision's 3D ResNets
def _pool_size(n: int, kernel: int, stride: int, pad: int) -> int:
    """Output length of a ``ceil_mode=True`` pooling (PyTorch's rule: the last window starts inside)."""
    out = math.ceil((n + 2 * pad - kernel) / stride) + 1
    return out - 1 if (out - 1) * stride >= n + pad else out


class C3D(nn.Module):
    """C3D on ``(N, 3, T, H, W)``; ``width`` scales the channels (64 = the paper's), ``fc_dim`` fc6 / fc7."""

    def __init__(self, num_classes: int, clip: tuple[int, int, int] = (16, 112, 112), width: int = 64,
                 fc_dim: int = 4096, dropout: float = 0.5) -> None:
        super().__init__()
        plan = [(1, 1, False), (2, 1, False), (4, 2, True), (8, 2, True), (8, 2, True)]  # (x width, convs, -)
        pools = [((1, 2, 2), (0, 0, 0)), ((2, 2, 2), (0, 0, 0)), ((2, 2, 2), (0, 0, 0)), ((2, 2, 2), (0, 0, 0)),
                 ((2, 2, 2), (0, 1, 1))]
        layers: list[nn.Module] = []
        channels, size = 3, list(clip)
        for (mult, convs, _), (kernel, pad) in zip(plan, pools, strict=True):
            for _ in range(convs):
                layers += [nn.Conv3d(channels, width * mult, 3, padding=1), nn.ReLU(inplace=True)]
                channels = width * mult
            layers.append(nn.MaxPool3d(kernel, kernel, pad, ceil_mode=True))
            size = [_pool_size(n, k, k, p) for n, k, p in zip(size, kernel, pad, strict=True)]
        self.features = nn.Sequential(*layers)
        self.clip = clip
        self.fc6 = nn.Linear(channels * math.prod(size), fc_dim)
        self.fc7 = nn.Linear(fc_dim, fc_dim)
        self.fc8 = nn.Linear(fc_dim, num_classes)
        self.dropout = nn.Dropout(dropout)
        self._init_weights()

    def _init_weights(self) -> None:
        """Convs as torchvision's VGG (PyTorch's default stalls 8 plain convs); fc6 / fc7 by their fan-in.

        VGG's fixed ``N(0, 0.01)`` for the linear layers suits only wide ones: fc6 + fc7 scaled the signal
        by ~0.3 at the paper's 8192 -> 4096 -> 4096 but by ~0.005 at width 8 / fc 64, so a narrow C3D's
        logits and conv gradients came out ~150 times smaller (gradient / weight ~3e-5) and it stayed at
        chance. He's fan-in rule, ``sqrt(2 / fan_in)`` (0.016 / 0.022 at the paper's size), keeps it at any
        width; fc8 stays ``N(0, 0.01)`` (small starting logits).
        """
        for module in self.modules():
            if isinstance(module, nn.Conv3d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(module.bias)
        for fc in (self.fc6, self.fc7):
            nn.init.kaiming_normal_(fc.weight, mode="fan_in", nonlinearity="relu")
            nn.init.zeros_(fc.bias)
        nn.init.normal_(self.fc8.weight, 0.0, 0.01)
        nn.init.zeros_(self.fc8.bias)

    def forward(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x = self.features(inputs["frames"].transpose(1, 2)).flatten(1)  # (N, F, 3, H, W) -> (N, 3, F, H, W)
        x = self.dropout(F.relu(self.fc6(x)))
        x = self.dropout(F.relu(self.fc7(x)))
        return {"logits": self.fc8(x)}


class VideoResNet(nn.Module):
    """torchvision's ``r3d_18`` / ``r2plus1d_18`` on ``(N, F, 3, H, W)`` frames."""

    def __init__(self, name: str, num_classes: int) -> None:
        super().__init__()
        self.net = tv.get_model(name, weights=None, num_classes=num_classes)

    def forward(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"logits": self.net(inputs["frames"].transpose(1, 2))}


# ---------------------------------------------------------------- attentional pooling
def resnet_trunk(name: str) -> tuple[nn.Module, int]:
    """A torchvision ResNet up to res5 (``layer4``) and its channel count."""
    if name not in RESNETS:
        raise ValueError(f"model.spatial must be one of {', '.join(RESNETS)}, found {name!r}")
    net = tv.get_model(name, weights=None)
    channels = net.fc.in_features
    net.fc = nn.Identity()
    net.avgpool = nn.Identity()
    return net, channels


def _res5(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    x = net.maxpool(net.relu(net.bn1(net.conv1(x))))
    return net.layer4(net.layer3(net.layer2(net.layer1(x))))


class AttentionPool(nn.Module):
    """Rank-1 attentional pooling on res5 per frame; frame logits averaged over the clip."""

    def __init__(self, num_classes: int, backbone: str = "resnet101", pose: str = "none", num_joints: int = 25) -> None:
        super().__init__()
        if pose not in POSE_MODES:
            raise ValueError(f"model.pose must be one of {', '.join(POSE_MODES)}, found {pose!r}")
        self.trunk, channels = resnet_trunk(backbone)
        self.pose = pose
        self.bottom_up = nn.Conv2d(channels, 1, 1)
        self.top_down = nn.Conv2d(channels + (num_joints if pose == "input" else 0), num_classes, 1)
        self.pose_head = nn.Conv2d(channels, num_joints, 1) if pose == "aux" else None

    def forward(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        frames = inputs["frames"]
        n, f = frames.shape[:2]
        x = _res5(self.trunk, frames.flatten(0, 1))  # (N F, C, h, w)
        top_input = x
        if self.pose == "input":
            top_input = torch.cat([x, self._heatmaps(inputs, x.shape[-2:])], dim=1)
        product = self.top_down(top_input) * self.bottom_up(x)  # (N F, K, h, w)
        frame_logits = product.mean(dim=(2, 3)).view(n, f, -1)
        out = {"logits": frame_logits.mean(dim=1)}
        if self.pose_head is not None:
            out["heatmaps"] = self.pose_head(x).view(n, f, -1, *x.shape[-2:])
        return out

    @staticmethod
    def _heatmaps(inputs: dict[str, torch.Tensor], size: torch.Size) -> torch.Tensor:
        maps = inputs["heatmaps"].flatten(0, 1)  # (N F, J, g, g)
        if maps.shape[-2:] != size:
            maps = F.interpolate(maps, size=tuple(size), mode="bilinear", align_corners=False)
        return maps


# ---------------------------------------------------------------- RGB grid (EPP-Net ablation)
def tile_grid(frames: torch.Tensor) -> torch.Tensor:
    """``(N, 9, 3, s, s)`` -> ``(N, 3, 3s, 3s)``: frame k at column ``k % 3``, row ``k // 3``, as the
    parsing feature map's ``tile_layout(9)``."""
    n, f, c, h, w = frames.shape
    side = math.isqrt(f)
    if side * side != f:
        raise ValueError(f"rgb_grid needs a square number of frames (9), got {f}")
    grid = frames.view(n, side, side, c, h, w).permute(0, 3, 1, 4, 2, 5)  # (N, c, row, h, col, w)
    return grid.reshape(n, c, side * h, side * w)


class RgbGrid(nn.Module):
    """A torchvision backbone on the 3 x 3 grid of RGB person crops."""

    def __init__(self, num_classes: int, backbone: str = "resnet18") -> None:
        super().__init__()
        self.net = image_backbone(backbone, num_classes)

    def forward(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"logits": self.net(tile_grid(inputs["frames"]))}


# ---------------------------------------------------------------- building from a config
def build_rgb_model(name: str, num_classes: int, *, frames: int, image_size: int, spatial: str = "resnet101",
                    stack: str = "alexnet", pose: str = "none", num_joints: int = 25, c3d_width: int = 64,
                    c3d_fc: int = 4096, dropout: float = 0.5, pretrained: str = "", stack_pretrained: str = "",
                    first_layer: str = "replicate") -> nn.Module:
    """The model ``name`` (one of :data:`MODELS`); ``pretrained`` (spatial / trunk / whole network) and
    ``stack_pretrained`` (two-stream's stacked stream, 3-channel weights inflated by ``first_layer``)
    are local weights files."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; expected one of {', '.join(MODELS)}")
    if first_layer not in FIRST_LAYER_MODES:
        raise ValueError(f"model.first_layer must be one of {', '.join(FIRST_LAYER_MODES)}, found {first_layer!r}")
    model: nn.Module
    if name == "two_stream":
        model = TwoStream(num_classes, frames, spatial, stack)
        if pretrained:
            load_weights(model.spatial, pretrained)
        if stack_pretrained:
            load_weights(model.stack, stack_pretrained, first_conv=FIRST_CONV[stack], frames=frames, mode=first_layer)
        return model
    if name == "c3d":
        model = C3D(num_classes, (frames, image_size, image_size), c3d_width, c3d_fc, dropout)
    elif name in ("r3d_18", "r2plus1d_18"):
        model = VideoResNet(name, num_classes)
        if pretrained:
            load_weights(model.net, pretrained)
        return model
    elif name == "attention_pool":
        model = AttentionPool(num_classes, spatial, pose, num_joints)
        if pretrained:
            load_weights(model.trunk, pretrained)
        return model
    else:
        model = RgbGrid(num_classes, spatial)
        if pretrained:
            load_weights(model.net, pretrained)
        return model
    if pretrained:
        load_weights(model, pretrained)
    return model
