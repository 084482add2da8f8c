"""The pipeline's config (the shared keys plus every system's section), stage building and running.

The config class is assembled from the registered contributions: the shared keys below, then one
section per system (``synthetic``, ``prepare``, ``parser``, ``pose``, ``parsing_branch``, ``fusion``,
and whatever new systems add). Every YAML key is checked as in the trainers' configs.
"""

from __future__ import annotations

import dataclasses
import importlib
import shlex
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any

from pipeline.core import PROJECT_ROOT, Context, Paths, Stage, contributions

# Top-level packages are searched for a ``stages.py``; folders that are not systems are skipped.
_NOT_SYSTEMS = {"tests", "benchmarks", "configs", "docs", "pipeline", "demo_output"}


def discover() -> list[str]:
    """Import every ``<package>/stages.py`` of the project so that it registers; returns their names."""
    found = []
    for path in sorted(PROJECT_ROOT.glob("*/stages.py")):
        package = path.parent.name
        if package in _NOT_SYSTEMS or package.startswith(".") or not (path.parent / "__init__.py").is_file():
            continue
        importlib.import_module(f"{package}.stages")
        found.append(f"{package}.stages")
    return found


@dataclass
class SharedConfig:
    """The keys every pipeline has: where it writes, which benchmark, which device, the input folders."""

    out_dir: str = "demo_output"
    benchmark: str = "ntu60-xsub"
    device: str = "auto"
    skeletons: list[str] = field(default_factory=list)  # folders of .skeleton files (real data)
    videos: str = ""  # folder of <name>_rgb.avi; parsed into parsing maps when the parser stage is on
    parsing_maps: str = ""  # folder of <name>.npy the parsing branch trains on; default: the parser's output


def _config_class() -> type:
    discover()
    sections = [
        (c.section, c.section_cls, field(default_factory=c.section_cls))
        for c in contributions() if c.section and c.section_cls is not None
    ]
    return dataclasses.make_dataclass("PipelineConfig", sections, bases=(SharedConfig,))


PipelineConfig: Any = _config_class()


def build_stages(cfg: Any) -> list[Stage]:
    """Every stage of every system, in journey order."""
    paths = Paths(cfg)
    for c in contributions():
        if c.configure is not None:
            c.configure(cfg, paths)
    context = Context(cfg, paths, [])
    for c in contributions():
        context.stages.extend(c.build(context))
    return context.stages


def run_pipeline(cfg: Any, only: list[str] | None = None) -> None:
    # Later stages read what earlier ones wrote (e.g. the first test sample), so stages are built lazily.
    names = [s.name for s in build_stages(cfg)]
    for index, name in enumerate(names):
        stage = build_stages(cfg)[index]
        if only and not any(word in name for word in only):
            continue
        if stage.done():
            print(f"\n== {name}: complete, skipped", flush=True)
            continue
        print(f"\n== {name}" + (f" ({stage.note})" if stage.note else ""), flush=True)
        start = time.perf_counter()
        for cmd in stage.commands:
            print("$ " + shlex.join(cmd), flush=True)
            result = subprocess.run(cmd)
            if result.returncode != 0:
                raise SystemExit(f"pipeline: stage '{name}' failed (exit {result.returncode}); "
                                 "fix the cause and run the pipeline again: finished stages are skipped")
        print(f"== {name}: {time.perf_counter() - start:.0f}s", flush=True)
    results = Paths(cfg).results
    for report in sorted(results.glob("report_*.txt")):
        print("\n" + report.read_text().rstrip(), flush=True)
    print(f"\nDone. Results, tables and pictures: {results}/", flush=True)
