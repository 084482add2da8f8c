"""The multitask network's tools: estimated skeletons for the pose branch, and pictures of the estimates.

    python -m multitask export --config CFG --weights CKPT --out PREPARED [--splits train,test] [--set k=v ...]
    python -m multitask show --config CFG --weights CKPT --sample NAME --out DIR [--set k=v ...]

``export`` writes ``PREPARED/<benchmark>/<split>/`` in the prepared-data format (``multitask/export.py``);
``show`` draws the estimated and the Kinect joints on the sample's crops (a PNG per frame, a GIF) and a
bar chart of the per-joint error (``multitask/pictures.py``). Errors are one line; the exit status is 2.
"""

from __future__ import annotations

import argparse
import sys

import torch

from data.storage import SPLITS
from engine.checkpoint import CheckpointError, load_model_weights
from engine.config import ConfigError, load_config
from multitask.task import MultitaskExperiment, build_model


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m multitask", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (("export", "estimated 3D skeletons in the prepared-data format"),
                            ("show", "estimated vs Kinect joints on one sample's crops")):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--config", required=True, help="the multitask YAML experiment")
        p.add_argument("--weights", required=True, help="a checkpoint of train_multitask.py")
        p.add_argument("--out", required=True, help="output folder")
        p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override")
        p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    sub.choices["export"].add_argument("--splits", default=",".join(SPLITS), help="comma-separated splits")
    sub.choices["export"].add_argument("--quiet", action="store_true", help="no progress bar")
    sub.choices["show"].add_argument("--sample", required=True, help="an NTU sample name of the test split")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        cfg = load_config(MultitaskExperiment, args.config, args.set)
        model = build_model(cfg)
        load_model_weights(model, args.weights)
        device = torch.device(args.device)
        if args.command == "export":
            from multitask.export import export_estimated

            splits = tuple(s for s in args.splits.split(",") if s)
            unknown = sorted(set(splits) - set(SPLITS))
            if unknown:
                raise ConfigError(f"--splits: expected some of {', '.join(SPLITS)}, found {', '.join(unknown)}")
            sizes = export_estimated(model, cfg, args.out, splits, device, progress=not args.quiet)
            print(" ".join(f"{key}: {count} samples" for key, count in sizes.items()) + f" -> {args.out}")
        else:
            from multitask.pictures import show_sample

            written = show_sample(model, cfg, args.sample, args.out, device)
            print(f"wrote {len(written)} files to {args.out}")
    except (ConfigError, CheckpointError, FileNotFoundError, ValueError) as err:
        print(f"python -m multitask {args.command}: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
