"""``prepare``: folders of ``.skeleton`` files -> prepared benchmark splits, on all cores, resumable.

1. Parse and preprocess (data.skeleton, data.preprocess) every file that some chosen benchmark needs
   and that is not cached yet, in worker processes. Finished samples are cached in shards under
   ``ROOT/.cache/<version>/`` (a raw float32 file, then its JSON index, each renamed into place), so
   a run that is interrupted or stops at a bad file resumes without parsing those samples again. A
   cached sample is reused while its file keeps the same size and modification time.
2. Write ``ROOT/report.json``: missing-skeleton samples (every frame has zero bodies; excluded), bad
   files with their errors, and every sample's denoising decisions.
3. For each benchmark and split, stream the samples in the reference order into ``ROOT/<b>/<split>/``
   (data.storage). Memory holds one sample's frames plus a small record per file.
"""

from __future__ import annotations

import ctypes
import json
import multiprocessing
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from data.ntu import BENCHMARKS, Benchmark, parse_name, split_order
from data.preprocess import preprocess, second_actor_layout
from data.skeleton import SkeletonError, read_skeleton
from data.storage import FRAME_WIDTH, SPLITS, NpyStreamWriter, atomic_write_bytes, save_npy

CACHE_VERSION = "v1"  # bump when preprocessing changes, so that older cached samples are not reused
SKELETON_SUFFIX = ".skeleton"


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A ``.skeleton`` file and the stat fields that tell whether its cached result is current."""

    name: str
    path: str
    size: int
    mtime_ns: int


@dataclass
class SampleResult:
    """A worker's answer for one file: status "ok" (with frames (T, 75|150) float32), "missing" or "bad"."""

    name: str
    status: str
    frames: np.ndarray | None = None
    log: dict[str, Any] = field(default_factory=dict)
    error: SkeletonError | None = None


# glibc mallopt parameters. Parsing one file allocates a few MB of short-lived buffers; with the default
# (dynamic) settings glibc hands that memory back to the kernel after every file and then takes ~400
# page faults to get it again, which costs as much as the parsing itself. Keeping freed memory in the
# heap (up to 64 MB) removes them; the peak memory of a process does not change.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def keep_freed_memory() -> None:
    """Make this process's allocator keep freed memory for reuse (glibc only; a no-op elsewhere)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError):
        return
    mallopt(_M_MMAP_THRESHOLD, 32 << 20)  # glibc's maximum; the threshold for blocks that bypass the heap
    mallopt(_M_TRIM_THRESHOLD, 64 << 20)


def process_file(source: SourceFile) -> SampleResult:
    """Read and preprocess one file; never raises for a bad file (the error comes back in the result)."""
    try:
        raw = read_skeleton(source.path)
        if raw.num_frames == 0:
            return SampleResult(source.name, "missing", log={"empty_frames_dropped": raw.declared_frames})
        frames, log = preprocess(raw)
        return SampleResult(source.name, "ok", frames, log)
    except SkeletonError as err:
        return SampleResult(source.name, "bad", error=err)
    except OSError as err:
        return SampleResult(source.name, "bad", error=SkeletonError(source.path, f"cannot be read: {err}"))


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """Where a finished sample lies: rows x width float32 values at ``offset`` (in values) of a shard."""

    shard: str
    size: int
    mtime_ns: int
    status: str
    offset: int
    rows: int
    width: int


class ParseCache:
    """Finished samples in shards ``<shard>.f32`` (float32 frames) + ``<shard>.json`` (their records).

    A shard counts once its JSON exists; the JSON is renamed into place after the frames, so a killed
    run leaves at worst an orphan ``.f32``, which is removed on the next start.
    """

    def __init__(self, folder: Path, shard_size: int) -> None:
        self.folder = folder
        self.shard_size = shard_size
        folder.mkdir(parents=True, exist_ok=True)
        indexed = {p.stem for p in folder.glob("*.json")}
        for leftover in [*folder.glob("*.tmp"), *(p for p in folder.glob("*.f32") if p.stem not in indexed)]:
            leftover.unlink()
        self.entries: dict[str, CacheEntry] = {}
        for shard, records in self.shards():  # shard names sort by creation time: later results win
            for r in records:
                self.entries[r["name"]] = CacheEntry(
                    shard, r["size"], r["mtime_ns"], r["status"], r["offset"], r["rows"], r["width"]
                )
        self._pending: list[tuple[SourceFile, SampleResult]] = []
        self._files: dict[str, Any] = {}

    def shards(self) -> Iterator[tuple[str, list[dict[str, Any]]]]:
        """Each shard's name and records, one shard in memory at a time."""
        for index in sorted(self.folder.glob("*.json")):
            yield index.stem, json.loads(index.read_text())

    def current(self, source: SourceFile) -> CacheEntry | None:
        entry = self.entries.get(source.name)
        if entry is None or (entry.size, entry.mtime_ns) != (source.size, source.mtime_ns):
            return None
        return entry

    def add(self, source: SourceFile, result: SampleResult) -> None:
        self._pending.append((source, result))
        if len(self._pending) >= self.shard_size:
            self.flush()

    def flush(self) -> None:
        """Write the pending samples as one shard."""
        if not self._pending:
            return
        shard = f"{time.time_ns():020d}-{os.getpid()}"
        data_path = self.folder / f"{shard}.f32"
        records, offset = [], 0
        with open(data_path.with_name(data_path.name + ".tmp"), "wb") as f:
            for source, result in self._pending:
                rows, width = (0, 0) if result.frames is None else result.frames.shape
                if result.frames is not None:
                    f.write(np.ascontiguousarray(result.frames, dtype=np.float32).data)
                records.append(
                    {
                        "name": source.name,
                        "size": source.size,
                        "mtime_ns": source.mtime_ns,
                        "status": result.status,
                        "offset": offset,
                        "rows": rows,
                        "width": width,
                        "log": result.log,
                    }
                )
                offset += rows * width
        os.replace(data_path.with_name(data_path.name + ".tmp"), data_path)
        atomic_write_bytes(self.folder / f"{shard}.json", json.dumps(records).encode())
        for r in records:
            self.entries[r["name"]] = CacheEntry(
                shard, r["size"], r["mtime_ns"], r["status"], r["offset"], r["rows"], r["width"]
            )
        self._pending.clear()

    def read(self, entry: CacheEntry) -> np.ndarray:
        """The cached (rows, width) float32 frames of ``entry``."""
        f = self._files.get(entry.shard)
        if f is None:
            f = self._files[entry.shard] = open(self.folder / f"{entry.shard}.f32", "rb")
        f.seek(entry.offset * 4)
        count = entry.rows * entry.width
        return np.frombuffer(f.read(count * 4), dtype=np.float32, count=count).reshape(
            entry.rows, entry.width
        )

    def close(self) -> None:
        for f in self._files.values():
            f.close()
        self._files.clear()


