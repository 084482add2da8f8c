"""The parsing chain's commands: ``frames`` (videos -> person frames), ``parse`` (-> maps), ``show``.

    python -m parsing frames --videos VIDEOS --skeletons SKELETONS --out FRAMES
    python -m parsing parse --frames FRAMES --out PARSING --checkpoint final.pth [--device cuda --amp bf16]
    python -m parsing parse --model pspnet --frames FRAMES --out PARSING --checkpoint PSPNet_last  # IPP-Net
    torchrun --nproc-per-node 8 -m parsing parse --frames FRAMES --out PARSING --checkpoint final.pth
    python -m parsing show {feature-map,gif,overlay} ...
    python -m parsing show feature-map --layout ipp-net --parsing SAMPLE.npy --out fm.png

Batch commands exit with 1 when some samples failed (listed in ``<out>/failures.txt``).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from parsing.feature_map import LAYOUTS
from parsing.labels import LABEL_SETS

PARSER_MODEL_NAMES = ("schp", "pspnet")  # parsing.parse.PARSER_MODELS, named here to keep --help light

log = logging.getLogger("parsing")


def _add_shard_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--shard-index", type=int, help="this process's shard (default: RANK, else 0)")
    parser.add_argument("--shard-count", type=int, help="number of shards (default: WORLD_SIZE, else 1)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m parsing", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    frames = commands.add_parser("frames", help="crop videos to the skeleton's person box")
    frames.add_argument("--videos", required=True, help="folder of <name>_rgb.avi")
    frames.add_argument("--skeletons", required=True, help="folder of <name>.skeleton")
    frames.add_argument("--out", required=True, help="writes <out>/<name>/<frame>.jpg")
    _add_shard_options(frames)

    parse = commands.add_parser("parse", help="run a human parser (SCHP or PSPNet) over person-frame folders")
    parse.add_argument("--frames", required=True, help="folder of <name>/<frame>.jpg person frames")
    parse.add_argument("--out", required=True, help="writes <out>/<name>.npy, uint8 (frames, h, w, 1)")
    parse.add_argument("--model", default="schp", choices=sorted(PARSER_MODEL_NAMES),
                       help="schp: EPP-Net's parser (119 x 119 maps); pspnet: IPP-Net's (256 x 256 maps)")
    weights = parse.add_mutually_exclusive_group(required=True)
    weights.add_argument("--checkpoint", help="official checkpoint: SCHP final.pth (LIP) or PSPNet_last")
    weights.add_argument(
        "--random-weights", action="store_true", help="untrained parser: MEANINGLESS maps, for tests/demos"
    )
    parse.add_argument("--seed", type=int, default=0, help="seed of --random-weights")
    parse.add_argument("--label-set", default="lip", choices=sorted(LABEL_SETS))
    parse.add_argument("--input-size", type=int,
                       help="square input side (default: SCHP 473 LIP, 512 ATR/Pascal; PSPNet 256)")
    parse.add_argument("--batch-size", type=int, default=4)
    parse.add_argument("--device", default="auto", help="auto, cpu or cuda (torchrun: cuda:LOCAL_RANK)")
    parse.add_argument("--amp", default="none", choices=["none", "bf16", "fp16"], help="autocast on CUDA")
    _add_shard_options(parse)

    show = commands.add_parser("show", help="pictures of parsing maps")
    pictures = show.add_subparsers(dest="picture", required=True)
    feature_map = pictures.add_parser("feature-map", help="the sample's feature map (REFERENCE §9) as PNG")
    feature_map.add_argument("--parsing", required=True, help="<sample>.npy")
    feature_map.add_argument("--out", required=True, help="PNG file")
    feature_map.add_argument("--layout", default="eppnet", choices=LAYOUTS,
                             help="eppnet: palette tiles in a grid; ipp-net: grey strips side by side")
    feature_map.add_argument("--num-frames", type=int, help="frames shown (default: 9 eppnet, 5 ipp-net)")
    feature_map.add_argument("--byte-wrap", action=argparse.BooleanOptionalAction,
                             help="IPP-Net's ToPILImage byte wrap (default: on for ipp-net, off for eppnet)")
    feature_map.add_argument("--train", action="store_true", help="apply the training-time randomness")
    feature_map.add_argument("--seed", type=int, default=0, help="seed of --train")
    gif = pictures.add_parser("gif", help="animation of the parsing maps with a class legend")
    gif.add_argument("--parsing", required=True, help="<sample>.npy")
    gif.add_argument("--out", required=True, help="GIF file")
    gif.add_argument("--label-set", default="lip", choices=sorted(LABEL_SETS))
    gif.add_argument("--fps", type=float, default=10.0)
    gif.add_argument("--scale", type=int, default=3, help="pixel magnification of the maps")
    overlay = pictures.add_parser("overlay", help="parsing blended over evenly spaced person frames")
    overlay.add_argument("--parsing", required=True, help="<sample>.npy")
    overlay.add_argument("--frames", required=True, help="the sample's person-frame folder")
    overlay.add_argument("--out", required=True, help="PNG file")
    overlay.add_argument("--count", type=int, default=6, help="number of frames side by side")
    overlay.add_argument("--alpha", type=float, default=0.5)
    overlay.add_argument("--input-size", type=int, default=473, help="parser input side the maps came from")
    return parser


def _run_frames(args: argparse.Namespace) -> int:
    from parsing.batch import resolve_shard
    from parsing.person_frames import extract_person_frames

    shard = resolve_shard(args.shard_index, args.shard_count)
    summary = extract_person_frames(
        args.videos, args.skeletons, args.out, shard, show_progress=not args.quiet
    )
    log.info("person frames, shard %d/%d: %s", shard.index, shard.count, summary)
    return 1 if summary.failed else 0


def _run_parse(args: argparse.Namespace) -> int:
    import torch

    from engine.distributed import pick_device
    from parsing.batch import resolve_shard
    from parsing.parse import get_parser_model, parse_folder

    parser_model = get_parser_model(args.model)
    shard = resolve_shard(args.shard_index, args.shard_count)
    device = pick_device(args.device, int(os.environ.get("LOCAL_RANK", "0")))
    if args.amp != "none" and device.type != "cuda":
        raise ValueError(f"--amp {args.amp} needs a CUDA device; the parser runs in fp32 on {device}")
    if args.random_weights:
        log.warning("--random-weights: the parser is untrained, its maps are MEANINGLESS (tests, demos)")
        model = parser_model.build(args.label_set, args.seed).to(device)
    else:
        model = parser_model.load(args.checkpoint, args.label_set, device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)  # lets cuDNN pick its fastest convolutions
    input_size = args.input_size or parser_model.input_size(args.label_set)
    summary = parse_folder(
        model,
        args.frames,
        args.out,
        input_size=input_size,
        batch_size=args.batch_size,
        amp=args.amp,
        shard=shard,
        show_progress=not args.quiet,
        model_name=args.model,
    )
    log.info("parsing, shard %d/%d: %s", shard.index, shard.count, summary)
    return 1 if summary.failed else 0


def _run_show(args: argparse.Namespace) -> int:
    from parsing import show

    if args.picture == "feature-map":
        show.write_feature_map(args.parsing, args.out, args.num_frames, args.train, args.seed,
                               layout=args.layout, byte_wrap=args.byte_wrap)
    elif args.picture == "gif":
        show.write_parsing_gif(args.parsing, args.out, args.label_set, args.fps, args.scale)
    else:
        show.write_overlay(args.parsing, args.frames, args.out, args.count, args.alpha, args.input_size)
    log.info("wrote %s", args.out)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    runners = {"frames": _run_frames, "parse": _run_parse, "show": _run_show}
    try:
        return runners[args.command](args)
    except (ValueError, OSError, RuntimeError) as err:  # bad input: a one-line message, not a traceback
        log.error("%s", err)
        return 2


if __name__ == "__main__":
    sys.exit(main())
