"""IPP-Net's human parser: PSPNet on a dilated ResNet-101 (LIP, 20 classes) in plain PyTorch, and its checkpoint.

IPP-Net (liujf69/IPP-Net-Parsing, ``Human_Parsing/gen_parsing.py``) parses every person frame with
the PSPNet of Single-Human-Parsing-LIP (``Human_Parsing/net/pspnet.py``, ``net/resnet.py``,
``net/extractors.py``): a ResNet-101 with a 7x7 stem whose layer3 and layer4 are dilated (2 and 4)
instead of strided, so features stay at 1/8 of the input; pyramid pooling (1, 2, 3, 6 bins) to 1024
channels; three x2 upsampling blocks back to the input size; log-softmax over 20 LIP classes. Its
checkpoint ``PSPNet_last`` is a bare ``nn.DataParallel`` state dict (keys prefixed ``module.``), 660
keys and 72.7 M parameters, listed in ``parsing/reference/pspnet_lip_state_dict.txt``. Unlike SCHP
(``parsing/schp.py``) the norms are ordinary BatchNorm and the input is stretched, not letterboxed.

    model = load_pspnet_checkpoint("PSPNet_last")             # LIP, eval mode, on the CPU
    batch = torch.from_numpy(np.stack([pspnet_input(img) for img in frames_rgb]))
    labels = parse_batch(model, batch)                         # (N, 256, 256) uint8
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from engine.checkpoint import check_state_dict, extract_state_dict, safe_load
from parsing.labels import get_label_set
from parsing.schp import autocast_context

INPUT_SIZE = 256  # gen_parsing.py: transforms.Resize((256, 256), 3), 3 being PIL's bicubic
# ImageNet statistics on 0..1 pixels in R, G, B order (PIL reads RGB): gen_parsing.py's Normalize.
INPUT_MEAN_RGB = (0.485, 0.456, 0.406)
INPUT_STD_RGB = (0.229, 0.224, 0.225)
LABEL_SET = "lip"  # PSPNet_last is trained on LIP only


class Bottleneck(nn.Module):
    """ResNet bottleneck (1x1, 3x3 with the stride and dilation, 1x1 to 4x), BatchNorm, ReLU after the sum."""

    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int = 1, dilation: int = 1) -> None:
        super().__init__()
        cout = planes * self.expansion
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return F.relu(out + shortcut)


class DilatedResNet101(nn.Module):
    """The extractor (key prefix ``feats.``): ``(N, 3, S, S)`` -> layer4 features ``(N, 2048, S/8, S/8)``.

    7x7 stem, max-pool, 3/4/23/3 bottlenecks with strides 1/2/1/1 and dilations 1/1/2/4. As in the
    official ``_make_layer``, the first block of each layer keeps dilation 1; only the others dilate.
    The official forward also returns layer3's output, which feeds nothing but the unused classifier.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = self._make_layer(64, 64, blocks=3)
        self.layer2 = self._make_layer(256, 128, blocks=4, stride=2)
        self.layer3 = self._make_layer(512, 256, blocks=23, dilation=2)
        self.layer4 = self._make_layer(1024, 512, blocks=3, dilation=4)

    @staticmethod
    def _make_layer(cin: int, planes: int, blocks: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
        layers = [Bottleneck(cin, planes, stride)]
        layers += [Bottleneck(planes * Bottleneck.expansion, planes, 1, dilation) for _ in range(blocks - 1)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


class PSPModule(nn.Module):
    """Pyramid pooling: per bin, average-pool and a bias-free 1x1 keeping the channels; upsampled (bilinear,
    ``align_corners=False``) and concatenated before the input; a 1x1 with bias to ``cout``; ReLU."""

    def __init__(self, cin: int = 2048, cout: int = 1024, bins: tuple[int, ...] = (1, 2, 3, 6)) -> None:
        super().__init__()
        self.stages = nn.ModuleList(
            nn.Sequential(nn.AdaptiveAvgPool2d(b), nn.Conv2d(cin, cin, 1, bias=False)) for b in bins
        )
        self.bottleneck = nn.Conv2d(cin * (len(bins) + 1), cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        pyramid = [F.interpolate(stage(x), size=size, mode="bilinear", align_corners=False) for stage in self.stages]
        return F.relu(self.bottleneck(torch.cat([*pyramid, x], dim=1)))


class PSPUpsample(nn.Module):
    """x2 bilinear upsampling (``align_corners=False``), then 3x3 conv with bias, BatchNorm, PReLU (one slope)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.PReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = (2 * x.shape[-2], 2 * x.shape[-1])
        return self.conv(F.interpolate(x, size=size, mode="bilinear", align_corners=False))


class PSPNet(nn.Module):
    """PSPNet as IPP-Net runs it: ``(N, 3, S, S)`` normalised RGB -> ``(N, classes, 8k, 8k)`` log-probabilities,
    ``k = ceil(S / 8)`` (256 for the official 256 input).

    The attribute names are the checkpoint's keys. ``classifier`` (layer3 -> class presence) is an
    auxiliary head of the parser's training; IPP-Net's forward returns the parsing output only, so it
    holds weights that the forward never uses. The dropouts (0.3, 0.15) act in train mode only.
    """

    def __init__(self, num_classes: int = 20) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.feats = DilatedResNet101()
        self.psp = PSPModule(2048, 1024)
        self.drop_1 = nn.Dropout2d(0.3)
        self.up_1 = PSPUpsample(1024, 256)
        self.up_2 = PSPUpsample(256, 64)
        self.up_3 = PSPUpsample(64, 64)
        self.drop_2 = nn.Dropout2d(0.15)
        self.final = nn.Sequential(nn.Conv2d(64, num_classes, 1), nn.LogSoftmax(dim=1))
        self.classifier = nn.Sequential(nn.Linear(1024, 256), nn.ReLU(), nn.Linear(256, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.drop_1(self.psp(self.feats(x)))
        for up in (self.up_1, self.up_2, self.up_3):
            x = self.drop_2(up(x))
        return self.final(x)


def _lip_classes(label_set: str) -> int:
    if label_set.lower() != LABEL_SET:
        raise ValueError(f"the PSPNet parser (PSPNet_last) is trained on LIP only; label set {label_set!r} "
                         "has no PSPNet checkpoint")
    return get_label_set(LABEL_SET).num_classes


def build_pspnet(label_set: str = LABEL_SET, seed: int | None = None) -> PSPNet:
    """A LIP PSPNet in eval mode. With ``seed``, its random weights are reproducible.

    Random weights give meaningless maps; they serve tests, benchmarks and demos without ``PSPNet_last``.
    """
    num_classes = _lip_classes(label_set)
    if seed is None:
        return PSPNet(num_classes).eval()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return PSPNet(num_classes).eval()


def load_pspnet_checkpoint(
    path: str | Path, label_set: str = LABEL_SET, device: str | torch.device = "cpu"
) -> PSPNet:
    """Load IPP-Net's ``PSPNet_last`` into a fresh model in eval mode.

    Only tensors are unpickled (``weights_only=True``): checkpoints are untrusted files. The official
    file is a bare DataParallel state dict (``module.`` prefix, which is stripped); a ``state_dict``
    wrapper is accepted too. Every missing, unexpected or wrongly shaped key is an error naming the file.
    """
    model = PSPNet(_lip_classes(label_set))
    state = extract_state_dict(safe_load(path), path)
    check_state_dict(model, state, path)
    model.load_state_dict(state, strict=True)
    return model.to(device).eval()


def pspnet_input(image_rgb: np.ndarray, input_size: int = INPUT_SIZE) -> np.ndarray:
    """The parser's input for one frame: ``(H, W, 3)`` uint8 RGB -> ``(3, S, S)`` float32, S = input_size.

    gen_parsing.py's transform: the frame as PIL reads it, stretched to S x S (aspect not kept) with
    PIL's bicubic filter, /255, ImageNet mean/std in R, G, B order. The same float32 operations as
    torchvision's ToTensor and Normalize, so the values are theirs bit for bit.
    """
    if image_rgb.ndim != 3 or image_rgb.shape[2] != 3 or image_rgb.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB image, found {image_rgb.shape} {image_rgb.dtype}")
    resized = Image.fromarray(image_rgb).resize((input_size, input_size), Image.Resampling.BICUBIC)
    scaled = np.asarray(resized, dtype=np.float32) / np.float32(255)
    normalised = (scaled - np.array(INPUT_MEAN_RGB, np.float32)) / np.array(INPUT_STD_RGB, np.float32)
    return np.ascontiguousarray(normalised.transpose(2, 0, 1))


@torch.inference_mode()
def parse_batch(model: PSPNet, batch: torch.Tensor, amp: str | None = None) -> np.ndarray:
    """Label maps of a batch of :func:`pspnet_input` arrays: ``(N, 3, S, S)`` -> ``(N, h, w)`` uint8, the argmax
    over classes (gen_parsing.py saves it as uint8 ``(frames, 256, 256, 1)``)."""
    device = next(model.parameters()).device
    batch = batch.to(device, non_blocking=True)
    with autocast_context(device, amp):
        log_probs = model(batch)
    return log_probs.argmax(dim=1).to(torch.uint8).cpu().numpy()
