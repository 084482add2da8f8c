"""The benchmark harness behind ``make bench``.

Each ``benchmarks/bench_*.py`` module registers cases with :func:`case`. A case is a function that
takes no arguments and returns an iterable of :class:`Result` rows; the harness runs every case (or
those matching ``-k``), prints one table and writes it as JSON.

    from benchmarks.harness import Result, case

    @case("fusion")
    def fuse_five_streams():
        ...
        yield Result("fusion 5 x 59477 x 120", seconds, "s")
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

_CASES: dict[str, Callable[[], Iterable[Result]]] = {}


@dataclass(frozen=True)
class Result:
    case: str
    figure: float
    unit: str


def case(name: str) -> Callable:
    """Register a benchmark case under ``name`` (used for ``-k`` selection)."""

    def register(fn: Callable[[], Iterable[Result]]) -> Callable[[], Iterable[Result]]:
        if name in _CASES:
            raise ValueError(f"benchmark case {name!r} is registered twice")
        _CASES[name] = fn
        return fn

    return register


def calls_per_second(fn: Callable[[], object], seconds: float = 2.0) -> float:
    """Calls per second of ``fn`` over about ``seconds`` (after one warm-up call)."""
    fn()
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        calls += 1
    return calls / (time.perf_counter() - start)


def discover() -> dict[str, Callable[[], Iterable[Result]]]:
    package = Path(__file__).parent
    for info in pkgutil.iter_modules([str(package)]):
        if info.name.startswith("bench_"):
            importlib.import_module(f"benchmarks.{info.name}")
    return dict(_CASES)


def format_table(rows: list[Result]) -> str:
    width = max([len("case")] + [len(r.case) for r in rows])
    lines = [f"{'case':<{width}}  {'figure':>12}  unit", f"{'-' * width}  {'-' * 12}  ----"]
    lines += [f"{r.case:<{width}}  {r.figure:>12.4g}  {r.unit}" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the project's benchmarks.")
    parser.add_argument("-k", default="", help="run only cases whose name contains this text")
    parser.add_argument("--out", default="bench_results.json", help="where to write the JSON table")
    args = parser.parse_args(argv)

    rows: list[Result] = []
    failed = []
    for name, fn in sorted(discover().items()):
        if args.k not in name:
            continue
        start = time.perf_counter()
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        try:
            rows.extend(fn())
        except Exception:  # a broken case must not hide the others' figures
            traceback.print_exc()
            failed.append(name)
        print(f"[bench] {name} done in {time.perf_counter() - start:.1f}s", file=sys.stderr, flush=True)

    print(format_table(rows))
    Path(args.out).write_text(json.dumps([asdict(r) for r in rows], indent=2) + "\n")
    print(f"wrote {args.out}")
    if failed:
        print(f"failed cases: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
