"""Luvizon, Picard and Tabia's multitask network (CVPR 2018): 3D pose from RGB clips and actions from
the poses and the appearance they pick out, in one file (timm style).

Facts from the official Keras code, ``dluvizon/deephar`` (cited per item below):

- stem (``deephar/models/reception.py``, ``_stem``): three stride-2 steps, the last two concatenating
  a conv and a max-pool branch, then a separable residual to 3 × 192 = 576 channels: 256 px -> 32 × 32 × 576;
- prediction block (``build_reception_block``, ``build_sconv_block``, ``build_regmap_block``,
  ``build_fremap_block``): a reception block at 32, 16 and 8 px made of separable residuals, a separable
  conv, a 1 × 1 conv to the heatmaps (ReLU first, no BN), and a 1 × 1 remap back to 576 channels added to
  the block's input and output; the last block has no remap;
- 3D regression (``pose_regression_3d``): ``Nd × J`` channels read as ``(Nd, J)`` (depth major), x, y by a
  2D soft-argmax of the mean over depth, z by a 1D soft-argmax of the mean over space; visibility
  ``sigmoid(max(h_xy) + max(h_z))``; no temperature (``build_softargmax_2d(rho=0)``); the action model
  (``deephar/models/action.py``, ``_get_3d_pose_estimation_from_model``) masks its pose input with the
  sharper ``sigmoid(2 (max(h_xy) + max(h_z)))`` (:func:`action_visibility`);
- soft-argmax grids (``deephar/layers.py``, ``lin_interpolation_2d`` / ``_1d``): x, y use
  ``linspace(0, 1, W)`` (first and last cells at 0 and 1), z uses the depth-bin centres
  ``linspace(1 / 2Nd, 1 - 1 / 2Nd, Nd)``;
- action branches (``deephar/models/action.py``): the pose model ``v1`` (convs 8 (3 × 1), 16 (3 × 3),
  24 (3 × 5), then 56 + 56 channels, max+min pooling) on the ``T × J × 3`` pose image times visibility;
  the appearance model on ``Σ_hw softmax(h_j) · F`` with F the first reception block's output
  (``kronecker_prod(hs, xb1)``), 1 × 1 conv + BN to 256, max-pool; both followed by four action
  prediction blocks (``build_act_pred_block``), whose action maps are scored by global max+min pooling;
- aggregation (``build_merge_model``, ``weighted_merge``): a separable 1 × 1 conv per branch on the last
  action maps (depthwise scale initialised to 1, pointwise identity), the two summed, max+min pooled.

Tensors are NCHW; a clip batch is ``(N, T, 3, S, S)`` in [-1, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

# NTU joints of the 20-joint layout `pa20j` (deephar/utils/pose.py, map_from_ntu), 0-based NTU indices.
PA20J_FROM_NTU = (0, 20, 2, 3, 4, 8, 5, 9, 6, 10, 7, 11, 12, 16, 13, 17, 14, 18, 15, 19)
# Left/right swap of pa20j under a horizontal flip (pairs 4/5, 6/7, ... 18/19).
PA20J_FLIP = (0, 1, 2, 3, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14, 17, 16, 19, 18)


@dataclass(frozen=True)
class MultitaskSizes:
    """The network's sizes. ``full()`` is the NTU model of the paper; ``tiny()`` is for tests and demos."""

    image_size: int = 256
    width: float = 1.0  # channel multiplier of the stem (576 features at 1.0)
    num_blocks: int = 4  # K pose prediction blocks (4 in the NTU model, 8 for MPII / Human3.6M)
    num_joints: int = 20
    depth_bins: int = 8  # Nd, 8 for NTU (build_merge_model(depth_maps=8))
    num_frames: int = 20
    num_classes: int = 60
    appearance_features: int = 256
    pose_action_width: float = 1.0  # multiplier of the pose action stem (8/16/24, 56+56)

    @staticmethod
    def full(num_classes: int = 60) -> MultitaskSizes:
        return MultitaskSizes(num_classes=num_classes)

    @staticmethod
    def tiny(num_classes: int = 60) -> MultitaskSizes:
        return MultitaskSizes(image_size=64, width=0.125, num_blocks=2, depth_bins=4, num_frames=8,
                              num_classes=num_classes, appearance_features=32, pose_action_width=0.5)


