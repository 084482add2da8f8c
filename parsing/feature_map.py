"""The parsing feature map (REFERENCE.md §9): N parsing maps of one sample tiled into one RGB image.

``render_feature_map`` is a pure function of the label maps, the frame count and (in training) a
NumPy generator; its output is pixel-identical to EPP-Net's renderer, whose published rendering of
``S001C001P001R001A001`` the tests reproduce. The reference pastes palette images tile by tile; here
every step works on class indices (resizing, flipping and rotating them is what the reference does
to its palette images too) and the palette is applied once to the whole index canvas, which gives
the same pixels with one colour conversion instead of one per tile.

Random draws in training, in this order: start frame, frame step, flip (``random() > 0.5``), angle
(``random() * 30`` degrees). Tests replay them with a generator seeded the same way.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from PIL import Image

from parsing.labels import voc_palette

CANVAS_SIZE = 480
NUM_PALETTE_CLASSES = 20  # LIP; the reference colours only these, every other index is grey
MAX_ROTATION_DEGREES = 30.0


@lru_cache(maxsize=1)
def feature_map_palette() -> np.ndarray:
    """``(256, 3)`` uint8: VOC colours for classes 0-19 and grey ``(i, i, i)`` for 20-255.

    The grey is what the reference's Pillow did with a 20-colour palette: it kept its initial grey
    ramp beyond the given entries. Bicubic overshoot at part borders produces indices 20-22.
    """
    palette = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1)
    palette[:NUM_PALETTE_CLASSES] = voc_palette(NUM_PALETTE_CLASSES)
    palette.setflags(write=False)
    return palette


@lru_cache(maxsize=1)
def _palette_bytes() -> bytes:
    return feature_map_palette().tobytes()


@lru_cache(maxsize=16)
def tile_layout(num_frames: int) -> tuple[int, tuple[tuple[int, int], ...]]:
    """Tile side and the ``(x, y)`` corner of each tile: column ``int(k mod √N)``, row ``int(k // √N)``.

    √N stays a float as in the reference, so N = 5 gives a row of three (the third clipped at the
    canvas edge) above a row of two.
    """
    root = math.sqrt(num_frames)
    side = int(CANVAS_SIZE / root)
    corners = tuple((side * int(k % root), side * int(k // root)) for k in range(num_frames))
    return side, corners


def select_frames(total_frames: int, num_frames: int, *, train: bool = False,
                  rng: np.random.Generator | None = None) -> list[int]:
    """Indices into the sample's ``total_frames`` frames of the N frames the feature map shows.

    Fewer than N frames are first padded by reflection in time. Evaluation takes every ``T // N``-th
    frame from 0; training draws the start in ``0..T mod N`` and the step in ``1..T // N``.
    """
    if total_frames < 1:
        raise ValueError("a parsing sample needs at least one frame, found 0")
    # np.pad's reflection is a pure index mapping, so padding the indices pads the frames.
    available = np.pad(np.arange(total_frames), (0, max(0, num_frames - total_frames)), mode="reflect")
    count = len(available)
    start, step = 0, count // num_frames
    if train:
        rng = np.random.default_rng() if rng is None else rng
        start = int(rng.integers(0, count % num_frames + 1))
        step = int(rng.integers(1, count // num_frames + 1))
    return [int(available[i]) for i in range(start, count, step)[:num_frames]]


def render_feature_map(labels: np.ndarray, num_frames: int = 9, *, train: bool = False,
                       rng: np.random.Generator | None = None) -> np.ndarray:
    """Tile N label maps into the ``(480, 480, 3)`` uint8 RGB feature map of REFERENCE.md §9.

    ``labels``: ``(T, H, W)`` or ``(T, H, W, 1)`` uint8 class indices (a memory map is fine: only
    the N frames shown are read). ``train`` adds the random frame interval, one horizontal flip
    with probability 0.5 and one rotation angle in [0, 30) degrees shared by all tiles, drawn from
    ``rng`` (a fresh unseeded generator when None).
    """
    if labels.ndim == 4 and labels.shape[-1] == 1:
        labels = labels[..., 0]
    if labels.ndim != 3 or labels.dtype != np.uint8:
        raise ValueError(f"expected uint8 label maps (T, H, W) or (T, H, W, 1), found {labels.dtype} "
                         f"{labels.shape}")
    if num_frames < 1:
        raise ValueError(f"num_frames must be at least 1, found {num_frames}")
    if train and rng is None:
        rng = np.random.default_rng()
    frames = select_frames(labels.shape[0], num_frames, train=train, rng=rng)
    flip, angle = False, 0.0
    if train:
        flip = rng.random() > 0.5
        angle = rng.random() * MAX_ROTATION_DEGREES

    side, corners = tile_layout(num_frames)
    canvas = Image.new("L", (CANVAS_SIZE, CANVAS_SIZE))  # index 0: black
    for frame, corner in zip(frames, corners, strict=True):
        # Resized as 8-bit greyscale: bicubic blends class indices at part borders, as the reference does.
        tile = Image.fromarray(np.ascontiguousarray(labels[frame])).resize((side, side), Image.Resampling.BICUBIC)
        if train:
            if flip:
                tile = tile.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            # torchvision's rotate on a PIL image: nearest, same size, about the centre, filled with index 0.
            tile = tile.rotate(angle, Image.Resampling.NEAREST, expand=False, fillcolor=0)
        canvas.paste(tile, corner)  # clips at the canvas edge like the reference's paste
    # Colouring is an exact table look-up, done once for the whole canvas.
    canvas.putpalette(_palette_bytes())
    return np.array(canvas.convert("RGB"))
