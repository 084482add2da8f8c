"""The Kinetics-TPS score: action recognition conditioned on Part State Correctness (PSC).

Computed as ``xiadingZ/Kinetics-TPS-evaluation: eval_detection.py`` (``cal_task_acc`` and ``cal_area``
with ``max_human_iou=0.5, max_part_iou=0.3``) computes it, to the last bit:

- Humans of a frame are matched by ``scipy.optimize.linear_sum_assignment`` on ``1 - IoU``, the IoU matrix
  float32 (boxes cast with ``np.float32``), ``-1`` for boxes that do not overlap, padded with zeros to a
  square; a match is kept if its IoU is ``> 0.5``. IoU counts pixels inclusively (``x2 - x1 + 1``).
- A ground-truth part of a matched human scores ``1 / N_p`` when one of the ``N_p`` proposals of that part
  name has IoU ``>= 0.3`` (float64, same convention) and exactly the ground-truth state; otherwise 0.
- Frame score: sum over its humans / its number of ground-truth parts. A frame without humans, or one
  whose humans have no parts, is left out; but a frame with humans that is missing from the predictions
  scores 0 (even when those humans have no parts: the script skips it before counting parts).
- Video PSC: the frame scores, added in the file's order, over the frames not left out; 1.0 when none is
  left. acc(t): the share of videos with PSC ``>= t`` and the right class; the score is
  ``sum over t = 1/10000 ... 9999/10000 of acc(t) / 10000``, added in that order (the leaderboard shows
  it rounded to 6 decimals, README.md).

Sums run left to right, as the script's loops do, because NumPy's pairwise ``sum`` can differ in the last
bit, and a PSC of exactly ``k / 10000`` decides acc(t) at that threshold. Float32 arithmetic follows
NumPy >= 2 (NEP 50), under which the script itself runs here.

The inputs are read where the script reads them (a predicted human's parts only once it is matched, and
only the part names of its ground-truth human), in one fast pass; if that pass fails, a second walk raises
:class:`~part_parsing.tps.TPSFormatError` naming the file and the field where the script would stop
(``KeyError``, ``AssertionError`` at more than 10 humans or 5 proposals). Stricter than the script: a
predicted part's ``box`` and ``verb`` lists must have the same length, coordinates must be JSON numbers
(``np.float32`` would parse ``"12"``), and ground-truth states must be strings. Videos are those of
``gt_vid_result.json``; every one needs an entry in both prediction files.

The cost is in walking the JSON objects, as in the script; the arithmetic (IoU of all pairs and proposals,
states, sums, the curve) is vectorised and only the per-frame assignment is a loop, over tiny matrices.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from part_parsing.tps import (
    GT_PART_FILE,
    GT_VID_FILE,
    MAX_HUMANS,
    MAX_PROPOSALS,
    PRED_PART_FILE,
    PRED_VID_FILE,
    TPSFormatError,
    describe,
    field_name,
    is_box,
    read_json,
)

_ABSENT = object()  # "no such part": None would be a JSON null
HUMAN_IOU = 0.5
PART_IOU = 0.3
STEPS = 10_000


@dataclass(frozen=True)
class TPSScore:
    """The score, per-video PSC ``(V,)`` and class correctness ``(V,)``, and the curve acc(t) ``(9999,)``."""

    score: float
    videos: tuple[str, ...]
    psc: np.ndarray
    class_correct: np.ndarray
    thresholds: np.ndarray
    accuracy: np.ndarray

    def to_json(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "score_rounded": round(self.score, 6),
            "videos": {v: {"psc": float(p), "class_correct": bool(c)}
                       for v, p, c in zip(self.videos, self.psc, self.class_correct, strict=True)},
            "curve": {"thresholds": self.thresholds.tolist(), "accuracy": self.accuracy.tolist()},
        }


@dataclass(frozen=True)
class SourceNames:
    """File names used in error messages."""

    gt_vid: str = GT_VID_FILE
    gt_part: str = GT_PART_FILE
    pred_vid: str = PRED_VID_FILE
    pred_part: str = PRED_PART_FILE


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of boxes ``a[i]`` and ``b[i]`` (``(N, 4)`` each, float32 or float64, computed in that dtype),
    pixels counted inclusively; ``-1`` where the boxes do not overlap, as the official ``bbox_iou``."""
    one = a.dtype.type(1)
    inter_w = np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]) + one
    inter_h = np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]) + one
    inter = inter_w * inter_h
    area_a = (a[:, 2] - a[:, 0] + one) * (a[:, 3] - a[:, 1] + one)
    area_b = (b[:, 2] - b[:, 0] + one) * (b[:, 3] - b[:, 1] + one)
    overlap = (inter_w > 0) & (inter_h > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = inter / (area_a + area_b - inter)
    return np.where(overlap, iou, -one)


def _ordered_sums(values: np.ndarray, segment: np.ndarray, count: int) -> np.ndarray:
    """``(count,)`` sums of ``values`` grouped by the sorted ``segment`` ids, each added left to right."""
    totals = np.zeros(count)
    if values.size == 0:
        return totals
    starts = np.searchsorted(segment, np.arange(count))
    position = np.arange(values.size) - starts[segment]
    grid = np.zeros((count, int(position.max()) + 1))
    grid[segment, position] = values
    for column in grid.T:  # x + 0.0 == x, so the padding changes no sum
        totals = totals + column
    return totals


def conditioned_accuracy(psc: np.ndarray, correct: np.ndarray, steps: int = STEPS
                         ) -> tuple[np.ndarray, np.ndarray, float]:
    """``(thresholds (steps - 1,), acc(t), area)``: acc(t) is the share of videos with ``psc >= t`` and
    ``correct``, t = 1/steps ... (steps - 1)/steps; area adds ``acc(t) / steps`` in order (``cal_area``)."""
    thresholds = np.arange(1, steps) / steps
    hits = np.sort(psc[correct])
    counts = hits.size - np.searchsorted(hits, thresholds, side="left")
    accuracy = counts / psc.size
    area = float(np.add.accumulate((1.0 / steps) * accuracy)[-1])
    return thresholds, accuracy, area


class _Flat:
    """The scored frames of all videos, flattened in the script's reading order (lists, then arrays)."""

    def __init__(self) -> None:
        self.frame_video: list[int] = []   # (E,) video of each scored frame
        self.frame_keys: list[str] = []    # (E,) its name, "img_NNNNN.json"
        self.gt_start: list[int] = [0]     # (E + 1,) its ground-truth humans
        self.pred_start: list[int] = [0]   # (E + 1,) its predicted humans
        self.gt_boxes: list[list] = []     # (G,)
        self.gt_parts: list[dict] = []     # (G,) the JSON objects, read further once matched
        self.part_counts: list[int] = []   # (G,)
        self.pred_boxes: list[list] = []   # (H,)
        self.pred_humans: list[dict] = []  # (H,) the JSON objects, read further once matched


def _box_array(boxes: list, dtype: type) -> np.ndarray:
    """``(N, 4)`` array of JSON boxes; ``TypeError`` if one is not 4 numbers (``true`` and ``"1"`` are not)."""
    if boxes and set(map(len, boxes)) != {4}:
        raise TypeError("not boxes")
    numbers = list(chain.from_iterable(boxes))
    if not set(map(type, numbers)) <= {int, float}:
        raise TypeError("not boxes")
    # straight from the JSON numbers to the dtype, as np.float32(boxes) in the script
    return np.array(numbers, dtype=dtype).reshape(-1, 4)


def _flatten(gt_vid: Mapping, gt_part: Mapping, pred_vid: Mapping, pred_part: Mapping
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, _Flat]:
    """Read the results in the script's order: ``(class correct (V,), gt frames (V,), frames left out (V,),
    scored frames)``. Fast and silent: a problem raises ``KeyError``/``TypeError``/``AttributeError``, and
    :func:`_check_results` then says which."""
    correct = np.zeros(len(gt_vid), bool)
    gt_frames = np.zeros(len(gt_vid), np.int64)
    left_out = np.zeros(len(gt_vid), np.int64)
    flat = _Flat()
    add_gt, add_parts, add_count = flat.gt_boxes.append, flat.gt_parts.append, flat.part_counts.append
    add_pred, add_pred_human = flat.pred_boxes.append, flat.pred_humans.append
    for v, vid in enumerate(gt_vid):
        correct[v] = gt_vid[vid] == pred_vid[vid]
        frames, predicted = gt_part[vid], pred_part[vid]
        if type(frames) is not dict or type(predicted) is not dict:
            raise TypeError("not frames")
        gt_frames[v] = len(frames)
        for frame, content in frames.items():
            humans = content["humans"]
            if type(humans) is not list:
                raise TypeError("not humans")
            if not humans:
                left_out[v] += 1
                continue
            if frame not in predicted:
                continue  # scores 0 and still counts
            pred_humans = predicted[frame]["humans"]
            if type(pred_humans) is not list or len(pred_humans) > MAX_HUMANS:
                raise TypeError("not humans")
            for human in humans:
                add_gt(human["box"])
                parts = human["parts"]
                if type(parts) is not dict:
                    raise TypeError("not parts")
                add_parts(parts)
                add_count(len(parts))
            for human in pred_humans:
                add_pred(human["box"])
                add_pred_human(human)
            flat.frame_video.append(v)
            flat.frame_keys.append(frame)
            flat.gt_start.append(len(flat.gt_boxes))
            flat.pred_start.append(len(flat.pred_boxes))
    return correct, gt_frames, left_out, flat


def _need(mapping: Any, key: str | int, file: str, *keys: str | int) -> Any:
    """``mapping[key]``, or :class:`TPSFormatError` naming ``file`` and the field ``keys + (key,)``."""
    if type(mapping) is not dict:
        raise TPSFormatError(file, field_name(*keys) or "top level", f"expected an object, found {describe(mapping)}")
    if key not in mapping:
        raise TPSFormatError(file, field_name(*keys, key), "missing field")
    return mapping[key]


def _need_type(value: Any, kind: type, file: str, *keys: str | int) -> Any:
    if type(value) is not kind:
        what = {dict: "an object", list: "a list", str: "a part-state name"}[kind]
        raise TPSFormatError(file, field_name(*keys) or "top level", f"expected {what}, found {describe(value)}")
    return value


def _need_box(value: Any, file: str, *keys: str | int) -> None:
    if not is_box(value):
        raise TPSFormatError(file, field_name(*keys), f"expected [x1, y1, x2, y2], found {describe(value)}")


def _check_results(gt_vid: Any, gt_part: Any, pred_vid: Any, pred_part: Any, src: SourceNames) -> None:
    """Walk what :func:`_flatten` reads; raise :class:`TPSFormatError` at the first problem."""
    for content, file in ((gt_vid, src.gt_vid), (gt_part, src.gt_part), (pred_vid, src.pred_vid),
                          (pred_part, src.pred_part)):
        _need_type(content, dict, file)
    for vid in gt_vid:
        _need(pred_vid, vid, src.pred_vid)
        frames = _need_type(_need(gt_part, vid, src.gt_part), dict, src.gt_part, vid)
        predicted = _need_type(_need(pred_part, vid, src.pred_part), dict, src.pred_part, vid)
        for frame, content in frames.items():
            humans = _need_type(_need(content, "humans", src.gt_part, vid, frame), list, src.gt_part, vid, frame,
                                "humans")
            if not humans or frame not in predicted:
                continue
            keys = (vid, frame, "humans")
            pred_humans = _need_type(_need(predicted[frame], "humans", src.pred_part, vid, frame), list,
                                     src.pred_part, *keys)
            if len(pred_humans) > MAX_HUMANS:
                raise TPSFormatError(src.pred_part, field_name(*keys),
                                     f"{len(pred_humans)} humans: the evaluation allows at most {MAX_HUMANS}")
            for h, human in enumerate(humans):
                _need_box(_need(human, "box", src.gt_part, *keys, h), src.gt_part, *keys, h, "box")
                parts = _need_type(_need(human, "parts", src.gt_part, *keys, h), dict, src.gt_part, *keys, h, "parts")
                for name, part in parts.items():
                    where = (*keys, h, "parts", name)
                    _need_box(_need(part, "box", src.gt_part, *where), src.gt_part, *where, "box")
                    _need_type(_need(part, "verb", src.gt_part, *where), str, src.gt_part, *where, "verb")
            for h, human in enumerate(pred_humans):
                _need_box(_need(human, "box", src.pred_part, *keys, h), src.pred_part, *keys, h, "box")


def _match_humans(flat: _Flat, gt_boxes: np.ndarray, pred_boxes: np.ndarray, threshold: float) -> np.ndarray:
    """``(G,)`` index of the predicted human matched to each ground-truth human, -1 if none."""
    gt_start, pred_start = np.array(flat.gt_start), np.array(flat.pred_start)
    n_gt, n_pred = np.diff(gt_start), np.diff(pred_start)
    pairs = n_gt * n_pred
    pair_start = np.concatenate([[0], np.cumsum(pairs)])
    frame = np.repeat(np.arange(n_gt.size), pairs)
    local = np.arange(pair_start[-1]) - pair_start[frame]
    gt_index = gt_start[frame] + local // np.maximum(n_pred[frame], 1)
    pred_index = pred_start[frame] + local % np.maximum(n_pred[frame], 1)
    iou = box_iou(gt_boxes[gt_index], pred_boxes[pred_index])  # float32, as the script's matrix
    match = np.full(gt_boxes.shape[0], -1, np.int64)
    for e in np.flatnonzero(pairs).tolist():
        g, p = int(n_gt[e]), int(n_pred[e])
        matrix = iou[pair_start[e]:pair_start[e + 1]].reshape(g, p)
        if g == p == 1:
            if matrix[0, 0] > threshold:
                match[gt_start[e]] = pred_start[e]
            continue
        if p > g:  # padding upcasts to float64 and changes the cost dtype, as in the script
            matrix = np.concatenate([matrix, np.full((p - g, p), 0.0)], axis=0)
        elif g > p:
            matrix = np.concatenate([matrix, np.full((g, g - p), 0.0)], axis=1)
        rows, cols = linear_sum_assignment(1 - matrix)
        real = cols < p
        rows, cols = rows[real], cols[real]
        kept = matrix[rows, cols] > threshold
        match[gt_start[e] + rows[kept]] = pred_start[e] + cols[kept]
    return match


def _part_scores(flat: _Flat, match: np.ndarray, threshold: float) -> np.ndarray:
    """``(P,)`` score of each ground-truth part, in order: ``1 / N_p`` if one of the ``N_p`` proposals of the
    matched human's part of that name hits, else 0. Fast and silent like :func:`_flatten`."""
    scored: list[int] = []     # (Q,) index of each ground-truth part with proposals
    gt_boxes: list[list] = []  # (Q,)
    gt_verbs: list[Any] = []   # (Q,)
    counts: list[int] = []     # (Q,) their N_p
    boxes: list[list] = []     # (sum N_p,)
    verbs: list[Any] = []      # (sum N_p,)
    part_start = np.concatenate([[0], np.cumsum(flat.part_counts, dtype=np.int64)]).tolist()
    add_scored, add_gt_box, add_gt_verb, add_count = scored.append, gt_boxes.append, gt_verbs.append, counts.append
    add_boxes, add_verbs = boxes.extend, verbs.extend
    for g in np.flatnonzero(match >= 0).tolist():
        predicted = flat.pred_humans[match[g]]["parts"]
        if type(predicted) is not dict:
            raise TypeError("not parts")
        j = part_start[g]
        for name, part in flat.gt_parts[g].items():
            proposal = predicted.get(name, _ABSENT)
            if proposal is not _ABSENT:
                part_verbs, part_boxes = proposal["verb"], proposal["box"]
                if (type(part_verbs) is not list or type(part_boxes) is not list
                        or len(part_boxes) != len(part_verbs) or len(part_verbs) > MAX_PROPOSALS):
                    raise TypeError("not proposals")
                add_scored(j)
                add_gt_box(part["box"])
                add_gt_verb(part["verb"])
                add_count(len(part_verbs))
                add_boxes(part_boxes)
                add_verbs(part_verbs)
            j += 1
    if not set(map(type, gt_verbs)) <= {str}:
        raise TypeError("not verbs")
    owner = np.repeat(np.arange(len(scored)), counts)
    iou = box_iou(_box_array(gt_boxes, np.float64)[owner], _box_array(boxes, np.float64))
    same = np.fromiter(verbs, dtype=object, count=len(verbs)) == np.array(gt_verbs, dtype=object)[owner]
    hit = np.bincount(owner[(iou >= threshold) & same], minlength=len(scored)) > 0
    scores = np.zeros(int(part_start[-1]))
    scores[np.array(scored, np.int64)[hit]] = 1.0 / np.array(counts, np.int64)[hit]
    return scores


def _check_matched_parts(flat: _Flat, match: np.ndarray, videos: list[str], file: str) -> None:
    """Walk what :func:`_part_scores` reads; raise :class:`TPSFormatError` at the first problem."""
    pred_start = np.array(flat.pred_start)
    for g in np.flatnonzero(match >= 0).tolist():
        p = int(match[g])
        e = int(np.searchsorted(pred_start, p, side="right")) - 1
        keys = (videos[flat.frame_video[e]], flat.frame_keys[e], "humans", p - int(pred_start[e]))
        parts = _need_type(_need(flat.pred_humans[p], "parts", file, *keys), dict, file, *keys, "parts")
        for name in flat.gt_parts[g]:
            if name not in parts:
                continue
            where = (*keys, "parts", name)
            part_verbs = _need_type(_need(parts[name], "verb", file, *where), list, file, *where, "verb")
            part_boxes = _need_type(_need(parts[name], "box", file, *where), list, file, *where, "box")
            if len(part_boxes) != len(part_verbs) or len(part_verbs) > MAX_PROPOSALS:
                raise TPSFormatError(file, field_name(*where), f"{len(part_boxes)} boxes and {len(part_verbs)} "
                                     f"verbs: expected as many of each, at most {MAX_PROPOSALS}")
            for k, box in enumerate(part_boxes):
                _need_box(box, file, *where, "box", k)


def evaluate(gt_vid: Mapping[str, str], gt_part: Mapping[str, Any], pred_vid: Mapping[str, str],
             pred_part: Mapping[str, Any], *, human_iou: float = HUMAN_IOU, part_iou: float = PART_IOU,
             sources: SourceNames | None = None) -> TPSScore:
    """Score predictions (the four loaded JSON files, module docstring) -> :class:`TPSScore`."""
    src = sources or SourceNames()
    try:
        correct, gt_frames, left_out, flat = _flatten(gt_vid, gt_part, pred_vid, pred_part)
        gt_boxes = _box_array(flat.gt_boxes, np.float32)
        pred_boxes = _box_array(flat.pred_boxes, np.float32)
    except (KeyError, TypeError, AttributeError):
        _check_results(gt_vid, gt_part, pred_vid, pred_part, src)
        raise  # the check found nothing: a bug here, not in the files
    videos = list(gt_vid)
    if not videos:
        raise TPSFormatError(src.gt_vid, "top level", "no videos")
    match = _match_humans(flat, gt_boxes, pred_boxes, human_iou)
    try:
        scores = _part_scores(flat, match, part_iou)
    except (KeyError, TypeError, AttributeError):
        _check_results(gt_vid, gt_part, pred_vid, pred_part, src)
        _check_matched_parts(flat, match, videos, src.pred_part)
        raise

    humans, frames = len(flat.gt_boxes), len(flat.frame_video)
    human_sums = _ordered_sums(scores, np.repeat(np.arange(humans), flat.part_counts), humans)
    gt_start = np.array(flat.gt_start)
    frame_sums = _ordered_sums(human_sums, np.repeat(np.arange(frames), np.diff(gt_start)), frames)
    part_start = np.concatenate([[0], np.cumsum(flat.part_counts, dtype=np.int64)])
    frame_parts = np.diff(part_start[gt_start])
    frame_video = np.array(flat.frame_video, np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        frame_scores = np.where(frame_parts > 0, frame_sums / frame_parts, 0.0)
    video_sums = _ordered_sums(frame_scores, frame_video, len(videos))
    no_parts = np.bincount(frame_video[frame_parts == 0], minlength=len(videos))
    counted = gt_frames - left_out - no_parts
    with np.errstate(divide="ignore", invalid="ignore"):
        psc = np.where(counted > 0, video_sums / counted, 1.0)
    thresholds, accuracy, area = conditioned_accuracy(psc, correct)
    return TPSScore(area, tuple(videos), psc, correct, thresholds, accuracy)


def evaluate_files(gt_vid: str | Path, gt_part: str | Path, pred_vid: str | Path, pred_part: str | Path,
                   **options: float) -> TPSScore:
    """:func:`evaluate` on the four JSON files."""
    sources = SourceNames(str(gt_vid), str(gt_part), str(pred_vid), str(pred_part))
    loaded = [read_json(p) for p in (gt_vid, gt_part, pred_vid, pred_part)]
    return evaluate(*loaded, sources=sources, **options)


def write_curve(result: TPSScore, path: str | Path) -> Path:
    """A PNG of acc(t) against the PSC threshold t, the area shaded."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 4), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.plot(result.thresholds, result.accuracy, color="tab:blue")
    axes.fill_between(result.thresholds, result.accuracy, color="tab:blue", alpha=0.2)
    axes.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="PSC threshold t",
             ylabel="videos with PSC >= t and the right class",
             title=f"Kinetics-TPS score {result.score:.6f} ({len(result.videos)} videos)")
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path)
    return Path(path)
