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
import csv
import json
import re
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from data.ntu import BENCHMARKS as NTU_BENCHMARKS
from engine.scores import ScoreFileError, load_score_matrix

NTU_NAME = re.compile(r"S\d{3}C\d{3}P\d{3}R\d{3}A\d{3}")
NTU_NAMES = re.compile(rf"(?:{NTU_NAME.pattern}\n)*")
POSITIONAL_PREFIX = "test_"

POSE_STREAMS = ("joint", "bone", "joint-motion", "bone-motion")
PARSING_STREAM = "parsing"
EPPNET_WEIGHTS = {"joint": 2.0, "bone": 2.0, "joint-motion": 1.0, "bone-motion": 1.0, "parsing": 2.0}
# The reference script's flags, in the order it adds the streams up.
EPPNET_FLAGS = {
    "joint_Score": "joint",
    "bone_Score": "bone",
    "jointmotion_Score": "joint-motion",
    "bonemotion_Score": "bone-motion",
    "parsing_Score": "parsing",
}
DEFAULT_GRID = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0)
TEST_TUNED_BANNER = (
    "!!! WEIGHTS TUNED ON THE TEST SET: the fused accuracy below is optimistic, not a result !!!"
)


class FusionError(ValueError):
    """Inputs that cannot be fused as asked; the message names the file and the mismatch."""


@dataclass(frozen=True)
class Benchmark:
    key: str  # the reference's --benchmark spelling
    folder: str  # prepared-data folder name (docs/ARCHITECTURE.md)
    title: str
    test_size: int
    paper_eppnet: float
    paper_ctrgcn: float

    @property
    def num_classes(self) -> int:
        return NTU_BENCHMARKS[self.folder].num_classes


BENCHMARKS = {
    b.key: b
    for b in (
        Benchmark("NTU60XSub", "ntu60-xsub", "NTU60 XSub", 16487, 94.7, 92.4),
        Benchmark("NTU60XView", "ntu60-xview", "NTU60 XView", 18932, 97.7, 96.8),
        Benchmark("NTU120XSub", "ntu120-xsub", "NTU120 XSub", 50919, 91.1, 88.9),
        Benchmark("NTU120XSet", "ntu120-xset", "NTU120 XSet", 59477, 92.8, 90.6),
    )
}


def get_benchmark(name: str) -> Benchmark:
    """Look a benchmark up by the reference spelling (``NTU60XSub``) or the folder name (``ntu60-xsub``)."""
    for b in BENCHMARKS.values():
        if name.lower() in (b.key.lower(), b.folder):
            return b
    known = ", ".join(f"{b.key}/{b.folder}" for b in BENCHMARKS.values())
    raise FusionError(f"unknown benchmark {name!r}; expected one of {known}")


def canonical_stream_name(name: str) -> str:
    """``jointmotion``, ``joint_motion``, ``Joint-Motion`` all mean ``joint-motion``; others stay as given."""
    compact = name.lower().replace("_", "").replace("-", "")
    for known in (*POSE_STREAMS, PARSING_STREAM):
        if compact == known.replace("-", ""):
            return known
    return name


@dataclass(frozen=True)
class StreamSpec:
    name: str
    path: Path
    weight: float


@dataclass(frozen=True)
class FusionSpec:
    """What to fuse: streams, and where sample names and labels come from (at most one source)."""

    streams: tuple[StreamSpec, ...]
    benchmark: Benchmark | None = None
    sample_list: Path | None = None  # names file in split order
    data_root: Path | None = None  # prepared data: ROOT/<benchmark>/test/{names.txt,labels.npy}
    labels: Path | None = None  # a prepared split folder, or a labels .npy in sample-list order


@dataclass(frozen=True)
class StreamScores:
    names: list[str]  # sample name of each row
    scores: np.ndarray  # (N, C) float32
    source: str


@dataclass
class AlignedScores:
    """Streams on one sample order: ``streams[name]`` is (N, C), row i is sample ``names[i]``."""

    names: list[str]
    labels: np.ndarray  # (N,) int64, 0-based
    streams: dict[str, np.ndarray]
    weights: dict[str, float]
    sources: dict[str, str] = field(default_factory=dict)
    names_source: str = ""

    @property
    def num_classes(self) -> int:
        return next(iter(self.streams.values())).shape[1]


