"""The synthetic NTU generator: real file formats, the reference preprocessing's view of its noise,
benchmark coverage, parsing maps, videos, determinism and learnable class motion."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from data.ntu import BENCHMARKS, parse_name, split_order
from data.prepare import prepare
from data.preprocess import preprocess, spread_valid_frames
from data.skeleton import read_skeleton
from data.storage import open_split
from data.synthetic import (
    COLOR_CENTER,
    COLOR_FOCAL,
    SyntheticConfig,
    generate,
    main,
    plan_samples,
)
from data.synthetic.skeletons import performer_look

SMALL = SyntheticConfig(seed=0, classes=6, two_person_classes=2, samples_per_class=12, min_frames=40,
                        max_frames=60, videos=1, missing=2, noise_rate=0.1, crlf_rate=0.05)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("synthetic")
    return out, generate(out, SMALL, progress=False)


def read_raw_skeleton(path: Path) -> tuple[list[list[tuple[list[str], np.ndarray]]], bytes]:
    """An independent strict reader of the §2 format: per frame, the bodies' 10 header fields and
    (25, 12) joint numbers; also the file's line ending."""
    data = path.read_bytes()
    newline = b"\r\n" if b"\r\n" in data else b"\n"
    lines = data.decode("ascii").split(newline.decode())
    assert lines[-1] == "", f"{path.name}: no line ending after the last line"
    it = iter(lines[:-1])
    frames = []
    for _ in range(int(next(it))):
        bodies = []
        for _ in range(int(next(it))):
            header = next(it).split(" ")
            assert len(header) == 10, f"{path.name}: body line {header}"
            assert next(it) == "25"
            joints = [next(it).split(" ") for _ in range(25)]
            assert all(len(j) == 12 for j in joints), f"{path.name}: joint line of {len(joints[0])} fields"
            bodies.append((header, np.array(joints, dtype=np.float64)))
        frames.append(bodies)
    assert next(it, None) is None, f"{path.name}: text after the last frame"
    return frames, newline


def test_reader_in_this_test_reads_the_real_fixtures(ntu_fixtures: Path) -> None:
    frames, newline = read_raw_skeleton(ntu_fixtures / "skeletons" / "S001C003P008R002A058.skeleton")
    assert len(frames) == 70 and newline == b"\r\n" and {len(f) for f in frames} == {2}


def test_skeleton_files_have_the_real_format_and_kinect_geometry(dataset: tuple[Path, dict]) -> None:
    out, summary = dataset
    for sample in summary["samples"]:
        frames, newline = read_raw_skeleton(out / "skeletons" / f"{sample['name']}.skeleton")
        assert len(frames) == sample["frames"] and 40 <= len(frames) <= 60
        assert newline == (b"\r\n" if sample["line_endings"] == "crlf" else b"\n")
        if sample["missing"]:
            assert all(not bodies for bodies in frames)
            continue
        rows = np.concatenate([joints for bodies in frames for _, joints in bodies])
        ids = {header[0] for bodies in frames for header, _ in bodies}
        assert all(len(i) == 17 and i.isdigit() for i in ids)
        x, y, z = rows[:, 0], rows[:, 1], rows[:, 2]
        assert 1.8 < z.min() and z.max() < 5.0 and 2.5 < np.median(z) < 4.0, sample["name"]
        assert np.allclose(rows[:, 5], COLOR_CENTER[0] + COLOR_FOCAL * x / z, atol=0.01)
        assert np.allclose(rows[:, 6], COLOR_CENTER[1] - COLOR_FOCAL * y / z, atol=0.01)
        # a raised hand may leave the picture, as in real recordings; the body stays inside
        for pixels, size in ((rows[:, 3:5], (512, 424)), (rows[:, 5:7], (1920, 1080))):
            assert (pixels > -0.1 * np.array(size)).all() and (pixels < 1.1 * np.array(size)).all()
            assert np.mean((pixels > 0) & (pixels < size)) > 0.99
        assert set(np.unique(rows[:, 11])) <= {1.0, 2.0}
    assert summary["missing"] and any(s["line_endings"] == "crlf" for s in summary["samples"])


