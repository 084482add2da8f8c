"""A picture of a video's part-level parsing: a few scored frames with human boxes, part boxes and states.

    python -m part_parsing show --annotations DIR --video VIDEO --out parsing.png
        [--frames FRAMES_ROOT | --videos VIDEOS_ROOT] [--pred-part pred_part_result.json] [--count 4]

One row per frame; the ground truth on the left and, with ``--pred-part``, the prediction beside it
(every proposal drawn, the first one thicker and labelled, ``+k`` counting the others). Without frames or
videos the boxes are drawn on a grey canvas.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from part_parsing.tps import (
    BODY_PARTS,
    SCORED_FRAME_STEP,
    Video,
    find_video,
    frame_json_name,
    frames_folder,
    human_result,
    read_images,
    read_json,
    read_video,
    video_file,
)

PART_COLORS = dict(zip(BODY_PARTS, ((230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
                                    (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60),
                                    (250, 190, 212)), strict=True))
_OTHER_PART = (255, 255, 255)
_HEADER = 16
_MIN_HEIGHT = 360


def pick_frames(video: Video, count: int) -> list[int]:
    """Up to ``count`` evenly spaced frame indices among the scored frames with humans (any annotated
    frame with humans if none is scored)."""
    with_humans = [f.index for f in video.frames if f.humans]
    scored = [i for i in with_humans if (i - 1) % SCORED_FRAME_STEP == 0] or with_humans
    if len(scored) <= count:
        return scored
    return [scored[round(k * (len(scored) - 1) / (count - 1))] for k in range(count)] if count > 1 else scored[:1]


def _proposals(part: Mapping[str, Any]) -> list[tuple[list, Any]]:
    """``(box, state)`` pairs of a ground-truth part (one) or a predicted part (its proposals)."""
    boxes, verbs = part.get("box"), part.get("verb")
    if boxes and isinstance(boxes[0], list):
        return list(zip(boxes, verbs if isinstance(verbs, list) else [verbs] * len(boxes), strict=False))
    return [(boxes, verbs)]


def draw_panel(image: np.ndarray, humans: Sequence[Mapping[str, Any]], title: str, scale: int) -> Image.Image:
    """One frame ``(H, W, 3)`` uint8 RGB, magnified ``scale`` times, with ``humans`` in the evaluation
    files' form drawn over it and ``title`` above."""
    height, width = image.shape[:2]
    panel = Image.new("RGB", (width * scale, height * scale + _HEADER), (32, 32, 32))
    panel.paste(Image.fromarray(image).resize((width * scale, height * scale), Image.NEAREST), (0, _HEADER))
    draw = ImageDraw.Draw(panel)
    font = ImageFont.load_default()
    draw.text((4, 2), title, fill="white", font=font)

    def rect(box: Sequence[float], color: tuple[int, int, int], line: int) -> tuple[float, float]:
        x1, y1 = box[0] * scale, box[1] * scale + _HEADER
        draw.rectangle([x1, y1, (box[2] + 1) * scale - 1, (box[3] + 1) * scale - 1 + _HEADER], outline=color,
                       width=line)
        return x1, y1

    for human in humans:
        rect(human["box"], (255, 255, 255), 2)
        for name, part in human.get("parts", {}).items():
            color = PART_COLORS.get(name, _OTHER_PART)
            proposals = _proposals(part)
            for box, _ in proposals[1:]:
                rect(box, color, 1)
            if proposals and proposals[0][0]:
                x1, y1 = rect(proposals[0][0], color, 2)
                text = f"{proposals[0][1]}" + (f" +{len(proposals) - 1}" if len(proposals) > 1 else "")
                left, top, right, bottom = draw.textbbox((x1, y1 - 11), text, font=font)
                draw.rectangle([left - 1, top - 1, right + 1, bottom + 1], fill=(0, 0, 0))
                draw.text((x1, y1 - 11), text, fill=color, font=font)
    return panel


def render(video: Video, images: Mapping[int, np.ndarray] | None, prediction: Mapping[str, Any] | None,
           indices: Sequence[int]) -> np.ndarray:
    """The picture ``(rows, cols, 3)`` uint8 RGB: one row per frame index, ground truth then prediction."""
    if images:
        height, width = next(iter(images.values())).shape[:2]
    else:
        corners = [h.box[2:] for f in video.frames for h in f.humans] or [(63, 63)]
        width, height = (max(64, int(math.ceil(max(c[k] for c in corners))) + 1) for k in (0, 1))
    scale = max(1, math.ceil(_MIN_HEIGHT / height))
    rows = []
    for index in indices:
        frame = video.frame(index)
        image = images[index] if images else np.full((height, width, 3), 96, np.uint8)
        gt = [human_result(h) for h in frame.humans] if frame else []
        panels = [draw_panel(image, gt, f"ground truth  {frame_json_name(index)}", scale)]
        if prediction is not None:
            predicted = prediction.get(frame_json_name(index), {}).get("humans", [])
            panels.append(draw_panel(image, predicted, f"prediction  {frame_json_name(index)}", scale))
        rows.append(np.hstack([np.asarray(p) for p in panels]))
    return np.vstack(rows)


def write_show(annotations_dir: str | Path, video_name: str, out: str | Path, *, frames_root: str | Path | None = None,
               videos_root: str | Path | None = None, pred_part: str | Path | None = None, count: int = 4) -> Path:
    """Draw ``video_name``'s parsing (module docstring) into the PNG ``out``."""
    action = find_video(annotations_dir, video_name)
    video = read_video(annotations_dir, action, video_name)
    indices = pick_frames(video, count)
    if not indices:
        raise ValueError(f"{annotations_dir}: video {video_name!r}: no annotated frame has humans")
    images = None
    if frames_root is not None:
        images = read_images(frames_folder(frames_root, action, video_name), indices)
    elif videos_root is not None:
        images = read_images(video_file(videos_root, action, video_name), indices)
    prediction = None
    if pred_part is not None:
        predictions = read_json(pred_part)
        if not isinstance(predictions, dict) or video_name not in predictions:
            raise ValueError(f"{pred_part}: no predictions for video {video_name!r}")
        prediction = predictions[video_name]
    Image.fromarray(render(video, images, prediction, indices)).save(out)
    return Path(out)
