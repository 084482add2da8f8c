"""The parsing store against ``.npy`` files, and videos to maps in one pass against the JPEG path.

Bytes per sample (the sample's files: ``zarr.json`` and the shard, against the ``.npy``) on the
real fixture S001C001P001R001A001 (when the shared fixtures are beside the checkout) and on the
synthetic generator's maps; pack speed; the parsing branch's loader reading the same samples from a
store and from ``.npy`` files (rounds alternate and the best of each counts: this machine is shared).
Videos to maps: ``frames`` + ``parse --frames`` against ``parse --videos`` on two synthetic
1920x1080 videos at SCHP's 473 input, with a one-convolution stand-in for the parser, so the
figures are the data path's (decoding, crops, JPEG, inputs), which a GPU parser would wait on.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from benchmarks.harness import Result, calls_per_second, case
from data.synthetic import SyntheticConfig, generate
from parsing.feature_map import select_frames
from parsing.map_files import NpyMaps
from parsing.parse import parse_folder
from parsing.person_frames import extract_person_frames
from parsing.schp import SchpOutput
from parsing.store import ParsingStore
from parsing.store_pack import pack_maps
from parsing.video_parse import parse_videos
from parsing_branch.dataset import ParsingFeatureMapDataset

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "ntu" / "parsing"
SAMPLE = "S001C001P001R001A001"
ROUNDS = 3
LOADER_PASSES = 4  # the loader reads each sample this many times: about 100 samples per measurement


def _sample_bytes(store: Path, name: str) -> int:
    return sum(p.stat().st_size for p in (store / name).iterdir())


def _bytes_rows(label: str, maps_dir: Path, store: Path) -> Iterator[Result]:
    names = sorted(p.stem for p in maps_dir.glob("*.npy"))
    npy = sum((maps_dir / f"{n}.npy").stat().st_size for n in names) / len(names)
    stored = sum(_sample_bytes(store, n) for n in names) / len(names)
    yield Result(f"{label}: .npy bytes per sample", npy, "bytes")
    yield Result(f"{label}: store bytes per sample", stored, "bytes")
    yield Result(f"{label}: .npy / store", npy / stored, "x")


def _read_shown_frames(maps: NpyMaps | ParsingStore, name: str) -> None:
    with maps.open(name) as labels:
        for frame in select_frames(len(labels), 9):
            np.ascontiguousarray(labels[frame])


def _loader_rate(names: list[str], source: Path, train: bool, workers: int) -> float:
    dataset = ParsingFeatureMapDataset(names, [0] * len(names), source, train=train, image_size=299)
    loader = DataLoader(dataset, batch_size=8, num_workers=workers)
    start = time.perf_counter()
    seen = sum(len(batch[1]) for batch in loader)  # worker start-up included, as in an epoch
    return seen / (time.perf_counter() - start)


@case("parsing_store")
def store_against_npy() -> Iterator[Result]:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if FIXTURES.is_dir():
            pack_maps(FIXTURES, tmp / "fixture_store", show_progress=False)
            yield from _bytes_rows("real fixture", FIXTURES, tmp / "fixture_store")
            for kind, maps in (("npy", NpyMaps(FIXTURES)), ("store", ParsingStore(tmp / "fixture_store"))):
                yield Result(f"real fixture: open + read the 9 frames shown, from {kind}",
                             1e6 / calls_per_second(lambda maps=maps: _read_shown_frames(maps, SAMPLE), 1.0), "us")
        config = SyntheticConfig(classes=4, two_person_classes=1, samples_per_class=6, videos=0, missing=0)
        generate(tmp / "synthetic", config, progress=False)
        maps_dir = tmp / "synthetic" / "parsing"
        start = time.perf_counter()
        packed = pack_maps(maps_dir, tmp / "store", show_progress=False)
        yield Result("pack, 1 process", len(packed.done) / (time.perf_counter() - start), "samples/s")
        yield from _bytes_rows("synthetic", maps_dir, tmp / "store")

        names = sorted(p.stem for p in maps_dir.glob("*.npy")) * LOADER_PASSES
        for train in (True, False):
            for workers in (0, 2):
                best = {"npy": 0.0, "store": 0.0}
                for _ in range(ROUNDS):
                    for kind, source in (("npy", maps_dir), ("store", tmp / "store")):
                        best[kind] = max(best[kind], _loader_rate(names, source, train, workers))
                mode = "train" if train else "eval"
                for kind, rate in best.items():
                    yield Result(f"loader 299 {mode}, {workers} workers, from {kind}", rate, "samples/s")


class _StandInParser(torch.nn.Module):
    """One strided convolution to 20 classes: the data path's cost without a parser's."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 20, 4, stride=4)

    def forward(self, x: torch.Tensor) -> SchpOutput:
        logits = self.conv(x)
        return SchpOutput(logits, logits, logits[:, :2])


@case("parsing_one_pass")
def one_pass_against_jpeg_path() -> Iterator[Result]:
    model = _StandInParser()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        config = SyntheticConfig(classes=2, two_person_classes=1, samples_per_class=4, min_frames=100,
                                 max_frames=100, videos=2, missing=0, noise_rate=0.0, parsing=False)
        generate(tmp / "synthetic", config, progress=False)
        videos, skeletons = tmp / "synthetic" / "videos", tmp / "synthetic" / "skeletons"
        frames = 2 * config.max_frames

        start = time.perf_counter()
        extract_person_frames(videos, skeletons, tmp / "frames", show_progress=False)
        parse_folder(model, tmp / "frames", tmp / "maps_jpeg", show_progress=False)
        jpeg_seconds = time.perf_counter() - start
        start = time.perf_counter()
        parse_videos(model, videos, skeletons, tmp / "maps_one_pass", workers=2, show_progress=False)
        one_pass_seconds = time.perf_counter() - start  # two worker start-ups included

        yield Result(f"frames + parse --frames, {frames} frames of 2 videos", jpeg_seconds, "s")
        yield Result(f"parse --videos (2 decoding workers), {frames} frames", one_pass_seconds, "s")
        yield Result("parse --videos data path", frames / one_pass_seconds, "frames/s")
