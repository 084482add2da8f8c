"""The parsing branch's dataset: one sample's parsing maps -> its feature map -> a uint8 image.

EPP-Net's layout, training: random frame interval, flip and rotation (``parsing.feature_map``), then
ColorJitter(0.2, 0.2, 0.2). IPP-Net's layout: random frame step in training, the byte wrap of its
feeder's ToPILImage, no augmentation (``color_jitter: 0``; liujf69/IPP-Net-Parsing,
``feeders/feeder_parsing.py``). Both: resize to ``image_size`` (299 for InceptionV3; torchvision's
Resize of a PIL image), ToTensor, ImageNet normalisation; the order and the results are those of
the papers' torchvision transforms, so a given feature map gives the same tensor (the tests compare them).
The dataset stops at the resized image, as uint8 ``(3, S, S)``: a quarter of float32's bytes through
the loader and the host->device copy. ToTensor and the normalisation are :func:`normalise_images`,
the task's ``device_transform``, on a batch already on the device; :func:`normalised_tensor` is the
same for one image.

The maps come from a folder of ``<name>.npy`` files or a parsing store (``parsing.store``), read lazily
either way: only the frames a feature map shows are read, and the feature maps are the same. Building
the dataset checks every map before any training: that it exists, and its header (``.npy`` header and
file size, or the store sample's metadata and shard index; no data is read): uint8 ``(T, H, W[, 1])``,
the same frame size as the split's first map, a file as long as its header says. The first bad map is
one error naming its file; a map that goes bad later is an error naming its file when it is read.

Randomness comes from torch's generator (one draw per sample seeds the renderer's NumPy generator,
ColorJitter draws from torch itself), which the engine re-seeds per epoch, rank and loader worker:
runs are reproducible for a given number of loader workers.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision import transforms

from data.storage import save_npy
from parsing.feature_map import render_feature_map
from parsing.map_files import BadParsingMapError, MapFiles, open_parsing_maps

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SHOWN_MISSING = 5  # how many missing sample names an error message lists


class MissingParsingMapsError(FileNotFoundError):
    """Some samples of a split have no map in the parsing folder or store."""


def check_parsing_maps(names: Sequence[str], parsing_dir: Path) -> MapFiles:
    """The maps at ``parsing_dir`` (folder or store); one error naming how many and which samples have
    none, before any training."""
    try:
        maps = open_parsing_maps(parsing_dir)
    except FileNotFoundError as err:
        raise MissingParsingMapsError(str(err)) from None
    missing = maps.missing(names)  # one directory listing instead of a stat per sample
    if missing:
        shown = ", ".join(missing[:SHOWN_MISSING]) + (", ..." if len(missing) > SHOWN_MISSING else "")
        raise MissingParsingMapsError(
            f"{len(missing)} of {len(names)} samples have no parsing map in the {maps.description} "
            f"{parsing_dir}: {shown}"
        )
    check_map_headers(maps, names)
    return maps


def check_map_headers(maps: MapFiles, names: Sequence[str]) -> None:
    """Every sample's header (no data read): uint8 ``(T, H, W[, 1])``, a whole file, and the frame size
    of the first map; the first bad one raises :class:`BadParsingMapError` (a store's:
    ``CorruptParsingStoreError``) naming its file."""
    first = None
    for name in names:
        header = maps.header(name)
        if first is None:
            first = header
        elif header.frame_size != first.frame_size:
            raise BadParsingMapError(
                f"parsing map {header.path}: frames of {header.frame_size[0]} x {header.frame_size[1]}, but "
                f"{first.path} has {first.frame_size[0]} x {first.frame_size[1]}: the maps of a split come "
                "from one parser (SCHP 119 x 119, PSPNet 256 x 256)")


class ParsingFeatureMapDataset(Dataset):
    """Feature maps of the samples ``names`` (split order) with their 0-based ``labels``.

    ``dataset[i]`` is ``(uint8 tensor (3, image_size, image_size), int label)``, the image before
    ToTensor and normalisation (:func:`normalise_images`, on the device). ``layout``
    (``eppnet`` or ``ipp-net``) and ``byte_wrap`` (None: the layout's reference) are those of
    :func:`parsing.feature_map.render_feature_map`; the maps may be of any size. ``cache_dir``
    (evaluation only) keeps each sample's resized uint8 image as ``.npy``: evaluation images are
    deterministic, so later epochs read them instead of rendering again. Delete the folder when the
    parsing maps change. ``parsing_dir`` is a folder of ``<name>.npy`` maps or a parsing store.
    """

    def __init__(self, names: Sequence[str], labels: Sequence[int] | np.ndarray, parsing_dir: str | Path, *,
                 train: bool, num_frames: int = 9, image_size: int = 299, color_jitter: float = 0.2,
                 cache_dir: str | Path | None = None, layout: str = "eppnet", byte_wrap: bool | None = None) -> None:
        if len(names) != len(labels):
            raise ValueError(f"{len(names)} sample names but {len(labels)} labels")
        if train and cache_dir:
            raise ValueError("cache_dir is for evaluation only: training images are random")
        self.sample_names = list(names)
        self.labels = np.asarray(labels, dtype=np.int64)
        self.parsing_dir = Path(parsing_dir)
        self.train = train
        self.num_frames = num_frames
        self.layout = layout
        self.byte_wrap = layout == "ipp-net" if byte_wrap is None else byte_wrap  # None: the layout's reference
        self.image_size = image_size
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.maps = check_parsing_maps(self.sample_names, self.parsing_dir)
        jitter = train and color_jitter > 0  # ColorJitter(0, 0, 0) would change nothing but draw from torch
        self.jitter = transforms.ColorJitter(color_jitter, color_jitter, color_jitter) if jitter else None
        # Resize of a PIL image (bilinear with antialiasing), as the reference's transform does.
        self.resize = transforms.Resize(image_size)
        if self.cache_dir is not None:
            self.cache_dir.mkdir(parents=True, exist_ok=True)

    def __len__(self) -> int:
        return len(self.sample_names)

    def feature_map(self, index: int) -> np.ndarray:
        """The sample's ``(480, 480, 3)`` uint8 feature map (random in training)."""
        rng = None
        if self.train:
            rng = np.random.default_rng(int(torch.randint(0, 2**62, ())))
        with self.maps.open(self.sample_names[index]) as labels:
            return render_feature_map(labels, self.num_frames, train=self.train, rng=rng, layout=self.layout,
                                      byte_wrap=self.byte_wrap)

    def image(self, index: int) -> np.ndarray:
        """The ``(image_size, image_size, 3)`` uint8 image the network sees, before normalisation."""
        cached = None
        if self.cache_dir is not None:
            cached = self.cache_dir / f"{self.sample_names[index]}{self._cache_tag()}.npy"
            if cached.is_file():
                return np.load(cached)
        picture = Image.fromarray(self.feature_map(index))
        if self.jitter is not None:
            picture = self.jitter(picture)
        array = np.array(self.resize(picture))  # writable: torch.from_numpy warns on read-only arrays
        if cached is not None:
            save_npy(cached, array)
        return array

    def _cache_tag(self) -> str:
        """What a cached image depends on besides the sample: ``.n9.s299`` for EPP-Net's reference
        rendering (the name it had before there were layouts), else e.g. ``.ipp-net.wrap.n5.s299``."""
        tag = f".n{self.num_frames}.s{self.image_size}"
        if self.layout == "eppnet" and not self.byte_wrap:
            return tag
        return f".{self.layout}.{'wrap' if self.byte_wrap else 'nowrap'}{tag}"

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return chw_tensor(self.image(index)), int(self.labels[index])


def chw_tensor(image: np.ndarray) -> torch.Tensor:
    """``(S, S, 3)`` uint8 -> ``(3, S, S)`` uint8, contiguous: the dataset's item, not yet normalised."""
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))


