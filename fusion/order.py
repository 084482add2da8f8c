"""The order of a ``--val_sample`` list, checked wherever the split's order is known.

The list names score rows by position: its ``i``-th name is the sample of ``test_i`` (and of row ``i`` in
the reference's ensemble, which adds files up by position). A list in another order than the one the
score files were written in names every row wrongly and gives a plausible, wrong table. The order is known

* from the benchmark (``--benchmark``): the test split's order of REFERENCE.md §3.6, the order
  ``python -m data.ntu prepare`` writes ``names.txt`` in (``data.ntu.split_order``); a list holding
  samples of other splits is reported too;
* else (no benchmark, or a validation list: a held-out part of training has no benchmark order) from
  the score files keyed by sample name (REFERENCE.md §6: a score file lists its split in order), when
  they all list the same samples in one order; IPP-Net's parsing file, re-ordered by its pair file, is
  left out (``fusion.pairs`` checks it).

A list that differs is one error naming it and the first position where it differs: which name the
known order has there and which the list has. Different sample sets are reported by the alignment
(``fusion.align.align_streams``: how many names are missing and extra, with examples).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from data.ntu import BENCHMARKS as NTU_BENCHMARKS
from fusion.benchmarks import Benchmark
from fusion.errors import FusionError

# Where each field sits in a validated name SsssCcccPpppRrrrAaaa (parsing 60k names stays cheap).
_FIELD = {"setup": slice(1, 4), "camera": slice(5, 8), "subject": slice(9, 12), "action": slice(17, 20)}
SHOWN = 5


def _first_difference(names: Sequence[str], expected: Sequence[str]) -> int:
    return next(i for i, (a, b) in enumerate(zip(names, expected, strict=True)) if a != b)


def check_benchmark_order(names: Sequence[str], source: str, benchmark: Benchmark) -> None:
    """``names`` (already valid NTU names, no repeats) must be test samples of ``benchmark`` in its split order."""
    rules = NTU_BENCHMARKS[benchmark.folder]
    position = {id_: k for k, id_ in enumerate(rules.test_ids)}
    where = _FIELD[rules.key]
    keys, outside = [], []
    for name in names:
        id_ = int(name[where])
        if int(name[_FIELD["setup"]]) > rules.max_setup or int(name[_FIELD["action"]]) > rules.num_classes \
                or id_ not in position:
            outside.append(name)
        else:
            keys.append((position[id_], name))
    if outside:
        shown = ", ".join(outside[:SHOWN]) + (", ..." if len(outside) > SHOWN else "")
        raise FusionError(
            f"{source}: {len(outside)} of {len(names)} names are not samples of the {benchmark.title} test split "
            f"(a test {rules.key}, setup <= {rules.max_setup}, action <= {rules.num_classes}), e.g. {shown}; "
            f"give the test split's list, e.g. <prepared>/{benchmark.folder}/test/names.txt"
        )
    if all(a < b for a, b in zip(keys, keys[1:], strict=False)):
        return
    expected = [name for _, name in sorted(keys)]  # data.ntu.split_order of these names
    i = _first_difference(names, expected)
    raise FusionError(
        f"{source}: not in the {benchmark.title} test split's order (REFERENCE.md §3.6: by {rules.key} in the "
        f"benchmark's list order, then by name): at position {i} (test_{i}) it has {names[i]} where the split "
        f"order has {expected[i]}; rows named by position through it would be misnamed. Give the list in split "
        f"order, e.g. <prepared>/{benchmark.folder}/test/names.txt"
    )


def check_named_order(names: Sequence[str], source: str, named: Mapping[str, Sequence[str]]) -> None:
    """``names`` must be in the order of the score files keyed by name (``{file: keys in file order}``)
    when those all list one order; files holding other samples are left to the alignment."""
    orders = [list(keys) for keys in named.values()]
    if not orders or any(order != orders[0] for order in orders[1:]):
        return  # no score file keyed by name, or they disagree: the order is not known
    known = orders[0]
    if len(known) != len(names) or set(known) != set(names) or known == list(names):
        return
    i = _first_difference(names, known)
    files = ", ".join(named)
    raise FusionError(
        f"{source}: not in the order of {files} (keyed by sample name; a score file lists its split in order, "
        f"REFERENCE.md §6): at position {i} (test_{i}) it has {names[i]} where the score file has {known[i]}; "
        "rows named by position through it would be misnamed. Give the list the score files were written in, "
        "or --benchmark to check it against the split's order"
    )
