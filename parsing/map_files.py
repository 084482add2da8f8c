"""Where parsing maps live: a folder of EPP-Net's ``<name>.npy`` files or a parsing store, one interface.

Both :class:`NpyMaps` and :class:`parsing.store.ParsingStore` offer ``names()``, ``missing(names)``,
``header(name)`` (a :class:`parsing.store.MapHeader` read without the data: the ``.npy`` header and
the file's size, or the store sample's metadata and shard index), ``open(name)`` (a context manager
giving the sample's ``(T, H, W)`` or ``(T, H, W, 1)`` uint8 maps, read lazily), ``write(name, maps)``
(atomic) and ``root`` (where ``failures.txt`` goes). The parsing branch, ``parse`` and the store
commands take either.

A map that is not uint8 ``(T, H, W[, 1])``, or whose file is shorter or longer than its header says,
is a :class:`BadParsingMapError` naming the file (a store's: :class:`parsing.store.CorruptParsingStoreError`
naming the store and the sample), from ``header`` before any work and from ``open`` when met later.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from data.storage import save_npy
from engine.errors import InputError
from parsing.store import MapHeader, ParsingStore, is_parsing_store

_NPY_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


class BadParsingMapError(InputError):
    """A parsing map that is not uint8 ``(T, H, W[, 1])`` or not whole; the message names its file."""


def one_line(err: BaseException) -> str:
    return " ".join(str(err).split())


def check_label_maps(shape: tuple[int, ...], dtype: np.dtype, where: str | Path) -> None:
    """Parsing maps are uint8 ``(T, H, W)`` or ``(T, H, W, 1)`` with T, H, W >= 1; else one error naming ``where``."""
    problem = ""
    if dtype != np.uint8:
        problem = f"dtype {dtype}, expected uint8 labels"
    elif not (len(shape) == 3 or (len(shape) == 4 and shape[3] == 1)):
        problem = f"shape {shape}, expected (frames, height, width, 1) or (frames, height, width)"
    elif min(shape[:3]) < 1:
        problem = f"shape {shape} holds no frame"
    if problem:
        raise BadParsingMapError(f"parsing map {where}: {problem}")


def read_npy_header(path: Path) -> MapHeader:
    """The shape and dtype an ``.npy`` file's header names, checked against the file's size (data unread)."""
    try:
        with open(path, "rb") as file:
            version = np.lib.format.read_magic(file)
            reader = _NPY_HEADER_READERS.get(version)
            if reader is not None:
                shape, _, dtype = reader(file)
                data_start, size = file.tell(), os.fstat(file.fileno()).st_size
    except (ValueError, SyntaxError, TypeError) as err:  # numpy's words for a bad magic string or header
        raise BadParsingMapError(f"parsing map {path}: not a readable .npy file ({one_line(err)})") from None
    if reader is None:
        raise BadParsingMapError(f"parsing map {path}: .npy format version {version[0]}.{version[1]}, "
                                 "expected 1.0 or 2.0")
    check_label_maps(shape, dtype, path)
    expected = data_start + math.prod(shape) * dtype.itemsize
    if size != expected:
        what = "truncated" if size < expected else f"{size - expected} bytes after the array"
        raise BadParsingMapError(f"parsing map {path}: {what}: the file has {size} bytes, its header "
                                 f"({dtype} {shape}) says {expected}")
    return MapHeader(tuple(shape), dtype, path)


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

    def header(self, name: str) -> MapHeader:
        """The sample's shape and dtype from its ``.npy`` header, checked against the file's size."""
        return read_npy_header(self.root / f"{name}.npy")

    @contextmanager
    def open(self, name: str) -> Iterator[np.ndarray]:
        """The sample's maps, memory-mapped: ``(T, H, W, 1)`` uint8; a bad file is an error naming it."""
        path = self.root / f"{name}.npy"
        try:
            maps = np.load(path, mmap_mode="r")
        except (ValueError, EOFError) as err:  # truncated, emptied or rewritten since the check
            raise BadParsingMapError(f"parsing map {path}: not a readable .npy file ({one_line(err)})") from None
        check_label_maps(maps.shape, maps.dtype, path)
        yield maps

    def write(self, name: str, maps: np.ndarray) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        save_npy(self.root / f"{name}.npy", maps)


MapFiles = NpyMaps | ParsingStore


def open_parsing_maps(path: str | Path) -> MapFiles:
    """The maps at ``path``: a parsing store when it holds one, else a folder of ``.npy`` files."""
    if not Path(path).is_dir():
        raise FileNotFoundError(f"parsing folder {path} does not exist")
    return ParsingStore(path) if is_parsing_store(path) else NpyMaps(path)
