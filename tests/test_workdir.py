"""A run's work directory describes exactly the run: honest resumes, failed starts that block nothing,
one run at a time, shareable outputs, one-line errors."""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import os
import stat
from pathlib import Path

import pytest
import yaml
from torch.utils.data import Dataset

from engine.errors import describe_os_error
from engine.trainer import run_task
from engine.workdir import resume_differences
from parsing.map_files import BadParsingMapError
from tests.toy_task import TASK, ToyExperiment

BASE = ["--device", "cpu", "--set", "train.epochs=2", "--set", "train.batch_size=16", "--set",
        "train.eval_batch_size=8", "--set", "train.num_workers=0", "--set", "optim.warmup_epochs=1"]


def train(work: Path, *extra: str) -> int:
    return run_task(TASK, [*BASE, "--work-dir", str(work), *extra])


def test_resume_with_result_changing_keys_is_refused_and_lists_them(tmp_path: Path, capsys) -> None:
    work = tmp_path / "run"
    assert train(work) == 0
    saved = (work / "config.yaml").read_text()
    capsys.readouterr()
    assert train(work, "--resume", "--set", "optim.lr=0.05", "--set", "model.hidden=8") == 2
    err = capsys.readouterr().err
    assert "optim.lr (0.1 -> 0.05)" in err and "model.hidden (16 -> 8)" in err and err.count("\n") == 1
    assert (work / "config.yaml").read_text() == saved  # the record is untouched


def test_resume_may_add_epochs_and_change_neutral_settings(tmp_path: Path) -> None:
    work = tmp_path / "run"
    assert train(work) == 0
    assert train(work, "--resume", "--set", "train.epochs=3", "--set", "train.eval_batch_size=4") == 0
    assert yaml.safe_load((work / "config.yaml").read_text())["train"]["epochs"] == 3
    assert len((work / "metrics.jsonl").read_text().splitlines()) == 3


def test_fewer_epochs_on_resume_is_a_difference() -> None:
    cfg = ToyExperiment()
    saved = yaml.safe_load(yaml.safe_dump(__import__("dataclasses").asdict(cfg)))
    cfg.train.epochs = saved["train"]["epochs"] - 1
    assert resume_differences(saved, cfg) == [f"train.epochs ({saved['train']['epochs']} -> {cfg.train.epochs})"]


def test_a_failed_start_leaves_nothing_that_blocks_the_corrected_rerun(tmp_path: Path, capsys) -> None:
    work = tmp_path / "run"
    # a bad setting is refused before the work dir is written at all
    assert train(work, "--set", "train.batch_size=0") == 2
    assert not (work / "config.yaml").exists()
    # an earlier start that died before finishing an epoch (config and log only) does not block
    work.mkdir(exist_ok=True)
    (work / "config.yaml").write_text("seed: 1\n")
    (work / "log.txt").write_text("started\n")
    assert train(work) == 0
    assert "clearing an earlier start" in capsys.readouterr().err
    assert (work / "scores" / "final.pkl").is_file()


def test_a_work_dir_in_use_is_refused_and_leftover_temporaries_are_removed(tmp_path: Path, capsys) -> None:
    work = tmp_path / "run"
    work.mkdir()
    with open(work / ".lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert train(work) == 2
        assert "in use by another run" in capsys.readouterr().err
    (work / "checkpoints").mkdir()
    leftover = work / "checkpoints" / ".last.pt.tmp4242"
    leftover.write_bytes(b"half a checkpoint")
    assert train(work) == 0
    assert not leftover.exists()


def test_outputs_are_as_shareable_as_any_other_file(tmp_path: Path) -> None:
    work = tmp_path / "run"
    old = os.umask(0o022)
    try:
        assert train(work) == 0
    finally:
        os.umask(old)
    for path in (work / "scores" / "final.pkl", work / "checkpoints" / "last.pt", work / "config.yaml"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path


def test_file_system_errors_are_one_line_naming_the_path() -> None:
    assert describe_os_error(OSError(errno.ENOSPC, "No space left on device", "/data/run/x.pt")) == (
        "no space left on /data/run/x.pt")
    assert "read-only" in describe_os_error(OSError(errno.EROFS, "Read-only file system", "/ro/x"))
    assert describe_os_error(FileNotFoundError(errno.ENOENT, "No such file or directory", "/in/a.npy")) == (
        "/in/a.npy: No such file or directory")


def test_a_missing_data_folder_is_one_line_and_exit_2(tmp_path: Path, capsys) -> None:
    from pose_branch.task import TASK as POSE_TASK

    work = tmp_path / "pose"
    capsys.readouterr()
    code = run_task(POSE_TASK, ["--device", "cpu", "--work-dir", str(work), "--set", f"data.root={tmp_path / 'nope'}"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and str(tmp_path / "nope") in err and "Traceback" not in err
    assert not (work / "config.yaml").exists()


def test_data_cli_reports_a_missing_folder_in_one_line(tmp_path: Path, capsys) -> None:
    from data.ntu.__main__ import main

    assert main(["prepare", "--skeletons", str(tmp_path / "none"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(tmp_path / "none") in err and "Traceback" not in err
    assert main(["export-npz", "--prepared", str(tmp_path / "none"), "--benchmark", "ntu60-xsub",
                 "--out", str(tmp_path / "x.npz")]) == 2
    assert "meta.json" in capsys.readouterr().err


def test_synthetic_cli_reports_an_unwritable_folder_in_one_line(capsys) -> None:
    from data.synthetic import main

    assert main(["--out", "/proc/not-a-folder", "--classes", "2", "--two-person-classes", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "/proc/not-a-folder" in err


class BreaksInEpochTwo(Dataset):
    """The toy clusters, whose sample 3 turns unreadable once the first epoch has used it (a map gone bad)."""

    def __init__(self, inner: Dataset, flag: Path) -> None:
        self.inner, self.flag = inner, flag
        self.sample_names = inner.sample_names

    def __len__(self) -> int:
        return len(self.inner)

    def __getitem__(self, index: int):
        if index == 3:
            if self.flag.exists():
                raise BadParsingMapError(f"parsing map {self.flag.parent / 'S001C001P001R001A001.npy'}: truncated")
            self.flag.write_text("used")
        return self.inner[index]


@pytest.mark.parametrize("workers", [0, 1])
def test_data_that_breaks_mid_run_is_one_line_and_keeps_the_finished_epoch(tmp_path: Path, capsys,
                                                                          workers: int) -> None:
    flag = tmp_path / "used"
    task = dataclasses.replace(TASK, build_dataset=lambda cfg, split: (
        BreaksInEpochTwo(TASK.build_dataset(cfg, split), flag) if split == "train" else TASK.build_dataset(cfg, split)))
    work = tmp_path / "run"
    status = run_task(task, [*BASE, "--work-dir", str(work), "--set", f"train.num_workers={workers}"])
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]  # besides the log and the bars
    assert status == 2 and len(errors) == 1 and "Traceback" not in err, err
    assert "S001C001P001R001A001.npy: truncated" in errors[0] and err.rstrip().endswith(errors[0])
    assert (work / "checkpoints" / "last.pt").is_file()  # epoch 1 is kept
