"""Reports of a fusion: the text table, per-class figures, the paper-style Markdown table and their files."""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fusion.align import load_streams
from fusion.benchmarks import BENCHMARKS, Benchmark
from fusion.combine import fuse_scores
from fusion.errors import FusionError
from fusion.evaluate import FusionResult, evaluate_fusion
from fusion.metrics import topk_accuracy
from fusion.plots import action_label, plot_confusion, plot_parsing_gain
from fusion.spec import AlignedScores, FusionSpec
from fusion.streams import PARSING_STREAM


def format_report(data: AlignedScores, weights: Mapping[str, float], title: str) -> str:
    """Per-stream and fused top-1/top-5 as a fixed-width text table."""
    width = max(len("fusion"), *(len(n) for n in data.streams))
    lines = [
        f"{title}: {len(data.names)} samples, {data.num_classes} classes (names from {data.names_source})",
        f"{'stream':<{width}}  {'weight':>6}  {'top-1':>7}  {'top-5':>7}  file",
    ]
    for name, scores in data.streams.items():
        acc = topk_accuracy(scores, data.labels)
        lines.append(
            f"{name:<{width}}  {weights[name]:>6.2f}  {100 * acc[1]:>6.2f}%  {100 * acc[5]:>6.2f}%  "
            f"{data.sources.get(name, '')}"
        )
    fused = fuse_scores(list(data.streams.values()), [weights[n] for n in data.streams])
    acc = topk_accuracy(fused, data.labels)
    correct = int(round(acc[1] * len(data.names)))
    lines.append(
        f"{'fusion':<{width}}  {'':>6}  {100 * acc[1]:>6.2f}%  {100 * acc[5]:>6.2f}%  "
        f"({correct} of {len(data.names)} right)"
    )
    return "\n".join(lines)


def markdown_table(results: Sequence[FusionResult]) -> str:
    """Top-1 (%) per benchmark: streams, pose-only and full fusion, the paper's numbers beside ours."""
    ordered = sorted(results, key=lambda r: list(BENCHMARKS).index(r.benchmark.key))  # all have one here
    streams: list[str] = []
    for r in ordered:
        streams += [n for n in r.weights if n not in streams]
    rows: list[tuple[str, list[str]]] = []

    def ours(key: str) -> list[str]:
        return [f"{r.top1[key]:.2f}" if key in r.top1 else "–" for r in ordered]

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
    return "\n".join(lines) + f"\n\nFusion weights: {weights}.\n"


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
    return {"top1": result.top1, "weights": result.weights, "samples": int(result.class_counts.sum())}


def write_tables(specs: Mapping[str, FusionSpec], out_dir: Path, class_names_path: Path | None) -> list[Path]:
    """Markdown table, JSON figures, per-class CSVs and pictures for each benchmark; returns the files."""
    out_dir.mkdir(parents=True, exist_ok=True)
    results, written = [], []
    for key, spec in specs.items():
        data = load_streams(spec)
        result = evaluate_fusion(data, BENCHMARKS[key])
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
) -> list[Path]:
    """One fusion run's report text, JSON figures, per-class CSV and pictures."""
    out_dir.mkdir(parents=True, exist_ok=True)
    result = evaluate_fusion(data, benchmark)
    report_path = out_dir / f"report_{result.stem}.txt"
    report_path.write_text(report + "\n")
    json_path = out_dir / f"results_{result.stem}.json"
    json_path.write_text(json.dumps(_figures_json(result), indent=2) + "\n")
    return [report_path, json_path, *write_figures(out_dir, result, data, class_names_path)]
