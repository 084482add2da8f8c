"""Videos to maps in one pass (``parse --videos``) on a synthetic video: maps of the right shape in a
folder or a store, the crops of the ``frames`` command, and a truncated video recorded as a failure."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from data.synthetic import SyntheticConfig, generate
from parsing.__main__ import main
from parsing.batch import read_failures
from parsing.parse import parse_inputs
from parsing.person_frames import person_crops
from parsing.schp import schp_input
from parsing.store import ParsingStore
from parsing.video_parse import parse_videos
from tests.test_parsing_batch import INPUT_SIZE, StubParser

FRAMES = 30
TRUNCATED_TO = 12


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str, str]:
    """A synthetic NTU sample with its video, and a copy whose video stops after 12 of its 30 frames."""
    root = tmp_path_factory.mktemp("synthetic")
    config = SyntheticConfig(classes=1, two_person_classes=0, samples_per_class=4, min_frames=FRAMES,
                             max_frames=FRAMES, videos=1, missing=0, noise_rate=0.0, parsing=False)
    (good,) = generate(root, config, progress=False)["videos"]
    truncated = good[:12] + "9" + good[13:]  # another replication number: a valid NTU name
    shutil.copy(root / "skeletons" / f"{good}.skeleton", root / "skeletons" / f"{truncated}.skeleton")
    source = cv2.VideoCapture(str(root / "videos" / f"{good}_rgb.avi"))
    size = (int(source.get(cv2.CAP_PROP_FRAME_WIDTH)), int(source.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    writer = cv2.VideoWriter(str(root / "videos" / f"{truncated}_rgb.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 30, size)
    for _ in range(TRUNCATED_TO):
        writer.write(source.read()[1])
    writer.release()
    source.release()
    return root / "videos", root / "skeletons", good, truncated


def test_one_pass_parse_into_a_store_records_the_truncated_video(videos, tmp_path: Path) -> None:
    videos_dir, skeletons_dir, good, truncated = videos
    store_dir, kept = tmp_path / "store", tmp_path / "kept"
    argv = ["parse", "--videos", str(videos_dir), "--skeletons", str(skeletons_dir), "--out-store", str(store_dir),
            "--keep-frames", str(kept), "--random-weights", "--input-size", str(INPUT_SIZE), "--batch-size", "16",
            "--workers", "1", "--device", "cpu", "--quiet"]
    assert main(argv) == 1  # the truncated video failed
    store = ParsingStore(store_dir)
    assert store.names() == {good}
    with store.open(good) as maps:
        assert maps.shape == (FRAMES, 9, 9) and maps.read().max() < 20
    assert read_failures(store_dir)[truncated].endswith(
        f"{truncated}_rgb.avi: truncated video: {TRUNCATED_TO} frames decode, but its skeleton "
        f"{truncated}.skeleton has {FRAMES}")
    assert sorted(p.name for p in kept.iterdir()) == [good] and len(list((kept / good).glob("*.jpg"))) == FRAMES


def test_one_pass_maps_are_the_parsed_crops_and_kept_frames_those_of_frames(videos, tmp_path: Path) -> None:
    videos_dir, skeletons_dir, good, truncated = videos
    model = StubParser()
    summary = parse_videos(model, videos_dir, skeletons_dir, tmp_path / "maps", input_size=INPUT_SIZE,
                           workers=2, keep_frames=tmp_path / "kept", show_progress=False)
    assert summary.done == [good] and summary.failed == [truncated]
    crops = list(person_crops(videos_dir / f"{good}_rgb.avi", skeletons_dir / f"{good}.skeleton", good))
    expected = parse_inputs(model, np.stack([schp_input(crop, INPUT_SIZE) for crop in crops]))
    maps = np.load(tmp_path / "maps" / f"{good}.npy")
    assert maps.shape == (FRAMES, 9, 9, 1)
    np.testing.assert_array_equal(maps, expected)

    # The two-step path writes the same person frames, and fails the truncated video too.
    frames = tmp_path / "frames"
    assert main(["frames", "--videos", str(videos_dir), "--skeletons", str(skeletons_dir), "--out", str(frames),
                 "--quiet"]) == 1
    assert "truncated video" in read_failures(frames)[truncated] and not (frames / truncated).exists()
    for path in sorted((frames / good).iterdir()):
        assert (tmp_path / "kept" / good / path.name).read_bytes() == path.read_bytes()

    again = parse_videos(model, videos_dir, skeletons_dir, tmp_path / "maps", input_size=INPUT_SIZE, workers=1,
                         show_progress=False)
    assert again.skipped == [good] and again.failed == [truncated]


def test_one_pass_options_are_checked(videos, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    videos_dir, skeletons_dir, _, _ = videos
    base = ["parse", "--random-weights", "--device", "cpu", "--out", str(tmp_path / "o")]
    assert main([*base, "--videos", str(videos_dir)]) == 2
    assert main([*base, "--frames", str(tmp_path), "--skeletons", str(skeletons_dir)]) == 2
    assert "--videos needs --skeletons" in caplog.text
    assert "--skeletons and --keep-frames go with --videos" in caplog.text
