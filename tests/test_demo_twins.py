"""The demo's claim on a small synthetic set, with real training: the skeleton cannot tell the twin
classes apart, the parsing stream can, so the full fusion beats the pose-only fusion and parsing alone is
above chance. (The fast variant with linear models is in test_data_synthetic.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from pipeline import main


@pytest.mark.slow
def test_parsing_adds_what_the_skeleton_misses(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out"
    classes = 5  # drink water, eat meal, the jacket twins, handshaking
    config = tmp_path / "pipeline.yaml"
    config.write_text(yaml.safe_dump({
        "out_dir": str(out),
        "benchmark": "ntu60-xsub",
        "device": "cpu",
        "synthetic": {"enabled": True, "seed": 0, "args": [
            "--classes", str(classes), "--two-person-classes", "1", "--twin-pairs", "1", "--samples-per-class", "12",
            "--videos", "0", "--missing", "0", "--min-frames", "40", "--max-frames", "60"]},
        "parser": {"enabled": False},
        "pose": {"streams": ["joint"], "config": "configs/demo/pose_{stream}.yaml",
                 "overrides": ["train.num_workers=0"]},
        "parsing_branch": {"config": "configs/demo/parsing.yaml", "overrides": ["train.num_workers=0"]},
        "fusion": {"weights": {"joint": 2, "parsing": 2}, "bootstrap": 200},
    }))
    assert main([str(config)]) == 0
    printed = capsys.readouterr().out
    figures = json.loads((out / "results" / "ntu60-xsub" / "results_fusion.json").read_text())
    top1 = figures["top1"]
    assert top1["parsing"] > 100 / classes, top1
    assert top1["pose fusion"] < top1["full fusion"], top1
    assert "McNemar pose fusion vs fusion:" in printed and "200 resamples" in printed
    assert figures["bootstrap"]["resamples"] == 200
