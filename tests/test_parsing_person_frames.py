"""Person frames from the skeleton's colour joints, checked against the detector crops of the fixtures."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from parsing.__main__ import main
from parsing.batch import read_failures
from pose_guidance.boxes import actors_in_action, person_boxes
from pose_guidance.skeleton_colors import SkeletonBody, SkeletonColors, read_skeleton_colors

SAMPLE = "S001C001P001R001A001"
TWO_PERSON = "S001C003P008R002A058"


def test_reader_keeps_every_frame_and_body(ntu_fixtures: Path) -> None:
    one = read_skeleton_colors(ntu_fixtures / "skeletons" / f"{SAMPLE}.skeleton")
    assert one.num_frames == 103 and len(one.bodies) == 1
    body = one.bodies[0]
    assert body.color.shape == (103, 25, 2) and body.xyz.shape == (103, 25, 3)
    np.testing.assert_allclose(body.color[0, 0], [1036.233, 519.1677], rtol=1e-6)
    two = read_skeleton_colors(ntu_fixtures / "skeletons" / f"{TWO_PERSON}.skeleton")  # CRLF file
    assert two.num_frames == 70 and [len(b.frames) for b in two.bodies] == [70, 70]


def test_reader_error_names_the_file_and_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.skeleton"
    broken.write_text("2\n1\n72057594037931101 0 1 1 1 1 0 0.02 0.05 2\n25\n0.1 0.2\n")
    with pytest.raises(ValueError, match=r"broken.skeleton:5: expected 12 fields"):
        read_skeleton_colors(broken)


@pytest.mark.parametrize(
    ("name", "actors"),
    [(SAMPLE, 1), (TWO_PERSON, 2), ("S018C001P008R001A106", 2), ("S018C001P008R001A105", 1)],
)
def test_two_person_actions(name: str, actors: int) -> None:
    assert actors_in_action(name) == actors


def locate(crop: np.ndarray, image: np.ndarray) -> tuple[int, int, int, int]:
    """Where a detector crop was cut from its video frame (searched at half resolution, for speed)."""
    small = cv2.resize(image, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    small_crop = cv2.resize(crop, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    scores = cv2.matchTemplate(small, small_crop, cv2.TM_CCOEFF_NORMED)
    _, best, _, (x, y) = cv2.minMaxLoc(scores)
    assert best > 0.9
    return 2 * x, 2 * y, 2 * x + crop.shape[1], 2 * y + crop.shape[0]


def area(box: tuple[int, int, int, int] | np.ndarray) -> int:
    return max(0, box[2] - box[0]) * max(0, box[3] - box[1])


def test_boxes_contain_the_detector_crops(ntu_fixtures: Path) -> None:
    skeleton = read_skeleton_colors(ntu_fixtures / "skeletons" / f"{SAMPLE}.skeleton")
    boxes = person_boxes(skeleton, max_actors=1)
    capture = cv2.VideoCapture(str(ntu_fixtures / "videos" / f"{SAMPLE}_rgb.avi"))
    checked = 0
    for index in range(skeleton.num_frames):
        ok, image = capture.read()
        assert ok
        if index not in (0, 40, 80, 102):
            continue
        crop = cv2.imread(str(ntu_fixtures / "person_frames" / SAMPLE / f"{index}.jpg"))
        detector = locate(crop, image)
        ours = boxes[index]
        inter = (
            max(ours[0], detector[0]),
            max(ours[1], detector[1]),
            min(ours[2], detector[2]),
            min(ours[3], detector[3]),
        )
        assert area(inter) / area(detector) > 0.97, (index, ours, detector)
        assert area(inter) / (area(ours) + area(detector) - area(inter)) > 0.75, (index, ours, detector)
        checked += 1
    capture.release()
    assert checked == 4


def test_two_person_box_is_the_union_of_both_actors(ntu_fixtures: Path) -> None:
    skeleton = read_skeleton_colors(ntu_fixtures / "skeletons" / f"{TWO_PERSON}.skeleton")
    both = person_boxes(skeleton, max_actors=2)
    one = person_boxes(skeleton, max_actors=1)
    joints = np.concatenate(
        [b.color for b in skeleton.bodies], axis=1
    )  # (70, 50, 2), both bodies every frame
    assert (joints[..., 0] >= both[:, None, 0]).all() and (joints[..., 0] < both[:, None, 2]).all()
    assert (joints[..., 1] >= both[:, None, 1]).all() and (joints[..., 1] < both[:, None, 3]).all()
    assert (both[:, :2] <= one[:, :2]).all() and (both[:, 2:] >= one[:, 2:]).all()
    assert (both[:, 2] - both[:, 0]).mean() > 1.3 * (one[:, 2] - one[:, 0]).mean()


def synthetic_body(body_id: str, frames: list[int], x: float) -> SkeletonBody:
    """A standing body whose colour joints span x .. x+100, y 300 .. 700."""
    color = np.zeros((len(frames), 25, 2), dtype=np.float32)
    color[:, :, 0] = np.linspace(x, x + 100, 25)
    color[:, :, 1] = np.linspace(300, 700, 25)
    xyz = np.zeros((len(frames), 25, 3), dtype=np.float32)
    xyz[:, :, 1] = np.linspace(-1, 1, 25)
    return SkeletonBody(body_id, np.asarray(frames), xyz, color)


def test_frames_without_bodies_reuse_the_nearest_box() -> None:
    left, right = synthetic_body("a", [2], 100), synthetic_body("b", [5, 9], 1000)
    boxes = person_boxes(SkeletonColors(Path("x.skeleton"), 12, [left, right]), max_actors=2)
    nearest = [2, 2, 2, 2, 5, 5, 5, 5, 9, 9, 9, 9]  # frame 7 is a tie between 5 and 9: the earlier wins
    np.testing.assert_array_equal(boxes, boxes[nearest])
    assert boxes[0, 0] < 100 and boxes[5, 0] > 900


def test_short_noise_body_is_ignored() -> None:
    actor = synthetic_body("actor", list(range(40)), 800)
    flicker = synthetic_body("noise", [3, 4, 5], 100)  # 11 frames or fewer: dropped while another body exists
    boxes = person_boxes(SkeletonColors(Path("x.skeleton"), 40, [actor, flicker]), max_actors=2)
    assert (boxes[:, 0] > 700).all()


def test_no_usable_body_is_an_error_naming_the_file() -> None:
    with pytest.raises(ValueError, match="empty.skeleton: no frame has a body"):
        person_boxes(SkeletonColors(Path("empty.skeleton"), 5, []), max_actors=1)


def test_frames_command_writes_resumes_and_records_failures(ntu_fixtures: Path, tmp_path: Path) -> None:
    videos, skeletons, out = tmp_path / "videos", tmp_path / "skeletons", tmp_path / "frames"
    videos.mkdir()
    skeletons.mkdir()
    (videos / f"{SAMPLE}_rgb.avi").symlink_to(ntu_fixtures / "videos" / f"{SAMPLE}_rgb.avi")
    (skeletons / f"{SAMPLE}.skeleton").symlink_to(ntu_fixtures / "skeletons" / f"{SAMPLE}.skeleton")
    (videos / "S001C001P001R001A002_rgb.avi").write_bytes(b"not a video")  # unreadable video
    (skeletons / "S001C001P001R001A002.skeleton").symlink_to(
        ntu_fixtures / "skeletons" / f"{SAMPLE}.skeleton"
    )
    (videos / "S001C001P001R001A003_rgb.avi").symlink_to(
        ntu_fixtures / "videos" / f"{SAMPLE}_rgb.avi"
    )  # no skeleton

    argv = ["frames", "--videos", str(videos), "--skeletons", str(skeletons), "--out", str(out), "--quiet"]
    assert main(argv) == 1
    frames = sorted(int(p.stem) for p in (out / SAMPLE).glob("*.jpg"))
    assert frames == list(range(103))
    first = cv2.imread(str(out / SAMPLE / "0.jpg"))
    assert 100 < first.shape[1] < 200 and 420 < first.shape[0] < 520
    failures = read_failures(out)
    assert set(failures) == {"S001C001P001R001A002", "S001C001P001R001A003"}
    assert "S001C001P001R001A002_rgb.avi" in failures["S001C001P001R001A002"]
    assert "S001C001P001R001A003.skeleton" in failures["S001C001P001R001A003"]
    assert sorted(p.name for p in out.iterdir()) == [SAMPLE, "failures.txt"]  # no partial folders left

    written = (out / SAMPLE / "0.jpg").stat().st_mtime_ns
    assert (
        main([*argv, "--shard-index", "0", "--shard-count", "1"]) == 1
    )  # done sample skipped, failures retried
    assert (out / SAMPLE / "0.jpg").stat().st_mtime_ns == written
