"""CTR-GCN (Chen et al., ICCV 2021), the skeleton branch of EPP-Net (REFERENCE.md §5).

The modules mirror the official parameter layout, so a published checkpoint loads with
``strict=True`` (see :func:`load_pose_checkpoint`) and gives the same logits. The forward pass is
the official maths arranged for speed:

* the three adjacency subsets' convolutions run as one convolution with concatenated weights;
* ``conv1``/``conv2`` are applied to the time-averaged input (a 1x1 convolution commutes with the
  mean over time), instead of averaging their full (N, C, T, V) outputs;
* the batch norms that follow the temporal branches run as one call over concatenated channels
  (batch norm is per channel, so this is exact; running statistics are written back);
* the refined topology is one GEMM per subset that also adds bias and ``PA``, built transposed for the
  aggregation, which accumulates over subsets in place;
* the max-pool branch runs in channels-last layout (same values and tie-breaking, vectorised kernel).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from engine.checkpoint import load_model_weights
from pose_branch.graph import spatial_adjacency


def _kaiming_conv_init(conv: nn.Conv2d) -> None:
    nn.init.kaiming_normal_(conv.weight, mode="fan_out")
    nn.init.zeros_(conv.bias)


def _bn_init(bn: nn.BatchNorm2d | nn.BatchNorm1d, scale: float) -> None:
    nn.init.constant_(bn.weight, scale)
    nn.init.zeros_(bn.bias)


def _fused_batch_norm(x: torch.Tensor, bns: list[nn.BatchNorm2d]) -> torch.Tensor:
    """Apply ``bns`` to consecutive channel groups of ``x`` (N, sum C_i, T, V) in one call."""
    training = bns[0].training
    mean = torch.cat([bn.running_mean for bn in bns])
    var = torch.cat([bn.running_var for bn in bns])
    out = F.batch_norm(
        x,
        mean,
        var,
        torch.cat([bn.weight for bn in bns]),
        torch.cat([bn.bias for bn in bns]),
        training=training,
        momentum=bns[0].momentum,
        eps=bns[0].eps,
    )
    if training:
        # F.batch_norm updated the concatenated copies; hand each module its share.
        with torch.no_grad():
            for bn, m, v in zip(bns, mean.split([b.num_features for b in bns]),
                                var.split([b.num_features for b in bns]), strict=True):
                bn.running_mean.copy_(m)
                bn.running_var.copy_(v)
                bn.num_batches_tracked.add_(1)
    return out


class TemporalConvBN(nn.Module):
    """A (kernel x 1) convolution over time followed by batch norm: (N, C, T, V) -> (N, C', T/s, V)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 dilation: int = 1) -> None:
        super().__init__()
        pad = (kernel_size + (kernel_size - 1) * (dilation - 1) - 1) // 2
        self.conv = nn.Conv2d(in_channels, out_channels, (kernel_size, 1), padding=(pad, 0),
                              stride=(stride, 1), dilation=(dilation, 1))
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))


