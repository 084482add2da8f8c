"""Part AP50 (``part_parsing.detection_ap``) against a literal, loop-by-loop re-telling of COCOeval (bbox,
one IoU threshold, area "all", iscrowd 0), hand-computed cases, and pycocotools itself when importable."""

from __future__ import annotations

import contextlib
import io
import json
import math

import numpy as np
import pytest

from part_parsing.detection_ap import APResult, ImageBoxes, average_precision, box_iou

# --- the reference: COCOeval's steps, plain Python loops, per image per category -----------------------


def _ref_iou(d: list[float], g: list[float]) -> float:
    """maskApi.c bbIou on xywh boxes, iscrowd 0."""
    w = min(d[2] + d[0], g[2] + g[0]) - max(d[0], g[0])
    if w <= 0:
        return 0.0
    h = min(d[3] + d[1], g[3] + g[1]) - max(d[1], g[1])
    if h <= 0:
        return 0.0
    i = w * h
    return i / (d[2] * d[3] + g[2] * g[3] - i)


def _xywh(box: list[float]) -> list[float]:
    x1, y1, x2, y2 = box
    return [x1, y1, x2 - x1, y2 - y1]


def reference_ap(gts: list[ImageBoxes], dts: list[ImageBoxes], num_classes: int, thr: float = 0.5,
                 max_det: int = 100) -> tuple[list[float], float]:
    gt_by: dict[tuple[int, int], list[dict]] = {}
    dt_by: dict[tuple[int, int], list[dict]] = {}
    next_id = 1
    for img, item in enumerate(gts):
        for box, lab in zip(np.asarray(item.boxes).tolist(), np.asarray(item.labels).tolist(), strict=True):
            gt_by.setdefault((img, int(lab)), []).append({"id": next_id, "bbox": _xywh(box)})
            next_id += 1
    for img, item in enumerate(dts):
        for box, lab, sc in zip(np.asarray(item.boxes).tolist(), np.asarray(item.labels).tolist(),
                                np.asarray(item.scores).tolist(), strict=True):
            dt_by.setdefault((img, int(lab)), []).append({"id": next_id, "bbox": _xywh(box), "score": sc})
            next_id += 1
    rec_thrs = np.linspace(0.0, 1.0, 101).tolist()  # Params.recThrs
    per_class: list[float] = []
    all_q: list[float] = []
    for cat in range(num_classes):
        scores: list[float] = []
        matched: list[bool] = []
        npig = 0
        for img in range(len(gts)):
            gt = gt_by.get((img, cat), [])
            dt = dt_by.get((img, cat), [])
            if not gt and not dt:
                continue
            order = sorted(range(len(dt)), key=lambda k: -dt[k]["score"])  # stable, as mergesort
            dt = [dt[k] for k in order][:max_det]
            ious = [[_ref_iou(d["bbox"], g["bbox"]) for g in gt] for d in dt]
            gtm = [0] * len(gt)
            dtm = [0] * len(dt)
            for di in range(len(dt)):
                iou = min(thr, 1 - 1e-10)
                m = -1
                for gi in range(len(gt)):
                    if gtm[gi] > 0:
                        continue
                    if ious[di][gi] < iou:
                        continue
                    iou = ious[di][gi]
                    m = gi
                if m == -1:
                    continue
                dtm[di] = gt[m]["id"]
                gtm[m] = dt[di]["id"]
            scores += [d["score"] for d in dt]
            matched += [x > 0 for x in dtm]
            npig += len(gt)
        if npig == 0:
            per_class.append(math.nan)
            continue
        order = sorted(range(len(scores)), key=lambda k: -scores[k])
        tp = fp = 0
        rc: list[float] = []
        pr: list[float] = []
        for k in order:
            tp += matched[k]
            fp += not matched[k]
            rc.append(tp / npig)
            pr.append(tp / (fp + tp + np.spacing(1)))
        for i in range(len(pr) - 1, 0, -1):
            if pr[i] > pr[i - 1]:
                pr[i - 1] = pr[i]
        q = [0.0] * len(rec_thrs)
        for ri, r in enumerate(rec_thrs):
            pi = next((i for i, v in enumerate(rc) if v >= r), len(rc))  # searchsorted side='left'
            if pi >= len(rc):
                break
            q[ri] = pr[pi]
        per_class.append(float(np.mean(q)))
        all_q += q
    return per_class, float(np.mean(all_q)) if all_q else math.nan


