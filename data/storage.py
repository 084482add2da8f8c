"""Prepared skeleton splits on disk: reading (:func:`open_split`), streaming writers, the .npz and the
pyskl exports.

A prepared split is a folder ``ROOT/<benchmark>/<split>/`` (docs/ARCHITECTURE.md):

    frames.npy   float32 (sum T_i, 150)  every sample's frames, concatenated, not padded
    offsets.npy  int64 (N + 1,)          sample i is frames[offsets[i]:offsets[i + 1]]
    names.txt    N NTU names in the reference split order
    labels.npy   int64 (N,)              0-based action labels
    meta.json    {"benchmark", "split", "num_classes", "num_samples", "max_frames"}

Every file is written to a temporary name and renamed, and meta.json last, so a folder with a
meta.json is complete. Frames are streamed, so writing needs memory for one sample at a time.

:func:`open_split` also reads a reference interchange file (``NTU60_CS.npz`` ...; §3.7) in place,
memory-mapping its arrays when they are stored uncompressed (as ``np.savez`` and :func:`export_npz`
write them). Such a file has no names: samples are called ``train_0, train_1, ...`` (``test_...``,
like CTR-GCN's score keys) unless ``names`` is given. Its samples come back with trailing all-zero
rows (the padding) trimmed. The pose feeder counts valid frames as those with a non-zero sum and crops
from the first frame, so trimmed and padded samples give it identical inputs.

It reads a pyskl / MMAction2 annotation pickle (``ntu60_3danno.pkl`` ...) too: the split named like the
benchmark (``xsub_val`` for ``ntu60-xsub`` / ``test``), see :mod:`data.pyskl`; :func:`export_pyskl` writes
one from prepared data.
"""

from __future__ import annotations

import json
import os
import pickle
import struct
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from data.ntu import BENCHMARKS
from data.pyskl import (
    DATASET_BENCHMARKS,
    PICKLE_PROTOCOL,
    AnnotationSplit,
    annotation,
    open_annotation_split,
    split_name,
)

SPLITS = ("train", "test")
FRAME_WIDTH = 150


def _temporary_beside(path: Path) -> Path:
    # Hidden, and unique per process: loader workers or shards may write the same file at once.
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    tmp = _temporary_beside(path)
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def save_npy(path: Path, array: np.ndarray) -> None:
    """``np.save`` through a temporary file and a rename, so a reader never sees half an array."""
    tmp = _temporary_beside(path)
    with open(tmp, "wb") as f:
        np.save(f, array)
    os.replace(tmp, path)


def _write_npy_header(f: BinaryIO, shape: tuple[int, ...], dtype: np.dtype) -> None:
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_2_0(f, header)


class NpyStreamWriter:
    """Write an ``.npy`` of known ``shape`` block by block (along axis 0), atomically.

    A context manager; the file appears under its name only if every row was written.
    """

    def __init__(self, path: Path, shape: tuple[int, ...], dtype: np.dtype | type = np.float32) -> None:
        self.path = Path(path)
        self.shape = tuple(int(n) for n in shape)
        self.dtype = np.dtype(dtype)
        self.rows = 0
        self._tmp = self.path.with_name(self.path.name + ".tmp")
        self._file = open(self._tmp, "wb")
        _write_npy_header(self._file, self.shape, self.dtype)

    def write(self, block: np.ndarray) -> None:
        """Append ``block`` of shape (rows, *shape[1:])."""
        if block.shape[1:] != self.shape[1:] or block.dtype != self.dtype:
            raise ValueError(
                f"{self.path}: expected blocks (n, {self.shape[1:]}) {self.dtype}, "
                f"found {block.shape} {block.dtype}"
            )
        self._file.write(np.ascontiguousarray(block).data)
        self.rows += len(block)

    def __enter__(self) -> NpyStreamWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._file.close()
        if exc_type is not None:
            self._tmp.unlink(missing_ok=True)
            return
        if self.rows != self.shape[0]:
            self._tmp.unlink(missing_ok=True)
            raise ValueError(f"{self.path}: expected {self.shape[0]} rows, {self.rows} were written")
        os.replace(self._tmp, self.path)


