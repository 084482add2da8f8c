"""The whole journey on a tiny synthetic set: every stage's outputs exist and fit together."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from data.storage import open_split
from engine.config import ConfigError
from engine.scores import load_scores
from pipeline import PipelineConfig, build_stages, main

STREAMS = ["joint", "bone", "joint_motion", "bone_motion"]


@pytest.fixture(scope="module")
def finished_pipeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pipeline") / "out"
    config = out.parent / "pipeline.yaml"
    config.write_text(yaml.safe_dump({
        "out_dir": str(out),
        "benchmark": "ntu60-xsub",
        "device": "cpu",
        "synthetic": {"enabled": True, "seed": 1, "args": [
            "--classes", "3", "--two-person-classes", "1", "--samples-per-class", "8", "--videos", "1",
            "--min-frames", "30", "--max-frames", "36", "--missing", "1"]},
        "parser": {"enabled": True, "random_weights": True, "batch_size": 8, "args": ["--input-size", "65"]},
        "pose": {"streams": STREAMS, "config": "configs/demo/pose_{stream}.yaml",
                 "overrides": ["train.epochs=1", "train.num_workers=0"]},
        "parsing_branch": {"config": "configs/demo/parsing.yaml",
                           "overrides": ["train.epochs=1", "train.num_workers=0"]},
    }))
    assert main([str(config)]) == 0
    return out


def test_every_stage_writes_outputs_that_line_up(finished_pipeline: Path) -> None:
    out = finished_pipeline
    test_split = open_split(out / "prepared", "ntu60-xsub", "test")
    assert len(test_split) > 0
    for run in [f"pose_{s}" for s in STREAMS] + ["parsing"]:
        scores = load_scores(out / "runs" / "ntu60-xsub" / run / "scores" / "final.pkl")
        assert list(scores) == test_split.names, run  # same names, same order, in every stream
        assert all(v.shape == (test_split.num_classes,) for v in scores.values())

    parsed = sorted((out / "parsed").glob("*.npy"))
    assert len(parsed) == 1 and (out / "person_frames" / parsed[0].stem).is_dir()
    maps = np.load(parsed[0])
    assert maps.dtype == np.uint8 and maps.shape[1:] == (17, 17, 1)  # 65-pixel input in the test

    results = out / "results" / "ntu60-xsub"
    assert list(results.glob("*.md")) or list(results.glob("report*.txt"))
    assert list(results.glob("*confusion*.png"))
    assert list(results.glob("*feature_map.png")) and list(results.glob("*.gif"))


def test_rerun_skips_finished_stages(finished_pipeline: Path, capsys: pytest.CaptureFixture) -> None:
    cfg_path = finished_pipeline.parent / "pipeline.yaml"
    assert main([str(cfg_path), "--only", "train", "--only", "prepare"]) == 0
    printed = capsys.readouterr().out
    assert "prepare: complete, skipped" in printed
    assert all(f"train pose {s}: complete, skipped" in printed for s in STREAMS)


def test_real_data_config_needs_skeleton_folders() -> None:
    with pytest.raises(ConfigError, match="skeletons"):
        build_stages(PipelineConfig())  # synthetic off and no skeleton folders named
