"""CTR-GCN: the official parameter layout, the official maths, checkpoint loading, the NTU graph."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from engine.checkpoint import CheckpointError
from pose_branch.ctrgcn import CTRGCN, MultiScaleTemporalConv, load_pose_checkpoint
from pose_branch.graph import BONE_PAIRS, INWARD, spatial_adjacency


def reference_keys(shared_dir: Path) -> list[tuple[str, list[int]]]:
    lines = (shared_dir / "reference" / "ctrgcn_ntu60_state_dict.txt").read_text().splitlines()
    rows = []
    for line in lines:
        if line.startswith("#") or not line.strip():
            continue
        key, shape = line.split("\t")
        rows.append((key, [int(s) for s in shape.strip("[]").split(",") if s.strip()]))
    return rows


def randomised(model: CTRGCN, seed: int = 0) -> dict[str, torch.Tensor]:
    """The model's state dict with every float entry drawn at random (alpha too, so tanh matters)."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in model.state_dict().items():
        if not value.is_floating_point():
            state[key] = value.clone()
        elif key.endswith("running_var"):
            state[key] = torch.rand(value.shape, generator=gen) + 0.5
        elif value.dim() <= 1:
            state[key] = torch.randn(value.shape, generator=gen) * 0.1 + (1.0 if key.endswith(".weight") else 0.0)
        else:
            state[key] = torch.randn(value.shape, generator=gen) * (0.5 / value[0].numel()) ** 0.5
    return state


def test_state_dict_has_exactly_the_official_keys_and_shapes(shared_dir: Path) -> None:
    expected = reference_keys(shared_dir)
    ours = [(k, list(v.shape)) for k, v in CTRGCN(num_class=60).state_dict().items()]
    assert ours == expected
    assert sum(p.numel() for p in CTRGCN(60).parameters()) == pytest.approx(1.45e6, rel=0.01)


def test_num_class_sets_only_the_classifier() -> None:
    state = CTRGCN(num_class=120).state_dict()
    assert state["fc.weight"].shape == (120, 256) and state["fc.bias"].shape == (120,)


def test_official_initialisation() -> None:
    torch.manual_seed(0)
    model = CTRGCN(60)
    assert torch.equal(model.l3.gcn1.PA, torch.from_numpy(spatial_adjacency()))
    assert model.l3.gcn1.alpha.item() == 0.0
    assert torch.all(model.l3.gcn1.bn.weight == 1e-6)
    tcn_bn = model.l3.tcn1.branches[0][1].weight
    assert not torch.all(tcn_bn == 1.0) and (tcn_bn - 1).abs().max() < 0.2
    assert torch.all(model.l3.gcn1.convs[0].conv3.bias == 0)
    assert model.fc.weight.std().item() == pytest.approx((2 / 60) ** 0.5, rel=0.1)


# A plain transcription of the official forward pass (REFERENCE.md §5): a loop over subsets, one op at
# a time, reading the same state dict.
def plain_bn(x: torch.Tensor, s: dict[str, torch.Tensor], prefix: str, training: bool) -> torch.Tensor:
    return F.batch_norm(x, s[prefix + "running_mean"].clone(), s[prefix + "running_var"].clone(),
                        s[prefix + "weight"], s[prefix + "bias"], training=training, eps=1e-5)


def plain_conv(x: torch.Tensor, s: dict[str, torch.Tensor], prefix: str, **kw) -> torch.Tensor:
    return F.conv2d(x, s[prefix + "weight"], s[prefix + "bias"], **kw)


def plain_unit(x: torch.Tensor, s: dict[str, torch.Tensor], p: str, stride: int, training: bool,
               first: bool) -> torch.Tensor:
    bn = lambda h, q: plain_bn(h, s, q, training)  # noqa: E731
    y = 0
    for k in range(3):
        q = f"{p}gcn1.convs.{k}."
        x1 = plain_conv(x, s, q + "conv1.").mean(-2)
        x2 = plain_conv(x, s, q + "conv2.").mean(-2)
        x3 = plain_conv(x, s, q + "conv3.")
        rel = torch.tanh(x1.unsqueeze(-1) - x2.unsqueeze(-2))
        adj = plain_conv(rel, s, q + "conv4.") * s[p + "gcn1.alpha"] + s[p + "gcn1.PA"][k][None, None]
        y = y + torch.einsum("ncuv,nctv->nctu", adj, x3)
    y = bn(y, p + "gcn1.bn.")
    cin, cout = x.shape[1], y.shape[1]
    y = y + (bn(plain_conv(x, s, p + "gcn1.down.0."), p + "gcn1.down.1.") if cin != cout else x)
    g = F.relu(y)

    outs = []
    for b, dilation in ((0, 1), (1, 2)):
        q = f"{p}tcn1.branches.{b}."
        h = F.relu(bn(plain_conv(g, s, q + "0."), q + "1."))
        h = plain_conv(h, s, q + "3.conv.", stride=(stride, 1), padding=(2 * dilation, 0), dilation=(dilation, 1))
        outs.append(bn(h, q + "3.bn."))
    q = f"{p}tcn1.branches.2."
    h = F.relu(bn(plain_conv(g, s, q + "0."), q + "1."))
    outs.append(bn(F.max_pool2d(h, (3, 1), stride=(stride, 1), padding=(1, 0)), q + "4."))
    q = f"{p}tcn1.branches.3."
    outs.append(bn(plain_conv(g, s, q + "0.", stride=(stride, 1)), q + "1."))
    t = torch.cat(outs, dim=1)

    if first:
        res = 0
    elif cin == cout and stride == 1:
        res = x
    else:
        res = bn(plain_conv(x, s, p + "residual.conv.", stride=(stride, 1)), p + "residual.bn.")
    return F.relu(t + res)


