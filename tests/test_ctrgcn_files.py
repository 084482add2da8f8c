"""CTR-GCN's own files as they are named in its work directory: ``epoch<N>_test_score.pkl`` and
``runs-<epoch>-<step>.pt``, written the way Uason-Chen/CTR-GCN ``main.py`` writes them and read by the
fusion command and the pose branch without renaming or converting.

Facts (main.py): ``eval`` pickles ``dict(zip(sample_name, score))`` with ``sample_name = ['test_' + str(i)]``
(feeders/feeder_ntu.py) and ``score = np.concatenate(score_frag)`` of float32 outputs, to
``'{work_dir}/epoch{epoch + 1}_{ln}_score.pkl'``; after training it evaluates the best epoch's weights with
``epoch=0``, so its final scores are ``epoch1_test_score.pkl``. Weights are ``torch.save`` of an
``OrderedDict`` with ``module.`` stripped and CPU tensors, at ``'{work_dir}/runs-{epoch + 1}-{global_step}.pt'``.
"""

from __future__ import annotations

import pickle
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from ensemble import main
from pose_branch.ctrgcn import CTRGCN, load_pose_checkpoint
from tests.test_ensemble import fusion_line, labels_of, noisy_logits, ntu_names


def ctrgcn_score_file(work_dir: Path, logits: np.ndarray, epoch: int = 1, batch: int = 64) -> Path:
    """eval(): outputs gathered batch by batch, concatenated, zipped with test_i names, pickled."""
    score_frag = [logits[i : i + batch] for i in range(0, len(logits), batch)]
    score = np.concatenate(score_frag)
    sample_name = ["test_" + str(i) for i in range(len(logits))]
    path = work_dir / f"epoch{epoch}_test_score.pkl"
    with path.open("wb") as f:
        pickle.dump(dict(zip(sample_name, score, strict=True)), f)
    return path


def test_epoch_test_score_pickles_fuse_as_they_are(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    names = ntu_names(150, 60)
    labels = labels_of(names)
    rng = np.random.default_rng(0)
    joint_dir, bone_dir = tmp_path / "ctrgcn_joint", tmp_path / "ctrgcn_bone"
    joint_dir.mkdir(), bone_dir.mkdir()
    joint, bone = noisy_logits(labels, 60, 1.5, rng), noisy_logits(labels, 60, 1.5, rng)
    sample_list = tmp_path / "NTU60_CTR_CSub_test.txt"
    sample_list.write_text("\n".join(names) + "\n")
    argv = ["--joint_Score", str(ctrgcn_score_file(joint_dir, joint)), "--bone_Score",
            str(ctrgcn_score_file(bone_dir, bone, epoch=65)), "--val_sample", str(sample_list)]
    assert main(argv) == 0
    expected = np.mean((2 * joint + 2 * bone).argmax(axis=1) == labels)
    assert fusion_line(capsys.readouterr().out)[1] == f"{100 * expected:.2f}%"


def test_runs_weights_load_into_the_pose_branch(tmp_path: Path) -> None:
    torch.manual_seed(0)
    trained = nn.DataParallel(CTRGCN(num_class=60, base_channels=16))  # what the official run wraps
    state_dict = trained.state_dict()
    weights = OrderedDict([[k.split("module.")[-1], v.cpu()] for k, v in state_dict.items()])
    path = tmp_path / "runs-65-40625.pt"
    torch.save(weights, path)

    model = CTRGCN(num_class=60, base_channels=16)
    load_pose_checkpoint(model, path)
    x = torch.randn(2, 3, 16, 25, 2)
    trained.eval(), model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x), trained.module(x))
