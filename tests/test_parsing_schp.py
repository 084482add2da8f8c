"""The SCHP parser: exact checkpoint layout, In-Place ABN arithmetic, the input transform, end to end."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from parsing.parse import parse_inputs, parse_sample
from parsing.schp import (
    SCHP,
    CheckpointMismatchError,
    InPlaceABN,
    build_schp,
    load_schp_checkpoint,
    load_schp_state_dict,
    schp_input,
)

SAMPLE = "S001C001P001R001A001"


@pytest.fixture(scope="module")
def model() -> SCHP:
    return build_schp("lip", seed=0)


def read_reference(shared_dir: Path, name: str) -> list[list[str]]:
    lines = (shared_dir / "reference" / name).read_text().splitlines()
    return [line.split("\t") for line in lines if not line.startswith("#")]


def test_state_dict_keys_and_shapes_equal_the_reference(model: SCHP, shared_dir: Path) -> None:
    reference = [(key, shape) for key, shape in read_reference(shared_dir, "schp_lip_state_dict.txt")]
    ours = [(key, str(list(t.shape))) for key, t in model.state_dict().items()]
    assert len(reference) == 603
    assert ours == reference


def test_norm_layers_are_in_place_abn_with_the_reference_activations(model: SCHP, shared_dir: Path) -> None:
    reference = {
        name: (int(channels), act)
        for name, channels, act in read_reference(shared_dir, "schp_lip_norm_layers.txt")
    }
    ours = {
        name: (m.weight.numel(), m.activation)
        for name, m in model.named_modules()
        if isinstance(m, InPlaceABN)
    }
    assert ours == reference
    assert sum(act == "none" for _, act in ours.values()) == 106


@pytest.mark.parametrize(("label_set", "classes"), [("lip", 20), ("atr", 18), ("pascal", 7)])
def test_label_set_sets_the_class_convolutions(label_set: str, classes: int) -> None:
    with torch.device("meta"):  # shapes only: no memory, no initialisation time
        shapes = {k: v.shape for k, v in build_schp(label_set).state_dict().items()}
    assert shapes["decoder.conv4.weight"] == (classes, 256, 1, 1)
    assert shapes["fushion.3.weight"] == (classes, 256, 1, 1)
    assert shapes["fushion.3.bias"] == (classes,)


def test_in_place_abn_arithmetic_uses_the_absolute_weight() -> None:
    torch.manual_seed(0)
    channels = 6
    weight = torch.tensor([1.5, -2.0, 0.0, -0.3, 0.7, -1e-6])
    bias, mean = torch.randn(channels), torch.randn(channels)
    var = torch.rand(channels) + 0.1
    x = torch.randn(2, channels, 5, 4) * 3
    expected = torch.empty_like(x)
    for c in range(channels):
        normalised = (x[:, c] - mean[c]) / torch.sqrt(var[c] + 1e-5)
        expected[:, c] = normalised * (abs(weight[c]) + 1e-5) + bias[c]
    expected_leaky = torch.where(expected >= 0, expected, 0.01 * expected)

    for activation, target in (("none", expected), ("leaky_relu", expected_leaky)):
        abn = InPlaceABN(channels, activation)
        abn.load_state_dict({"weight": weight, "bias": bias, "running_mean": mean, "running_var": var})
        assert "num_batches_tracked" not in "".join(abn.state_dict())
        for mode in (abn.eval(), abn.train()):  # always the running statistics: inference only
            torch.testing.assert_close(mode(x.clone()), target, rtol=1e-5, atol=1e-5)


def test_random_checkpoint_round_trips_through_the_loader(tmp_path: Path) -> None:
    generator = torch.Generator().manual_seed(1)
    state = {k: torch.randn(v.shape, generator=generator) for k, v in SCHP().state_dict().items()}
    path = tmp_path / "final.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 150}, path)
    loaded = load_schp_checkpoint(path).state_dict()
    assert loaded.keys() == state.keys()
    for key, tensor in state.items():
        assert torch.equal(loaded[key], tensor), key


def test_loader_names_missing_unexpected_and_wrong_shape_keys(model: SCHP) -> None:
    state = dict(model.state_dict())
    del state["layer3.7.bn2.running_var"]
    state["layer5.0.conv1.weight"] = torch.zeros(1)
    state["fushion.3.weight"] = torch.zeros(18, 256, 1, 1)
    with pytest.raises(CheckpointMismatchError) as info:
        load_schp_state_dict(SCHP(), state, "final.pth")
    message = str(info.value)
    assert "final.pth" in message
    assert "1 missing keys: layer3.7.bn2.running_var" in message
    assert "1 unexpected keys: layer5.0.conv1.weight" in message
    assert "fushion.3.weight (expected [20, 256, 1, 1], found [18, 256, 1, 1])" in message


def test_loader_rejects_corrupt_and_non_state_dict_files(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="corrupt.pth"):
        load_schp_checkpoint(corrupt)
    listing = tmp_path / "list.pth"
    torch.save([torch.zeros(1)], listing)
    with pytest.raises(ValueError, match="list.pth: expected a state dict"):
        load_schp_checkpoint(listing)
    with pytest.raises(FileNotFoundError, match="absent.pth"):
        load_schp_checkpoint(tmp_path / "absent.pth")


def transcribed_input(image: np.ndarray) -> np.ndarray:
    """REFERENCE.md §8 written out step by step."""
    h, w = image.shape[:2]
    cx, cy = (w - 1) / 2, (h - 1) / 2
    k = 472 / max(w - 1, h - 1)
    matrix = np.array([[k, 0, 236 - k * cx], [0, k, 236 - k * cy]])
    warped = cv2.warpAffine(image, matrix, (473, 473), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    mean_bgr, std_bgr = (0.406, 0.456, 0.485), (0.225, 0.224, 0.229)
    out = np.zeros((3, 473, 473), dtype=np.float32)
    for c in range(3):
        out[c] = (warped[:, :, c] / 255.0 - mean_bgr[c]) / std_bgr[c]
    return out


@pytest.mark.parametrize("frame", [0, 50, 102])
def test_input_transform_matches_the_reference_transcription(ntu_fixtures: Path, frame: int) -> None:
    image = cv2.imread(str(ntu_fixtures / "person_frames" / SAMPLE / f"{frame}.jpg"))
    ours = schp_input(image)
    assert ours.shape == (3, 473, 473) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, transcribed_input(image), atol=1e-5)
    # Tall person frame: the sides are black padding, i.e. (0 - mean) / std in B, G, R.
    np.testing.assert_allclose(ours[:, 236, 0], [-0.406 / 0.225, -0.456 / 0.224, -0.485 / 0.229], atol=1e-5)


def test_parser_runs_at_a_small_input_size(model: SCHP) -> None:
    with torch.inference_mode():
        out = model(torch.randn(2, 3, 65, 65))
    assert out.fusion.shape == out.parsing.shape == (2, 20, 17, 17)
    assert out.edge.shape == (2, 2, 17, 17)


def test_random_weights_are_deterministic_and_batch_independent(model: SCHP) -> None:
    inputs = np.random.default_rng(0).standard_normal((2, 3, 49, 49)).astype(np.float32)
    again = build_schp("lip", seed=0)
    first, second = parse_inputs(model, inputs, batch_size=1), parse_inputs(again, inputs, batch_size=2)
    assert first.shape == (2, 13, 13, 1) and first.dtype == np.uint8
    np.testing.assert_array_equal(first, second)


def test_end_to_end_on_fixture_frames(model: SCHP, ntu_fixtures: Path, tmp_path: Path) -> None:
    # Two frames at the full 473 input (about 2-5 s each on a busy CPU); determinism is checked above.
    sample = tmp_path / SAMPLE
    sample.mkdir()
    for index, source in enumerate([0, 60]):
        frame = ntu_fixtures / "person_frames" / SAMPLE / f"{source}.jpg"
        (sample / f"{index}.jpg").write_bytes(frame.read_bytes())
    labels = parse_sample(model, sample, batch_size=2)
    assert labels.shape == (2, 119, 119, 1) and labels.dtype == np.uint8
    assert labels.max() < 20
