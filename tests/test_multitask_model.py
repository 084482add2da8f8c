"""The multitask network: soft-argmax, 3D decoding, shapes of both sizes, freezing, bf16 on the CPU."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.config import load_config
from multitask.model import (
    MultitaskNet,
    MultitaskSizes,
    Stem,
    action_visibility,
    decode_pose_3d,
    max_min_pool,
    soft_argmax_1d,
    soft_argmax_2d,
)
from multitask.task import TASK, MultitaskExperiment, build_model

TINY = ["model.variant=tiny", "model.num_class=3", "model.image_size=32", "model.num_blocks=1",
        "data.clip_frames=4"]


def test_soft_argmax_of_a_sharp_peak_is_its_normalised_position_and_has_gradients() -> None:
    heatmaps = torch.full((1, 2, 9, 17), -30.0)
    heatmaps[0, 0, 2, 12] = 30.0  # row 2, column 12
    heatmaps[0, 1, 8, 0] = 30.0
    heatmaps.requires_grad_(True)
    xy, prob = soft_argmax_2d(heatmaps)
    assert torch.allclose(xy[0, 0], torch.tensor([12 / 16, 2 / 8]), atol=1e-5)  # linspace(0, 1) grid
    assert torch.allclose(xy[0, 1], torch.tensor([0.0, 1.0]), atol=1e-5)
    assert torch.allclose(prob.sum((2, 3)), torch.ones(1, 2))
    flat = torch.zeros(1, 1, 5, 5, requires_grad=True)
    centre, _ = soft_argmax_2d(flat)
    assert torch.allclose(centre, torch.tensor([[[0.5, 0.5]]]))
    (xy[0, 0, 0] + centre.sum()).backward()
    assert heatmaps.grad is not None and flat.grad is not None and flat.grad.abs().sum() > 0


def test_soft_argmax_1d_uses_the_depth_bin_centres() -> None:
    scores = torch.tensor([[[-50.0, -50.0, 50.0, -50.0]]])
    assert torch.allclose(soft_argmax_1d(scores), torch.tensor([[2.5 / 4]]))


def plain_decode(h: np.ndarray, joints: int) -> tuple[np.ndarray, np.ndarray]:
    """A loop transcription of pose_regression_3d for one sample: h (Nd*J, H, W), channel d*J + j."""
    c, rows, cols = h.shape
    depth = c // joints
    pose, vis = np.zeros((joints, 3)), np.zeros(joints)
    for j in range(joints):
        maps = np.stack([h[d * joints + j] for d in range(depth)])  # (Nd, H, W)
        hxy, hz = maps.mean(0), maps.mean((1, 2))
        p = np.exp(hxy - hxy.max())
        p /= p.sum()
        pose[j, 0] = sum(p[r, q] * q / (cols - 1) for r in range(rows) for q in range(cols))
        pose[j, 1] = sum(p[r, q] * r / (rows - 1) for r in range(rows) for q in range(cols))
        pz = np.exp(hz - hz.max())
        pz /= pz.sum()
        pose[j, 2] = sum(pz[d] * (d + 0.5) / depth for d in range(depth))
        vis[j] = 1 / (1 + np.exp(-(hxy.max() + hz.max())))
    return pose, vis


def test_3d_decoding_matches_a_plain_transcription() -> None:
    rng = np.random.default_rng(0)
    h = rng.normal(size=(2, 4 * 3, 6, 5)).astype(np.float32) * 2
    pose, visible, prob = decode_pose_3d(torch.from_numpy(h), num_joints=3)
    assert prob.shape == (2, 3, 6, 5)
    for n in range(2):
        want_pose, want_vis = plain_decode(h[n].astype(np.float64), 3)
        np.testing.assert_allclose(pose[n].numpy(), want_pose, atol=1e-5)
        np.testing.assert_allclose(visible[n].numpy(), want_vis, atol=1e-5)


def test_the_action_visibility_is_the_sigmoid_of_twice_the_score() -> None:
    score = torch.linspace(-40, 40, 81)
    got = action_visibility(torch.sigmoid(score))
    assert torch.allclose(got, torch.sigmoid(2 * score), atol=1e-6) and torch.isfinite(got).all()


def test_max_min_pooling_is_the_window_max_plus_min() -> None:
    x = torch.tensor([[[[1.0, -2.0], [3.0, 0.5]]]])
    assert max_min_pool(x).item() == pytest.approx(3.0 - 2.0)


def test_the_full_stem_gives_32_by_32_by_576_features() -> None:
    with torch.no_grad():
        assert Stem(1.0).eval()(torch.zeros(1, 3, 256, 256)).shape == (1, 576, 32, 32)


def test_the_tiny_model_gives_every_output() -> None:
    sizes = MultitaskSizes.tiny(5)
    out = MultitaskNet(sizes)({"frames": torch.randn(2, sizes.num_frames, 3, 64, 64)})
    t, j, k = sizes.num_frames, sizes.num_joints, sizes.num_blocks
    assert out["pose"].shape == (2, t, j, 3) and out["visible"].shape == (2, t, j)
    assert out["pose_blocks"].shape == (k, 2, t, j, 3) and out["visible_blocks"].shape == (k, 2, t, j)
    assert out["action_blocks"].shape == (8, 2, 5) and out["action"].shape == (2, 5)


def test_the_action_stage_freezes_the_pose_part_and_keeps_its_statistics() -> None:
    cfg = load_config(MultitaskExperiment, None, [*TINY, "model.stage=action"])
    model = build_model(cfg).train()
    assert not any(p.requires_grad for p in model.stem.parameters())
    assert not model.blocks.training and not model.stem.training and model.pose_stem.training
    assert all(p.requires_grad for p in model.appearance_actions.parameters())


def test_finetune_train_step_under_cpu_bf16_autocast_is_finite() -> None:
    cfg = load_config(MultitaskExperiment, None, [*TINY, "model.stage=finetune"])
    torch.manual_seed(0)
    model = build_model(cfg).train()
    inputs = {"frames": torch.rand(2, 4, 3, 32, 32) * 2 - 1}
    target = {"label": torch.tensor([0, 2]), "pose": torch.rand(2, 4, 20, 3), "valid": torch.ones(2, 4, 20)}
    before = [p.detach().clone() for p in model.parameters()]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        output = model(inputs)
        loss, terms = TASK.loss_terms(output, target, cfg)
    assert TASK.logits(output).dtype == torch.bfloat16
    loss.backward()
    torch.optim.SGD(model.parameters(), lr=0.01).step()
    assert torch.isfinite(loss) and {"pose_1", "visible_1", "action_1", "action_8", "action"} <= set(terms)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_the_pose_stage_runs_the_action_branches_without_gradients() -> None:
    cfg = load_config(MultitaskExperiment, None, [*TINY, "model.stage=pose"])
    model = build_model(cfg).train()
    output = model({"frames": torch.randn(2, 4, 3, 32, 32)})
    assert output["pose"].requires_grad and not output["action"].requires_grad
    assert not any(p.requires_grad for p in model.appearance_actions.parameters())
