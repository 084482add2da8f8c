"""The parsing feature map: N parsing maps of one sample laid out in one 480 x 480 RGB image.

``render_feature_map`` is a pure function of the label maps, the frame count, the layout and (in
training) a NumPy generator. It takes maps of any size: SCHP's 119 x 119 (EPP-Net) or PSPNet's
256 x 256 (IPP-Net). Two layouts:

``"eppnet"`` (REFERENCE.md §9): pixel-identical to EPP-Net's renderer, whose published rendering of
``S001C001P001R001A001`` the tests reproduce. The reference pastes palette images tile by tile; here
every step works on class indices (resizing, flipping and rotating them is what the reference does
to its palette images too) and the palette is applied once to the whole index canvas, which gives
the same pixels with one colour conversion instead of one per tile. Random draws in training, in
this order: start frame, frame step, flip (``random() > 0.5``), angle (``random() * 30`` degrees).
Tests replay them with a generator seeded the same way.

``"ipp-net"`` (liujf69/IPP-Net-Parsing, ``feeders/gen_parsing.py`` and ``feeders/feeder_parsing.py``):
N grey strips side by side, no palette and no augmentation; see :func:`ipp_net_frames`,
:func:`render_ipp_net` and :func:`byte_wrap_like_to_pil_image`.
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
LAYOUTS = ("eppnet", "ipp-net")
DEFAULT_FRAMES = {"eppnet": 9, "ipp-net": 5}


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


def ipp_net_frames(total_frames: int, num_frames: int = 5, *, train: bool = False,
                   rng: np.random.Generator | None = None) -> list[int]:
    """Indices of the N frames of IPP-Net's feature map (``feeders/gen_parsing.py``).

    Evaluation: every ``T // N``-th frame from 0. Training: the step is drawn uniformly in
    ``1..T // N`` and the start stays 0. Fewer than N frames: ``i * T // N + T // (2N)`` for
    i = 0..N-1 (no reflection). There the official training feeder fails (``np.random.randint(1, 1)``
    raises); here training falls back to those fixed indices and draws nothing. The official draw
    comes from NumPy's global legacy generator, ours from ``rng``: the same law, another stream.
    """
    if total_frames < 1:
        raise ValueError("a parsing sample needs at least one frame, found 0")
    step = total_frames // num_frames
    if step == 0:
        return [i * total_frames // num_frames + total_frames // (2 * num_frames) for i in range(num_frames)]
    if train:
        rng = np.random.default_rng() if rng is None else rng
        step = int(rng.integers(1, total_frames // num_frames + 1))
    return list(range(0, total_frames, step))[:num_frames]


def render_ipp_net(labels: np.ndarray, frames: list[int]) -> np.ndarray:
    """IPP-Net's canvas before the feeder: ``(T, H, W)`` uint8 labels -> ``(480, 480, 3)`` uint8, grey.

    Frame k's map, an 8-bit greyscale image, is resized to ``int(480 / N)`` x 480 with Pillow's
    bicubic filter (``Image.resize``'s default since Pillow 7, which the official call relies on) and
    pasted at x = ``int(480 / N) * k`` into a black RGB canvas: a mode-L image pasted into RGB
    becomes ``(v, v, v)``, so pixels are the raw label values, blended at part borders.
    """
    width = int(CANVAS_SIZE / len(frames))
    canvas = Image.new("L", (CANVAS_SIZE, CANVAS_SIZE))
    for k, frame in enumerate(frames):
        strip = Image.fromarray(np.ascontiguousarray(labels[frame]))
        canvas.paste(strip.resize((width, CANVAS_SIZE), Image.Resampling.BICUBIC), (width * k, 0))
    return np.array(canvas.convert("RGB"))


def byte_wrap_like_to_pil_image(image: np.ndarray) -> np.ndarray:
    """``v -> 255 v mod 256`` on uint8 pixels: what IPP-Net's feeder does to its feature map by accident.

    ``feeders/feeder_parsing.py`` turns the canvas into a float tensor of raw label values and hands
    it to torchvision's ToPILImage, which multiplies a float tensor by 255 and casts it to bytes
    (``pic.mul(255).byte()``); the cast keeps the low byte (PyTorch on x86 CPUs), so background stays
    0 and labels 1..19 become 255..237. The network of IPP-Net was trained on these pixels.
    """
    return image * np.uint8(255)  # uint8 arithmetic wraps modulo 256


def render_feature_map(labels: np.ndarray, num_frames: int | None = None, *, train: bool = False,
                       rng: np.random.Generator | None = None, layout: str = "eppnet",
                       byte_wrap: bool | None = None) -> np.ndarray:
    """Lay N label maps out in the ``(480, 480, 3)`` uint8 RGB feature map of ``layout``.

    ``labels``: ``(T, H, W)`` or ``(T, H, W, 1)`` uint8 class indices of any H, W (a memory map or a
    ``parsing.store.StoredMaps`` is fine: only the N frames shown are read, one ``labels[t]`` each).
    ``num_frames``: N, by default 9 for ``"eppnet"`` and 5 for ``"ipp-net"``. ``train`` adds the
    layout's randomness, drawn from ``rng`` (a fresh unseeded generator when None): for ``"eppnet"``
    the random frame interval, one horizontal flip with probability 0.5 and one rotation angle in
    [0, 30) degrees shared by all tiles; for ``"ipp-net"`` the random frame step only. ``byte_wrap``
    applies :func:`byte_wrap_like_to_pil_image` last; None means the layout's reference behaviour:
    on for ``"ipp-net"``, off for ``"eppnet"``.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"unknown feature-map layout {layout!r}; expected one of {', '.join(LAYOUTS)}")
    if labels.ndim == 4 and labels.shape[-1] == 1:
        labels = labels[..., 0]
    if labels.ndim != 3 or labels.dtype != np.uint8:
        raise ValueError(f"expected uint8 label maps (T, H, W) or (T, H, W, 1), found {labels.dtype} "
                         f"{labels.shape}")
    num_frames = DEFAULT_FRAMES[layout] if num_frames is None else num_frames
    if num_frames < 1:
        raise ValueError(f"num_frames must be at least 1, found {num_frames}")
    if train and rng is None:
        rng = np.random.default_rng()
    if layout == "ipp-net":
        image = render_ipp_net(labels, ipp_net_frames(labels.shape[0], num_frames, train=train, rng=rng))
    else:
        image = _render_eppnet(labels, num_frames, train, rng)
    if byte_wrap is None:
        byte_wrap = layout == "ipp-net"
    return byte_wrap_like_to_pil_image(image) if byte_wrap else image


def _render_eppnet(labels: np.ndarray, num_frames: int, train: bool, rng: np.random.Generator | None) -> np.ndarray:
    """REFERENCE.md §9's grid of palette tiles for ``(T, H, W)`` uint8 labels: ``(480, 480, 3)`` uint8."""
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
