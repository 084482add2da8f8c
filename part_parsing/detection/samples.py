"""What a detector sees and learns: frames with person boxes, or person crops with part boxes and keypoints.

A person detector's sample is a whole frame and its persons' boxes (one class). A part detector's sample is
one annotated person of a frame: the person box enlarged until it holds every keypoint of the person's pose
(score above the threshold, :func:`pose_guidance.boxes.enlarge_box_to_keypoints`), cut at integer corners
(``img[y1:y2, x1:x2]``, as ``demo_for_AVA/demo.py`` cuts its crops), its part boxes in the crop's frame and
its keypoints drawn on it when the embedding is on (:func:`pose_guidance.embedding.pose_embedding`, with the
person box as the official drawing has it). Poses come from the user's keypoints file and are matched to the
persons by :func:`match_poses`. Frames are taken every ``frame_step`` frames from the first (the scored
frames 1, 6, 11, ... for 5).

Items: ``({"image": uint8 (3, H, W)}, {"boxes": float32 (G, 4), "labels": int64 (G,)})`` with labels 1..C (0 is
torchvision's background); :func:`collate_detections` pads a batch and gives the model the targets too.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from part_parsing.keypoints import PersonPose
from part_parsing.tps import BODY_PARTS, Box, Video, part_group, read_images
from pose_guidance.boxes import enlarge_box_to_keypoints
from pose_guidance.embedding import pose_embedding

PERSON_CLASSES = ("person",)
PART_CLASSES = tuple(sorted(BODY_PARTS))  # the official config's order: alphabetical
GROUP_CLASSES = tuple(sorted({part_group(p) for p in BODY_PARTS}))  # without sides (yolof_part_woR): 6


def detector_classes(target: str, merge_sides: bool) -> tuple[str, ...]:
    """The class names of a person or part detector (label ``k`` is ``classes[k - 1]``)."""
    if target == "person":
        return PERSON_CLASSES
    return GROUP_CLASSES if merge_sides else PART_CLASSES


@dataclass(frozen=True)
class DetectionSample:
    """One image to detect on: frame ``index`` of ``source``, cut to ``crop`` (x1, y1, x2, y2 ints; None: all)."""

    name: str
    source: Path
    index: int
    crop: tuple[int, int, int, int] | None
    boxes: tuple[Box, ...]  # in the frame's pixels
    labels: tuple[int, ...]
    pose: PersonPose | None = None
    person_box: Box | None = None


def keypoint_box_overlap(box: Sequence[float], pose: PersonPose, threshold: float) -> float:
    """The share of the pose's confident keypoints (score > ``threshold``) that lie inside ``box``."""
    confident = pose.scores > threshold
    if not confident.any():
        return 0.0
    x, y = pose.keypoints[confident, 0], pose.keypoints[confident, 1]
    inside = (x >= box[0]) & (x <= box[2]) & (y >= box[1]) & (y <= box[3])
    return float(inside.mean())


def match_poses(boxes: Sequence[Sequence[float]], poses: Sequence[PersonPose], threshold: float = 0.3,
                min_overlap: float = 0.5) -> list[PersonPose | None]:
    """Each box's pose: greedily the pairs with the most confident keypoints inside the box first (at least
    ``min_overlap`` of them); a box without one gets None, and a pose serves one box."""
    pairs = sorted(((keypoint_box_overlap(b, p, threshold), -i, -j) for i, b in enumerate(boxes)
                    for j, p in enumerate(poses)), reverse=True)
    matched: list[PersonPose | None] = [None] * len(boxes)
    used: set[int] = set()
    for overlap, i, j in pairs:
        if overlap < min_overlap:
            break
        if matched[-i] is None and -j not in used:
            matched[-i] = poses[-j]
            used.add(-j)
    return matched


def person_crop(box: Sequence[float], pose: PersonPose | None, image_size: tuple[int, int],
                threshold: float = 0.3) -> tuple[int, int, int, int]:
    """The crop of a person: its box enlarged to its confident keypoints, clipped, at integer corners."""
    if pose is not None:
        box = enlarge_box_to_keypoints(np.asarray(box, dtype=np.float64), pose.keypoints, image_size,
                                       visible=pose.scores > threshold)
    width, height = image_size
    x1, y1, x2, y2 = (int(v) for v in np.clip(np.asarray(box, dtype=np.float64), 0, [width, height] * 2))
    return x1, y1, max(x2, x1 + 1), max(y2, y1 + 1)


def part_label(name: str, merge_sides: bool) -> int:
    """A body part's label (1-based) among the part detector's classes."""
    classes = detector_classes("part", merge_sides)
    return classes.index(part_group(name) if merge_sides else name) + 1


def person_samples(videos: Sequence[Video], frames_dirs: Sequence[Path], frame_step: int) -> list[DetectionSample]:
    """Every ``frame_step``-th annotated frame with persons, its person boxes labelled 1."""
    samples = []
    for video, folder in zip(videos, frames_dirs, strict=True):
        for frame in video.frames:
            if (frame.index - 1) % frame_step or not frame.humans:
                continue
            samples.append(DetectionSample(f"{video.name}/img_{frame.index:05d}", folder, frame.index, None,
                                           tuple(h.box for h in frame.humans), (1,) * len(frame.humans)))
    return samples


