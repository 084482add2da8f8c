"""The part parser's pieces without training: trunks, weights, sizes, clips, labels, prediction files, configs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.models import video

from data.synthetic.kinetics_tps import TPSSyntheticConfig, generate
from engine.checkpoint import CheckpointError
from engine.config import ConfigError, load_config
from part_parsing.__main__ import main
from part_parsing.backbones import CHANNELS, VideoTrunk, feature_shape
from part_parsing.clips import PartClips, pad_segments, source_from_annotations
from part_parsing.evaluate import evaluate_files
from part_parsing.labels import (
    ABSENT,
    GROUP_PARTS,
    UNSEEN,
    Vocabulary,
    build_vocabulary,
    decode_segments,
    encode_segments,
)
from part_parsing.predict import prediction_files, prediction_sources, read_boxes
from part_parsing.segments import segment_labels
from part_parsing.task import TASK, PartExperiment, PartParsingNet, clip_spec
from part_parsing.tps import PART_GROUPS, TPSFormatError, frames_folder, iter_videos, write_evaluation_files
from pipeline import PipelineConfig, build_stages

ROOT = Path(__file__).resolve().parents[1]
CONFIG = TPSSyntheticConfig(seed=7, classes=2, videos_per_class=3, test_per_class=1, frames=12, width=64, height=64)
TINY = ["model.backbone=r3d_18", "data.clip_frames=4", "data.tube_frames=4", "data.clip_size=[32,32]",
        "data.tube_size=[32,32]", "model.part_grid=[2,2]", "data.segment_frames=4", "model.stages=3"]


@pytest.fixture(scope="module")
def tps_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tps")
    generate(root, CONFIG)
    return root


def _vocabulary() -> Vocabulary:
    states = {"head": ("none", "look_up"), "hip": ("bend",), "arm": ("bend", "raise"), "hand": ("wave",),
              "leg": ("step",), "foot": ("kick",)}
    return Vocabulary(("run", "squat"), {g: tuple(sorted(f"({a}) {g}: {s}" for a in ("run", "squat")
                                                         for s in states[g])) for g in PART_GROUPS})


def _batch(tubes_per_video: list[int], cfg: PartExperiment, vocab: Vocabulary) -> tuple[dict, dict]:
    items = []
    for n, count in enumerate(tubes_per_video):
        inputs = {"clip": torch.randn(3, 4, 32, 32), "tubes": torch.randn(count, 3, 4, 32, 32)}
        target = {"label": n % 2, **{f"part_{g}": torch.randint(0, len(vocab.labels[g]), (count, len(parts)))
                                     for g, parts in GROUP_PARTS.items()}}
        items.append((inputs, target))
    return pad_segments(items)


def test_a_train_step_under_cpu_bf16_autocast_changes_the_weights() -> None:
    cfg, vocab = load_config(PartExperiment, None, TINY), _vocabulary()
    torch.manual_seed(0)
    model = PartParsingNet(cfg, vocab).train()
    inputs, target = _batch([1, 2], cfg, vocab)
    before = [p.detach().clone() for p in model.parameters()]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        output = model(inputs)
        loss, terms = TASK.loss_terms(output, target, cfg)
    assert TASK.logits(output).dtype == torch.bfloat16 and output["part_arm"].shape == (2, 2, 2, 4)
    assert set(terms) == {"video", *PART_GROUPS} and torch.isfinite(loss)
    loss.backward()
    torch.optim.SGD(model.parameters(), lr=0.1).step()
    changed = [not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True)]
    assert all(changed)  # trunk and every head: all take part in the loss
    metrics = TASK.batch_metrics(output, target, cfg)
    assert metrics["part"][1] == sum(metrics[f"part_{g}"][1] for g in PART_GROUPS) == 3 * 10


def test_the_four_trunks_and_their_stages_have_the_stated_widths() -> None:
    for name, frames, size in (("r2plus1d_18", 8, (64, 64)), ("r3d_18", 8, (64, 64)), ("s3d", 16, (64, 64)),
                               ("mvit_v2_s", 16, (224, 224))):
        for stages in range(1, 6):
            assert feature_shape(name, stages, frames, size, "data.clip_size")[0] == CHANNELS[name][stages - 1]
    with pytest.raises(ConfigError, match="'data.clip_size': mvit_v2_s cannot take clips of 16 frames of 112x112"):
        feature_shape("mvit_v2_s", 5, 16, (112, 112), "data.clip_size")
    with pytest.raises(ConfigError, match="'data.tube_size': s3d cannot take"):
        feature_shape("s3d", 5, 4, (32, 32), "data.tube_size")
    with pytest.raises(ConfigError, match="'model.frozen_stages' should be 0..3"):
        PartParsingNet(load_config(PartExperiment, None, [*TINY, "model.frozen_stages=4"]),
                       _vocabulary())
    with pytest.raises(ConfigError, match="'model.backbone'"):
        load_config(PartExperiment, None, ["model.backbone=resnet50"])


def test_pretrained_weights_come_from_a_local_file_read_safely(tmp_path: Path) -> None:
    torch.manual_seed(0)
    reference = video.s3d(num_classes=400)  # a Kinetics-400 file: its classifier is skipped
    torch.save(reference.state_dict(), tmp_path / "s3d.pth")
    trunk = VideoTrunk("s3d", str(tmp_path / "s3d.pth"), stages=3)
    expected = {k: v for k, v in reference.state_dict().items() if not k.startswith("classifier.")}
    assert all(torch.equal(v, expected[k]) for k, v in trunk.net.state_dict().items())
    del expected["features.0.0.0.weight"]
    torch.save({"state_dict": expected}, tmp_path / "broken.pth")
    with pytest.raises(CheckpointError, match=r"broken.pth: does not fit the model; missing keys: features.0.0.0"):
        VideoTrunk("s3d", str(tmp_path / "broken.pth"))
    torch.save({"weights": np.zeros(3)}, tmp_path / "pickle.pth")  # needs the unsafe unpickler
    with pytest.raises(CheckpointError, match="cannot be loaded safely"):
        VideoTrunk("s3d", str(tmp_path / "pickle.pth"))


def test_items_are_a_clip_and_one_tube_per_segment_padded_in_batches(tps_root: Path) -> None:
    cfg = load_config(PartExperiment, None, [*TINY, f"data.root={tps_root}"])
    videos = list(iter_videos(tps_root / "train_annotations"))
    sources = [source_from_annotations(v, frames_folder(tps_root / "train_frames", v.action, v.name)) for v in videos]
    dataset = PartClips(sources, clip_spec(cfg.data), train=True)
    inputs, target = dataset[0]
    assert inputs["clip"].shape == (3, 4, 32, 32) and inputs["tubes"].shape == (3, 3, 4, 32, 32)  # 12 frames / 4
    assert target == {"label": -1} and dataset.sample_names == [v.name for v in videos]
    short = ({"clip": inputs["clip"], "tubes": inputs["tubes"][:1]}, {"label": 1, "part_arm": torch.zeros(1, 2)})
    batch, targets = pad_segments([(inputs, {"label": 0, "part_arm": torch.ones(3, 2, dtype=torch.long)}), short])
    assert batch["segments"].tolist() == [[True, True, True], [True, False, False]]
    assert batch["tubes"][1, 1:].abs().sum() == 0 and targets["part_arm"][1, 1:].eq(ABSENT).all()


def test_segment_labels_survive_encoding_and_decoding(tps_root: Path) -> None:
    videos = list(iter_videos(tps_root / "train_annotations"))
    labelled = [(v.action, segment_labels(v, CONFIG.frames, 5)) for v in videos]
    vocab = build_vocabulary(labelled)
    for action, segments in labelled:
        targets = encode_segments(action, segments, vocab)
        logits = {g: np.eye(len(vocab.labels[g]))[np.maximum(t, 0)] * (t >= 0)[..., None] for g, t in targets.items()}
        decoded = decode_segments(action, [(s.start, s.end) for s in segments], logits, vocab)
        for segment, back in zip(segments, decoded, strict=True):
            assert (segment.start, segment.end) == (back.start, back.end)
            assert {p: back.states[p] for p in segment.states} == segment.states
    assert encode_segments("unknown", labelled[0][1], vocab)["head"].max() == UNSEEN


def test_prediction_files_of_segment_labels_score_as_the_segments_allow(tps_root: Path, tmp_path: Path) -> None:
    annotations = tps_root / "train_annotations"
    videos = list(iter_videos(annotations))
    sources = prediction_sources(tps_root / "train_frames", annotations)
    single = {v.name for v in videos if all(len(f.humans) <= 1 for f in v.frames)}
    assert single  # states are pooled over the persons of a frame; one person: nothing to pool
    assert main(["gt", "--annotations", str(annotations), "--lists", str(tps_root / "list"), "--out",
                 str(tmp_path)]) == 0
    gt_part = json.loads((tmp_path / "gt_part_result.json").read_text())
    for name in ("gt_vid_result.json", "gt_part_result.json"):
        content = json.loads((tmp_path / name).read_text())
        (tmp_path / name).write_text(json.dumps({k: v for k, v in content.items() if k in single}))
    for length in (1, 6):
        predictions = [(v.action, segment_labels(v, CONFIG.frames, length)) for v in videos]
        write_evaluation_files(tmp_path, *prediction_files(sources, predictions), prediction=True)
        result = evaluate_files(*(tmp_path / f for f in ("gt_vid_result.json", "gt_part_result.json",
                                                          "pred_vid_result.json", "pred_part_result.json")))
        assert result.class_correct.all() and 0 < result.psc.min() <= result.psc.max() <= 1
        if length == 1:
            assert (result.psc == 1).all() and result.score == pytest.approx(0.9999)  # 9999 thresholds
        pred_part = json.loads((tmp_path / "pred_part_result.json").read_text())
        for (_, segments), clip in zip(predictions, videos, strict=True):
            assert list(pred_part[clip.name]) == list(gt_part[clip.name])  # the scored frames, every one
            for frame, content in pred_part[clip.name].items():
                index = int(frame[4:9])
                states = next(s.states for s in segments if s.start <= index <= s.end)
                assert all(part["verb"] == [states[name]] for human in content["humans"]
                           for name, part in human["parts"].items())


def test_a_boxes_file_replaces_the_annotated_boxes(tps_root: Path, tmp_path: Path) -> None:
    annotations = tps_root / "test_annotations"
    assert main(["gt", "--annotations", str(annotations), "--lists", str(tps_root / "list"), "--out",
                 str(tmp_path)]) == 0
    from_file = prediction_sources(tps_root / "test_frames", boxes=tmp_path / "gt_part_result.json")
    from_tree = prediction_sources(tps_root / "test_frames", annotations)
    assert [s.name for s in from_file] == [s.name for s in from_tree] and all(s.action == "" for s in from_file)
    for a, b in zip(from_file, from_tree, strict=True):
        assert a.frames_dir == b.frames_dir and a.humans == {i: h for i, h in b.humans.items() if (i - 1) % 5 == 0}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"v": {"img_00001.json": {"humans": [{"box": [0, 0, 5, 5],
                                                                    "parts": {"tail": {"box": [0, 0, 1, 1]}}}]}}}))
    with pytest.raises(TPSFormatError, match=r'bad.json: \["v"\]\["img_00001.json"\]\["humans"\]\[0\]\["parts"\]'
                                             r'\["tail"\]: not one of the body parts'):
        read_boxes(bad)


def test_predict_errors_are_one_line_with_exit_code_2(tps_root: Path, tmp_path: Path, capsys) -> None:
    config = tmp_path / "part.yaml"
    config.write_text("model: {backbone: r3d_18, stages: 2}\n")
    args = ["predict", "--config", str(config), "--set", f"data.root={tps_root}", "--frames",
            str(tps_root / "test_frames"), "--annotations", str(tps_root / "test_annotations"), "--out", str(tmp_path)]
    assert main([*args, "--weights", str(tmp_path / "missing.pt")]) == 2
    err = capsys.readouterr().err  # after the progress bar of reading the training annotations
    missing = tmp_path / "missing.pt"
    assert err.splitlines()[-1] == f"python -m part_parsing: error: weights file {missing} does not exist"
    assert "Traceback" not in err
    assert main([*args, "--weights", str(tmp_path / "missing.pt"), "--set", "data.clip_frames=0"]) == 2
    assert "'data.clip_frames' should be at least 1" in capsys.readouterr().err


def test_the_pipeline_section_is_off_by_default_and_the_demo_runs_it(tmp_path: Path) -> None:
    default = load_config(PipelineConfig, ROOT / "configs" / "demo" / "pipeline.yaml")
    assert default.part_parsing.enabled is False
    assert not any("part" in stage.name for stage in build_stages(default))
    demo = load_config(PipelineConfig, ROOT / "configs" / "demo" / "part_pipeline.yaml", [f"out_dir={tmp_path}"])
    names = [stage.name for stage in build_stages(demo)]
    assert names == [f"part parsing: {step}" for step in (
        "synthetic data", "train", "person detector", "part detector", "part detector without embedding",
        "detector table", "predict", "evaluate", "picture")] + ["pictures"]
    predict = build_stages(demo)[names.index("part parsing: predict")].commands[0]
    assert predict[predict.index("--keypoints") + 1].endswith("test_keypoints.pkl")
    plain = load_config(PipelineConfig, ROOT / "configs" / "demo" / "part_pipeline.yaml",
                        [f"out_dir={tmp_path}", "part_parsing.detectors=false"])
    assert [stage.name for stage in build_stages(plain)][2:] == [
        f"part parsing: {step}" for step in ("predict", "evaluate", "picture")] + ["pictures"]
    assert not any(n.startswith(("train pose", "train parsing", "prepare")) for n in names)
    train = build_stages(demo)[1].commands[0]
    assert (ROOT / train[train.index("--config") + 1]).is_file()


@pytest.mark.parametrize("backbone", ["r2plus1d_18", "r3d_18", "s3d", "mvit_v2_s"])
def test_kinetics_tps_configs_follow_the_baseline_recipe(backbone: str) -> None:
    cfg = load_config(PartExperiment, ROOT / "configs" / "kinetics-tps" / f"part_{backbone}.yaml")
    assert cfg.model.backbone == backbone and backbone in cfg.work_dir and cfg.model.freeze_bn
    assert (cfg.optim.lr, cfg.optim.momentum, cfg.optim.nesterov, cfg.optim.weight_decay) == (8e-5, 0.9, False, 1e-4)
    assert (cfg.optim.milestones, cfg.optim.warmup_epochs, cfg.train.epochs) == ([32, 48], 16, 58)
    assert (cfg.train.batch_size, cfg.train.grad_clip, cfg.data.segment_seconds) == (16, 40.0, 3.0)
    frames = 16 if backbone == "mvit_v2_s" else 32
    assert (cfg.data.tube_frames, cfg.data.frame_interval, cfg.data.tube_size) == (frames, 2, [224, 224])
    spec = clip_spec(cfg.data)
    feature_shape(backbone, cfg.model.stages, spec.clip_frames, spec.clip_size, "data.clip_size")
