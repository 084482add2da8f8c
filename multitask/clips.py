"""NTU clips for the multitask network: frame sampling, the person crop, and the pose targets, as pure
functions of one ``.skeleton`` file (read by :func:`pose_guidance.skeleton_colors.read_skeleton_colors`).

Facts from ``dluvizon/deephar`` (``deephar/data/ntu.py``, ``deephar/utils/bbox.py``,
``deephar/data/datasets.py``):

- joints: the 20 of ``pa20j`` (:data:`multitask.model.PA20J_FROM_NTU`); a joint is visible when all its
  coordinates are positive (``get_pose_annot``);
- the crop: the box of the visible joints, 1.5 times larger and made square (``get_valid_bbox``), here
  over the union of the first, middle and last frames of the clip, times the augmentation scale;
- depth: ``z' = (z - (root_z - 1000 s)) / (2000 s)`` in millimetres, ``root_z`` the clip's mean root
  (spine base) depth, ``s`` the scale (``zrange`` in ``Ntu.get_data``);
- clips: T frames every ``subsample`` frames; the subsampling shrinks when the body is too short
  (``get_clip_frame_index``); training picks a random start, testing the centred clip.

The image-to-camera mapping for millimetre errors is not in the ``.skeleton`` file: :func:`fit_camera`
fits ``u = a_x · x / z + b_x`` and ``v = a_y · y / z + b_y`` to the clip's own Kinect joints (least squares),
so root-relative MPJPE needs no calibration file. Shapes: T frames, J = 20 joints.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from multitask.model import PA20J_FLIP, PA20J_FROM_NTU
from pose_guidance.maps import from_crop_frame, to_crop_frame
from pose_guidance.skeleton_colors import SkeletonBody, SkeletonColors

NTU_IMAGE_SIZE = (1920, 1080)  # (width, height) of the RGB videos and the colour coordinates
BOX_RELSIZE = 1.5
ROOT = 0  # pa20j index of the spine base


@dataclass(frozen=True)
class ClipTargets:
    """One clip's crop and targets (all float32 except ``frames``)."""

    frames: np.ndarray  # (T,) int64 video frame indices
    box: np.ndarray  # (4,) x0, y0, x1, y1 in video pixels (square)
    pose: np.ndarray  # (T, J, 3) x, y in crop units [0, 1], z normalised; 0 where not valid
    valid: np.ndarray  # (T, J) 1 where the joint is visible and inside the crop
    xyz_mm: np.ndarray  # (T, J, 3) Kinect camera coordinates in millimetres (unflipped)
    root_z: float  # mm
    scale: float
    camera: np.ndarray  # (4,) a_x, b_x, a_y, b_y of fit_camera
    flipped: bool


def main_body(skeleton: SkeletonColors) -> SkeletonBody | None:
    """The body tracked for the most frames (the first on ties); None for a file without bodies."""
    if not skeleton.bodies:
        return None
    return max(skeleton.bodies, key=lambda body: len(body.frames))


