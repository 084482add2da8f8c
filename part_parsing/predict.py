"""From a trained model to the official prediction files: ``pred_vid_result.json`` and ``pred_part_result.json``.

    python -m part_parsing predict --config RUN/config.yaml --weights RUN/checkpoints/last.pt \\
        --frames test_frames --annotations test_annotations --out DIR [--boxes boxes.json]

The model predicts the video's class, then a state for every body part of every segment (coarse to fine,
:func:`part_parsing.labels.decode_segments`). The boxes are given: the persons' and parts' boxes of
``--annotations`` (ground truth), or those of ``--boxes``, a file in the evaluation files' tree
(``{video: {"img_NNNNN.json": {"humans": [{"box": B, "parts": {part: {"box": B or [B, ...]}}}]}}}``; a part
may have up to 5 boxes, a detector's proposals, and ``verb`` keys are ignored, so a ``gt_part_result.json``
works too). Each part box becomes a proposal with its segment's predicted state. Only the scored frames
(1, 6, 11, ...: ``xiadingZ/Kinetics-TPS-evaluation`` README) are written; the person tubes are cut from the
same boxes. The vocabulary of the classifiers comes from the training split of ``--config``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from engine.checkpoint import load_model_weights
from engine.config import load_config
from engine.task import move_to
from part_parsing.clips import BoxedHuman, PartClips, VideoSource, count_frames, pad_segments, source_from_annotations
from part_parsing.labels import GROUP_PARTS, Vocabulary, decode_segments, predict_class
from part_parsing.segments import SegmentLabel
from part_parsing.task import PartExperiment, PartParsingNet, clip_spec, vocabulary
from part_parsing.tps import (
    BODY_PARTS,
    MAX_PROPOSALS,
    SCORED_FRAME_STEP,
    PredictedHuman,
    Proposal,
    TPSFormatError,
    describe,
    field_name,
    frame_index,
    is_box,
    iter_videos,
    prediction_frame,
    read_json,
    write_evaluation_files,
)


def read_boxes(path: str | Path) -> dict[str, dict[int, tuple[BoxedHuman, ...]]]:
    """A boxes file (module docstring) -> ``{video: {frame index: persons}}``."""
    content = read_json(path)

    def fail(problem: str, *keys: str | int) -> TPSFormatError:
        return TPSFormatError(path, field_name(*keys) or "top level", problem)

    if type(content) is not dict:
        raise fail(f"expected an object of videos, found {describe(content)}")
    videos: dict[str, dict[int, tuple[BoxedHuman, ...]]] = {}
    for video, frames in content.items():
        if type(frames) is not dict:
            raise fail(f"expected an object of frames, found {describe(frames)}", video)
        videos[video] = {}
        for frame_name, frame in frames.items():
            index = frame_index(f"{path}/{frame_name}")
            humans = frame.get("humans") if type(frame) is dict else None
            if type(humans) is not list:
                raise fail("expected {\"humans\": [...]}", video, frame_name)
            persons = []
            for h, human in enumerate(humans):
                if type(human) is not dict or not is_box(human.get("box")):
                    raise fail("expected a person with a box [x1, y1, x2, y2]", video, frame_name, "humans", h)
                parts = human.get("parts", {})
                if type(parts) is not dict:
                    raise fail(f"expected an object, found {describe(parts)}", video, frame_name, "humans", h, "parts")
                boxed = {}
                for name, part in parts.items():
                    keys = (video, frame_name, "humans", h, "parts", name)
                    if name not in BODY_PARTS:
                        raise fail(f"not one of the body parts {', '.join(BODY_PARTS)}", *keys)
                    box = part.get("box") if type(part) is dict else None
                    boxes = [box] if is_box(box) else box
                    if type(boxes) is not list or not 1 <= len(boxes) <= MAX_PROPOSALS or not all(map(is_box, boxes)):
                        raise fail(f"expected a box or 1-{MAX_PROPOSALS} boxes, found {describe(box)}", *keys, "box")
                    boxed[name] = tuple(tuple(b) for b in boxes)
                persons.append(BoxedHuman(tuple(human["box"]), boxed))
            videos[video][index] = tuple(persons)
    return videos


def _frames_dir(frames_root: Path, action: str, video: str) -> Path:
    """``<root>/<class>/<video>/`` (any class when it is unknown) or ``<root>/<video>/``."""
    candidates = ([frames_root / action / video] if action else sorted(frames_root.glob(f"*/{video}")))
    return next((c for c in candidates if c.is_dir()), frames_root / video)


def prediction_sources(frames_root: str | Path, annotations: str | Path | None = None,
                       boxes: str | Path | None = None) -> list[VideoSource]:
    """The videos to predict: those of ``annotations`` (their boxes, or those of ``boxes`` when given), else
    those of ``boxes``."""
    if annotations is None and boxes is None:
        raise ValueError("predict needs --annotations, --boxes or both")
    frames_root = Path(frames_root)
    given = read_boxes(boxes) if boxes is not None else {}
    if annotations is None:
        folders = {name: _frames_dir(frames_root, "", name) for name in given}
        return [VideoSource(name, "", folders[name], count_frames(folders[name]), humans)
                for name, humans in given.items()]
    sources = [source_from_annotations(v, _frames_dir(frames_root, v.action, v.name)) for v in iter_videos(annotations)]
    if boxes is None:
        return sources
    missing = [s.name for s in sources if s.name not in given]
    if missing:
        raise ValueError(f"{boxes}: no boxes for video {missing[0]!r} of {annotations}")
    return [VideoSource(s.name, s.action, s.frames_dir, s.num_frames, given[s.name]) for s in sources]


@torch.no_grad()
def predict_segments(model: PartParsingNet, dataset: PartClips, vocab: Vocabulary, *, batch_size: int,
                     device: torch.device) -> list[tuple[str, list[SegmentLabel]]]:
    """Per video of ``dataset``: the predicted class and every segment's part states."""
    model.eval().to(device)
    loader = DataLoader(dataset, batch_size=batch_size, collate_fn=pad_segments)
    results, start = [], 0
    for inputs, _ in tqdm(loader, desc="predict", leave=False, dynamic_ncols=True):
        output = {k: v.float().cpu().numpy() for k, v in model(move_to(inputs, device)).items()}
        for n in range(len(output["video"])):
            action = predict_class(output["video"][n], vocab)
            bounds = dataset.bounds[start + n]
            logits = {g: output[f"part_{g}"][n, :len(bounds)] for g in GROUP_PARTS}
            results.append((action, decode_segments(action, bounds, logits, vocab)))
        start += len(output["video"])
    return results


