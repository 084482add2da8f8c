"""Person boxes from the skeleton's colour joints, the box every pose-guided branch starts from.

The original chain (REFERENCE.md §10) ran a person detector; the ``.skeleton`` file already holds each
joint's pixel position in the 1920x1080 video, so the box comes from the joints instead:

* Which bodies. Kinect sometimes tracks furniture or a passer-by as an extra body, so the bodies are
  denoised as in the pose preprocessing (§3.2): bodies seen in 11 frames or fewer, then bodies whose
  x-spread exceeds 0.8 of their y-spread in 69.754 % of their frames or more, are dropped (unless
  that would drop all), and the rest are ranked by motion (summed variance of x, y, z). In each frame
  the box covers the highest-ranked bodies present there: one for single-person actions, two for
  the two-person actions A050-A060 and A106-A120 (the union box of both actors, as the detector
  chain did). A body whose ID changes mid-video is handled, because the choice is made per frame.
* Margin. Joints stop at the head centre, ankles and hand tips, so the joint box is grown by a
  share of its longer side: 14 % above (top of the head), 12 % below (feet), 6 % left and right.
  On the fixture sample this reproduces the detector crops (about 125x460) with a few pixels to spare.
* Frames without a usable body reuse the box of the nearest frame that has one (the earlier on a tie).

:func:`enlarge_box_to_keypoints` grows any box until it holds all its keypoints (the part-level
action parsing system's rule for person boxes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from pose_guidance.skeleton_colors import SkeletonBody, SkeletonColors

# The colour coordinates of the .skeleton files are pixels of the 1920x1080 Kinect RGB stream.
SKELETON_IMAGE_SIZE = (1920, 1080)
TWO_PERSON_ACTIONS = frozenset([*range(50, 61), *range(106, 121)])
_ACTION = re.compile(r"A(\d{3})")

# Denoising thresholds of the pose preprocessing (REFERENCE.md §3.2).
_MIN_BODY_FRAMES = 12
_NOISY_SPREAD_RATIO = 0.8
_MAX_NOISY_SHARE = 0.69754


@dataclass(frozen=True)
class BoxMargin:
    """Growth of the joint box on each side, as a share of the joint box's longer side."""

    top: float = 0.14
    bottom: float = 0.12
    side: float = 0.06


DEFAULT_MARGIN = BoxMargin()


def actors_in_action(sample_name: str) -> int:
    """2 for the NTU two-person actions, else 1; the action is read from the ``A<nnn>`` of the name."""
    match = _ACTION.search(sample_name)
    if match is None:
        raise ValueError(f"sample name {sample_name!r} has no NTU action number (A001..A120)")
    return 2 if int(match.group(1)) in TWO_PERSON_ACTIONS else 1


def _body_motion(body: SkeletonBody, frames: np.ndarray | None = None) -> float:
    xyz = body.xyz if frames is None else body.xyz[frames]
    return float(xyz.reshape(-1, 3).var(axis=0).sum())


def rank_bodies(bodies: list[SkeletonBody]) -> list[SkeletonBody]:
    """Drop short and spread-out (noise) bodies if others remain; rank the rest by motion, largest first."""
    if len(bodies) <= 1:
        return list(bodies)
    kept = [b for b in bodies if len(b.frames) >= _MIN_BODY_FRAMES] or list(bodies)
    motions = {}
    for body in kept:
        x, y = body.xyz[:, :, 0], body.xyz[:, :, 1]
        valid = np.ptp(x, axis=1) <= _NOISY_SPREAD_RATIO * np.ptp(y, axis=1)
        noisy_share = 1.0 - valid.mean()
        motion = _body_motion(body)
        if 0 < noisy_share < _MAX_NOISY_SHARE:
            motion = min(motion, _body_motion(body, valid))
        motions[body.body_id] = (noisy_share, motion)
    clean = [b for b in kept if motions[b.body_id][0] < _MAX_NOISY_SHARE] or kept
    return sorted(clean, key=lambda b: motions[b.body_id][1], reverse=True)


