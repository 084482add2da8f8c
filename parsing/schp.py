"""The SCHP human parser ("AugmentCE2P", ResNet-101) in plain PyTorch, and its official checkpoints.

Layout and names follow REFERENCE.md §8 so that the published ``final.pth`` loads key for key
(``../shared/reference/schp_lip_state_dict.txt``: 603 keys for LIP). Its normalisation layers are
In-Place ABN, whose eval-mode scale is ``|weight| + eps`` rather than BatchNorm's ``weight``; the
checkpoint's weights were trained with that, so a plain BatchNorm gives wrong maps.

    model = load_schp_checkpoint("final.pth")                 # LIP, eval mode, on the CPU
    batch = torch.from_numpy(np.stack([schp_input(img) for img in frames_bgr]))
    labels = parse_batch(model, batch)                         # (N, 119, 119) uint8
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import nullcontext
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from parsing.labels import get_label_set

ABN_EPS = 1e-5
LEAKY_SLOPE = 0.01
# Caffe-style ResNet statistics on 0..1 pixels, in the B, G, R order in which OpenCV reads images.
INPUT_MEAN_BGR = (0.406, 0.456, 0.485)
INPUT_STD_BGR = (0.225, 0.224, 0.229)


class InPlaceABN(nn.Module):
    """In-Place Activated BatchNorm in inference form, on ``(N, C, H, W)``.

    ``y = (x - running_mean) / sqrt(running_var + eps) * (|weight| + eps) + bias``, then leaky ReLU
    (slope 0.01) or nothing. The running statistics are always used, in train mode too: this project
    only runs the parser, it never trains it. The state dict has no ``num_batches_tracked``.
    """

    def __init__(self, channels: int, activation: str = "leaky_relu") -> None:
        super().__init__()
        if activation not in ("leaky_relu", "none"):
            raise ValueError(f"InPlaceABN activation must be 'leaky_relu' or 'none', got {activation!r}")
        self.activation = activation
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # batch_norm with the ABN scale folds everything into one fused per-channel scale and shift.
        scale = self.weight.abs() + ABN_EPS
        x = F.batch_norm(x, self.running_mean, self.running_var, scale, self.bias, False, 0.0, ABN_EPS)
        if self.activation == "leaky_relu":
            x = F.leaky_relu(x, LEAKY_SLOPE, inplace=True)
        return x

    def extra_repr(self) -> str:
        return f"{self.weight.numel()}, activation={self.activation}"


def _conv_abn(cin: int, cout: int, kernel: int = 1) -> nn.Sequential:
    """Bias-free conv then ABN + leaky ReLU: the unit every head is built from (keys ``.0`` and ``.1``)."""
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, padding=kernel // 2, bias=False), InPlaceABN(cout))


class Bottleneck(nn.Module):
    """ResNet bottleneck (1x1, 3x3 with the stride and dilation, 1x1 to 4x) with identity-ABN norms."""

    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int = 1, dilation: int = 1) -> None:
        super().__init__()
        cout = planes * self.expansion
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = InPlaceABN(planes, "none")
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = InPlaceABN(planes, "none")
        self.conv3 = nn.Conv2d(planes, cout, 1, bias=False)
        self.bn3 = InPlaceABN(cout, "none")
        self.downsample = None
        if stride != 1 or cin != cout:
            shortcut_conv = nn.Conv2d(cin, cout, 1, stride, bias=False)
            self.downsample = nn.Sequential(shortcut_conv, InPlaceABN(cout, "none"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return F.relu(out + shortcut)


def _upsample(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=True)


class PSPModule(nn.Module):
    """Pyramid pooling (1, 2, 3, 6 bins) to 512 channels each, concatenated with the input, 3x3 to 512."""

    def __init__(self, cin: int = 2048, cout: int = 512, bins: tuple[int, ...] = (1, 2, 3, 6)) -> None:
        super().__init__()
        self.stages = nn.ModuleList(
            nn.Sequential(nn.AdaptiveAvgPool2d(b), nn.Conv2d(cin, cout, 1, bias=False), InPlaceABN(cout))
            for b in bins
        )
        self.bottleneck = _conv_abn(cin + len(bins) * cout, cout, kernel=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The checkpoint's bottleneck expects the pooled maps first and the input features last.
        pyramid = [_upsample(stage(x), x) for stage in self.stages]
        return self.bottleneck(torch.cat([*pyramid, x], dim=1))


class EdgeModule(nn.Module):
    """Edge branch over layer1/2/3 features: 256-channel features each, a shared 3x3 to 2 edge logits."""

    def __init__(self, cins: tuple[int, int, int] = (256, 512, 1024), mid: int = 256) -> None:
        super().__init__()
        self.conv1 = _conv_abn(cins[0], mid)
        self.conv2 = _conv_abn(cins[1], mid)
        self.conv3 = _conv_abn(cins[2], mid)
        self.conv4 = nn.Conv2d(mid, 2, 3, padding=1)
        self.conv5 = nn.Conv2d(2 * 3, 2, 1)

    def forward(
        self, x2: torch.Tensor, x3: torch.Tensor, x4: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Edge logits ``(N, 2, h, w)`` and edge features ``(N, 768, h, w)`` at ``x2``'s size ``h, w``."""
        features = [self.conv1(x2), self.conv2(x3), self.conv3(x4)]
        # The reference applies the shared conv4 at each level's own resolution, then upsamples.
        edges = [self.conv4(f) for f in features]
        features = [features[0]] + [_upsample(f, x2) for f in features[1:]]
        edges = [edges[0]] + [_upsample(e, x2) for e in edges[1:]]
        return self.conv5(torch.cat(edges, dim=1)), torch.cat(features, dim=1)


