"""The part-level action parsing journey as pipeline stages: (synthetic) Kinetics-TPS -> train -> [person and
part detectors -> their AP50 table] -> predict (from the annotations' or the detected boxes) -> evaluate ->
picture. Off by default (``part_parsing: {enabled: false}``), so the NTU journeys are unchanged;
``configs/demo/part_pipeline.yaml`` runs it alone.

Writes ``<out_dir>/kinetics_tps/`` (the synthetic set), ``<out_dir>/runs/<benchmark>/part_parsing/`` (the
training run) and ``<out_dir>/results/<benchmark>/part_parsing/`` (ground-truth and prediction files, the
score as JSON and its acc(t) curve, a picture of the first evaluated video).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from data.synthetic.kinetics_tps import SUMMARY_FILE
from engine.config import ConfigError
from part_parsing.tps import GT_PART_FILE, GT_VID_FILE, PRED_PART_FILE, PRED_VID_FILE, list_videos
from pipeline.core import PROJECT_ROOT, Context, Stage, python, register, scores_done, train_command


@dataclass
class PartParsingStage:
    """Train the coarse-to-fine part parser and score its predictions on a split with annotations."""

    enabled: bool = False
    synthetic: bool = True  # generate a synthetic Kinetics-TPS set first (else: root)
    synthetic_args: list[str] = field(default_factory=list)  # options of python -m data.synthetic.kinetics_tps
    root: str = ""  # a Kinetics-TPS folder (list/, <split>_annotations/, <split>_frames/) when synthetic is off
    split: str = "test"  # the split predicted and scored
    config: str = "configs/demo/part_parsing.yaml"
    overrides: list[str] = field(default_factory=list)  # --set items for the trainer
    # pose-guided detection: train a person and a part detector and predict from their boxes (else the
    # annotations' boxes); with ablation_config, also the part detector without the embedding, and the table
    detectors: bool = False
    person_config: str = "configs/demo/person_detector.yaml"
    part_config: str = "configs/demo/part_detector.yaml"
    ablation_config: str = "configs/demo/part_detector_no_embedding.yaml"  # "" to skip the ablation
    detector_overrides: list[str] = field(default_factory=list)  # --set items for the three detector runs


def part_parsing_stages(ctx: Context) -> list[Stage]:
    cfg, paths = ctx.cfg, ctx.paths
    part = cfg.part_parsing
    if not part.enabled:
        return []
    if not part.synthetic and not part.root:
        raise ConfigError("pipeline: part_parsing.root names no Kinetics-TPS folder "
                          "(and part_parsing.synthetic is off)")
    root = paths.out / "kinetics_tps" if part.synthetic else Path(part.root)
    work_dir, results = paths.run_dir("part_parsing"), paths.results / "part_parsing"
    annotations, frames = root / f"{part.split}_annotations", root / f"{part.split}_frames"
    stages = []
    if part.synthetic:
        stages.append(Stage(
            "part parsing: synthetic data",
            [python("-m", "data.synthetic.kinetics_tps", "--out", root, *part.synthetic_args)],
            done=lambda: (root / SUMMARY_FILE).is_file(),
        ))
    stages.append(Stage(
        "part parsing: train",
        [train_command(PROJECT_ROOT / "train_part.py", part.config, work_dir, [f"data.root={root}", *part.overrides],
                       cfg.device)],
        done=scores_done(work_dir),
    ))
    detect: list[str | Path] = []
    if part.detectors:
        person_run, part_run = paths.run_dir("person_detector"), paths.run_dir("part_detector")
        runs = [("person detector", part.person_config, person_run), ("part detector", part.part_config, part_run)]
        rows = [f"with embedding={part_run}"]  # the AP50 table's rows: the part detectors
        if part.ablation_config:
            ablation_run = paths.run_dir("part_detector_no_embedding")
            runs.append(("part detector without embedding", part.ablation_config, ablation_run))
            rows.append(f"without embedding={ablation_run}")
        for label, config, run in runs:
            stages.append(Stage(f"part parsing: {label}", [train_command(
                PROJECT_ROOT / "train_part_detector.py", config, run, [f"data.root={root}", *part.detector_overrides],
                cfg.device)], done=scores_done(run)))
        table = results / "part_detection.md"
        stages.append(Stage("part parsing: detector table", [python(
            "-m", "part_parsing", "table", *(x for row in rows for x in ("--run", row)), "--out", table)],
            done=table.is_file))
        detect = ["--person-detector", person_run, "--part-detector", part_run,
                  "--keypoints", root / f"{part.split}_keypoints.pkl"]
    predicted = [results / PRED_VID_FILE, results / PRED_PART_FILE]
    stages.append(Stage(
        "part parsing: predict",
        [python("-m", "part_parsing", "predict", "--config", work_dir / "config.yaml",
                "--weights", work_dir / "checkpoints" / "last.pt", "--frames", frames, "--annotations", annotations,
                "--out", results, "--device", cfg.device, *detect)],
        done=lambda: all(p.is_file() for p in predicted),
    ))
    stages.append(Stage(
        "part parsing: evaluate",
        [python("-m", "part_parsing", "gt", "--annotations", annotations, "--lists", root / "list", "--out", results),
         python("-m", "part_parsing", "evaluate", "--gt-vid", results / GT_VID_FILE, "--gt-part",
                results / GT_PART_FILE, "--pred-vid", predicted[0], "--pred-part", predicted[1],
                "--json", results / "score.json", "--curve", results / "score_curve.png")],
    ))
    first = list_videos(annotations)[0][1] if annotations.is_dir() else ""
    pictures = [python("-m", "part_parsing", "show", "--annotations", annotations, "--video", first, "--frames",
                       frames, "--pred-part", predicted[1], "--out", results / f"{first}.png")] if first else []
    if first and part.detectors:
        pictures.append(python("-m", "part_parsing", "crops", "--annotations", annotations, "--frames", frames,
                               "--keypoints", root / f"{part.split}_keypoints.pkl", "--video", first,
                               "--out", results / f"{first}_crops.png"))
    stages.append(Stage("part parsing: picture", pictures))
    return stages


register(50, part_parsing_stages, section="part_parsing", section_cls=PartParsingStage)
