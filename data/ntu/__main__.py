"""The ``python -m data.ntu`` command line: ``prepare`` and ``export-npz`` (see ``data/ntu/__init__.py``)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from data.ntu import BENCHMARKS
from data.prepare import keep_freed_memory, prepare
from data.skeleton import SkeletonError
from data.storage import export_npz
from engine.errors import describe_os_error

DESCRIPTION = "NTU RGB+D skeletons: preprocess into prepared splits, or export the reference's padded .npz."


def _benchmark_names(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown benchmark(s) {unknown}; expected some of {', '.join(BENCHMARKS)}"
        )
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m data.ntu", description=DESCRIPTION)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("prepare", help="parse, denoise and split .skeleton files into ROOT")
    p.add_argument("--skeletons", nargs="+", required=True, type=Path, help="folders of .skeleton files")
    p.add_argument("--out", required=True, type=Path, help="output root (its .cache makes re-runs resume)")
    p.add_argument("--benchmarks", type=_benchmark_names, default=list(BENCHMARKS), help="comma-separated")
    p.add_argument(
        "--on-error",
        choices=("raise", "skip"),
        default="raise",
        help="stop at the first bad file, or record it in report.json and go on",
    )
    p.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="parser processes (default: all cores)"
    )
    e = commands.add_parser("export-npz", help="write the reference's padded .npz (x/y_train, x/y_test)")
    e.add_argument("--prepared", required=True, type=Path, help="ROOT written by prepare")
    e.add_argument("--benchmark", required=True, choices=list(BENCHMARKS))
    e.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except (OSError, ValueError) as err:  # missing folders, unreadable or malformed files
        message = describe_os_error(err) if isinstance(err, OSError) else str(err)
        print(f"python -m data.ntu: error: {message}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    if args.command == "export-npz":
        export_npz(args.prepared, args.benchmark, args.out)
        print(f"wrote {args.out}")
        return 0
    keep_freed_memory()  # this process is ours: parsing with --workers 1 runs in it
    try:
        summary = prepare(
            args.skeletons, args.out, args.benchmarks, on_error=args.on_error, workers=args.workers
        )
    except SkeletonError as err:
        print(f"python -m data.ntu: error: {err} (--on-error skip records bad files and goes on; "
              "finished files are cached)", file=sys.stderr)
        return 2
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