def prediction_files(sources: Sequence[VideoSource], predictions: Sequence[tuple[str, Sequence[SegmentLabel]]]
                     ) -> tuple[dict[str, str], dict[str, Any]]:
    """``(pred_vid_result, pred_part_result)``: each scored frame's persons with their part boxes as
    proposals of the state predicted for the frame's segment."""
    pred_vid: dict[str, str] = {}
    pred_part: dict[str, Any] = {}
    for source, (action, segments) in zip(sources, predictions, strict=True):
        pred_vid[source.name] = action
        frames = {}
        for index in sorted(source.humans):
            if (index - 1) % SCORED_FRAME_STEP:
                continue
            segment = next((s for s in segments if s.start <= index <= s.end), None)
            if segment is None:
                raise ValueError(f"video {source.name!r}: boxes for frame {index}, but {source.frames_dir} has "
                                 f"{source.num_frames} frames")
            frames[f"img_{index:05d}.json"] = prediction_frame([
                PredictedHuman(h.box, {name: [Proposal(box, segment.states[name]) for box in boxes]
                                       for name, boxes in h.parts.items()})
                for h in source.humans[index]])
        pred_part[source.name] = frames
    return pred_vid, pred_part


def run_predict(config: str | Path, weights: str | Path, frames: str | Path, out: str | Path, *,
                annotations: str | Path | None = None, boxes: str | Path | None = None,
                overrides: Sequence[str] = (), device: str = "auto", batch_size: int = 0) -> tuple[Path, Path]:
    """The ``predict`` command: build the model of ``config``, load ``weights``, write the two files."""
    cfg = load_config(PartExperiment, config, list(overrides))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    vocab = vocabulary(cfg)
    model = PartParsingNet(cfg, vocab)
    load_model_weights(model, weights)
    sources = prediction_sources(frames, annotations, boxes)
    dataset = PartClips(sources, clip_spec(cfg.data), train=False)
    predictions = predict_segments(model, dataset, vocab, batch_size=batch_size or cfg.train.eval_batch_size,
                                   device=torch.device(device))
    return write_evaluation_files(out, *prediction_files(sources, predictions), prediction=True)

