"""The whole journey in one command: data, parsing maps, every system's streams, fusion, pictures.

    python -m pipeline configs/demo/pipeline.yaml
    python -m pipeline configs/ntu60-xsub/pipeline.yaml --only fuse

Each stage runs the same command a user would type (it is printed first), in order. A stage whose
outputs are complete is skipped, a training run that was interrupted is resumed, so running the
pipeline again after a crash continues where it stopped. Point it at real NTU data with a config
whose ``skeletons`` / ``videos`` / ``parsing_maps`` name the real folders (see configs/ and README).

The stages are not listed here: each system contributes its own from ``<package>/stages.py`` through
:func:`pipeline.core.register` (see ``pipeline/core.py``). The package is imported lazily so that a
system's ``stages.py`` can import :mod:`pipeline.core` without loading every other system.
"""

from typing import Any

__all__ = ["PipelineConfig", "build_stages", "main", "run_pipeline"]


def __getattr__(name: str) -> Any:
    if name in ("PipelineConfig", "build_stages", "run_pipeline"):
        from pipeline import runner

        return getattr(runner, name)
    if name == "main":
        from pipeline.__main__ import main

        return main
    raise AttributeError(f"module 'pipeline' has no attribute {name!r}")
