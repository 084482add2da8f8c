"""Commands of part-level action parsing on Kinetics-TPS.

    python -m part_parsing evaluate --gt-vid F --gt-part F --pred-vid F --pred-part F
        [--curve OUT.png] [--json OUT.json]
    python -m part_parsing gt --annotations DIR --lists DIR --out DIR
    python -m part_parsing show --annotations DIR --video VIDEO --out PNG [--pred-part F] [--frames DIR | --videos DIR]
    python -m part_parsing predict --config RUN/config.yaml --weights RUN/checkpoints/last.pt --frames DIR
        (--annotations DIR | --boxes F | both) --out DIR [--set KEY=VALUE] [--device D] [--batch-size N]
        [--person-detector RUN --part-detector RUN --keypoints F]
    python -m part_parsing detect --person-detector RUN --part-detector RUN --keypoints F --frames DIR
        [--annotations DIR] --out boxes.json [--device D]
    python -m part_parsing table --run LABEL=RUN [--run LABEL=RUN ...] --out TABLE.md
    python -m part_parsing crops --annotations DIR --frames DIR --keypoints F --video VIDEO --out PNG [--count 6]

A bad input file prints one line ``python -m part_parsing: error: <file>: <what>`` and exits with 2.
A new command adds an entry to :data:`COMMANDS`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

PROG = "python -m part_parsing"


def _evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    for name in ("gt-vid", "gt-part", "pred-vid", "pred-part"):
        parser.add_argument(f"--{name}", required=True, type=Path, help=f"{name.replace('-', '_')}_result.json")
    parser.add_argument("--curve", type=Path, help="write the acc(t) curve as PNG")
    parser.add_argument("--json", type=Path, help="write the score, per-video PSC and the curve as JSON")


def _evaluate(args: argparse.Namespace) -> int:
    from part_parsing.evaluate import evaluate_files, write_curve
    from part_parsing.tps import write_json_atomic

    result = evaluate_files(args.gt_vid, args.gt_part, args.pred_vid, args.pred_part)
    print(f"Kinetics-TPS score: {result.score:.6f} over {len(result.videos)} videos "
          f"(mean PSC {result.psc.mean():.4f}, class accuracy {result.class_correct.mean():.4f})")
    if args.curve:
        print(f"wrote {write_curve(result, args.curve)}")
    if args.json:
        print(f"wrote {write_json_atomic(args.json, result.to_json())}")
    return 0


def _gt_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--annotations", required=True, type=Path, help="<split>_annotations folder")
    parser.add_argument("--lists", required=True, type=Path, help="the list/ folder (vocabularies)")
    parser.add_argument("--out", required=True, type=Path, help="writes gt_vid_result.json, gt_part_result.json")


def _gt(args: argparse.Namespace) -> int:
    from part_parsing.tps import check_vocabulary, ground_truth, iter_videos, read_lists, write_evaluation_files

    lists = read_lists(args.lists)
    videos = []
    for video in iter_videos(args.annotations):
        check_vocabulary(video, lists, args.annotations)
        videos.append(video)
    gt_vid, gt_part = ground_truth(videos)
    paths = write_evaluation_files(args.out, gt_vid, gt_part, prediction=False)
    frames = sum(len(frames) for frames in gt_part.values())
    print(f"wrote {paths[0]} and {paths[1]}: {len(gt_vid)} videos, {frames} scored frames")
    return 0


def _show_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--annotations", required=True, type=Path, help="<split>_annotations folder")
    parser.add_argument("--video", required=True, help="video name, e.g. Y0-KQvJjKAw_000057_000067")
    parser.add_argument("--out", required=True, type=Path, help="PNG file")
    parser.add_argument("--pred-part", type=Path, help="pred_part_result.json to draw beside the ground truth")
    images = parser.add_mutually_exclusive_group()
    images.add_argument("--frames", type=Path, help="rawframes root: <root>/<class>/<video>/img_NNNNN.jpg")
    images.add_argument("--videos", type=Path, help="videos root: <root>/<class>/<video>.mp4")
    parser.add_argument("--count", type=int, default=4, help="frames to draw")


def _show(args: argparse.Namespace) -> int:
    from part_parsing.show import write_show

    path = write_show(args.annotations, args.video, args.out, frames_root=args.frames, videos_root=args.videos,
                      pred_part=args.pred_part, count=args.count)
    print(f"wrote {path}")
    return 0


def _predict_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, type=Path, help="the trainer's config (a run's config.yaml)")
    parser.add_argument("--weights", required=True, type=Path, help="a checkpoint of train_part.py")
    parser.add_argument("--frames", required=True, type=Path, help="rawframes root: <root>/<class>/<video>/")
    parser.add_argument("--annotations", type=Path, help="<split>_annotations: the videos and their boxes")
    parser.add_argument("--boxes", type=Path, help="human and part boxes to use instead (evaluation-file tree)")
    parser.add_argument("--out", required=True, type=Path, help="writes pred_vid_result.json, pred_part_result.json")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config field")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--batch-size", type=int, default=0, help="videos per batch (default train.eval_batch_size)")
    _detector_arguments(parser, required=False)


def _detector_arguments(parser: argparse.ArgumentParser, required: bool) -> None:
    parser.add_argument("--person-detector", required=required, type=Path, help="a train_part_detector.py run "
                        "folder (config.yaml, checkpoints/last.pt) of a person detector")
    parser.add_argument("--part-detector", required=required, type=Path, help="the same of a part detector")
    parser.add_argument("--keypoints", required=required, type=Path,
                        help="the videos' COCO-17 keypoints: a COCO-style JSON or a pyskl pickle")


def _detect_arguments(parser: argparse.ArgumentParser) -> None:
    _detector_arguments(parser, required=True)
    parser.add_argument("--frames", required=True, type=Path, help="rawframes root: <root>/<class>/<video>/")
    parser.add_argument("--annotations", type=Path, help="<split>_annotations: the videos to detect on "
                        "(default: every rawframes folder)")
    parser.add_argument("--out", required=True, type=Path, help="the boxes file to write (JSON)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])


def _detections(args: argparse.Namespace) -> dict:
    from engine.checkpoint import CheckpointError
    from part_parsing.detection.predict import run_detect

    try:
        return run_detect(args.person_detector, args.part_detector, args.keypoints, args.frames,
                          annotations=args.annotations, device=args.device)
    except CheckpointError as err:
        raise ValueError(str(err)) from err


def _detect(args: argparse.Namespace) -> int:
    from part_parsing.tps import write_json_atomic

    tree = _detections(args)
    frames = sum(len(v) for v in tree.values())
    print(f"wrote {write_json_atomic(args.out, tree)}: {len(tree)} videos, {frames} frames")
    return 0


def _predict(args: argparse.Namespace) -> int:
    from engine.checkpoint import CheckpointError
    from part_parsing.predict import run_predict
    from part_parsing.tps import write_json_atomic

    detectors = [args.person_detector, args.part_detector, args.keypoints]
    if any(detectors) and not all(detectors):
        raise ValueError("--person-detector, --part-detector and --keypoints go together")
    if all(detectors):
        if args.boxes is not None:
            raise ValueError("--boxes or the detectors, not both")
        args.boxes = write_json_atomic(args.out / "detected_boxes.json", _detections(args))
        print(f"wrote {args.boxes}")
    try:
        paths = run_predict(args.config, args.weights, args.frames, args.out, annotations=args.annotations,
                            boxes=args.boxes, overrides=args.set, device=args.device, batch_size=args.batch_size)
    except CheckpointError as err:
        raise ValueError(str(err)) from err
    print(f"wrote {paths[0]} and {paths[1]}")
    return 0


def _table_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", action="append", required=True, metavar="LABEL=RUN",
                        help="a train_part_detector.py run folder and its row label (repeatable)")
    parser.add_argument("--out", required=True, type=Path, help="the Markdown table (a .json beside it)")


def _table(args: argparse.Namespace) -> int:
    import json

    from data.storage import atomic_write_bytes
    from part_parsing.detection.evaluation import run_table

    runs = []
    for item in args.run:
        label, sep, run = item.partition("=")
        if not sep or not label or not run:
            raise ValueError(f"--run {item!r}: expected LABEL=RUN_FOLDER")
        runs.append((label, Path(run)))
    markdown, table = run_table(runs)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(args.out, markdown.encode())
    atomic_write_bytes(args.out.with_suffix(".json"), (json.dumps(table, indent=1) + "\n").encode())
    print(markdown, end="")
    print(f"wrote {args.out} and {args.out.with_suffix('.json')}")
    return 0


def _crops_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--annotations", required=True, type=Path, help="<split>_annotations folder")
    parser.add_argument("--frames", required=True, type=Path, help="rawframes root: <root>/<class>/<video>/")
    parser.add_argument("--keypoints", required=True, type=Path, help="the split's keypoints (COCO JSON or pyskl)")
    parser.add_argument("--video", required=True, help="video name")
    parser.add_argument("--out", required=True, type=Path, help="PNG file")
    parser.add_argument("--count", type=int, default=6, help="persons to show")


def _crops(args: argparse.Namespace) -> int:
    from part_parsing.detection.pictures import write_crops

    if args.count < 1:
        raise ValueError(f"--count {args.count}: show at least 1 person")
    print(f"wrote {write_crops(args.annotations, args.frames, args.keypoints, args.video, args.out, args.count)}")
    return 0


Command = tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]
COMMANDS: dict[str, Command] = {
    "evaluate": ("the official Kinetics-TPS score of predictions", _evaluate_arguments, _evaluate),
    "gt": ("ground-truth evaluation files from an annotation tree", _gt_arguments, _gt),
    "show": ("a picture of a video's part-level parsing", _show_arguments, _show),
    "predict": ("prediction files from a trained model and given or detected boxes", _predict_arguments, _predict),
    "detect": ("person and part boxes of videos from two trained detectors", _detect_arguments, _detect),
    "table": ("part detectors' AP50 side by side (the embedding ablation)", _table_arguments, _table),
    "crops": ("a picture of person crops, plain and with the pose-guided embedding", _crops_arguments, _crops),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, add_arguments, _) in COMMANDS.items():
        add_arguments(commands.add_parser(name, help=help_text, description=help_text))
    return parser


def _message(err: Exception) -> str:
    if isinstance(err, OSError) and err.filename is not None:
        return f"{err.filename}: {err.strerror or err}"
    return str(err)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command][2](args)
    except (ValueError, OSError) as err:  # bad input: one line, no traceback
        print(f"{PROG}: error: {_message(err)}".replace("\n", " "), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
