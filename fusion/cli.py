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
    # IPP-Net's command line: its weights per benchmark, its parsing scores re-ordered by its pair file
    python ensemble.py --preset ipp-net --benchmark NTU60XSub --joint_Score j.pkl ... --parsing_Score p.pkl \\
        --val_sample names.txt --match_txt ntu60_XSubpair.txt
    # intervals and a paired test; a stacked (logistic regression) fusion fitted on validation scores
    python ensemble.py ... --bootstrap 1000 --compare "pose fusion" "full fusion"
    python ensemble.py ... --stack --val-score joint=val_j.pkl ... --save-fused fused.pkl

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
from typing import Any

import numpy as np

from engine.errors import describe_os_error
from engine.scores import ScoreFileError, save_scores
from fusion.align import examples, load_streams
from fusion.benchmarks import get_benchmark
from fusion.combine import DEFAULT_GRID, fuse_scores, search_weights, softmax
from fusion.errors import FusionError
from fusion.report import format_report, write_run_outputs, write_tables
from fusion.significance import DEFAULT_RESAMPLES, DEFAULT_SEED, Bootstrap
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
from fusion.stacking import fit_stacking
from fusion.streams import DEFAULT_PRESET, EPPNET_FLAGS, PRESETS, preset_weights

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
    parser.add_argument(
        "--preset",
        choices=list(PRESETS),
        default=DEFAULT_PRESET,
        help="default weights: epp-net (2, 2, 1, 1, 2) or ipp-net (per benchmark, e.g. NTU60XSub 6, 6, 4, 4, 8)",
    )
    reference = parser.add_argument_group(
        "the reference command line (weights joint 2, bone 2, motions 1, parsing 2; or the --preset's)"
    )
    for flag in EPPNET_FLAGS:
        reference.add_argument(f"--{flag}", metavar="PKL", type=Path)
    reference.add_argument(
        "--parsing-pairs",
        "--match_txt",
        dest="parsing_pairs",
        type=Path,
        metavar="TXT",
        help="IPP-Net's Match_txt pair file: row i of the parsing stream is row j of its file ('i j' lines)",
    )
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
    search.add_argument(
        "--stack", action="store_true", help="add a logistic-regression fusion fitted on the --val-score files"
    )
    trust = parser.add_argument_group("uncertainty and outputs")
    trust.add_argument(
        "--bootstrap",
        type=int,
        metavar="N",
        help=f"resamples for the 95%% top-1 intervals in the printed table (--table: always, default "
        f"{DEFAULT_RESAMPLES})",
    )
    trust.add_argument("--bootstrap-seed", type=int, default=DEFAULT_SEED, metavar="SEED")
    trust.add_argument(
        "--compare",
        nargs=2,
        action="append",
        default=[],
        metavar=("ROW", "ROW"),
        help='McNemar test between two rows, e.g. --compare "pose fusion" "full fusion" (repeatable)',
    )
    trust.add_argument(
        "--save-fused", type=Path, metavar="PKL", help="write the fused class probabilities {name: (C,)}"
    )
    tables = parser.add_argument_group("tables and pictures")
    tables.add_argument("--table", type=Path, metavar="YAML", help="score files of the benchmarks")
    tables.add_argument("--class-names", type=Path, metavar="TXT", help="one action name per line")
    return parser


def spec_from_args(args: argparse.Namespace) -> FusionSpec:
    """The test-side fusion spec from the command line (and --config, which the flags override).

    Streams without a weight get the ``--preset``'s (EPP-Net's unless told otherwise).
    """
    config = read_yaml(args.config) if args.config is not None else None
    named = args.benchmark or (config.get("benchmark") if isinstance(config, dict) else None)
    defaults = preset_weights(args.preset, get_benchmark(str(named)).key if named else None)
    streams = [
        StreamSpec(stream, path, defaults[stream])
        for flag, stream in EPPNET_FLAGS.items()
        if (path := getattr(args, flag)) is not None
    ]
    streams += [parse_stream_arg(text, with_weight=True, defaults=defaults) for text in args.score]
    if args.config is not None:
        if streams:
            raise FusionError(
                f"--config {args.config} already lists the streams; drop the --*_Score/--score flags"
            )
        spec = parse_fusion_config(config, args.config.parent, str(args.config), defaults)
    else:
        spec = FusionSpec(tuple(streams))
    if args.benchmark:
        spec = replace(spec, benchmark=get_benchmark(args.benchmark))
    if args.parsing_pairs is not None:
        spec = replace(spec, parsing_pairs=args.parsing_pairs)
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


