"""``python -m data.pyskl export --prepared ROOT --dataset ntu60 --out ntu60_ours.pkl``: prepared splits as a
pyskl / MMAction2 annotation pickle (see ``data/pyskl/__init__.py``); read one back with
``--set data.root=FILE.pkl`` in a pose config."""

from __future__ import annotations

import argparse
from pathlib import Path

from data.pyskl import DATASET_BENCHMARKS
from data.storage import export_pyskl


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m data.pyskl", description=__doc__.split(":")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    e = commands.add_parser("export", help="write ROOT's benchmarks of one dataset as a pyskl annotation pickle")
    e.add_argument("--prepared", required=True, type=Path, help="ROOT written by python -m data.ntu prepare")
    e.add_argument("--dataset", required=True, choices=list(DATASET_BENCHMARKS))
    e.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)
    try:
        sizes = export_pyskl(args.prepared, args.dataset, args.out)
    except (FileNotFoundError, ValueError) as err:
        parser.exit(2, f"python -m data.pyskl: error: {err}\n")
    print(f"wrote {args.out}: " + ", ".join(f"{key} {n}" for key, n in sizes.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
