"""Late fusion of score files: EPP-Net's weighted sum of stream logits, honest weight search, tables.

    # the reference command line (REFERENCE.md §7), weights 2, 2, 1, 1, 2
    python ensemble.py --benchmark NTU60XSub --joint_Score j.pkl --bone_Score b.pkl \\
        --jointmotion_Score jm.pkl --bonemotion_Score bm.pkl --parsing_Score p.pkl --val_sample names.txt
    # any streams, names and labels from the prepared data (ROOT/<benchmark>/test/)
    python ensemble.py --benchmark NTU60XSub --data-root prepared \\
        --score joint=j.pkl:2 --score parsing=p.pkl:2
    # weights searched on validation scores only, then applied to the test scores
    python ensemble.py --config streams.yaml --search-weights --val-score joint=val_j.pkl --val-score ...
    # the results table, per-class CSVs and pictures for the four benchmarks
    python ensemble.py --table results.yaml --out results/

Unlike the reference script, which adds score files up by position, streams are aligned by sample name:
files keyed ``test_0, test_1, ...`` (CTR-GCN) are first named through the split's sample list, whose
``i``-th line is the name of ``test_i``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from engine.scores import ScoreFileError
from fusion.align import examples, load_streams
from fusion.benchmarks import get_benchmark
from fusion.combine import DEFAULT_GRID, search_weights
from fusion.errors import FusionError
from fusion.report import format_report, write_run_outputs, write_tables
from fusion.spec import (
    AlignedScores,
    FusionSpec,
    StreamSpec,
    check_unique,
    parse_fusion_config,
    parse_stream_arg,
    parse_table_config,
    read_yaml,
)
from fusion.streams import EPPNET_FLAGS, EPPNET_WEIGHTS

TEST_TUNED_BANNER = (
    "!!! WEIGHTS TUNED ON THE TEST SET: the fused accuracy below is optimistic, not a result !!!"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--benchmark", help="NTU60XSub, NTU60XView, NTU120XSub or NTU120XSet (or ntu60-xsub, ...)"
    )
    reference = parser.add_argument_group(
        "the reference command line (weights joint 2, bone 2, motions 1, parsing 2)"
    )
    for flag in EPPNET_FLAGS:
        reference.add_argument(f"--{flag}", metavar="PKL", type=Path)
    reference.add_argument(
        "--val_sample",
        "--sample-list",
        dest="sample_list",
        type=Path,
        metavar="TXT",
        help="the test split's sample names in order (names test_i keys; labels from the names)",
    )
    general = parser.add_argument_group("any streams")
    general.add_argument("--score", action="append", default=[], metavar="NAME=PATH[:WEIGHT]")
    general.add_argument(
        "--config", type=Path, metavar="YAML", help="streams, weights and name source as YAML"
    )
    general.add_argument(
        "--data-root", type=Path, help="prepared data: names/labels from ROOT/<benchmark>/test"
    )
    general.add_argument(
        "--labels",
        type=Path,
        metavar="DIR|NPY",
        help="a prepared split folder (names.txt, labels.npy), or labels .npy in --sample-list order",
    )
    general.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="write the report, per-class CSV and pictures here (--table: required)",
    )
    search = parser.add_argument_group("weight search (on validation scores, never on test by default)")
    search.add_argument("--search-weights", action="store_true")
    search.add_argument("--val-score", action="append", default=[], metavar="NAME=PATH")
    search.add_argument(
        "--val-sample-list", type=Path, metavar="TXT", help="names for test_i-keyed val files"
    )
    search.add_argument("--grid", default=",".join(f"{g:g}" for g in DEFAULT_GRID), help="weights to try")
    search.add_argument(
        "--allow-test-tuning", action="store_true", help="search on the test scores (labelled)"
    )
    tables = parser.add_argument_group("tables and pictures")
    tables.add_argument("--table", type=Path, metavar="YAML", help="score files of the benchmarks")
    tables.add_argument("--class-names", type=Path, metavar="TXT", help="one action name per line")
    return parser


def spec_from_args(args: argparse.Namespace) -> FusionSpec:
    """The test-side fusion spec from the command line (and --config, which the flags override)."""
    streams = [
        StreamSpec(stream, path, EPPNET_WEIGHTS[stream])
        for flag, stream in EPPNET_FLAGS.items()
        if (path := getattr(args, flag)) is not None
    ]
    streams += [parse_stream_arg(text, with_weight=True) for text in args.score]
    if args.config is not None:
        if streams:
            raise FusionError(
                f"--config {args.config} already lists the streams; drop the --*_Score/--score flags"
            )
        spec = parse_fusion_config(read_yaml(args.config), args.config.parent, str(args.config))
    else:
        spec = FusionSpec(tuple(streams))
    if args.benchmark:
        spec = replace(spec, benchmark=get_benchmark(args.benchmark))
    if any(v is not None for v in (args.sample_list, args.data_root, args.labels)):
        # Names and labels given on the command line replace the config's as a whole.
        spec = replace(spec, sample_list=args.sample_list, data_root=args.data_root, labels=args.labels)
    check_unique(spec.streams, "command line")
    return spec


def _parse_grid(text: str) -> list[float]:
    try:
        grid = sorted({float(v) for v in text.split(",") if v.strip()})
    except ValueError as exc:
        raise FusionError(f"--grid: expected comma-separated numbers, found {text!r}") from exc
    if not grid or min(grid) < 0:
        raise FusionError(f"--grid: expected non-negative weights, found {text!r}")
    return grid


def run_search(
    args: argparse.Namespace, spec: FusionSpec, test: AlignedScores
) -> tuple[str, dict[str, float]]:
    """Search weights on validation scores (or, only with --allow-test-tuning, on test) and report on test."""
    grid = _parse_grid(args.grid)
    order = list(test.streams)
    initial = [test.weights[n] for n in order]
    lines = []
    tuned_on_test = False
    if not args.val_score:
        if not args.allow_test_tuning:
            raise FusionError(
                "--search-weights needs validation scores (--val-score NAME=PATH for each stream, from a "
                "part of the training split held out from training); choosing weights on the test scores "
                "inflates the result. Pass --allow-test-tuning to do it anyway, labelled as tuned on test."
            )
        tuned_on_test = True
        weights, _ = search_weights([test.streams[n] for n in order], test.labels, initial, grid)
        lines.append(TEST_TUNED_BANNER)
    else:
        val_streams = [parse_stream_arg(text, with_weight=False) for text in args.val_score]
        check_unique(val_streams, "--val-score")
        by_name = {s.name: s for s in val_streams}
        if set(by_name) != set(order):
            raise FusionError(
                f"--val-score streams {sorted(by_name)} must be the same as the test streams {sorted(order)}"
            )
        val_spec = FusionSpec(tuple(by_name[n] for n in order), spec.benchmark, args.val_sample_list)
        val = load_streams(val_spec)
        leaked = set(val.names).intersection(test.names)
        if leaked:
            if not args.allow_test_tuning:
                raise FusionError(
                    f"{len(leaked)} validation samples are test samples too (e.g. {examples(leaked)}); "
                    "weights chosen on them are tuned on test. Use a held-out part of the training split, "
                    "or pass --allow-test-tuning to do it anyway, labelled as tuned on test."
                )
            tuned_on_test = True
            lines.append(TEST_TUNED_BANNER)
        weights, val_top1 = search_weights([val.streams[n] for n in order], val.labels, initial, grid)
        lines.append(
            f"weights searched on validation ({len(val.names)} samples, names from {val.names_source}): "
            + ", ".join(f"{n} {w:g}" for n, w in zip(order, weights, strict=True))
            + f"; validation top-1 {100 * val_top1:.2f}%"
        )
    searched = dict(zip(order, weights, strict=True))
    title = "test, weights TUNED ON TEST" if tuned_on_test else "test, weights from validation"
    lines.append(format_report(test, searched, title))
    lines.append(format_report(test, test.weights, "test, the given weights (for comparison)"))
    if tuned_on_test:
        lines.append(TEST_TUNED_BANNER)
    return "\n\n".join(lines), searched


def run(argv: Sequence[str] | None = None) -> str:
    """Run the command line and return the report text (errors raise FusionError/ScoreFileError)."""
    args = build_parser().parse_args(argv)
    if args.table is not None:
        fusion_flags = [f"--{f}" for f in EPPNET_FLAGS if getattr(args, f) is not None]
        fusion_flags += ["--score"] * bool(args.score) + ["--config"] * (args.config is not None)
        fusion_flags += ["--search-weights"] * args.search_weights
        if fusion_flags:
            raise FusionError(
                f"--table {args.table} lists the score files itself; drop {', '.join(fusion_flags)}"
            )
        if args.out is None:
            raise FusionError("--table needs --out DIR for its files")
        specs, class_names = parse_table_config(read_yaml(args.table), args.table.parent, str(args.table))
        files = write_tables(specs, args.out, args.class_names or class_names)
        return (args.out / "results.md").read_text() + "\nwrote " + ", ".join(str(p) for p in files)
    spec = spec_from_args(args)
    test = load_streams(spec)
    notes = []
    if spec.benchmark is not None and len(test.names) != spec.benchmark.test_size:
        notes.append(
            f"note: {len(test.names)} samples; the full {spec.benchmark.title} test split has "
            f"{spec.benchmark.test_size}"
        )
    if args.search_weights:
        body, weights = run_search(args, spec, test)
    else:
        if args.val_score or args.allow_test_tuning:
            raise FusionError("--val-score and --allow-test-tuning only apply with --search-weights")
        title = spec.benchmark.title if spec.benchmark else "test"
        body, weights = format_report(test, test.weights, title), test.weights
    report = "\n".join([body, *notes])
    if args.out is not None:
        fused_as_reported = replace(test, weights=dict(weights))
        files = write_run_outputs(args.out, report, fused_as_reported, spec.benchmark, args.class_names)
        report += "\nwrote " + ", ".join(str(p) for p in files)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    try:
        print(run(argv))
    except (FusionError, ScoreFileError, FileNotFoundError) as exc:
        print(f"ensemble.py: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
