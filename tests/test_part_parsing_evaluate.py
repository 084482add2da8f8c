"""The Kinetics-TPS score on hand-built cases whose value is worked out in each test."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.optimize import linear_sum_assignment

from part_parsing.evaluate import box_iou, conditioned_accuracy, evaluate, write_curve
from part_parsing.tps import TPSFormatError

FRAME, FRAME_6, FRAME_11 = "img_00001.json", "img_00006.json", "img_00011.json"
BODY = [0, 0, 99, 199]


def gt_human(box: list, **parts: tuple[list, str]) -> dict:
    return {"box": box, "parts": {name: {"box": b, "verb": v} for name, (b, v) in parts.items()}}


def pred_human(box: list, **parts: list[tuple[list, str]]) -> dict:
    return {"box": box, "parts": {name: {"box": [b for b, _ in proposals], "verb": [v for _, v in proposals]}
                                  for name, proposals in parts.items()}}


def as_prediction(human: dict) -> dict:
    """A ground-truth human predicted exactly, one proposal per part."""
    return pred_human(human["box"], **{n: [(p["box"], p["verb"])] for n, p in human["parts"].items()})


def expected_area(pscs: list[float], correct: list[bool]) -> float:
    """Σ_k acc(k / 10000) / 10000 with acc the share of videos with PSC >= k / 10000 and the right class."""
    return sum(sum(c and p >= k / 10000 for p, c in zip(pscs, correct, strict=True)) / len(pscs)
               for k in range(1, 10000)) / 10000


def one_video(gt_frames: dict, pred_frames: dict, pred_class: str = "squat") -> tuple[dict, dict, dict, dict]:
    return {"v": "squat"}, {"v": gt_frames}, {"v": pred_class}, {"v": pred_frames}


HEAD, ARM, LEG, FOOT = [30, 0, 69, 39], [0, 50, 19, 99], [30, 120, 49, 179], [30, 180, 49, 199]
PERSON = gt_human(BODY, head=(HEAD, "none"), left_arm=(ARM, "bend"), left_leg=(LEG, "step"),
                  left_foot=(FOOT, "step_on"))
OTHER = gt_human([200, 0, 299, 199], head=([230, 0, 269, 39], "look_up"))


def test_perfect_predictions_score_the_whole_area() -> None:
    frames = {FRAME: {"humans": [PERSON, OTHER]}, FRAME_6: {"humans": [OTHER, PERSON]}}
    preds = {f: {"humans": [as_prediction(h) for h in reversed(c["humans"])]} for f, c in frames.items()}
    result = evaluate(*one_video(frames, preds))
    assert result.psc.tolist() == [1.0] and result.class_correct.tolist() == [True]
    assert result.score == pytest.approx(0.9999, abs=1e-12)  # 9999 thresholds of 1/10000
    assert result.thresholds[[0, -1]].tolist() == [0.0001, 0.9999] and result.accuracy.shape == (9999,)


def test_one_wrong_state_of_four_parts() -> None:
    wrong = as_prediction(PERSON)
    wrong["parts"]["left_leg"]["verb"] = ["bend"]
    result = evaluate(*one_video({FRAME: {"humans": [PERSON]}}, {FRAME: {"humans": [wrong]}}))
    assert result.psc.tolist() == [0.75]  # 3 of 4 parts
    assert result.score == pytest.approx(expected_area([0.75], [True]), abs=1e-12)
    assert result.score == pytest.approx(0.75, abs=1e-12)


def test_a_missed_human_scores_zero_for_its_parts() -> None:
    result = evaluate(*one_video({FRAME: {"humans": [PERSON, OTHER]}}, {FRAME: {"humans": [as_prediction(OTHER)]}}))
    assert result.psc.tolist() == [1 / 5]  # OTHER's 1 part of the frame's 4 + 1


def test_a_frame_missing_from_the_predictions_scores_zero() -> None:
    frames = {FRAME: {"humans": [PERSON]}, FRAME_6: {"humans": [PERSON]}}
    result = evaluate(*one_video(frames, {FRAME: {"humans": [as_prediction(PERSON)]}}))
    assert result.psc.tolist() == [0.5]  # (1 + 0) / 2
    assert result.score == pytest.approx(0.5, abs=1e-12)


def test_several_proposals_share_the_part() -> None:
    far = [500, 500, 540, 540]
    pred = pred_human(BODY, head=[(far, "none"), (HEAD, "none")],                                   # 1/2
                      left_arm=[(far, "bend")] * 2 + [(ARM, "bend")] + [(far, "bend")] * 2,          # 1/5
                      left_leg=[(LEG, "bend"), (far, "step")],                                      # 0: box or state
                      left_foot=[(FOOT, "step_on")])                                                # 1
    result = evaluate(*one_video({FRAME: {"humans": [PERSON]}}, {FRAME: {"humans": [pred]}}))
    assert result.psc[0] == pytest.approx((1 / 2 + 1 / 5 + 0 + 1) / 4)
    assert result.score == pytest.approx(0.425, abs=1e-12)


def test_frames_without_humans_or_parts_are_left_out() -> None:
    no_parts = gt_human([300, 0, 399, 199])
    gt_vid = {"a": "squat", "b": "squat"}
    gt_part = {"a": {FRAME: {"humans": [PERSON]}, FRAME_6: {"humans": [no_parts]}, FRAME_11: {"humans": []}},
               "b": {FRAME: {"humans": [PERSON]}, FRAME_6: {"humans": [no_parts]}}}
    pred_part = {"a": {FRAME: {"humans": [as_prediction(PERSON)]}, FRAME_6: {"humans": [as_prediction(no_parts)]}},
                 "b": {FRAME: {"humans": [as_prediction(PERSON)]}}}
    result = evaluate(gt_vid, gt_part, gt_vid, pred_part)
    # a: frames 6 and 11 are left out. b: frame 6 has humans but no parts and is not predicted, and the
    # official script counts such a frame (as 0) because it skips missing frames before counting parts.
    assert result.psc.tolist() == [1.0, 0.5]
    assert result.score == pytest.approx((5000 * 1.0 + 4999 * 0.5) / 10000, abs=1e-12)


def test_a_video_with_no_scorable_frame_has_psc_one() -> None:
    result = evaluate(*one_video({FRAME: {"humans": []}}, {}))
    assert result.psc.tolist() == [1.0]


def test_a_wrong_class_scores_nothing_whatever_the_parts() -> None:
    gt_vid = {"a": "squat", "b": "squat"}
    gt_part = {v: {FRAME: {"humans": [PERSON]}} for v in gt_vid}
    pred_part = {v: {FRAME: {"humans": [as_prediction(PERSON)]}} for v in gt_vid}
    result = evaluate(gt_vid, gt_part, {"a": "squat", "b": "jogging"}, pred_part)
    assert result.psc.tolist() == [1.0, 1.0] and result.class_correct.tolist() == [True, False]
    assert result.score == pytest.approx(0.9999 / 2, abs=1e-12)


def test_iou_counts_pixels_inclusively() -> None:
    part = [0, 0, 9, 9]
    assert box_iou(np.array([part], float), np.array([[5, 0, 14, 9]], float))[0] == pytest.approx(50 / 150)
    assert box_iou(np.array([part], float), np.array([[10, 0, 19, 9]], float))[0] == -1  # no overlap
    gt = gt_human(BODY, head=(part, "none"), hip=(part, "bend"))
    # [5, 0, 14, 9]: 50 / 150 = 1/3 >= 0.3 with the +1 convention (36 / 126 < 0.3 without); [6, 0, 15, 9]: 0.25
    pred = pred_human(BODY, head=[([5, 0, 14, 9], "none")], hip=[([6, 0, 15, 9], "bend")])
    assert evaluate(*one_video({FRAME: {"humans": [gt]}}, {FRAME: {"humans": [pred]}})).psc.tolist() == [0.5]


def test_a_human_needs_iou_above_one_half() -> None:
    gt = gt_human([0, 0, 9, 9], head=([0, 0, 9, 9], "none"))
    exactly_half = pred_human([0, 0, 9, 19], head=[([0, 0, 9, 9], "none")])   # 100 / 200
    above_half = pred_human([0, 0, 9, 18], head=[([0, 0, 9, 9], "none")])     # 100 / 190
    assert evaluate(*one_video({FRAME: {"humans": [gt]}}, {FRAME: {"humans": [exactly_half]}})).psc[0] == 0
    assert evaluate(*one_video({FRAME: {"humans": [gt]}}, {FRAME: {"humans": [above_half]}})).psc[0] == 1


def test_humans_are_matched_by_the_hungarian_algorithm() -> None:
    a = gt_human([0, 0, 99, 99], head=([10, 10, 20, 20], "none"))
    b = gt_human([30, 0, 129, 99], head=([100, 10, 110, 20], "look_up"))
    # P overlaps A and B by 0.74 each; Q overlaps A by 0.54 and B by 0.25. Taking A's best (P) would
    # leave B unmatched; the assignment of least total 1 - IoU is A-Q, B-P, both above 0.5.
    p = pred_human([15, 0, 114, 99], head=[([100, 10, 110, 20], "look_up")])
    q = pred_human([-30, 0, 69, 99], head=[([10, 10, 20, 20], "none")])
    assert evaluate(*one_video({FRAME: {"humans": [a, b]}}, {FRAME: {"humans": [p, q]}})).psc.tolist() == [1.0]


def test_curve_png_and_json(tmp_path: Path) -> None:
    result = evaluate(*one_video({FRAME: {"humans": [PERSON]}}, {FRAME: {"humans": [as_prediction(PERSON)]}}))
    with Image.open(write_curve(result, tmp_path / "curve.png")) as image:
        assert image.format == "PNG" and image.size == (600, 400)
    content = result.to_json()
    assert content["score_rounded"] == 0.9999 and content["videos"] == {"v": {"psc": 1.0, "class_correct": True}}
    assert len(content["curve"]["accuracy"]) == 9999


def test_conditioned_accuracy_counts_psc_at_the_threshold() -> None:
    thresholds, accuracy, area = conditioned_accuracy(np.array([0.25, 0.5]), np.array([True, True]))
    assert accuracy[2499] == 1.0 and accuracy[2500] == 0.5 and accuracy[4999] == 0.5 and accuracy[5000] == 0
    assert area == pytest.approx(expected_area([0.25, 0.5], [True, True]), abs=1e-12)


@pytest.mark.parametrize(("broken", "field"), [
    (lambda p: p["v"][FRAME]["humans"][0].pop("box"), '["v"]["img_00001.json"]["humans"][0]["box"]: missing'),
    (lambda p: p["v"][FRAME]["humans"].extend([p["v"][FRAME]["humans"][0]] * 10), "11 humans"),
    (lambda p: p["v"][FRAME]["humans"][0]["parts"]["head"].update(box=[HEAD] * 6, verb=["none"] * 6), "6 boxes"),
    (lambda p: p["v"][FRAME]["humans"][0]["parts"]["head"].update(box=[[1, 2, 3]]),
     '["v"]["img_00001.json"]["humans"][0]["parts"]["head"]["box"][0]: expected [x1, y1, x2, y2]'),
    (lambda p: p["v"][FRAME]["humans"][0]["parts"]["head"].update(verb="none"), '["head"]["verb"]: expected a list'),
    (lambda p: p.pop("v"), '["v"]: missing field'),
])
def test_bad_predictions_name_the_file_and_field(broken, field: str) -> None:
    gt_vid, gt_part, pred_vid, pred_part = one_video({FRAME: {"humans": [PERSON]}},
                                                     {FRAME: {"humans": [as_prediction(PERSON)]}})
    broken(pred_part)
    with pytest.raises(TPSFormatError, match="^pred_part_result.json: ") as error:
        evaluate(gt_vid, gt_part, pred_vid, pred_part)
    assert field in str(error.value)


def test_a_bad_ground_truth_box_names_the_file_and_field() -> None:
    bad = gt_human(BODY, head=([1, 2, "3", 4], "none"))
    with pytest.raises(TPSFormatError, match=r'^gt_part_result.json: \["v"\]\["img_00001.json"\]\["humans"\]\[0\]'
                                             r'\["parts"\]\["head"\]\["box"\]: expected'):
        evaluate(*one_video({FRAME: {"humans": [bad]}}, {FRAME: {"humans": [as_prediction(PERSON)]}}))
    with pytest.raises(TPSFormatError, match='^pred_vid_result.json: \\["v"\\]: missing field'):
        evaluate({"v": "squat"}, {"v": {}}, {}, {"v": {}})


def _reference_psc(gt: dict, pred: dict) -> float:
    """Per-video PSC written out plainly: loops, scipy's assignment, the same IoU rules."""
    total, counted = 0.0, 0
    for frame, content in gt.items():
        humans = content["humans"]
        if not humans:
            continue
        if frame not in pred:
            counted += 1
            continue
        preds = pred[frame]["humans"]
        iou = np.zeros((len(humans), len(preds)), np.float32)
        for i, h in enumerate(humans):
            for j, p in enumerate(preds):
                iou[i, j] = box_iou(np.float32([h["box"]]), np.float32([p["box"]]))[0]
        size = max(iou.shape)
        padded = np.zeros((size, size), np.float64 if iou.shape[0] != iou.shape[1] else np.float32)
        padded[:iou.shape[0], :iou.shape[1]] = iou
        matched = {r: c for r, c in zip(*linear_sum_assignment(1 - padded), strict=True)
                   if c < len(preds) and r < len(humans) and padded[r, c] > 0.5}
        frame_sum, parts = 0.0, sum(len(h["parts"]) for h in humans)
        for i, h in enumerate(humans):
            human_sum = 0.0
            for name, part in h["parts"].items():
                proposal = preds[matched[i]]["parts"].get(name) if i in matched else None
                if proposal and proposal["verb"]:
                    boxes = np.array(proposal["box"], float)
                    ious = box_iou(np.array([part["box"]] * len(boxes), float), boxes)
                    hit = any(v >= 0.3 and s == part["verb"] for v, s in zip(ious, proposal["verb"], strict=True))
                    human_sum += hit / len(proposal["verb"])
            frame_sum += human_sum
        if parts:
            total, counted = total + frame_sum / parts, counted + 1
    return total / counted if counted else 1.0


