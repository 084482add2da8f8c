"""The parsing store: every sample's parsing maps in one zarr v3 group, one compressed chunk per frame.

On disk (the zarr v3 format, so zarr-python, tensorstore or any zarr v3 reader opens it)::

    STORE/zarr.json              the root group; attribute ``parsing_store`` (this layout's version)
    STORE/<name>/zarr.json       one array per sample: uint8 (T, H, W), attribute ``npy_header``
    STORE/<name>/c.0.0.0         its one shard file: T zstd chunks (one per frame, crc32c each), index at the end
    STORE/.partial/<name>/       a sample being written, renamed to STORE/<name> once complete
    STORE/failures.txt           samples that failed to pack or parse (parsing.batch)

A sample appears only complete (it is written aside and renamed into place), so several processes or
machines may write different samples into one store and read it at the same time, and a killed
writer leaves nothing but a ``.partial`` folder that the next write of that sample replaces.
``npy_header`` keeps the header of the sample's ``.npy`` file, so that unpacking gives the same bytes.

Samples are written through zarr-python. They are read through :class:`StoredMaps`, which follows
the sharding codec's specification (zarr-specs ``v3/codecs/sharding-indexed``) for this layout only:
zarr-python (3.1) takes about 2 ms to read one frame, most of it in its asynchronous machinery,
against 0.06 ms to decode it, which would make the loader slower than from ``.npy`` files. Every
chunk and the shard index carry a crc32c, checked on each read; the tests read both ways.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numcodecs
import numpy as np

from engine.errors import InputError

STORE_VERSION = 1
ZSTD_LEVEL = 9  # 35-40x smaller than .npy on the real fixture; level 3 is 10 % larger and writes 30 % faster
SHARD_KEY = "c.0.0.0"  # the chunk key of the one shard of a 3-D array, chunk_key_encoding "default" with "."
PARTIAL_DIR = ".partial"
_EMPTY = 2**64 - 1  # the sharding index's offset and length of a chunk that holds only the fill value
_ZSTD = numcodecs.Zstd()


class CorruptParsingStoreError(InputError):
    """A sample's shard or metadata does not decode: the message names the store, the sample and the frame."""


@dataclass(frozen=True)
class MapHeader:
    """One sample's parsing maps as their header gives them, the data unread (``header(name)`` of
    ``parsing.map_files.NpyMaps`` and :class:`ParsingStore`)."""

    shape: tuple[int, ...]  # (T, H, W) or (T, H, W, 1)
    dtype: np.dtype
    path: Path  # the .npy file, or the store's sample folder

    @property
    def frame_size(self) -> tuple[int, int]:
        return self.shape[1], self.shape[2]


def is_parsing_store(path: str | Path) -> bool:
    """Whether ``path`` is a folder holding a parsing store (its root ``zarr.json``)."""
    return (Path(path) / "zarr.json").is_file()


def _npy_layout(npy_header: bytes, labels_shape: tuple[int, ...]) -> tuple[tuple[int, ...], bool]:
    """The shape and Fortran order an ``.npy`` header names; it must hold uint8 labels of ``labels_shape``."""
    header = io.BytesIO(npy_header)
    readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    try:
        shape, fortran_order, dtype = readers[np.lib.format.read_magic(header)](header)
    except (KeyError, ValueError) as err:
        raise ValueError(f"not an .npy header of version 1.0 or 2.0 ({err})") from err
    if dtype != np.uint8 or int(np.prod(shape)) != int(np.prod(labels_shape)) or header.read():
        raise ValueError(f"the .npy header names {dtype} {shape}, which does not hold labels {labels_shape}")
    return shape, fortran_order


def npy_file_bytes(npy_header: bytes, labels: np.ndarray) -> bytes:
    """The ``.npy`` file of ``(T, H, W)`` labels under its original header: the shape and order it names."""
    shape, fortran_order = _npy_layout(npy_header, labels.shape)
    return npy_header + labels.reshape(shape).tobytes(order="F" if fortran_order else "C")