class DecoderModule(nn.Module):
    """Parsing decoder: context (512) to 256, upsampled onto layer1's 48-channel skip, two 1x1, classes."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.conv1 = _conv_abn(512, 256)
        self.conv2 = _conv_abn(256, 48)
        self.conv3 = nn.Sequential(*_conv_abn(256 + 48, 256), *_conv_abn(256, 256))
        self.conv4 = nn.Conv2d(256, num_classes, 1)

    def forward(self, context: torch.Tensor, skip: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Parsing logits ``(N, classes, h, w)`` and features ``(N, 256, h, w)`` at ``skip``'s size."""
        x = torch.cat([_upsample(self.conv1(context), skip), self.conv2(skip)], dim=1)
        x = self.conv3(x)
        return self.conv4(x), x


class SchpOutput(NamedTuple):
    """The three heads, all at 1/4 of the input size (119x119 for 473 input)."""

    parsing: torch.Tensor  # (N, classes, h, w) decoder logits
    fusion: torch.Tensor  # (N, classes, h, w) fused logits: what the parsing maps are made from
    edge: torch.Tensor  # (N, 2, h, w) edge logits


class SCHP(nn.Module):
    """SCHP AugmentCE2P: ResNet-101 (3-conv stem, layer4 dilated), PSP context, decoder, edge, fusion.

    Input ``(N, 3, S, S)`` normalised BGR (see :func:`schp_input`); outputs at ``(S + 3) // 4``
    (an odd ``S`` such as 473 gives 119). The attribute names are the checkpoint's keys, including
    the original spelling ``fushion``.
    """

    def __init__(self, num_classes: int = 20) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.conv1 = nn.Conv2d(3, 64, 3, stride=2, padding=1, bias=False)
        self.bn1 = InPlaceABN(64, "none")
        self.conv2 = nn.Conv2d(64, 64, 3, padding=1, bias=False)
        self.bn2 = InPlaceABN(64, "none")
        self.conv3 = nn.Conv2d(64, 128, 3, padding=1, bias=False)
        self.bn3 = InPlaceABN(128, "none")
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = self._make_layer(128, 64, blocks=3)
        self.layer2 = self._make_layer(256, 128, blocks=4, stride=2)
        self.layer3 = self._make_layer(512, 256, blocks=23, stride=2)
        self.layer4 = self._make_layer(1024, 512, blocks=3, dilation=2)
        self.context_encoding = PSPModule(2048, 512)
        self.edge = EdgeModule()
        self.decoder = DecoderModule(num_classes)
        self.fushion = nn.Sequential(*_conv_abn(1024, 256), nn.Dropout2d(0.1), nn.Conv2d(256, num_classes, 1))

    @staticmethod
    def _make_layer(cin: int, planes: int, blocks: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
        layers = [Bottleneck(cin, planes, stride, dilation)]
        layers += [Bottleneck(planes * Bottleneck.expansion, planes, 1, dilation) for _ in range(blocks - 1)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> SchpOutput:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        x = F.relu(self.bn3(self.conv3(x)))
        x2 = self.layer1(self.maxpool(x))
        x3 = self.layer2(x2)
        x4 = self.layer3(x3)
        x5 = self.layer4(x4)
        parsing, parsing_features = self.decoder(self.context_encoding(x5), x2)
        edge, edge_features = self.edge(x2, x3, x4)
        fusion = self.fushion(torch.cat([parsing_features, edge_features], dim=1))
        return SchpOutput(parsing, fusion, edge)


def build_schp(label_set: str = "lip", seed: int | None = None) -> SCHP:
    """An SCHP for ``label_set`` in eval mode. With ``seed``, its random weights are reproducible.

    Random weights give meaningless maps; they serve tests, benchmarks and demos without ``final.pth``.
    """
    num_classes = get_label_set(label_set).num_classes
    if seed is None:
        return SCHP(num_classes).eval()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return SCHP(num_classes).eval()


class CheckpointMismatchError(ValueError):
    """A checkpoint whose keys or shapes differ from the model's; the message lists every difference."""


def _listing(items: list[str], limit: int = 12) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")


def load_schp_state_dict(model: SCHP, state: Mapping[str, torch.Tensor], source: str) -> None:
    """Copy ``state`` (``module.`` prefixes allowed) into ``model``; any key or shape mismatch is an error."""
    state = {k.removeprefix("module."): v for k, v in state.items()}
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong_shape = [
        f"{k} (expected {list(v.shape)}, found {list(state[k].shape)})"
        for k, v in expected.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or wrong_shape:
        problems = []
        if missing:
            problems.append(f"{len(missing)} missing keys: {_listing(missing)}")
        if unexpected:
            problems.append(f"{len(unexpected)} unexpected keys: {_listing(unexpected)}")
        if wrong_shape:
            problems.append(f"{len(wrong_shape)} keys with wrong shapes: {_listing(wrong_shape)}")
        raise CheckpointMismatchError(
            f"{source}: not an SCHP checkpoint for {model.num_classes} classes; " + "; ".join(problems)
        )
    model.load_state_dict(state, strict=True)


def load_schp_checkpoint(
    path: str | Path, label_set: str = "lip", device: str | torch.device = "cpu"
) -> SCHP:
    """Load an official SCHP checkpoint (e.g. ``final.pth``) into a fresh model in eval mode.

    Only tensors are unpickled (``weights_only=True``): checkpoints are untrusted files. The weights
    may sit under ``'state_dict'`` and carry DataParallel's ``module.`` prefix.
    """
    path = Path(path)
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: checkpoint file not found") from None
    except Exception as err:  # torch raises a variety of types for corrupt or unsafe pickles
        raise ValueError(f"{path}: cannot load as a weights-only PyTorch checkpoint ({err})") from err
    if isinstance(checkpoint, Mapping) and isinstance(checkpoint.get("state_dict"), Mapping):
        checkpoint = checkpoint["state_dict"]
    if not isinstance(checkpoint, Mapping):
        found = type(checkpoint).__name__
        raise ValueError(f"{path}: expected a state dict or a dict holding 'state_dict', found a {found}")
    model = SCHP(get_label_set(label_set).num_classes)
    load_schp_state_dict(model, checkpoint, str(path))
    return model.to(device).eval()


def schp_input(image_bgr: np.ndarray, input_size: int = 473) -> np.ndarray:
    """The parser's input for one frame: ``(H, W, 3)`` uint8 BGR -> ``(3, S, S)`` float32, S = input_size.

    The whole frame is scaled, aspect kept, into the centre of a black square: centre
    ``((w-1)/2, (h-1)/2)``, scale ``k = (S-1) / max(w-1, h-1)``, bilinear; then /255 and the BGR
    mean/std. For S = 473 this is REFERENCE.md §8's ``[[k, 0, 236 - k cx], [0, k, 236 - k cy]]``.
    """
    if image_bgr.ndim != 3 or image_bgr.shape[2] != 3 or image_bgr.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 BGR image, found {image_bgr.shape} {image_bgr.dtype}")
    h, w = image_bgr.shape[:2]
    cx, cy = (w - 1) / 2, (h - 1) / 2
    k = (input_size - 1) / max(w - 1, h - 1, 1)
    half = (input_size - 1) / 2
    matrix = np.array([[k, 0, half - k * cx], [0, k, half - k * cy]], dtype=np.float64)
    square = cv2.warpAffine(
        image_bgr,
        matrix,
        (input_size, input_size),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(0, 0, 0),
    )
    mean = np.array(INPUT_MEAN_BGR, dtype=np.float32)
    std = np.array(INPUT_STD_BGR, dtype=np.float32)
    normalised = (square.astype(np.float32) / 255.0 - mean) / std
    return np.ascontiguousarray(normalised.transpose(2, 0, 1))


def autocast_context(device: torch.device, amp: str | None):
    """``torch.autocast`` for ``amp`` in ``bf16``/``fp16`` on CUDA; no-op when ``amp`` is None or ``none``."""
    if amp in (None, "none"):
        return nullcontext()
    dtypes = {"bf16": torch.bfloat16, "fp16": torch.float16}
    if amp not in dtypes:
        raise ValueError(f"unknown AMP mode {amp!r}; expected none, bf16 or fp16")
    if device.type != "cuda":
        raise ValueError(f"AMP ({amp}) is for CUDA devices; the parser runs in fp32 on {device}")
    return torch.autocast("cuda", dtype=dtypes[amp])


@torch.inference_mode()
def parse_batch(model: SCHP, batch: torch.Tensor, amp: str | None = None) -> np.ndarray:
    """Label maps of a batch of :func:`schp_input` arrays: ``(N, 3, S, S)`` -> ``(N, h, w)`` uint8.

    The label is the argmax of the fusion head's logits (the parsing head is not used).
    """
    device = next(model.parameters()).device
    batch = batch.to(device, non_blocking=True)
    with autocast_context(device, amp):
        fusion = model(batch).fusion
    return fusion.argmax(dim=1).to(torch.uint8).cpu().numpy()
