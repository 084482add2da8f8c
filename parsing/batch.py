"""What the resumable batch commands share: shards, atomic outputs and the failures log.

A batch walks samples in name order, skips those whose output already exists (outputs only appear
complete, by rename), records a failing sample in ``<out>/failures.txt`` and goes on with the next.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

FAILURES_FILE = "failures.txt"


@dataclass(frozen=True)
class Shard:
    """Sample ``i`` of the sorted list belongs to shard ``i % count``."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ValueError(f"shard index {self.index} is outside 0..{self.count - 1} (count {self.count})")

    def select(self, names: list[str]) -> list[str]:
        return sorted(names)[self.index :: self.count]


def resolve_shard(index: int | None, count: int | None) -> Shard:
    """``--shard-index/--shard-count`` when given, else torchrun's RANK and WORLD_SIZE, else one shard."""
    if (index is None) != (count is None):
        raise ValueError("give both --shard-index and --shard-count, or neither")
    if index is not None and count is not None:
        return Shard(index, count)
    return Shard(int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1")))


@dataclass
class BatchSummary:
    """Names of the samples a batch run wrote, skipped as already done, and failed."""

    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{len(self.done)} written, {len(self.skipped)} already done, {len(self.failed)} failed"


def record_failure(out_dir: Path, name: str, error: BaseException) -> None:
    """Append ``name<TAB>error`` to the failures log; one short write so that shards may share the file."""
    message = f"{type(error).__name__}: {error}".replace("\n", " ")
    log.error("sample %s failed: %s", name, message)
    with open(out_dir / FAILURES_FILE, "a", encoding="utf-8") as f:
        f.write(f"{name}\t{message}\n")


def read_failures(out_dir: str | Path) -> dict[str, str]:
    """The failures log as ``{sample name: last error message}`` (empty when nothing failed)."""
    path = Path(out_dir) / FAILURES_FILE
    if not path.is_file():
        return {}
    failures = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        name, _, message = line.partition("\t")
        failures[name] = message
    return failures


def fresh_partial_dir(final_dir: Path) -> Path:
    """An empty hidden folder beside ``final_dir`` to fill before renaming it into place."""
    partial = final_dir.with_name(f".{final_dir.name}.partial")
    if partial.exists():  # left behind by an interrupted run
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    return partial
