"""Pictures of the multitask network's estimates: estimated vs Kinect joints on one sample's crops.

:func:`show_sample` writes ``<out>/<sample>_<frame>.png`` (each crop with the Kinect joints as filled dots
and the estimates as rings of the same colour, joined by a thin line), ``<out>/<sample>.gif`` over the
clip, and ``<out>/<sample>_joint_error.png``, a bar chart of the root-relative error per joint in
millimetres (``multitask.task.root_relative_mpjpe``'s rule, per joint).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

from multitask.clips import ClipTargets, pose_to_camera_mm, to_network
from multitask.model import PA20J_FROM_NTU, MultitaskNet
from multitask.task import DOT_COLORS, MultitaskExperiment, NtuClips
from pose_guidance.layouts import NTU25
from pose_guidance.maps import draw_keypoints

JOINT_NAMES = [NTU25.joints[j] for j in PA20J_FROM_NTU]
PICTURE_SIZE = 256


def draw_estimate(image: np.ndarray, estimated: np.ndarray, kinect: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``(S, S, 3)`` uint8 RGB with Kinect joints (dots) and estimates (rings); joints ``(J, 2)`` in crop units."""
    size = PICTURE_SIZE
    canvas = cv2.resize(image, (size, size), interpolation=cv2.INTER_NEAREST)
    canvas = draw_keypoints(canvas, kinect * size, DOT_COLORS, radius=3, visible=valid)
    for j, colour in enumerate(DOT_COLORS):
        centre = tuple(int(round(v)) for v in estimated[j] * size)
        if valid[j]:
            cv2.line(canvas, tuple(int(round(v)) for v in kinect[j] * size), centre, (255, 255, 255), 1, cv2.LINE_AA)
        cv2.circle(canvas, centre, 5, tuple(int(c) for c in colour), 2, cv2.LINE_AA)
    return canvas


def per_joint_error(pred_mm: np.ndarray, true_mm: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Root-relative error ``(J,)`` in mm, averaged over the frames where the joint and the root are valid
    (NaN where never)."""
    err = np.linalg.norm((pred_mm - pred_mm[:, :1]) - (true_mm - true_mm[:, :1]), axis=-1)  # (T, J)
    mask = (valid > 0) & (valid[:, :1] > 0)
    counts = mask.sum(0)
    return np.where(counts > 0, (err * mask).sum(0) / np.maximum(counts, 1), np.nan)


def error_chart(errors: np.ndarray, path: Path, title: str) -> None:
    """A bar per joint, in its dot colour."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.5), dpi=100)
    ax.bar(range(len(errors)), np.nan_to_num(errors), color=[np.array(c) / 255 for c in DOT_COLORS])
    ax.set_xticks(range(len(errors)), JOINT_NAMES, rotation=70, fontsize=7)
    ax.set_ylabel("root-relative error (mm)")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


@torch.no_grad()
def show_sample(model: MultitaskNet, cfg: MultitaskExperiment, sample: str, out: str | Path,
                device: torch.device | None = None) -> list[Path]:
    """The pictures of one test-split sample (its centred test clip); returns the files written."""
    dataset = NtuClips(cfg, "test")
    if sample not in dataset.sample_names:
        raise ValueError(f"{sample}: not a test sample of {cfg.data.benchmark} in {cfg.data.skeletons}")
    index = dataset.sample_names.index(sample)
    clip: ClipTargets | None = dataset.clip(index, None)
    if clip is None:
        raise ValueError(f"{dataset.skeletons / sample}.skeleton: no body to show")
    images = dataset.images(sample, clip)
    model.eval().to(device or torch.device("cpu"))
    pose = model({"frames": to_network(images)[None].to(device or torch.device("cpu"))})["pose"].float().cpu()
    mm = pose_to_camera_mm(pose, torch.from_numpy(clip.box)[None], torch.tensor([clip.root_z]),
                           torch.tensor([clip.scale]), torch.from_numpy(np.nan_to_num(clip.camera, nan=1.0))[None])
    estimated = pose[0].numpy()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written, frames = [], []
    for t in range(len(images)):
        picture = draw_estimate(images[t], estimated[t, :, :2], clip.pose[t, :, :2], clip.valid[t] > 0)
        path = out / f"{sample}_{int(clip.frames[t])}.png"
        Image.fromarray(picture).save(path)
        written.append(path)
        frames.append(Image.fromarray(picture))
    gif = out / f"{sample}.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=200, loop=0)
    chart = out / f"{sample}_joint_error.png"
    errors = per_joint_error(mm[0].numpy(), clip.xyz_mm, clip.valid)
    error_chart(errors, chart, f"{sample}: mean {np.nanmean(errors):.0f} mm over {len(images)} frames")
    return [*written, gif, chart]