# --- random cases ---------------------------------------------------------------------------------------


def _random_boxes(rng: np.random.Generator, n: int, halves: bool) -> np.ndarray:
    x1 = rng.integers(0, 24, n).astype(float)
    y1 = rng.integers(0, 24, n).astype(float)
    w = rng.integers(0, 12, n).astype(float)  # zero width allowed
    h = rng.integers(1, 12, n).astype(float)
    if halves:
        x1 += rng.integers(0, 2, n) * 0.5
        w += rng.random(n) * 0.5
    return np.stack([x1, y1, x1 + w, y1 + h], axis=1)


def random_case(seed: int) -> tuple[list[ImageBoxes], list[ImageBoxes], int]:
    rng = np.random.default_rng(seed)
    num_classes = int(rng.integers(1, 6))
    n_img = int(rng.integers(0, 7))
    big_image = int(rng.integers(0, n_img)) if n_img and rng.random() < 0.3 else -1
    gts, dts = [], []
    used = max(1, num_classes - int(rng.integers(0, 2)))  # sometimes a class never appears
    for img in range(n_img):
        halves = bool(rng.random() < 0.5)
        n_gt = int(rng.integers(0, 7)) if rng.random() > 0.15 else 0
        g_boxes = _random_boxes(rng, n_gt, halves)
        g_labels = rng.integers(0, used, n_gt)
        if n_gt and rng.random() < 0.3:  # duplicate gt: equal IoUs, where the tie rule decides
            dup = rng.integers(0, n_gt, int(rng.integers(1, 3)))
            g_boxes, g_labels = np.concatenate([g_boxes, g_boxes[dup]]), np.concatenate([g_labels, g_labels[dup]])
            n_gt = len(g_labels)
        parts_b, parts_l = [], []
        if n_gt:  # jittered gt copies: exact overlaps, IoU ties, IoU of exactly 0.5
            k = int(rng.integers(0, 2 * n_gt + 1))
            pick = rng.integers(0, n_gt, k)
            jit = rng.integers(-2, 3, (k, 4)).astype(float)
            b = g_boxes[pick] + jit * (rng.random((k, 1)) < 0.7)
            b[:, 2] = np.maximum(b[:, 2], b[:, 0])
            b[:, 3] = np.maximum(b[:, 3], b[:, 1])
            parts_b.append(b)
            parts_l.append(np.where(rng.random(k) < 0.85, g_labels[pick], rng.integers(0, num_classes, k)))
        n_rand = int(rng.integers(0, 6))
        if img == big_image:
            n_rand += 130  # more than max_detections of one class in one image
        parts_b.append(_random_boxes(rng, n_rand, halves))
        parts_l.append(np.zeros(n_rand, int) if img == big_image else rng.integers(0, num_classes, n_rand))
        d_boxes = np.concatenate(parts_b) if parts_b else np.zeros((0, 4))
        d_labels = np.concatenate(parts_l).astype(int)
        if len(d_boxes) and rng.random() < 0.5:  # exact duplicates
            dup = rng.integers(0, len(d_boxes), int(rng.integers(1, 4)))
            d_boxes = np.concatenate([d_boxes, d_boxes[dup]])
            d_labels = np.concatenate([d_labels, d_labels[dup]])
        if rng.random() < 0.5:  # heavy ties in score
            d_scores = rng.choice([0.1, 0.5, 0.5, 0.9], len(d_boxes))
        else:
            d_scores = rng.random(len(d_boxes))
        gts.append(ImageBoxes(g_boxes, g_labels))
        dts.append(ImageBoxes(d_boxes, d_labels, d_scores))
    return gts, dts, num_classes


def _assert_same(result: APResult, ref: tuple[list[float], float]) -> None:
    ref_per, ref_mean = ref
    np.testing.assert_allclose(result.per_class, np.array(ref_per), rtol=0, atol=1e-12, equal_nan=True)
    if math.isnan(ref_mean):
        assert math.isnan(result.mean)
    else:
        assert abs(result.mean - ref_mean) <= 1e-12


