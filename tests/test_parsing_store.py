"""The parsing store: pack / unpack byte for byte, resuming a killed pack, corrupt chunks named, and the
parsing branch reading the same feature maps from a store as from ``.npy`` files (both layouts)."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import zarr

from parsing import store as store_module
from parsing.__main__ import main
from parsing.batch import read_failures
from parsing.store import PARTIAL_DIR, SHARD_KEY, CorruptParsingStoreError, ParsingStore
from parsing.store_pack import pack_maps, unpack_store
from parsing_branch.dataset import MissingParsingMapsError, ParsingFeatureMapDataset

SAMPLE = "S001C001P001R001A001"


def synthetic_maps(folder: Path, count: int, size: int = 119) -> list[str]:
    """``count`` small class-like maps ``(T, size, size, 1)``; one saved as (T, H, W), one in Fortran order."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"S001C001P002R001A{a:03d}" for a in range(1, count + 1)]
    for i, name in enumerate(names):
        maps = np.zeros((int(rng.integers(3, 14)), size, size, 1), np.uint8)
        for t in range(len(maps)):
            top, left = rng.integers(0, size // 2, 2)
            maps[t, top : top + size // 3, left : left + size // 4] = 1 + (i + t) % 19
        if i == 1:
            maps = maps[..., 0]
        elif i == 2:
            maps = np.asfortranarray(maps)
        np.save(folder / f"{name}.npy", maps)
    return names


@pytest.fixture
def maps_dir(ntu_fixtures: Path, tmp_path: Path) -> Path:
    """The real fixture's map beside five synthetic ones."""
    folder = tmp_path / "maps"
    synthetic_maps(folder, 5)
    shutil.copy(ntu_fixtures / "parsing" / f"{SAMPLE}.npy", folder)
    return folder


def test_pack_and_unpack_give_the_files_back_byte_for_byte(maps_dir: Path, tmp_path: Path) -> None:
    store_dir, out = tmp_path / "store", tmp_path / "unpacked"
    assert main(["store", "pack", "--maps", str(maps_dir), "--out", str(store_dir), "--quiet"]) == 0
    assert main(["store", "unpack", "--store", str(store_dir), "--out", str(out), "--quiet"]) == 0
    originals = sorted(maps_dir.glob("*.npy"))
    assert [p.name for p in sorted(out.glob("*.npy"))] == [p.name for p in originals]
    for path in originals:
        assert (out / path.name).read_bytes() == path.read_bytes(), path.name

    sample_bytes = sum(p.stat().st_size for p in (store_dir / SAMPLE).iterdir())
    assert sample_bytes * 10 <= (maps_dir / f"{SAMPLE}.npy").stat().st_size  # the target: 10x smaller
    # It is a plain zarr v3 store: zarr-python reads the arrays the fast reader reads.
    group = zarr.open_group(store_dir, mode="r")
    stored = ParsingStore(store_dir)
    with stored.open(SAMPLE) as maps:
        assert maps.shape == (103, 119, 119)
        np.testing.assert_array_equal(group[SAMPLE][:], maps.read())
        np.testing.assert_array_equal(maps.read(), np.load(maps_dir / f"{SAMPLE}.npy")[..., 0])
        np.testing.assert_array_equal(maps[-1], maps.read()[102])

    assert pack_maps(maps_dir, store_dir, show_progress=False).skipped == sorted(p.stem for p in originals)


def test_pack_in_worker_processes(maps_dir: Path, tmp_path: Path) -> None:
    summary = pack_maps(maps_dir, tmp_path / "store", workers=2, show_progress=False)
    assert len(summary.done) == 6 and not summary.failed
    unpack_store(tmp_path / "store", tmp_path / "out", show_progress=False)
    assert all((tmp_path / "out" / p.name).read_bytes() == p.read_bytes() for p in maps_dir.glob("*.npy"))


def test_a_killed_pack_resumes(maps_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store_dir = tmp_path / "store"
    commit = store_module._commit
    commits = []

    def dies_at_the_third_sample(partial: Path, final: Path) -> None:
        if len(commits) == 2:
            raise KeyboardInterrupt  # as if killed between writing the sample and renaming it into place
        commits.append(final.name)
        commit(partial, final)

    monkeypatch.setattr(store_module, "_commit", dies_at_the_third_sample)
    with pytest.raises(KeyboardInterrupt):
        pack_maps(maps_dir, store_dir, show_progress=False)
    assert ParsingStore(store_dir).names() == set(commits)  # only complete samples are visible
    left = store_dir / PARTIAL_DIR / sorted(p.stem for p in maps_dir.glob("*.npy"))[2]
    left.mkdir()  # what a SIGKILL leaves behind, where an exception cleans up
    (left / "zarr.json").write_text("{half written")

    monkeypatch.setattr(store_module, "_commit", commit)
    summary = pack_maps(maps_dir, store_dir, show_progress=False)
    assert summary.skipped == commits and len(summary.done) == 4 and not summary.failed
    assert not list((store_dir / PARTIAL_DIR).iterdir())
    unpack_store(store_dir, tmp_path / "out", show_progress=False)
    assert all((tmp_path / "out" / p.name).read_bytes() == p.read_bytes() for p in maps_dir.glob("*.npy"))


def flip_byte_in_frame(store_dir: Path, name: str, frame: int) -> None:
    """Corrupt one byte in the middle of a frame's chunk, found through the shard index."""
    shard = store_dir / name / SHARD_KEY
    data = bytearray(shard.read_bytes())
    with ParsingStore(store_dir).open(name) as maps:
        frames = maps.shape[0]
    index = np.frombuffer(bytes(data[-(16 * frames + 4) : -4]), "<u8").reshape(frames, 2)
    offset, length = (int(v) for v in index[frame])
    data[offset + length // 2] ^= 0xFF
    shard.write_bytes(bytes(data))


def test_a_corrupt_chunk_is_named_with_its_store_sample_and_frame(ntu_fixtures: Path, tmp_path: Path) -> None:
    store_dir = tmp_path / "store"
    pack_maps(ntu_fixtures / "parsing", store_dir, show_progress=False)
    flip_byte_in_frame(store_dir, SAMPLE, 44)
    message = rf"{store_dir}: sample {SAMPLE} frame 44: chunk checksum mismatch"
    with ParsingStore(store_dir).open(SAMPLE) as maps:
        maps[43]  # the other frames still read
        with pytest.raises(CorruptParsingStoreError, match=message):
            maps[44]
    # Evaluation shows frames 0, 11, ..., 88 (T // 9 = 11): frame 44 is among them.
    dataset = ParsingFeatureMapDataset([SAMPLE], [0], store_dir, train=False, image_size=32)
    with pytest.raises(CorruptParsingStoreError, match=message):
        dataset[0]
    summary = unpack_store(store_dir, tmp_path / "out", show_progress=False)
    assert summary.failed == [SAMPLE] and "frame 44" in read_failures(tmp_path / "out")[SAMPLE]

    shard = store_dir / SAMPLE / SHARD_KEY
    shard.write_bytes(shard.read_bytes()[:-7])  # truncated: the index at the end is gone
    with pytest.raises(CorruptParsingStoreError, match=rf"sample {SAMPLE}: the shard index is corrupt"):
        with ParsingStore(store_dir).open(SAMPLE):
            pass


def test_store_errors_are_one_line_and_exit_2(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("not a store")
    (tmp_path / "maps").mkdir()
    with caplog.at_level(logging.ERROR):
        assert main(["store", "pack", "--maps", str(tmp_path / "maps"), "--out", str(tmp_path / "taken")]) == 2
        assert main(["store", "unpack", "--store", str(tmp_path / "maps"), "--out", str(tmp_path / "o")]) == 2
    assert f"{tmp_path / 'taken'}: the folder holds other files" in caplog.text
    assert f"{tmp_path / 'maps'}: not a parsing store (no zarr.json)" in caplog.text


def test_a_map_that_cannot_come_back_byte_for_byte_is_a_recorded_failure(maps_dir: Path, tmp_path: Path) -> None:
    bad = maps_dir / "S001C001P009R001A001.npy"
    bad.write_bytes(bad.with_name(f"{SAMPLE}.npy").read_bytes() + b"trailing")
    assert main(["store", "pack", "--maps", str(maps_dir), "--out", str(tmp_path / "store"), "--quiet"]) == 1
    assert "holds more than its array" in read_failures(tmp_path / "store")[bad.stem]
    assert bad.stem not in ParsingStore(tmp_path / "store").names()


# -- the parsing branch reading a store ---------------------------------------------------------------


@pytest.fixture
def npy_and_store(maps_dir: Path, tmp_path: Path) -> tuple[Path, Path, list[str]]:
    pack_maps(maps_dir, tmp_path / "store", show_progress=False)
    return maps_dir, tmp_path / "store", sorted(p.stem for p in maps_dir.glob("*.npy"))


@pytest.mark.parametrize("layout", ["eppnet", "ipp-net"])
@pytest.mark.parametrize("train", [True, False])
def test_feature_maps_from_the_store_equal_those_from_npy(npy_and_store, layout: str, train: bool) -> None:
    npy_dir, store_dir, names = npy_and_store
    options = dict(train=train, layout=layout, num_frames=9 if layout == "eppnet" else 5, image_size=40,
                   color_jitter=0.2 if layout == "eppnet" else 0.0)
    from_npy = ParsingFeatureMapDataset(names, [0] * len(names), npy_dir, **options)
    from_store = ParsingFeatureMapDataset(names, [0] * len(names), store_dir, **options)
    for index in range(len(names)):
        torch.manual_seed(index)
        expected_map, expected_tensor = from_npy.feature_map(index), from_npy[index][0]
        torch.manual_seed(index)
        np.testing.assert_array_equal(from_store.feature_map(index), expected_map)
        assert torch.equal(from_store[index][0], expected_tensor)


def test_missing_samples_of_a_store_are_listed_before_training(npy_and_store) -> None:
    _, store_dir, names = npy_and_store
    wanted = [*names, "S001C001P003R001A001", "S001C001P003R001A002"]
    with pytest.raises(MissingParsingMapsError,
                       match=rf"2 of 8 samples have no parsing map in the parsing store {store_dir}: "
                             r"S001C001P003R001A001, S001C001P003R001A002"):
        ParsingFeatureMapDataset(wanted, [0] * len(wanted), store_dir, train=False)
