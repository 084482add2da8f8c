"""Kinetics-TPS data: the synthetic set, the reader, the evaluation files, segment labels and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from data.synthetic.kinetics_tps import STATE_COLORS, SUMMARY_FILE, TPSSyntheticConfig, generate
from part_parsing.__main__ import main
from part_parsing.segments import (
    SEGMENT_SECONDS,
    label_vocabulary,
    most_frequent,
    parse_part_state_label,
    part_state_label,
    segment_labels,
    segment_length,
)
from part_parsing.tps import (
    BODY_PARTS,
    PART_GROUPS,
    PredictedHuman,
    Proposal,
    TPSFormatError,
    Video,
    check_vocabulary,
    frames_folder,
    iter_videos,
    list_videos,
    prediction_frame,
    read_frame,
    read_images,
    read_lists,
    read_video,
    video_file,
    write_evaluation_files,
)

CONFIG = TPSSyntheticConfig(seed=3, classes=3, videos_per_class=3, test_per_class=1, frames=16, videos=True)


@pytest.fixture(scope="module")
def tps_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tps")
    generate(root, CONFIG)
    return root


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_the_generator_is_byte_identical_for_a_seed(tps_root: Path, tmp_path: Path) -> None:
    generate(tmp_path / "again", CONFIG)
    assert _files(tmp_path / "again") == _files(tps_root)
    generate(tmp_path / "again", TPSSyntheticConfig(**{**CONFIG.__dict__, "seed": 4}))  # rewrites its own folder
    assert _files(tmp_path / "again").keys() != _files(tps_root).keys()


def test_the_reader_reads_back_what_was_written(tps_root: Path) -> None:
    summary = json.loads((tps_root / SUMMARY_FILE).read_text())
    lists = read_lists(tps_root / "list")
    assert lists.body_parts == BODY_PARTS and set(lists.part_states) == set(STATE_COLORS)
    for split in ("train", "test"):
        expected = {v["name"]: v["frames"] for v in summary["videos"] if v["split"] == split}
        assert lists.frame_counts[split] == expected
        listed = list_videos(tps_root / f"{split}_annotations")
        assert listed == sorted((v["action"], v["name"]) for v in summary["videos"] if v["split"] == split)
        for action, name in listed:
            video = read_video(tps_root / f"{split}_annotations", action, name)
            assert [f.index for f in video.frames] == list(range(1, CONFIG.frames + 1))
            check_vocabulary(video, lists, tps_root / f"{split}_annotations")
            raw = json.loads((tps_root / f"{split}_annotations" / action / name / name / "img_00002.json").read_text())
            frame = video.frame(2)
            assert [list(h.box) for h in frame.humans] == [h["box"] for h in raw["humans"]]
            assert [{n: (list(p.box), p.state) for n, p in h.parts.items()} for h in frame.humans] == \
                   [{n: (p["box"], p["verb"]) for n, p in h["parts"].items()} for h in raw["humans"]]


def test_part_states_are_visible_in_the_pixels(tps_root: Path) -> None:
    names = list(STATE_COLORS)
    colors = np.array([STATE_COLORS[n] for n in names], float)
    for video in iter_videos(tps_root / "train_annotations"):
        images = read_images(frames_folder(tps_root / "train_frames", video.action, video.name), [1, 9, 16])
        for index, image in images.items():
            for human in video.frame(index).humans:
                for part in human.parts.values():
                    x1, y1, x2, y2 = part.box
                    pixel = image[(y1 + y2) // 2, (x1 + x2) // 2].astype(float)
                    assert names[int(np.argmin(((colors - pixel) ** 2).sum(1)))] == part.state


def test_frames_and_videos_hold_the_same_pictures(tps_root: Path) -> None:
    action, name = list_videos(tps_root / "test_annotations")[0]
    from_frames = read_images(frames_folder(tps_root / "test_frames", action, name), [1, 7, 16])
    from_video = read_images(video_file(tps_root / "test_videos", action, name), [1, 7, 16])
    for index in (1, 7, 16):
        assert from_frames[index].shape == from_video[index].shape == (CONFIG.height, CONFIG.width, 3)
        assert np.abs(from_frames[index].astype(int) - from_video[index]).mean() < 12  # two lossy codecs
    with pytest.raises(ValueError, match="has only 16 frames"):
        read_images(video_file(tps_root / "test_videos", action, name), [17])


def _oracle_predictions(videos: list[Video]) -> tuple[dict, dict]:
    """The annotations written back as predictions, with a wrong second proposal for every part."""
    pred_vid, pred_part = {}, {}
    for video in videos:
        pred_vid[video.name] = video.action
        pred_part[video.name] = {
            f"img_{f.index:05d}.json": prediction_frame([
                PredictedHuman(h.box, {n: [Proposal(p.box, p.state), Proposal(p.box, "other")]
                                       for n, p in h.parts.items()}) for h in f.humans])
            for f in video.frames}
    return pred_vid, pred_part


def test_ground_truth_files_and_an_oracle_score(tps_root: Path, tmp_path: Path, capsys) -> None:
    assert main(["gt", "--annotations", str(tps_root / "test_annotations"), "--lists", str(tps_root / "list"),
                 "--out", str(tmp_path)]) == 0
    gt_vid = json.loads((tmp_path / "gt_vid_result.json").read_text())
    gt_part = json.loads((tmp_path / "gt_part_result.json").read_text())
    videos = list(iter_videos(tps_root / "test_annotations"))
    assert gt_vid == {v.name: v.action for v in videos}
    assert all(list(gt_part[v.name]) == ["img_00001.json", "img_00006.json", "img_00011.json", "img_00016.json"]
               for v in videos)
    write_evaluation_files(tmp_path, *_oracle_predictions(videos), prediction=True)
    files = [str(tmp_path / f) for f in ("gt_vid_result.json", "gt_part_result.json", "pred_vid_result.json",
                                         "pred_part_result.json")]
    capsys.readouterr()
    assert main(["evaluate", "--gt-vid", files[0], "--gt-part", files[1], "--pred-vid", files[2],
                 "--pred-part", files[3], "--json", str(tmp_path / "score.json"),
                 "--curve", str(tmp_path / "curve.png")]) == 0
    assert "score: 0.500000" in capsys.readouterr().out  # every part 1/2 (two proposals, one right): 5000 t
    report = json.loads((tmp_path / "score.json").read_text())
    assert {v["psc"] for v in report["videos"].values()} == {0.5} and (tmp_path / "curve.png").is_file()
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temporary files


def test_prediction_frames_respect_the_official_limits() -> None:
    human = PredictedHuman((0, 0, 9, 9), {"head": [Proposal((0, 0, 9, 9), "none")] * 6})
    with pytest.raises(ValueError, match="6 proposals"):
        prediction_frame([human])
    with pytest.raises(ValueError, match="11 humans"):
        prediction_frame([PredictedHuman((0, 0, 9, 9), {})] * 11)


@pytest.mark.parametrize(("content", "field"), [
    ('{"humans": [', "line 1 column 13: invalid JSON"),
    ('{"people": []}', '["humans"]: missing field'),
    ('{"humans": [{"parts": {}}]}', '["humans"][0]["box"]: missing field'),
    ('{"humans": [{"box": [1, 2, 3], "parts": {}}]}', '["humans"][0]["box"]: expected [x1, y1, x2, y2], found [1,'),
    ('{"humans": [{"box": [1, 2, 3, 4], "parts": {"head": {"box": [1, 2, 3, 4]}}}]}',
     '["humans"][0]["parts"]["head"]["verb"]: missing field'),
    ('{"humans": [{"box": [1, 2, 3, 4], "parts": {"head": {"box": [1, 2, 3, 4], "verb": 7}}}]}',
     '["humans"][0]["parts"]["head"]["verb"]: expected a part-state name'),
])
def test_malformed_frames_name_the_file_and_the_field(tmp_path: Path, content: str, field: str) -> None:
    path = tmp_path / "img_00003.json"
    path.write_text(content)
    with pytest.raises(TPSFormatError) as error:
        read_frame(path)
    assert str(error.value).startswith(f"{path}: ") and field in str(error.value)


def test_names_outside_the_lists_are_reported(tps_root: Path, tmp_path: Path) -> None:
    action, name = list_videos(tps_root / "train_annotations")[0]
    video = read_video(tps_root / "train_annotations", action, name)
    frame = next(f for f in video.frames if f.humans)
    part = next(iter(frame.humans[0].parts.values()))
    bad = Video(action, name, (type(frame)(frame.index, (type(frame.humans[0])(
        frame.humans[0].box, {part.name: type(part)(part.name, part.box, "levitate")}),)),))
    with pytest.raises(TPSFormatError, match="'levitate' is not a state of list/part_stat.txt"):
        check_vocabulary(bad, read_lists(tps_root / "list"), tps_root / "train_annotations")


def _plain_segments(video: Video, num_frames: int, length: int) -> list[tuple[int, int, dict[str, str]]]:
    """The segment rule written out as plainly as possible: count, then take the first of the most counted."""
    out = []
    start = 1
    while start <= num_frames:
        end = min(start + length - 1, num_frames)
        order: list[str] = []
        votes: dict[str, list[str]] = {}
        for frame in video.frames:
            if start <= frame.index <= end:
                for human in frame.humans:
                    for name, part in human.parts.items():
                        if name not in votes:
                            order.append(name)
                            votes[name] = []
                        votes[name].append(part.state)
        winners = {}
        for name in order:
            best, best_count = None, 0
            for state in votes[name]:  # first seen wins a tie: only a larger count replaces it
                if votes[name].count(state) > best_count:
                    best, best_count = state, votes[name].count(state)
            winners[name] = best
        out.append((start, end, winners))
        start = end + 1
    return out


def test_segment_labels_match_a_plain_loop(tps_root: Path) -> None:
    videos = list(iter_videos(tps_root / "train_annotations"))
    for length in (1, 5, segment_length(16, seconds=1.0, fps=CONFIG.fps), segment_length(16)):
        for video in videos:
            found = [(s.start, s.end, s.states) for s in segment_labels(video, CONFIG.frames, length)]
            assert found == _plain_segments(video, CONFIG.frames, length)
    segments = segment_labels(videos[0], CONFIG.frames, 10)
    assert [(s.start, s.end) for s in segments] == [(1, 10), (11, 16)]


def test_ties_go_to_the_first_state_seen() -> None:
    assert most_frequent(["bend", "unbend", "unbend", "bend"]) == "bend"
    assert most_frequent(["unbend", "bend", "bend"]) == "bend"


def test_segment_length_from_seconds_frames_or_the_whole_video() -> None:
    assert segment_length(300, seconds=SEGMENT_SECONDS, fps=30) == 90  # the paper's 3 s
    assert segment_length(60, seconds=3.0, fps=30) == 60  # never longer than the video
    assert segment_length(60) == 60 and segment_length(60, frames=16) == 16
    with pytest.raises(ValueError, match="not both"):
        segment_length(60, seconds=1.0, frames=4, fps=30)
    with pytest.raises(ValueError, match="positive fps"):
        segment_length(60, seconds=1.0)


def test_the_label_vocabulary_names_action_group_and_state(tps_root: Path) -> None:
    assert part_state_label("squat", "left_leg", "bend") == "(squat) leg: bend"
    assert parse_part_state_label("(squat) leg: bend") == ("squat", "leg", "bend")
    with pytest.raises(ValueError, match="not a part-state label"):
        parse_part_state_label("leg: bend")
    videos = list(iter_videos(tps_root / "train_annotations"))
    vocabulary = label_vocabulary((v.action, segment_labels(v, CONFIG.frames, 8)) for v in videos)
    assert tuple(vocabulary) == PART_GROUPS
    for group, labels in vocabulary.items():
        assert labels == tuple(sorted(labels)) and labels
        assert {parse_part_state_label(label)[1] for label in labels} == {group}
    assert {parse_part_state_label(label)[0] for label in vocabulary["leg"]} == {v.action for v in videos}


def test_cli_errors_are_one_line_with_exit_code_2(tps_root: Path, tmp_path: Path, capsys) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"v": ')
    missing = tmp_path / "missing.json"
    for args, message in (
        (["evaluate", "--gt-vid", str(missing), "--gt-part", str(broken), "--pred-vid", str(broken),
          "--pred-part", str(broken)], f"{missing}: No such file or directory"),
        (["evaluate", "--gt-vid", str(broken), "--gt-part", str(broken), "--pred-vid", str(broken),
          "--pred-part", str(broken)], f"{broken}: line 1 column 7: invalid JSON"),
        (["gt", "--annotations", str(tmp_path / "nowhere"), "--lists", str(tps_root / "list"), "--out",
          str(tmp_path)], f"{tmp_path / 'nowhere'}: No such directory"),
    ):
        assert main(args) == 2
        captured = capsys.readouterr()
        assert captured.err.startswith(f"python -m part_parsing: error: {message}")
        assert captured.err.count("\n") == 1 and captured.err.endswith("\n") and "Traceback" not in captured.err


def test_show_draws_ground_truth_beside_the_prediction(tps_root: Path, tmp_path: Path) -> None:
    videos = list(iter_videos(tps_root / "test_annotations"))
    pred_path, _ = write_evaluation_files(tmp_path, *_oracle_predictions(videos), prediction=True)[::-1]
    out = tmp_path / "show.png"
    assert main(["show", "--annotations", str(tps_root / "test_annotations"), "--video", videos[0].name,
                 "--out", str(out), "--frames", str(tps_root / "test_frames"), "--pred-part", str(pred_path),
                 "--count", "3"]) == 0
    with Image.open(out) as image:
        assert image.size == (2 * CONFIG.width * 3, 3 * (CONFIG.height * 3 + 16))  # 2 columns, 3 rows, x3
    assert main(["show", "--annotations", str(tps_root / "test_annotations"), "--video", "nope",
                 "--out", str(out)]) == 2
