"""Pictures of parsing maps: the feature map as PNG, an animated GIF with a legend, overlays on frames.

    python -m parsing show feature-map --parsing S001C001P001R001A001.npy --out fm.png
    python -m parsing show feature-map --layout ipp-net --parsing S001C001P001R001A001.npy --out fm.png
    python -m parsing show gif --parsing S001C001P001R001A001.npy --out parsing.gif
    python -m parsing show overlay --parsing S001C001P001R001A001.npy \
        --frames FRAMES/S001C001P001R001A001 --out overlay.png
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from parsing.feature_map import render_feature_map
from parsing.labels import get_label_set, voc_palette
from parsing.parse import list_frames, load_parsing_map, read_frame

_LEGEND_ROW = 14
_LEGEND_WIDTH = 130


def colorize(labels: np.ndarray) -> np.ndarray:
    """Class indices ``(..., H, W)`` uint8 -> VOC colours ``(..., H, W, 3)`` uint8 RGB."""
    return voc_palette(256)[labels]


def write_feature_map(
    parsing_path: str | Path, out_path: str | Path, num_frames: int | None = None, train: bool = False,
    seed: int = 0, *, layout: str = "eppnet", byte_wrap: bool | None = None
) -> np.ndarray:
    """Render a sample's feature map in ``layout`` (``eppnet``: REFERENCE.md §9; ``ipp-net``: IPP-Net's
    strips, see :mod:`parsing.feature_map`) to a PNG; returns it, ``(480, 480, 3)`` uint8 RGB."""
    labels = load_parsing_map(parsing_path)
    image = render_feature_map(labels, num_frames, train=train, rng=np.random.default_rng(seed), layout=layout,
                               byte_wrap=byte_wrap)
    Image.fromarray(image).save(out_path)
    return image


def _legend(classes: tuple[str, ...], height: int) -> Image.Image:
    """A white panel listing each class with its palette swatch."""
    panel = Image.new("RGB", (_LEGEND_WIDTH, height), "white")
    draw = ImageDraw.Draw(panel)
    font = ImageFont.load_default()
    palette = voc_palette(len(classes))
    for j, name in enumerate(classes):
        top = 4 + j * _LEGEND_ROW
        swatch = [4, top, 4 + _LEGEND_ROW - 3, top + _LEGEND_ROW - 3]
        draw.rectangle(swatch, fill=tuple(int(c) for c in palette[j]))
        draw.text((4 + _LEGEND_ROW + 2, top), f"{j} {name}", fill="black", font=font)
    return panel


def write_parsing_gif(
    parsing_path: str | Path, out_path: str | Path, label_set: str = "lip", fps: float = 10.0, scale: int = 3
) -> int:
    """Animate a sample's parsing maps over time beside a legend of class names; returns the frame count."""
    labels = load_parsing_map(parsing_path)
    classes = get_label_set(label_set).classes
    if labels.max() >= len(classes):
        raise ValueError(f"{parsing_path}: label {labels.max()} beyond {len(classes)} {label_set} classes")
    coloured = colorize(labels).repeat(scale, axis=1).repeat(scale, axis=2)
    height = max(coloured.shape[1], 8 + len(classes) * _LEGEND_ROW)
    legend = _legend(classes, height)
    frames = []
    for image in coloured:
        canvas = Image.new("RGB", (image.shape[1] + _LEGEND_WIDTH, height), "white")
        canvas.paste(Image.fromarray(image), (0, 0))
        canvas.paste(legend, (image.shape[1], 0))
        frames.append(canvas)
    frames[0].save(out_path, save_all=True, append_images=frames[1:], duration=round(1000 / fps), loop=0)
    return len(frames)


def labels_on_frame(labels: np.ndarray, frame_size: tuple[int, int], input_size: int = 473) -> np.ndarray:
    """Map one ``(h, w)`` parsing map back onto its person frame: ``(H, W)`` uint8, nearest neighbour.

    The map covers the square parser input in which the frame sits scaled and centred (see
    :func:`parsing.schp.schp_input`), not the frame itself; a plain resize would stretch it. Map pixel
    ``i`` sits at input pixel ``i * (S - 1) / (h - 1)``, so one affine takes frame pixels to map pixels.
    """
    width, height = frame_size
    k = (input_size - 1) / max(width - 1, height - 1, 1)
    half = (input_size - 1) / 2
    to_map = (labels.shape[0] - 1) / (input_size - 1)
    frame_to_map = to_map * np.array(
        [[k, 0, half - k * (width - 1) / 2], [0, k, half - k * (height - 1) / 2]], dtype=np.float64
    )
    return cv2.warpAffine(
        labels,
        frame_to_map,
        (width, height),
        flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )


def write_overlay(
    parsing_path: str | Path,
    frames_dir: str | Path,
    out_path: str | Path,
    count: int = 6,
    alpha: float = 0.5,
    input_size: int = 473,
) -> np.ndarray:
    """Blend the parsing over ``count`` evenly spaced person frames, side by side, into one PNG.

    Background pixels keep the frame; part pixels mix ``alpha`` of the class colour. Returns the
    strip, ``(H, W, 3)`` uint8 RGB.
    """
    labels = load_parsing_map(parsing_path)
    frame_paths = list_frames(frames_dir)
    if len(frame_paths) != len(labels):
        found = f"{len(labels)} maps, but {frames_dir} has {len(frame_paths)} frames"
        raise ValueError(f"{parsing_path}: {found}")
    picks = np.unique(np.linspace(0, len(labels) - 1, max(count, 1)).round().astype(int))
    tiles = []
    for index in picks:
        frame = cv2.cvtColor(read_frame(frame_paths[index]), cv2.COLOR_BGR2RGB)
        parts = labels_on_frame(labels[index], (frame.shape[1], frame.shape[0]), input_size)
        blended = (1 - alpha) * frame + alpha * colorize(parts)
        tile = np.where(parts[..., None] > 0, blended, frame).round().astype(np.uint8)
        if tiles and tile.shape[0] != tiles[0].shape[0]:  # person frames of one sample differ by a few pixels
            new_width = round(tile.shape[1] * tiles[0].shape[0] / tile.shape[0])
            tile = cv2.resize(tile, (new_width, tiles[0].shape[0]), interpolation=cv2.INTER_AREA)
        tiles.append(tile)
        tiles.append(np.full((tile.shape[0], 4, 3), 255, dtype=np.uint8))
    strip = np.concatenate(tiles[:-1], axis=1)
    Image.fromarray(strip).save(out_path)
    return strip
