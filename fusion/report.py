"""Reports of a fusion: the text table, per-class figures, the paper-style Markdown table and their files."""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from fusion.align import load_streams
from fusion.benchmarks import BENCHMARKS, Benchmark
from fusion.combine import fuse_scores
from fusion.errors import FusionError
from fusion.evaluate import FusionResult, evaluate_fusion, fusion_rows
from fusion.metrics import topk_accuracy
from fusion.plots import action_label, plot_confusion, plot_parsing_gain
from fusion.significance import DEFAULT_BOOTSTRAP, Bootstrap, bootstrap_intervals, mcnemar
from fusion.spec import AlignedScores, FusionSpec
from fusion.streams import PARSING_STREAM, canonical_stream_name


def _interval(bounds: tuple[float, float]) -> str:
    return f"[{bounds[0]:.2f}, {bounds[1]:.2f}]"


def resolve_row(name: str, rows: Sequence[str]) -> str:
    """A row named on the command line (``--compare``) -> its key: ``fusion`` is ``full fusion``, stream
    names in any spelling (``joint_motion``)."""
    key = "full fusion" if name == "fusion" else canonical_stream_name(name)
    if key not in rows:
        shown = ["fusion" if r == "full fusion" else r for r in rows]
        raise FusionError(f"--compare {name!r}: not a row of this table; rows are {', '.join(shown)}")
    return key


def format_report(
    data: AlignedScores,
    weights: Mapping[str, float],
    title: str,
    *,
    bootstrap: Bootstrap | None = None,
    extra: Mapping[str, np.ndarray] | None = None,
    compare: Sequence[tuple[str, str]] = (),
) -> str:
    """Per-stream and fused top-1/top-5 as a fixed-width text table.

    Without ``bootstrap`` it is the reference's table: the streams and the full fusion ("fusion"). With
    it, each top-1 gets its bootstrap interval, the pose-only fusion and the ``extra`` rows ((N, C)
    scores, e.g. the stacking) are added, and ``compare`` pairs of rows get McNemar's test.
    """
    rows = fusion_rows(data, weights) if bootstrap else {**data.streams}
    if not bootstrap:
        rows["full fusion"] = fuse_scores(list(data.streams.values()), [weights[n] for n in data.streams])
    rows.update(extra or {})
    shown = {name: "fusion" if name == "full fusion" else name for name in rows}
    width = max(len(label) for label in shown.values())
    accuracy = {name: topk_accuracy(scores, data.labels) for name, scores in rows.items()}
    correct = {name: scores.argmax(axis=1) == data.labels for name, scores in rows.items()}
    intervals = bootstrap_intervals(correct, bootstrap) if bootstrap else {}
    interval_head = f"  {f'{100 * bootstrap.level:g}% interval':<16}" if bootstrap else ""
    lines = [
        f"{title}: {len(data.names)} samples, {data.num_classes} classes (names from {data.names_source})",
        f"{'stream':<{width}}  {'weight':>6}  {'top-1':>7}{interval_head}  {'top-5':>7}  file",
    ]
    for name, label in shown.items():
        acc = accuracy[name]
        weight = f"{weights[name]:>6.2f}" if name in data.streams else f"{'':>6}"
        interval = f"  {_interval(intervals[name]):<16}" if bootstrap else ""
        if name in data.streams:
            tail = data.sources.get(name, "")
        else:
            tail = f"({int(correct[name].sum())} of {len(data.names)} right)"
        lines.append(f"{label:<{width}}  {weight}  {100 * acc[1]:>6.2f}%{interval}  {100 * acc[5]:>6.2f}%  {tail}")
    if bootstrap:
        lines.append(bootstrap.describe(len(data.names)))
    for a, b in compare:
        key_a, key_b = resolve_row(a, list(rows)), resolve_row(b, list(rows))
        lines.append(mcnemar(correct[key_a], correct[key_b], shown[key_a], shown[key_b]).describe())
    return "\n".join(lines)


def markdown_table(results: Sequence[FusionResult]) -> str:
    """Top-1 (%) per benchmark with bootstrap intervals: streams, pose-only and full fusion, the paper's
    numbers beside ours."""
    ordered = sorted(results, key=lambda r: list(BENCHMARKS).index(r.benchmark.key))  # all have one here
    streams: list[str] = []
    for r in ordered:
        streams += [n for n in r.weights if n not in streams]
    rows: list[tuple[str, list[str]]] = []

    def ours(key: str) -> list[str]:
        return [f"{r.top1[key]:.2f} {_interval(r.intervals[key])}" if key in r.top1 else "–" for r in ordered]

    for name in streams:
        rows.append((f"{name} (parsing only)" if name == PARSING_STREAM else name, ours(name)))
    rows.append(("pose-only fusion (4 skeleton streams)", ours("pose fusion")))
    rows.append(("full fusion (pose + parsing)", ours("full fusion")))
    rows.append(("CTR-GCN 4-stream, paper", [f"{r.benchmark.paper_ctrgcn:.1f}" for r in ordered]))
    rows.append(("EPP-Net, paper", [f"{r.benchmark.paper_eppnet:.1f}" for r in ordered]))
    rows.append(
        (
            "full fusion - EPP-Net paper",
            [f"{r.top1['full fusion'] - r.benchmark.paper_eppnet:+.2f}" for r in ordered],
        )
    )
    header = "| top-1 (%) | " + " | ".join(r.benchmark.title for r in ordered) + " |"
    lines = [header, "|---|" + "---:|" * len(ordered)]
    lines += [f"| {label} | " + " | ".join(cells) + " |" for label, cells in rows]
    weights = "; ".join(
        f"{r.benchmark.title}: " + ", ".join(f"{n} {w:g}" for n, w in r.weights.items()) for r in ordered
    )
    intervals = "; ".join(f"{r.benchmark.title}: {r.bootstrap.describe(len(next(iter(r.correct.values()))))}"
                          for r in ordered)
    return "\n".join(lines) + f"\n\nFusion weights: {weights}.\nIntervals in brackets: {intervals}.\n"


