"""NTU RGB+D sample names and the four benchmarks' split rules (REFERENCE.md §1, §3.6).

Only facts live here, so every module can import them; the command line is ``data/ntu/__main__.py``:

    python -m data.ntu prepare --skeletons DIR [DIR ...] --out ROOT \\
        --benchmarks ntu60-xsub,ntu60-xview,ntu120-xsub,ntu120-xset [--workers N] [--on-error skip]
    python -m data.ntu export-npz --prepared ROOT --benchmark ntu60-xsub --out NTU60_CS.npz

``prepare`` writes ``ROOT/<benchmark>/<split>/`` as described in docs/ARCHITECTURE.md (read it with
:func:`data.storage.open_split`) and ``ROOT/report.json``; ``export-npz`` writes the reference's
padded interchange file (§3.7).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_NAME = re.compile(r"S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})")


@dataclass(frozen=True)
class NtuName:
    """The fields of a sample name ``SsssCcccPpppRrrrAaaa`` (all 1-based)."""

    setup: int
    camera: int
    subject: int
    replication: int
    action: int

    @property
    def label(self) -> int:
        """0-based action label."""
        return self.action - 1


def parse_name(name: str) -> NtuName:
    """``"S001C002P003R002A013"`` -> ``NtuName(1, 2, 3, 2, 13)``; ValueError for anything else."""
    match = _NAME.fullmatch(name)
    if match is None:
        raise ValueError(
            f"{name!r} is not an NTU sample name: expected SsssCcccPpppRrrrAaaa, e.g. S001C002P003R002A013"
        )
    fields = NtuName(*(int(group) for group in match.groups()))
    if not (
        1 <= fields.setup <= 32
        and 1 <= fields.camera <= 3
        and fields.subject >= 1
        and fields.replication >= 1
        and 1 <= fields.action <= 120
    ):
        raise ValueError(
            f"{name!r}: expected setup 1-32, camera 1-3, subject and replication >= 1, action 1-120"
        )
    return fields


@dataclass(frozen=True)
class Benchmark:
    """One benchmark's rules: which samples belong (setups, classes) and how they split (§1)."""

    name: str
    num_classes: int
    max_setup: int
    key: str  # the NtuName field that decides the split: "subject", "camera" or "setup"
    train_ids: tuple[int, ...]
    test_ids: tuple[int, ...]
    copy_single_actor: bool  # §3.5: NTU120 copies actor 1 into the empty second slot, NTU60 leaves zeros
    npz_name: str  # the reference's interchange file name (§3.7)

    def includes(self, name: NtuName) -> bool:
        return name.setup <= self.max_setup and name.action <= self.num_classes

    def ids(self, split: str) -> tuple[int, ...]:
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', found {split!r}")
        return self.train_ids if split == "train" else self.test_ids


_NTU60_XSUB_TRAIN = (1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38)
_NTU120_XSUB_TRAIN = _NTU60_XSUB_TRAIN + (
    45,
    46,
    47,
    49,
    50,
    52,
    53,
    54,
    55,
    56,
    57,
    58,
    59,
    70,
    74,
    78,
    80,
    81,
    82,
    83,
    84,
    85,
    86,
    89,
    91,
    92,
    93,
    94,
    95,
    97,
    98,
    100,
    103,
)

BENCHMARKS: dict[str, Benchmark] = {
    b.name: b
    for b in (
        Benchmark(
            "ntu60-xsub",
            60,
            17,
            "subject",
            _NTU60_XSUB_TRAIN,
            (3, 6, 7, 10, 11, 12, 20, 21, 22, 23, 24, 26, 29, 30, 32, 33, 36, 37, 39, 40),
            False,
            "NTU60_CS.npz",
        ),
        Benchmark("ntu60-xview", 60, 17, "camera", (2, 3), (1,), False, "NTU60_CV.npz"),
        Benchmark(
            "ntu120-xsub",
            120,
            32,
            "subject",
            _NTU120_XSUB_TRAIN,
            tuple(i for i in range(1, 107) if i not in _NTU120_XSUB_TRAIN),
            True,
            "NTU120_CSub.npz",
        ),
        Benchmark(
            "ntu120-xset",
            120,
            32,
            "setup",
            tuple(range(2, 33, 2)),
            tuple(range(1, 33, 2)),
            True,
            "NTU120_CSet.npz",
        ),
    )
}


def class_count(benchmark: str, explicit: int = 0, *, key: str = "model.num_classes") -> int:
    """The model's number of classes: ``explicit`` when set, else the benchmark's (60 or 120)."""
    if explicit:
        return explicit
    if benchmark not in BENCHMARKS:
        from engine.config import ConfigError

        raise ConfigError(f"data.benchmark must be one of {', '.join(BENCHMARKS)} (or set {key}), found {benchmark!r}")
    return BENCHMARKS[benchmark].num_classes


def split_order(names: Iterable[str], benchmark: Benchmark, split: str) -> list[str]:
    """The names of ``split`` in the reference order (§3.6).

    Grouped by the benchmark's ID list in list order; within one ID, in sorted-name order. Names
    outside the benchmark (setup, classes) or whose ID is in neither list are left out.
    """
    position = {id_: k for k, id_ in enumerate(benchmark.ids(split))}
    chosen = []
    for name in sorted(names):
        fields = parse_name(name)
        id_ = getattr(fields, benchmark.key)
        if benchmark.includes(fields) and id_ in position:
            chosen.append((position[id_], name))
    chosen.sort(key=lambda item: item[0])  # stable: sorted names stay sorted within one ID
    return [name for _, name in chosen]
