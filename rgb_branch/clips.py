"""Frame sampling and the per-frame arrays of a clip: resized, background-weakened, normalised frames,
and joint heatmaps; shared by the NTU and JHMDB datasets.

Sampling (``data.sampling``):

* ``random_sorted``: F frames drawn at random without replacement, then sorted (the task's F = 15);
  evaluation takes F evenly spaced frames.
* ``consecutive``: F consecutive frames from a random start (Yao's ``c3d/Dataloader.py`` takes 15
  consecutive frames); evaluation takes the centred window.
* ``eppnet_grid``: the frames of EPP-Net's parsing feature map (``parsing.feature_map.select_frames``),
  for the ``rgb_grid`` ablation.

A clip shorter than F repeats frames (with replacement for ``random_sorted``, the last frame otherwise).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from parsing.feature_map import select_frames
from pose_guidance.maps import joint_heatmaps, weaken_background

SAMPLINGS = ("random_sorted", "consecutive", "eppnet_grid")
HEATMAP_STYLES = ("gaussian", "disk")
IMAGENET_MEAN = np.array((0.485, 0.456, 0.406), dtype=np.float32)
IMAGENET_STD = np.array((0.229, 0.224, 0.225), dtype=np.float32)


def sample_frame_indices(total: int, count: int, sampling: str, *, train: bool,
                         rng: np.random.Generator | None = None) -> list[int]:
    """``count`` indices into ``total`` frames, ascending (see the module docstring)."""
    if total < 1:
        raise ValueError("a clip needs at least one frame, found 0")
    if sampling not in SAMPLINGS:
        raise ValueError(f"data.sampling must be one of {', '.join(SAMPLINGS)}, found {sampling!r}")
    rng = np.random.default_rng() if rng is None else rng
    if sampling == "eppnet_grid":
        return select_frames(total, count, train=train, rng=rng)
    if sampling == "random_sorted":
        if not train:
            return [int(i) for i in np.linspace(0, total - 1, count).round()]
        return sorted(int(i) for i in rng.choice(total, count, replace=total < count))
    start = int(rng.integers(0, max(total - count, 0) + 1)) if train else max(total - count, 0) // 2
    return [min(start + k, total - 1) for k in range(count)]


def normalised_frame(image: np.ndarray, size: int, mask: np.ndarray | None = None,
                     background: float = 1.0) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB -> ``(3, size, size)`` float32 ImageNet-normalised, the background outside
    ``mask`` ``(H, W)`` bool scaled by ``background`` first (0.5: Yao's ``(x + mask x) / 2``)."""
    frame = image
    if mask is not None and background != 1.0:
        if mask.shape != image.shape[:2]:
            raise ValueError(f"mask {mask.shape} does not match the frame {image.shape[:2]}")
        frame = weaken_background(image, mask, background)
    frame = cv2.resize(np.asarray(frame, dtype=np.float32), (size, size), interpolation=cv2.INTER_AREA)
    normalised = (frame / np.float32(255) - IMAGENET_MEAN) / IMAGENET_STD
    return np.ascontiguousarray(normalised.transpose(2, 0, 1))


def pose_heatmaps(keypoints: np.ndarray, image_size: tuple[int, int], grid: int, sigma: float = 1.0,
                  style: str = "gaussian") -> np.ndarray:
    """Keypoints ``(A, J, 2)`` of A actors in an image of ``(width, height)`` -> ``(J, grid, grid)``
    float32, the actors' maps merged by maximum; ``disk`` thresholds the Gaussian at one ``sigma``."""
    if style not in HEATMAP_STYLES:
        raise ValueError(f"data.heatmap_style must be one of {', '.join(HEATMAP_STYLES)}, found {style!r}")
    points = np.asarray(keypoints, dtype=np.float64)
    maps = np.max([joint_heatmaps(actor, image_size, (grid, grid), sigma) for actor in points], axis=0)
    if style == "disk":
        maps = (maps >= np.exp(-0.5)).astype(np.float32)
    return maps


def stack_clip(frames: list[np.ndarray], heatmaps: list[np.ndarray] | None) -> dict[str, torch.Tensor]:
    """The model's input dict: ``frames`` ``(F, 3, S, S)`` and, with pose, ``heatmaps`` ``(F, J, g, g)``."""
    inputs = {"frames": torch.from_numpy(np.stack(frames))}
    if heatmaps is not None:
        inputs["heatmaps"] = torch.from_numpy(np.stack(heatmaps))
    return inputs


class ClipDataset(torch.utils.data.Dataset):
    """The part the NTU and JHMDB datasets share: sampling, per-frame arrays, the ``(inputs, target)`` item.

    A subclass sets ``sample_names`` and ``labels`` and implements :meth:`frame_count` and
    :meth:`load_frame` (image, person mask, keypoints ``(A, J, 2)`` in the image's pixels).
    ``pose_maps``: ``none``, ``input`` (heatmaps in the inputs: attentional pooling's pose input) or
    ``target`` (heatmaps in the target beside ``label``: the auxiliary pose loss). Randomness comes from
    torch's generator, which the engine seeds per sample.
    """

    sample_names: list[str]
    labels: np.ndarray

    def __init__(self, *, train: bool, num_frames: int, image_size: int, sampling: str = "random_sorted",
                 background: float = 1.0, pose_maps: str = "none", heatmap_grid: int = 7, sigma: float = 1.0,
                 heatmap_style: str = "gaussian") -> None:
        if pose_maps not in ("none", "input", "target"):
            raise ValueError(f"pose_maps must be none, input or target, found {pose_maps!r}")
        if sampling not in SAMPLINGS:
            raise ValueError(f"data.sampling must be one of {', '.join(SAMPLINGS)}, found {sampling!r}")
        self.train, self.num_frames, self.image_size = train, num_frames, image_size
        self.sampling, self.background, self.pose_maps = sampling, background, pose_maps
        self.heatmap_grid, self.sigma, self.heatmap_style = heatmap_grid, sigma, heatmap_style

    def __len__(self) -> int:
        return len(self.sample_names)

    def frame_count(self, index: int) -> int:
        raise NotImplementedError

    def load_frame(self, index: int, frame: int) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """``(H, W, 3)`` uint8 RGB, ``(H, W)`` bool person mask (or None), keypoints ``(A, J, 2)``."""
        raise NotImplementedError

    def clip(self, index: int) -> tuple[dict[str, torch.Tensor], np.ndarray | None]:
        """The clip's input dict and its heatmaps ``(F, J, g, g)`` (None without pose maps)."""
        rng = np.random.default_rng(int(torch.randint(0, 2**62, ()))) if self.train else None
        chosen = sample_frame_indices(self.frame_count(index), self.num_frames, self.sampling, train=self.train,
                                      rng=rng)
        frames, maps = [], []
        for frame in chosen:
            image, mask, keypoints = self.load_frame(index, frame)
            frames.append(normalised_frame(image, self.image_size, mask, self.background))
            if self.pose_maps != "none":
                size = (image.shape[1], image.shape[0])
                maps.append(pose_heatmaps(keypoints, size, self.heatmap_grid, self.sigma, self.heatmap_style))
        inputs = stack_clip(frames, maps if self.pose_maps == "input" else None)
        return inputs, np.stack(maps) if maps else None

    def __getitem__(self, index: int) -> tuple[dict[str, torch.Tensor], int | dict[str, object]]:
        inputs, maps = self.clip(index)
        label = int(self.labels[index])
        if self.pose_maps == "target":
            return inputs, {"label": label, "heatmaps": torch.from_numpy(maps)}
        return inputs, label
