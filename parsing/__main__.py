"""The parsing chain's commands: ``frames`` (videos -> person frames), ``parse`` (-> maps), ``store``, ``show``.

    python -m parsing frames --videos VIDEOS --skeletons SKELETONS --out FRAMES
    python -m parsing parse --frames FRAMES --out PARSING --checkpoint final.pth [--device cuda --amp bf16]
    python -m parsing parse --videos VIDEOS --skeletons SKELETONS --out PARSING --checkpoint final.pth  # one pass
    python -m parsing parse ... --out-store PARSING_STORE  # into a parsing store instead of .npy files
    python -m parsing store pack --maps PARSING --out PARSING_STORE
    python -m parsing store unpack --store PARSING_STORE --out PARSING
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

    parse = commands.add_parser("parse", help="run a human parser (SCHP or PSPNet) over person frames or videos")
    source = parse.add_mutually_exclusive_group(required=True)
    source.add_argument("--frames", help="folder of <name>/<frame>.jpg person frames")
    source.add_argument("--videos", help="folder of <name>_rgb.avi: decode, crop and parse in one pass (with "
                                         "--skeletons; maps differ slightly from --frames': no JPEG round trip)")
    parse.add_argument("--skeletons", help="with --videos: folder of <name>.skeleton giving the person boxes")
    parse.add_argument("--keep-frames", help="with --videos: also write the person frames <dir>/<name>/<frame>.jpg")
    parse.add_argument("--workers", type=int, default=4, help="with --videos: video-decoding processes")
    target = parse.add_mutually_exclusive_group(required=True)
    target.add_argument("--out", help="writes <out>/<name>.npy, uint8 (frames, h, w, 1)")
    target.add_argument("--out-store", help="writes into a parsing store (python -m parsing store)")
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

    store = commands.add_parser("store", help="a compact parsing store: .npy maps in, .npy maps out")
    store_commands = store.add_subparsers(dest="store_command", required=True)
    pack = store_commands.add_parser("pack", help="<name>.npy maps into a parsing store (resumable)")
    pack.add_argument("--maps", required=True, help="folder of <name>.npy parsing maps")
    pack.add_argument("--out", required=True, help="the parsing store (created if missing)")
    pack.add_argument("--workers", type=int, default=1, help="packing processes")
    pack.add_argument("--quiet", action="store_true", help="no progress bar")
    unpack = store_commands.add_parser("unpack", help="a parsing store back to <name>.npy, byte for byte")
    unpack.add_argument("--store", required=True, help="the parsing store")
    unpack.add_argument("--out", required=True, help="writes <out>/<name>.npy")
    unpack.add_argument("--quiet", action="store_true", help="no progress bar")

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
    from parsing.map_files import NpyMaps
    from parsing.parse import get_parser_model, parse_folder
    from parsing.store import ParsingStore
    from parsing.video_parse import parse_videos

    if args.videos and not args.skeletons:
        raise ValueError("--videos needs --skeletons: the person boxes come from the skeleton files")
    if args.frames and (args.skeletons or args.keep_frames):
        raise ValueError("--skeletons and --keep-frames go with --videos, not --frames")
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
    out = ParsingStore.create(args.out_store) if args.out_store else NpyMaps(args.out)
    options = dict(input_size=input_size, batch_size=args.batch_size, amp=args.amp, shard=shard,
                   show_progress=not args.quiet, model_name=args.model)
    if args.videos:
        summary = parse_videos(model, args.videos, args.skeletons, out, workers=args.workers,
                               keep_frames=args.keep_frames, **options)
    else:
        summary = parse_folder(model, args.frames, out, **options)
    log.info("parsing, shard %d/%d: %s", shard.index, shard.count, summary)
    return 1 if summary.failed else 0


def _run_store(args: argparse.Namespace) -> int:
    from parsing.store_pack import pack_maps, unpack_store

    if args.store_command == "pack":
        summary = pack_maps(args.maps, args.out, workers=args.workers, show_progress=not args.quiet)
    else:
        summary = unpack_store(args.store, args.out, show_progress=not args.quiet)
    log.info("store %s: %s", args.store_command, summary)
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
    runners = {"frames": _run_frames, "parse": _run_parse, "store": _run_store, "show": _run_show}
    try:
        return runners[args.command](args)
    except (ValueError, OSError, RuntimeError) as err:  # bad input: a one-line message, not a traceback
        log.error("%s", err)
        return 2


if __name__ == "__main__":
    sys.exit(main())