@pytest.mark.parametrize("seed", range(300))
def test_matches_reference_on_random_cases(seed: int) -> None:
    gts, dts, k = random_case(seed)
    _assert_same(average_precision(gts, dts, k), reference_ap(gts, dts, k))


@pytest.mark.parametrize("seed", range(40))
def test_matches_reference_other_threshold_and_max_detections(seed: int) -> None:
    gts, dts, k = random_case(1000 + seed)
    thr, max_det = [0.0, 0.3, 0.75, 1.0][seed % 4], [1, 3, 100][seed % 3]
    got = average_precision(gts, dts, k, iou_threshold=thr, max_detections=max_det)
    _assert_same(got, reference_ap(gts, dts, k, thr, max_det))


# --- hand-computed cases --------------------------------------------------------------------------------


def _one(boxes: list, labels: list, scores: list | None = None) -> ImageBoxes:
    return ImageBoxes(np.array(boxes, float).reshape(-1, 4), np.array(labels, int),
                      None if scores is None else np.array(scores, float))


def test_perfect_detector_gives_one() -> None:
    gt = [_one([[0, 0, 10, 10], [20, 20, 30, 40]], [0, 1]), _one([[5, 5, 9, 9]], [1])]
    dt = [_one([[0, 0, 10, 10], [20, 20, 30, 40]], [0, 1], [0.9, 0.8]), _one([[5, 5, 9, 9]], [1], [0.3])]
    r = average_precision(gt, dt, num_classes=3)
    assert r.per_class[:2] == pytest.approx([1.0, 1.0], abs=1e-12)  # 1 / (1 + eps)
    assert math.isnan(r.per_class[2]) and r.mean == pytest.approx(1.0, abs=1e-12)


def test_false_positive_above_true_positive() -> None:
    # One gt. Ranked FP (0.9) then TP (0.8): recall [0, 1], precision [0, 1/2]; envelope [1/2, 1/2];
    # r = 0 -> index 0, r > 0 -> index 1: all 101 samples 1/2, AP = 0.5.
    gt = [_one([[0, 0, 10, 10]], [0])]
    dt = [_one([[50, 50, 60, 60], [0, 0, 10, 10]], [0, 0], [0.9, 0.8])]
    assert average_precision(gt, dt, 1).mean == pytest.approx(0.5, abs=1e-12)
    # Two gt, the second never found: recall [0, 1/2], precision [0, 1/2]; envelope 1/2 for the 51
    # thresholds r = 0.00 .. 0.50, 0 past recall 1/2: AP = 51 * 0.5 / 101 = 25.5 / 101.
    gt = [_one([[0, 0, 10, 10], [100, 100, 110, 110]], [0, 0])]
    assert average_precision(gt, dt, 1).mean == pytest.approx(25.5 / 101, abs=1e-12)
    # Two gt, TP (0.9), FP (0.8), TP (0.7): recall [1/2, 1/2, 1], precision [1, 1/2, 2/3], envelope
    # [1, 2/3, 2/3]; r = 0 .. 0.50 (51 values) -> 1, r = 0.51 .. 1 (50 values) -> 2/3.
    dt = [_one([[0, 0, 10, 10], [50, 50, 60, 60], [100, 100, 110, 110]], [0, 0, 0], [0.9, 0.8, 0.7])]
    assert average_precision(gt, dt, 1).mean == pytest.approx((51 + 50 * 2 / 3) / 101, abs=1e-12)


def test_iou_exactly_half_matches() -> None:
    gt = [_one([[0, 0, 10, 10]], [0])]
    assert box_iou(np.array([[0, 0, 10, 5.0]]), gt[0].boxes)[0, 0] == 0.5
    hit = average_precision(gt, [_one([[0, 0, 10, 5]], [0], [1.0])], 1)
    miss = average_precision(gt, [_one([[0, 0, 10, 4.99]], [0], [1.0])], 1)
    assert hit.mean == pytest.approx(1.0, abs=1e-12) and miss.mean == 0.0


