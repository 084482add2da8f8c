"""What the part detector sees: person crops of a video, plain and with the pose-guided embedding, side by side.

    python -m part_parsing crops --annotations DIR --frames DIR --keypoints FILE --video VIDEO --out crops.png
        [--count 6]

One row per person of the scored frames (up to ``count``): the crop of the box enlarged to the person's
keypoints, then the same crop with the keypoints drawn (:func:`pose_guidance.embedding.pose_embedding`), with
the annotated part boxes on both; each crop is scaled to the same height.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from data.storage import atomic_write_bytes
from part_parsing.detection.samples import PART_CLASSES, DetectionSample, part_samples, sample_image
from part_parsing.keypoints import read_keypoints
from part_parsing.show import PART_COLORS
from part_parsing.tps import SCORED_FRAME_STEP, find_video, frames_folder, read_images, read_video

_HEIGHT = 160


def _panel(image: np.ndarray, sample: DetectionSample) -> Image.Image:
    scale = _HEIGHT / image.shape[0]
    picture = Image.fromarray(image).resize((max(1, round(image.shape[1] * scale)), _HEIGHT), Image.NEAREST)
    draw = ImageDraw.Draw(picture)
    x1, y1 = sample.crop[:2] if sample.crop else (0, 0)
    for box, label in zip(sample.boxes, sample.labels, strict=True):
        color = PART_COLORS[PART_CLASSES[label - 1]]
        draw.rectangle([(box[0] - x1) * scale, (box[1] - y1) * scale, (box[2] - x1) * scale, (box[3] - y1) * scale],
                       outline=color, width=1)
    return picture


def crops_picture(annotations: str | Path, frames_root: str | Path, keypoints: str | Path, video_name: str,
                  count: int = 6) -> Image.Image:
    """The picture of the module docstring."""
    action = find_video(annotations, video_name)
    video = read_video(annotations, action, video_name)
    folder = frames_folder(frames_root, action, video_name)
    height, width = read_images(folder, [1])[1].shape[:2]
    samples = part_samples([video], [folder], read_keypoints(keypoints), [(width, height)],
                           frame_step=SCORED_FRAME_STEP, merge_sides=False)[:count]
    if not samples:
        raise ValueError(f"{annotations}: video {video_name!r} has no annotated person on a scored frame")
    rows = [(_panel(sample_image(s, embedding=False), s), _panel(sample_image(s, embedding=True), s)) for s in samples]
    gap = 8
    total_width = max(a.width + b.width for a, b in rows) + 3 * gap
    canvas = Image.new("RGB", (total_width, len(rows) * (_HEIGHT + gap) + gap), (32, 32, 32))
    for r, (plain, embedded) in enumerate(rows):
        top = gap + r * (_HEIGHT + gap)
        canvas.paste(plain, (gap, top))
        canvas.paste(embedded, (2 * gap + plain.width, top))
    return canvas


def write_crops(annotations: str | Path, frames_root: str | Path, keypoints: str | Path, video_name: str,
                out: str | Path, count: int = 6) -> Path:
    """Write :func:`crops_picture` as a PNG, atomically."""
    buffer = io.BytesIO()
    crops_picture(annotations, frames_root, keypoints, video_name, count).save(buffer, format="PNG")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, buffer.getvalue())
    return out