def default_npy_header(maps: np.ndarray) -> bytes:
    """The header ``np.save`` writes for ``maps``."""
    buffer = io.BytesIO()
    np.save(buffer, maps)
    return buffer.getvalue()[: buffer.tell() - maps.nbytes]


class ParsingStore:
    """A parsing store at ``root`` (see the module docstring); :meth:`create` makes one.

    The same interface as :class:`parsing.map_files.NpyMaps`: :meth:`names`, :meth:`missing`,
    :meth:`open`, :meth:`write`. Holds no open file, so it can be sent to loader workers.
    """

    description = "parsing store"

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        meta_path = self.root / "zarr.json"
        try:
            meta = json.loads(meta_path.read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"{self.root}: not a parsing store (no zarr.json)") from None
        except (OSError, ValueError) as err:
            raise ValueError(f"{meta_path}: not readable JSON ({err})") from err
        is_group = isinstance(meta, dict) and meta.get("node_type") == "group"
        version = meta.get("attributes", {}).get("parsing_store") if is_group else None
        if version != STORE_VERSION:
            raise ValueError(f"{meta_path}: not a parsing store of version {STORE_VERSION} "
                             f"(a zarr group with attribute parsing_store: {STORE_VERSION}), found {version!r}")

    @classmethod
    def create(cls, root: str | Path) -> ParsingStore:
        """Open the store at ``root``, creating it when the folder is missing or empty.

        The root ``zarr.json`` is written aside and renamed into place, so that shards starting
        together (torchrun) may all create the store.
        """
        import zarr  # here and in write only: importing zarr takes a second, reading needs none of it

        root = Path(root)
        if not is_parsing_store(root):
            if root.is_dir() and any(p.name not in (PARTIAL_DIR, "failures.txt") for p in root.iterdir()):
                raise FileExistsError(f"{root}: the folder holds other files; a parsing store needs its own folder")
            partial = root / PARTIAL_DIR / f"root.{os.getpid()}"
            zarr.create_group(store=zarr.storage.LocalStore(partial), zarr_format=3, overwrite=True,
                              attributes={"parsing_store": STORE_VERSION})
            os.replace(partial / "zarr.json", root / "zarr.json")
            shutil.rmtree(partial)
        return cls(root)

    def names(self) -> set[str]:
        """Names of the complete samples (one directory listing)."""
        with os.scandir(self.root) as entries:
            return {e.name for e in entries if e.is_dir() and not e.name.startswith(".")}

    def missing(self, names: Iterable[str]) -> list[str]:
        """The names, in order, that the store does not hold."""
        present = self.names()
        return [name for name in names if name not in present]

    def write(self, name: str, maps: np.ndarray, npy_header: bytes | None = None) -> None:
        """Store ``(T, H, W)`` or ``(T, H, W, 1)`` uint8 maps as sample ``name``; visible only once complete.

        ``npy_header`` is the header of the ``.npy`` file the maps came from (default: ``np.save``'s).
        A sample already in the store is an error: samples are written once.
        """
        import zarr
        from zarr.codecs import Crc32cCodec, ZstdCodec

        labels = maps[..., 0] if maps.ndim == 4 and maps.shape[-1] == 1 else maps
        if labels.ndim != 3 or labels.shape[0] == 0 or labels.dtype != np.uint8:
            raise ValueError(f"sample {name}: expected uint8 maps (T, H, W, 1), found {maps.dtype} {maps.shape}")
        if (self.root / name).exists():
            raise FileExistsError(f"{self.root}: sample {name} is already in the parsing store")
        header = default_npy_header(maps) if npy_header is None else npy_header
        try:
            _npy_layout(header, labels.shape)
        except ValueError as err:
            raise ValueError(f"sample {name}: {err}") from None
        partial = self.root / PARTIAL_DIR / name
        if partial.exists():  # left by a killed writer of this sample
            shutil.rmtree(partial)
        partial.parent.mkdir(exist_ok=True)
        try:
            array = zarr.create_array(
                store=zarr.storage.LocalStore(partial),
                shape=labels.shape,
                dtype="uint8",
                chunks=(1, *labels.shape[1:]),
                shards=labels.shape,
                compressors=[ZstdCodec(level=ZSTD_LEVEL), Crc32cCodec()],
                fill_value=0,
                chunk_key_encoding={"name": "default", "separator": "."},
                attributes={"npy_header": base64.b64encode(header).decode("ascii")},
                config={"write_empty_chunks": True},
                zarr_format=3,
            )
            array[...] = labels
            _commit(partial, self.root / name)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise

    def header(self, name: str) -> MapHeader:
        """Sample ``name``'s shape from its metadata, after checking its shard index (crc32c) and that
        every chunk lies inside the shard file; no frame is decoded."""
        with self.open(name) as maps:
            maps.check_chunk_extents()
        return MapHeader(maps.shape, maps.dtype, self.root / name)

    @contextmanager
    def open(self, name: str) -> Iterator[StoredMaps]:
        """Sample ``name`` as a lazy ``(T, H, W)`` uint8 array (frames decode when indexed)."""
        maps = StoredMaps(self.root, name)
        try:
            yield maps
        finally:
            maps.close()

    def npy_bytes(self, name: str) -> bytes:
        """Sample ``name`` as the bytes of its ``.npy`` file."""
        with self.open(name) as maps:
            return npy_file_bytes(maps.npy_header, maps.read())