def test_equal_iou_goes_to_the_last_gt() -> None:
    # det 1 has IoU 90/110 with both gt and takes the later one (B); det 2 overlaps A by 80/120 and B by
    # 60/140 < 0.5, so it is a TP only under COCO's tie rule.
    gt = [_one([[0, 0, 10, 10], [2, 0, 12, 10]], [0, 0])]
    dt = [_one([[1, 0, 11, 10], [-2, 0, 8, 10]], [0, 0], [0.9, 0.8])]
    iou = box_iou(dt[0].boxes, gt[0].boxes)
    assert iou[0, 0] == iou[0, 1] and iou[1, 1] < 0.5 <= iou[1, 0]
    assert average_precision(gt, dt, 1).mean == pytest.approx(1.0, abs=1e-12)


def test_box_iou_convention() -> None:
    a = np.array([[0, 0, 10, 10], [0, 0, 0, 10]], float)
    b = np.array([[5, 0, 15, 10], [10, 0, 20, 10], [0, 0, 10, 10]], float)
    np.testing.assert_array_equal(box_iou(a, b), [[50 / 150, 0, 1], [0, 0, 0]])
    assert box_iou(np.zeros((0, 4)), b).shape == (0, 3) and box_iou([], b).shape == (0, 3)
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        box_iou(np.zeros(8), b)


def test_box_iou_is_cocos_arithmetic_bit_for_bit() -> None:
    rng = np.random.default_rng(7)
    # boxes across the origin: there COCO's right edge x1 + (x2 - x1) is mostly not x2 itself
    a = np.concatenate([-rng.random((60, 2)) * 500, rng.random((60, 2)) * 400], axis=1)
    b = a[rng.permutation(60)[:25]] + rng.normal(0, 3, (25, 4)) * (rng.random((25, 1)) < 0.8)
    b[:, 2:] = np.maximum(b[:, 2:], b[:, :2])
    ref = [[_ref_iou(_xywh(x), _xywh(y)) for y in b.tolist()] for x in a.tolist()]
    np.testing.assert_array_equal(box_iou(a, b), np.array(ref))


def test_empty_and_no_ground_truth() -> None:
    r = average_precision([], [], 2)
    assert np.isnan(r.per_class).all() and math.isnan(r.mean)
    assert r.to_json() == {"mean": None, "per_class": [None, None], "iou_threshold": 0.5,
                           "max_detections": 100}
    gt = [_one([[0, 0, 1, 1]], [1]), ImageBoxes(np.zeros((0, 4)), np.zeros(0))]
    dt = [ImageBoxes([], []), _one([[0, 0, 1, 1]], [0], [0.5])]
    dt[0].scores = []
    r = average_precision(gt, dt, 2)
    assert math.isnan(r.per_class[0]) and r.per_class[1] == 0.0 and r.mean == 0.0
    json.dumps(r.to_json())


