"""Late fusion of per-sample score files, as a package of one concern per module.

``ensemble.py`` is the command (``fusion.cli``); the pieces are usable on their own:

| module | concern |
|---|---|
| ``errors`` | :class:`FusionError`, the one error type |
| ``benchmarks`` | the four NTU benchmarks: reference spellings, test sizes, the papers' numbers |
| ``streams`` | stream names and the published weight presets (EPP-Net's flags and weights) |
| ``spec`` | what to fuse (:class:`FusionSpec`, :class:`StreamSpec`) and its YAML / flag forms |
| ``align`` | naming ``test_i`` keys, labels from names, aligning streams by sample name |
| ``combine`` | the weighted sum of logits and the weight search on validation scores |
| ``metrics`` | top-k, per-class accuracy, confusion counts |
| ``evaluate`` | each stream, pose-only and full fusion of one run, overall and per class |
| ``report`` | the text table, per-class CSV, Markdown paper table and the files of a run |
| ``plots`` | confusion matrix and parsing-gain pictures |
| ``cli`` | the ``ensemble.py`` command line |

A new system contributes its weight preset or benchmark row to ``streams`` / ``benchmarks``; the
alignment, fusion and reports stay one implementation.
"""

from fusion.align import align_streams, labels_from_names, load_streams, read_sample_list, resolve_keys
from fusion.benchmarks import BENCHMARKS, Benchmark, get_benchmark
from fusion.combine import DEFAULT_GRID, fuse_scores, search_weights
from fusion.errors import FusionError
from fusion.evaluate import FusionResult, evaluate_fusion
from fusion.metrics import confusion_matrix, per_class_accuracy, topk_accuracy
from fusion.report import format_report, markdown_table
from fusion.spec import AlignedScores, FusionSpec, StreamScores, StreamSpec, parse_fusion_config, parse_table_config
from fusion.streams import EPPNET_FLAGS, EPPNET_WEIGHTS, PARSING_STREAM, POSE_STREAMS, canonical_stream_name

__all__ = [
    "BENCHMARKS",
    "DEFAULT_GRID",
    "EPPNET_FLAGS",
    "EPPNET_WEIGHTS",
    "PARSING_STREAM",
    "POSE_STREAMS",
    "AlignedScores",
    "Benchmark",
    "FusionError",
    "FusionResult",
    "FusionSpec",
    "StreamScores",
    "StreamSpec",
    "align_streams",
    "canonical_stream_name",
    "confusion_matrix",
    "evaluate_fusion",
    "format_report",
    "fuse_scores",
    "get_benchmark",
    "labels_from_names",
    "load_streams",
    "markdown_table",
    "parse_fusion_config",
    "parse_table_config",
    "per_class_accuracy",
    "read_sample_list",
    "resolve_keys",
    "search_weights",
    "topk_accuracy",
]