class MultiScaleTemporalConv(nn.Module):
    """Four temporal branches of C/4 channels each, concatenated: (N, C, T, V) -> (N, C, T/s, V).

    Branches 0 and 1: 1x1 conv, BN, ReLU, kernel-5 conv (dilation 1 / 2), BN. Branch 2: 1x1 conv,
    BN, ReLU, 3x1 max-pool, BN. Branch 3: strided 1x1 conv, BN. The attribute layout
    (``branches.i.j``) is the official one; ``forward`` reads the parameters directly so that
    the 1x1 convolutions and the batch norms of all branches run together.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 5, stride: int = 1,
                 dilations: tuple[int, ...] = (1, 2)) -> None:
        super().__init__()
        num_branches = len(dilations) + 2
        if out_channels % num_branches:
            raise ValueError(f"out_channels={out_channels} must be a multiple of {num_branches} branches")
        c = out_channels // num_branches
        self.stride = stride
        self.branches = nn.ModuleList(
            nn.Sequential(nn.Conv2d(in_channels, c, 1), nn.BatchNorm2d(c), nn.ReLU(inplace=True),
                          TemporalConvBN(c, c, kernel_size, stride=stride, dilation=d))
            for d in dilations
        )
        self.branches.append(nn.Sequential(
            nn.Conv2d(in_channels, c, 1), nn.BatchNorm2d(c), nn.ReLU(inplace=True),
            nn.MaxPool2d((3, 1), stride=(stride, 1), padding=(1, 0)), nn.BatchNorm2d(c),
        ))
        self.branches.append(nn.Sequential(nn.Conv2d(in_channels, c, 1, stride=(stride, 1)), nn.BatchNorm2d(c)))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                _kaiming_conv_init(m)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.normal_(m.weight, 1.0, 0.02)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        *temporal, pool, point = self.branches
        c = point[0].out_channels
        # The branches' leading 1x1 convs read the same x: run them as one conv. A strided 1x1 conv
        # (branch 3 of a stride-2 unit) runs on its own, on the subsampled frames only.
        heads = [b[0] for b in self.branches] if self.stride == 1 else [b[0] for b in self.branches[:-1]]
        z = F.conv2d(x, torch.cat([h.weight for h in heads]), torch.cat([h.bias for h in heads]))
        if self.stride == 1:
            z, direct = z.split([len(temporal) * c + c, c], dim=1)
        else:
            direct = point[0](x)
        hidden = _fused_batch_norm(z, [b[1] for b in self.branches[:-1]]).relu_().split(c, dim=1)
        parts = [b[3].conv(h) for b, h in zip(temporal, hidden, strict=False)]
        # PyTorch's max-pool kernel is scalar for (N, C, T, V) strides but vectorised over channels in
        # channels-last layout; both pick the first maximum of a window, so values and gradients match.
        parts += [pool[3](hidden[-1].contiguous(memory_format=torch.channels_last)), direct]
        tails = [b[3].bn for b in temporal] + [pool[4], point[1]]
        return _fused_batch_norm(torch.cat(parts, dim=1), tails)


class SubsetConvs(nn.Module):
    """One adjacency subset's CTRGC parameters (``conv1``..``conv4``); :class:`GraphConv` runs them.

    ``conv1``/``conv2`` embed joints into ``rel`` channels whose pairwise differences, through
    ``tanh`` and ``conv4``, refine the shared topology per output channel; ``conv3`` transforms
    the features that the refined topology aggregates.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        rel = 8 if in_channels in (3, 9) else in_channels // 8
        self.conv1 = nn.Conv2d(in_channels, rel, 1)
        self.conv2 = nn.Conv2d(in_channels, rel, 1)
        self.conv3 = nn.Conv2d(in_channels, out_channels, 1)
        self.conv4 = nn.Conv2d(rel, out_channels, 1)


