"""The ``parse`` batch: resumable, shardable, and a bad sample is recorded while the batch goes on."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from parsing.__main__ import main
from parsing.batch import Shard, read_failures, resolve_shard
from parsing.parse import list_frames, load_parsing_map, parse_folder
from parsing.schp import SchpOutput
from parsing.store import ParsingStore

SAMPLE = "S001C001P001R001A001"
INPUT_SIZE = 33  # tiny inputs keep ResNet-101 fast; maps are (33 + 3) // 4 = 9 pixels wide


class StubParser(torch.nn.Module):
    """Stands in for SCHP where only the batch logic is under test: a strided conv to 20 classes."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 20, 3, stride=4, padding=1)

    def forward(self, x: torch.Tensor) -> SchpOutput:
        logits = self.conv(x)
        return SchpOutput(logits, logits, logits[:, :2])


@pytest.fixture
def model() -> StubParser:
    return StubParser()


@pytest.fixture
def frames_dir(ntu_fixtures: Path, tmp_path: Path) -> Path:
    """Three good samples of two fixture frames, one with a corrupt frame, one with a frame missing."""
    root = tmp_path / "frames"
    source = ntu_fixtures / "person_frames" / SAMPLE
    for action in range(1, 6):
        sample = root / f"S001C001P001R001A{action:03d}"
        sample.mkdir(parents=True)
        for index in range(2):
            (sample / f"{index}.jpg").write_bytes((source / f"{10 * action + index}.jpg").read_bytes())
    (root / "S001C001P001R001A004" / "1.jpg").write_bytes(b"\xff\xd8 truncated jpeg")
    (root / "S001C001P001R001A005" / "0.jpg").unlink()
    return root


GOOD = [f"S001C001P001R001A{action:03d}" for action in range(1, 4)]
BAD = ["S001C001P001R001A004", "S001C001P001R001A005"]


def test_parse_command_writes_maps_and_records_failures(frames_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "parsing"
    argv = ["parse", "--frames", str(frames_dir), "--out", str(out), "--random-weights", "--seed", "0"]
    argv += ["--input-size", str(INPUT_SIZE), "--batch-size", "2", "--device", "cpu", "--quiet"]
    assert main(argv) == 1  # some samples failed
    for name in GOOD:
        labels = np.load(out / f"{name}.npy")
        assert labels.shape == (2, 9, 9, 1) and labels.dtype == np.uint8
    failures = read_failures(out)
    assert set(failures) == set(BAD)
    assert "S001C001P001R001A004/1.jpg: not a readable image" in failures[BAD[0]]
    assert "S001C001P001R001A005/0.jpg: frame missing" in failures[BAD[1]]
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_resume_skips_done_samples(model: StubParser, frames_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "parsing"
    out.mkdir()
    done = np.full((2, 9, 9, 1), 7, dtype=np.uint8)
    np.save(out / f"{GOOD[0]}.npy", done)
    summary = parse_folder(model, frames_dir, out, input_size=INPUT_SIZE, show_progress=False)
    assert summary.skipped == [GOOD[0]] and summary.done == GOOD[1:]
    np.testing.assert_array_equal(np.load(out / f"{GOOD[0]}.npy"), done)  # untouched
    again = parse_folder(model, frames_dir, out, input_size=INPUT_SIZE, show_progress=False)
    assert again.skipped == GOOD and not again.done
    assert again.failed == BAD  # retried, failing again


def test_parse_writes_into_a_store_as_into_a_folder(model: StubParser, frames_dir: Path, tmp_path: Path) -> None:
    folder = parse_folder(model, frames_dir, tmp_path / "npy", input_size=INPUT_SIZE, show_progress=False)
    store_dir = tmp_path / "store"
    summary = parse_folder(model, frames_dir, ParsingStore.create(store_dir), input_size=INPUT_SIZE,
                           show_progress=False)
    assert summary.done == folder.done == GOOD and summary.failed == BAD
    assert set(read_failures(store_dir)) == set(BAD)
    store = ParsingStore(store_dir)
    for name in GOOD:
        assert store.npy_bytes(name) == (tmp_path / "npy" / f"{name}.npy").read_bytes()
    again = parse_folder(model, frames_dir, store, input_size=INPUT_SIZE, show_progress=False)
    assert again.skipped == GOOD and not again.done


def test_shards_partition_the_samples(model: StubParser, frames_dir: Path, tmp_path: Path) -> None:
    names = [f"sample{i}" for i in range(10)]
    shards = [Shard(i, 3).select(names) for i in range(3)]
    assert sorted(sum(shards, [])) == sorted(names)
    assert not set(shards[0]) & set(shards[1]) and not set(shards[1]) & set(shards[2])

    written = []
    for index in range(2):
        out = tmp_path / f"shard{index}"
        parse_folder(
            model, frames_dir, out, input_size=INPUT_SIZE, shard=Shard(index, 2), show_progress=False
        )
        written.append({p.stem for p in out.glob("*.npy")})
    assert not written[0] & written[1]
    assert written[0] | written[1] == set(GOOD)


def test_shard_comes_from_torchrun_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert resolve_shard(None, None) == Shard(3, 4)
    assert resolve_shard(0, 2) == Shard(0, 2)
    with pytest.raises(ValueError, match="outside"):
        Shard(4, 4)


def test_frame_order_follows_the_integer_in_the_name(tmp_path: Path) -> None:
    for index in (10, 2, 0, 1, 3, 4, 5, 6, 7, 8, 9):
        (tmp_path / f"{index}.jpg").touch()
    assert [p.stem for p in list_frames(tmp_path)] == [str(i) for i in range(11)]
    (tmp_path / "cover.jpg").touch()
    with pytest.raises(ValueError, match="cover.jpg"):
        list_frames(tmp_path)


def test_checkpoint_with_wrong_keys_is_named(
    tmp_path: Path, frames_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    checkpoint = tmp_path / "other.pth"
    torch.save({"state_dict": {"module.backbone.fc.weight": torch.zeros(2, 2)}}, checkpoint)
    argv = [
        "parse",
        "--frames",
        str(frames_dir),
        "--out",
        str(tmp_path / "o"),
        "--checkpoint",
        str(checkpoint),
    ]
    with caplog.at_level(logging.ERROR):
        assert main([*argv, "--device", "cpu", "--quiet"]) == 2
    assert "other.pth" in caplog.text
    assert "603 missing keys: conv1.weight" in caplog.text
    assert "unexpected keys: backbone.fc.weight" in caplog.text


@pytest.mark.parametrize(
    ("array", "problem"),
    [
        (np.zeros((3, 119, 119, 1), np.float32), "float32"),
        (np.zeros((3, 119, 119, 3), np.uint8), "(3, 119, 119, 3)"),
    ],
)
def test_parsing_map_of_wrong_dtype_or_shape_is_named(
    tmp_path: Path, array: np.ndarray, problem: str
) -> None:
    path = tmp_path / "bad.npy"
    np.save(path, array)
    with pytest.raises(ValueError, match=r"bad\.npy: expected a uint8 parsing map") as info:
        load_parsing_map(path)
    assert problem in str(info.value)
