"""Videos to parsing maps in one pass: decode, crop to the skeleton's person box and parse, in memory.

    python -m parsing parse --videos VIDEOS --skeletons SKELETONS --out PARSING --checkpoint final.pth \\
        [--workers 8] [--keep-frames FRAMES] [--out-store PARSING_STORE instead of --out]

``workers`` processes decode the videos and crop them (:func:`parsing.person_frames.decode_person_crops`,
the crops ``python -m parsing frames`` writes), as many threads turn the next sample's crops into
parser inputs, and the parser runs in the main process on the current sample: decoding runs
``workers`` samples ahead, which bounds the memory to that many samples' crops and two samples' inputs.

The crops go to the parser without the JPEG round trip of the two-step path (``frames`` then
``parse --frames``), so the maps differ slightly from that path's; it stays for exact reproduction.
The batch behaves as ``parse --frames``: resumable, shardable, failures in ``failures.txt`` of the
output, among them truncated videos (fewer frames than the skeleton).
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from functools import partial
from itertools import islice, repeat
from pathlib import Path

import numpy as np
from torch import nn
from tqdm import tqdm

from parsing.batch import BatchSummary, Shard
from parsing.map_files import MapFiles, NpyMaps
from parsing.parse import get_parser_model, parse_and_record
from parsing.person_frames import decode_person_crops, list_videos
from pose_guidance.boxes import DEFAULT_MARGIN, BoxMargin


def _inputs_of(decoding: Future, image_input: Callable[[np.ndarray, int], np.ndarray], input_size: int,
               threads: ThreadPoolExecutor) -> np.ndarray:
    """A sample's parser inputs ``(frames, 3, S, S)`` float32 from its decoding worker's crops."""
    return np.stack(list(threads.map(image_input, decoding.result(), repeat(input_size))))


def _samples_ahead(names: list[str], decode: Callable[[str], Future], prepare: Callable[[Future], np.ndarray],
                   ahead: int) -> Iterator[tuple[str, np.ndarray | Exception]]:
    """Each sample's parser inputs (or its error), in order: while the caller parses one sample, the
    next one's inputs are prepared and the ``ahead`` after it decode."""
    waiting = iter(names)
    decoding: deque[tuple[str, Future]] = deque()

    def refill() -> None:
        decoding.extend((name, decode(name)) for name in islice(waiting, ahead - len(decoding)))

    refill()
    preparing: tuple[str, Future] | None = None
    with ThreadPoolExecutor(max_workers=1) as preparer:
        while decoding or preparing:
            following = None
            if decoding:
                name, decoded = decoding.popleft()
                following = (name, preparer.submit(prepare, decoded))
                refill()
            if preparing:
                yield _outcome(*preparing)
            preparing = following


def _outcome(name: str, prepared: Future) -> tuple[str, np.ndarray | Exception]:
    try:
        return name, prepared.result()
    except Exception as err:  # handed to the caller, which records the sample as failed
        return name, err


def parse_videos(
    model: nn.Module,
    videos_dir: str | Path,
    skeletons_dir: str | Path,
    out: str | Path | MapFiles,
    *,
    input_size: int = 473,
    batch_size: int = 4,
    amp: str | None = None,
    shard: Shard | None = None,
    workers: int = 4,
    keep_frames: str | Path | None = None,
    margin: BoxMargin = DEFAULT_MARGIN,
    show_progress: bool = True,
    model_name: str = "schp",
) -> BatchSummary:
    """Parse every ``<name>_rgb.avi`` of ``videos_dir`` (with ``skeletons_dir/<name>.skeleton``) into ``out``,
    a folder of ``.npy`` maps or a :class:`parsing.store.ParsingStore`, decoding in ``workers`` processes.

    ``keep_frames``: also write the person frames there, as ``python -m parsing frames`` does.
    """
    image_input = get_parser_model(model_name).image_input
    if workers < 1:
        raise ValueError(f"--workers must be at least 1, got {workers}")
    videos_dir, skeletons_dir = Path(videos_dir), Path(skeletons_dir)
    if not skeletons_dir.is_dir():
        raise FileNotFoundError(f"{skeletons_dir}: the skeletons folder does not exist")
    videos = list_videos(videos_dir)
    out = out if isinstance(out, MapFiles) else NpyMaps(out)
    out.root.mkdir(parents=True, exist_ok=True)
    keep_dir = Path(keep_frames) if keep_frames else None
    summary = BatchSummary()
    done = out.names()
    todo = []
    for name in (shard or Shard()).select(list(videos)):
        if name in done:
            summary.skipped.append(name)
        else:
            todo.append(name)

    # spawn: a forked child would inherit torch's and OpenCV's threads in whatever state they are
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=spawn) as decoders, ThreadPoolExecutor(workers) as threads:
        samples = _samples_ahead(
            todo,
            lambda name: decoders.submit(decode_person_crops, videos[name], skeletons_dir, name, keep_dir, margin),
            partial(_inputs_of, image_input=image_input, input_size=input_size, threads=threads),
            ahead=workers,
        )
        with tqdm(total=len(todo), desc="parsing videos", unit="video", disable=not show_progress) as bar:
            for name, loaded in samples:
                bar.set_postfix_str(name)
                parse_and_record(out, name, loaded, summary, model, batch_size, amp, model_name)
                bar.update()
    return summary
