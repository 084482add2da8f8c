"""Training the part parser on the synthetic Kinetics-TPS set, then predicting and scoring, end to end.

One tiny run (the demo's config: an r3d_18 cut after layer1, 3 classes, 9 training videos, 12 epochs) serves
every test of the file.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from data.synthetic.kinetics_tps import GROUP_STATES, TPSSyntheticConfig, generate
from engine.scores import load_scores
from engine.trainer import run_task
from part_parsing.__main__ import main
from part_parsing.evaluate import TPSScore, evaluate_files
from part_parsing.task import TASK
from part_parsing.tps import PART_GROUPS, list_videos, part_group

ROOT = Path(__file__).resolve().parents[1]
CONFIG = TPSSyntheticConfig(seed=5, classes=3, videos_per_class=5, test_per_class=2, frames=20, width=80, height=64)
TRAIN = ["--config", str(ROOT / "configs" / "demo" / "part_parsing.yaml"), "--device", "cpu",
         "--set", "train.batch_size=3"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root, work = tmp_path_factory.mktemp("tps"), tmp_path_factory.mktemp("run")
    generate(root, CONFIG)
    assert run_task(TASK, [*TRAIN, "--set", f"data.root={root}", "--work-dir", str(work), "--overwrite"]) == 0
    return root, work


def _score(folder: Path, gt: Path) -> TPSScore:
    return evaluate_files(gt / "gt_vid_result.json", gt / "gt_part_result.json", folder / "pred_vid_result.json",
                          folder / "pred_part_result.json")


def test_training_beats_chance_on_the_class_and_the_part_states(trained: tuple[Path, Path]) -> None:
    _, work = trained
    epochs = [json.loads(line) for line in (work / "metrics.jsonl").read_text().splitlines()]
    first, last = epochs[0], epochs[-1]
    assert len(epochs) == 12 and last["loss"] < first["loss"] / 2
    assert {f"loss_{term}" for term in ("video", *PART_GROUPS)} <= set(last)
    assert last["eval_top1"] > 0.5  # 3 classes: chance is 1/3
    # A group label is "(action) part: state": 9 per group here; a random state of the right class is 1/3
    assert last["eval_part"] > 0.6 and all(last[f"eval_part_{g}"] > 1 / 3 for g in PART_GROUPS)


def test_the_score_file_holds_the_video_logits_by_video_name(trained: tuple[Path, Path]) -> None:
    root, work = trained
    scores = load_scores(work / "scores" / "final.pkl")
    assert list(scores) == [name for _, name in list_videos(root / "test_annotations")]
    assert all(logits.shape == (CONFIG.classes,) and logits.dtype == np.float32 for logits in scores.values())


def test_predictions_score_above_random_part_states(trained: tuple[Path, Path], tmp_path: Path) -> None:
    root, work = trained
    ours, random, gt = tmp_path / "ours", tmp_path / "random", tmp_path / "gt"
    assert main(["predict", "--config", str(work / "config.yaml"), "--weights", str(work / "checkpoints" / "last.pt"),
                 "--frames", str(root / "test_frames"), "--annotations", str(root / "test_annotations"),
                 "--out", str(ours), "--device", "cpu"]) == 0
    assert main(["gt", "--annotations", str(root / "test_annotations"), "--lists", str(root / "list"),
                 "--out", str(gt)]) == 0
    # The baseline: the same classes and boxes, each part's state drawn at random from its group's states.
    rng = np.random.default_rng(0)
    pred_part = json.loads((ours / "pred_part_result.json").read_text())
    for frames in pred_part.values():
        for frame in frames.values():
            for human in frame["humans"]:
                for name, part in human["parts"].items():
                    part["verb"] = [str(rng.choice(GROUP_STATES[part_group(name)])) for _ in part["verb"]]
    random.mkdir()
    (random / "pred_part_result.json").write_text(json.dumps(pred_part))
    (random / "pred_vid_result.json").write_text((ours / "pred_vid_result.json").read_text())
    score, baseline = _score(ours, gt), _score(random, gt)
    assert score.class_correct.mean() > 0.5
    assert score.score > baseline.score + 0.2 and score.psc.mean() > baseline.psc.mean() + 0.2
