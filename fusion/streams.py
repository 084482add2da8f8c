"""Stream names and the published fusion presets (which stream gets which weight)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from fusion.errors import FusionError

POSE_STREAMS = ("joint", "bone", "joint-motion", "bone-motion")
PARSING_STREAM = "parsing"
EPPNET_WEIGHTS = {"joint": 2.0, "bone": 2.0, "joint-motion": 1.0, "bone-motion": 1.0, "parsing": 2.0}
# The reference script's flags, in the order it adds the streams up.
EPPNET_FLAGS = {
    "joint_Score": "joint",
    "bone_Score": "bone",
    "jointmotion_Score": "joint-motion",
    "bonemotion_Score": "bone-motion",
    "parsing_Score": "parsing",
}


def _weights(*rates: float) -> dict[str, float]:
    return dict(zip((*POSE_STREAMS, PARSING_STREAM), map(float, rates), strict=True))


@dataclass(frozen=True)
class WeightPreset:
    """A paper's fusion weights: the same for every benchmark (``"*"``) or one set per benchmark key."""

    name: str
    source: str
    weights: Mapping[str, dict[str, float]]

    def for_benchmark(self, benchmark: str | None) -> dict[str, float]:
        if "*" in self.weights:
            return dict(self.weights["*"])
        if benchmark is None:
            raise FusionError(
                f"--preset {self.name}: its weights depend on the benchmark; give --benchmark "
                f"({', '.join(self.weights)})"
            )
        return dict(self.weights[benchmark])


PRESETS = {
    # liujf69/EPP-Net-Action, Ensemble/Ensemble.py: Rate = [2., 2., 1., 1., 2.] for all four benchmarks
    "epp-net": WeightPreset("epp-net", "liujf69/EPP-Net-Action Ensemble/Ensemble.py", {"*": EPPNET_WEIGHTS}),
    # liujf69/IPP-Net-Parsing, Ensemble/ensemble.py: Rate per benchmark, in the order J, B, JM, BM, parsing
    "ipp-net": WeightPreset(
        "ipp-net",
        "liujf69/IPP-Net-Parsing Ensemble/ensemble.py",
        {
            "NTU60XSub": _weights(6, 6, 4, 4, 8),
            "NTU60XView": _weights(6, 6, 4, 4, 6),
            "NTU120XSub": _weights(7, 7, 3, 3, 5),
            "NTU120XSet": _weights(6, 6, 4, 4, 6),
        },
    ),
}
DEFAULT_PRESET = "epp-net"


def preset_weights(preset: str, benchmark: str | None) -> dict[str, float]:
    """The weights of ``preset`` (a key of :data:`PRESETS`) for a benchmark key such as ``NTU60XSub``."""
    if preset not in PRESETS:
        raise FusionError(f"unknown --preset {preset!r}; expected one of {', '.join(PRESETS)}")
    return PRESETS[preset].for_benchmark(benchmark)


def canonical_stream_name(name: str) -> str:
    """``jointmotion``, ``joint_motion``, ``Joint-Motion`` all mean ``joint-motion``; others stay as given."""
    compact = name.lower().replace("_", "").replace("-", "")
    for known in (*POSE_STREAMS, PARSING_STREAM):
        if compact == known.replace("-", ""):
            return known
    return name


def default_weight(stream: str, weights: Mapping[str, float] = EPPNET_WEIGHTS) -> float:
    return weights.get(stream, 1.0)