# ---------------------------------------------------------------------------------------------- pure parts


def labels_from_names(names: Sequence[str], source: str) -> np.ndarray:
    """NTU names -> 0-based labels (the last three digits minus one, as the reference does)."""
    # One regex pass over all names; the per-name search only runs to point at a bad one.
    if NTU_NAMES.fullmatch("\n".join(names) + "\n") is None:
        i, name = next((i, n) for i, n in enumerate(names) if NTU_NAME.fullmatch(n) is None)
        raise FusionError(f"{source}: sample {i} is {name!r}, expected an NTU name like S001C001P001R001A001")
    return np.array([int(name[-3:]) - 1 for name in names], dtype=np.int64)


def check_labels(names: Sequence[str], labels: np.ndarray, source: str) -> None:
    """Labels must be one per name and agree with the action number in each name."""
    if len(labels) != len(names):
        raise FusionError(f"{source}: {len(labels)} labels for {len(names)} sample names")
    wrong = np.flatnonzero(labels_from_names(names, source) != labels)
    if len(wrong):
        shown = ", ".join(f"{names[i]} -> {labels[i]}" for i in wrong[:5])
        raise FusionError(
            f"{source}: {len(wrong)} labels disagree with the action in the sample name, e.g. {shown}"
        )


def resolve_keys(keys: Sequence[str], sample_names: Sequence[str] | None, source: str) -> list[str]:
    """Score-file keys -> sample names; ``test_i`` becomes the i-th name of the split's sample list."""
    if not any(k.startswith(POSITIONAL_PREFIX) for k in keys):
        return list(keys)
    start = len(POSITIONAL_PREFIX)
    odd = next((k for k in keys if not (k.startswith(POSITIONAL_PREFIX) and k[start:].isdecimal())), None)
    if odd is not None:
        raise FusionError(f"{source}: mixes test_i keys with other keys such as {odd!r}")
    indices = [int(k[start:]) for k in keys]
    if sample_names is None:
        raise FusionError(
            f"{source}: keys are test_0, test_1, ...; name them with the split's sample list (test scores: "
            "--val_sample/--sample-list TXT or --data-root with --benchmark; validation: --val-sample-list)"
        )
    if max(indices) >= len(sample_names):
        raise FusionError(
            f"{source}: has key test_{max(indices)} but the sample list has only {len(sample_names)} names"
        )
    return [sample_names[i] for i in indices]


def _examples(items: set[str]) -> str:
    return ", ".join(sorted(items)[:5]) or "none"


def align_streams(
    streams: Mapping[str, StreamScores],
    order: Sequence[str] | None = None,
    order_source: str = "the sample list",
) -> tuple[list[str], dict[str, np.ndarray]]:
    """Reorder every stream to ``order`` (default: the first stream's) by sample name.

    Returns ``(names, {stream: (N, C)})``. Raises when the sample sets or class counts differ.
    """
    if not streams:
        raise FusionError("no score streams to fuse")
    widths = {name: s.scores.shape[1] for name, s in streams.items()}
    if len(set(widths.values())) > 1:
        listed = ", ".join(f"{name} ({streams[name].source}): {w}" for name, w in widths.items())
        raise FusionError(f"streams have different class counts: {listed}")
    if order is None:
        first_name, first = next(iter(streams.items()))
        order, order_source = first.names, f"stream {first_name!r} ({first.source})"
    order = list(order)
    if len(set(order)) != len(order):
        dupes = {n for n, count in Counter(order).items() if count > 1}
        raise FusionError(f"{order_source}: repeats sample names, e.g. {_examples(dupes)}")
    aligned = {}
    for name, stream in streams.items():
        if stream.names == order:
            aligned[name] = stream.scores
            continue
        position = {n: i for i, n in enumerate(stream.names)}
        missing = set(order).difference(position)
        extra = set(position).difference(order)
        if missing or extra:
            raise FusionError(
                f"stream {name!r} ({stream.source}) and {order_source} hold different samples: "
                f"{len(missing)} of {len(order)} expected are missing (e.g. {_examples(missing)}), "
                f"{len(extra)} are not expected (e.g. {_examples(extra)})"
            )
        index = np.fromiter((position[n] for n in order), dtype=np.intp, count=len(order))
        aligned[name] = stream.scores[index]
    return order, aligned


