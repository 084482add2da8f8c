"""torchvision video backbones as feature trunks: ``(N, 3, T, H, W)`` clips -> ``(N, C, T', H', W')`` maps.

Four trunks of ``torchvision.models.video``: ``r2plus1d_18`` and ``r3d_18`` (C = 512, stride 8 in time for
T >= 8, 16 in space), ``s3d`` (C = 1024) and ``mvit_v2_s`` (C = 768; torchvision builds it for exactly
16 x 224 x 224 clips, ``mvit.py``: ``spatial_size=(224, 224), temporal_size=16``). The classifier head is
dropped; the part-parsing heads pool the map themselves.

Each trunk has five stages: the stem and the four resolution stages (ResNet ``layer1-4``; S3D's conv2/3,
mixed 3, 4, 5; MViT's blocks at 96, 192, 384 and 768 channels). ``model.stages`` keeps the first k (a
shallower, cheaper trunk: the CPU demo trains the stem and ``layer1`` of r3d_18), ``model.frozen_stages``
stops the gradients of the first k of those (mmaction2's ``frozen_stages`` of ResNet3d).

Starting weights come from a local file only (``model.pretrained: PATH``): a torchvision state dict such as
``r2plus1d_18-91a641e6.pth`` or a ``{'state_dict': ...}`` checkpoint, read with ``torch.load(...,
weights_only=True)`` by :mod:`engine.checkpoint`; every key but the classifier's must fit.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torchvision.models import video

from engine.checkpoint import check_state_dict, extract_state_dict, safe_load
from engine.config import ConfigError

BACKBONES = ("r2plus1d_18", "r3d_18", "mvit_v2_s", "s3d")
_HEADS = {"r2plus1d_18": "fc", "r3d_18": "fc", "s3d": "classifier", "mvit_v2_s": "head"}
STAGES = 5
# Output channels of each stage (torchvision's layer widths; S3D's Mixed_3c, 4f, 5c concatenations).
CHANNELS = {"r2plus1d_18": (64, 64, 128, 256, 512), "r3d_18": (64, 64, 128, 256, 512),
            "s3d": (64, 192, 480, 832, 1024), "mvit_v2_s": (96, 96, 192, 384, 768)}
# torchvision's Kinetics-400 normalisation of these models (transforms/_presets.py, VideoClassification)
KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)
_RESNET_LAYERS = ("layer1", "layer2", "layer3", "layer4")
_S3D_ENDS = (1, 4, 7, 13, 16)  # features[:end] is the trunk up to each stage
_MVIT_ENDS = (0, 1, 3, 14, 16)  # blocks[:end]


class VideoTrunk(nn.Module):
    """A torchvision video model without its classifier, cut after its first ``stages`` stages (5: whole);
    ``forward`` returns that stage's feature map, ``channels`` its width."""

    def __init__(self, name: str, pretrained: str = "", stages: int = STAGES) -> None:
        super().__init__()
        if name not in BACKBONES:
            raise ConfigError(f"'model.backbone' should be one of {', '.join(BACKBONES)}, found {name!r}")
        if not 1 <= stages <= STAGES:
            raise ConfigError(f"'model.stages' should be 1..{STAGES}, found {stages}")
        self.name, self.depth = name, stages
        self.net = getattr(video, name)(weights=None)
        delattr(self.net, _HEADS[name])
        if pretrained:
            load_pretrained(self.net, _HEADS[name], pretrained)
        net = self.net
        if name == "s3d":
            net.features = net.features[:_S3D_ENDS[stages - 1]]
        elif name == "mvit_v2_s":
            net.blocks = net.blocks[:_MVIT_ENDS[stages - 1]]
            if stages < STAGES:
                delattr(net, "norm")  # the final norm belongs to the last stage's width
        else:
            for layer in _RESNET_LAYERS[stages - 1:]:
                delattr(net, layer)
        self.channels = CHANNELS[name][stages - 1]

    def stages(self) -> list[list[nn.Module]]:
        """The stages kept, input side first."""
        net = self.net
        if self.name == "s3d":
            f, ends = list(net.features), (0, *_S3D_ENDS)
            return [f[ends[k]:ends[k + 1]] for k in range(self.depth)]
        if self.name == "mvit_v2_s":
            b, ends = list(net.blocks), (0, *_MVIT_ENDS)
            return [[net.conv_proj, net.pos_encoding], *(b[ends[k]:ends[k + 1]] for k in range(1, self.depth))]
        return [[net.stem], *([getattr(net, layer)] for layer in _RESNET_LAYERS[:self.depth - 1])]

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        """``(N, 3, T, H, W)`` -> ``(N, C, T', H', W')``."""
        net = self.net
        if self.name == "s3d":
            return net.features(clips)
        if self.name == "mvit_v2_s":
            x = net.pos_encoding(net.conv_proj(clips).flatten(2).transpose(1, 2))
            thw = (net.pos_encoding.temporal_size, *net.pos_encoding.spatial_size)
            for block in net.blocks:
                x, thw = block(x, thw)
            if self.depth == STAGES:
                x = net.norm(x)
            tokens = x[:, 1:]  # the patch tokens, without the class token
            return tokens.transpose(1, 2).reshape(tokens.shape[0], -1, *thw)
        x = net.stem(clips)
        for layer in _RESNET_LAYERS[:self.depth - 1]:
            x = getattr(net, layer)(x)
        return x


def load_pretrained(model: nn.Module, head: str, path: str | Path) -> None:
    """Load ``path`` into a torchvision model whose classifier ``head`` was removed: the file's head
    (of any class count) is skipped, every other key must fit."""
    state = {k: v for k, v in extract_state_dict(safe_load(path), path).items() if not k.startswith(head + ".")}
    check_state_dict(model, state, path)
    model.load_state_dict(state)


def feature_shape(name: str, stages: int, frames: int, size: tuple[int, int], key: str) -> tuple[int, int, int, int]:
    """``(C, T', H', W')`` of ``name`` cut after ``stages`` on ``frames x size`` clips, computed on the meta
    device (no arithmetic); a size the trunk cannot take is a :class:`ConfigError` naming ``key``."""
    with torch.device("meta"):
        trunk = VideoTrunk(name, stages=stages).eval()
        try:
            with torch.no_grad():
                out = trunk(torch.zeros(1, 3, frames, *size))
        except (RuntimeError, ValueError) as err:
            first = str(err).splitlines()[0]
            raise ConfigError(f"'{key}': {name} cannot take clips of {frames} frames of {size[0]}x{size[1]} "
                              f"pixels ({first})") from None
    return tuple(out.shape[1:])  # type: ignore[return-value]


def freeze(trunk: VideoTrunk, stages: int) -> list[nn.Module]:
    """Stop the gradients of the first ``stages`` stages; returns their modules (kept in eval mode)."""
    if not 0 <= stages <= trunk.depth:
        raise ConfigError(f"'model.frozen_stages' should be 0..{trunk.depth} (model.stages), found {stages}")
    frozen = [module for stage in trunk.stages()[:stages] for module in stage]
    for module in frozen:
        module.requires_grad_(False)
    return frozen
