"""Person-frame folders -> parsing maps ``<sample>.npy`` (uint8 ``(frames, h, w, 1)``, REFERENCE.md §8).

    python -m parsing parse --frames FRAMES --out PARSING --checkpoint final.pth [--device cuda --amp bf16]
    python -m parsing parse --model pspnet --frames FRAMES --out PARSING --checkpoint PSPNet_last
    python -m parsing parse --frames FRAMES --out-store PARSING_STORE --checkpoint final.pth  # parsing.store

Two parsers share the batching: ``schp`` (EPP-Net's, 119 x 119 maps from 473 inputs) and ``pspnet``
(IPP-Net's, 256 x 256 maps from 256 inputs); :data:`PARSER_MODELS` holds what differs between them.
Each sample folder holds ``0.jpg, 1.jpg, ...``; frames are taken in the order of the integer in
their names. The maps go to a folder of ``.npy`` files or a parsing store (``parsing.map_files``).
The batch is resumable (samples already written are skipped), shardable (explicitly or by torchrun's
RANK/WORLD_SIZE) and records failing samples in ``<out>/failures.txt``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image
from torch import nn
from tqdm import tqdm

from parsing import pspnet, schp
from parsing.batch import BatchSummary, Shard, record_failure
from parsing.labels import get_label_set
from parsing.map_files import MapFiles, NpyMaps

FRAME_SUFFIXES = (".jpg", ".jpeg", ".png")


def list_frames(sample_dir: str | Path) -> list[Path]:
    """The frame files of a person-frame folder in frame order; the indices must run 0, 1, ..., n-1.

    Raises ``FileNotFoundError`` for a missing folder or frame and ``ValueError`` for a name that is not
    an integer, naming the file.
    """
    sample_dir = Path(sample_dir)
    if not sample_dir.is_dir():
        raise FileNotFoundError(f"{sample_dir}: person-frame folder not found")
    indexed = {}
    for path in sample_dir.iterdir():
        if path.suffix.lower() not in FRAME_SUFFIXES:
            continue
        if not path.stem.isdigit():
            raise ValueError(f"{path}: frame file names must be frame indices such as 0.jpg")
        indexed[int(path.stem)] = path
    if not indexed:
        raise FileNotFoundError(f"{sample_dir}: no frames ({', '.join(FRAME_SUFFIXES)}) in the folder")
    gaps = sorted(set(range(max(indexed) + 1)) - set(indexed))
    if gaps:
        missing = sample_dir / f"{gaps[0]}.jpg"
        raise FileNotFoundError(f"{missing}: frame missing ({len(gaps)} gaps in frames 0..{max(indexed)})")
    return [indexed[i] for i in range(len(indexed))]


def read_frame(path: Path) -> np.ndarray:
    """A frame as OpenCV reads it, ``(H, W, 3)`` uint8 BGR; an unreadable or corrupt file is an error."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        raise ValueError(f"{path}: not a readable image (missing, empty or corrupt)")
    return image


def read_frame_rgb(path: Path) -> np.ndarray:
    """A frame as PIL reads it, ``(H, W, 3)`` uint8 RGB (IPP-Net's ``Image.open``); corrupt files are errors."""
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except (OSError, SyntaxError, ValueError) as err:  # PIL's errors for missing, truncated or foreign files
        raise ValueError(f"{path}: not a readable image (missing, empty or corrupt: {err})") from err


@dataclass(frozen=True)
class ParserModel:
    """What differs between the parsers ``parse`` runs; the batching, files and failures are shared.

    ``frame_input(path, S)``: one frame file -> ``(3, S, S)`` float32. ``image_input(image, S)``: the
    same from a decoded ``(H, W, 3)`` uint8 BGR image (a video frame). ``label_batch(model, batch, amp)``:
    ``(N, 3, S, S)`` -> ``(N, h, w)`` uint8. ``build(label_set, seed)``: random weights.
    ``load(checkpoint, label_set, device)``: official weights. ``input_size(label_set)``: default S.
    """

    frame_input: Callable[[Path, int], np.ndarray]
    image_input: Callable[[np.ndarray, int], np.ndarray]
    label_batch: Callable[[nn.Module, torch.Tensor, str | None], np.ndarray]
    build: Callable[[str, int | None], nn.Module]
    load: Callable[[str, str, torch.device], nn.Module]
    input_size: Callable[[str], int]


PARSER_MODELS: dict[str, ParserModel] = {
    # EPP-Net: SCHP on OpenCV's BGR frames, letterboxed (REFERENCE.md §8).
    "schp": ParserModel(
        frame_input=lambda path, size: schp.schp_input(read_frame(path), size),
        image_input=schp.schp_input,
        label_batch=schp.parse_batch,
        build=schp.build_schp,
        load=schp.load_schp_checkpoint,
        input_size=lambda label_set: get_label_set(label_set).input_size,
    ),
    # IPP-Net: PSPNet on PIL's RGB frames, stretched (liujf69/IPP-Net-Parsing, Human_Parsing/gen_parsing.py).
    "pspnet": ParserModel(
        frame_input=lambda path, size: pspnet.pspnet_input(read_frame_rgb(path), size),
        image_input=lambda image_bgr, size: pspnet.pspnet_input(cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB), size),
        label_batch=pspnet.parse_batch,
        build=pspnet.build_pspnet,
        load=pspnet.load_pspnet_checkpoint,
        input_size=lambda label_set: pspnet.INPUT_SIZE,
    ),
}


def get_parser_model(name: str) -> ParserModel:
    """Look a parser up by name (``schp`` or ``pspnet``)."""
    try:
        return PARSER_MODELS[name]
    except KeyError:
        raise ValueError(f"unknown parser model {name!r}; expected one of {sorted(PARSER_MODELS)}") from None


