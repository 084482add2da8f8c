"""The RGB branch's pipeline section: off by default, and when on, synthetic frames then one stream
that the fusion stage fuses under its name."""

from __future__ import annotations

from pathlib import Path

from engine.config import load_config
from pipeline import PipelineConfig, build_stages
from rgb_branch.stages import RgbStage

DEMO = Path(__file__).resolve().parents[1] / "configs" / "demo" / "pipeline.yaml"


def test_rgb_is_off_by_default_and_on_in_the_demo():
    assert RgbStage().enabled is False
    names = [stage.name for stage in build_stages(load_config(PipelineConfig, DEMO))]
    assert names.index("rgb person frames") < names.index("train rgb_masked") < names.index("fuse")


def test_rgb_stages_write_frames_and_join_the_fusion(tmp_path):
    weights = "{joint: 2, bone: 2, joint_motion: 1, bone_motion: 1, parsing: 2, rgb_masked: 1}"
    cfg = load_config(PipelineConfig, DEMO, [f"out_dir={tmp_path}", "rgb.enabled=true", f"fusion.weights={weights}"])
    stages = build_stages(cfg)
    names = [stage.name for stage in stages]
    assert names.index("rgb person frames") < names.index("train rgb_masked") < names.index("fuse")
    frames = stages[names.index("rgb person frames")].commands[0]
    assert frames[1:4] == ["-m", "data.synthetic.frames", "--synthetic"]
    train = stages[names.index("train rgb_masked")]
    assert str(train.commands[0][1]).endswith("train_rgb.py")
    assert f"data.frames_dir={tmp_path / 'rgb_frames'}" in train.commands[0]
    assert train.streams == {"rgb_masked": tmp_path / "runs" / "ntu60-xsub" / "rgb_masked" / "scores" / "final.pkl"}
    fuse = stages[names.index("fuse")].commands[0]
    assert f"rgb_masked={train.streams['rgb_masked']}:1" in fuse
