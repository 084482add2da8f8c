"""Box detection average precision ("part AP50"): COCOeval's bbox AP at one IoU threshold, area "all",
``maxDets=100``, for the part detectors; written from the facts below, with no pycocotools dependency.

The facts, as ``cocodataset/cocoapi`` implements them (``PythonAPI/pycocotools/cocoeval.py``:
``computeIoU``, ``evaluateImg``, ``accumulate``, ``summarize``, ``Params``; ``common/maskApi.c``:
``bbIou``; ``PythonAPI/pycocotools/coco.py``: ``loadRes``), with ``iscrowd=0`` and no ignored boxes:

- Per image and category, detections are ordered by ``np.argsort(-score, kind='mergesort')`` (stable: equal
  scores keep their input order) and only the first ``maxDets`` are kept.
- IoU of xywh boxes, no ``+1``: ``iw = min(x+w) - max(x)``, ``ih`` alike; 0 if ``iw <= 0`` or ``ih <= 0``;
  else ``iw*ih / (w_d*h_d + w_g*h_g - iw*ih)``. Our x1y1x2y2 boxes are turned into ``w = x2 - x1`` and the
  right edge recomputed as ``x1 + w``, so the floating-point result is COCO's for ``[x1, y1, w, h]``.
- Matching, per detection in score order: start from ``best = min(t, 1 - 1e-10)``; walk the gt in their
  order, skipping matched ones and those with ``IoU < best``; each remaining gt becomes the match and sets
  ``best`` to its IoU. So IoU ``>= t`` matches, the highest IoU wins, and among equal IoUs the *last* gt.
- Accumulation per category: per-image lists concatenated in image order, then stably sorted by
  ``-score`` (mergesort) again; ``tp``/``fp`` cumulative sums; ``recall = tp / npig`` (``npig``: gt count);
  ``precision = tp / (fp + tp + np.spacing(1))``; precision made non-increasing from the right;
  sampled at ``np.linspace(0, 1, 101)`` via ``np.searchsorted(recall, thr, side='left')``, 0 past the last
  recall. AP is the mean of the 101 samples; a category without gt gets -1 (here NaN) and is left out of
  the mean over categories (``np.mean(s[s > -1])``).

Not modelled: area range "all" is ``[0, 1e10]``; COCO ignores gt and unmatched detections with area above
``1e10`` (a 1e5 x 1e5 box), which part boxes never reach. Boxes with ``x2 < x1`` or ``y2 < y1`` (negative
COCO area) are rejected. Matching is a loop over detections, vectorised over the gt; the rest is NumPy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

RECALL_THRESHOLDS = np.linspace(0.0, 1.0, 101)  # COCOeval Params.recThrs
_EPS = np.spacing(1)


@dataclass
class ImageBoxes:
    """Boxes of one image: ``boxes`` ``(N, 4)`` x1, y1, x2, y2; ``labels`` ``(N,)`` int in
    ``[0, num_classes)``; ``scores`` ``(N,)`` for detections (ignored for ground truth)."""

    boxes: Any
    labels: Any
    scores: Any = None


@dataclass(frozen=True)
class APResult:
    """Per-class AP ``(num_classes,)`` (NaN without ground truth) and their mean over classes with gt."""

    per_class: np.ndarray
    mean: float
    iou_threshold: float = 0.5
    max_detections: int = 100

    def to_json(self) -> dict[str, Any]:
        def num(v: float) -> float | None:
            return None if math.isnan(v) else float(v)

        return {
            "mean": num(self.mean),
            "per_class": [num(v) for v in self.per_class.tolist()],
            "iou_threshold": self.iou_threshold,
            "max_detections": self.max_detections,
        }


def _as_boxes(x: Any, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1 and x.size == 0:
        return x.reshape(0, 4)
    if x.ndim != 2 or x.shape[1] != 4:
        raise ValueError(f"{name} must have shape (N, 4), got {x.shape}")
    return x


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU ``(N, M)`` of x1y1x2y2 boxes ``a`` ``(N, 4)`` and ``b`` ``(M, 4)``, in float64, COCO's convention
    (area ``w * h``, no ``+1``; 0 where the boxes do not overlap or touch only at an edge)."""
    a, b = _as_boxes(a, "a"), _as_boxes(b, "b")
    aw, ah = a[:, 2] - a[:, 0], a[:, 3] - a[:, 1]
    bw, bh = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    iw = (np.minimum((a[:, 0] + aw)[:, None], (b[:, 0] + bw)[None, :])
          - np.maximum(a[:, 0][:, None], b[:, 0][None, :]))
    ih = (np.minimum((a[:, 1] + ah)[:, None], (b[:, 1] + bh)[None, :])
          - np.maximum(a[:, 1][:, None], b[:, 1][None, :]))
    overlap = (iw > 0) & (ih > 0)
    inter = np.where(overlap, iw * ih, 0.0)
    union = (aw * ah)[:, None] + (bw * bh)[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(overlap, inter / union, 0.0)


def _match(iou: np.ndarray, threshold: float) -> np.ndarray:
    """Whether each detection (rows, in score order) is matched to a gt (columns), COCOeval's greedy rule."""
    matched_dt = np.zeros(iou.shape[0], dtype=bool)
    if iou.shape[1] == 0:
        return matched_dt
    start = min(threshold, 1 - 1e-10)
    free = np.ones(iou.shape[1], dtype=bool)
    for d in range(iou.shape[0]):
        row = np.where(free, iou[d], -np.inf)
        best = row.max()
        if best >= start:
            g = iou.shape[1] - 1 - int(np.argmax(row[::-1] == best))  # last gt with the best IoU
            free[g] = False
            matched_dt[d] = True
    return matched_dt


def _check(item: ImageBoxes, index: int, kind: str, num_classes: int,
           need_scores: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    where = f"{kind}[{index}]"
    boxes = np.asarray(item.boxes)
    if boxes.ndim == 1 and boxes.size == 0:
        boxes = boxes.reshape(0, 4)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"{where}.boxes must have shape (N, 4), got {boxes.shape}")
    if boxes.dtype.kind not in "iuf":
        raise ValueError(f"{where}.boxes must be numeric, got dtype {boxes.dtype}")
    boxes = boxes.astype(np.float64)
    if not np.isfinite(boxes).all():
        raise ValueError(f"{where}.boxes has non-finite coordinates")
    if (boxes[:, 2] < boxes[:, 0]).any() or (boxes[:, 3] < boxes[:, 1]).any():
        raise ValueError(f"{where}.boxes has a box with x2 < x1 or y2 < y1 (boxes are x1, y1, x2, y2)")
    n = boxes.shape[0]
    labels = np.asarray(item.labels)
    if labels.shape != (n,):
        raise ValueError(f"{where}.labels must have shape ({n},), got {labels.shape}")
    if labels.dtype.kind == "f" and np.isfinite(labels).all() and (labels == np.round(labels)).all():
        labels = labels.astype(np.int64)
    if n and labels.dtype.kind not in "iu":
        raise ValueError(f"{where}.labels must be integers, got dtype {labels.dtype}")
    labels = labels.astype(np.int64)
    if n and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"{where}.labels must lie in [0, {num_classes}), got {labels.min()}..{labels.max()}")
    if not need_scores:
        return boxes, labels, None
    if item.scores is None:
        raise ValueError(f"{where}.scores is required for detections")
    scores = np.asarray(item.scores)
    if scores.shape != (n,):
        raise ValueError(f"{where}.scores must have shape ({n},), got {scores.shape}")
    if n and scores.dtype.kind not in "iuf":
        raise ValueError(f"{where}.scores must be numeric, got dtype {scores.dtype}")
    scores = scores.astype(np.float64)
    if not np.isfinite(scores).all():
        raise ValueError(f"{where}.scores has non-finite values")
    return boxes, labels, scores