def fuse_scores(scores: Sequence[np.ndarray], weights: Sequence[float]) -> np.ndarray:
    """Weighted sum of (N, C) logits in float32, accumulated in stream order from zero like the reference."""
    if len(scores) != len(weights) or not scores:
        raise FusionError(f"need one weight per stream, got {len(weights)} weights for {len(scores)} streams")
    shapes = {s.shape for s in scores}
    if len(shapes) > 1:
        raise FusionError(f"score matrices have different shapes: {sorted(shapes)}")
    fused = np.zeros(scores[0].shape, dtype=np.float32)
    term = np.empty_like(fused)
    for stream, weight in zip(scores, weights, strict=True):
        np.multiply(stream, np.float32(weight), out=term)
        fused += term
    return fused


def class_ranks(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Rank (0 = best) of the true class per sample; ties rank the lower class first, as argmax does."""
    true = scores[np.arange(len(labels)), labels][:, None]
    lower_index = np.arange(scores.shape[1])[None, :] < labels[:, None]
    return (scores > true).sum(axis=1) + ((scores == true) & lower_index).sum(axis=1)


def topk_accuracy(scores: np.ndarray, labels: np.ndarray, ks: Sequence[int] = (1, 5)) -> dict[int, float]:
    """Top-k accuracy in [0, 1] for each k; top-1 equals ``mean(argmax == label)``."""
    if len(scores) != len(labels):
        raise FusionError(f"{len(scores)} score rows for {len(labels)} labels")
    if labels.min() < 0 or labels.max() >= scores.shape[1]:
        raise FusionError(
            f"labels span {labels.min()}..{labels.max()} but the scores have {scores.shape[1]} classes"
        )
    ranks = class_ranks(scores, labels)
    return {k: float((ranks < k).mean()) for k in ks}


def per_class_accuracy(predictions: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """(num_classes,) top-1 accuracy per true class; NaN for classes with no samples."""
    total = np.bincount(labels, minlength=num_classes)
    correct = np.bincount(labels[predictions == labels], minlength=num_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, correct / total, np.nan)


def confusion_matrix(predictions: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """(num_classes, num_classes) counts, rows = true class, columns = predicted class."""
    flat = np.bincount(labels * num_classes + predictions, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes)


def _top1(scores: np.ndarray, labels: np.ndarray) -> float:
    return float((scores.argmax(axis=1) == labels).mean())


def search_weights(
    scores: Sequence[np.ndarray],
    labels: np.ndarray,
    initial: Sequence[float],
    grid: Sequence[float] = DEFAULT_GRID,
    rounds: int = 5,
) -> tuple[list[float], float]:
    """Coordinate search of stream weights over ``grid`` maximising top-1 on the given (validation) scores.

    Starts from ``initial``, changes one weight at a time and keeps a change only if accuracy strictly
    improves. Returns ``(weights, top-1)``.
    """
    weights = [float(w) for w in initial]
    best = _top1(fuse_scores(scores, weights), labels)
    for _ in range(rounds):
        improved = False
        for i in range(len(weights)):
            for candidate in grid:
                trial = [*weights[:i], float(candidate), *weights[i + 1 :]]
                if trial == weights or not any(trial):
                    continue
                accuracy = _top1(fuse_scores(scores, trial), labels)
                if accuracy > best:
                    weights, best, improved = trial, accuracy, True
        if not improved:
            break
    return weights, best


# ------------------------------------------------------------------------------------------ loading inputs


def read_sample_list(path: Path) -> list[str]:
    """A names file: one sample name per line, in split order (the reference's ``--val_sample``)."""
    names = [line.strip() for line in Path(path).read_text().splitlines()]
    names = [n for n in names if n]
    if not names:
        raise FusionError(f"{path}: expected one sample name per line, found no names")
    return names


@dataclass(frozen=True)
class SplitSamples:
    names: list[str]
    labels: np.ndarray
    source: str


def split_samples(spec: FusionSpec) -> SplitSamples | None:
    """The split's ordered names and labels from a names file or a prepared split folder, if given."""
    labels_dir = spec.labels if spec.labels is not None and spec.labels.is_dir() else None
    labels_file = spec.labels if labels_dir is None else None
    given = [s for s in (spec.sample_list, spec.data_root, labels_dir) if s is not None]
    if len(given) > 1:
        raise FusionError(
            f"sample names given twice ({', '.join(map(str, given))}); use one of a names file "
            "(--val_sample/--sample-list), --data-root or a prepared split folder (--labels DIR)"
        )
    if spec.data_root is not None:
        if spec.benchmark is None:
            raise FusionError(
                f"--data-root {spec.data_root} needs --benchmark to find <root>/<benchmark>/test"
            )
        labels_dir = spec.data_root / spec.benchmark.folder / "test"
    if labels_dir is not None:
        names_path, labels_path = labels_dir / "names.txt", labels_dir / "labels.npy"
    elif spec.sample_list is not None:
        names_path, labels_path = spec.sample_list, labels_file
    elif labels_file is not None:
        raise FusionError(f"--labels {labels_file} needs the sample list it is ordered by (--sample-list)")
    else:
        return None
    names = read_sample_list(names_path)
    if labels_path is None:
        return SplitSamples(names, labels_from_names(names, str(names_path)), str(names_path))
    labels = np.load(labels_path, allow_pickle=False)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise FusionError(f"{labels_path}: expected a 1-D integer array, found {labels.dtype} {labels.shape}")
    check_labels(names, labels.astype(np.int64), f"{labels_path} with {names_path}")
    return SplitSamples(names, labels.astype(np.int64), str(names_path))


def load_streams(spec: FusionSpec) -> AlignedScores:
    """Load, name and align every stream of ``spec``, with labels for the common sample order."""
    if not spec.streams:
        raise FusionError("no score streams given (use the EPP-Net --*_Score flags, --score or --config)")
    samples = split_samples(spec)
    loaded = {}
    for stream in spec.streams:
        keys, matrix = load_score_matrix(stream.path)
        names = resolve_keys(keys, samples.names if samples else None, str(stream.path))
        loaded[stream.name] = StreamScores(names, matrix, str(stream.path))
    if samples is None:
        names, aligned = align_streams(loaded)
        first = spec.streams[0]
        labels, names_source = labels_from_names(names, str(first.path)), str(first.path)
    else:
        names, aligned = align_streams(loaded, samples.names, samples.source)
        labels, names_source = samples.labels, samples.source
    result = AlignedScores(
        names=names,
        labels=labels,
        streams=aligned,
        weights={s.name: s.weight for s in spec.streams},
        sources={s.name: str(s.path) for s in spec.streams},
        names_source=names_source,
    )
    if spec.benchmark is not None and result.num_classes != spec.benchmark.num_classes:
        raise FusionError(
            f"{spec.benchmark.key} has {spec.benchmark.num_classes} classes but the score files have "
            f"{result.num_classes} ({spec.streams[0].path})"
        )
    if labels.max() >= result.num_classes:
        raise FusionError(
            f"{names_source}: labels go up to {labels.max()} "
            f"but the score files have {result.num_classes} classes"
        )
    return result


def default_weight(stream: str) -> float:
    return EPPNET_WEIGHTS.get(stream, 1.0)


def parse_stream_arg(text: str, *, with_weight: bool) -> StreamSpec:
    """``NAME=PATH[:WEIGHT]`` (``--score``) or ``NAME=PATH`` (``--val-score``)."""
    name, sep, rest = text.partition("=")
    if not sep or not name or not rest:
        raise FusionError(f"expected NAME=PATH{'[:WEIGHT]' if with_weight else ''}, found {text!r}")
    path, weight = rest, None
    head, colon, tail = rest.rpartition(":")
    if colon and re.fullmatch(r"[-+]?\d+(\.\d*)?|[-+]?\.\d+", tail):
        if not with_weight:
            raise FusionError(f"{text!r}: validation streams take no weight; weights come from --score")
        path, weight = head, float(tail)
    stream = canonical_stream_name(name)
    return StreamSpec(stream, Path(path), default_weight(stream) if weight is None else weight)


_SPEC_KEYS = {"benchmark", "sample_list", "data_root", "labels", "streams"}


def parse_fusion_config(data: Any, base_dir: Path, source: str) -> FusionSpec:
    """A YAML mapping ``{benchmark?, sample_list?, data_root?, labels?, streams: {name: {path, weight?}}}``.

    Relative paths are relative to the YAML file's folder.
    """
    if not isinstance(data, Mapping):
        raise FusionError(f"{source}: expected a mapping with a 'streams' key, found {type(data).__name__}")
    unknown = set(data) - _SPEC_KEYS
    if unknown:
        raise FusionError(f"{source}: unknown keys {sorted(unknown)}; expected some of {sorted(_SPEC_KEYS)}")
    raw_streams = data.get("streams")
    if not isinstance(raw_streams, Mapping) or not raw_streams:
        raise FusionError(f"{source}: expected 'streams: {{name: {{path: ..., weight: ...}}}}'")
    streams = []
    for name, entry in raw_streams.items():
        stream = canonical_stream_name(str(name))
        if isinstance(entry, str):
            entry = {"path": entry}
        if not isinstance(entry, Mapping) or "path" not in entry or set(entry) - {"path", "weight"}:
            raise FusionError(
                f"{source}: stream {name!r}: expected {{path: FILE, weight: NUMBER}}, found {entry!r}"
            )
        weight = float(entry.get("weight", default_weight(stream)))
        streams.append(StreamSpec(stream, base_dir / str(entry["path"]), weight))

    def optional_path(key: str) -> Path | None:
        return base_dir / str(data[key]) if data.get(key) is not None else None

    _check_unique(streams, source)
    benchmark = get_benchmark(str(data["benchmark"])) if data.get("benchmark") else None
    return FusionSpec(
        tuple(streams),
        benchmark,
        optional_path("sample_list"),
        optional_path("data_root"),
        optional_path("labels"),
    )


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as exc:
        raise FusionError(f"{path}: not valid YAML ({exc})") from exc


def _check_unique(streams: Sequence[StreamSpec], source: str) -> None:
    repeated = sorted(n for n, count in Counter(s.name for s in streams).items() if count > 1)
    if repeated:
        raise FusionError(f"{source}: stream {repeated[0]!r} is given more than once")


# ------------------------------------------------------------------------------------------------- reports


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


@dataclass
class FusionResult:
    title: str
    stem: str  # file-name part of this run's CSV and pictures
    benchmark: Benchmark | None
    top1: dict[str, float]  # row label -> top-1 in %
    per_class: dict[str, np.ndarray]  # column -> (C,) accuracy
    class_counts: np.ndarray
    confusion: np.ndarray  # (C, C) counts of the full fusion
    weights: dict[str, float]


def evaluate_fusion(data: AlignedScores, benchmark: Benchmark | None = None) -> FusionResult:
    """Each stream, the pose-only fusion, the full fusion: top-1 and per-class accuracy."""
    c = data.num_classes
    outputs = dict(data.streams)
    pose = [n for n in POSE_STREAMS if n in data.streams]
    if pose:
        outputs["pose fusion"] = fuse_scores([data.streams[n] for n in pose], [data.weights[n] for n in pose])
    outputs["full fusion"] = fuse_scores(list(data.streams.values()), [data.weights[n] for n in data.streams])
    top1, per_class = {}, {}
    for label, scores in outputs.items():
        predictions = scores.argmax(axis=1)
        top1[label] = 100 * float((predictions == data.labels).mean())
        per_class[label] = per_class_accuracy(predictions, data.labels, c)
    confusion = confusion_matrix(outputs["full fusion"].argmax(axis=1), data.labels, c)
    counts = np.bincount(data.labels, minlength=c)
    title, stem = (benchmark.title, benchmark.folder) if benchmark else ("fusion", "fusion")
    return FusionResult(title, stem, benchmark, top1, per_class, counts, confusion, dict(data.weights))


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


def action_label(index: int, class_names: Sequence[str] | None) -> str:
    return class_names[index] if class_names else f"A{index + 1:03d}"


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


def _new_figure(size: tuple[float, float]) -> Any:
    # Figure + Agg canvas directly: no pyplot global state, no display needed.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=100)
    FigureCanvasAgg(fig)
    return fig


def plot_confusion(path: Path, result: FusionResult, class_names: Sequence[str] | None) -> None:
    """Row-normalised confusion matrix of the full fusion."""
    # Only the classes that occur (as truth or as a prediction): a subset of NTU stays readable.
    shown = np.flatnonzero(result.confusion.sum(axis=0) + result.confusion.sum(axis=1))
    counts = result.confusion[np.ix_(shown, shown)]
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = counts / counts.sum(axis=1, keepdims=True)
    c = len(counts)
    fig = _new_figure((10, 9))
    ax = fig.add_subplot()
    image = ax.imshow(np.nan_to_num(rates), cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
    step = max(1, c // 20)
    ticks = np.arange(0, c, step)
    ax.set_xticks(ticks, [action_label(shown[i], class_names) for i in ticks], rotation=90, fontsize=6)
    ax.set_yticks(ticks, [action_label(shown[i], class_names) for i in ticks], fontsize=6)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{result.title}: full fusion, top-1 {result.top1['full fusion']:.2f}%")
    fig.colorbar(image, ax=ax, fraction=0.046, label="share of the true class")
    fig.tight_layout()
    fig.savefig(path)


def plot_parsing_gain(
    path: Path, result: FusionResult, class_names: Sequence[str] | None, count: int = 20
) -> None:
    """The classes whose top-1 changes most when the parsing stream joins the pose streams."""
    delta = result.per_class["full fusion"] - result.per_class["pose fusion"]
    valid = np.flatnonzero(~np.isnan(delta))
    chosen = valid[np.argsort(-np.abs(delta[valid]), kind="stable")[:count]]
    chosen = chosen[np.argsort(delta[chosen], kind="stable")]
    fig = _new_figure((8, 0.3 * len(chosen) + 1.5))
    ax = fig.add_subplot()
    values = 100 * delta[chosen]
    ax.barh(np.arange(len(chosen)), values, color=["tab:green" if v >= 0 else "tab:red" for v in values])
    ax.set_yticks(np.arange(len(chosen)), [action_label(i, class_names) for i in chosen], fontsize=7)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel("per-class top-1 change, full fusion - pose-only (percentage points)")
    ax.set_title(f"{result.title}: classes most changed by adding parsing")
    fig.tight_layout()
    fig.savefig(path)


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


def parse_table_config(data: Any, base_dir: Path, source: str) -> tuple[dict[str, FusionSpec], Path | None]:
    """``{class_names?: FILE, benchmarks: {NTU60XSub: <fusion config>, ...}}`` -> specs and class names."""
    if (
        not isinstance(data, Mapping)
        or not isinstance(data.get("benchmarks"), Mapping)
        or not data["benchmarks"]
    ):
        raise FusionError(f"{source}: expected 'benchmarks: {{NTU60XSub: {{streams: ...}}, ...}}'")
    unknown = set(data) - {"benchmarks", "class_names"}
    if unknown:
        raise FusionError(
            f"{source}: unknown keys {sorted(unknown)}; expected 'benchmarks' and 'class_names'"
        )
    specs = {}
    for key, entry in data["benchmarks"].items():
        benchmark = get_benchmark(str(key))
        spec = parse_fusion_config(entry, base_dir, f"{source} [{key}]")
        if spec.benchmark not in (None, benchmark):
            raise FusionError(f"{source}: entry {key!r} says 'benchmark: {spec.benchmark.key}'")
        specs[benchmark.key] = replace(spec, benchmark=benchmark)
    class_names = base_dir / str(data["class_names"]) if data.get("class_names") else None
    return specs, class_names


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


# ----------------------------------------------------------------------------------------------------- CLI


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
        spec = parse_fusion_config(_read_yaml(args.config), args.config.parent, str(args.config))
    else:
        spec = FusionSpec(tuple(streams))
    if args.benchmark:
        spec = replace(spec, benchmark=get_benchmark(args.benchmark))
    if any(v is not None for v in (args.sample_list, args.data_root, args.labels)):
        # Names and labels given on the command line replace the config's as a whole.
        spec = replace(spec, sample_list=args.sample_list, data_root=args.data_root, labels=args.labels)
    _check_unique(spec.streams, "command line")
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
        _check_unique(val_streams, "--val-score")
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
                    f"{len(leaked)} validation samples are test samples too (e.g. {_examples(leaked)}); "
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
        specs, class_names = parse_table_config(_read_yaml(args.table), args.table.parent, str(args.table))
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
