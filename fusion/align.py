"""Score files onto one sample order: naming ``test_i`` keys, checking labels, aligning streams by name.

Unlike the reference script, which adds score files up by position, streams are aligned by sample name:
files keyed ``test_0, test_1, ...`` (CTR-GCN) are first named through the split's sample list, whose
``i``-th line is the name of ``test_i``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.scores import load_score_matrix
from fusion.errors import FusionError
from fusion.order import check_benchmark_order, check_named_order
from fusion.pairs import apply_pairs, check_pairs_agree, read_pair_file
from fusion.spec import AlignedScores, FusionSpec, StreamScores
from fusion.streams import PARSING_STREAM

NTU_NAME = re.compile(r"S\d{3}C\d{3}P\d{3}R\d{3}A\d{3}")
NTU_NAMES = re.compile(rf"(?:{NTU_NAME.pattern}\n)*")
POSITIONAL_PREFIX = "test_"


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


def examples(items: set[str]) -> str:
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
        raise FusionError(f"{order_source}: repeats sample names, e.g. {examples(dupes)}")
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
                f"{len(missing)} of {len(order)} expected are missing (e.g. {examples(missing)}), "
                f"{len(extra)} are not expected (e.g. {examples(extra)})"
            )
        index = np.fromiter((position[n] for n in order), dtype=np.intp, count=len(order))
        aligned[name] = stream.scores[index]
    return order, aligned


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
    if spec.parsing_pairs is not None and all(s.name != PARSING_STREAM for s in spec.streams):
        raise FusionError(f"--parsing-pairs {spec.parsing_pairs}: there is no parsing stream to re-order")
    loaded, named = {}, {}
    for stream in spec.streams:
        keys, matrix = load_score_matrix(stream.path)
        pairs_apply = stream.name == PARSING_STREAM and spec.parsing_pairs is not None
        if not pairs_apply and not any(k.startswith(POSITIONAL_PREFIX) for k in keys):
            named[str(stream.path)] = keys  # keyed by name, in the order the file lists them
        if stream.name == PARSING_STREAM and spec.parsing_pairs is not None:
            source = f"{stream.path} with {spec.parsing_pairs}"
            named = not all(k.startswith(POSITIONAL_PREFIX) for k in keys)
            keys, matrix = apply_pairs(keys, matrix, read_pair_file(spec.parsing_pairs), source)
            if named and samples is not None:
                check_pairs_agree(keys, samples.names, source)
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
    if spec.sample_list is not None:  # a names file orders rows by position: its order must be the known one
        if spec.benchmark is not None and spec.split == "test":
            check_benchmark_order(names, str(spec.sample_list), spec.benchmark)
        else:
            check_named_order(names, str(spec.sample_list), named)
    return result
