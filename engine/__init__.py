"""What both trainers share: typed configs, the training loop, DDP, checkpoints and score files."""

from engine.config import ConfigError, Experiment, OptimConfig, TrainConfig, load_config
from engine.trainer import Task, run, run_task

__all__ = ["ConfigError", "Experiment", "OptimConfig", "Task", "TrainConfig", "load_config", "run", "run_task"]