def test_reference_preprocessing_keeps_actors_and_drops_exactly_the_noise(dataset: tuple[Path, dict]) -> None:
    out, summary = dataset
    for kind, names in summary["noise"].items():
        assert names, f"no sample got {kind}"
    for sample in summary["samples"]:
        raw = read_skeleton(out / "skeletons" / f"{sample['name']}.skeleton")
        if sample["missing"]:
            assert raw.num_frames == 0  # how the preparation recognises a missing skeleton
            continue
        frames, log = preprocess(raw)
        assert frames.shape[1] == 75 * sample["persons"], sample
        dropped = [d["rule"] for d in log.get("decisions", []) if d.get("action") == "dropped"]
        expected = [rule for kind, rule in (("short_body", "length"), ("spread_body", "spread"))
                    if kind in sample["noise"]]
        assert sorted(dropped) == sorted(expected), (sample, log)
        if "dropped_frames" in sample["noise"]:
            assert log["empty_frames_dropped"] >= 3
        elif "vanishing_body" not in sample["noise"]:
            assert "empty_frames_dropped" not in log
        actors = [b for b in raw.bodies if b.num_frames > 11 and spread_valid_frames(b.joints).all()]
        assert len(actors) == sample["persons"]  # real actors never look like spread-out noise


def test_every_benchmark_split_holds_every_class() -> None:
    plans = plan_samples(SyntheticConfig(seed=3, classes=10, two_person_classes=4, samples_per_class=4))
    names = [p.name for p in plans]
    assert len(set(names)) == len(names)
    actions = {parse_name(n).action for n in names}
    assert {a for a in actions if a >= 50} and {a for a in actions if a < 50}
    for benchmark in BENCHMARKS.values():
        for split in ("train", "test"):
            chosen = split_order(names, benchmark, split)
            assert {parse_name(n).action for n in chosen} == actions, (benchmark.name, split)


def test_the_project_preparation_accepts_the_dataset(dataset: tuple[Path, dict], tmp_path: Path) -> None:
    out, summary = dataset
    result = prepare([out / "skeletons"], tmp_path, workers=1, progress=False)
    assert result.missing == len(summary["missing"]) and result.bad == 0
    labels = {c["action"] - 1 for c in summary["classes"]}
    for benchmark in BENCHMARKS:
        for split in ("train", "test"):
            data = open_split(tmp_path, benchmark, split)
            assert set(data.labels.tolist()) == labels, (benchmark, split)


def test_parsing_maps_are_lip_label_sequences_of_the_skeleton_length(dataset: tuple[Path, dict]) -> None:
    out, summary = dataset
    for sample in summary["samples"]:
        path = out / "parsing" / f"{sample['name']}.npy"
        if sample["missing"]:
            assert not path.exists()
            continue
        maps = np.load(path)
        assert maps.dtype == np.uint8 and maps.shape == (sample["frames"], 119, 119, 1)
        assert set(np.unique(maps)) == {0, 2, 5, 9, 13, 14, 15, 16, 17, 18, 19}
        assert (maps[0] != maps[-1]).any()  # the body moves


def test_video_frames_match_the_skeleton_and_show_the_body(dataset: tuple[Path, dict]) -> None:
    out, summary = dataset
    assert len(summary["videos"]) == 1
    name = summary["videos"][0]
    frames, _ = read_raw_skeleton(out / "skeletons" / f"{name}.skeleton")
    capture = cv2.VideoCapture(str(out / "videos" / f"{name}_rgb.avi"))
    images = []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        images.append(image)
    assert len(images) == len(frames) and images[0].shape == (1080, 1920, 3)
    # the performers, not the sensor's noise bodies: long-lived and taller than wide
    counts: dict[str, int] = {}
    for bodies in frames:
        for header, joints in bodies:
            tall = np.ptp(joints[:, 0]) <= 0.8 * np.ptp(joints[:, 1])
            counts[header[0]] = counts.get(header[0], 0) + (1 if tall else -len(frames))
    performers = {body_id for body_id, n in counts.items() if n > 11}
    persons = {s["name"]: s["persons"] for s in summary["samples"]}
    assert len(performers) == persons[name]
    for image, bodies in zip(images, frames, strict=True):
        for _, joints in (b for b in bodies if b[0][0] in performers):
            x, y = np.round(joints[1, 5:7]).astype(int)  # spine middle: inside the painted shirt
            assert np.abs(image[y, x].astype(int) - image[5, 5].astype(int)).max() > 20


