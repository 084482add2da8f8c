"""Where parsing maps live: a folder of EPP-Net's ``<name>.npy`` files or a parsing store, one interface.

Both :class:`NpyMaps` and :class:`parsing.store.ParsingStore` offer ``names()``, ``missing(names)``,
``open(name)`` (a context manager giving the sample's ``(T, H, W)`` or ``(T, H, W, 1)`` uint8 maps,
read lazily), ``write(name, maps)`` (atomic) and ``root`` (where ``failures.txt`` goes). The
parsing branch, ``parse`` and the store commands take either.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from data.storage import save_npy
from parsing.store import ParsingStore, is_parsing_store


class NpyMaps:
    """A folder of ``<name>.npy`` parsing maps, uint8 ``(T, H, W, 1)``."""

    description = "folder of <name>.npy parsing maps"

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def names(self) -> set[str]:
        """Names of the samples with a map (one directory listing)."""
        with os.scandir(self.root) as entries:
            return {e.name[: -len(".npy")] for e in entries if e.name.endswith(".npy") and not e.name.startswith(".")}

    def missing(self, names: Iterable[str]) -> list[str]:
        """The names, in order, that have no map."""
        present = self.names()
        return [name for name in names if name not in present]

    @contextmanager
    def open(self, name: str) -> Iterator[np.ndarray]:
        """The sample's maps, memory-mapped: ``(T, H, W, 1)`` uint8."""
        yield np.load(self.root / f"{name}.npy", mmap_mode="r")

    def write(self, name: str, maps: np.ndarray) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        save_npy(self.root / f"{name}.npy", maps)


MapFiles = NpyMaps | ParsingStore


def open_parsing_maps(path: str | Path) -> MapFiles:
    """The maps at ``path``: a parsing store when it holds one, else a folder of ``.npy`` files."""
    if not Path(path).is_dir():
        raise FileNotFoundError(f"parsing folder {path} does not exist")
    return ParsingStore(path) if is_parsing_store(path) else NpyMaps(path)
