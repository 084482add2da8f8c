"""torchvision backbones for the parsing branch: InceptionV3 (EPP-Net's), ResNet-18 and ResNet-50.

A model maps ``(N, 3, S, S)`` ImageNet-normalised images to ``(N, num_classes)`` logits; InceptionV3
in training mode returns torchvision's ``InceptionOutputs(logits, aux_logits)``. Starting weights
come from a local file or, where the machine can download them, torchvision's ImageNet weights.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torchvision import models
from torchvision.models.inception import InceptionOutputs

from engine.checkpoint import extract_state_dict, load_all_but_head, safe_load

BACKBONES = ("inception_v3", "resnet18", "resnet50")
IMAGENET = "imagenet"
# Classifier weights that are re-initialised when a checkpoint's class count differs from the model's.
HEAD_PREFIXES = ("fc.", "AuxLogits.fc.")
# EPP-Net wraps torchvision's InceptionV3 in a module attribute of this name.
EPP_NET_PREFIX = "inception_v3."


def build_backbone(name: str, num_classes: int, *, pretrained: str = "", transform_input: bool = True) -> nn.Module:
    """A torchvision classifier with a ``num_classes``-way head.

    ``pretrained``: ``""`` (random init), ``"imagenet"`` (torchvision's weights, downloaded once) or
    the path of a state dict / checkpoint (untrusted: read with ``weights_only=True``), whose
    classifier head is skipped when its shape differs. ``transform_input`` (InceptionV3 only)
    re-scales ImageNet-normalised input to the [-1, 1] range torchvision's InceptionV3 weights
    expect; EPP-Net has it on (torchvision sets it with ``pretrained=True``).
    """
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; expected one of {', '.join(BACKBONES)}")
    if num_classes < 1:
        raise ValueError(f"num_classes must be positive, found {num_classes}")
    extra = {"transform_input": transform_input, "aux_logits": True} if name == "inception_v3" else {}
    if pretrained == IMAGENET:
        model = models.get_model(name, weights="DEFAULT", **extra)
        replace_heads(model, num_classes)
        return model
    if name == "inception_v3":
        extra["init_weights"] = True  # torchvision's initialisation, stated to silence its FutureWarning
    model = models.get_model(name, weights=None, num_classes=num_classes, **extra)
    if pretrained:
        load_pretrained(model, pretrained)
    return model


def replace_heads(model: nn.Module, num_classes: int) -> None:
    """New ``num_classes``-way linear classifiers (main and, for InceptionV3, auxiliary)."""
    model.fc = nn.Linear(model.fc.in_features, num_classes)
    aux = getattr(model, "AuxLogits", None)
    if aux is not None:
        aux.fc = nn.Linear(aux.fc.in_features, num_classes)


def load_pretrained(model: nn.Module, path: str | Path) -> list[str]:
    """Load starting weights from ``path``; returns the head keys skipped for their shape.

    Accepts bare state dicts, ``{'state_dict'|'model': ...}`` files and EPP-Net's parsing
    checkpoints (keys under ``inception_v3.``). Every other key must fit exactly.
    """
    loaded = extract_state_dict(safe_load(path), path)
    state = {key.removeprefix(EPP_NET_PREFIX): value for key, value in loaded.items()}
    return load_all_but_head(model, state, path, HEAD_PREFIXES)


def classification_loss(output: torch.Tensor | InceptionOutputs, target: torch.Tensor,
                        aux_weight: float = 0.0) -> torch.Tensor:
    """Cross-entropy on the logits, plus ``aux_weight`` x the auxiliary head's for InceptionV3 in training.

    The auxiliary term is kept even at weight 0 (EPP-Net's setting, where it adds nothing): then
    every parameter takes part in the loss, which DistributedDataParallel requires.
    """
    if isinstance(output, InceptionOutputs):
        loss = F.cross_entropy(output.logits, target)
        if output.aux_logits is not None:
            loss = loss + aux_weight * F.cross_entropy(output.aux_logits, target)
        return loss
    return F.cross_entropy(output, target)
