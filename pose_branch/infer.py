"""Score one ``.skeleton`` file with a trained pose model and print the five likeliest actions.

    python -m pose_branch.infer S001C001P001R001A001.skeleton --weights ctrgcn_joint.pt \
        --config configs/ntu60-xsub/joint.yaml [--stream joint] [--top 5]

The file goes through the same preprocessing as the prepared data (REFERENCE.md §3, ``data``),
the second-actor layout of the config's benchmark (§3.5) and the deterministic test crop (§4).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from data.actions import action_name
from data.ntu import BENCHMARKS
from data.preprocess import preprocess, second_actor_layout
from data.skeleton import SkeletonError, read_skeleton
from engine.checkpoint import CheckpointError
from engine.config import ConfigError, load_config
from pose_branch.ctrgcn import load_pose_checkpoint
from pose_branch.feeder import STREAMS, prepare_sample
from pose_branch.task import PoseExperiment, build_model


def skeleton_frames(path: str | Path, benchmark: str) -> np.ndarray:
    """One .skeleton file -> preprocessed (T, 150) float32 frames laid out as ``benchmark``'s data."""
    raw = read_skeleton(path)
    if raw.num_frames == 0:
        raise SkeletonError(path, "no frame holds a body (a 'missing skeleton' sample)")
    frames, _ = preprocess(raw)
    return second_actor_layout(frames, BENCHMARKS[benchmark].copy_single_actor)


def predict(model: torch.nn.Module, frames: np.ndarray, stream: str, window: int) -> np.ndarray:
    """Class probabilities (num_class,) of one (T, 150) sample."""
    sample = torch.from_numpy(prepare_sample(frames, stream, window, train=False))
    model.eval()
    with torch.inference_mode():
        return torch.softmax(model(sample[None]), dim=1)[0].numpy()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pose_branch.infer", description=__doc__.split("\n\n")[0])
    parser.add_argument("skeleton", type=Path, help="an NTU .skeleton file")
    parser.add_argument("--weights", required=True, help="CTR-GCN / EPP-Net pose checkpoint or our checkpoint")
    parser.add_argument("--config", required=True, help="the pose config the weights were trained with")
    parser.add_argument("--stream", choices=STREAMS, help="input stream (default: the config's)")
    parser.add_argument("--top", type=int, default=5, help="how many actions to print")
    args = parser.parse_args(argv)

    try:
        cfg = load_config(PoseExperiment, args.config)
        stream = args.stream or cfg.data.stream
        model = build_model(cfg)
        load_pose_checkpoint(model, args.weights)
        frames = skeleton_frames(args.skeleton, cfg.data.benchmark)
    except (ConfigError, CheckpointError, SkeletonError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    probs = predict(model, frames, stream, cfg.data.window_size)
    print(f"{args.skeleton.name} ({stream} stream, {len(frames)} frames):")
    for label in np.argsort(-probs)[: args.top]:
        print(f"  {probs[label]:7.2%}  A{label + 1:<4d} {action_name(int(label))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
