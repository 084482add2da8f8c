"""The classes of the coarse-to-fine classifiers, and segment labels to targets and back.

The video classifier has one class per action (the annotation tree's class folders). Each part group's
classifier has the group's ``"(action) group: state"`` labels (:func:`part_parsing.segments.label_vocabulary`;
55/78/334/276/315/173 of them for head/hip/arm/hand/leg/foot on the release, ``SheldongChen/A-Baseline-...:
mmaction_202108/configs/parthuman/csn_*/ipcsn_*.py``, ``num_classes``) and one output per side: ``arm`` predicts
``left_arm`` and ``right_arm``, ``head`` only itself.

Coarse to fine (Chen et al., ISCAS 2022: the video's class first, then the part states): a part's state is
the best of its group's labels whose action is the predicted class; a group that never saw that action in
training falls back to its best label of any action.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from part_parsing.segments import SegmentLabel, label_vocabulary, parse_part_state_label, part_state_label
from part_parsing.tps import BODY_PARTS, PART_GROUPS, part_group

# The parts each group's classifier predicts, one output each, in BODY_PARTS order (left before right).
GROUP_PARTS = {group: tuple(p for p in BODY_PARTS if part_group(p) == group) for group in PART_GROUPS}
ABSENT = -1  # no such part in the segment: no loss, not counted
UNSEEN = -2  # a label the training set never had: no loss, counted as wrong


@dataclass(frozen=True)
class Vocabulary:
    """``classes``: the video classes, sorted; ``labels``: per group, its sorted part-state labels."""

    classes: tuple[str, ...]
    labels: Mapping[str, tuple[str, ...]]
    _index: dict[str, dict[str, int]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {g: {label: i for i, label in enumerate(ls)}
                                            for g, ls in self.labels.items()})

    def label_index(self, group: str, label: str) -> int:
        return self._index[group].get(label, UNSEEN)

    def class_index(self, action: str) -> int:
        return self.classes.index(action)


def build_vocabulary(videos: Iterable[tuple[str, Sequence[SegmentLabel]]]) -> Vocabulary:
    """The vocabulary of ``(action, segments)`` pairs, e.g. a training split's."""
    videos = list(videos)
    labels = label_vocabulary(videos)
    return Vocabulary(tuple(sorted({action for action, _ in videos})), {g: labels[g] for g in PART_GROUPS})


def encode_segments(action: str, segments: Sequence[SegmentLabel], vocab: Vocabulary) -> dict[str, np.ndarray]:
    """Per group, the label index of each segment and part, int64 ``(S, parts)``; ABSENT / UNSEEN."""
    targets = {g: np.full((len(segments), len(parts)), ABSENT, np.int64) for g, parts in GROUP_PARTS.items()}
    for s, segment in enumerate(segments):
        for part, state in segment.states.items():
            group = part_group(part)
            if group in targets and part in GROUP_PARTS[group]:
                side = GROUP_PARTS[group].index(part)
                targets[group][s, side] = vocab.label_index(group, part_state_label(action, part, state))
    return targets


def predict_class(video_logits: np.ndarray, vocab: Vocabulary) -> str:
    """The video class of logits ``(classes,)``."""
    return vocab.classes[int(np.argmax(video_logits))]


def decode_segments(action: str, bounds: Sequence[tuple[int, int]], part_logits: Mapping[str, np.ndarray],
                    vocab: Vocabulary) -> list[SegmentLabel]:
    """Segment labels (a state for every body part) from each group's logits ``(S, parts, labels)`` under
    the video class ``action``."""
    states: list[dict[str, str]] = [{} for _ in bounds]
    for group, parts in GROUP_PARTS.items():
        labels = vocab.labels[group]
        parsed = [parse_part_state_label(label) for label in labels]
        allowed = np.array([a == action for a, _, _ in parsed], bool)
        logits = np.asarray(part_logits[group], np.float64)
        masked = np.where(allowed, logits, -np.inf) if allowed.any() else logits
        best = masked.argmax(-1)  # (S, parts)
        for s in range(len(bounds)):
            for side, part in enumerate(parts):
                states[s][part] = parsed[int(best[s, side])][2]
    return [SegmentLabel(start, end, found) for (start, end), found in zip(bounds, states, strict=True)]
