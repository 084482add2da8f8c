"""Late fusion of per-sample score files, as a package of one concern per module.

``ensemble.py`` is the command (``fusion.cli``); the pieces are usable on their own:

| module | concern |
|---|---|
| ``errors`` | :class:`FusionError`, the one error type |
| ``benchmarks`` | the four NTU benchmarks: reference spellings, test sizes, the papers' numbers |
| ``streams`` | stream names and the published weight presets (EPP-Net's, IPP-Net's per benchmark) |
| ``spec`` | what to fuse (:class:`FusionSpec`, :class:`StreamSpec`) and its YAML / flag forms |
| ``pairs`` | IPP-Net's ``Match_txt`` pair files re-ordering the parsing scores |
| ``align`` | naming ``test_i`` keys, labels from names, aligning streams by sample name |
| ``combine`` | the weighted sum of logits, the weight search on validation scores, softmax |
| ``stacking`` | learned fusion: logistic regression on validation scores, applied to test |
| ``metrics`` | top-k, per-class accuracy, confusion counts |
| ``significance`` | bootstrap intervals of a top-1, McNemar's paired test between two rows |
| ``evaluate`` | each stream, pose-only and full fusion of one run, overall and per class |
| ``report`` | the text table, per-class CSV, Markdown paper table and the files of a run |
| ``plots`` | confusion matrix and parsing-gain pictures |
| ``stages`` | the pipeline's fusion stage |
| ``cli`` | the ``ensemble.py`` command line |

A new system contributes its weight preset or benchmark row to ``streams`` / ``benchmarks``; the
alignment, fusion and reports stay one implementation. Every table the package writes gives each top-1
with its bootstrap interval (``significance``); the printed table of the reference command line keeps
the reference's look unless ``--bootstrap`` or ``--compare`` asks for them.
"""

from fusion.align import align_streams, labels_from_names, load_streams, read_sample_list, resolve_keys
from fusion.benchmarks import BENCHMARKS, Benchmark, get_benchmark
from fusion.combine import DEFAULT_GRID, fuse_scores, search_weights, softmax
from fusion.errors import FusionError
from fusion.evaluate import FusionResult, evaluate_fusion
from fusion.metrics import confusion_matrix, per_class_accuracy, topk_accuracy
from fusion.pairs import apply_pairs, read_pair_file
from fusion.report import format_report, markdown_table
from fusion.significance import Bootstrap, McNemar, bootstrap_intervals, mcnemar
from fusion.spec import AlignedScores, FusionSpec, StreamScores, StreamSpec, parse_fusion_config, parse_table_config
from fusion.stacking import Stacking, fit_stacking
from fusion.streams import (
    EPPNET_FLAGS,
    EPPNET_WEIGHTS,
    PARSING_STREAM,
    POSE_STREAMS,
    PRESETS,
    canonical_stream_name,
    preset_weights,
)

__all__ = [
    "BENCHMARKS",
    "DEFAULT_GRID",
    "EPPNET_FLAGS",
    "EPPNET_WEIGHTS",
    "PARSING_STREAM",
    "POSE_STREAMS",
    "PRESETS",
    "AlignedScores",
    "Benchmark",
    "Bootstrap",
    "FusionError",
    "FusionResult",
    "FusionSpec",
    "McNemar",
    "Stacking",
    "StreamScores",
    "StreamSpec",
    "align_streams",
    "apply_pairs",
    "bootstrap_intervals",
    "canonical_stream_name",
    "confusion_matrix",
    "evaluate_fusion",
    "fit_stacking",
    "format_report",
    "fuse_scores",
    "get_benchmark",
    "labels_from_names",
    "load_streams",
    "markdown_table",
    "mcnemar",
    "parse_fusion_config",
    "parse_table_config",
    "per_class_accuracy",
    "preset_weights",
    "read_pair_file",
    "read_sample_list",
    "resolve_keys",
    "search_weights",
    "softmax",
    "topk_accuracy",
]