class SkeletonSplit:
    """One split of preprocessed skeletons; ``split[i]`` is a (T_i, 150) float32 array (memory-mapped).

    Attributes: ``names`` (list of N names), ``labels`` (int64 (N,), 0-based), ``num_classes`` and
    ``max_frames`` (the padding length of §3.5: the longest sample of the whole set).
    """

    def __init__(
        self,
        frames: np.ndarray,
        offsets: np.ndarray | None,
        names: list[str],
        labels: np.ndarray,
        num_classes: int,
        max_frames: int,
    ) -> None:
        # frames: (sum T_i, 150) with offsets (N + 1,), or padded (N, max_frames, 150) with offsets None
        self._frames = frames
        self._offsets = offsets
        self.names = names
        self.labels = labels
        self.num_classes = num_classes
        self.max_frames = max_frames

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, i: int) -> np.ndarray:
        if not -len(self) <= i < len(self):
            raise IndexError(f"sample {i} of a split of {len(self)}")
        i %= len(self)
        if self._offsets is not None:
            return self._frames[self._offsets[i] : self._offsets[i + 1]]
        padded = self._frames[i]
        used = np.flatnonzero(np.any(padded != 0, axis=1))
        return padded[: used[-1] + 1 if used.size else 0]


def open_split(
    root: str | Path,
    benchmark: str | None = None,
    split: str = "train",
    *,
    names: Sequence[str] | str | Path | None = None,
) -> SkeletonSplit | AnnotationSplit:
    """Open ``ROOT/<benchmark>/<split>`` written by ``prepare``, a reference ``.npz`` (``split`` only) or a
    pyskl annotation ``.pkl`` (its list for ``benchmark`` and ``split``, e.g. ``xsub_val``).

    For an ``.npz``, ``names`` may give the N sample names (a sequence, or a text file with one per
    line); otherwise they are ``<split>_0, <split>_1, ...``.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be 'train' or 'test', found {split!r}")
    root = Path(root)
    if root.suffix == ".npz":
        return _open_npz(root, split, names)
    if root.suffix == ".pkl":
        return open_annotation_split(root, benchmark, split)
    if benchmark not in BENCHMARKS:
        raise ValueError(f"benchmark must be one of {', '.join(BENCHMARKS)}, found {benchmark!r}")
    folder = root / benchmark / split
    meta_path = folder / "meta.json"
    if not meta_path.is_file():
        raise FileNotFoundError(
            f"{meta_path} is missing: run `python -m data.ntu prepare ... --out {root}` first"
        )
    meta = json.loads(meta_path.read_text())
    frames = np.load(folder / "frames.npy", mmap_mode="r")
    offsets = np.load(folder / "offsets.npy")
    labels = np.load(folder / "labels.npy")
    split_names = (folder / "names.txt").read_text().splitlines()
    n = meta["num_samples"]
    if not (len(split_names) == len(labels) == len(offsets) - 1 == n and offsets[-1] == len(frames)):
        raise ValueError(
            f"{folder}: expected {n} names, labels and samples (meta.json), found {len(split_names)} "
            f"names, {len(labels)} labels, {len(offsets) - 1} offsets ending at {offsets[-1]} "
            f"for {len(frames)} frames"
        )
    return SkeletonSplit(frames, offsets, split_names, labels, meta["num_classes"], meta["max_frames"])


def _npz_member(path: Path, key: str) -> np.ndarray:
    """Array ``key`` of an .npz, memory-mapped when stored uncompressed, else read into memory."""
    with zipfile.ZipFile(path) as archive:
        try:
            info = archive.getinfo(key + ".npy")
        except KeyError:
            raise KeyError(f"{path}: expected an array {key!r}, found {sorted(archive.namelist())}") from None
        if info.compress_type != zipfile.ZIP_STORED:
            with archive.open(info) as member:
                return np.lib.format.read_array(member)
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        local = f.read(30)  # the zip local file header; the data follows its name and extra field
        name_len, extra_len = struct.unpack("<HH", local[26:30])
        f.seek(info.header_offset + 30 + name_len + extra_len)
        version = np.lib.format.read_magic(f)
        if version not in ((1, 0), (2, 0)):
            return np.load(path)[key]
        read_header = (
            np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        )
        shape, fortran, dtype = read_header(f)
        start = f.tell()
    if fortran or dtype.hasobject:
        return np.load(path)[key]
    if int(np.prod(shape)) == 0:
        return np.zeros(shape, dtype=dtype)
    return np.memmap(path, dtype=dtype, mode="r", offset=start, shape=shape)


def _open_npz(path: Path, split: str, names: Sequence[str] | str | Path | None) -> SkeletonSplit:
    x = _npz_member(path, f"x_{split}")
    y = _npz_member(path, f"y_{split}")
    if x.ndim != 3 or x.shape[2] != FRAME_WIDTH or len(y) != len(x):
        raise ValueError(
            f"{path}: expected x_{split} (N, T, 150) and y_{split} (N, classes), "
            f"found {x.shape} and {y.shape}"
        )
    if names is None:
        split_names = [f"{split}_{i}" for i in range(len(x))]
    elif isinstance(names, (str, Path)):
        split_names = Path(names).read_text().split()
    else:
        split_names = list(names)
    if len(split_names) != len(x):
        raise ValueError(f"{path}: x_{split} has {len(x)} samples but {len(split_names)} names were given")
    labels = np.asarray(y).argmax(axis=1).astype(np.int64)
    return SkeletonSplit(x, None, split_names, labels, y.shape[1], x.shape[1])


def export_npz(prepared: str | Path, benchmark: str, out: str | Path) -> None:
    """Write the reference interchange file (§3.7) of ``benchmark`` from a prepared ROOT.

    ``x_train``/``x_test`` are (N, max_frames, 150) float32 zero-padded, ``y_train``/``y_test``
    (N, classes) float64 one-hot, stored uncompressed and streamed one sample at a time.
    """
    out = Path(out)
    tmp = out.with_name(out.name + ".tmp")
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
            for split in SPLITS:
                data = open_split(prepared, benchmark, split)
                n, t = len(data), data.max_frames
                with archive.open(f"x_{split}.npy", "w", force_zip64=True) as member:
                    _write_npy_header(member, (n, t, FRAME_WIDTH), np.dtype(np.float32))
                    padded = np.zeros((t, FRAME_WIDTH), dtype=np.float32)
                    for i in range(n):
                        sample = data[i]
                        padded[: len(sample)] = sample
                        padded[len(sample) :] = 0
                        member.write(padded.data)
                with archive.open(f"y_{split}.npy", "w", force_zip64=True) as member:
                    _write_npy_header(member, (n, data.num_classes), np.dtype(np.float64))
                    for start in range(0, n, 4096):
                        labels = data.labels[start : start + 4096]
                        one_hot = np.zeros((len(labels), data.num_classes))
                        one_hot[np.arange(len(labels)), labels] = 1
                        member.write(one_hot.data)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def export_pyskl(prepared: str | Path, dataset: str, out: str | Path) -> dict[str, int]:
    """Write the pyskl annotation pickle of ``dataset`` (``ntu60`` or ``ntu120``) from a prepared ROOT.

    Every prepared benchmark of the dataset gives its ``<kind>_train`` / ``<kind>_val`` lists in our split
    order; the annotations, one per sample, are sorted by name as pyskl's own files are. Returns the
    number of samples per split name.
    """
    if dataset not in DATASET_BENCHMARKS:
        raise ValueError(f"dataset must be one of {', '.join(DATASET_BENCHMARKS)}, found {dataset!r}")
    prepared, out = Path(prepared), Path(out)
    found = [b for b in DATASET_BENCHMARKS[dataset] if (prepared / b / "train" / "meta.json").is_file()]
    if not found:
        raise FileNotFoundError(f"{prepared}: none of {', '.join(DATASET_BENCHMARKS[dataset])} is prepared there")
    splits: dict[str, list[str]] = {}
    annotations: dict[str, dict[str, Any]] = {}
    for benchmark in found:
        copy = BENCHMARKS[benchmark].copy_single_actor
        for split in SPLITS:
            data = open_split(prepared, benchmark, split)
            splits[split_name(benchmark, split)] = list(data.names)
            for i, name in enumerate(data.names):
                if name not in annotations:
                    annotations[name] = annotation(name, data[i], int(data.labels[i]), copy)
    tmp = _temporary_beside(out)
    try:
        with open(tmp, "wb") as f:
            payload = {"split": splits, "annotations": [annotations[n] for n in sorted(annotations)]}
            pickle.dump(payload, f, protocol=PICKLE_PROTOCOL)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return {key: len(names) for key, names in splits.items()}