@dataclass
class PrepareSummary:
    """What ``prepare`` did; ``sizes`` maps "benchmark/split" to its number of samples."""

    files: int
    parsed: int
    ok: int
    missing: int
    bad: int
    report: Path
    sizes: dict[str, int]

    def __str__(self) -> str:
        lines = [
            f"{self.files} files ({self.files - self.parsed} from the cache): {self.ok} samples, "
            f"{self.missing} missing skeletons, {self.bad} bad files; report: {self.report}"
        ]
        lines += [f"  {split}: {n} samples" for split, n in self.sizes.items()]
        return "\n".join(lines)


def find_sources(
    skeleton_dirs: Iterable[str | Path], benchmarks: Sequence[Benchmark], on_error: str
) -> tuple[list[SourceFile], list[dict[str, str]]]:
    """The ``.skeleton`` files some benchmark needs, sorted by name, and files with non-NTU names.

    A name found in two folders is an error: which file is meant would be a guess.
    """
    found: dict[str, SourceFile] = {}
    bad = []
    for folder in skeleton_dirs:
        if not Path(folder).is_dir():
            raise FileNotFoundError(f"--skeletons {folder}: not a folder")
        with os.scandir(folder) as it:
            for entry in it:
                if not entry.name.endswith(SKELETON_SUFFIX) or not entry.is_file():
                    continue
                name = entry.name[: -len(SKELETON_SUFFIX)]
                try:
                    fields = parse_name(name)
                except ValueError as err:
                    if on_error == "raise":
                        raise SkeletonError(entry.path, str(err)) from None
                    bad.append({"name": name, "path": entry.path, "error": str(err)})
                    continue
                if not any(b.includes(fields) for b in benchmarks):
                    continue
                if name in found:
                    raise ValueError(f"{name} is in two folders: {found[name].path} and {entry.path}")
                stat = entry.stat()
                found[name] = SourceFile(name, entry.path, stat.st_size, stat.st_mtime_ns)
    return [found[name] for name in sorted(found)], bad


def _parse(
    todo: list[SourceFile], cache: ParseCache, on_error: str, workers: int, progress: bool
) -> list[dict[str, str]]:
    """Parse ``todo`` into the cache; returns the bad files (or raises the first under "raise")."""
    bad = []
    by_name = {source.name: source for source in todo}
    pool = multiprocessing.Pool(workers, keep_freed_memory) if workers > 1 and len(todo) > 1 else None
    bar = tqdm(total=len(todo), desc="parsing .skeleton files", unit="file", disable=not progress)
    try:
        results = (
            map(process_file, todo) if pool is None else pool.imap_unordered(process_file, todo, chunksize=8)
        )
        for result in results:
            if result.status == "bad":
                if on_error == "raise":
                    raise result.error
                bad.append(
                    {"name": result.name, "path": by_name[result.name].path, "error": str(result.error)}
                )
            else:
                cache.add(by_name[result.name], result)
            bar.update()
    finally:
        cache.flush()  # whatever finished is kept, also on an error or Ctrl-C
        bar.close()
        if pool is not None:
            pool.terminate()
            pool.join()
    return bad


