"""The multitask network's three stages on tiny synthetic NTU data, the export to the pose branch, the
pipeline section. Tiny sizes throughout: 32 px crops, K = 1, 8-frame clips, 3 classes of 12 samples; the
pose and action stages run the demo configs' optimiser, epochs and clip steps (about 20 s on one core)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from data.storage import open_split
from data.synthetic import SyntheticConfig, generate
from engine.config import load_config
from engine.trainer import run_task
from multitask.__main__ import main as multitask_main
from multitask.clips import main_body
from multitask.task import TASK, MultitaskExperiment, NtuClips
from pipeline import PipelineConfig, build_stages
from pose_branch.task import PoseExperiment
from pose_branch.task import build_dataset as build_pose_dataset
from pose_guidance.skeleton_colors import read_skeleton_colors

ROOT = Path(__file__).resolve().parents[1]
KEPT_CLASSES = ("A001", "A008", "A010")  # drink water, sitting down, clapping: three distinct motions


@pytest.fixture(scope="module")
def skeletons(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synthetic")
    generate(out, SyntheticConfig(classes=10, two_person_classes=0, samples_per_class=12, min_frames=30,
                                  max_frames=40, videos=0, missing=1, noise_rate=0.0, parsing=False), progress=False)
    for path in (out / "skeletons").glob("*.skeleton"):
        if path.stem[-4:] not in KEPT_CLASSES:
            path.unlink()
    return out / "skeletons"


MODEL_SETS = ["data.source=dots", "model.variant=tiny", "model.num_class=10", "model.image_size=32",
              "model.num_blocks=1", "data.clip_frames=8"]


def overrides(skeletons: Path) -> list[str]:
    sets = [f"data.skeletons={skeletons}", *MODEL_SETS, "train.eval_interval=1", "train.num_workers=0",
            "train.log_interval=100", "train.batch_size=4"]
    return [arg for item in sets for arg in ("--set", item)]


def evals(work_dir: Path) -> list[dict]:
    lines = (work_dir / "metrics.jsonl").read_text().splitlines()
    return [row for row in map(json.loads, lines) if "eval_top1" in row]


@pytest.fixture(scope="module")
def stages(skeletons: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    runs = tmp_path_factory.mktemp("runs")
    plan = [("pose", []), ("action", []), ("finetune", ["--set", "train.epochs=1"])]
    dirs, previous = {}, None
    for stage, extra in plan:
        work_dir = runs / stage
        argv = ["--config", str(ROOT / f"configs/demo/multitask_{stage}.yaml"), "--work-dir", str(work_dir),
                "--device", "cpu", *overrides(skeletons), *extra]
        if previous is not None:
            argv += ["--weights", str(previous / "checkpoints" / "last.pt")]
        assert run_task(TASK, argv) == 0, stage
        dirs[stage], previous = work_dir, work_dir
    return dirs


def test_the_pose_stage_lowers_the_pose_error(stages: dict[str, Path]) -> None:
    rows = evals(stages["pose"])
    assert rows[-1]["eval_mpjpe_mm"] < rows[0]["eval_mpjpe_mm"] and rows[-1]["eval_pck"] > rows[0]["eval_pck"]
    logged = json.loads((stages["pose"] / "metrics.jsonl").read_text().splitlines()[0])
    assert "loss_pose_1" in logged and "loss_visible_1" in logged and "loss_action" not in logged


def test_the_action_stage_keeps_the_frozen_poses_and_beats_chance(stages: dict[str, Path]) -> None:
    pose_rows, action_rows = evals(stages["pose"]), evals(stages["action"])
    assert all(row["eval_pck"] == pose_rows[-1]["eval_pck"] for row in action_rows)  # the pose part is frozen
    assert action_rows[-1]["loss"] < action_rows[0]["loss"]
    # Needs poses that follow the joints (a pose stage of 3 epochs puts them all near the crop centre) and
    # clips that cover the motion (the demo configs' steps): at chance (1/3) before both.
    chance = 1 / len(KEPT_CLASSES)
    assert action_rows[-1]["eval_top1"] > chance + 0.15, action_rows[-1]  # 18 test clips of 3 classes


def test_finetuning_logs_every_term_and_writes_named_scores(stages: dict[str, Path]) -> None:
    row = json.loads((stages["finetune"] / "metrics.jsonl").read_text().splitlines()[-1])
    assert {"loss_pose_1", "loss_action_8", "loss_action", "eval_pck", "eval_mpjpe_mm"} <= set(row)
    assert np.isfinite(row["eval_mpjpe_mm"])
    assert (stages["finetune"] / "scores" / "final.pkl").is_file()


def test_exported_poses_load_in_the_pose_branch_in_split_order(stages: dict[str, Path], skeletons: Path,
                                                               tmp_path: Path) -> None:
    sets = [f"data.skeletons={skeletons}", *MODEL_SETS, "data.max_samples=3"]
    out = tmp_path / "estimated"
    argv = ["export", "--config", str(ROOT / "configs/demo/multitask_finetune.yaml"),
            "--weights", str(stages["finetune"] / "checkpoints" / "last.pt"), "--out", str(out), "--quiet"]
    assert multitask_main([*argv, *[a for s in sets for a in ("--set", s)]]) == 0
    cfg = load_config(MultitaskExperiment, ROOT / "configs/demo/multitask_finetune.yaml", sets)
    for split in ("train", "test"):
        prepared = open_split(out, "ntu60-xsub", split)
        wanted = [n for n in NtuClips(cfg, split).sample_names
                  if main_body(read_skeleton_colors(skeletons / f"{n}.skeleton")) is not None]
        assert prepared.names == wanted and len(prepared) == len(wanted) > 0
        frames = prepared[0]
        assert frames.shape[1] == 150 and np.isfinite(frames).all() and np.abs(frames[:, 75:]).sum() == 0
        assert np.allclose(frames[0, 3:6], 0)  # §3.4: joint 2 of the first frame is the origin
    pose_cfg = load_config(PoseExperiment, ROOT / "configs/demo/pose_joint.yaml", [f"data.root={out}"])
    item = build_pose_dataset(pose_cfg, "test")[0]
    assert item[0].shape == (3, 32, 25, 2)


def test_a_bad_export_request_is_one_line_and_exit_2(stages: dict[str, Path], tmp_path: Path, capsys) -> None:
    sets = [*MODEL_SETS, "data.skeletons=/nonexistent"]
    code = multitask_main(["export", "--config", str(ROOT / "configs/demo/multitask_pose.yaml"),
                           "--weights", str(stages["pose"] / "checkpoints" / "last.pt"), "--out", str(tmp_path),
                           *[a for item in sets for a in ("--set", item)]])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "data.skeletons" in err


def test_the_pipeline_section_is_off_by_default_and_chains_the_stages() -> None:
    default = load_config(PipelineConfig, ROOT / "configs/demo/pipeline.yaml")
    assert not any("multitask" in stage.name for stage in build_stages(default))
    with_multitask = load_config(PipelineConfig, ROOT / "configs/demo/multitask_pipeline.yaml")
    stages = {s.name: s for s in build_stages(with_multitask)}
    action = stages["train multitask action"].commands[0]
    assert action[action.index("--weights") + 1].endswith("multitask_pose/checkpoints/last.pt")
    assert set(stages["train multitask finetune"].streams) == {"multitask"}
    assert "export multitask skeletons" in stages and "multitask_joint" in stages[
        "train pose joint on multitask skeletons"].streams
