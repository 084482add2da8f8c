"""NTU person frames with the sample's skeleton: frames, body masks and joint heatmaps per clip.

Frames are ``<frames_dir>/<sample>/<frame index>.jpg`` as ``python -m parsing frames`` writes them (crops
of the person box, any size; ``data.synthetic.frames`` writes the same layout). The skeleton
``<skeletons_dir>/<sample>.skeleton`` gives, per frame, the colour joints of the bodies the person box
covers (``pose_guidance.boxes``: denoised, ranked, one or two actors) and the box itself, so the joints
are moved into the crop's pixels (``pose_guidance.maps.to_crop_frame``); the person mask is their
``body_mask`` (limbs + hull), the heatmaps their ``joint_heatmaps`` on the feature grid. Frames beyond
the skeleton's last use its last frame, and frames without a body the nearest frame that has one.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from pose_guidance.boxes import actors_in_action, person_boxes, rank_bodies
from pose_guidance.layouts import NTU25
from pose_guidance.maps import body_mask, to_crop_frame
from pose_guidance.skeleton_colors import SkeletonColors, read_skeleton_colors
from rgb_branch.clips import ClipDataset

SHOWN_MISSING = 5
MASK_THICKNESS = 0.08  # limb width as a share of the crop's shorter side


class MissingFramesError(FileNotFoundError):
    """Some samples have no person frames or no skeleton file."""


def frame_files(sample_dir: Path) -> list[Path]:
    """The ``<index>.jpg`` files of one sample in frame order."""
    return sorted((p for p in sample_dir.glob("*.jpg") if p.stem.isdigit()), key=lambda p: int(p.stem))


def frame_keypoints(skeleton: SkeletonColors, max_actors: int) -> np.ndarray:
    """``(T, max_actors, 25, 2)`` colour joints of the bodies the person box covers; NaN where an actor is
    absent; frames with no body take the nearest frame that has one (as ``person_boxes``)."""
    points = np.full((skeleton.num_frames, max_actors, 25, 2), np.nan)
    taken = np.zeros(skeleton.num_frames, dtype=np.int64)
    for body in rank_bodies(skeleton.bodies):
        for frame, joints in zip(body.frames, body.color, strict=True):
            if taken[frame] < max_actors:
                points[frame, taken[frame]] = joints
                taken[frame] += 1
    with_body = np.flatnonzero(taken > 0)
    if len(with_body):
        nearest = with_body[np.abs(np.arange(skeleton.num_frames)[:, None] - with_body[None]).argmin(axis=1)]
        points = points[nearest]
    return points


def check_samples(names: Sequence[str], frames_dir: Path, skeletons_dir: Path) -> None:
    """One error naming how many and which samples lack frames or a skeleton, before any training."""
    if not frames_dir.is_dir():
        raise MissingFramesError(f"{frames_dir}: the person-frames folder does not exist")
    if not skeletons_dir.is_dir():
        raise MissingFramesError(f"{skeletons_dir}: the skeletons folder does not exist")
    frames_missing = [n for n in names if not any((frames_dir / n).glob("*.jpg"))]
    skeleton_missing = [n for n in names if not (skeletons_dir / f"{n}.skeleton").is_file()]
    for missing, what, where in ((frames_missing, "person frames", frames_dir),
                                 (skeleton_missing, "skeleton file", skeletons_dir)):
        if missing:
            shown = ", ".join(missing[:SHOWN_MISSING]) + (", ..." if len(missing) > SHOWN_MISSING else "")
            raise MissingFramesError(f"{len(missing)} of {len(names)} samples have no {what} in {where}: {shown}")


class NtuRgbDataset(ClipDataset):
    """Clips of NTU person frames; ``dataset[i]`` is ``(inputs, target)`` (see :class:`ClipDataset`)."""

    def __init__(self, names: Sequence[str], labels: Sequence[int] | np.ndarray, frames_dir: str | Path,
                 skeletons_dir: str | Path, **clip_options: object) -> None:
        super().__init__(**clip_options)  # type: ignore[arg-type]
        if len(names) != len(labels):
            raise ValueError(f"{len(names)} sample names but {len(labels)} labels")
        self.sample_names = list(names)
        self.labels = np.asarray(labels, dtype=np.int64)
        self.frames_dir, self.skeletons_dir = Path(frames_dir), Path(skeletons_dir)
        check_samples(self.sample_names, self.frames_dir, self.skeletons_dir)
        self._files: dict[int, list[Path]] = {}
        self._pose: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def _frame_files(self, index: int) -> list[Path]:
        if index not in self._files:
            self._files[index] = frame_files(self.frames_dir / self.sample_names[index])
        return self._files[index]

    def pose(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """The sample's person boxes ``(T, 4)`` and keypoints ``(T, A, 25, 2)`` in 1920x1080 pixels."""
        if index not in self._pose:
            name = self.sample_names[index]
            skeleton = read_skeleton_colors(self.skeletons_dir / f"{name}.skeleton")
            actors = actors_in_action(name)
            self._pose[index] = (person_boxes(skeleton, actors), frame_keypoints(skeleton, actors))
        return self._pose[index]

    def frame_count(self, index: int) -> int:
        return len(self._frame_files(index))

    def load_frame(self, index: int, frame: int) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        path = self._frame_files(index)[frame]
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f"{path}: cannot read the person frame")
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        boxes, keypoints = self.pose(index)
        step = min(frame, len(boxes) - 1)
        size = (image.shape[1], image.shape[0])
        points = to_crop_frame(keypoints[step], boxes[step], size)  # (A, 25, 2)
        thickness = max(1.0, MASK_THICKNESS * min(size))
        mask = np.zeros(image.shape[:2], dtype=bool)
        for actor in points:
            mask |= body_mask(actor, NTU25.limbs, size, thickness)
        return image, mask, points