def person_boxes(
    skeleton: SkeletonColors,
    max_actors: int,
    image_size: tuple[int, int] = SKELETON_IMAGE_SIZE,
    margin: BoxMargin = BoxMargin(),
) -> np.ndarray:
    """Person box of every skeleton frame: ``(num_frames, 4)`` int64 ``x0, y0, x1, y1`` (x1, y1 exclusive).

    ``image_size`` is the (width, height) of the video the boxes are for; the colour joints are scaled
    from 1920x1080 to it. Raises ``ValueError`` naming the file when no frame has a usable body.
    """
    width, height = image_size
    scale = np.array([width / SKELETON_IMAGE_SIZE[0], height / SKELETON_IMAGE_SIZE[1]], dtype=np.float64)
    per_frame: list[list[np.ndarray]] = [[] for _ in range(skeleton.num_frames)]
    taken = np.zeros(skeleton.num_frames, dtype=np.int64)
    for body in rank_bodies(skeleton.bodies):
        for frame, joints in zip(body.frames, body.color, strict=True):
            if taken[frame] < max_actors:
                per_frame[frame].append(joints)
                taken[frame] += 1

    boxes = np.zeros((skeleton.num_frames, 4), dtype=np.int64)
    has_box = np.zeros(skeleton.num_frames, dtype=bool)
    for frame, joint_sets in enumerate(per_frame):
        if not joint_sets:
            continue
        points = np.concatenate(joint_sets).astype(np.float64) * scale
        points = points[np.isfinite(points).all(axis=1)]
        if len(points) == 0:
            continue
        (x0, y0), (x1, y1) = points.min(axis=0), points.max(axis=0)
        size = max(x1 - x0, y1 - y0)
        box = np.array(
            [
                np.floor(x0 - margin.side * size),
                np.floor(y0 - margin.top * size),
                np.ceil(x1 + margin.side * size) + 1,
                np.ceil(y1 + margin.bottom * size) + 1,
            ]
        )
        box = np.clip(box, 0, [width, height, width, height]).astype(np.int64)
        if box[2] - box[0] >= 2 and box[3] - box[1] >= 2:  # joints entirely off-image give no box
            boxes[frame], has_box[frame] = box, True

    if not has_box.any():
        raise ValueError(f"{skeleton.path}: no frame has a body inside the {width}x{height} image")
    with_box = np.flatnonzero(has_box)
    frames = np.arange(skeleton.num_frames)
    after = np.clip(np.searchsorted(with_box, frames), 0, len(with_box) - 1)
    before = np.clip(after - 1, 0, len(with_box) - 1)
    take_before = np.abs(with_box[before] - frames) <= np.abs(with_box[after] - frames)
    nearest = np.where(take_before, with_box[before], with_box[after])
    return boxes[nearest]


def enlarge_box_to_keypoints(box: np.ndarray, keypoints: np.ndarray, image_size: tuple[int, int] | None = None,
                             visible: np.ndarray | None = None) -> np.ndarray:
    """The smallest box holding ``box`` and every visible keypoint: ``(4,)`` ``x0, y0, x1, y1`` float64.

    ``keypoints`` ``(J, 2)`` pixels; ``visible`` ``(J,)`` bool (default: every finite keypoint). With
    ``image_size`` (width, height) the result is clipped to the image. Chen et al. (part-level action
    parsing) enlarge each detected person box this way so that no body part is cut off.
    """
    box = np.asarray(box, dtype=np.float64)
    points = np.asarray(keypoints, dtype=np.float64).reshape(-1, 2)
    keep = np.isfinite(points).all(axis=1)
    if visible is not None:
        keep &= np.asarray(visible, dtype=bool).reshape(-1)
    points = points[keep]
    out = box.copy()
    if len(points):
        out[:2] = np.minimum(box[:2], points.min(axis=0))
        out[2:] = np.maximum(box[2:], points.max(axis=0))
    if image_size is not None:
        width, height = image_size
        out = np.clip(out, 0, [width, height, width, height])
    return out
