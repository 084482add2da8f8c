"""Pose-guided part detection: samples, the embedding on crops, the torchvision detectors, training and detect.

One tiny synthetic Kinetics-TPS set (2 classes, 4 videos) serves the file; the detectors are the demo's (FCOS
on a ResNet-18 FPN of 64 channels) and train on the evaluation split itself, so that a few epochs suffice to
show that training raises AP50 above the untrained model's.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool, LastLevelP6P7

from data.synthetic.kinetics_tps import TPSSyntheticConfig, generate
from engine.config import load_config
from engine.scores import read_pickle
from engine.trainer import build_arg_parser, run, run_task
from part_parsing.__main__ import main as part_main
from part_parsing.detection.evaluation import DetectionEvaluation
from part_parsing.detection.model import fpn_features
from part_parsing.detection.predict import best_parts
from part_parsing.detection.samples import (
    PART_CLASSES,
    collate_detections,
    match_poses,
    person_crop,
)
from part_parsing.detection.task import TASK, DetectorExperiment, build_dataset
from part_parsing.detection_ap import ImageBoxes, average_precision
from part_parsing.evaluate import evaluate_files
from part_parsing.keypoints import PersonPose, read_keypoints
from part_parsing.task import TASK as STATE_TASK
from part_parsing.tps import iter_videos
from pose_guidance.embedding import layout_colors
from pose_guidance.layouts import COCO17
from pose_guidance.maps import dot_radius

ROOT = Path(__file__).resolve().parents[1]
CONFIG = TPSSyntheticConfig(seed=3, classes=2, videos_per_class=2, test_per_class=1, frames=10, width=96, height=72)
# train and evaluate on the same videos (the test split): the detector only has to fit them
SAME_SPLIT = ["data.train_annotations=test_annotations", "data.train_frames=test_frames",
              "data.train_keypoints=test_keypoints.pkl", "data.frame_step=5", "data.flip_ratio=0.0"]


def pose(points: list[tuple[float, float]], score: float = 0.9) -> PersonPose:
    keypoints = np.zeros((17, 2), np.float32)
    keypoints[:len(points)] = points
    scores = np.zeros(17, np.float32)
    scores[:len(points)] = score
    return PersonPose(keypoints, scores)


@pytest.fixture(scope="module")
def tps(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tps")
    generate(root, CONFIG)
    return root


def config(root: Path, *overrides: str, name: str = "part_detector.yaml") -> DetectorExperiment:
    return load_config(DetectorExperiment, ROOT / "configs" / "demo" / name, [f"data.root={root}", *overrides])


def test_poses_go_to_the_boxes_holding_their_keypoints() -> None:
    left, right = pose([(10, 10), (12, 20), (14, 30)]), pose([(60, 10), (62, 20), (64, 30)])
    boxes = [(50, 0, 80, 40), (0, 0, 30, 40), (100, 100, 120, 120)]
    assert match_poses(boxes, [left, right]) == [right, left, None]
    assert match_poses(boxes[:1], [pose([(60, 10)], score=0.2)]) == [None]  # no keypoint above 0.3


def test_the_crop_holds_the_box_and_every_confident_keypoint_at_integer_corners() -> None:
    person = pose([(4.7, 50.0), (40.0, 95.5), (200.0, 10.0)])
    person.scores.flags.writeable = False
    low = PersonPose(person.keypoints, np.where(np.arange(17) == 2, 0.1, person.scores).astype(np.float32))
    x1, y1, x2, y2 = person_crop((10.5, 20.2, 30.9, 80.0), low, (120, 100))
    assert (x1, y1, x2, y2) == (4, 20, 40, 95)  # int() of the enlarged box; keypoint 2 (score 0.1) is left out
    kx, ky = low.keypoints[low.scores > 0.3].T
    assert (kx >= x1).all() and (ky >= y1).all() and (kx <= x2 + 1).all() and (ky <= y2 + 1).all()


def test_part_samples_are_crops_with_the_embedding_at_the_keypoints(tps: Path) -> None:
    with_embedding = build_dataset(config(tps, *SAME_SPLIT), "test")
    without = build_dataset(config(tps, *SAME_SPLIT, "data.pose_embedding=false"), "test")
    sample = with_embedding.samples[0]
    x1, y1, x2, y2 = sample.crop
    image, target = with_embedding[0][0]["image"], with_embedding[0][1]
    plain = without[0][0]["image"]
    assert image.shape == (3, y2 - y1, x2 - x1) and image.dtype == torch.uint8
    poses = read_keypoints(tps / "test_keypoints.pkl")
    video, frame, _ = sample.name.split("/")
    assert sample.pose in poses[video][int(frame[4:])]
    colors = layout_colors(COCO17)[0]
    drawn = image.permute(1, 2, 0).numpy().astype(int)
    differs = 0
    radius = dot_radius(x2 - x1, y2 - y1)
    for j in np.flatnonzero(sample.pose.scores > 0.3):
        x, y = (int(v) for v in sample.pose.keypoints[j] - (x1, y1))
        if 0 <= x < x2 - x1 and 0 <= y < y2 - y1:
            near = drawn[max(y - radius, 0):y + radius + 1, max(x - radius, 0):x + radius + 1].reshape(-1, 3)
            assert (np.abs(near - colors[j]).sum(axis=1) == 0).any()  # the joint's colour is drawn around it
            differs += 1
    assert differs >= 5 and not torch.equal(image, plain)
    # the part boxes are in the crop's pixels and inside it
    boxes = target["boxes"].numpy()
    assert (boxes >= 0).all() and (boxes[:, [0, 2]] <= x2 - x1).all() and (boxes[:, [1, 3]] <= y2 - y1).all()
    names = [PART_CLASSES[k - 1] for k in target["labels"].tolist()]
    assert set(names) <= set(PART_CLASSES) and "head" in names


def test_collation_pads_images_and_boxes() -> None:
    items = [({"image": torch.ones((3, 4, 5), dtype=torch.uint8)}, {"boxes": torch.ones((2, 4)),
                                                                      "labels": torch.tensor([1, 3])}),
             ({"image": torch.ones((3, 6, 2), dtype=torch.uint8)}, {"boxes": torch.zeros((0, 4)),
                                                                      "labels": torch.zeros(0, dtype=torch.int64)})]
    inputs, target = collate_detections(items)
    assert inputs["image"].shape == (2, 3, 6, 5) and inputs["size"].tolist() == [[4, 5], [6, 2]]
    assert target["labels"].tolist() == [[1, 3], [-1, -1]] and inputs["image"][1, :, :, 2:].sum() == 0


@pytest.mark.parametrize("returned, extra", [([2, 3, 4], lambda: LastLevelP6P7(256, 256)),
                                             ([1, 2, 3, 4], LastLevelMaxPool)])
@pytest.mark.parametrize("trainable", [0, 3, 5])
def test_the_fpn_is_torchvision_s_at_its_width(returned: list[int], extra, trainable: int) -> None:
    ours = fpn_features(torchvision.models.resnet18(), trainable, returned, extra(), 256)
    theirs = _resnet_fpn_extractor(torchvision.models.resnet18(), trainable, returned_layers=returned,
                                   extra_blocks=extra())
    assert ({k: (v.shape, v.requires_grad) for k, v in ours.named_parameters()}
            == {k: (v.shape, v.requires_grad) for k, v in theirs.named_parameters()})


def test_the_evaluation_is_ap50_of_the_detections_in_split_order() -> None:
    evaluation = DetectionEvaluation(("a", "b"))
    output = [{"boxes": torch.tensor([[0.0, 0, 10, 10], [50, 50, 60, 60]]), "scores": torch.tensor([0.9, 0.8]),
               "labels": torch.tensor([1, 2])},
              {"boxes": torch.tensor([[0.0, 0, 10, 10]]), "scores": torch.tensor([0.7]), "labels": torch.tensor([2])}]
    target = {"boxes": torch.tensor([[[0.0, 0, 10, 10]], [[20.0, 20, 30, 30]]]), "labels": torch.tensor([[1], [2]])}
    records = [evaluation.batch(output[1:], {k: v[1:] for k, v in target.items()}, torch.tensor([1])),
               evaluation.batch(output[:1], {k: v[:1] for k, v in target.items()}, torch.tensor([0]))]
    metrics, rows = evaluation.summarise(records, 2)
    reference = average_precision(
        [ImageBoxes(np.array([[0.0, 0, 10, 10]]), np.array([0])),
         ImageBoxes(np.array([[20.0, 20, 30, 30]]), np.array([1]))],
        [ImageBoxes(np.array([[0.0, 0, 10, 10], [50, 50, 60, 60]]), np.array([0, 1]), np.array([0.9, 0.8])),
         ImageBoxes(np.array([[0.0, 0, 10, 10]]), np.array([1]), np.array([0.7]))], num_classes=2)
    assert metrics["ap50"] == pytest.approx(reference.mean) and metrics["ap50_a"] == pytest.approx(1.0)
    assert metrics["ap50_b"] == 0.0
    assert rows[0].shape == (2, 6) and rows[0][1].tolist() == [50, 50, 60, 60, pytest.approx(0.8), 1.0]


def test_the_best_box_of_each_part_class_goes_back_into_the_frame() -> None:
    found = {"boxes": np.array([[1.0, 1, 5, 5], [2, 2, 6, 6], [10, 10, 12, 12], [20, 1, 24, 5]]),
             "scores": np.array([0.9, 0.8, 0.7, 0.6]), "labels": np.array([1, 1, 3, 3])}
    parts = best_parts(found, PART_CLASSES, (100, 50))
    assert parts == {"head": ((101.0, 51.0, 105.0, 55.0),), "left_arm": ((110.0, 60.0, 112.0, 62.0),)}
    grouped = best_parts(found, ("arm", "foot", "hand", "head", "hip", "leg"), (0, 0))
    # the two best arms: the one further right in the image is the person's left
    assert grouped == {"left_arm": ((2.0, 2.0, 6.0, 6.0),), "right_arm": ((1.0, 1.0, 5.0, 5.0),),
                       "left_hand": ((20.0, 1.0, 24.0, 5.0),), "right_hand": ((10.0, 10.0, 12.0, 12.0),)}


def _eval_ap50(work: Path, cfg: DetectorExperiment, weights: Path | None) -> float:
    argv = ["--device", "cpu", "--eval-only", "--work-dir", str(work)]
    if weights is not None:
        argv += ["--weights", str(weights)]
    args = build_arg_parser(TASK).parse_args(argv)
    cfg.work_dir = str(work)
    return run(TASK, cfg, args)["ap50"]


@pytest.fixture(scope="module")
def detectors(tps: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    runs = {}
    for target, name, epochs in (("person", "person_detector.yaml", 25), ("part", "part_detector.yaml", 25)):
        work = tmp_path_factory.mktemp(target)
        argv = ["--config", str(ROOT / "configs" / "demo" / name), "--device", "cpu", "--work-dir", str(work),
                "--overwrite", "--set", f"data.root={tps}", "--set", f"train.epochs={epochs}",
                "--set", f"train.eval_interval={epochs}", "--set", "optim.milestones=[100]", "--set", "optim.lr=0.02",
                "--set", "train.batch_size=2",
                *(item for o in SAME_SPLIT for item in ("--set", o))]
        assert run_task(TASK, argv) == 0
        runs[target] = work
    return runs


def test_training_raises_ap50_above_the_untrained_detector(tps: Path, detectors: dict[str, Path],
                                                           tmp_path: Path) -> None:
    for target in ("part", "person"):
        work = detectors[target]
        trained = [json.loads(line) for line in (work / "metrics.jsonl").read_text().splitlines()][-1]
        cfg = load_config(DetectorExperiment, work / "config.yaml")
        untrained = _eval_ap50(tmp_path / f"untrained_{target}", cfg, None)
        assert trained["eval_ap50"] > untrained + 0.2, (target, trained["eval_ap50"], untrained)
        detections = read_pickle(work / "scores" / "final.pkl")
        assert all(rows.ndim == 2 and rows.shape[1] == 6 for rows in detections.values())


def test_detect_then_predict_writes_files_the_evaluator_scores(tps: Path, detectors: dict[str, Path],
                                                              tmp_path: Path) -> None:
    boxes = tmp_path / "boxes.json"
    assert part_main(["detect", "--person-detector", str(detectors["person"]), "--part-detector",
                      str(detectors["part"]), "--keypoints", str(tps / "test_keypoints.pkl"), "--frames",
                      str(tps / "test_frames"), "--annotations", str(tps / "test_annotations"), "--out", str(boxes),
                      "--device", "cpu"]) == 0
    tree = json.loads(boxes.read_text())
    videos = [v.name for v in iter_videos(tps / "test_annotations")]
    assert sorted(tree) == sorted(videos)
    scored = [f"img_{i:05d}.json" for i in range(1, CONFIG.frames + 1, 5)]
    assert all(sorted(frames) == scored for frames in tree.values())
    assert any(h["parts"] for frames in tree.values() for f in frames.values() for h in f["humans"])
    # the state classifier, one epoch, then the official files from the detected boxes
    states = tmp_path / "states"
    assert run_task(STATE_TASK, ["--config", str(ROOT / "configs" / "demo" / "part_parsing.yaml"), "--device", "cpu",
                                 "--work-dir", str(states), "--set", f"data.root={tps}",
                                 "--set", "train.epochs=1"]) == 0
    out = tmp_path / "pred"
    assert part_main(["predict", "--config", str(states / "config.yaml"), "--weights",
                      str(states / "checkpoints" / "last.pt"), "--frames", str(tps / "test_frames"), "--annotations",
                      str(tps / "test_annotations"), "--person-detector", str(detectors["person"]), "--part-detector",
                      str(detectors["part"]), "--keypoints", str(tps / "test_keypoints.pkl"), "--out", str(out),
                      "--device", "cpu"]) == 0
    assert part_main(["gt", "--annotations", str(tps / "test_annotations"), "--lists", str(tps / "list"),
                      "--out", str(out)]) == 0
    score = evaluate_files(out / "gt_vid_result.json", out / "gt_part_result.json", out / "pred_vid_result.json",
                           out / "pred_part_result.json")
    assert 0.0 <= score.score <= 1.0 and len(score.videos) == len(videos)
    assert json.loads((out / "detected_boxes.json").read_text()) == tree


@pytest.mark.parametrize("content, problem", [(None, "does not exist"), (b"garbage", "not a readable pickle"),
                                              ({"annotations": []}, "no poses for any video")])
def test_a_bad_keypoints_file_is_one_line_before_any_work(tps: Path, tmp_path: Path, content: object, problem: str,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    keypoints, work = tmp_path / "keypoints.pkl", tmp_path / "run"
    if isinstance(content, bytes):
        keypoints.write_bytes(content)
    elif content is not None:
        keypoints.write_bytes(pickle.dumps(content))
    argv = ["--config", str(ROOT / "configs" / "demo" / "part_detector.yaml"), "--device", "cpu", "--work-dir",
            str(work), "--set", f"data.root={tps}", "--set", f"data.train_keypoints={keypoints}"]
    assert run_task(TASK, argv) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if "%|" not in line and line.strip()]  # no bars
    assert len(err) == 1 and str(keypoints) in err[0] and problem in err[0] and not work.exists()


def test_the_detector_trains_under_cpu_bf16_autocast(tps: Path) -> None:
    from part_parsing.detection.task import build_model

    cfg = config(tps, *SAME_SPLIT)
    dataset = build_dataset(cfg, "test")
    inputs, _ = collate_detections([dataset[i] for i in range(2)])
    torch.manual_seed(0)
    model = build_model(cfg).train()
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        terms = TASK.loss_terms(model(inputs), None, cfg)[1]
        loss = sum(terms.values())
    assert set(terms) == {"classification", "bbox_regression", "bbox_ctrness"} and torch.isfinite(loss)
    loss.backward()
    optimizer.step()
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_the_crops_picture_shows_each_person_plain_and_embedded(tps: Path, tmp_path: Path) -> None:
    from PIL import Image

    video = next(iter(iter_videos(tps / "test_annotations"))).name
    out = tmp_path / "crops.png"
    assert part_main(["crops", "--annotations", str(tps / "test_annotations"), "--frames", str(tps / "test_frames"),
                      "--keypoints", str(tps / "test_keypoints.pkl"), "--video", video, "--out", str(out),
                      "--count", "2"]) == 0
    picture = np.asarray(Image.open(out).convert("RGB")).astype(int)
    row = picture[8:8 + 160]  # the first person: plain crop, gap, embedded crop
    filled = np.flatnonzero((np.abs(row - 32).sum(axis=2) > 0).any(axis=0))
    plain_width = np.flatnonzero(np.diff(filled) > 1)[0] + 1
    plain, embedded = row[:, filled[:plain_width]], row[:, filled[plain_width:]]
    assert picture.shape[0] == 2 * (160 + 8) + 8 and plain.shape == embedded.shape
    assert (plain != embedded).any(axis=2).mean() > 0.05  # the keypoints and limbs are drawn on the second


@pytest.mark.parametrize("arch, terms", [("fcos", {"classification", "bbox_regression", "bbox_ctrness"}),
                                         ("retinanet", {"classification", "bbox_regression"}),
                                         ("faster_rcnn", {"classifier", "box_reg", "objectness", "rpn_box_reg"})])
def test_every_architecture_trains_and_detects_foreground_classes(arch: str, terms: set[str]) -> None:
    from part_parsing.detection.model import Detector, build_detector

    torch.manual_seed(0)
    model = Detector(build_detector(arch, "resnet18", 10, min_size=64, max_size=96, anchor_size=8, fpn_channels=32,
                                    score_threshold=0.0))
    items = [({"image": torch.randint(0, 256, (3, 64, 48), dtype=torch.uint8)},
              {"boxes": torch.tensor([[4.0, 4, 20, 30], [20, 30, 40, 60]]), "labels": torch.tensor([1, 10])})] * 2
    inputs, _ = collate_detections(items)
    output = model.train()(inputs)
    assert set(TASK.compute_loss(output, None, None)) == terms
    sum(output.values()).backward()
    detections = model.eval()(inputs)
    assert len(detections) == 2 and all(((d["labels"] >= 1) & (d["labels"] <= 10)).all() for d in detections)
    assert all(len(d["boxes"]) <= 100 for d in detections)


def test_backbone_weights_come_from_a_local_file_with_frozen_batch_norm(tmp_path: Path) -> None:
    from engine.checkpoint import CheckpointError
    from part_parsing.detection.model import build_detector

    torch.manual_seed(1)
    imagenet = torchvision.models.resnet18()
    path = tmp_path / "resnet18-imagenet.pth"
    torch.save(imagenet.state_dict(), path)
    detector = build_detector("fcos", "resnet18", 10, weights=str(path))
    body = detector.backbone.body
    assert torch.equal(body.conv1.weight, imagenet.conv1.weight)
    assert torch.equal(body.layer4[1].bn2.running_var, imagenet.layer4[1].bn2.running_var)
    assert isinstance(body.bn1, torchvision.ops.FrozenBatchNorm2d)
    wrong = tmp_path / "resnet34.pth"
    torch.save(torchvision.models.resnet34().state_dict(), wrong)
    with pytest.raises(CheckpointError, match="resnet34.pth"):
        build_detector("fcos", "resnet18", 10, weights=str(wrong))


@pytest.mark.parametrize("setting", ["model.max_detections=0", "model.nms_threshold=0", "model.anchor_size=-8",
                                     "model.fpn_channels=0", "data.frame_step=0", "data.flip_ratio=1.5",
                                     "data.keypoint_threshold=1"])
def test_bad_detector_settings_are_one_line_before_any_work(tps: Path, tmp_path: Path, setting: str,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    work = tmp_path / "run"
    argv = ["--config", str(ROOT / "configs" / "demo" / "part_detector.yaml"), "--device", "cpu", "--work-dir",
            str(work), "--set", f"data.root={tps}", "--set", setting]
    assert run_task(TASK, argv) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith(("error:", "config error:"))]
    assert len(errors) == 1 and setting.split("=")[0] in errors[0] and not work.exists()
