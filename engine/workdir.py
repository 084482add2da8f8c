"""A run's work directory: it always describes exactly the run it holds.

* A new run refuses a folder holding another run (``--resume`` continues it, ``--overwrite``
  replaces it), except an earlier start that finished no epoch (no checkpoint, no scores): that is
  cleared, so a corrected rerun is never blocked by a failed start.
* ``--resume`` compares the config with the saved ``config.yaml``: keys that change the numbers
  (optimiser, data, model, seed, schedule, precision) must be equal, ``train.epochs`` may grow, and
  only :data:`NEUTRAL_KEYS` (workers, evaluation batch, logging) may differ.
* One process at a time: the main rank holds an exclusive lock on ``.lock`` for the whole run, and
  temporary files a killed run left behind are removed at the next start.
"""

from __future__ import annotations

import fcntl
import logging
import shutil
import sys
from pathlib import Path
from typing import Any

import yaml

from engine.config import config_to_dict
from engine.distributed import DistInfo, barrier

log = logging.getLogger("engine")

# What the engine writes into a work directory; --overwrite removes exactly these.
RUN_OUTPUTS = ("config.yaml", "log.txt", "metrics.jsonl", "checkpoints", "scores", "tensorboard")
LAST_CHECKPOINT = "checkpoints/last.pt"
LOCK_FILE = ".lock"
# Settings that cannot change the numbers of a run (a resume may change them).
NEUTRAL_KEYS = frozenset({
    "work_dir", "train.num_workers", "train.eval_batch_size", "train.log_interval", "train.pin_memory",
    "train.persistent_workers", "train.prefetch_factor", "data.eval_cache_dir",
})
_HELD_LOCKS: list[Any] = []


class WorkDirError(RuntimeError):
    """Starting a run where one already exists, resuming another run's config, or a busy work dir."""


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists and other values are leaves."""
    if not isinstance(tree, dict):
        return {prefix.rstrip("."): tree}
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        flat.update(flatten(value, f"{prefix}{key}."))
    return flat


def resume_differences(saved: dict[str, Any], config: Any) -> list[str]:
    """The result-changing keys where ``config`` differs from a saved config, as ``key (old -> new)``."""
    now = flatten(yaml.safe_load(yaml.safe_dump(config_to_dict(config), sort_keys=False)))
    before = flatten(saved)
    differing = []
    for key in sorted(set(now) | set(before)):
        old, new = before.get(key, "<absent>"), now.get(key, "<absent>")
        if old == new or key in NEUTRAL_KEYS:
            continue
        if key == "train.epochs" and isinstance(old, int) and isinstance(new, int) and new >= old:
            continue
        differing.append(f"{key} ({old!r} -> {new!r})")
    return differing


def check_resume(work_dir: Path, config: Any) -> None:
    """Refuse a ``--resume`` whose config would change the numbers of the run in ``work_dir``."""
    if not (work_dir / LAST_CHECKPOINT).is_file():
        raise WorkDirError(f"--resume: {work_dir / LAST_CHECKPOINT} does not exist; nothing to resume")
    saved_path = work_dir / "config.yaml"
    try:
        saved = yaml.safe_load(saved_path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise WorkDirError(f"--resume: cannot read {saved_path} to check the config ({err})") from err
    differing = resume_differences(saved if isinstance(saved, dict) else {}, config)
    if differing:
        raise WorkDirError(
            f"--resume: the config differs from {saved_path} in keys that change the result: "
            + ", ".join(differing)
            + "; resume with the saved values, or start a new run (--work-dir DIR or --overwrite)"
        )


def lock_work_dir(work_dir: Path, info: DistInfo) -> None:
    """Take the work dir's exclusive lock for the rest of this process (main rank only)."""
    if not info.is_main:
        return
    work_dir.mkdir(parents=True, exist_ok=True)
    handle = open(work_dir / LOCK_FILE, "a")  # noqa: SIM115 - held until the process ends
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise WorkDirError(f"work dir {work_dir} is in use by another run (it holds {work_dir / LOCK_FILE}); "
                           "wait for it or choose another --work-dir") from None
    _HELD_LOCKS.append(handle)


def release_locks() -> None:
    while _HELD_LOCKS:
        _HELD_LOCKS.pop().close()


def remove_leftovers(work_dir: Path) -> None:
    """Temporary files of writes a killed run did not finish (``.<name>.<...>.tmp`` and the like)."""
    for folder in (work_dir, work_dir / "checkpoints", work_dir / "scores"):
        if folder.is_dir():
            for leftover in folder.glob(".*.tmp*"):
                leftover.unlink(missing_ok=True)


def prepare_work_dir(work_dir: Path, info: DistInfo, *, resume: bool, overwrite: bool, eval_only: bool) -> None:
    """Refuse to mix a new run into an old one; never ask interactively. Call with the lock held."""
    existing = [name for name in RUN_OUTPUTS if (work_dir / name).exists()]
    finished_an_epoch = (work_dir / LAST_CHECKPOINT).is_file() or (work_dir / "scores").exists()
    if resume or eval_only:
        pass
    elif existing and finished_an_epoch and not overwrite:
        raise WorkDirError(
            f"work dir {work_dir} already holds a run ({', '.join(existing)}); "
            "pass --resume to continue it or --overwrite to replace it"
        )
    elif existing and info.is_main:
        if not overwrite:
            print(f"work dir {work_dir}: clearing an earlier start that finished no epoch", file=sys.stderr)
        for name in existing:
            target = work_dir / name
            shutil.rmtree(target) if target.is_dir() else target.unlink()
    if info.is_main:
        remove_leftovers(work_dir)
    barrier(info)
    work_dir.mkdir(parents=True, exist_ok=True)


def setup_logging(work_dir: Path, info: DistInfo) -> None:
    log.handlers.clear()
    log.propagate = False
    log.setLevel(logging.INFO if info.is_main else logging.WARNING)
    fmt = logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S")
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(fmt)
    log.addHandler(console)
    if info.is_main:
        to_file = logging.FileHandler(work_dir / "log.txt")
        to_file.setFormatter(fmt)
        log.addHandler(to_file)
