"""2D keypoints for Kinetics-TPS: COCO JSON and pyskl pickles read and written, and the synthetic set's poses."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from data.synthetic.kinetics_tps import SUMMARY_FILE, TPSSyntheticConfig, generate
from part_parsing.keypoints import (
    KEYPOINT_NAMES,
    PersonPose,
    read_keypoints,
    write_coco_keypoints,
    write_pyskl_keypoints,
)
from part_parsing.tps import read_video

CONFIG = TPSSyntheticConfig(seed=1, classes=4, videos_per_class=3, test_per_class=1, frames=10)
LEFT_SHOULDER, RIGHT_SHOULDER = KEYPOINT_NAMES.index("left_shoulder"), KEYPOINT_NAMES.index("right_shoulder")


def _person(rng: np.random.Generator) -> PersonPose:
    return PersonPose(rng.uniform(0, 300, (17, 2)).astype(np.float32), rng.uniform(0.1, 1, 17).astype(np.float32))


def _poses() -> dict:
    rng = np.random.default_rng(0)
    return {"vid_a": {1: [_person(rng)], 2: [_person(rng), _person(rng)], 3: []},
            "vid_b": {1: [], 2: [_person(rng)]}}


def _triples(xy: list[tuple[float, float]], third: list[float]) -> list[float]:
    return [v for (x, y), s in zip(xy, third, strict=True) for v in (x, y, s)]


def test_a_person_pose_holds_float32_read_only_arrays() -> None:
    pose = PersonPose(np.zeros((17, 2)), np.ones(17))
    assert pose.keypoints.dtype == pose.scores.dtype == np.float32
    assert not pose.keypoints.flags.writeable
    assert pose == PersonPose(np.zeros((17, 2), np.float32), np.ones(17, np.float32))
    with pytest.raises(ValueError, match="keypoints"):
        PersonPose(np.zeros((25, 2)), np.ones(17))


def test_the_pyskl_writer_round_trips(tmp_path: Path) -> None:
    poses = _poses()
    path = write_pyskl_keypoints(tmp_path / "k.pkl", poses, (320, 240), {"vid_a": 3, "vid_b": 2},
                                 labels={"vid_a": 0, "vid_b": 5}, split="train")
    assert read_keypoints(path) == poses
    with open(path, "rb") as f:
        content = pickle.load(f)  # our own file: the layout pyskl's tools/data/README.md describes
    assert content["split"] == {"train": ["vid_a", "vid_b"]}
    first = content["annotations"][0]
    assert first["keypoint"].shape == (2, 3, 17, 2) and first["keypoint_score"].shape == (2, 3, 17)
    assert first["img_shape"] == (240, 320) and first["total_frames"] == 3 and first["label"] == 0
    # frames the poses leave out come back as frames without persons
    write_pyskl_keypoints(tmp_path / "k2.pkl", {"vid_b": {2: poses["vid_b"][2]}}, (320, 240), {"vid_b": 4})
    assert read_keypoints(tmp_path / "k2.pkl") == {"vid_b": {1: [], 2: poses["vid_b"][2], 3: [], 4: []}}


def test_the_pyskl_writer_refuses_what_it_cannot_store(tmp_path: Path) -> None:
    unseen = {"v": {1: [PersonPose(np.ones((17, 2)), np.zeros(17))]}}
    with pytest.raises(ValueError, match="no person"):
        write_pyskl_keypoints(tmp_path / "k.pkl", unseen, (10, 10), {"v": 1})
    with pytest.raises(ValueError, match="past its 2 frames"):
        write_pyskl_keypoints(tmp_path / "k.pkl", _poses(), (10, 10), {"vid_a": 2, "vid_b": 2})
    assert not (tmp_path / "k.pkl").exists()


def test_the_coco_writer_round_trips(tmp_path: Path) -> None:
    poses = _poses()
    path = write_coco_keypoints(tmp_path / "k.json", poses)
    assert read_keypoints(path) == poses
    content = json.loads(path.read_text())
    assert [i["file_name"] for i in content["images"]][:2] == ["vid_a/img_00001.jpg", "vid_a/img_00002.jpg"]
    assert len(content["annotations"][0]["keypoints"]) == 51


def test_a_hand_written_coco_file(tmp_path: Path) -> None:
    xy = [(float(k), float(k + 100)) for k in range(17)]
    content = {
        "images": [{"id": 7, "file_name": "jogging/vidA/img_00003.jpg"}, {"id": 9, "file_name": "vidA/img_00001.jpg"},
                   {"id": 4, "file_name": "/data/frames/squat/vidB/img_00012.jpg"}],
        "annotations": [
            {"image_id": 7, "keypoints": _triples(xy, [2] * 16 + [0])},  # COCO visibility flags
            {"image_id": 7, "keypoints": _triples(xy, [0.5] * 17), "keypoint_scores": [0.25] * 17},
            {"image_id": 4, "keypoints": _triples(xy, [0.75] * 16 + [0])},  # confidences, one of them 0
        ],
    }
    (tmp_path / "mine.json").write_text(json.dumps(content))
    poses = read_keypoints(tmp_path / "mine.json")
    assert {v: sorted(f) for v, f in poses.items()} == {"vidA": [1, 3], "vidB": [12]}
    assert poses["vidA"][1] == []  # an image without annotations: a frame without persons
    first, second = poses["vidA"][3]  # the file's order
    np.testing.assert_array_equal(first.keypoints, np.array(xy, np.float32))
    np.testing.assert_array_equal(first.scores, [1.0] * 16 + [0.0])
    np.testing.assert_array_equal(second.scores, [0.25] * 17)
    np.testing.assert_array_equal(poses["vidB"][12][0].scores, np.array([0.75] * 16 + [0], np.float32))


def test_coco_results_need_file_names_for_image_ids(tmp_path: Path) -> None:
    xy = [(1.0, 2.0)] * 17
    results = [{"image_id": "throw/vidC/img_00002.jpg", "category_id": 1, "keypoints": _triples(xy, [0.9] * 17),
                "score": 0.8}]
    (tmp_path / "results.json").write_text(json.dumps(results))
    poses = read_keypoints(tmp_path / "results.json")
    assert list(poses) == ["vidC"] and list(poses["vidC"]) == [2] and len(poses["vidC"][2]) == 1
    results[0]["image_id"] = 397133
    (tmp_path / "numeric.json").write_text(json.dumps(results))
    with pytest.raises(ValueError, match=r"numeric.json: \[0\]\.image_id: .*images table"):
        read_keypoints(tmp_path / "numeric.json")


def test_a_hand_written_pyskl_pickle(tmp_path: Path) -> None:
    keypoint = np.arange(2 * 3 * 17 * 2, dtype=np.float16).reshape(2, 3, 17, 2)
    score = np.full((2, 3, 17), 0.9, np.float32)
    score[1, 1] = 0  # the second person is absent at frame 2
    score[0, 2] = -1  # the first at frame 3
    annotation = {"frame_dir": "vidD", "label": 3, "img_shape": (240, 320), "original_shape": (240, 320),
                  "total_frames": 3, "keypoint": keypoint, "keypoint_score": score}
    with open(tmp_path / "hand.pkl", "wb") as f:
        pickle.dump({"split": {"train": ["vidD"]}, "annotations": [annotation]}, f)
    poses = read_keypoints(tmp_path / "hand.pkl")
    assert list(poses) == ["vidD"] and [len(poses["vidD"][t]) for t in (1, 2, 3)] == [2, 1, 1]
    np.testing.assert_array_equal(poses["vidD"][1][1].keypoints, keypoint[1, 0].astype(np.float32))
    np.testing.assert_array_equal(poses["vidD"][3][0].keypoints, keypoint[1, 2].astype(np.float32))
    assert poses["vidD"][2][0].keypoints.dtype == np.float32


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return os.system, (f"touch {self.marker}",)


def _coco_with(annotation: dict) -> str:
    return json.dumps({"images": [{"id": 1, "file_name": "v/img_00001.jpg"}], "annotations": [annotation]})


@pytest.mark.parametrize(("name", "content", "message"), [
    ("short.json", _coco_with({"image_id": 1, "keypoints": [1.0] * 48}),
     "annotations[0].keypoints: expected 51 numbers, found 48"),
    ("noid.json", _coco_with({"keypoints": [1.0] * 51}), "annotations[0].image_id: missing field"),
    ("text.json", _coco_with({"image_id": 1, "keypoints": [1.0] * 50 + ["x"]}), "annotations[0].keypoints[50]"),
    ("orphan.json", _coco_with({"image_id": 2, "keypoints": [1.0] * 51}), "annotations[0].image_id"),
    ("noimages.json", json.dumps({"annotations": []}), "images: missing field"),
    ("badname.json", json.dumps({"images": [{"id": 1, "file_name": "frame1.jpg"}], "annotations": []}),
     "images[0].file_name"),
    ("truncated.json", _coco_with({"image_id": 1, "keypoints": [1.0] * 51})[:-20], "invalid JSON"),
    ("empty.pkl", b"", "not a readable pickle"),
    ("truncated.pkl", pickle.dumps({"annotations": [{"frame_dir": "v", "keypoint": np.zeros((1, 2, 17, 2))}]})[:-30],
     "not a readable pickle"),
    ("coco25.pkl", pickle.dumps({"split": {}, "annotations": [{
        "frame_dir": "v", "total_frames": 2, "keypoint": np.zeros((1, 2, 25, 2)),
        "keypoint_score": np.zeros((1, 2, 25))}]}), "annotations[0].keypoint: expected an array (M, T, 17, 2)"),
    ("noscore.pkl", pickle.dumps({"split": {}, "annotations": [{
        "frame_dir": "v", "total_frames": 2, "keypoint": np.zeros((1, 2, 17, 2))}]}),
     "annotations[0].keypoint_score: missing field"),
    ("frames.pkl", pickle.dumps({"split": {}, "annotations": [{
        "frame_dir": "v", "total_frames": 5, "keypoint": np.zeros((1, 2, 17, 2)),
        "keypoint_score": np.zeros((1, 2, 17))}]}), "annotations[0].total_frames"),
    ("noanno.pkl", pickle.dumps({"split": {}}), "annotations: expected dict(split=..., annotations=[...])"),
])
def test_malformed_inputs_name_the_file_and_the_field(tmp_path: Path, name: str, content: str | bytes,
                                                      message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(ValueError) as error:
        read_keypoints(path)
    assert str(error.value).startswith(f"{path}: ") and message in str(error.value)


def test_a_pickle_naming_a_forbidden_global_is_refused_unrun(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"split": {}, "annotations": [_Exploit(marker)]}, protocol=2))
    with pytest.raises(ValueError, match=r"evil\.pkl.*(posix|os|nt)\.system"):
        read_keypoints(path)
    assert not marker.exists()


def test_the_format_is_found_from_the_content_without_a_known_suffix(tmp_path: Path) -> None:
    poses = _poses()
    write_coco_keypoints(tmp_path / "k.json", poses)
    write_pyskl_keypoints(tmp_path / "k.pkl", poses, (320, 240), {"vid_a": 3, "vid_b": 2})
    (tmp_path / "k.json").rename(tmp_path / "coco.out")
    (tmp_path / "k.pkl").rename(tmp_path / "pyskl.out")
    assert read_keypoints(tmp_path / "coco.out") == poses == read_keypoints(tmp_path / "pyskl.out")
    (tmp_path / "other.out").write_text("x,y\n")
    with pytest.raises(ValueError, match="other.out: content"):
        read_keypoints(tmp_path / "other.out")


@pytest.fixture(scope="module")
def tps_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tps")
    generate(root, CONFIG)
    return root


def test_synthetic_keypoints_follow_the_annotated_persons(tps_root: Path) -> None:
    summary = json.loads((tps_root / SUMMARY_FILE).read_text())
    counted = {"two persons": 0, "no person": 0, "outside the frame": 0}
    for split in ("train", "test"):
        poses = read_keypoints(tps_root / f"{split}_keypoints.pkl")
        videos = [v for v in summary["videos"] if v["split"] == split]
        assert sorted(poses) == sorted(v["name"] for v in videos)
        for entry in videos:
            frames = poses[entry["name"]]
            assert sorted(frames) == list(range(1, CONFIG.frames + 1))
            for frame in read_video(tps_root / f"{split}_annotations", entry["action"], entry["name"]).frames:
                persons = frames[frame.index]
                assert len(persons) == len(frame.humans)  # same persons, same order (boxes checked below)
                counted["two persons"] += len(persons) == 2
                counted["no person"] += not persons
                for person, human in zip(persons, frame.humans, strict=True):
                    x1, y1, x2, y2 = human.box
                    seen = person.scores > 0
                    x, y = person.keypoints[seen].T
                    assert ((x >= x1) & (x <= x2) & (y >= y1) & (y <= y2)).all()
                    assert ((person.scores[seen] >= 0.9) & (person.scores[seen] <= 1.0)).all()
                    x, y = person.keypoints[~seen].T
                    assert ((x < 0) | (x > CONFIG.width - 1) | (y < 0) | (y > CONFIG.height - 1)).all()
                    counted["outside the frame"] += int((~seen).sum())
                    # facing the camera: the person's left is on the image's right
                    assert person.keypoints[LEFT_SHOULDER, 0] > person.keypoints[RIGHT_SHOULDER, 0]
    assert all(counted.values()), counted  # the configuration exercises every case


def test_synthetic_keypoints_are_byte_identical_for_a_seed(tps_root: Path, tmp_path: Path) -> None:
    generate(tmp_path, CONFIG)
    for split in ("train", "test"):
        assert (tmp_path / f"{split}_keypoints.pkl").read_bytes() == (tps_root / f"{split}_keypoints.pkl").read_bytes()
    files = sorted(p.relative_to(tps_root) for p in tps_root.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert all((tmp_path / f).read_bytes() == (tps_root / f).read_bytes() for f in files)
