"""NTU clips for the multitask network: sampling, crops and depth on the real fixture, person frames; PCK and
MPJPE."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from engine.config import ConfigError, load_config
from multitask.clips import (
    clip_box,
    clip_positions,
    crop_frame,
    main_body,
    normalise_depth,
    ntu_clip,
    pose_to_camera_mm,
)
from multitask.model import PA20J_FROM_NTU
from multitask.task import TASK, MultitaskExperiment, NtuClips, pck, root_relative_mpjpe
from parsing.person_frames import write_person_frames
from pose_guidance.skeleton_colors import read_skeleton_colors


def fixture_body(ntu_fixtures: Path):
    return main_body(read_skeleton_colors(ntu_fixtures / "skeletons" / "S001C001P001R001A001.skeleton"))


def test_clip_positions_centre_the_test_clip_and_shrink_the_step() -> None:
    assert clip_positions(103, 20, 2, None).tolist() == list(range(32, 71, 2))  # span 39, start (103 - 39) // 2
    assert clip_positions(30, 20, 3, None).tolist() == list(range(5, 25))  # step 3 does not fit: 1
    assert clip_positions(5, 8, 2, None).tolist() == [0, 0, 1, 1, 2, 3, 3, 4]  # shorter than the clip
    rng = np.random.default_rng(0)
    starts = {int(clip_positions(103, 20, 3, rng)[0]) for _ in range(50)}
    assert min(starts) >= 0 and max(starts) <= 103 - 58 and len(starts) > 5


def test_the_crop_is_the_square_union_box_of_three_frames_times_1_5() -> None:
    color = np.zeros((5, 2, 2))
    color[0] = [[100, 100], [140, 200]]  # first
    color[2] = [[90, 120], [130, 150]]  # middle
    color[4] = [[110, 110], [160, 180]]  # last
    color[1] = color[3] = [[0, 0], [1000, 1000]]  # ignored frames
    box = clip_box(color, np.ones((5, 2), bool))
    # union x 90..160, y 100..200: centre (125, 150), half = 1.5 * 100 / 2
    np.testing.assert_allclose(box, [50, 75, 200, 225])
    np.testing.assert_allclose(clip_box(color, np.ones((5, 2), bool), scale=1.3), [27.5, 52.5, 222.5, 247.5])


def test_crop_and_depth_normalisation_round_trip_to_millimetres_on_the_real_skeleton(ntu_fixtures: Path) -> None:
    body = fixture_body(ntu_fixtures)
    clip = ntu_clip(body, 20, 2, scale=1.3)
    valid = clip.valid > 0
    assert valid.mean() > 0.9  # the fixture's body is inside its own crop
    root = body.xyz[clip_positions(len(body.frames), 20, 2, None)][:, 0, 2] * 1000
    assert abs(clip.root_z - root.mean()) < 1e-3
    assert np.allclose(clip.pose[..., 2][valid], normalise_depth(clip.xyz_mm[..., 2], clip.root_z, 1.3)[valid])
    assert 0.3 < clip.pose[valid][:, 2].min() and clip.pose[valid][:, 2].max() < 0.7  # a body spans < 1 m of depth
    mm = pose_to_camera_mm(torch.from_numpy(clip.pose)[None], torch.from_numpy(clip.box)[None],
                           torch.tensor([clip.root_z]), torch.tensor([clip.scale]),
                           torch.from_numpy(clip.camera)[None])[0].numpy()
    error = np.abs(mm - clip.xyz_mm)[valid]
    assert error[:, 2].max() < 1e-2  # depth: exact
    assert error[:, :2].mean() < 15.0  # x, y: through the camera fitted to the clip's joints


def test_the_crop_puts_a_joint_where_the_targets_say(ntu_fixtures: Path) -> None:
    body = fixture_body(ntu_fixtures)
    clip = ntu_clip(body, 4, 1)
    image = np.zeros((1080, 1920, 3), np.uint8)
    u, v = body.color[clip_positions(len(body.frames), 4, 1, None)[0], PA20J_FROM_NTU[3]]  # the head
    image[int(v) - 3:int(v) + 4, int(u) - 3:int(u) + 4] = 255
    crop = crop_frame(image, clip.box, 64)
    rows, cols = np.nonzero(crop[..., 0] > 100)
    assert abs(cols.mean() / 64 - clip.pose[0, 3, 0]) < 0.03 and abs(rows.mean() / 64 - clip.pose[0, 3, 1]) < 0.03
    flipped = ntu_clip(body, 4, 1, flip=True)
    assert np.allclose(flipped.pose[:, 3, 0], 1 - clip.pose[:, 3, 0])  # the head stays, mirrored
    assert np.allclose(flipped.pose[:, 4, 0], 1 - clip.pose[:, 5, 0])  # left and right shoulders swap


def test_pck_and_mpjpe_match_plain_transcriptions() -> None:
    rng = np.random.default_rng(1)
    pred, true = rng.random((2, 3, 20, 3)), rng.random((2, 3, 20, 3))
    valid = (rng.random((2, 3, 20)) > 0.3).astype(np.float32)
    correct = counted = 0
    for idx in np.ndindex(valid.shape):
        if valid[idx]:
            counted += 1
            correct += np.hypot(*(pred[idx][:2] - true[idx][:2])) < 0.2
    got = pck(torch.from_numpy(pred), torch.from_numpy(true), torch.from_numpy(valid))
    assert got == (float(correct), float(counted))

    pred_mm, true_mm = pred * 1000, true * 1000
    total = joints = 0.0
    for n, t in np.ndindex(2, 3):
        if not valid[n, t, 0]:
            continue
        for j in range(20):
            if valid[n, t, j]:
                total += np.linalg.norm((pred_mm[n, t, j] - pred_mm[n, t, 0]) - (true_mm[n, t, j] - true_mm[n, t, 0]))
                joints += 1
    got_sum, got_count = root_relative_mpjpe(torch.from_numpy(pred_mm), torch.from_numpy(true_mm),
                                             torch.from_numpy(valid))
    assert got_count == joints and abs(got_sum - total) < 1e-6 * total


def test_video_clips_of_the_real_sample_are_person_crops(ntu_fixtures: Path) -> None:
    cfg = load_config(MultitaskExperiment, None, [f"data.skeletons={ntu_fixtures / 'skeletons'}",
                                                  f"data.videos={ntu_fixtures / 'videos'}", "model.variant=tiny",
                                                  "data.clip_frames=4"])
    dataset = NtuClips(cfg, "train")
    assert dataset.sample_names == ["S001C001P001R001A001"]  # the only one with a video
    inputs, target = dataset[0]
    assert inputs["frames"].shape == (4, 3, 64, 64) and inputs["frames"].dtype == torch.uint8 and target["label"] == 0
    frames = TASK.device_transform(inputs, cfg)["frames"]  # as the engine gives them to the model
    assert frames.dtype == torch.float32 and -1 <= float(frames.min()) and float(frames.max()) <= 1
    assert float(frames.std()) > 0.1 and float(target["valid"].mean()) > 0.9


SAMPLE = "S001C001P001R001A001"


def test_person_frame_clips_are_the_video_crops_inside_the_person_box(ntu_fixtures: Path, tmp_path: Path) -> None:
    # `python -m parsing frames` writes the fixture video's person frames at their own size; the synthetic
    # set's person frames (data.synthetic.frames) are the same boxes resized to a square
    native, resized = tmp_path / "native", tmp_path / "resized"
    count = write_person_frames(ntu_fixtures / "videos" / f"{SAMPLE}_rgb.avi",
                                ntu_fixtures / "skeletons" / f"{SAMPLE}.skeleton", native / SAMPLE)
    (resized / SAMPLE).mkdir(parents=True)
    for index in range(count):
        image = cv2.imread(str(native / SAMPLE / f"{index}.jpg"))
        cv2.imwrite(str(resized / SAMPLE / f"{index}.jpg"), cv2.resize(image, (112, 112), interpolation=cv2.INTER_AREA))
    sets = [f"data.skeletons={ntu_fixtures / 'skeletons'}", f"data.videos={ntu_fixtures / 'videos'}",
            "model.variant=tiny", "data.clip_frames=4"]
    videos = NtuClips(load_config(MultitaskExperiment, None, sets), "train")
    clip = videos.clip(0, rng=None)
    from_video = videos.images(SAMPLE, clip).astype(np.int64)
    for folder, tolerance in ((native, 3.0), (resized, 12.0)):
        frames = NtuClips(load_config(MultitaskExperiment, None,
                                      [*sets, "data.source=frames", f"data.frames_dir={folder}"]), "train")
        assert frames.sample_names == [SAMPLE]
        from_frames = frames.images(SAMPLE, clip).astype(np.int64)
        inside = from_frames.any(-1)  # the person box; the rest of the clip's square crop is black
        assert 0.1 < inside.mean() < 0.5 and from_video[~inside].mean() > 50
        assert np.abs(from_video - from_frames)[inside].mean() < tolerance  # the same pixels, up to JPEG (and size)
        inputs, target = frames[0]
        assert inputs["frames"].shape == (4, 3, 64, 64) and inputs["frames"].dtype == torch.uint8
        assert target["label"] == 0


def test_person_frames_need_their_folder(ntu_fixtures: Path, tmp_path: Path) -> None:
    sets = [f"data.skeletons={ntu_fixtures / 'skeletons'}", "data.source=frames"]
    with pytest.raises(ConfigError, match="data.frames_dir"):
        NtuClips(load_config(MultitaskExperiment, None, [*sets, f"data.frames_dir={tmp_path / 'absent'}"]), "train")
    with pytest.raises(ConfigError, match="with person frames in"):
        NtuClips(load_config(MultitaskExperiment, None, [*sets, f"data.frames_dir={tmp_path}"]), "train")
