"""Stream names and the published fusion presets (which stream gets which weight)."""

from __future__ import annotations

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


def canonical_stream_name(name: str) -> str:
    """``jointmotion``, ``joint_motion``, ``Joint-Motion`` all mean ``joint-motion``; others stay as given."""
    compact = name.lower().replace("_", "").replace("-", "")
    for known in (*POSE_STREAMS, PARSING_STREAM):
        if compact == known.replace("-", ""):
            return known
    return name


def default_weight(stream: str) -> float:
    return EPPNET_WEIGHTS.get(stream, 1.0)
