"""The parsing branch reads every map's header before training: a truncated, mistyped or misshapen map
(``.npy`` folder or parsing store) is one line naming its file, exit 2, and no work dir; a map that goes
bad after the check is an error naming its file when the loader meets it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numcodecs
import numpy as np
import pytest
import yaml

from engine.trainer import run_task
from parsing.map_files import BadParsingMapError
from parsing.store import SHARD_KEY, CorruptParsingStoreError, ParsingStore
from parsing.store_pack import pack_maps
from parsing_branch.dataset import ParsingFeatureMapDataset
from parsing_branch.task import TASK
from tests.test_parsing_branch import class_maps, write_split

PROJECT = Path(__file__).resolve().parents[1]
TRAIN = [f"S001C001P001R001A{a:03d}" for a in (1, 2, 3)]
TEST = [f"S001C001P003R001A{a:03d}" for a in (1, 2)]


@pytest.fixture
def dataset(tmp_path: Path) -> tuple[Path, Path]:
    """A prepared NTU60-XSub split (3 train, 2 test samples), their maps and a config training on them."""
    rng = np.random.default_rng(0)
    maps = tmp_path / "parsing"
    maps.mkdir()
    for split, names in (("train", TRAIN), ("test", TEST)):
        write_split(tmp_path / "prepared", "ntu60-xsub", split, names)
        for name in names:
            np.save(maps / f"{name}.npy", class_maps(int(name[-3:]) - 1, 6, rng))
    config = tmp_path / "parsing.yaml"
    config.write_text(yaml.safe_dump({
        "model": {"backbone": "resnet18", "num_classes": 3},
        "data": {"benchmark": "ntu60-xsub", "root": str(tmp_path / "prepared"), "parsing_dir": str(maps),
                 "image_size": 32},
        "train": {"epochs": 1, "batch_size": 3, "eval_batch_size": 2, "num_workers": 0},
    }))
    return config, maps


def train(config: Path, work: Path, *overrides: str) -> int:
    argv = ["--config", str(config), "--work-dir", str(work), "--device", "cpu"]
    return run_task(TASK, argv + [arg for o in overrides for arg in ("--set", o)])


def truncate(path: Path) -> str:
    path.write_bytes(path.read_bytes()[:-100])
    return "truncated: the file has"


def retype(path: Path) -> str:
    np.save(path, np.load(path).astype(np.uint16))
    return "dtype uint16, expected uint8 labels"


def reshape(path: Path) -> str:
    np.save(path, np.repeat(np.load(path), 3, axis=-1))
    return "shape (6, 119, 119, 3), expected (frames, height, width, 1)"


def resize(path: Path) -> str:
    np.save(path, np.zeros((6, 64, 64, 1), np.uint8))
    return "frames of 64 x 64, but"


def lengthen(path: Path) -> str:
    path.write_bytes(path.read_bytes() + b"\0" * 16)
    return "16 bytes after the array"


def scramble(path: Path) -> str:
    path.write_bytes(b"not a parsing map")
    return "not a readable .npy file"


@pytest.mark.parametrize("name", [TEST[1], TRAIN[2]])  # the evaluation split and the training split
@pytest.mark.parametrize("corrupt", [truncate, retype, reshape, resize, lengthen, scramble])
def test_a_bad_map_is_one_line_naming_it_before_the_work_dir(dataset, tmp_path, capsys, name, corrupt) -> None:
    config, maps = dataset
    problem = corrupt(maps / f"{name}.npy")
    work = tmp_path / "run"
    capsys.readouterr()
    assert train(config, work) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert f"parsing map {maps / name}.npy: " in err and problem in err, err
    assert not work.exists()


def test_train_parsing_py_reports_a_truncated_map_as_a_user_would_see_it(dataset, tmp_path) -> None:
    config, maps = dataset
    truncate(maps / f"{TEST[0]}.npy")
    work = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "train_parsing.py", "--config", str(config), "--work-dir", str(work), "--device", "cpu"],
        cwd=PROJECT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: data.parsing_dir (test split): "), result.stderr
    assert f"parsing map {maps / TEST[0]}.npy: truncated: the file has" in lines[0]
    assert not work.exists()


def test_the_corrected_rerun_trains(dataset, tmp_path) -> None:
    config, maps = dataset
    good = (maps / f"{TRAIN[0]}.npy").read_bytes()
    truncate(maps / f"{TRAIN[0]}.npy")
    assert train(config, tmp_path / "run") == 2
    (maps / f"{TRAIN[0]}.npy").write_bytes(good)
    assert train(config, tmp_path / "run") == 0
    assert (tmp_path / "run" / "scores" / "final.pkl").is_file()


# -- the same from a parsing store ------------------------------------------------------------------


def rewrite_shard_index(shard: Path, frames: int, change) -> None:
    """Edit the shard index (``(T, 2)`` offsets and lengths) and give it a valid crc32c again."""
    data = bytearray(shard.read_bytes())
    index = np.frombuffer(bytes(data[-(16 * frames + 4) : -4]), "<u8").reshape(frames, 2).copy()
    change(index)
    raw = index.astype("<u8").tobytes()
    data[-(16 * frames + 4) :] = raw + numcodecs.CRC32C.checksum(raw).to_bytes(4, "little")
    shard.write_bytes(bytes(data))


def test_a_bad_store_sample_is_one_line_naming_it_before_the_work_dir(dataset, tmp_path, capsys) -> None:
    config, maps = dataset
    store = tmp_path / "parsing.zarr"
    pack_maps(maps, store, show_progress=False)
    work = tmp_path / "run"

    def fails(*expected: str) -> None:
        capsys.readouterr()
        assert train(config, work, f"data.parsing_dir={store}") == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err, err
        assert all(text in err for text in expected), err
        assert not work.exists()

    # chunks pointing past the shard's data (the index itself intact): what the file's size tells
    shard = store / TEST[1] / SHARD_KEY
    intact = shard.read_bytes()
    rewrite_shard_index(shard, 6, lambda index: index.__setitem__((3, 0), index[3, 0] + len(intact)))
    fails(f"{store}: sample {TEST[1]} frame 3: its chunk", "outside the", str(shard))
    shard.write_bytes(intact[:-50])  # truncated: the index at the end is gone
    fails(f"{store}: sample {TEST[1]}: the shard index is corrupt")
    shard.write_bytes(intact)

    # a sample array of another dtype
    meta_path = store / TRAIN[1] / "zarr.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "data_type": "uint16"}))
    fails(f"{meta_path}: not the parsing store's layout")
    meta_path.write_text(json.dumps(meta))

    # a training sample of another frame size
    shutil.rmtree(store / TRAIN[2])
    ParsingStore(store).write(TRAIN[2], np.zeros((6, 64, 64, 1), np.uint8))
    fails(f"parsing map {store / TRAIN[2]}: frames of 64 x 64, but {store / TRAIN[0]} has 119 x 119")


# -- a map that goes bad after the check ------------------------------------------------------------


@pytest.mark.parametrize("corrupt", [truncate, retype, scramble])
def test_a_map_gone_bad_after_the_check_is_named_when_read(dataset, corrupt) -> None:
    _, maps = dataset
    data = ParsingFeatureMapDataset(TEST, [0, 1], maps, train=False, image_size=32)
    data[0]
    corrupt(maps / f"{TEST[0]}.npy")
    with pytest.raises(BadParsingMapError, match=rf"parsing map {maps / TEST[0]}\.npy: "):
        data[0]
    data[1]  # the others still read


def test_a_store_sample_gone_bad_after_the_check_is_named_when_read(dataset, tmp_path) -> None:
    _, maps = dataset
    store = tmp_path / "parsing.zarr"
    pack_maps(maps, store, show_progress=False)
    data = ParsingFeatureMapDataset(TEST, [0, 1], store, train=False, image_size=32)
    shard = store / TEST[0] / SHARD_KEY
    shard.write_bytes(shard.read_bytes()[:-50])
    with pytest.raises(CorruptParsingStoreError, match=rf"{store}: sample {TEST[0]}: the shard index is corrupt"):
        data[0]
    data[1]