class GraphConv(nn.Module):
    """Channel-wise topology refinement graph convolution (``unit_gcn``): (N, C, T, V) -> (N, C', T, V).

    For subset k: ``M_k = conv4(tanh(e1_u - e2_v)) * alpha + PA_k`` with e1, e2 the 1x1
    embeddings of the time-averaged input, and ``y = sum_k M_k (per channel, over v) conv3_k(x)``;
    then BN, the residual ``down(x)`` and ReLU.
    """

    def __init__(self, in_channels: int, out_channels: int, adjacency: torch.Tensor) -> None:
        super().__init__()
        self.convs = nn.ModuleList(SubsetConvs(in_channels, out_channels) for _ in range(adjacency.shape[0]))
        self.down = (
            nn.Sequential(nn.Conv2d(in_channels, out_channels, 1), nn.BatchNorm2d(out_channels))
            if in_channels != out_channels
            else None
        )
        self.PA = nn.Parameter(adjacency.clone())
        self.alpha = nn.Parameter(torch.zeros(1))
        self.bn = nn.BatchNorm2d(out_channels)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                _kaiming_conv_init(m)
            elif isinstance(m, nn.BatchNorm2d):
                _bn_init(m, 1.0)
        _bn_init(self.bn, 1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, t, v = x.shape
        subsets = len(self.convs)
        rel = self.convs[0].conv1.out_channels
        out = self.convs[0].conv3.out_channels

        # Joint embeddings of every subset from the time-averaged input, laid out (K, 2, N, R, V).
        embed_w = torch.cat([w for s in self.convs for w in (s.conv1.weight, s.conv2.weight)]).flatten(1)
        embed_b = torch.cat([b for s in self.convs for b in (s.conv1.bias, s.conv2.bias)])
        embed = torch.addmm(embed_b, x.mean(2).transpose(1, 2).reshape(n * v, -1), embed_w.t())
        embed = embed.view(n, v, subsets, 2, rel).permute(2, 3, 0, 4, 1)
        # The topology is built already transposed, (V, U) per channel, because the aggregation
        # multiplies by M^T: a transposed view there would cost a copy of its gradient in backward.
        pair = torch.tanh(embed[:, 0, :, :, None, :] - embed[:, 1, :, :, :, None])  # (K, N, R, V, U)

        # alpha * (W4 p + b4) + PA  ==  [alpha W4 | alpha b4 | 1] @ [p; 1; PA]: one batched GEMM per subset,
        # with no (N, C', V*U) copy of a broadcast shift in forward and no sum over N of its gradient.
        ones = pair.new_ones(1, 1, 1, 1, 1).expand(subsets, n, 1, v, v)
        pa = self.PA.transpose(1, 2)[:, None, None].expand(-1, n, -1, -1, -1)
        pair = torch.cat([pair, ones, pa], dim=2).view(subsets, n, rel + 2, v * v)
        conv4 = torch.cat([torch.stack([s.conv4.weight.flatten(1) for s in self.convs]),
                           torch.stack([s.conv4.bias for s in self.convs])[:, :, None]], dim=2) * self.alpha
        conv4 = torch.cat([conv4, conv4.new_ones(subsets, out, 1)], dim=2)  # (K, C', R + 2)

        y = None
        for k, s in enumerate(self.convs):
            topology = torch.bmm(conv4[k].expand(n, -1, -1), pair[k])
            # Per (sample, channel): (T, V) features times the (V, U) transposed topology.
            feats = F.conv2d(x, s.conv3.weight, s.conv3.bias).view(n * out, t, v)
            topology = topology.view(n * out, v, v)
            # In place: an out-of-place baddbmm would first copy y; backward needs only feats and topology.
            y = torch.bmm(feats, topology) if y is None else y.baddbmm_(feats, topology)

        # In place, as the official code: fewer large allocations, and autograd needs neither value.
        y = self.bn(y.view(n, out, t, v))
        y += self.down(x) if self.down is not None else x
        return y.relu_()


class Block(nn.Module):
    """One TCN-GCN unit: ReLU(tcn(gcn(x)) + residual(x)), (N, C, T, V) -> (N, C', T/s, V)."""

    def __init__(self, in_channels: int, out_channels: int, adjacency: torch.Tensor, stride: int = 1,
                 residual: bool = True) -> None:
        super().__init__()
        self.gcn1 = GraphConv(in_channels, out_channels, adjacency)
        self.tcn1 = MultiScaleTemporalConv(out_channels, out_channels, kernel_size=5, stride=stride)
        self.use_residual = residual
        self.residual = (
            TemporalConvBN(in_channels, out_channels, kernel_size=1, stride=stride)
            if residual and (in_channels != out_channels or stride != 1)
            else None
        )
        if self.residual is not None:
            _kaiming_conv_init(self.residual.conv)
            _bn_init(self.residual.bn, 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.tcn1(self.gcn1(x))
        if self.residual is not None:
            y += self.residual(x)
        elif self.use_residual:
            y += x
        return y.relu_()


class CTRGCN(nn.Module):
    """CTR-GCN classifier: skeletons (N, C, T, V, M) -> logits (N, num_class).

    The defaults are the official model (1.45 M parameters for 60 classes). ``base_channels``
    scales every width (64 is the official one) for tiny demo runs.
    """

    def __init__(self, num_class: int = 60, num_point: int = 25, num_person: int = 2, in_channels: int = 3,
                 drop_out: float = 0.0, base_channels: int = 64) -> None:
        super().__init__()
        adjacency = torch.from_numpy(spatial_adjacency(num_point))
        self.num_class = num_class
        self.data_bn = nn.BatchNorm1d(num_person * in_channels * num_point)
        c = base_channels
        widths = [(in_channels, c, 1), (c, c, 1), (c, c, 1), (c, c, 1), (c, 2 * c, 2),
                  (2 * c, 2 * c, 1), (2 * c, 2 * c, 1), (2 * c, 4 * c, 2), (4 * c, 4 * c, 1), (4 * c, 4 * c, 1)]
        for i, (cin, cout, stride) in enumerate(widths, start=1):
            self.add_module(f"l{i}", Block(cin, cout, adjacency, stride=stride, residual=i > 1))
        self.drop_out = nn.Dropout(drop_out) if drop_out > 0 else nn.Identity()
        self.fc = nn.Linear(4 * c, num_class)
        # The official init draws only the fc weight; its bias keeps PyTorch's default.
        nn.init.normal_(self.fc.weight, 0.0, math.sqrt(2.0 / num_class))
        _bn_init(self.data_bn, 1.0)

    def blocks(self) -> list[Block]:
        return [getattr(self, f"l{i}") for i in range(1, 11)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, t, v, m = x.shape
        # Normalise each (person, joint, channel) series, as the official (N, M*V*C, T) BatchNorm1d.
        x = self.data_bn(x.permute(0, 4, 3, 1, 2).reshape(n, m * v * c, t))
        x = x.view(n, m, v, c, t).permute(0, 1, 3, 4, 2).contiguous().view(n * m, c, t, v)
        for block in self.blocks():
            x = block(x)
        x = x.view(n, m, x.shape[1], -1).mean(3).mean(1)
        return self.fc(self.drop_out(x))


def load_pose_checkpoint(model: nn.Module, path: str | Path) -> None:
    """Load official CTR-GCN / EPP-Net weights or our engine's checkpoint into ``model``, strictly.

    The file is read with ``weights_only=True``; a ``module.`` prefix is stripped; any missing,
    unexpected or wrongly shaped key is reported by name.
    """
    load_model_weights(model, path)