def write_per_class_csv(path: Path, result: FusionResult, class_names: Sequence[str] | None) -> None:
    columns = list(result.per_class)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        delta_header = ["parsing gain (full - pose)"] if "pose fusion" in columns else []
        writer.writerow(["class", "action", "samples", *columns, *delta_header])
        for c, count in enumerate(result.class_counts):
            values = [result.per_class[col][c] for col in columns]
            delta = (
                [result.per_class["full fusion"][c] - result.per_class["pose fusion"][c]]
                if delta_header
                else []
            )
            writer.writerow(
                [c, action_label(c, class_names), int(count), *(f"{v:.4f}" for v in [*values, *delta])]
            )


def default_class_names(num_classes: int) -> list[str] | None:
    """NTU's action names for 60- and 120-way scores; other class counts are shown by index."""
    from data.actions import ACTION_NAMES

    return list(ACTION_NAMES[:num_classes]) if num_classes in (60, 120) else None


def read_class_names(path: Path, num_classes: int) -> list[str]:
    names = [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]
    if len(names) < num_classes:
        raise FusionError(
            f"{path}: expected at least {num_classes} class names (one per line), found {len(names)}"
        )
    return names


def write_figures(
    out_dir: Path, result: FusionResult, data: AlignedScores, class_names_path: Path | None
) -> list[Path]:
    """Per-class CSV, confusion matrix and (with pose and parsing streams) the parsing-gain picture."""
    if class_names_path:
        names = read_class_names(class_names_path, data.num_classes)
    else:
        names = default_class_names(data.num_classes)
    csv_path = out_dir / f"per_class_{result.stem}.csv"
    write_per_class_csv(csv_path, result, names)
    confusion_path = out_dir / f"confusion_{result.stem}.png"
    plot_confusion(confusion_path, result, names)
    written = [csv_path, confusion_path]
    if "pose fusion" in result.per_class and PARSING_STREAM in data.streams:
        gain_path = out_dir / f"parsing_gain_{result.stem}.png"
        plot_parsing_gain(gain_path, result, names)
        written.append(gain_path)
    return written


def _figures_json(result: FusionResult) -> dict[str, Any]:
    b = result.bootstrap
    return {
        "top1": result.top1,
        "intervals": {row: list(bounds) for row, bounds in result.intervals.items()},
        "bootstrap": {"resamples": b.resamples, "seed": b.seed, "level": b.level, "method": "percentile"},
        "weights": result.weights,
        "samples": int(result.class_counts.sum()),
    }


def write_tables(
    specs: Mapping[str, FusionSpec],
    out_dir: Path,
    class_names_path: Path | None,
    bootstrap: Bootstrap = DEFAULT_BOOTSTRAP,
) -> list[Path]:
    """Markdown table, JSON figures, per-class CSVs and pictures for each benchmark; returns the files."""
    out_dir.mkdir(parents=True, exist_ok=True)
    results, written = [], []
    for key, spec in specs.items():
        data = load_streams(spec)
        result = evaluate_fusion(data, BENCHMARKS[key], bootstrap=bootstrap)
        results.append(result)
        written += write_figures(out_dir, result, data, class_names_path)
    table_path = out_dir / "results.md"
    table_path.write_text(markdown_table(results))
    json_path = out_dir / "results.json"
    json_path.write_text(json.dumps({r.benchmark.key: _figures_json(r) for r in results}, indent=2) + "\n")
    return [table_path, json_path, *written]


def write_run_outputs(
    out_dir: Path,
    report: str,
    data: AlignedScores,
    benchmark: Benchmark | None,
    class_names_path: Path | None,
    extra: Mapping[str, np.ndarray] | None = None,
    bootstrap: Bootstrap = DEFAULT_BOOTSTRAP,
    compare: Sequence[tuple[str, str]] = (),
) -> list[Path]:
    """One fusion run's report text, JSON figures (with McNemar's test of the ``compare`` pairs), per-class
    CSV and pictures (``extra``: further rows)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    result = evaluate_fusion(data, benchmark, extra, bootstrap)
    report_path = out_dir / f"report_{result.stem}.txt"
    report_path.write_text(report + "\n")
    figures = _figures_json(result)
    keys = [tuple(resolve_row(name, list(result.correct)) for name in pair) for pair in compare]
    if keys:
        figures["mcnemar"] = [asdict(mcnemar(result.correct[a], result.correct[b], a, b)) for a, b in keys]
    json_path = out_dir / f"results_{result.stem}.json"
    json_path.write_text(json.dumps(figures, indent=2) + "\n")
    return [report_path, json_path, *write_figures(out_dir, result, data, class_names_path)]