def load_validation(args: argparse.Namespace, spec: FusionSpec, test: AlignedScores, purpose: str) -> AlignedScores:
    """The --val-score streams, the same ones as the test streams, in the test streams' order."""
    order = list(test.streams)
    val_streams = [parse_stream_arg(text, with_weight=False) for text in args.val_score]
    check_unique(val_streams, "--val-score")
    by_name = {s.name: s for s in val_streams}
    if set(by_name) != set(order):
        raise FusionError(
            f"--val-score streams {sorted(by_name)} must be the same as the test streams {sorted(order)}"
        )
    val = load_streams(FusionSpec(tuple(by_name[n] for n in order), spec.benchmark, args.val_sample_list,
                                  split="validation"))
    leaked = set(val.names).intersection(test.names)
    if leaked and not args.allow_test_tuning:
        raise FusionError(
            f"{len(leaked)} validation samples are test samples too (e.g. {examples(leaked)}); {purpose} on "
            "them is tuned on test. Use a held-out part of the training split, or pass --allow-test-tuning "
            "to do it anyway, labelled as tuned on test."
        )
    return val


def run_search(
    args: argparse.Namespace, spec: FusionSpec, test: AlignedScores, options: dict[str, Any]
) -> tuple[str, dict[str, float], bool]:
    """Search weights on validation scores (or, only with --allow-test-tuning, on test) and report on test.

    Returns the report, the weights found and whether they were tuned on test.
    """
    grid = _parse_grid(args.grid)
    order = list(test.streams)
    initial = [test.weights[n] for n in order]
    lines = []
    if not args.val_score:
        if not args.allow_test_tuning:
            raise FusionError(
                "--search-weights needs validation scores (--val-score NAME=PATH for each stream, from a "
                "part of the training split held out from training); choosing weights on the test scores "
                "inflates the result. Pass --allow-test-tuning to do it anyway, labelled as tuned on test."
            )
        tuned_on_test = True
        weights, _ = search_weights([test.streams[n] for n in order], test.labels, initial, grid)
    else:
        val = load_validation(args, spec, test, "a weight search")
        tuned_on_test = bool(set(val.names).intersection(test.names))
        weights, val_top1 = search_weights([val.streams[n] for n in order], val.labels, initial, grid)
        lines.append(
            f"weights searched on validation ({len(val.names)} samples, names from {val.names_source}): "
            + ", ".join(f"{n} {w:g}" for n, w in zip(order, weights, strict=True))
            + f"; validation top-1 {100 * val_top1:.2f}%"
        )
    searched = dict(zip(order, weights, strict=True))
    title = "test, weights TUNED ON TEST" if tuned_on_test else "test, weights from validation"
    lines.append(format_report(test, searched, title, **options))
    lines.append(format_report(test, test.weights, "test, the given weights (for comparison)"))
    return "\n\n".join(lines), searched, tuned_on_test


def run_stacking(args: argparse.Namespace, spec: FusionSpec, test: AlignedScores) -> tuple[np.ndarray, str, bool]:
    """Fit the stacking on the --val-score files; returns its test probabilities (N, C), a line saying how
    it was fitted, and whether validation overlapped test."""
    if not args.val_score:
        raise FusionError(
            "--stack needs validation scores (--val-score NAME=PATH for each stream, from a part of the "
            "training split held out from training); it is fitted on them and reported on test"
        )
    val = load_validation(args, spec, test, "stacking fitted")
    model = fit_stacking(val.streams, val.labels, seed=args.bootstrap_seed)
    line = (
        f"stacking: logistic regression on the log-softmax scores of {', '.join(model.order)}, fitted on "
        f"{len(val.names)} validation samples (names from {val.names_source}), reported on test"
    )
    return model.scores(test.streams), line, bool(set(val.names).intersection(test.names))


