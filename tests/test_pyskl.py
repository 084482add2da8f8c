"""pyskl / MMAction2 annotation pickles: export of prepared data, safe reading back as pose-branch input
(3D and 2D with scores), and the format facts of kennymckormick/pyskl's tools/data/README.md."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from data.prepare import prepare
from data.pyskl.__main__ import main as pyskl_main
from data.storage import export_pyskl, open_split
from data.synthetic import SyntheticConfig, generate
from pose_branch.feeder import SkeletonFeeder
from pose_branch.task import PoseExperiment, build_dataset

BENCHMARKS = ("ntu60-xsub", "ntu60-xview", "ntu120-xsub", "ntu120-xset")


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pyskl")
    config = SyntheticConfig(seed=2, classes=3, two_person_classes=1, samples_per_class=8, min_frames=30,
                             max_frames=40, videos=0, missing=1, parsing=False)
    generate(root / "synthetic", config, progress=False)
    prepare([root / "synthetic" / "skeletons"], root / "prepared", BENCHMARKS, workers=1, progress=False)
    return root


@pytest.mark.parametrize(("dataset", "benchmarks"), [("ntu60", BENCHMARKS[:2]), ("ntu120", BENCHMARKS[2:])])
def test_export_then_import_gives_the_same_samples_in_the_same_order(
    prepared: Path, dataset: str, benchmarks: tuple[str, ...]
) -> None:
    out = prepared / f"{dataset}.pkl"
    sizes = export_pyskl(prepared / "prepared", dataset, out)
    kinds = [b.split("-")[1] for b in benchmarks]
    assert list(sizes) == [f"{k}_{s}" for k in kinds for s in ("train", "val")]
    for benchmark in benchmarks:
        for split in ("train", "test"):
            ours, back = open_split(prepared / "prepared", benchmark, split), open_split(out, benchmark, split)
            assert back.names == ours.names and np.array_equal(back.labels, ours.labels)
            assert (back.num_classes, back.max_frames) == (ours.num_classes, ours.max_frames)
            for i in range(len(ours)):  # the same frames, to float16 as pyskl stores keypoints
                np.testing.assert_array_equal(back[i], ours[i].astype(np.float16).astype(np.float32))


def test_the_pickle_has_pyskl_s_layout(prepared: Path) -> None:
    out = prepared / "layout.pkl"
    export_pyskl(prepared / "prepared", "ntu60", out)
    with out.open("rb") as f:
        data = pickle.load(f)
    assert set(data) == {"split", "annotations"}
    assert set(data["split"]) == {"xsub_train", "xsub_val", "xview_train", "xview_val"}
    names = [a["frame_dir"] for a in data["annotations"]]
    assert names == sorted(names) and set(names) == set(data["split"]["xsub_train"] + data["split"]["xsub_val"])
    for entry in data["annotations"]:
        assert set(entry) == {"frame_dir", "label", "keypoint", "total_frames"}
        keypoint = entry["keypoint"]
        assert keypoint.dtype == np.float16 and keypoint.shape[1:] == (entry["total_frames"], 25, 3)
        two_person = int(entry["frame_dir"][-3:]) >= 50
        assert keypoint.shape[0] == (2 if two_person else 1) and entry["label"] == int(entry["frame_dir"][-3:]) - 1


def test_cli_and_the_pose_branch_read_the_pickle(prepared: Path, capsys: pytest.CaptureFixture) -> None:
    out = prepared / "cli.pkl"
    argv = ["export", "--prepared", str(prepared / "prepared"), "--dataset", "ntu120", "--out", str(out)]
    assert pyskl_main(argv) == 0
    assert "xset_val" in capsys.readouterr().out
    cfg = PoseExperiment()
    cfg.data.benchmark, cfg.data.root = "ntu120-xset", str(out)
    from_pickle = build_dataset(cfg, "test")
    cfg.data.root = str(prepared / "prepared")
    from_folder = build_dataset(cfg, "test")
    assert from_pickle.sample_names == from_folder.sample_names
    for i in range(len(from_folder)):
        (a, label_a), (b, label_b) = from_pickle[i], from_folder[i]
        assert label_a == label_b
        torch.testing.assert_close(a, b, atol=2e-3, rtol=0)

    with pytest.raises(SystemExit):
        pyskl_main(["export", "--prepared", str(prepared / "nothing"), "--dataset", "ntu60", "--out", str(out)])
    assert "none of ntu60-xsub, ntu60-xview is prepared there" in capsys.readouterr().err


def write_pickle(path: Path, annotations: list[dict], split: dict | None = None) -> Path:
    split = split if split is not None else {"xsub_val": [a["frame_dir"] for a in annotations], "xsub_train": []}
    with path.open("wb") as f:
        pickle.dump({"split": split, "annotations": annotations}, f, protocol=2)
    return path


def test_2d_keypoints_with_scores_become_x_y_score(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    keypoint = rng.uniform(0, 1000, (1, 6, 25, 2)).astype(np.float16)
    score = rng.uniform(0, 1, (1, 6, 25)).astype(np.float16)
    score[0, 2, 4] = 0.005  # below PreNormalize2D's threshold: no coordinates
    entry = {"frame_dir": "S001C001P003R001A010", "label": 9, "keypoint": keypoint, "keypoint_score": score,
             "total_frames": 6, "img_shape": (800, 1000), "original_shape": (800, 1000)}
    split = open_split(write_pickle(tmp_path / "hrnet.pkl", [entry]), "ntu120-xsub", "test")
    frames = split[0].reshape(6, 2, 25, 3)
    kp = keypoint.astype(np.float32)
    np.testing.assert_allclose(frames[:, 0, :, 0], (kp[0, ..., 0] - 500) / 500 * (score[0] > 0.01), atol=1e-6)
    np.testing.assert_allclose(frames[:, 0, :, 1], (kp[0, ..., 1] - 400) / 400 * (score[0] > 0.01), atol=1e-6)
    np.testing.assert_array_equal(frames[:, 0, :, 2], score[0].astype(np.float32))
    np.testing.assert_array_equal(frames[:, 1], frames[:, 0])  # NTU120: the single person is copied
    feeder = SkeletonFeeder(split, "bone")
    assert feeder[0][0].shape == (3, 64, 25, 2) and feeder[0][1] == 9


def test_reading_refuses_code_and_names_what_is_wrong(tmp_path: Path) -> None:
    class Payload:
        def __reduce__(self):
            return (os.mkdir, (str(tmp_path / "ran"),))

    evil = tmp_path / "evil.pkl"
    with evil.open("wb") as f:
        pickle.dump({"split": {"xsub_val": []}, "annotations": [Payload()]}, f, protocol=2)
    with pytest.raises(ValueError, match=r"evil.pkl: refused to load global (posix|nt)\.mkdir"):
        open_split(evil, "ntu60-xsub", "test")
    assert not (tmp_path / "ran").exists()

    coco = {"frame_dir": "S001C001P003R001A001", "label": 0, "keypoint": np.zeros((1, 4, 17, 2), np.float16),
            "keypoint_score": np.ones((1, 4, 17), np.float16), "total_frames": 4}
    split = open_split(write_pickle(tmp_path / "coco.pkl", [coco]), "ntu60-xsub", "test")
    with pytest.raises(ValueError, match=r"coco.pkl \[S001C001P003R001A001\]: 'keypoint' must be an array \(M, T, 25"):
        split[0]
    with pytest.raises(ValueError, match="has no split 'xview_val' .ntu60-xview test.; it has xsub_val, xsub_train"):
        open_split(tmp_path / "coco.pkl", "ntu60-xview", "test")
    with pytest.raises(ValueError, match="split 'xsub_val' names 1 samples with no annotation, e.g. S001C001P004"):
        open_split(write_pickle(tmp_path / "gap.pkl", [], {"xsub_val": ["S001C001P004R001A001"]}), "ntu60-xsub", "test")
    with pytest.raises(ValueError, match="needs the benchmark"):
        open_split(tmp_path / "coco.pkl", None, "test")
