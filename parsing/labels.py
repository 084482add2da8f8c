"""Class names of the SCHP label sets and the VOC colour palette used to draw parsing maps.

The LIP set (20 classes) is what EPP-Net uses; ATR and Pascal-Person-Part are the other label sets
SCHP publishes checkpoints for, with their own class counts and input sizes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LIP_CLASSES: tuple[str, ...] = (
    "Background", "Hat", "Hair", "Glove", "Sunglasses", "Upper-clothes", "Dress", "Coat",
    "Socks", "Pants", "Jumpsuits", "Scarf", "Skirt", "Face", "Left-arm", "Right-arm",
    "Left-leg", "Right-leg", "Left-shoe", "Right-shoe",
)  # fmt: skip
ATR_CLASSES: tuple[str, ...] = (
    "Background", "Hat", "Hair", "Sunglasses", "Upper-clothes", "Skirt", "Pants", "Dress", "Belt",
    "Left-shoe", "Right-shoe", "Face", "Left-leg", "Right-leg", "Left-arm", "Right-arm", "Bag", "Scarf",
)  # fmt: skip
PASCAL_CLASSES: tuple[str, ...] = (
    "Background", "Head", "Torso", "Upper Arms", "Lower Arms", "Upper Legs", "Lower Legs",
)  # fmt: skip


@dataclass(frozen=True)
class LabelSet:
    """A label set and the square input size its SCHP checkpoint was trained at."""

    name: str
    classes: tuple[str, ...]
    input_size: int

    @property
    def num_classes(self) -> int:
        return len(self.classes)


LABEL_SETS: dict[str, LabelSet] = {
    "lip": LabelSet("lip", LIP_CLASSES, 473),
    "atr": LabelSet("atr", ATR_CLASSES, 512),
    "pascal": LabelSet("pascal", PASCAL_CLASSES, 512),
}


def get_label_set(name: str) -> LabelSet:
    """Look a label set up by name (``lip``, ``atr`` or ``pascal``)."""
    try:
        return LABEL_SETS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown label set {name!r}; expected one of {sorted(LABEL_SETS)}") from None


def voc_palette(num_classes: int = 256) -> np.ndarray:
    """The classic PASCAL VOC colour map: ``(num_classes, 3)`` uint8 RGB.

    Class ``j`` spreads its bits over R, G, B in turn (bit 0 -> R, bit 1 -> G, bit 2 -> B, then the
    next three bits), filling each channel from its high bit down. Every index gets its VOC colour;
    the feature map of REFERENCE.md §9 overrides indices 20-255 with grey itself.
    """
    if not 0 < num_classes <= 256:
        raise ValueError(f"voc_palette covers 1..256 classes, got {num_classes}")
    palette = np.zeros((num_classes, 3), dtype=np.uint8)
    for j in range(num_classes):
        code, bit = j, 7
        while code:
            for channel in range(3):
                palette[j, channel] |= ((code >> channel) & 1) << bit
            code >>= 3
            bit -= 1
    return palette