def test_same_seed_gives_identical_bytes_and_another_seed_differs(tmp_path: Path) -> None:
    config = SyntheticConfig(seed=5, classes=3, two_person_classes=1, samples_per_class=4, min_frames=40,
                             max_frames=45, videos=1, missing=1)
    first, second, other = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate(first, config, progress=False)
    generate(second, config, progress=False)
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert len(files) == 1 + 13 + 12 + 1  # summary, skeletons, parsing maps, one video
    assert files == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    for rel in files:
        assert (first / rel).read_bytes() == (second / rel).read_bytes(), rel
    generate(other, replace(config, seed=6, videos=0), progress=False)
    assert json.loads((first / "synthetic.json").read_text())["samples"] != \
        json.loads((other / "synthetic.json").read_text())["samples"]


def _motion_features(frames: np.ndarray) -> np.ndarray:
    """(T, 75+) translated frames of actor 1 -> per joint coordinate: mean of the first and last
    third, standard deviation and mean speed."""
    x = frames[:, :75]
    third = max(1, len(x) // 3)
    speed = np.abs(np.diff(x, axis=0)).mean(0)
    return np.concatenate([x[:third].mean(0), x[-third:].mean(0), x.std(0), speed])


def test_class_motion_is_learnable_across_subjects(dataset: tuple[Path, dict]) -> None:
    out, summary = dataset
    xsub = BENCHMARKS["ntu60-xsub"]
    feats: dict[str, list] = {"train": [], "test": []}
    labels: dict[str, list] = {"train": [], "test": []}
    for sample in summary["samples"]:
        if sample["missing"]:
            continue
        frames, _ = preprocess(read_skeleton(out / "skeletons" / f"{sample['name']}.skeleton"))
        split = "train" if parse_name(sample["name"]).subject in xsub.train_ids else "test"
        feats[split].append(_motion_features(frames))
        labels[split].append(sample["class"])
    model = LogisticRegression(max_iter=2000).fit(np.array(feats["train"]), labels["train"])
    accuracy = model.score(np.array(feats["test"]), labels["test"])
    assert accuracy >= 0.8, f"held-out subjects: {accuracy:.2f} (chance {1 / SMALL.classes:.2f})"


def test_rerun_replaces_its_own_files_and_refuses_foreign_ones(tmp_path: Path) -> None:
    config = SyntheticConfig(classes=2, two_person_classes=1, samples_per_class=5, videos=0, missing=0,
                             min_frames=40, max_frames=41, parsing=False)
    generate(tmp_path, config, progress=False)
    summary = generate(tmp_path, replace(config, samples_per_class=4), progress=False)
    written = sorted(p.stem for p in (tmp_path / "skeletons").iterdir())
    assert written == [s["name"] for s in summary["samples"]]
    (tmp_path / "skeletons" / "S009C001P001R001A001.skeleton").write_text("1\n0\n")
    with pytest.raises(FileExistsError, match="S009C001P001R001A001"):
        generate(tmp_path, config, progress=False)


def test_cli_writes_the_dataset_and_rejects_bad_settings(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture) -> None:
    args = ["--out", str(tmp_path), "--classes", "2", "--two-person-classes", "1", "--samples-per-class", "4",
            "--videos", "0", "--missing", "1", "--no-parsing"]
    assert main(args) == 0
    summary = json.loads((tmp_path / "synthetic.json").read_text())
    assert len(summary["samples"]) == 9 and not list((tmp_path / "parsing").glob("*.npy"))
    assert "wrote 9 samples" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path), "--samples-per-class", "2"])


TWINS = SyntheticConfig(seed=0, classes=6, two_person_classes=1, twin_pairs=2, samples_per_class=12,
                        min_frames=40, max_frames=60, videos=3, missing=0, noise_rate=0.0, crlf_rate=0.0)


