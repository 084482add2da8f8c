"""What both trainers share: typed configs, the training loop, DDP, checkpoints and score files.

The trainer (and with it torch) is imported on first use, so light users such as ``ensemble.py``,
which only needs :mod:`engine.scores`, start quickly.
"""

from typing import Any

from engine.config import ConfigError, Experiment, OptimConfig, TrainConfig, load_config

__all__ = ["ConfigError", "Experiment", "OptimConfig", "Task", "TrainConfig", "load_config", "run", "run_task"]


def __getattr__(name: str) -> Any:
    if name == "Task":
        from engine.task import Task

        return Task
    if name in ("run", "run_task"):
        from engine import trainer

        return getattr(trainer, name)
    raise AttributeError(f"module 'engine' has no attribute {name!r}")
