"""Persons, then their parts, on a video's scored frames: the boxes the part-state classifiers are given.

    python -m part_parsing detect --person-detector RUN --part-detector RUN --keypoints FILE --frames DIR \\
        [--annotations DIR] --out boxes.json

For each frame 1, 6, 11, ... (the scored ones): the person detector's boxes from score 0.3, at most 10 (the
baseline's ``demo_for_AVA/demo.py`` threshold; the paper's top 10 persons); each box's pose from the keypoints
file (:func:`~part_parsing.detection.samples.match_poses`); the crop of the box enlarged to its keypoints, with
the embedding drawn when the part detector was trained with it; the part detector's best box of each part
class, shifted back into the frame. Without sides (``data.merge_sides``), the two best boxes of a paired group
become its left and right part, the one further right in the image being the person's left (a person facing
the camera). The result is a boxes file in the evaluation files' tree, which ``python -m part_parsing predict
--boxes`` reads. A run folder gives ``config.yaml`` and ``checkpoints/last.pt``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from engine.checkpoint import load_model_weights
from engine.config import ConfigError, load_config
from part_parsing.clips import BoxedHuman
from part_parsing.detection.samples import (
    GROUP_CLASSES,
    collate_detections,
    cut_crop,
    detector_classes,
    match_poses,
    person_crop,
)
from part_parsing.detection.task import DetectorExperiment, build_model
from part_parsing.keypoints import PersonPose
from part_parsing.tps import BODY_PARTS, MAX_HUMANS, SCORED_FRAME_STEP, read_images

PERSON_SCORE = 0.3


@dataclass
class TrainedDetector:
    """A detector run: its config, model and class names."""

    cfg: DetectorExperiment
    model: torch.nn.Module
    classes: tuple[str, ...]

    @torch.no_grad()
    def detect(self, images: Sequence[np.ndarray], device: torch.device) -> list[dict[str, np.ndarray]]:
        """RGB uint8 images -> per image ``{"boxes" (K, 4), "scores" (K,), "labels" (K,) 1..C}``, best first."""
        if not images:
            return []
        inputs, _ = collate_detections([({"image": torch.from_numpy(np.ascontiguousarray(i)).permute(2, 0, 1)},
                                          {"boxes": torch.zeros((0, 4)), "labels": torch.zeros(0, dtype=torch.int64)})
                                         for i in images])
        inputs = {k: v.to(device) for k, v in inputs.items()}
        return [{k: v.float().cpu().numpy() if k != "labels" else v.cpu().numpy() for k, v in d.items()}
                for d in self.model(inputs)]


def load_detector(run: str | Path, target: str, device: torch.device) -> TrainedDetector:
    """The detector of a ``train_part_detector.py`` run folder, checked to be a ``target`` detector."""
    run = Path(run)
    cfg = load_config(DetectorExperiment, run / "config.yaml")
    if cfg.data.target != target:
        raise ConfigError(f"{run / 'config.yaml'}: a {cfg.data.target} detector, expected a {target} detector")
    model = build_model(cfg)
    load_model_weights(model, run / "checkpoints" / "last.pt")
    return TrainedDetector(cfg, model.eval().to(device), detector_classes(target, cfg.data.merge_sides))


def best_parts(found: Mapping[str, np.ndarray], classes: Sequence[str], origin: tuple[int, int]) -> dict[str, tuple]:
    """Each part's best box (frame pixels) from a part detector's output on a crop whose corner is ``origin``."""
    shift = np.array([*origin, *origin], dtype=np.float64)
    parts: dict[str, tuple] = {}
    for label, name in enumerate(classes, start=1):
        chosen = np.flatnonzero(found["labels"] == label)  # torchvision sorts by score
        boxes = [tuple(float(v) for v in found["boxes"][i] + shift) for i in chosen[:2]]
        if not boxes:
            continue
        if name not in GROUP_CLASSES or name in BODY_PARTS:  # a part, or a group of one part (head, hip)
            parts[name] = (boxes[0],)
            continue
        ordered = sorted(boxes, key=lambda b: b[0] + b[2], reverse=True)  # further right first: the left part
        for side, box in zip(("left", "right"), ordered, strict=False):
            parts[f"{side}_{name}"] = (box,)
    return parts


def detect_frames(images: Mapping[int, np.ndarray], poses: Mapping[int, Sequence[PersonPose]], person: TrainedDetector,
                  part: TrainedDetector, device: torch.device) -> dict[int, tuple[BoxedHuman, ...]]:
    """Frames ``{index: RGB}`` of one video -> ``{index: persons with their part boxes}``."""
    data = part.cfg.data
    indices = sorted(images)
    found_persons = person.detect([images[i] for i in indices], device)
    result: dict[int, tuple[BoxedHuman, ...]] = {}
    for index, found in zip(indices, found_persons, strict=True):
        keep = np.flatnonzero(found["scores"] >= PERSON_SCORE)[:MAX_HUMANS]
        boxes = [tuple(float(v) for v in found["boxes"][k]) for k in keep]
        image = images[index]
        height, width = image.shape[:2]
        matched = match_poses(boxes, poses.get(index, []), data.keypoint_threshold)
        crops, corners = [], []
        for box, pose in zip(boxes, matched, strict=True):
            corner = person_crop(box, pose, (width, height), data.keypoint_threshold)
            crops.append(cut_crop(image, corner, pose, box, embedding=data.pose_embedding, mode=data.embedding_mode,
                                  draw_box=data.embedding_box, threshold=data.keypoint_threshold))
            corners.append(corner[:2])
        found_parts = part.detect(crops, device)
        result[index] = tuple(BoxedHuman(box, best_parts(f, part.classes, corner))
                              for box, f, corner in zip(boxes, found_parts, corners, strict=True))
    return result


def detect_videos(videos: Sequence[tuple[str, Path]], poses: Mapping[str, Mapping[int, Sequence[PersonPose]]],
                  person: TrainedDetector, part: TrainedDetector, device: torch.device,
                  num_frames: Mapping[str, int]) -> dict[str, dict[int, tuple[BoxedHuman, ...]]]:
    """``(name, rawframes folder or video file)`` pairs -> ``{video: {scored frame: persons}}``."""
    out: dict[str, dict[int, tuple[BoxedHuman, ...]]] = {}
    for name, source in tqdm(videos, desc="detect", leave=False, dynamic_ncols=True):
        wanted = range(1, num_frames[name] + 1, SCORED_FRAME_STEP)
        out[name] = detect_frames(read_images(source, wanted), poses.get(name, {}), person, part, device)
    return out


def boxes_tree(detections: Mapping[str, Mapping[int, Sequence[BoxedHuman]]]) -> dict[str, Any]:
    """Detections as the boxes file ``python -m part_parsing predict --boxes`` reads."""
    return {video: {f"img_{index:05d}.json": {"humans": [
        {"box": list(h.box), "parts": {name: {"box": [list(b) for b in boxes]} for name, boxes in h.parts.items()}}
        for h in humans]} for index, humans in sorted(frames.items())} for video, frames in detections.items()}


def list_frame_folders(frames_root: str | Path) -> list[tuple[str, Path]]:
    """Every rawframes folder ``<root>/<class>/<video>/`` (or ``<root>/<video>/``) holding ``img_00001.jpg``."""
    root = Path(frames_root)
    folders = sorted({p.parent for pattern in ("*/*/img_00001.jpg", "*/img_00001.jpg") for p in root.glob(pattern)})
    if not folders:
        raise FileNotFoundError(2, "No rawframes folder <class>/<video>/img_00001.jpg under this folder", str(root))
    return [(folder.name, folder) for folder in folders]


def run_detect(person_run: str | Path, part_run: str | Path, keypoints: str | Path, frames: str | Path, *,
               annotations: str | Path | None = None, device: str = "auto") -> dict[str, Any]:
    """The ``detect`` command: the boxes tree (:func:`boxes_tree`) of every video of ``annotations`` (or of
    every rawframes folder under ``frames``)."""
    from part_parsing.clips import count_frames
    from part_parsing.keypoints import read_keypoints
    from part_parsing.tps import frames_folder, list_videos

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    where = torch.device(device)
    poses = read_keypoints(keypoints)
    if annotations is not None:
        videos = [(name, frames_folder(frames, action, name)) for action, name in list_videos(annotations)]
    else:
        videos = list_frame_folders(frames)
    counts = {name: count_frames(folder) for name, folder in videos}
    person, part = load_detector(person_run, "person", where), load_detector(part_run, "part", where)
    return boxes_tree(detect_videos(videos, poses, person, part, where, counts))