@pytest.mark.parametrize("gt, dt, k, match", [
    ([], [_one([], [], [])], 1, "ground-truth images"),
    ([_one([[0, 0, 1, 1]], [0])], [_one([], [])], 1, "scores is required"),
    ([ImageBoxes(np.zeros((2, 5)), [0, 0])], [_one([], [], [])], 1, r"shape \(N, 4\)"),
    ([_one([[0, 0, 1, 1]], [0, 0])], [_one([], [], [])], 1, "labels must have shape"),
    ([_one([[0, 0, 1, 1]], [1])], [_one([], [], [])], 1, "labels must lie"),
    ([_one([[0, 0, 1, 1]], [0])], [_one([[0, 0, 1, 1]], [-1], [0.5])], 1, "labels must lie"),
    ([ImageBoxes([[0, 0, 1, 1]], [0.5])], [_one([], [], [])], 1, "labels must be integers"),
    ([_one([[0, 0, np.nan, 1]], [0])], [_one([], [], [])], 1, "non-finite"),
    ([_one([[0, 0, 1, 1]], [0])], [_one([[0, 0, np.inf, 1]], [0], [1])], 1, "non-finite"),
    ([_one([[0, 0, 1, 1]], [0])], [_one([[0, 0, 1, 1]], [0], [np.nan])], 1, "scores has non-finite"),
    ([_one([[0, 0, 1, 1]], [0])], [_one([[0, 0, 1, 1]], [0], [1, 2])], 1, "scores must have shape"),
    ([_one([[2, 0, 1, 1]], [0])], [_one([], [], [])], 1, "x2 < x1"),
    ([], [], 0, "num_classes"),
])
def test_invalid_inputs(gt: list, dt: list, k: int, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        average_precision(gt, dt, k)


def test_invalid_parameters() -> None:
    with pytest.raises(ValueError, match="iou_threshold"):
        average_precision([], [], 1, iou_threshold=1.5)
    with pytest.raises(ValueError, match="max_detections"):
        average_precision([], [], 1, max_detections=0)


# --- pycocotools itself, when it happens to be importable -----------------------------------------------


def _coco_ap(gts: list[ImageBoxes], dts: list[ImageBoxes], k: int) -> np.ndarray:
    coco = pytest.importorskip("pycocotools.coco")
    cocoeval = pytest.importorskip("pycocotools.cocoeval")
    anns, results = [], []
    for img, g in enumerate(gts):
        for box, lab in zip(np.asarray(g.boxes).tolist(), np.asarray(g.labels).tolist(), strict=True):
            x, y, w, h = _xywh(box)
            anns.append({"id": len(anns) + 1, "image_id": img + 1, "category_id": int(lab) + 1,
                         "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0})
    for img, d in enumerate(dts):
        for box, lab, sc in zip(np.asarray(d.boxes).tolist(), np.asarray(d.labels).tolist(),
                                np.asarray(d.scores).tolist(), strict=True):
            results.append({"image_id": img + 1, "category_id": int(lab) + 1, "bbox": _xywh(box),
                            "score": sc})
    with contextlib.redirect_stdout(io.StringIO()):
        gt_api = coco.COCO()
        gt_api.dataset = {"images": [{"id": i + 1} for i in range(len(gts))], "annotations": anns,
                          "categories": [{"id": c + 1} for c in range(k)]}
        gt_api.createIndex()
        ev = cocoeval.COCOeval(gt_api, gt_api.loadRes(results), "bbox")
        ev.params.iouThrs = np.array([0.5])
        ev.params.maxDets = [100]
        ev.params.areaRng, ev.params.areaRngLbl = [[0, 1e10]], ["all"]
        ev.evaluate()
        ev.accumulate()
    return ev.eval["precision"][0, :, :, 0, 0]  # (101, K), -1 without gt


def test_matches_pycocotools() -> None:
    """150 random cases against pycocotools' COCOeval, where it is installed (it is not a dependency)."""
    pytest.importorskip("pycocotools")
    compared = 0
    for seed in range(150):
        gts, dts, k = random_case(seed)
        if not gts or not any(len(d.scores) for d in dts):
            continue  # loadRes needs at least one detection
        precision = _coco_ap(gts, dts, k)
        got = average_precision(gts, dts, k)
        has_gt = (precision > -1).all(axis=0)
        assert np.array_equal(has_gt, ~np.isnan(got.per_class)), seed
        np.testing.assert_allclose(got.per_class[has_gt], precision[:, has_gt].mean(axis=0), rtol=0, atol=1e-12)
        if has_gt.any():
            assert abs(got.mean - float(np.mean(precision[precision > -1]))) <= 1e-12, seed
        compared += 1
    assert compared > 100


def test_box_iou_matches_pycocotools_mask_iou() -> None:
    mask = pytest.importorskip("pycocotools.mask")
    rng = np.random.default_rng(11)
    a = np.concatenate([-rng.random((40, 2)) * 500, rng.random((40, 2)) * 400], axis=1)
    b = np.concatenate([rng.random((30, 2)) * 50 - 25, rng.random((30, 2)) * 300 + 25], axis=1)
    xywh = lambda x: [_xywh(r) for r in x.tolist()]  # noqa: E731
    np.testing.assert_array_equal(box_iou(a, b), mask.iou(xywh(a), xywh(b), [0] * len(b)))
