"""Estimated 3D skeletons in the project's prepared-data format, so the pose branch trains on them.

    python -m multitask export --config configs/ntu60-xsub/multitask_finetune.yaml \
        --weights work_dirs/ntu60-xsub/multitask_finetune/checkpoints/last.pt --out prepared_estimated
    python train_pose.py --config configs/ntu60-xsub/joint.yaml --set data.root=prepared_estimated

For every sample of each split (the dataset's names, in the reference split order; files without a
body are left out, as ``python -m data.ntu prepare`` leaves out missing skeletons), the tracked body's
frames are cut into consecutive clips of T frames (subsample 1, the last one padded by repeating its
final frame), each cropped as in training (the Kinect colour joints give the box) and estimated; the
poses are mapped to camera metres with :func:`multitask.clips.pose_to_camera_mm` (the absolute depth is
anchored at the clip's Kinect root depth and the pixels are back-projected with the camera fitted to its
Kinect joints: only the root-relative shape is the network's).

The 25-joint NTU layout gets the 20 estimated joints at their NTU indices and the 5 others by this rule:
spine mid (NTU 2) = the mean of spine base and spine shoulder; left hand tip and left thumb (22, 23) =
the left hand; right hand tip and right thumb (24, 25) = the right hand (1-based). Then the §3.4
translation and the §3.5 second-actor layout of the benchmark (data.preprocess), and the files of
``docs/ARCHITECTURE.md`` (frames, offsets, names, labels, meta.json last) through ``data.storage``.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from data.ntu import BENCHMARKS, parse_name
from data.preprocess import second_actor_layout, translate
from data.storage import FRAME_WIDTH, SPLITS, NpyStreamWriter, atomic_write_bytes, save_npy
from multitask.clips import clip_at, main_body, pose_to_camera_mm, to_network
from multitask.model import PA20J_FROM_NTU, MultitaskNet
from multitask.task import MultitaskExperiment, NtuClips
from pose_guidance.skeleton_colors import read_skeleton_colors

NTU_JOINTS = 25
# NTU index <- the NTU joints it is copied from (their mean): the 5 joints pa20j does not estimate.
FILLED_JOINTS = {1: (0, 20), 21: (7,), 22: (7,), 23: (11,), 24: (11,)}


def to_ntu25(pose20: np.ndarray) -> np.ndarray:
    """``(T, 20, 3)`` pa20j -> ``(T, 25, 3)`` NTU joints, the 5 missing ones filled by :data:`FILLED_JOINTS`."""
    out = np.zeros(pose20.shape[:-2] + (NTU_JOINTS, 3), dtype=np.float32)
    out[..., PA20J_FROM_NTU, :] = pose20
    for joint, sources in FILLED_JOINTS.items():
        out[..., joint, :] = out[..., list(sources), :].mean(-2)
    return out


@torch.no_grad()
def estimate_sample(model: MultitaskNet, dataset: NtuClips, index: int, device: torch.device,
                    batch_clips: int = 4) -> np.ndarray | None:
    """Camera-space metres ``(F, 20, 3)`` for every frame the sample's tracked body has; None without a body."""
    name = dataset.sample_names[index]
    body = main_body(read_skeleton_colors(dataset.skeletons / f"{name}.skeleton"))
    if body is None:
        return None
    clip_len, count = dataset.sizes.num_frames, len(body.frames)
    clips = [clip_at(body, np.minimum(start + np.arange(clip_len), count - 1))
             for start in range(0, count, clip_len)]
    decoded = dataset.decode(name, body.frames)  # the video or person frames read once for all its clips
    poses = []
    for first in range(0, len(clips), batch_clips):
        group = clips[first:first + batch_clips]
        frames = torch.stack([to_network(dataset.images(name, clip, decoded)) for clip in group]).to(device)
        pose = model({"frames": frames})["pose"].float().cpu()
        mm = pose_to_camera_mm(
            pose, torch.tensor(np.stack([c.box for c in group])), torch.tensor([c.root_z for c in group]),
            torch.tensor([c.scale for c in group]),
            torch.tensor(np.stack([np.nan_to_num(c.camera, nan=1.0) for c in group])))
        poses.append(mm.reshape(-1, mm.shape[-2], 3).numpy())
    return (np.concatenate(poses)[:count] / 1000.0).astype(np.float32)


def export_estimated(model: MultitaskNet, cfg: MultitaskExperiment, out: str | Path,
                     splits: tuple[str, ...] = SPLITS, device: torch.device | None = None,
                     progress: bool = True) -> dict[str, int]:
    """Write ``out/<benchmark>/<split>/`` for ``splits`` from the model's estimates; returns the sample counts."""
    device = device or torch.device("cpu")
    benchmark = BENCHMARKS[cfg.data.benchmark]
    model.eval().to(device)
    metas, sizes, max_frames = [], {}, 0
    for split in splits:
        dataset = NtuClips(cfg, split)
        folder = Path(out) / benchmark.name / split
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "meta.json").unlink(missing_ok=True)
        names, lengths = [], []
        with tempfile.TemporaryFile(dir=folder) as raw:
            for index in tqdm(range(len(dataset)), desc=f"estimating {benchmark.name}/{split}", unit="sample",
                              disable=not progress):
                metres = estimate_sample(model, dataset, index, device)
                if metres is None:
                    continue
                rows = translate(to_ntu25(metres).reshape(len(metres), -1))
                rows = second_actor_layout(rows.astype(np.float32), benchmark.copy_single_actor)
                raw.write(np.ascontiguousarray(rows, dtype=np.float32).tobytes())
                names.append(dataset.sample_names[index])
                lengths.append(len(rows))
            raw.seek(0)
            offsets = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]).astype(np.int64)
            with NpyStreamWriter(folder / "frames.npy", (int(offsets[-1]), FRAME_WIDTH), np.float32) as writer:
                for length in lengths:
                    block = np.frombuffer(raw.read(length * FRAME_WIDTH * 4), dtype=np.float32)
                    writer.write(block.reshape(length, FRAME_WIDTH))
        save_npy(folder / "offsets.npy", offsets)
        save_npy(folder / "labels.npy", np.array([parse_name(n).label for n in names], dtype=np.int64))
        atomic_write_bytes(folder / "names.txt", "".join(f"{n}\n" for n in names).encode())
        max_frames = max([max_frames, *lengths])
        metas.append((folder, split, len(names)))
        sizes[f"{benchmark.name}/{split}"] = len(names)
    for folder, split, count in metas:  # meta.json last: a folder with one is complete
        meta = {"benchmark": benchmark.name, "split": split, "num_classes": benchmark.num_classes,
                "num_samples": count, "max_frames": max_frames}
        atomic_write_bytes(folder / "meta.json", (json.dumps(meta, indent=2) + "\n").encode())
    return sizes