def _commit(partial: Path, final: Path) -> None:
    """Rename a complete sample into place (atomic on one file system, NFS included)."""
    os.replace(partial, final)


def _array_layout(meta: dict, path: Path) -> tuple[tuple[int, int, int], bytes]:
    """Shape and ``.npy`` header of a sample array's metadata; anything but this store's layout is an error."""
    try:
        shape = tuple(int(n) for n in meta["shape"])
        (sharding,) = meta["codecs"]
        config = sharding["configuration"]
        inner = [codec["name"] for codec in config["codecs"]]
        index = [codec["name"] for codec in config["index_codecs"]]
        zstd_checksum = config["codecs"][1].get("configuration", {}).get("checksum", False)
        header = base64.b64decode(meta["attributes"]["npy_header"])
        layout_ok = (
            len(shape) == 3 and meta["data_type"] == "uint8" and meta["fill_value"] == 0
            and meta["chunk_grid"]["configuration"]["chunk_shape"] == list(shape)
            and meta["chunk_key_encoding"]["configuration"]["separator"] == "."
            and sharding["name"] == "sharding_indexed" and config["chunk_shape"] == [1, *shape[1:]]
            and inner == ["bytes", "zstd", "crc32c"] and not zstd_checksum
            and index == ["bytes", "crc32c"] and config["index_location"] == "end"
        )
    except (KeyError, TypeError, ValueError, IndexError) as err:
        problem = f"{type(err).__name__}: {err}"
        raise CorruptParsingStoreError(f"{path}: not a parsing-store sample array ({problem})") from err
    if not layout_ok:
        raise CorruptParsingStoreError(f"{path}: not the parsing store's layout (uint8 (T, H, W), one shard of "
                                       "per-frame chunks: bytes, zstd, crc32c; index bytes, crc32c at the end)")
    return shape, header  # type: ignore[return-value]


def _crc_ok(payload: bytes, stored: bytes) -> bool:
    return numcodecs.CRC32C.checksum(payload) == int.from_bytes(stored, "little")