def clip_positions(length: int, clip_len: int, subsample: int, rng: np.random.Generator | None) -> np.ndarray:
    """``(clip_len,)`` positions in ``range(length)``: every ``subsample``-th from a random (``rng``) or the
    centred start; the step shrinks to fit and a body shorter than the clip repeats its frames."""
    if length <= 0:
        raise ValueError("a clip needs at least one frame")
    step = max(1, min(subsample, length // clip_len))
    span = step * (clip_len - 1) + 1
    if span > length:
        return np.minimum(np.arange(clip_len) * length // clip_len, length - 1).astype(np.int64)
    room = length - span
    start = int(rng.integers(0, room + 1)) if rng is not None else room // 2
    return start + step * np.arange(clip_len, dtype=np.int64)


def visible_joints(color: np.ndarray, image_size: tuple[int, int] = NTU_IMAGE_SIZE) -> np.ndarray:
    """``(..., J, 2)`` pixels -> ``(..., J)`` bool: finite, positive and inside the image."""
    finite = np.isfinite(color).all(-1)
    inside = (color > 0).all(-1) & (color[..., 0] < image_size[0]) & (color[..., 1] < image_size[1])
    return finite & inside


def clip_box(color: np.ndarray, visible: np.ndarray, scale: float = 1.0,
             image_size: tuple[int, int] = NTU_IMAGE_SIZE) -> np.ndarray:
    """The square crop ``(4,)`` of a clip ``(T, J, 2)``: the visible joints of the first, middle and last
    frames (all frames if those have none), ×1.5, square, × ``scale``; the centred frame box without joints."""
    keys = [0, len(color) // 2, len(color) - 1]
    points = color[keys][visible[keys]]
    if len(points) == 0:
        points = color[visible]
    if len(points) == 0:
        cx, cy, half = image_size[0] / 2, image_size[1] / 2, max(image_size) / 2
    else:
        (x0, y0), (x1, y1) = points.min(0), points.max(0)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        half = max(BOX_RELSIZE * max(x1 - x0, y1 - y0) / 2, 16.0)
    half *= scale
    return np.array([cx - half, cy - half, cx + half, cy + half], dtype=np.float64)


def normalise_depth(z_mm: np.ndarray, root_z: float, scale: float) -> np.ndarray:
    """``(z - (root_z - 1000 s)) / (2000 s)``: the root at 0.5, ±1 m·s spanning [0, 1]."""
    return (z_mm - (root_z - 1000.0 * scale)) / (2000.0 * scale)


def fit_camera(color: np.ndarray, xyz: np.ndarray, visible: np.ndarray) -> np.ndarray:
    """``(4,)`` ``a_x, b_x, a_y, b_y`` with ``u ≈ a_x x/z + b_x``, ``v ≈ a_y y/z + b_y`` over the visible joints
    (``color`` ``(..., 2)`` pixels, ``xyz`` ``(..., 3)`` any unit); NaN when fewer than 2 joints."""
    ok = visible & (xyz[..., 2] > 0)
    if ok.sum() < 2:
        return np.full(4, np.nan)
    ratio = xyz[ok][:, :2] / xyz[ok][:, 2:3]
    out = []
    for axis in range(2):
        design = np.stack([ratio[:, axis], np.ones(len(ratio))], 1)
        (a, b), *_ = np.linalg.lstsq(design, color[ok][:, axis], rcond=None)
        out += [a, b]
    return np.array(out, dtype=np.float64)


def ntu_clip(body: SkeletonBody, clip_len: int, subsample: int, *, rng: np.random.Generator | None = None,
             scale: float = 1.0, flip: bool = False) -> ClipTargets:
    """The clip, crop and targets of one body (``rng`` None: the centred test clip)."""
    return clip_at(body, clip_positions(len(body.frames), clip_len, subsample, rng), scale=scale, flip=flip)


def clip_at(body: SkeletonBody, positions: np.ndarray, *, scale: float = 1.0, flip: bool = False) -> ClipTargets:
    """The crop and targets of the body's frames at ``positions`` ``(T,)`` (indices into ``body.frames``)."""
    color = body.color[positions][:, PA20J_FROM_NTU].astype(np.float64)  # (T, J, 2)
    xyz_mm = body.xyz[positions][:, PA20J_FROM_NTU].astype(np.float64) * 1000.0
    visible = visible_joints(color) & (xyz_mm[..., 2] > 0)
    box = clip_box(color, visible, scale)
    roots = xyz_mm[visible[:, ROOT], ROOT, 2]
    root_z = float(roots.mean()) if roots.size else float(xyz_mm[visible][:, 2].mean()) if visible.any() else 0.0
    xy = to_crop_frame(color, box, (1, 1))
    z = normalise_depth(xyz_mm[..., 2], root_z, scale)
    pose = np.concatenate([xy, z[..., None]], -1)
    if flip:
        pose[..., 0] = 1.0 - pose[..., 0]
        pose, visible = pose[:, PA20J_FLIP], visible[:, PA20J_FLIP]
    valid = visible & (pose[..., :2] >= 0).all(-1) & (pose[..., :2] <= 1).all(-1)
    pose = np.where(valid[..., None], pose, 0.0)
    return ClipTargets(frames=body.frames[positions], box=box, pose=pose.astype(np.float32),
                       valid=valid.astype(np.float32), xyz_mm=xyz_mm.astype(np.float32), root_z=root_z,
                       scale=float(scale), camera=fit_camera(color, xyz_mm, visible), flipped=flip)


def crop_frame(image: np.ndarray, box: np.ndarray, size: int, flip: bool = False) -> np.ndarray:
    """``(H, W, 3)`` -> the box resized to ``(size, size, 3)`` (outside the image: black), flipped if asked."""
    x0, y0, x1, y1 = (float(v) for v in box)
    sx, sy = size / (x1 - x0), size / (y1 - y0)
    # Continuous positions (pixel centres at +0.5) map as to_crop_frame does.
    matrix = np.array([[sx, 0, (0.5 - x0) * sx - 0.5], [0, sy, (0.5 - y0) * sy - 0.5]])
    crop = cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    return crop[:, ::-1].copy() if flip else crop


def crop_person_frame(image: np.ndarray, person_box: np.ndarray, box: np.ndarray, size: int,
                      flip: bool = False) -> np.ndarray:
    """A person frame ``(h, w, 3)`` -> the crop :func:`crop_frame` cuts from the whole video frame.

    The person frame is the video's ``person_box`` (``x0, y0, x1, y1`` pixels, x1 and y1 exclusive, as
    :func:`pose_guidance.boxes.person_boxes` gives it and ``python -m parsing frames`` cuts it) resized to
    ``w × h`` (``python -m data.synthetic.frames`` resizes, ``parsing frames`` keeps the size), so ``box``
    (video pixels) moves into the frame's pixels (:func:`pose_guidance.maps.to_crop_frame`); what the
    person box does not cover is black."""
    h, w = image.shape[:2]
    corners = to_crop_frame(np.asarray(box, dtype=np.float64).reshape(2, 2), person_box, (w, h))
    return crop_frame(image, corners.reshape(4), size, flip)


def chw_frames(images: np.ndarray) -> torch.Tensor:
    """uint8 RGB ``(T, S, S, 3)`` -> uint8 ``(T, 3, S, S)``, contiguous: the dataset's frames, not yet scaled."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).contiguous()


def normalise_frames(frames: torch.Tensor) -> torch.Tensor:
    """uint8 ``(..., 3, S, S)`` -> float32 in [-1, 1] (``x / 127.5 - 1``), wherever the frames are: the
    task's ``device_transform``."""
    if frames.dtype != torch.uint8:
        raise TypeError(f"normalise_frames expects uint8 frames, found {frames.dtype}")
    return frames.float().div(127.5).sub(1.0)


def to_network(images: np.ndarray) -> torch.Tensor:
    """uint8 RGB ``(T, S, S, 3)`` -> float32 ``(T, 3, S, S)`` in [-1, 1]: one clip as the network sees it."""
    return normalise_frames(chw_frames(images))


def pose_to_camera_mm(pose: torch.Tensor, box: torch.Tensor, root_z: torch.Tensor, scale: torch.Tensor,
                      camera: torch.Tensor) -> torch.Tensor:
    """Network poses ``(N, T, J, 3)`` -> camera millimetres ``(N, T, J, 3)``: crop units -> video pixels
    (``box`` ``(N, 4)``), z back from :func:`normalise_depth` (``root_z``, ``scale`` ``(N,)``), and the pixels
    back-projected with :func:`fit_camera`'s ``(N, 4)``."""
    b = box.to(pose.dtype)[:, None, None, :]
    u = b[..., 0] + pose[..., 0] * (b[..., 2] - b[..., 0])
    v = b[..., 1] + pose[..., 1] * (b[..., 3] - b[..., 1])
    s = scale.to(pose.dtype)[:, None, None]
    z = pose[..., 2] * 2000.0 * s + root_z.to(pose.dtype)[:, None, None] - 1000.0 * s
    cam = camera.to(pose.dtype)[:, None, None, :]
    x = (u - cam[..., 1]) / cam[..., 0] * z
    y = (v - cam[..., 3]) / cam[..., 2] * z
    return torch.stack([x, y, z], -1)


def crop_to_video_pixels(xy: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Crop units ``(..., 2)`` -> video pixels (the inverse of the crop in :func:`ntu_clip`)."""
    return from_crop_frame(xy, box, (1, 1))
