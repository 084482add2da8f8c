"""Every entry point's ``--help`` runs and names no repository file that does not exist."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# (module with a main(argv) function, the argv whose help is shown)
ENTRY_POINTS = [
    ("train_pose", []), ("train_parsing", []), ("ensemble", []), ("data.ntu.__main__", []),
    ("data.ntu.__main__", ["prepare"]), ("data.synthetic", []), ("data.synthetic.kinetics_tps", []),
    ("parsing.__main__", []), ("parsing.__main__", ["parse"]), ("parsing.__main__", ["frames"]),
    ("parsing.__main__", ["show", "feature-map"]), ("pipeline.__main__", []), ("pose_branch.infer", []),
    ("part_parsing.__main__", []), ("part_parsing.__main__", ["evaluate"]), ("benchmarks.harness", []),
    ("benchmarks.gpu_check", []), ("train_rgb", []), ("train_multitask", []), ("multitask.__main__", []),
    ("multitask.__main__", ["export"]), ("multitask.__main__", ["show"]), ("train_part", []),
    ("part_parsing.__main__", ["predict"]), ("data.pyskl.__main__", []), ("data.pyskl.__main__", ["export"]),
    ("parsing.__main__", ["store", "pack"]), ("train_part_detector", []), ("part_parsing.__main__", ["detect"]),
    ("part_parsing.__main__", ["table"]), ("part_parsing.__main__", ["crops"]),
]
# a repository file: a top-level folder, then a path ending in a file extension
REPO_PATH = re.compile(r"\b((?:configs|data|parsing|engine|fusion|pipeline|docs|benchmarks|tests)/[\w/{}<>-]+\.\w+)")


def help_text(module: str, argv: list[str], capsys: pytest.CaptureFixture) -> str:
    mod = importlib.import_module(module)
    if module.startswith("train_"):
        from engine.trainer import run_task

        def main(args: list[str]) -> int:
            return run_task(mod.TASK, args)
    else:
        main = mod.main
    with pytest.raises(SystemExit) as done:
        main([*argv, "--help"])
    assert done.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize(("module", "argv"), ENTRY_POINTS, ids=lambda v: v if isinstance(v, str) else " ".join(v))
def test_help_runs_and_names_only_files_that_exist(module: str, argv: list[str], capsys) -> None:
    text = help_text(module, argv, capsys)
    assert "usage:" in text
    for path in REPO_PATH.findall(text):
        path = path.rstrip(".,)")
        if any(mark in path for mark in "{}<>") or path.endswith("/"):
            continue  # a pattern (configs/<benchmark>/...), not a file
        assert (ROOT / path).exists(), f"{module} --help names {path}, which the repository lacks"
