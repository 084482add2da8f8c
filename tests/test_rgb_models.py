"""The RGB branch's models: the inflated first layer, attentional pooling against its formula, C3D's
published shape and its initialisation at any width, the grid of the parsing feature map, and weights
from local files."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from engine.checkpoint import CheckpointError
from parsing.feature_map import tile_layout
from rgb_branch.models import (
    C3D,
    AttentionPool,
    build_rgb_model,
    image_backbone,
    inflate_first_conv,
    load_weights,
    tile_grid,
)

FRAMES = 5


@pytest.mark.parametrize(("mode", "factor"), [("replicate", FRAMES), ("divide", 1)])
def test_inflated_first_layer_on_identical_frames(mode, factor):
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 8, 3, padding=1)
    stacked = nn.Conv2d(3 * FRAMES, 8, 3, padding=1)
    with torch.no_grad():
        stacked.weight.copy_(inflate_first_conv(conv.weight, FRAMES, mode))
        stacked.bias.copy_(conv.bias)
    frame = torch.randn(1, 3, 12, 12)
    one = conv(frame) - conv.bias[:, None, None]
    many = stacked(torch.cat([frame] * FRAMES, dim=1)) - conv.bias[:, None, None]
    assert torch.allclose(many, factor * one, atol=1e-5)


@pytest.mark.parametrize("stack", ["alexnet", "resnet18"])
def test_stacked_stream_loads_a_three_channel_state_dict(tmp_path, stack):
    source = image_backbone(stack, 1000)
    path = tmp_path / "imagenet.pt"
    torch.save(source.state_dict(), path)
    model = build_rgb_model("two_stream", 4, frames=3, image_size=64, spatial="resnet18", stack=stack,
                            stack_pretrained=str(path))
    key = "features.0.weight" if stack == "alexnet" else "conv1.weight"
    assert torch.equal(model.stack.state_dict()[key], torch.cat([source.state_dict()[key]] * 3, dim=1))
    with torch.no_grad():
        out = model.eval()({"frames": torch.randn(1, 3, 3, 64, 64)})
    assert torch.allclose(out["logits"], (out["spatial_logits"] + out["stack_logits"]) / 2)


def test_weights_that_do_not_fit_name_the_file(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"conv1.weight": torch.zeros(3, 3)}, path)
    with pytest.raises(CheckpointError, match="other.pt"):
        load_weights(image_backbone("resnet18", 4), path)


def test_vgg16_stacked_stream_shape():
    model = build_rgb_model("two_stream", 21, frames=15, image_size=32, spatial="resnet18", stack="vgg16")
    assert model.stack.features[0].in_channels == 45
    with torch.no_grad():
        assert model.eval()({"frames": torch.randn(1, 15, 3, 32, 32)})["logits"].shape == (1, 21)


def test_attention_pooling_is_the_formula():
    torch.manual_seed(0)
    model = AttentionPool(6, "resnet18", pose="input", num_joints=4).eval()
    frames, heatmaps = torch.randn(2, 3, 3, 64, 64), torch.rand(2, 3, 4, 2, 2)
    with torch.no_grad():
        logits = model({"frames": frames, "heatmaps": heatmaps})["logits"]
        trunk = model.trunk
        x = frames.flatten(0, 1)
        x = trunk.layer4(trunk.layer3(trunk.layer2(trunk.layer1(trunk.maxpool(trunk.relu(trunk.bn1(trunk.conv1(x))))))))
        joined = torch.cat([x, heatmaps.flatten(0, 1)], dim=1)
        # logit_k = mean_ij (X a_k)_ij (X b)_ij, then the mean over the clip's frames
        a_k, b = model.top_down.weight[:, :, 0, 0], model.bottom_up.weight[0, :, 0, 0]
        a = torch.einsum("nchw,kc->nkhw", joined, a_k) + model.top_down.bias[:, None, None]
        b = torch.einsum("nchw,c->nhw", x, b) + model.bottom_up.bias
        expected = (a * b[:, None]).mean(dim=(2, 3)).view(2, 3, 6).mean(dim=1)
    assert torch.allclose(logits, expected, atol=1e-4)


def test_attention_pooling_auxiliary_head_predicts_heatmaps():
    model = AttentionPool(6, "resnet18", pose="aux", num_joints=15).eval()
    with torch.no_grad():
        out = model({"frames": torch.randn(1, 2, 3, 64, 64)})
    assert out["heatmaps"].shape == (1, 2, 15, 2, 2) and out["logits"].shape == (1, 6)


def test_c3d_has_the_published_layers():
    model = C3D(101)
    convs = [m.out_channels for m in model.features if isinstance(m, nn.Conv3d)]
    assert convs == [64, 128, 256, 256, 512, 512, 512, 512]
    assert model.fc6.in_features == 8192 and model.fc7.out_features == 4096 and model.dropout.p == 0.5
    pools = [m.kernel_size for m in model.features if isinstance(m, nn.MaxPool3d)]
    assert pools[0] == (1, 2, 2) and all(p == (2, 2, 2) for p in pools[1:])
    tiny = C3D(3, (4, 32, 32), width=4, fc_dim=8)
    assert tiny({"frames": torch.randn(2, 4, 3, 32, 32)})["logits"].shape == (2, 3)


@pytest.mark.parametrize(("clip", "width", "fc"),
                         [((16, 112, 112), 64, 4096), ((8, 32, 32), 8, 64), ((4, 32, 32), 4, 16)])
def test_c3d_head_keeps_the_signal_at_any_width(clip, width, fc):
    """fc6 / fc7 start by their fan-in: a fixed N(0, 0.01) shrank a narrow C3D's signal (and gradients) ~150-fold."""
    torch.manual_seed(0)
    model = C3D(2, clip, width, fc, dropout=0.0)
    features = torch.randn(64, model.fc6.in_features).relu()
    hidden = F.relu(model.fc7(F.relu(model.fc6(features))))
    ratio = hidden.pow(2).mean().sqrt() / features.pow(2).mean().sqrt()
    assert 0.5 < ratio < 2  # the old N(0, 0.01): 0.28 at the paper's size, 0.005 at width 8 / fc 64


def test_rgb_grid_tiles_as_the_parsing_feature_map():
    side = 4
    frames = torch.arange(9.0).view(1, 9, 1, 1, 1).expand(1, 9, 3, side, side)
    grid = tile_grid(frames)
    _, corners = tile_layout(9)
    tile = 480 // 3
    for k, (x, y) in enumerate(corners):
        assert grid[0, 0, (y // tile) * side, (x // tile) * side] == k


@pytest.mark.parametrize("name", ["r3d_18", "r2plus1d_18"])
def test_torchvision_video_models(name):
    model = build_rgb_model(name, 7, frames=4, image_size=32)
    with torch.no_grad():
        assert model.eval()({"frames": torch.randn(1, 4, 3, 32, 32)})["logits"].shape == (1, 7)