@pytest.fixture(scope="module")
def twins(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("twins")
    return out, generate(out, TWINS, progress=False)


def test_twin_classes_wear_a_garment_the_skeleton_does_not_show(twins: tuple[Path, dict]) -> None:
    out, summary = twins
    assert [c["action"] for c in summary["classes"]] == [1, 14, 15, 20, 21, 58]
    hat, coat = 1, 7  # LIP labels (REFERENCE.md §8)
    for sample in summary["samples"]:
        maps = np.load(out / "parsing" / f"{sample['name']}.npy")
        worn = {label: np.array([(m == label).any() for m in maps]) for label in (hat, coat)}
        garment = {14: coat, 15: coat, 20: hat, 21: hat}.get(sample["action"])
        for label in (hat, coat):
            if label != garment:
                assert not worn[label].any(), sample
        if garment is None:
            continue
        early, late = worn[garment][: len(maps) // 8], worn[garment][-len(maps) // 8 :]
        puts_on = sample["action"] in (14, 20)
        assert (not early.any() and late.all()) if puts_on else (early.all() and not late.any()), sample
    # the video of a "wear jacket" sample shows the coat's colour on the chest at the end, not at the start
    name = next(n for n in summary["videos"] if n.endswith("A014"))
    coat_colour = np.array(performer_look(TWINS.seed, parse_name(name).subject).colors[coat])
    frames, _ = read_raw_skeleton(out / "skeletons" / f"{name}.skeleton")
    capture = cv2.VideoCapture(str(out / "videos" / f"{name}_rgb.avi"))
    images = [capture.read()[1] for _ in frames]
    for t, expected in ((0, False), (len(frames) - 1, True)):
        x, y = np.round(frames[t][0][1][1, 5:7]).astype(int)  # spine middle
        assert (np.abs(images[t][y, x].astype(int) - coat_colour).max() < 40) == expected, t


def test_twins_share_their_motion_and_differ_in_parsing(twins: tuple[Path, dict], tmp_path: Path) -> None:
    """The fast variant of the demo's claim, with linear models instead of networks: skeleton features
    separate the other classes but not the twins, parsing features separate the twins, and fusing the two
    beats the skeleton alone."""
    from fusion import fuse_scores

    out, summary = twins
    xsub = BENCHMARKS["ntu60-xsub"]
    feats: dict[str, dict[str, list]] = {s: {"pose": [], "parsing": [], "label": []} for s in ("train", "test")}
    for sample in summary["samples"]:
        frames, _ = preprocess(read_skeleton(out / "skeletons" / f"{sample['name']}.skeleton"))
        maps = np.load(out / "parsing" / f"{sample['name']}.npy")[..., 0]
        histograms = [np.bincount(part.ravel(), minlength=20) / part.size for part in np.array_split(maps, 3)]
        split = "train" if parse_name(sample["name"]).subject in xsub.train_ids else "test"
        feats[split]["pose"].append(_motion_features(frames))
        feats[split]["parsing"].append(np.sqrt(np.concatenate(histograms)))  # small parts count too
        feats[split]["label"].append(sample["class"])
    labels = np.array(feats["test"]["label"])
    scores = {}
    for stream in ("pose", "parsing"):
        model = LogisticRegression(C=10.0, max_iter=5000).fit(np.array(feats["train"][stream]), feats["train"]["label"])
        scores[stream] = model.predict_log_proba(np.array(feats["test"][stream])).astype(np.float32)
    accuracy = {k: float(np.mean(s.argmax(1) == labels)) for k, s in scores.items()}
    accuracy["full"] = float(np.mean(fuse_scores([scores["pose"], scores["parsing"]], [1, 1]).argmax(1) == labels))
    twins_right = np.isin(labels, [1, 2, 3, 4])
    pose_on_twins = float(np.mean(scores["pose"].argmax(1)[twins_right] == labels[twins_right]))
    pose_on_others = float(np.mean(scores["pose"].argmax(1)[~twins_right] == labels[~twins_right]))
    assert pose_on_others >= 0.9 and pose_on_twins <= 0.75, (pose_on_others, pose_on_twins)
    assert accuracy["parsing"] > 2 / TWINS.classes and accuracy["pose"] < accuracy["full"], accuracy


def test_twins_are_byte_identical_per_seed(tmp_path: Path) -> None:
    config = replace(TWINS, samples_per_class=4, videos=1)
    generate(tmp_path / "a", config, progress=False)
    generate(tmp_path / "b", config, progress=False)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert len(files) == 1 + 2 * 24 + 1
    for rel in files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    with pytest.raises(ValueError, match="twin_pairs must be 0-2"):
        replace(TWINS, twin_pairs=3).validate()
    with pytest.raises(ValueError, match="besides the 4 twins"):
        replace(TWINS, classes=5).validate()
    chosen = replace(TWINS, one_person_actions=(9,)).action_classes()
    assert [c.action for c in chosen] == [9, 14, 15, 20, 21, 58]
    with pytest.raises(ValueError, match=r"one_person_actions=\[9, 8\]: expected 1 of the one-person actions"):
        replace(TWINS, one_person_actions=(9, 8)).validate()