def _class_ap(scores: np.ndarray, tp: np.ndarray, num_gt: int) -> float:
    """COCOeval ``accumulate`` for one class, one IoU threshold, one area range and one maxDets."""
    order = np.argsort(-scores, kind="mergesort")
    tp = tp[order]
    tp_sum = np.cumsum(tp).astype(np.float64)
    fp_sum = np.cumsum(~tp).astype(np.float64)
    recall = tp_sum / num_gt
    precision = tp_sum / (fp_sum + tp_sum + _EPS)
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    idx = np.searchsorted(recall, RECALL_THRESHOLDS, side="left")
    sampled = np.zeros(RECALL_THRESHOLDS.shape[0])
    inside = idx < precision.shape[0]
    sampled[inside] = precision[idx[inside]]
    return float(np.mean(sampled))


def average_precision(ground_truth: Sequence[ImageBoxes], detections: Sequence[ImageBoxes],
                      num_classes: int, iou_threshold: float = 0.5,
                      max_detections: int = 100) -> APResult:
    """COCO-style box AP at one IoU threshold (area "all"); ``ground_truth[i]`` and ``detections[i]`` are
    the same image. Images are taken in the given order, which decides ties in score across images."""
    if len(ground_truth) != len(detections):
        raise ValueError(f"{len(ground_truth)} ground-truth images but {len(detections)} detection images")
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    if isinstance(max_detections, bool) or not isinstance(max_detections, (int, np.integer)) \
            or max_detections < 1:
        raise ValueError(f"max_detections must be a positive int, got {max_detections!r}")
    iou_threshold = float(iou_threshold)
    if not 0.0 <= iou_threshold <= 1.0:
        raise ValueError(f"iou_threshold must lie in [0, 1], got {iou_threshold}")
    num_classes, max_detections = int(num_classes), int(max_detections)

    num_gt = np.zeros(num_classes, dtype=np.int64)
    class_scores: list[list[np.ndarray]] = [[] for _ in range(num_classes)]
    class_tp: list[list[np.ndarray]] = [[] for _ in range(num_classes)]
    for i, (gt, dt) in enumerate(zip(ground_truth, detections, strict=True)):
        g_boxes, g_labels, _ = _check(gt, i, "ground_truth", num_classes, need_scores=False)
        d_boxes, d_labels, d_scores = _check(dt, i, "detections", num_classes, need_scores=True)
        assert d_scores is not None
        num_gt += np.bincount(g_labels, minlength=num_classes)
        for c in np.unique(d_labels).tolist():
            sel = np.flatnonzero(d_labels == c)
            sel = sel[np.argsort(-d_scores[sel], kind="mergesort")][:max_detections]
            iou = box_iou(d_boxes[sel], g_boxes[g_labels == c])
            class_scores[c].append(d_scores[sel])
            class_tp[c].append(_match(iou, iou_threshold))

    per_class = np.full(num_classes, np.nan)
    for c in range(num_classes):
        if num_gt[c] == 0:
            continue
        if not class_scores[c]:
            per_class[c] = 0.0
            continue
        per_class[c] = _class_ap(np.concatenate(class_scores[c]), np.concatenate(class_tp[c]),
                                 int(num_gt[c]))
    valid = per_class[~np.isnan(per_class)]
    mean = float(np.mean(valid)) if valid.size else math.nan
    return APResult(per_class=per_class, mean=mean, iou_threshold=iou_threshold,
                    max_detections=max_detections)