@functools.cache
def _imagenet_stats(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """ImageNet mean and std, float32 ``(1, 3, 1, 1)``, on ``device`` (made once per device)."""
    shape = (1, 3, 1, 1)
    return (torch.tensor(IMAGENET_MEAN, dtype=torch.float32).view(shape).to(device),
            torch.tensor(IMAGENET_STD, dtype=torch.float32).view(shape).to(device))


def normalise_images(images: torch.Tensor) -> torch.Tensor:
    """uint8 ``(N, 3, S, S)`` -> float32 ImageNet-normalised, wherever the images are: torchvision's
    ToTensor (``/ 255``) then Normalize (``(x - mean) / std``), the same float32 operations, so on
    the CPU the same bits. The parsing task's ``device_transform``."""
    if images.dtype != torch.uint8:
        raise TypeError(f"normalise_images expects uint8 images, found {images.dtype}")
    mean, std = _imagenet_stats(images.device)
    return (images.float() / 255 - mean) / std


def normalised_tensor(image: np.ndarray) -> torch.Tensor:
    """``(S, S, 3)`` uint8 -> ``(3, S, S)`` float32: torchvision's ToTensor then Normalize, bit for bit
    (one image through :func:`normalise_images`, for single-sample use outside the engine)."""
    return normalise_images(chw_tensor(image)[None])[0]
