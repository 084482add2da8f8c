"""The shape of the house: no import cycles among the project's modules, no oversized modules,
and every system's pipeline stages found without a central list."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SKIP_DIRS = {"tests", ".venv", ".git", "configs", "docs", "demo_output", "work_dirs", "build"}
MAX_LINES = 500
LONG_MODULE_REASON = "Longer than 500 lines because"


@functools.cache
def project_modules() -> dict[str, Path]:
    """Dotted module name -> file, for every Python file of the project outside tests."""
    files = [p for p in ROOT.glob("*.py")]
    for top in ROOT.iterdir():
        if top.is_dir() and top.name not in SKIP_DIRS and not top.name.startswith(".") and "egg-info" not in top.name:
            files += top.rglob("*.py")
    modules = {}
    for path in sorted(files):
        parts = path.relative_to(ROOT).parts
        if len(parts) > 1 and not (ROOT / parts[0] / "__init__.py").is_file():
            continue
        name = ".".join(parts)[: -len(".py")]
        modules[name.removesuffix(".__init__")] = path
    return modules


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imported_modules(path: Path, name: str, modules: dict[str, Path]) -> set[str]:
    """Project modules ``name`` imports anywhere in its file (functions included; not TYPE_CHECKING)."""
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            skipped.update(id(n) for n in ast.walk(node) if n is not node)
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # ``from pkg import mod`` imports the module pkg.mod; ``from pkg import name`` imports pkg
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:  # ``import a.b.c`` of a name inside a module
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle as a list of modules (first repeated at the end), or [] when there is none."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return []

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return []


def test_cycle_finder_finds_a_planted_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []


def test_no_import_cycle_among_the_projects_modules() -> None:
    modules = project_modules()
    assert {"engine.trainer", "fusion.cli", "data.ntu", "pipeline.runner", "ensemble"} <= set(modules)
    graph = {name: imported_modules(path, name, modules) for name, path in modules.items()}
    assert "data.prepare" in graph["data.ntu.__main__"]  # function-level imports count too
    cycle = find_cycle(graph)
    assert not cycle, "import cycle: " + " -> ".join(cycle)


@pytest.mark.parametrize("name", sorted(project_modules()))
def test_no_module_over_500_lines_without_a_reason(name: str) -> None:
    path = project_modules()[name]
    lines = path.read_text().count("\n")
    docstring = ast.get_docstring(ast.parse(path.read_text())) or ""
    assert lines <= MAX_LINES or LONG_MODULE_REASON in docstring, (
        f"{path.relative_to(ROOT)} has {lines} lines; split it, or say '{LONG_MODULE_REASON} ...' in its docstring")


def test_every_systems_stages_register_themselves() -> None:
    from pipeline.core import contributions
    from pipeline.runner import PipelineConfig, discover

    found = discover()
    systems = {"data", "parsing", "pose_branch", "parsing_branch", "fusion"}
    assert {f"{system}.stages" for system in systems} <= set(found)
    sections = {c.section for c in contributions() if c.section}
    assert {"synthetic", "prepare", "parser", "pose", "parsing_branch", "fusion"} <= sections
    cfg = PipelineConfig()
    assert all(hasattr(cfg, section) for section in sections)
    orders = [c.order for c in contributions()]
    assert orders == sorted(orders)


def test_a_journey_without_score_streams_has_no_fuse_stage() -> None:
    from pipeline.runner import PipelineConfig, build_stages

    cfg = PipelineConfig()
    cfg.prepare.enabled, cfg.parser.enabled, cfg.parsing_branch.enabled = False, False, False
    cfg.pose.streams = []
    assert "fuse" not in [stage.name for stage in build_stages(cfg)]
