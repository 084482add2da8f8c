"""Every shipped config loads into its dataclasses and says what the reference says."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import fusion
from engine.config import load_config
from parsing_branch.task import ParsingExperiment
from parsing_branch.task import num_classes as parsing_classes
from pipeline import PipelineConfig, build_stages
from pose_branch.task import PoseExperiment
from pose_branch.task import num_classes as pose_classes

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
BENCHMARKS = ["ntu60-xsub", "ntu60-xview", "ntu120-xsub", "ntu120-xset"]
STREAMS = ["joint", "bone", "joint_motion", "bone_motion"]


@pytest.mark.parametrize("benchmark", BENCHMARKS)
@pytest.mark.parametrize("stream", STREAMS)
def test_pose_configs_follow_the_reference(benchmark: str, stream: str) -> None:
    cfg = load_config(PoseExperiment, CONFIGS / benchmark / f"{stream}.yaml")
    assert cfg.data.benchmark == benchmark and cfg.data.stream == stream
    assert pose_classes(cfg) == (60 if benchmark.startswith("ntu60") else 120)
    assert stream in cfg.work_dir and benchmark in cfg.work_dir
    assert (cfg.optim.lr, cfg.optim.momentum, cfg.optim.nesterov, cfg.optim.weight_decay) == (0.1, 0.9, True, 4e-4)
    assert (cfg.optim.warmup_epochs, cfg.optim.milestones, cfg.optim.gamma) == (5, [35, 55], 0.1)
    assert (cfg.train.epochs, cfg.train.batch_size, cfg.model.base_channels) == (65, 64, 64)


@pytest.mark.parametrize("benchmark", BENCHMARKS)
def test_parsing_configs_follow_the_reference_with_the_right_class_count(benchmark: str) -> None:
    cfg = load_config(ParsingExperiment, CONFIGS / benchmark / "parsing.yaml")
    assert parsing_classes(cfg) == (60 if benchmark.startswith("ntu60") else 120)
    assert cfg.model.backbone == "inception_v3" and cfg.data.num_frames == 9 and cfg.data.image_size == 299
    assert (cfg.optim.lr, cfg.optim.weight_decay, cfg.optim.warmup_epochs) == (0.03, 1e-4, 0)
    assert (cfg.optim.milestones, cfg.train.epochs, cfg.train.batch_size) == ([10, 20, 30, 40], 45, 64)


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*/pipeline.yaml")), ids=lambda p: p.parent.name)
def test_pipeline_configs_build_their_stages(path: Path) -> None:
    cfg = load_config(PipelineConfig, path)
    names = [stage.name for stage in build_stages(cfg)]
    assert names[-2:] == ["fuse", "pictures"] and sum(n.startswith("train pose") for n in names) == 4
    for stage in build_stages(cfg):
        for command in stage.commands:
            for arg in command:
                if str(arg).startswith("configs/"):
                    assert Path(CONFIGS.parent / arg).is_file(), arg


def test_demo_configs_load() -> None:
    for stream in STREAMS:
        assert load_config(PoseExperiment, CONFIGS / "demo" / f"pose_{stream}.yaml").data.stream == stream
    assert load_config(ParsingExperiment, CONFIGS / "demo" / "parsing.yaml").model.pretrained == ""


def test_paper_table_names_all_four_benchmarks_and_five_streams() -> None:
    data = yaml.safe_load((CONFIGS / "paper_table.yaml").read_text())
    specs, _ = fusion.parse_table_config(data, CONFIGS, "paper_table.yaml")
    assert len(specs) == 4
    for spec in specs.values():
        weights = {s.name: s.weight for s in spec.streams}
        assert weights == {"joint": 2, "bone": 2, "joint-motion": 1, "bone-motion": 1, "parsing": 2}
