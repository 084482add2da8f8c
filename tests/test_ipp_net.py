"""IPP-Net: its feature map against a plain transcription of the official feeder, its PSPNet parser
(checkpoint layout, loader, input transform, the parse command) and its training configs.

The transcriptions follow liujf69/IPP-Net-Parsing: ``feeders/gen_parsing.py`` (the canvas),
``feeders/feeder_parsing.py`` (the tensor) and ``Human_Parsing/gen_parsing.py`` (the parser input).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms

from engine import load_config
from engine.checkpoint import CheckpointError
from parsing.__main__ import PARSER_MODEL_NAMES, main
from parsing.feature_map import byte_wrap_like_to_pil_image, ipp_net_frames, render_feature_map
from parsing.parse import PARSER_MODELS, get_parser_model
from parsing.pspnet import PSPNet, build_pspnet, load_pspnet_checkpoint, pspnet_input
from parsing_branch.dataset import ParsingFeatureMapDataset, normalise_images
from parsing_branch.task import ParsingExperiment, num_classes

PROJECT = Path(__file__).resolve().parents[1]
SAMPLE = "S001C001P001R001A001"
BENCHMARKS = ("ntu60-xsub", "ntu60-xview", "ntu120-xsub", "ntu120-xset")
FEEDER_TRANSFORM = transforms.Compose([
    transforms.ToPILImage(), transforms.Resize(299), transforms.ToTensor(),
    transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
])

# -- the feature map --------------------------------------------------------------------------------


def official_canvas(labels: np.ndarray, n: int = 5, draw: Callable[[int, int], int] | None = None) -> Image.Image:
    """gen_featuremap written out: ``draw(low, high)`` stands for its ``np.random.randint`` in training."""
    canvas = Image.new("RGB", size=(480, 480))
    total = labels.shape[0]
    interval = total // n if draw is None else draw(1, total // n + 1)
    if interval == 0:
        frames = [i * total // n + total // (2 * n) for i in range(n)]
    else:
        frames = range(0, total, interval)
    for k, frame in enumerate(frames[0:n]):
        height, width, _ = labels[frame].shape
        strip = Image.fromarray(labels[frame].reshape((height, width))).resize((int(480 / n), 480))  # default filter
        canvas.paste(strip, (int(480 / n) * k, 0))
    return canvas


def feeder_float_tensor(canvas: Image.Image) -> torch.Tensor:
    """Feeder.__getitem__ before its transform: the canvas as a float (3, 480, 480) tensor of raw values."""
    width, height = canvas.size
    pixels = torch.from_numpy(np.asarray(canvas, dtype=np.int64).reshape(-1, 3)).float()  # np.array(img.getdata())
    return pixels.permute(1, 0).contiguous().view(3, height, width)


def official_image(canvas: Image.Image) -> np.ndarray:
    """What ToPILImage makes of that tensor: ``(480, 480, 3)`` uint8."""
    return np.asarray(transforms.ToPILImage()(feeder_float_tensor(canvas)))


def numpy_draws(seed: int) -> Callable[[int, int], int]:
    rng = np.random.default_rng(seed)
    return lambda low, high: int(rng.integers(low, high))


@pytest.fixture(scope="module")
def maps(ntu_fixtures: Path) -> dict[str, np.ndarray]:
    """SCHP's real 119 x 119 maps of the fixture and the same maps at PSPNet's 256 x 256 (nearest)."""
    small = np.load(ntu_fixtures / "parsing" / f"{SAMPLE}.npy")
    large = np.stack([np.asarray(Image.fromarray(m[..., 0]).resize((256, 256), Image.Resampling.NEAREST))
                      for m in small])[..., None]
    return {"119": small, "256": large}


@pytest.mark.parametrize("size", ["119", "256"])
def test_evaluation_map_is_the_official_feeders(maps, size):
    labels = maps[size]
    canvas = official_canvas(labels)
    ours = render_feature_map(labels, layout="ipp-net")
    assert ours.shape == (480, 480, 3) and ours.dtype == np.uint8
    np.testing.assert_array_equal(ours, official_image(canvas))
    np.testing.assert_array_equal(render_feature_map(labels, 5, layout="ipp-net", byte_wrap=False), np.asarray(canvas))
    assert ipp_net_frames(len(labels)) == [0, 20, 40, 60, 80]


@pytest.mark.parametrize("size", ["119", "256"])
def test_training_map_replays_the_same_draws(maps, size):
    labels = maps[size]
    steps = set()
    for seed in range(8):
        ours = render_feature_map(labels, 5, train=True, rng=np.random.default_rng(seed), layout="ipp-net")
        np.testing.assert_array_equal(ours, official_image(official_canvas(labels, draw=numpy_draws(seed))))
        steps.add(ipp_net_frames(len(labels), train=True, rng=np.random.default_rng(seed))[1])
    assert len(steps) > 3 and steps <= set(range(1, 103 // 5 + 1))


@pytest.mark.parametrize("total", [1, 2, 3, 4])
def test_short_samples_take_the_fixed_indices_in_both_modes(maps, total):
    short = maps["256"][40 : 40 + total]
    expected = official_image(official_canvas(short))
    np.testing.assert_array_equal(render_feature_map(short, layout="ipp-net"), expected)
    np.testing.assert_array_equal(render_feature_map(short, train=True, rng=np.random.default_rng(0),
                                                     layout="ipp-net"), expected)
    with pytest.raises(ValueError):  # the official training feeder draws randint(1, 1) here and fails
        official_canvas(short, draw=numpy_draws(0))
    assert ipp_net_frames(4) == [0, 0, 1, 2, 3] and ipp_net_frames(1) == [0] * 5


def test_byte_wrap_is_what_to_pil_image_does_to_float_labels():
    values = np.arange(256, dtype=np.uint8)
    wrapped = byte_wrap_like_to_pil_image(values)
    assert wrapped[:3].tolist() == [0, 255, 254] and wrapped[19] == 237 and wrapped[22] == 234
    as_tensor = torch.from_numpy(np.repeat(values[None, None], 3, axis=0)).float()
    np.testing.assert_array_equal(np.asarray(transforms.ToPILImage()(as_tensor))[0, :, 0], wrapped)


def test_eppnet_layout_is_unchanged_by_the_new_options(maps):
    labels = maps["119"]
    np.testing.assert_array_equal(render_feature_map(labels, layout="eppnet"), render_feature_map(labels, 9))
    with pytest.raises(ValueError, match="unknown feature-map layout 'ipp'"):
        render_feature_map(labels, layout="ipp")


@pytest.mark.parametrize("train", [False, True])
def test_dataset_tensor_is_the_official_feeders(maps, tmp_path, train):
    np.save(tmp_path / f"{SAMPLE}.npy", maps["256"])
    dataset = ParsingFeatureMapDataset([SAMPLE], [0], tmp_path, train=train, num_frames=5, color_jitter=0.0,
                                       layout="ipp-net")
    for seed in range(2 if train else 1):
        torch.manual_seed(seed)
        item, label = dataset[0]
        ours = normalise_images(item[None])[0]  # the parsing task's device_transform
        torch.manual_seed(seed)
        draw = numpy_draws(int(torch.randint(0, 2**62, ()))) if train else None
        expected = FEEDER_TRANSFORM(feeder_float_tensor(official_canvas(maps["256"], draw=draw)))
        assert label == 0 and ours.shape == (3, 299, 299) and torch.equal(ours, expected)


def test_show_command_writes_the_ipp_net_map(ntu_fixtures, tmp_path):
    out = tmp_path / "ipp_net.png"
    npy = ntu_fixtures / "parsing" / f"{SAMPLE}.npy"
    assert main(["show", "feature-map", "--layout", "ipp-net", "--parsing", str(npy), "--out", str(out)]) == 0
    labels = np.load(npy)
    np.testing.assert_array_equal(np.asarray(Image.open(out)), render_feature_map(labels, layout="ipp-net"))


# -- configs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("benchmark", BENCHMARKS)
def test_configs_hold_ipp_nets_recipe_with_the_right_class_count(benchmark):
    cfg = load_config(ParsingExperiment, PROJECT / "configs" / "ipp-net" / benchmark / "parsing.yaml")
    assert cfg.data.benchmark == benchmark and benchmark in cfg.work_dir
    assert num_classes(cfg) == (60 if benchmark.startswith("ntu60") else 120)
    assert (cfg.data.layout, cfg.data.byte_wrap, cfg.data.num_frames, cfg.data.image_size, cfg.data.color_jitter) == (
        "ipp-net", True, 5, 299, 0.0)
    assert (cfg.model.backbone, cfg.model.pretrained, cfg.model.aux_weight) == ("inception_v3", "imagenet", 0.0)
    assert (cfg.optim.lr, cfg.optim.momentum, cfg.optim.nesterov, cfg.optim.weight_decay) == (0.1, 0.9, True, 1e-4)
    assert (cfg.optim.warmup_epochs, cfg.optim.milestones, cfg.optim.gamma) == (0, [10, 25], 0.1)
    assert (cfg.train.epochs, cfg.train.batch_size) == (30, 64)


def test_demo_config_uses_the_ipp_net_layout():
    cfg = load_config(ParsingExperiment, PROJECT / "configs" / "demo" / "ipp_net_parsing.yaml")
    assert (cfg.data.layout, cfg.data.num_frames, cfg.model.pretrained) == ("ipp-net", 5, "")


# -- the PSPNet parser ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model() -> PSPNet:
    return build_pspnet(seed=0)


def test_state_dict_keys_and_shapes_equal_the_reference():
    lines = (PROJECT / "parsing" / "reference" / "pspnet_lip_state_dict.txt").read_text().splitlines()
    reference = [tuple(line.split("\t")) for line in lines if not line.startswith("#")]
    with torch.device("meta"):  # shapes only: no memory, no initialisation time
        state = PSPNet().state_dict()
    assert [(key, str(list(t.shape))) for key, t in state.items()] == reference
    assert len(reference) == 660
    assert sum(t.numel() for k, t in state.items() if not k.endswith("num_batches_tracked")) == 72_683_883


def test_extractor_dilates_all_but_the_first_block_and_keeps_stride_8(model):
    layer3, layer4 = model.feats.layer3, model.feats.layer4
    assert [b.conv2.dilation[0] for b in (layer3[0], layer3[1], layer3[22], layer4[0], layer4[2])] == [1, 2, 2, 1, 4]
    with torch.inference_mode():
        features = model.feats(torch.zeros(1, 3, 64, 64))
        log_probs = model(torch.randn(2, 3, 40, 40, generator=torch.Generator().manual_seed(0)))
    assert features.shape == (1, 2048, 8, 8)
    assert log_probs.shape == (2, 20, 40, 40)
    torch.testing.assert_close(log_probs.exp().sum(dim=1), torch.ones(2, 40, 40))


def test_official_checkpoint_format_round_trips_through_the_loader(model, tmp_path):
    state = model.state_dict()
    path = tmp_path / "PSPNet_last"
    torch.save({f"module.{k}": v for k, v in state.items()}, path)  # nn.DataParallel's bare state dict
    loaded = load_pspnet_checkpoint(path).state_dict()
    assert loaded.keys() == state.keys() and all(torch.equal(loaded[k], v) for k, v in state.items())
    del state["final.0.bias"]
    torch.save({"state_dict": dict(state)}, tmp_path / "partial.pth")
    with pytest.raises(CheckpointError, match=r"partial\.pth.*missing keys: final\.0\.bias"):
        load_pspnet_checkpoint(tmp_path / "partial.pth")


def test_input_transform_is_gen_parsings(ntu_fixtures):
    official = transforms.Compose([
        transforms.Resize((256, 256), transforms.InterpolationMode.BICUBIC),  # Resize((256, 256), 3)
        transforms.ToTensor(), transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
    ])
    for frame in (0, 102):
        with Image.open(ntu_fixtures / "person_frames" / SAMPLE / f"{frame}.jpg") as image:
            expected = official(image)
            ours = pspnet_input(np.asarray(image))
        assert ours.shape == (3, 256, 256) and torch.equal(torch.from_numpy(ours), expected)


def test_parse_command_with_pspnet_writes_ipp_net_maps(ntu_fixtures, tmp_path):
    frames = tmp_path / "frames" / SAMPLE
    frames.mkdir(parents=True)
    for index, source in enumerate([0, 60]):
        (frames / f"{index}.jpg").write_bytes((ntu_fixtures / "person_frames" / SAMPLE / f"{source}.jpg").read_bytes())
    out = tmp_path / "parsing"
    argv = ["parse", "--model", "pspnet", "--frames", str(frames.parent), "--out", str(out), "--random-weights",
            "--input-size", "32", "--batch-size", "2", "--device", "cpu", "--quiet"]
    assert main(argv) == 0
    labels = np.load(out / f"{SAMPLE}.npy")
    assert labels.shape == (2, 32, 32, 1) and labels.dtype == np.uint8 and labels.max() < 20
    assert get_parser_model("pspnet").input_size("lip") == 256  # hence (T, 256, 256, 1) by default
    assert main([*argv, "--label-set", "atr"]) == 2  # PSPNet_last is LIP only
    assert set(PARSER_MODEL_NAMES) == set(PARSER_MODELS)


# liujf69/IPP-Net-Parsing, Ensemble/ensemble.py, in its order J, B, JM, BM, parsing
IPP_NET_FUSION = {"ntu60-xsub": (6, 6, 4, 4, 8), "ntu60-xview": (6, 6, 4, 4, 6), "ntu120-xsub": (7, 7, 3, 3, 5),
                  "ntu120-xset": (6, 6, 4, 4, 6)}


@pytest.mark.parametrize("benchmark", sorted(IPP_NET_FUSION))
def test_ipp_net_pipeline_parses_with_pspnet_trains_its_layout_and_fuses_with_its_weights(benchmark: str) -> None:
    from engine.config import load_config
    from pipeline import PipelineConfig, build_stages

    root = Path(__file__).resolve().parents[1]
    cfg = load_config(PipelineConfig, root / "configs" / "ipp-net" / benchmark / "pipeline.yaml")
    stages = {stage.name: stage for stage in build_stages(cfg)}
    parse = stages["person frames + parsing"].commands[1]
    assert parse[parse.index("--model") + 1] == "pspnet"
    train = stages["train parsing"].commands[0]
    assert train[train.index("--config") + 1] == f"configs/ipp-net/{benchmark}/parsing.yaml"
    fuse = stages["fuse"].commands[0]
    scores = [arg for arg in fuse if arg.count("=") == 1 and ":" in arg]  # --score NAME=PATH:WEIGHT
    weights = [float(arg.rpartition(":")[2]) for arg in scores]
    assert tuple(weights) == IPP_NET_FUSION[benchmark]