def load_sample_inputs(sample_dir: str | Path, input_size: int = 473, model_name: str = "schp") -> np.ndarray:
    """All frames of a sample as inputs of the parser ``model_name``: ``(frames, 3, S, S)`` float32."""
    frame_input = get_parser_model(model_name).frame_input
    return np.stack([frame_input(p, input_size) for p in list_frames(sample_dir)])


def parse_inputs(model: nn.Module, inputs: np.ndarray, batch_size: int = 4, amp: str | None = None,
                 model_name: str = "schp") -> np.ndarray:
    """Parse ``(frames, 3, S, S)`` inputs in batches: ``(frames, h, w, 1)`` uint8 labels."""
    if batch_size < 1:
        raise ValueError(f"batch size must be at least 1, got {batch_size}")
    label_batch = get_parser_model(model_name).label_batch
    maps = [
        label_batch(model, torch.from_numpy(inputs[i : i + batch_size]), amp)
        for i in range(0, len(inputs), batch_size)
    ]
    return np.concatenate(maps)[..., None]


def parse_sample(
    model: nn.Module, sample_dir: str | Path, input_size: int = 473, batch_size: int = 4, amp: str | None = None,
    model_name: str = "schp",
) -> np.ndarray:
    """The parsing map of one person-frame folder: ``(frames, h, w, 1)`` uint8 (119 for SCHP at 473,
    256 for PSPNet at 256)."""
    inputs = load_sample_inputs(sample_dir, input_size, model_name)
    return parse_inputs(model, inputs, batch_size, amp, model_name)


def _prefetch(dirs: list[Path], input_size: int, model_name: str) -> Iterator[tuple[Path, np.ndarray | Exception]]:
    """Yield each sample's inputs (or its loading error) while the next one decodes in a thread."""
    if not dirs:
        return
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(load_sample_inputs, dirs[0], input_size, model_name)
        for i, sample_dir in enumerate(dirs):
            try:
                loaded: np.ndarray | Exception = pending.result()
            except Exception as err:  # handed to the caller, which records the sample as failed
                loaded = err
            if i + 1 < len(dirs):
                pending = pool.submit(load_sample_inputs, dirs[i + 1], input_size, model_name)
            yield sample_dir, loaded


def parse_and_record(out: MapFiles, name: str, loaded: np.ndarray | Exception, summary: BatchSummary, model: nn.Module,
                     batch_size: int, amp: str | None, model_name: str) -> bool:
    """Parse one sample's loaded inputs (or the error loading them gave) and write its maps; a failure is
    recorded in ``failures.txt`` and the summary, so one bad sample never stops a batch of thousands."""
    try:
        if isinstance(loaded, Exception):
            raise loaded
        out.write(name, parse_inputs(model, loaded, batch_size, amp, model_name))
    except Exception as err:
        record_failure(out.root, name, err)
        summary.failed.append(name)
        return False
    summary.done.append(name)
    return True


def parse_folder(
    model: nn.Module,
    frames_dir: str | Path,
    out_dir: str | Path | MapFiles,
    *,
    input_size: int = 473,
    batch_size: int = 4,
    amp: str | None = None,
    shard: Shard | None = None,
    show_progress: bool = True,
    model_name: str = "schp",
) -> BatchSummary:
    """Parse every sample folder of ``frames_dir`` with the parser ``model_name`` into ``out_dir``: a folder
    (``<sample>.npy``) or a :class:`parsing.store.ParsingStore`.

    Samples already written are skipped; outputs are written atomically; a failing sample is
    recorded in ``failures.txt`` of the output and the batch goes on. The bar counts frames per second.
    """
    get_parser_model(model_name)  # an unknown name is an error before any file is touched
    frames_dir = Path(frames_dir)
    if not frames_dir.is_dir():
        raise FileNotFoundError(f"{frames_dir}: the person-frames folder does not exist")
    out = out_dir if isinstance(out_dir, MapFiles) else NpyMaps(out_dir)
    out.root.mkdir(parents=True, exist_ok=True)
    names = [p.name for p in frames_dir.iterdir() if p.is_dir() and not p.name.startswith(".")]
    summary = BatchSummary()
    todo = []
    done = out.names()
    for name in (shard or Shard()).select(names):
        if name in done:
            summary.skipped.append(name)
        else:
            todo.append(frames_dir / name)
    total = sum(sum(1 for p in d.iterdir() if p.suffix.lower() in FRAME_SUFFIXES) for d in todo)
    with tqdm(total=total, desc="parsing", unit="frame", disable=not show_progress) as bar:
        for sample_dir, loaded in _prefetch(todo, input_size, model_name):
            name = sample_dir.name
            bar.set_postfix_str(name)
            if parse_and_record(out, name, loaded, summary, model, batch_size, amp, model_name):
                bar.update(len(loaded))
    return summary


def load_parsing_map(path: str | Path) -> np.ndarray:
    """Read and check a ``<sample>.npy`` map: uint8 ``(T, H, W, 1)`` or ``(T, H, W)`` -> ``(T, H, W)``."""
    path = Path(path)
    try:
        labels = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: parsing map not found") from None
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: not a readable .npy array ({err})") from err
    found = f"{labels.dtype} {labels.shape}"
    if labels.ndim == 4 and labels.shape[-1] == 1:
        labels = labels[..., 0]
    if labels.ndim != 3 or labels.shape[0] == 0 or labels.dtype != np.uint8:
        raise ValueError(f"{path}: expected a uint8 parsing map of shape (frames, H, W, 1), found {found}")
    return labels
