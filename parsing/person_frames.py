"""Person frames: crop every RGB video frame to the person box given by the skeleton's colour joints.

The original chain (REFERENCE.md §10) ran a person detector; the ``.skeleton`` file already holds each
joint's pixel position in the 1920x1080 video, so the box comes from the joints instead
(:func:`pose_guidance.boxes.person_boxes`, whose docstring gives the rules: which bodies, the margin,
frames without a body).

Frames are written as ``<out>/<sample>/<frame index>.jpg`` (0-based), the layout the parser reads;
``parse --videos`` takes the same crops in memory (:func:`decode_person_crops`). A video that decodes
fewer frames than its skeleton has is truncated: the sample fails, with nothing written.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from parsing.batch import BatchSummary, Shard, fresh_partial_dir, record_failure
from pose_guidance.boxes import DEFAULT_MARGIN, BoxMargin, actors_in_action, person_boxes
from pose_guidance.skeleton_colors import read_skeleton_colors

VIDEO_SUFFIX = "_rgb.avi"


def list_videos(videos_dir: Path) -> dict[str, Path]:
    """``{sample name: path}`` of the ``<name>_rgb.avi`` videos in ``videos_dir``."""
    if not videos_dir.is_dir():
        raise FileNotFoundError(f"{videos_dir}: the videos folder does not exist")
    return {p.name[: -len(VIDEO_SUFFIX)]: p for p in videos_dir.glob(f"*{VIDEO_SUFFIX}")}


def skeleton_of(skeletons_dir: Path, name: str, video_path: Path) -> Path:
    """The skeleton file of sample ``name``; a missing one is an error naming the video."""
    skeleton_path = skeletons_dir / f"{name}.skeleton"
    if not skeleton_path.is_file():
        raise FileNotFoundError(f"{skeleton_path}: no skeleton file for video {video_path}")
    return skeleton_path


def person_crops(
    video_path: str | Path,
    skeleton_path: str | Path,
    sample_name: str,
    margin: BoxMargin = DEFAULT_MARGIN,
) -> Iterator[np.ndarray]:
    """Every frame of ``video_path`` cropped to the person box: ``(h, w, 3)`` uint8 BGR, in frame order.

    Video frames beyond the skeleton's last reuse its last box, since the nearest skeleton frame is
    the last. A truncated video (fewer frames decode than the skeleton has) raises ``ValueError``
    after its last frame, so that no output of it is kept.
    """
    video_path = Path(video_path)
    skeleton = read_skeleton_colors(skeleton_path)
    max_actors = actors_in_action(sample_name)
    capture = cv2.VideoCapture(str(video_path))
    if not capture.isOpened():
        raise ValueError(f"{video_path}: OpenCV cannot open the video")
    index = 0
    try:
        boxes = None
        while True:
            ok, image = capture.read()
            if not ok:
                break
            if boxes is None:
                boxes = person_boxes(skeleton, max_actors, (image.shape[1], image.shape[0]), margin)
            x0, y0, x1, y1 = boxes[min(index, len(boxes) - 1)]
            yield image[y0:y1, x0:x1]
            index += 1
    finally:
        capture.release()
    if index == 0:
        raise ValueError(f"{video_path}: no frame could be decoded")
    if index < skeleton.num_frames:
        raise ValueError(f"{video_path}: truncated video: {index} frames decode, but its skeleton "
                         f"{Path(skeleton_path).name} has {skeleton.num_frames}")


def write_frames(crops: Iterable[np.ndarray], sample_dir: Path) -> int:
    """Write ``sample_dir/<frame>.jpg`` for each crop; returns the frame count.

    The folder appears only when complete (written as a hidden sibling, then renamed).
    """
    partial = fresh_partial_dir(sample_dir)
    try:
        index = -1
        for index, crop in enumerate(crops):
            target = partial / f"{index}.jpg"
            if not cv2.imwrite(str(target), crop):
                raise OSError(f"{target}: OpenCV could not write the person frame")
        os.replace(partial, sample_dir)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return index + 1


def write_person_frames(
    video_path: str | Path,
    skeleton_path: str | Path,
    sample_dir: str | Path,
    margin: BoxMargin = DEFAULT_MARGIN,
) -> int:
    """Crop every frame of ``video_path`` (:func:`person_crops`) and write ``sample_dir/<frame>.jpg``;
    returns the frame count. The folder appears only when complete."""
    sample_dir = Path(sample_dir)
    return write_frames(person_crops(video_path, skeleton_path, sample_dir.name, margin), sample_dir)


def decode_person_crops(
    video_path: Path, skeletons_dir: Path, sample_name: str, keep_dir: Path | None, margin: BoxMargin
) -> list[np.ndarray]:
    """All person crops of one video in memory (``parse --videos``' decoding workers run this); with
    ``keep_dir``, also written as ``keep_dir/<sample>/<frame>.jpg`` unless that folder exists."""
    skeleton_path = skeleton_of(skeletons_dir, sample_name, video_path)
    # Copies: a crop is a view of its whole decoded frame, which would stay allocated with it.
    crops = [np.ascontiguousarray(crop) for crop in person_crops(video_path, skeleton_path, sample_name, margin)]
    if keep_dir is not None and not (keep_dir / sample_name).is_dir():
        keep_dir.mkdir(parents=True, exist_ok=True)
        write_frames(crops, keep_dir / sample_name)
    return crops


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
    videos = list_videos(videos_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = BatchSummary()
    names = (shard or Shard()).select(list(videos))
    for name in tqdm(names, desc="person frames", unit="video", disable=not show_progress):
        if (out_dir / name).is_dir():
            summary.skipped.append(name)
            continue
        try:
            write_person_frames(videos[name], skeleton_of(skeletons_dir, name, videos[name]), out_dir / name, margin)
        except Exception as err:  # one bad sample must not stop a batch of thousands
            record_failure(out_dir, name, err)
            summary.failed.append(name)
        else:
            summary.done.append(name)
    return summary
