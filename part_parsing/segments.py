"""Segment-level part-state labels: the fine stage of the coarse-to-fine framework.

The framework predicts the video's class first, then part states from segment-level features (Chen et al.,
"Part-level Action Parsing via a Pose-guided Coarse-to-Fine Framework", ISCAS 2022). A segment's label for a
part is the part's most frequent state over the segment's annotated frames (3 s segments in the paper),
named ``"(action) part: state"``; one classifier per part group, left and right together, as the baseline's
``csn_{head,hip,arm,hand,leg,foot}`` configs (``SheldongChen/A-Baseline-...: mmaction_202108/configs/
parthuman/``, 55/78/334/276/315/173 classes on the release). The label therefore names the group
(``"(squat) leg: bend"``): the side is known from the part detector.

The published code does not include the script that makes these labels, so the tie rule is ours: among
states seen equally often, the one seen first in the segment (frame order, then the file's order of
humans) wins. It is what ``collections.Counter.most_common`` does, the natural transcription of "most
frequent", and it does not depend on the vocabulary's order. States are pooled over the persons of a
frame, since the annotations carry no track identities.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from part_parsing.tps import PART_GROUPS, Video, part_group

SEGMENT_SECONDS = 3.0  # the paper's segment length
_LABEL = re.compile(r"^\((?P<action>.+)\) (?P<part>[^:]+): (?P<state>.+)$")


@dataclass(frozen=True)
class SegmentLabel:
    """Frames ``start..end`` (1-based, inclusive) and, per part seen there, its most frequent state."""

    start: int
    end: int
    states: dict[str, str]


def segment_length(num_frames: int, *, seconds: float | None = None, frames: int | None = None,
                   fps: float | None = None) -> int:
    """Frames per segment from ``frames``, or ``seconds`` at ``fps``; at most the whole video, which is
    also the length when neither is given."""
    if frames is not None and seconds is not None:
        raise ValueError("give the segment length in frames or in seconds, not both")
    if seconds is not None:
        if fps is None or fps <= 0 or seconds <= 0:
            raise ValueError(f"a segment of {seconds} s needs a positive fps and length, got fps={fps}")
        frames = max(1, round(seconds * fps))
    if frames is not None and frames < 1:
        raise ValueError(f"segments must be at least 1 frame long, got {frames}")
    return min(frames or num_frames, num_frames)


def segment_bounds(num_frames: int, length: int) -> list[tuple[int, int]]:
    """``[(1, length), (length + 1, 2 * length), ...]`` up to ``num_frames``; the last may be shorter."""
    if num_frames < 1 or length < 1:
        raise ValueError(f"need at least one frame and a positive length, got {num_frames} and {length}")
    return [(start, min(start + length - 1, num_frames)) for start in range(1, num_frames + 1, length)]


def most_frequent(states: Iterable[str]) -> str:
    """The most frequent state; among equals, the first seen."""
    return Counter(states).most_common(1)[0][0]


def segment_labels(video: Video, num_frames: int, length: int) -> list[SegmentLabel]:
    """The segments of a video of ``num_frames`` frames, ``length`` frames each (:func:`segment_length`)."""
    segments = []
    for start, end in segment_bounds(num_frames, length):
        seen: dict[str, list[str]] = {}
        for frame in video.frames:
            if start <= frame.index <= end:
                for human in frame.humans:
                    for part in human.parts.values():
                        seen.setdefault(part.name, []).append(part.state)
        segments.append(SegmentLabel(start, end, {name: most_frequent(states) for name, states in seen.items()}))
    return segments


def part_state_label(action: str, part: str, state: str) -> str:
    """``"(action) group: state"`` for a body part (``left_leg`` names the group ``leg``)."""
    return f"({action}) {part_group(part)}: {state}"


def parse_part_state_label(label: str) -> tuple[str, str, str]:
    """``"(squat) leg: bend" -> ("squat", "leg", "bend")``."""
    match = _LABEL.match(label)
    if not match:
        raise ValueError(f"{label!r} is not a part-state label '(action) part: state'")
    return match["action"], match["part"], match["state"]


def label_vocabulary(videos: Iterable[tuple[str, Sequence[SegmentLabel]]]) -> dict[str, tuple[str, ...]]:
    """``{group: sorted labels}`` seen in ``(action, segments)`` pairs: one classifier's classes per group."""
    labels: dict[str, set[str]] = {group: set() for group in PART_GROUPS}
    for action, segments in videos:
        for segment in segments:
            for part, state in segment.states.items():
                labels.setdefault(part_group(part), set()).add(part_state_label(action, part, state))
    return {group: tuple(sorted(found)) for group, found in labels.items()}
