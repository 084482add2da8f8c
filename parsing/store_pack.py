"""``.npy`` parsing maps into a parsing store and back, byte for byte.

    python -m parsing store pack --maps PARSING --out PARSING_STORE [--workers 8]
    python -m parsing store unpack --store PARSING_STORE --out PARSING

Both are resumable batches (``parsing.batch``): samples already in the target are skipped, each
sample appears only complete, a failing one is recorded in the target's ``failures.txt``.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from tqdm import tqdm

from data.storage import atomic_write_bytes
from parsing.batch import BatchSummary, record_failure
from parsing.parse import load_parsing_map
from parsing.store import ParsingStore, npy_file_bytes

JOBS_PER_TASK = 16  # samples a pack worker takes at once: fewer round trips, small enough for a fair share


def pack_sample(store: ParsingStore, npy_path: Path) -> None:
    """Store ``<name>.npy`` as sample ``name``, keeping its header so that unpacking gives the file back."""
    raw = npy_path.read_bytes()
    labels = load_parsing_map(npy_path)
    header = raw[: len(raw) - labels.nbytes]
    try:
        same = npy_file_bytes(header, labels) == raw
    except ValueError:  # the slice took array bytes into the header
        same = False
    if not same:
        raise ValueError(f"{npy_path}: holds more than its array (trailing bytes); unpacking could not give "
                         "the same file back")
    store.write(npy_path.stem, labels, header)


def _pack_job(store_root: Path, npy_path: Path) -> tuple[str, Exception | None]:
    try:
        pack_sample(ParsingStore(store_root), npy_path)
    except Exception as err:  # reported by the caller, which records the sample and goes on
        return npy_path.stem, err
    return npy_path.stem, None


def pack_maps(maps_dir: str | Path, store_root: str | Path, *, workers: int = 1,
              show_progress: bool = True) -> BatchSummary:
    """Every ``maps_dir/<name>.npy`` into the parsing store ``store_root`` (created if needed).

    ``workers`` > 1 packs in that many processes (zstd at a high level is the slow part).
    """
    maps_dir = Path(maps_dir)
    if not maps_dir.is_dir():
        raise FileNotFoundError(f"{maps_dir}: the parsing-maps folder does not exist")
    if workers < 1:
        raise ValueError(f"--workers must be at least 1, got {workers}")
    store = ParsingStore.create(store_root)
    done = store.names()
    summary = BatchSummary()
    todo = []
    for path in sorted(maps_dir.glob("*.npy")):
        if path.stem in done:
            summary.skipped.append(path.stem)
        elif not path.name.startswith("."):
            todo.append(path)
    with tqdm(total=len(todo), desc="packing", unit="sample", disable=not show_progress) as bar:
        for name, error in _run_jobs(store.root, todo, workers):
            if error is None:
                summary.done.append(name)
            else:
                record_failure(store.root, name, error)
                summary.failed.append(name)
            bar.update()
    return summary


def _run_jobs(store_root: Path, paths: list[Path], workers: int) -> Iterator[tuple[str, Exception | None]]:
    if workers == 1:
        yield from (_pack_job(store_root, path) for path in paths)
        return
    # spawn: the parent may hold threads (torch, zarr's event loop) that a forked child would inherit locked
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield from pool.map(_pack_job, [store_root] * len(paths), paths, chunksize=JOBS_PER_TASK)


def unpack_store(store_root: str | Path, out_dir: str | Path, *, show_progress: bool = True) -> BatchSummary:
    """Every sample of the parsing store as ``out_dir/<name>.npy``, the bytes that were packed."""
    store = ParsingStore(store_root)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = BatchSummary()
    for name in tqdm(sorted(store.names()), desc="unpacking", unit="sample", disable=not show_progress):
        target = out_dir / f"{name}.npy"
        if target.is_file():
            summary.skipped.append(name)
            continue
        try:
            atomic_write_bytes(target, store.npy_bytes(name))
        except Exception as err:  # a corrupt sample must not stop the others
            record_failure(out_dir, name, err)
            summary.failed.append(name)
        else:
            summary.done.append(name)
    return summary