def part_samples(videos: Sequence[Video], frames_dirs: Sequence[Path],
                 poses: Mapping[str, Mapping[int, Sequence[PersonPose]]],
                 image_sizes: Sequence[tuple[int, int]], *, frame_step: int, merge_sides: bool,
                 threshold: float = 0.3) -> list[DetectionSample]:
    """Every annotated person with parts of every ``frame_step``-th frame, as a crop with its part boxes."""
    samples = []
    for video, folder, size in zip(videos, frames_dirs, image_sizes, strict=True):
        video_poses = poses.get(video.name, {})
        for frame in video.frames:
            if (frame.index - 1) % frame_step or not frame.humans:
                continue
            matched = match_poses([h.box for h in frame.humans], video_poses.get(frame.index, []), threshold)
            for h, (human, pose) in enumerate(zip(frame.humans, matched, strict=True)):
                if not human.parts:
                    continue
                crop = person_crop(human.box, pose, size, threshold)
                parts = list(human.parts.values())
                samples.append(DetectionSample(
                    f"{video.name}/img_{frame.index:05d}/{h}", folder, frame.index, crop,
                    tuple(p.box for p in parts), tuple(part_label(p.name, merge_sides) for p in parts),
                    pose, human.box))
    return samples


def shift_boxes(boxes: np.ndarray, crop: tuple[int, int, int, int] | None) -> np.ndarray:
    """Frame boxes ``(G, 4)`` in the crop's pixels, clipped to it."""
    if crop is None:
        return boxes
    x1, y1, x2, y2 = crop
    shifted = boxes - np.array([x1, y1, x1, y1], dtype=boxes.dtype)
    return np.clip(shifted, 0, [x2 - x1, y2 - y1] * 2)


def cut_crop(image: np.ndarray, crop: tuple[int, int, int, int], pose: PersonPose | None,
             person_box: Sequence[float] | None, *, embedding: bool, mode: str = "paint", draw_box: bool = True,
             threshold: float = 0.3) -> np.ndarray:
    """``image[y1:y2, x1:x2]``, with the person's keypoints (and box) drawn on it when ``embedding`` is on."""
    x1, y1, x2, y2 = crop
    cut = np.ascontiguousarray(image[y1:y2, x1:x2])
    if not embedding or pose is None:
        return cut
    origin = np.array([x1, y1], dtype=np.float64)
    boxes = [np.asarray(person_box, dtype=np.float64) - np.tile(origin, 2)] if draw_box and person_box else []
    return pose_embedding(cut, [pose.keypoints - origin], [pose.scores], boxes=boxes, score_threshold=threshold,
                          mode=mode)


def sample_image(sample: DetectionSample, *, embedding: bool, mode: str = "paint", draw_box: bool = True,
                 threshold: float = 0.3) -> np.ndarray:
    """The RGB uint8 image a sample shows the detector: the frame or the crop, keypoints drawn when asked."""
    image = read_images(sample.source, [sample.index])[sample.index]
    if sample.crop is None:
        return image
    return cut_crop(image, sample.crop, sample.pose, sample.person_box, embedding=embedding, mode=mode,
                    draw_box=draw_box, threshold=threshold)


class DetectionImages(Dataset):
    """:class:`DetectionSample` s as detector items (module docstring); flipped at random in training."""

    def __init__(self, samples: Sequence[DetectionSample], *, embedding: bool, train: bool, flip_ratio: float = 0.0,
                 mode: str = "paint", draw_box: bool = True, threshold: float = 0.3) -> None:
        self.samples = list(samples)
        self.sample_names = [s.name for s in self.samples]
        self.embedding, self.train, self.flip_ratio = embedding, train, flip_ratio
        self.mode, self.draw_box, self.threshold = mode, draw_box, threshold

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        sample = self.samples[index]
        image = sample_image(sample, embedding=self.embedding, mode=self.mode, draw_box=self.draw_box,
                             threshold=self.threshold)
        boxes = shift_boxes(np.asarray(sample.boxes, dtype=np.float32).reshape(-1, 4), sample.crop)
        if self.train and self.flip_ratio > 0 and random.random() < self.flip_ratio:
            # the official RandomFlip mirrors the image and its boxes and keeps the labels
            width = image.shape[1]
            image = np.ascontiguousarray(image[:, ::-1])
            boxes = np.stack([width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0], boxes[:, 3]], axis=1)
        keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        return ({"image": torch.from_numpy(image).permute(2, 0, 1).contiguous()},
                {"boxes": torch.from_numpy(np.ascontiguousarray(boxes[keep])),
                 "labels": torch.tensor(sample.labels, dtype=torch.int64)[torch.from_numpy(keep)]})


def collate_detections(items: list[tuple[dict, dict]]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Pad images to the batch's largest (``size`` keeps each one's height, width) and boxes to the most
    boxes (label -1 marks padding); the model gets the targets too, as torchvision's detectors train on them."""
    images = [inputs["image"] for inputs, _ in items]
    height, width = max(i.shape[1] for i in images), max(i.shape[2] for i in images)
    batch = torch.zeros((len(images), 3, height, width), dtype=torch.uint8)
    for n, image in enumerate(images):
        batch[n, :, :image.shape[1], :image.shape[2]] = image
    most = max(1, max(len(t["labels"]) for _, t in items))
    boxes = torch.zeros((len(items), most, 4))
    labels = torch.full((len(items), most), -1, dtype=torch.int64)
    for n, (_, target) in enumerate(items):
        boxes[n, :len(target["labels"])] = target["boxes"]
        labels[n, :len(target["labels"])] = target["labels"]
    sizes = torch.tensor([[i.shape[1], i.shape[2]] for i in images], dtype=torch.int64)
    target = {"boxes": boxes, "labels": labels}
    return {"image": batch, "size": sizes, **target}, target
