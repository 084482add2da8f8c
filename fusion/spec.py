"""What to fuse: streams with weights and where names and labels come from, and their YAML / flag forms."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from fusion.benchmarks import Benchmark, get_benchmark
from fusion.errors import FusionError
from fusion.streams import EPPNET_WEIGHTS, canonical_stream_name, default_weight


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
    parsing_pairs: Path | None = None  # IPP-Net's Match_txt pair file re-ordering the parsing stream
    split: str = "test"  # what sample_list lists: "test" (in the benchmark's split order) or "validation"


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


def parse_stream_arg(
    text: str, *, with_weight: bool, defaults: Mapping[str, float] = EPPNET_WEIGHTS
) -> StreamSpec:
    """``NAME=PATH[:WEIGHT]`` (``--score``; no weight: the preset's ``defaults``) or ``NAME=PATH`` (``--val-score``)."""
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
    return StreamSpec(stream, Path(path), default_weight(stream, defaults) if weight is None else weight)


_SPEC_KEYS = {"benchmark", "sample_list", "data_root", "labels", "streams"}


def parse_fusion_config(
    data: Any, base_dir: Path, source: str, defaults: Mapping[str, float] = EPPNET_WEIGHTS
) -> FusionSpec:
    """A YAML mapping ``{benchmark?, sample_list?, data_root?, labels?, streams: {name: {path, weight?}}}``.

    Relative paths are relative to the YAML file's folder; a stream without a weight gets ``defaults``'.
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
        weight = float(entry.get("weight", default_weight(stream, defaults)))
        streams.append(StreamSpec(stream, base_dir / str(entry["path"]), weight))

    def optional_path(key: str) -> Path | None:
        return base_dir / str(data[key]) if data.get(key) is not None else None

    check_unique(streams, source)
    benchmark = get_benchmark(str(data["benchmark"])) if data.get("benchmark") else None
    return FusionSpec(
        tuple(streams),
        benchmark,
        optional_path("sample_list"),
        optional_path("data_root"),
        optional_path("labels"),
    )


def read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as exc:
        raise FusionError(f"{path}: not valid YAML ({exc})") from exc


def check_unique(streams: Sequence[StreamSpec], source: str) -> None:
    repeated = sorted(n for n, count in Counter(s.name for s in streams).items() if count > 1)
    if repeated:
        raise FusionError(f"{source}: stream {repeated[0]!r} is given more than once")


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