def plain_ctrgcn(x: torch.Tensor, s: dict[str, torch.Tensor], training: bool) -> torch.Tensor:
    n, c, t, v, m = x.shape
    x = x.permute(0, 4, 3, 1, 2).contiguous().view(n, m * v * c, t)
    x = plain_bn(x, s, "data_bn.", training)
    x = x.view(n, m, v, c, t).permute(0, 1, 3, 4, 2).contiguous().view(n * m, c, t, v)
    for i, stride in enumerate((1, 1, 1, 1, 2, 1, 1, 2, 1, 1), start=1):
        x = plain_unit(x, s, f"l{i}.", stride, training, first=i == 1)
    x = x.view(n, m, x.shape[1], -1).mean(3).mean(1)
    return F.linear(x, s["fc.weight"], s["fc.bias"])


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_same_logits_as_a_plain_per_subset_implementation(training: bool) -> None:
    model = CTRGCN(num_class=60)
    state = randomised(model)
    model.load_state_dict(state, strict=True)
    model.train(training)
    x = torch.randn(3, 3, 20, 25, 2, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours = model(x)
        plain = plain_ctrgcn(x, state, training)
    assert ours.shape == (3, 60)
    assert (ours - plain).abs().max() <= 1e-5 * plain.abs().max()


def test_training_updates_running_statistics_like_separate_batch_norms() -> None:
    model = CTRGCN(num_class=10)
    model.load_state_dict(randomised(model), strict=True)
    model.train()
    bn = model.l2.tcn1.branches[1][3].bn
    before = bn.running_mean.clone()
    steps = int(bn.num_batches_tracked)
    with torch.no_grad():
        model(torch.randn(2, 3, 12, 25, 2))
    assert not torch.equal(before, bn.running_mean)
    assert int(bn.num_batches_tracked) == steps + 1


def test_backward_reaches_every_parameter() -> None:
    model = CTRGCN(num_class=5, base_channels=8, drop_out=0.5)
    model.train()
    with torch.no_grad():
        for block in model.blocks():
            block.gcn1.alpha.fill_(0.5)  # with alpha = 0 (the init) conv4 gets no gradient
    model(torch.randn(2, 3, 12, 25, 2)).sum().backward()
    assert [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0] == []


def test_load_pose_checkpoint_strips_module_prefix_and_gives_the_same_logits(tmp_path: Path) -> None:
    source = CTRGCN(num_class=60)
    source.load_state_dict(randomised(source, seed=3))
    path = tmp_path / "ctrgcn_joint.pt"
    torch.save({f"module.{k}": v for k, v in source.state_dict().items()}, path)
    target = CTRGCN(num_class=60)
    load_pose_checkpoint(target, path)
    x = torch.randn(2, 3, 16, 25, 2)
    source.eval(), target.eval()
    with torch.no_grad():
        assert torch.equal(source(x), target(x))


def test_load_pose_checkpoint_names_missing_unexpected_and_misshapen_keys(tmp_path: Path) -> None:
    state = CTRGCN(num_class=120).state_dict()
    del state["l4.gcn1.PA"]
    state["l4.extra"] = torch.zeros(1)
    path = tmp_path / "bad.pt"
    torch.save(state, path)
    with pytest.raises(CheckpointError) as err:
        load_pose_checkpoint(CTRGCN(num_class=60), path)
    message = str(err.value)
    assert "l4.gcn1.PA" in message and "l4.extra" in message and "fc.weight" in message


def test_load_pose_checkpoint_refuses_pickled_objects(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": CTRGCN(num_class=60).state_dict(), "hook": Path("/")}, path)
    with pytest.raises(CheckpointError, match="weights_only"):
        load_pose_checkpoint(CTRGCN(num_class=60), path)


def test_graph_subsets_are_identity_inward_outward_column_normalised() -> None:
    a = spatial_adjacency()
    assert a.shape == (3, 25, 25) and a.dtype == np.float32
    assert np.array_equal(a[0], np.eye(25))
    assert len(INWARD) == 24 and (20, 20) not in INWARD and len(BONE_PAIRS) == 25
    # Inward: column = child, row = parent; every joint but the root (21) has one parent.
    assert a[1][1, 0] == 1.0  # joint 1 (base of spine) -> joint 2
    assert np.allclose(a[1].sum(axis=0), [0.0 if j == 20 else 1.0 for j in range(25)])
    # Outward: column = parent, split evenly among its children (joint 21 has 4).
    assert np.allclose(a[2][:, 20][a[2][:, 20] > 0], 0.25)
    assert np.allclose(a[2].sum(axis=0)[a[2].sum(axis=0) > 0], 1.0)


@pytest.mark.parametrize("stride", [1, 2])
def test_temporal_unit_gradients_match_its_branches_on_tied_max_pool_windows(stride: int) -> None:
    # Zero-padded frames and absent persons make runs of equal values; the fused forward must send the
    # max-pool gradient to the same (first) element of each tied window as the official branch loop.
    unit = MultiScaleTemporalConv(16, 16, stride=stride).double()
    x = torch.randn(4, 16, 24, 25, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    x[:, :, 10:] = x[:, :, 9:10]
    x[1] = 0
    g = torch.randn(4, 16, 24 // stride, 25, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    grads = []
    for forward in (unit, lambda h: torch.cat([branch(h) for branch in unit.branches], dim=1)):
        xx = x.clone().requires_grad_()
        (forward(xx) * g).sum().backward()
        grads.append(xx.grad)
    assert (grads[0] - grads[1]).abs().max() <= 1e-9 * grads[1].abs().max()
