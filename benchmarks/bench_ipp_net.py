"""IPP-Net feature maps per second, beside EPP-Net's layout, on EPP-Net's and IPP-Net's map sizes.

IPP-Net's layout (liujf69/IPP-Net-Parsing, ``feeders/gen_parsing.py``): 5 grey strips, byte wrap,
no augmentation; EPP-Net's: 9 palette tiles with flip and rotation in training. Each figure loads
the sample's ``.npy`` as a memory map and renders it, as the dataset does per item; the ``dataset``
rows add the resize to 299 (``ParsingFeatureMapDataset[i]``, a uint8 image: ToTensor and the
normalisation run on the device, in the task's ``device_transform``). Maps: the real
SCHP fixture (119 x 119, 103 frames) and the same maps at PSPNet's 256 x 256 (nearest). On a 2-core
development machine IPP-Net's own code renders about 350 samples/s from 256 px maps and its feeder
delivers about 8 tensors/s (its pixel-by-pixel ``getdata`` round trip); ours must not be slower.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.bench_parsing_branch import _parsing_maps
from benchmarks.harness import Result, calls_per_second, case
from parsing.feature_map import render_feature_map
from parsing_branch.dataset import ParsingFeatureMapDataset

SAMPLE = "S001C001P001R001A001"
LAYOUTS = (("eppnet", 9), ("ipp-net", 5))


def _at_pspnet_size(maps: np.ndarray) -> np.ndarray:
    """``(T, 119, 119, 1)`` -> ``(T, 256, 256, 1)`` uint8, nearest: IPP-Net's map format."""
    resized = [np.asarray(Image.fromarray(m[..., 0]).resize((256, 256), Image.Resampling.NEAREST)) for m in maps]
    return np.stack(resized)[..., None]


def _render_rate(path: Path, layout: str, frames: int, train: bool, rng: np.random.Generator) -> float:
    def render() -> object:
        return render_feature_map(np.load(path, mmap_mode="r"), frames, train=train, rng=rng, layout=layout)

    return calls_per_second(render, seconds=1.0)


@case("ipp_net_feature_map")
def feature_map_throughput() -> Iterator[Result]:
    small = _parsing_maps()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        for maps in (small, _at_pspnet_size(small)):
            side = maps.shape[1]
            folder = Path(tmp) / str(side)
            folder.mkdir()
            np.save(folder / f"{SAMPLE}.npy", maps)
            for layout, frames in LAYOUTS:
                for train in (False, True):
                    mode = "training" if train else "evaluation"
                    yield Result(f"{layout} N={frames} {mode}, {side} px maps (load + render)",
                                 _render_rate(folder / f"{SAMPLE}.npy", layout, frames, train, rng), "samples/s")
            for layout, frames in LAYOUTS:
                jitter = 0.2 if layout == "eppnet" else 0.0  # each paper's training transforms
                dataset = ParsingFeatureMapDataset([SAMPLE], [0], folder, train=True, num_frames=frames,
                                                   color_jitter=jitter, layout=layout)
                yield Result(f"{layout} N={frames} dataset 299 training, {side} px maps",
                             calls_per_second(lambda d=dataset: d[0], seconds=1.0), "samples/s")