def test_random_cases_agree_with_a_plain_loop() -> None:
    rng = random.Random(0)

    def box() -> list[int]:
        x, y = rng.randint(0, 30), rng.randint(0, 30)
        return [x, y, x + rng.randint(0, 20), y + rng.randint(0, 20)]

    for _ in range(30):
        gt_part, pred_part = {}, {}
        for f in range(4):
            humans = [gt_human(box(), **{n: (box(), rng.choice("ab")) for n in ("head", "hip", "left_arm")
                                         if rng.random() < 0.7}) for _ in range(rng.randint(0, 3))]
            gt_part[f"img_{5 * f + 1:05d}.json"] = {"humans": humans}
            if rng.random() < 0.8:
                preds = [pred_human(h["box"] if rng.random() < 0.7 else box(),
                                    **{n: [(p["box"] if rng.random() < 0.7 else box(), rng.choice("ab"))
                                           for _ in range(rng.randint(0, 3))] for n, p in h["parts"].items()})
                         for h in humans] + [pred_human(box()) for _ in range(rng.randint(0, 2))]
                pred_part[f"img_{5 * f + 1:05d}.json"] = {"humans": preds}
        result = evaluate(*one_video(gt_part, pred_part))
        assert result.psc[0] == pytest.approx(_reference_psc(gt_part, pred_part), abs=1e-12)