# ---------------------------------------------------------------- building blocks (deephar/layers.py names)
def conv_bn_act(cin: int, cout: int, kernel: int | tuple[int, int], stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, _same(kernel), bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


def conv_bn(cin: int, cout: int, kernel: int | tuple[int, int], stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, _same(kernel), bias=False), nn.BatchNorm2d(cout))


def act_conv_bn(cin: int, cout: int, kernel: int | tuple[int, int], stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.ReLU(), nn.Conv2d(cin, cout, kernel, stride, _same(kernel), bias=False),
                         nn.BatchNorm2d(cout))


def act_conv(cin: int, cout: int, kernel: int | tuple[int, int]) -> nn.Sequential:
    return nn.Sequential(nn.ReLU(), nn.Conv2d(cin, cout, kernel, 1, _same(kernel)))


def separable_act_conv_bn(cin: int, cout: int, kernel: int = 3) -> nn.Sequential:
    return nn.Sequential(nn.ReLU(), nn.Conv2d(cin, cin, kernel, 1, kernel // 2, groups=cin, bias=False),
                         nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))


def _same(kernel: int | tuple[int, int]) -> int | tuple[int, int]:
    return kernel // 2 if isinstance(kernel, int) else (kernel[0] // 2, kernel[1] // 2)


def max_min_pool(x: torch.Tensor, kernel: int = 2) -> torch.Tensor:
    """``MaxPool(x) - MaxPool(-x)``: the max plus the min of each window; odd sizes round up ('same')."""
    return F.max_pool2d(x, kernel, ceil_mode=True) - F.max_pool2d(-x, kernel, ceil_mode=True)


def global_max_min_pool(x: torch.Tensor) -> torch.Tensor:
    """``(N, C, H, W) -> (N, C)``: max + min over space (``action_top`` before its softmax)."""
    flat = x.flatten(2)
    return flat.amax(2) + flat.amin(2)


class SepResidual(nn.Module):
    """``_sepconv_residual``: identity (or a 1 × 1 projection) + a separable conv, with a 1 × 1 reduce first
    when the block narrows."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.shortcut = nn.Identity() if cin == cout else act_conv_bn(cin, cout, 1)
        self.reduce = act_conv_bn(cin, cout, 1) if cout < cin else nn.Identity()
        self.conv = separable_act_conv_bn(cout if cout < cin else cin, cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.conv(self.reduce(x))


class Stem(nn.Module):
    """``(N, 3, S, S) -> (N, 576·width, S/8, S/8)``."""

    def __init__(self, width: float = 1.0) -> None:
        super().__init__()

        def w(n: int) -> int:
            return max(4, int(round(n * width)))

        self.conv1 = nn.Sequential(conv_bn_act(3, w(32), 3, 2), conv_bn_act(w(32), w(32), 3),
                                   conv_bn_act(w(32), w(64), 3))
        self.down1 = conv_bn_act(w(64), w(96), 3, 2)
        c1 = w(96) + w(64)
        self.branch_a = nn.Sequential(conv_bn_act(c1, w(64), 1), conv_bn(w(64), w(96), 3))
        self.branch_b = nn.Sequential(conv_bn_act(c1, w(64), 1), conv_bn_act(w(64), w(64), (5, 1)),
                                      conv_bn_act(w(64), w(64), (1, 5)), conv_bn(w(64), w(96), 3))
        c2 = 2 * w(96)
        self.down2 = act_conv_bn(c2, w(192), 3, 2)
        self.out_channels = 3 * w(192)
        self.residual = SepResidual(w(192) + c2, self.out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        x = torch.cat([self.down1(x), F.max_pool2d(x, 3, 2, 1)], 1)
        x = torch.cat([self.branch_a(x), self.branch_b(x)], 1)
        x = torch.cat([self.down2(x), F.max_pool2d(x, 2, 2)], 1)
        return self.residual(x)


class ReceptionBlock(nn.Module):
    """Three scales (full, 1/2, 1/4) of separable residuals, summed back up; ``(N, C, H, W)`` kept."""

    def __init__(self, size: int) -> None:
        super().__init__()
        half = size // 2
        self.top = SepResidual(size, size)
        self.enter = act_conv_bn(size, half, 1)
        self.mid1, self.mid2 = SepResidual(half, half), SepResidual(half, half)
        self.low = nn.Sequential(SepResidual(half, half), SepResidual(half, half), SepResidual(half, half))
        self.leave = SepResidual(half, size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low1 = self.mid1(self.enter(F.max_pool2d(x, 2)))
        c = F.interpolate(self.low(F.max_pool2d(low1, 2)), size=low1.shape[-2:], mode="nearest")
        b = self.leave(self.mid2(low1) + c)
        return self.top(x) + F.interpolate(b, size=x.shape[-2:], mode="nearest")


# ---------------------------------------------------------------- soft-argmax and 3D decoding
def soft_argmax_2d(heatmaps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(N, J, H, W)`` scores -> positions ``(N, J, 2)`` (x, y in [0, 1], grid ``linspace(0, 1, W|H)``)
    and the spatial softmax ``(N, J, H, W)``."""
    n, j, h, w = heatmaps.shape
    prob = heatmaps.float().flatten(2).softmax(-1).view(n, j, h, w)
    xs = torch.linspace(0, 1, w, device=heatmaps.device)
    ys = torch.linspace(0, 1, h, device=heatmaps.device)
    x = (prob.sum(2) * xs).sum(-1)
    y = (prob.sum(3) * ys).sum(-1)
    return torch.stack([x, y], -1), prob


