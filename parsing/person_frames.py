"""Person frames: crop every RGB video frame to the person box given by the skeleton's colour joints.

The original chain (REFERENCE.md §10) ran a person detector; the ``.skeleton`` file already holds each
joint's pixel position in the 1920x1080 video, so the box comes from the joints instead
(:func:`pose_guidance.boxes.person_boxes`, whose docstring gives the rules: which bodies, the margin,
frames without a body).

Frames are written as ``<out>/<sample>/<frame index>.jpg`` (0-based), the layout the parser reads.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import cv2
from tqdm import tqdm

from parsing.batch import BatchSummary, Shard, fresh_partial_dir, record_failure
from pose_guidance.boxes import DEFAULT_MARGIN, BoxMargin, actors_in_action, person_boxes
from pose_guidance.skeleton_colors import read_skeleton_colors


def write_person_frames(
    video_path: str | Path,
    skeleton_path: str | Path,
    sample_dir: str | Path,
    margin: BoxMargin = DEFAULT_MARGIN,
) -> int:
    """Crop every frame of ``video_path`` and write ``sample_dir/<frame>.jpg``; returns the frame count.

    The folder appears only when complete (written as a hidden sibling, then renamed). Video frames
    beyond the skeleton's last frame reuse its last box, since the nearest skeleton frame is the last.
    """
    video_path, sample_dir = Path(video_path), Path(sample_dir)
    skeleton = read_skeleton_colors(skeleton_path)
    max_actors = actors_in_action(sample_dir.name)
    capture = cv2.VideoCapture(str(video_path))
    if not capture.isOpened():
        raise ValueError(f"{video_path}: OpenCV cannot open the video")
    partial = fresh_partial_dir(sample_dir)
    try:
        boxes = None
        index = 0
        while True:
            ok, image = capture.read()
            if not ok:
                break
            if boxes is None:
                boxes = person_boxes(skeleton, max_actors, (image.shape[1], image.shape[0]), margin)
            x0, y0, x1, y1 = boxes[min(index, len(boxes) - 1)]
            target = partial / f"{index}.jpg"
            if not cv2.imwrite(str(target), image[y0:y1, x0:x1]):
                raise OSError(f"{target}: OpenCV could not write the person frame")
            index += 1
        if index == 0:
            raise ValueError(f"{video_path}: no frame could be decoded")
        os.replace(partial, sample_dir)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    finally:
        capture.release()
    return index


def extract_person_frames(
    videos_dir: str | Path,
    skeletons_dir: str | Path,
    out_dir: str | Path,
    shard: Shard | None = None,
    margin: BoxMargin = DEFAULT_MARGIN,
    show_progress: bool = True,
) -> BatchSummary:
    """Person frames for every ``<name>_rgb.avi`` of ``videos_dir``, with ``skeletons_dir/<name>.skeleton``.

    ``shard`` (default: all samples) picks this process's share. Resumable: samples whose
    ``out_dir/<name>`` folder exists are skipped. A failing sample is logged in
    ``out_dir/failures.txt`` and the batch goes on.
    """
    videos_dir, skeletons_dir, out_dir = Path(videos_dir), Path(skeletons_dir), Path(out_dir)
    if not videos_dir.is_dir():
        raise FileNotFoundError(f"{videos_dir}: the videos folder does not exist")
    videos = {p.name[: -len("_rgb.avi")]: p for p in videos_dir.glob("*_rgb.avi")}
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = BatchSummary()
    names = (shard or Shard()).select(list(videos))
    for name in tqdm(names, desc="person frames", unit="video", disable=not show_progress):
        if (out_dir / name).is_dir():
            summary.skipped.append(name)
            continue
        try:
            skeleton_path = skeletons_dir / f"{name}.skeleton"
            if not skeleton_path.is_file():
                raise FileNotFoundError(f"{skeleton_path}: no skeleton file for video {videos[name]}")
            write_person_frames(videos[name], skeleton_path, out_dir / name, margin)
        except Exception as err:  # one bad sample must not stop a batch of thousands
            record_failure(out_dir, name, err)
            summary.failed.append(name)
        else:
            summary.done.append(name)
    return summary
