"""The four NTU benchmarks as fusion sees them: reference spellings, test-split sizes, the papers' numbers.

Class counts come from :data:`data.ntu.BENCHMARKS`, the project's one table of split rules.
"""

from __future__ import annotations

from dataclasses import dataclass

from data.ntu import BENCHMARKS as NTU_BENCHMARKS
from fusion.errors import FusionError


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