def soft_argmax_1d(scores: torch.Tensor) -> torch.Tensor:
    """``(N, J, D)`` scores -> ``(N, J)`` expectation over the bin centres ``(d + 0.5) / D``."""
    d = scores.shape[-1]
    centres = (torch.arange(d, device=scores.device, dtype=torch.float32) + 0.5) / d
    return (scores.float().softmax(-1) * centres).sum(-1)


def decode_pose_3d(heatmaps: torch.Tensor, num_joints: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(N, Nd·J, H, W)`` (channel ``d·J + j``) -> pose ``(N, J, 3)`` in [0, 1], visibility ``(N, J)``,
    and the spatial softmax of the depth-averaged maps ``(N, J, H, W)``."""
    n, c, h, w = heatmaps.shape
    volume = heatmaps.float().view(n, c // num_joints, num_joints, h, w)
    hxy = volume.mean(1)  # (N, J, H, W)
    hz = volume.mean((3, 4)).transpose(1, 2)  # (N, J, Nd)
    xy, prob = soft_argmax_2d(hxy)
    z = soft_argmax_1d(hz)
    visible = torch.sigmoid(hxy.flatten(2).amax(-1) + hz.amax(-1))
    return torch.cat([xy, z.unsqueeze(-1)], -1), visible, prob


def action_visibility(visible: torch.Tensor) -> torch.Tensor:
    """The action model's visibility ``sigmoid(2 s)`` from the pose model's ``v = sigmoid(s)``:
    ``v² / (v² + (1 - v)²)``, the same number without the score ``s`` (exact, and finite at 0 and 1)."""
    v = visible.float()
    return v.square() / (v.square() + (1 - v).square())


class PredictionBlock(nn.Module):
    """A reception block, a separable conv and the heatmaps; with ``remap``, the heatmaps remapped to the
    features and added (``x = r + s + remap(h)``). Returns ``(features or None, heatmaps, r)``."""

    def __init__(self, channels: int, num_maps: int, remap: bool) -> None:
        super().__init__()
        self.reception = ReceptionBlock(channels)
        self.sconv = separable_act_conv_bn(channels, channels)
        self.regmap = act_conv(channels, num_maps, 1)
        self.remap = act_conv_bn(num_maps, channels, 1) if remap else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor]:
        r = self.reception(x)
        s = self.sconv(r)
        h = self.regmap(s)
        return (r + s + self.remap(h) if self.remap is not None else None), h, r


# ---------------------------------------------------------------- action recognition
class ActionBlock(nn.Module):
    """``build_act_pred_block``: a residual, a conv, max+min pooling to the action maps ``(N, C, h/2, w/2)``;
    unless last, the maps are upsampled, remapped and added to the features (same size as the input)."""

    def __init__(self, features: int, num_classes: int, last: bool) -> None:
        super().__init__()
        self.res = nn.Sequential(act_conv_bn(features, features // 2, 1), act_conv_bn(features // 2, features, 3))
        self.conv = act_conv_bn(features, features, 3)
        self.action = act_conv(features, num_classes, 3)
        self.remap = None if last else act_conv_bn(num_classes, features, 3)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor]:
        x = x + self.res(x)
        x1 = self.conv(x)
        maps = self.action(max_min_pool(x1))
        if self.remap is None:
            return None, maps
        up = F.interpolate(maps, size=x1.shape[-2:], mode="nearest")
        return x + x1 + self.remap(up), maps


class ActionBlocks(nn.Module):
    """Four action blocks; ``(N, F, h, w) ->`` the action maps of each ``[(N, C, h', w')] × 4``."""

    def __init__(self, features: int, num_classes: int, count: int = 4) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(ActionBlock(features, num_classes, i == count - 1) for i in range(count))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        maps = []
        for block in self.blocks:
            x, m = block(x)
            maps.append(m)
        return maps


class PoseActionStem(nn.Module):
    """``build_pose_model`` v1 entry: ``(N, 3, T, J) -> (N, 112·width, T/2, J/2)``."""

    def __init__(self, width: float = 1.0, dim: int = 3) -> None:
        super().__init__()

        def w(n: int) -> int:
            return max(4, int(round(n * width)))

        self.a, self.b = conv_bn_act(dim, w(8), (3, 1)), conv_bn_act(dim, w(16), 3)
        self.c = conv_bn_act(dim, w(24), (3, 5))
        cat = w(8) + w(16) + w(24)
        self.d = conv_bn(cat, w(56), 3)
        self.e = nn.Sequential(conv_bn(cat, w(32), 1), conv_bn(w(32), w(56), 3))
        self.out_channels = 2 * w(56)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.cat([self.a(x), self.b(x), self.c(x)], 1)
        return max_min_pool(torch.cat([self.d(x), self.e(x)], 1))


class WeightedMerge(nn.Module):
    """A separable 1 × 1 conv without bias: a learnt weight per class (init 1), then a class-mixing 1 × 1
    conv initialised to the identity (``_heatmap_weighting``)."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(num_classes))
        self.mix = nn.Parameter(torch.eye(num_classes))

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        return torch.einsum("dc,nchw->ndhw", self.mix, maps * self.scale.view(1, -1, 1, 1))


# ---------------------------------------------------------------- the model
class MultitaskNet(nn.Module):
    """Clips ``{"frames": (N, T, 3, S, S)}`` -> a dict of

    - ``pose`` ``(N, T, J, 3)`` (x, y in crop units [0, 1], z normalised), ``visible`` ``(N, T, J)``: last block;
    - ``pose_blocks`` ``(K, N, T, J, 3)``, ``visible_blocks`` ``(K, N, T, J)``: every pose block;
    - ``action_blocks`` ``(8, N, C)``: pose-branch then appearance-branch block logits;
    - ``action`` ``(N, C)``: the aggregated logits.

    ``pose_part()`` lists the modules of pose estimation (frozen in the ``action`` stage), ``action_part()``
    those of action recognition (run without gradients in the ``pose`` stage).
    """

    def __init__(self, sizes: MultitaskSizes) -> None:
        super().__init__()
        self.sizes = sizes
        self.stem = Stem(sizes.width)
        channels = self.stem.out_channels
        maps = sizes.depth_bins * sizes.num_joints
        self.blocks = nn.ModuleList(PredictionBlock(channels, maps, i < sizes.num_blocks - 1)
                                    for i in range(sizes.num_blocks))
        self.pose_stem = PoseActionStem(sizes.pose_action_width)
        self.pose_actions = ActionBlocks(self.pose_stem.out_channels, sizes.num_classes)
        self.appearance_in = conv_bn(channels, sizes.appearance_features, 1)
        self.appearance_actions = ActionBlocks(sizes.appearance_features, sizes.num_classes)
        self.merge_pose, self.merge_appearance = WeightedMerge(sizes.num_classes), WeightedMerge(sizes.num_classes)
        self.frozen_pose = self.frozen_action = False

    def pose_part(self) -> list[nn.Module]:
        return [self.stem, self.blocks]

    def action_part(self) -> list[nn.Module]:
        return [self.pose_stem, self.pose_actions, self.appearance_in, self.appearance_actions, self.merge_pose,
                self.merge_appearance]

    def freeze_action(self) -> None:
        """The ``pose`` stage: the action branches run without gradients (DDP then sees no unused parameter)."""
        self.frozen_action = True
        for module in self.action_part():
            module.requires_grad_(False)

    def freeze_pose(self) -> None:
        """The ``action`` stage: no gradients and BN statistics kept (eval mode) in the pose part."""
        self.frozen_pose = True
        for module in self.pose_part():
            module.requires_grad_(False)
        self.train(self.training)

    def train(self, mode: bool = True) -> MultitaskNet:
        super().train(mode)
        if self.frozen_pose:
            for module in self.pose_part():
                module.eval()
        return self

    def estimate_poses(self, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        """``(N·T, 3, S, S)`` -> ``pose_blocks (K, N·T, J, 3)``, ``visible_blocks (K, N·T, J)``,
        ``attention (N·T, J, h, w)`` (last block) and ``features (N·T, F, h, w)`` (first reception block)."""
        x = self.stem(frames)
        poses, visibles, attention, features = [], [], None, None
        for block in self.blocks:
            nxt, h, r = block(x)
            if features is None:
                features = r
            pose, visible, attention = decode_pose_3d(h, self.sizes.num_joints)
            poses.append(pose)
            visibles.append(visible)
            if nxt is not None:
                x = nxt
        return {"pose_blocks": torch.stack(poses), "visible_blocks": torch.stack(visibles),
                "attention": attention, "features": features}

    def forward(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        frames = inputs["frames"]
        n, t = frames.shape[:2]
        est = self.estimate_poses(frames.flatten(0, 1))
        k, j = est["pose_blocks"].shape[0], self.sizes.num_joints
        pose_blocks = est["pose_blocks"].view(k, n, t, j, 3)
        visible_blocks = est["visible_blocks"].view(k, n, t, j)
        pose, visible = pose_blocks[-1], visible_blocks[-1]
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen_action):
            actions = self._actions(pose, visible, est["attention"], est["features"], frames.dtype)
        return {"pose": pose, "visible": visible, "pose_blocks": pose_blocks, "visible_blocks": visible_blocks,
                **actions}

    def _actions(self, pose: torch.Tensor, visible: torch.Tensor, attention: torch.Tensor, features: torch.Tensor,
                 dtype: torch.dtype) -> dict[str, torch.Tensor]:
        """Both action branches and their aggregate: ``action_blocks (8, N, C)``, ``action (N, C)``."""
        n, t, j = visible.shape
        pose_image = (pose * action_visibility(visible).unsqueeze(-1)).permute(0, 3, 1, 2).to(dtype)  # (N, 3, T, J)
        pose_maps = self.pose_actions(self.pose_stem(pose_image))

        feats = torch.einsum("bjhw,bchw->bjc", attention.to(features.dtype), features)
        feats = feats.view(n, t, j, -1).permute(0, 3, 1, 2)  # (N, F, T, J)
        appearance = F.max_pool2d(self.appearance_in(feats), 2, ceil_mode=True)
        appearance_maps = self.appearance_actions(appearance)

        merged = self.merge_pose(pose_maps[-1]) + self.merge_appearance(appearance_maps[-1])
        block_logits = torch.stack([global_max_min_pool(m) for m in pose_maps + appearance_maps])
        return {"action_blocks": block_logits, "action": global_max_min_pool(merged)}
