"""``python -m pipeline CONFIG [--set KEY=VALUE] [--only WORD]``: see the package docstring."""

from __future__ import annotations

import argparse
import sys

from engine.config import ConfigError, load_config
from pipeline.runner import PipelineConfig, run_pipeline

DESCRIPTION = "The whole journey in one command: data, parsing maps, every system's streams, fusion, pictures."


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline", description=DESCRIPTION)
    parser.add_argument("config", help="pipeline YAML, e.g. configs/demo/pipeline.yaml")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a field")
    parser.add_argument("--only", action="append", help="run only stages whose name contains this (repeatable)")
    args = parser.parse_args(argv)
    try:
        cfg = load_config(PipelineConfig, args.config, args.set)
        run_pipeline(cfg, args.only)
    except ConfigError as err:
        print(f"config error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