def _write_report(
    path: Path,
    cache: ParseCache,
    entries: dict[str, CacheEntry],
    bad: list[dict[str, str]],
    summary: dict[str, Any],
) -> None:
    """report.json, streamed shard by shard so that the per-sample logs are never all in memory."""
    missing = sorted(name for name, entry in entries.items() if entry.status == "missing")
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        f.write(f'{{\n"summary": {json.dumps(summary)},\n"missing_skeletons": {json.dumps(missing)},\n')
        f.write(f'"bad_files": {json.dumps(sorted(bad, key=lambda b: b["name"]), indent=1)},\n"samples": {{')
        first = True
        for shard, records in cache.shards():
            for r in sorted(records, key=lambda r: r["name"]):
                entry = entries.get(r["name"])
                if entry is None or entry.shard != shard or not r["log"]:
                    continue
                f.write(("\n" if first else ",\n") + f"{json.dumps(r['name'])}: {json.dumps(r['log'])}")
                first = False
        f.write("\n}\n}\n")
    os.replace(tmp, path)


def _write_benchmark(
    root: Path, benchmark: Benchmark, entries: dict[str, CacheEntry], cache: ParseCache, progress: bool
) -> dict[str, int]:
    """Both splits of ``benchmark``; meta.json is removed first and written last, so that a folder with a
    meta.json is complete."""
    members = [
        name
        for name, entry in entries.items()
        if entry.status == "ok" and benchmark.includes(parse_name(name))
    ]
    max_frames = max((entries[name].rows for name in members), default=0)
    sizes = {}
    for split in SPLITS:
        order = split_order(members, benchmark, split)
        folder = root / benchmark.name / split
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "meta.json").unlink(missing_ok=True)
        offsets = np.zeros(len(order) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([entries[name].rows for name in order], dtype=np.int64)
        with NpyStreamWriter(folder / "frames.npy", (int(offsets[-1]), FRAME_WIDTH), np.float32) as writer:
            for name in tqdm(
                order, desc=f"writing {benchmark.name}/{split}", unit="sample", disable=not progress
            ):
                writer.write(second_actor_layout(cache.read(entries[name]), benchmark.copy_single_actor))
        save_npy(folder / "offsets.npy", offsets)
        save_npy(folder / "labels.npy", np.array([parse_name(name).label for name in order], dtype=np.int64))
        atomic_write_bytes(folder / "names.txt", "".join(f"{name}\n" for name in order).encode())
        meta = {
            "benchmark": benchmark.name,
            "split": split,
            "num_classes": benchmark.num_classes,
            "num_samples": len(order),
            "max_frames": max_frames,
        }
        atomic_write_bytes(folder / "meta.json", (json.dumps(meta, indent=2) + "\n").encode())
        sizes[f"{benchmark.name}/{split}"] = len(order)
    return sizes


def prepare(
    skeleton_dirs: Iterable[str | Path],
    out: str | Path,
    benchmarks: Iterable[str] = tuple(BENCHMARKS),
    *,
    on_error: str = "raise",
    workers: int | None = None,
    shard_size: int = 256,
    progress: bool = True,
) -> PrepareSummary:
    """Prepare ``benchmarks`` (names of ``data.ntu.BENCHMARKS``) from ``.skeleton`` folders into ``out``.

    ``on_error="raise"`` stops at the first bad file with its :class:`SkeletonError` (finished samples
    stay cached); ``"skip"`` records it in report.json and goes on. ``workers`` defaults to all cores.
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', found {on_error!r}")
    chosen = []
    for name in benchmarks:
        if name not in BENCHMARKS:
            raise ValueError(f"unknown benchmark {name!r}; expected one of {', '.join(BENCHMARKS)}")
        chosen.append(BENCHMARKS[name])
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sources, bad = find_sources(skeleton_dirs, chosen, on_error)
    misnamed = len(bad)
    cache = ParseCache(out / ".cache" / CACHE_VERSION, shard_size)
    try:
        todo = [source for source in sources if cache.current(source) is None]
        bad += _parse(todo, cache, on_error, workers or os.cpu_count() or 1, progress)
        entries = {source.name: entry for source in sources if (entry := cache.current(source)) is not None}
        statuses = [entry.status for entry in entries.values()]
        summary = PrepareSummary(
            files=len(sources) + misnamed,
            parsed=len(todo),
            ok=statuses.count("ok"),
            missing=statuses.count("missing"),
            bad=len(bad),
            report=out / "report.json",
            sizes={},
        )
        _write_report(
            summary.report,
            cache,
            entries,
            bad,
            {
                "files": summary.files,
                "parsed_now": summary.parsed,
                "samples": summary.ok,
                "missing_skeletons": summary.missing,
                "bad_files": summary.bad,
                "benchmarks": [b.name for b in chosen],
            },
        )
        for benchmark in chosen:
            summary.sizes.update(_write_benchmark(out, benchmark, entries, cache, progress))
    finally:
        cache.close()
    return summary