class StoredMaps:
    """One sample of a :class:`ParsingStore`, read lazily: ``shape`` ``(T, H, W)``, ``dtype`` uint8,
    ``maps[t]`` -> ``(H, W)`` uint8 (decoding that frame only), :meth:`read` -> ``(T, H, W)``.

    It stands in for the memory-mapped ``.npy`` the renderer indexes frame by frame. Opening reads the
    metadata and the shard index; a bad checksum or chunk raises :class:`CorruptParsingStoreError`.
    """

    ndim = 3
    dtype = np.dtype(np.uint8)

    def __init__(self, store_root: Path, name: str) -> None:
        self.where = f"{store_root}: sample {name}"
        meta_path = store_root / name / "zarr.json"
        try:
            meta = json.loads(meta_path.read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"{store_root}: no sample {name} in the parsing store") from None
        except (OSError, ValueError) as err:
            raise CorruptParsingStoreError(f"{self.where}: {meta_path.name} is not readable JSON ({err})") from err
        self.shape, self.npy_header = _array_layout(meta, meta_path)
        shard = self.where_shard = store_root / name / SHARD_KEY
        try:
            self._fd = os.open(shard, os.O_RDONLY)
        except FileNotFoundError:
            raise CorruptParsingStoreError(f"{self.where}: its shard file {shard} is missing") from None
        try:
            self._shard_size = os.fstat(self._fd).st_size
            self._index = self._read_index(self._shard_size)
        except BaseException:
            os.close(self._fd)
            raise

    def _read_index(self, shard_size: int) -> np.ndarray:
        """The ``(T, 2)`` uint64 offsets and lengths of the frame chunks, after checking its crc32c."""
        size = 16 * self.shape[0] + 4
        raw = os.pread(self._fd, size, shard_size - size) if shard_size >= size else b""
        if len(raw) != size or not _crc_ok(raw[:-4], raw[-4:]):
            raise CorruptParsingStoreError(f"{self.where}: the shard index is corrupt (checksum mismatch or "
                                           f"truncated file of {shard_size} bytes); no frame can be read")
        return np.frombuffer(raw[:-4], dtype="<u8").reshape(self.shape[0], 2)

    def check_chunk_extents(self) -> None:
        """Every frame's chunk lies inside the shard, before its index: what a file's size can tell."""
        data_end = self._shard_size - (16 * self.shape[0] + 4)
        for frame, (offset, length) in enumerate(self._index.tolist()):
            empty = offset == _EMPTY and length == _EMPTY
            if not empty and (length < 4 or offset + length > data_end):
                raise CorruptParsingStoreError(
                    f"{self.where} frame {frame}: its chunk (bytes {offset}..{offset + length}) lies outside the "
                    f"{data_end} data bytes of the shard file {self.where_shard}")

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, frame: int) -> np.ndarray:
        """Frame ``frame`` (negative counts from the end): ``(H, W)`` uint8."""
        count = self.shape[0]
        if not -count <= frame < count:
            raise IndexError(f"{self.where}: frame {frame} is outside 0..{count - 1}")
        frame %= count
        offset, length = (int(v) for v in self._index[frame])
        height, width = self.shape[1:]
        if offset == _EMPTY and length == _EMPTY:
            return np.zeros((height, width), np.uint8)
        chunk = os.pread(self._fd, length, offset)
        problem = ""
        if len(chunk) != length or length < 4:
            problem = f"chunk truncated ({len(chunk)} of {length} bytes)"
        elif not _crc_ok(chunk[:-4], chunk[-4:]):
            problem = "chunk checksum mismatch"
        else:
            try:
                raw = _ZSTD.decode(chunk[:-4])
            except RuntimeError as err:
                raise CorruptParsingStoreError(f"{self.where} frame {frame}: zstd cannot decode it ({err})") from err
            if len(raw) != height * width:
                problem = f"chunk decodes to {len(raw)} bytes, expected {height * width}"
        if problem:
            raise CorruptParsingStoreError(f"{self.where} frame {frame}: {problem}")
        return np.frombuffer(raw, np.uint8).reshape(height, width)

    def read(self) -> np.ndarray:
        """All frames: ``(T, H, W)`` uint8."""
        return np.stack([self[t] for t in range(self.shape[0])])

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