def run_table(args: argparse.Namespace, bootstrap: Bootstrap) -> str:
    """--table: the Markdown table, figures and pictures of the benchmarks a YAML file lists."""
    fusion_flags = [f"--{f}" for f in EPPNET_FLAGS if getattr(args, f) is not None]
    fusion_flags += ["--score"] * bool(args.score) + ["--config"] * (args.config is not None)
    fusion_flags += ["--search-weights"] * args.search_weights + ["--stack"] * args.stack
    if fusion_flags:
        raise FusionError(f"--table {args.table} lists the score files itself; drop {', '.join(fusion_flags)}")
    if args.out is None:
        raise FusionError("--table needs --out DIR for its files")
    specs, class_names = parse_table_config(read_yaml(args.table), args.table.parent, str(args.table))
    files = write_tables(specs, args.out, args.class_names or class_names, bootstrap)
    return (args.out / "results.md").read_text() + "\nwrote " + ", ".join(str(p) for p in files)


def run(argv: Sequence[str] | None = None) -> str:
    """Run the command line and return the report text (errors raise FusionError/ScoreFileError)."""
    args = build_parser().parse_args(argv)
    if args.bootstrap is not None and args.bootstrap < 1:
        raise FusionError(f"--bootstrap: expected a number of resamples >= 1, found {args.bootstrap}")
    bootstrap = Bootstrap(args.bootstrap or DEFAULT_RESAMPLES, args.bootstrap_seed)
    if args.table is not None:
        return run_table(args, bootstrap)
    spec = spec_from_args(args)
    test = load_streams(spec)
    notes = []
    if spec.benchmark is not None and len(test.names) != spec.benchmark.test_size:
        notes.append(
            f"note: {len(test.names)} samples; the full {spec.benchmark.title} test split has "
            f"{spec.benchmark.test_size}"
        )
    if (args.val_score or args.allow_test_tuning) and not (args.search_weights or args.stack):
        raise FusionError("--val-score and --allow-test-tuning only apply with --search-weights or --stack")
    extra, head, tuned_on_test = {}, [], False
    if args.stack:
        extra["stacking"], line, tuned_on_test = run_stacking(args, spec, test)
        head.append(line)
    options: dict[str, Any] = {
        "bootstrap": bootstrap if args.bootstrap is not None or args.compare else None,
        "extra": extra,
        "compare": [tuple(pair) for pair in args.compare],
    }
    if args.search_weights:
        body, weights, searched_on_test = run_search(args, spec, test, options)
        tuned_on_test = tuned_on_test or searched_on_test
    else:
        title = spec.benchmark.title if spec.benchmark else "test"
        body, weights = format_report(test, test.weights, title, **options), test.weights
    parts = [TEST_TUNED_BANNER] * tuned_on_test + head + [body]
    report = "\n\n".join(parts) + "".join(f"\n{note}" for note in notes)
    if tuned_on_test:
        report += "\n\n" + TEST_TUNED_BANNER
    if args.save_fused is not None:
        fused_scores = fuse_scores(list(test.streams.values()), [weights[n] for n in test.streams])
        probabilities = extra["stacking"] if args.stack else softmax(fused_scores)
        save_scores(args.save_fused, dict(zip(test.names, probabilities, strict=True)))
        what = "the stacking's class probabilities" if args.stack else "softmax of the weighted sum"
        report += f"\nwrote {what} per sample to {args.save_fused}"
    if args.out is not None:
        fused_as_reported = replace(test, weights=dict(weights))
        files = write_run_outputs(
            args.out, report, fused_as_reported, spec.benchmark, args.class_names, extra, bootstrap,
            options["compare"],
        )
        report += "\nwrote " + ", ".join(str(p) for p in files)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    try:
        print(run(argv))
    except (FusionError, ScoreFileError) as exc:
        print(f"ensemble.py: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # missing or unreadable inputs, an unwritable --out
        print(f"ensemble.py: error: {describe_os_error(exc)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
