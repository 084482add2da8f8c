"""IPP-Net's fusion: its per-benchmark weights as a preset and its Match_txt pair files, against a plain
transcription of liujf69/IPP-Net-Parsing ``Ensemble/ensemble.py`` (``Cal_Score``, ``swap``)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from ensemble import main
from fusion import FusionError, apply_pairs, preset_weights, read_pair_file
from tests.test_ensemble import STREAMS, dump, fusion_line, labels_of, noisy_logits, ntu_names

IPP_NET_RATES = {  # Ensemble/ensemble.py: Rate per benchmark, J, B, JM, BM, parsing
    "NTU120XSub": (7, 7, 3, 3, 5),
    "NTU120XSet": (6, 6, 4, 4, 6),
    "NTU60XSub": (6, 6, 4, 4, 8),
    "NTU60XView": (6, 6, 4, 4, 6),
}


def write_ipp_net_files(folder: Path, names: list[str], classes: int, seed: int = 0) -> tuple[dict, Path, Path]:
    """CTR-GCN files keyed test_i in the CTR order ``names``, a parsing file keyed by name in sorted order
    (IPP-Net's parsing branch lists its samples sorted), the val_sample list and the pair file."""
    rng = np.random.default_rng(seed)
    labels = labels_of(names)
    paths = {}
    for stream, strength in zip(STREAMS, (2, 2, 1.5, 1.5, 1.8), strict=True):
        logits = noisy_logits(labels, classes, strength, rng)
        if stream == "parsing":
            by_name = dict(zip(names, logits, strict=True))
            paths[stream] = dump(folder / "parsing.pkl", {n: by_name[n] for n in sorted(names)})
        else:
            paths[stream] = dump(folder / f"{stream}.pkl", {f"test_{i}": row for i, row in enumerate(logits)})
    sample_list = folder / "val_sample.txt"
    sample_list.write_text("\n".join(names) + "\n")
    position = {n: j for j, n in enumerate(sorted(names))}
    pairs = folder / "pair.txt"
    pairs.write_text("".join(f"{float(i)} {float(position[n])}\n" for i, n in enumerate(names)))
    return paths, sample_list, pairs


def ipp_net_fusion_accuracy(paths: dict[str, Path], val_sample: Path, pair_file: Path, benchmark: str) -> float:
    """IPP-Net's ensemble.py transcribed: files added up by position, the parsing rows swapped first."""
    rate = IPP_NET_RATES[benchmark]

    def rows(path: Path) -> np.ndarray:
        with path.open("rb") as f:
            return np.stack(list(pickle.load(f).values()))  # the DataFrame transpose: rows in dict order

    parsing = rows(paths["parsing"])[np.loadtxt(pair_file)[:, 1].astype(int)]  # swap()
    final = np.zeros(parsing.shape, dtype=np.float32)
    for stream, r in zip(STREAMS[:4], rate[:4], strict=True):
        final += r * rows(paths[stream])
    final += rate[-1] * parsing
    true_label = np.array([int(name[-3:]) - 1 for name in np.loadtxt(val_sample, dtype=str)])
    return float(np.mean(final.argmax(axis=1) == true_label))


def ctr_order(count: int, classes: int, seed: int, benchmark: str = "NTU60XSub") -> list[str]:
    """Test names in CTR-GCN's order, the split order (cross-subject: grouped by subject, not sorted)."""
    return ntu_names(count, classes, seed=seed, benchmark=benchmark)


def ipp_argv(paths: dict, sample_list: Path, pairs: Path, benchmark: str) -> list[str]:
    argv = ["--preset", "ipp-net", "--benchmark", benchmark]
    argv += [arg for s in STREAMS for arg in (f"--{s}_Score", str(paths[s]))]
    return [*argv, "--val_sample", str(sample_list), "--match_txt", str(pairs)]


@pytest.mark.parametrize(("benchmark", "classes"), [("NTU60XSub", 60), ("NTU60XView", 60), ("NTU120XSub", 120),
                                                    ("NTU120XSet", 120)])
def test_ipp_net_command_line_matches_its_weighted_sum(
    tmp_path: Path, capsys: pytest.CaptureFixture, benchmark: str, classes: int
) -> None:
    names = ctr_order(3 * classes, classes, seed=classes, benchmark=benchmark)
    assert (names != sorted(names)) == benchmark.endswith("XSub")  # XView, XSet: split order is sorted
    paths, sample_list, pairs = write_ipp_net_files(tmp_path, names, classes)
    expected = ipp_net_fusion_accuracy(paths, sample_list, pairs, benchmark)

    assert main(ipp_argv(paths, sample_list, pairs, benchmark)) == 0
    out = capsys.readouterr().out
    assert fusion_line(out)[1] == f"{100 * expected:.2f}%"
    weights = [line.split()[1] for line in out.splitlines() if line.split()[:1] and line.split()[0] in
               ("joint", "bone", "joint-motion", "bone-motion", "parsing")]
    assert weights == [f"{r:.2f}" for r in IPP_NET_RATES[benchmark]]


def test_pair_file_reorders_positional_parsing_scores(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    names = ctr_order(180, 60, seed=1)
    paths, sample_list, pairs = write_ipp_net_files(tmp_path, names, 60)
    with paths["parsing"].open("rb") as f:
        rows = list(pickle.load(f).values())
    positional = dump(tmp_path / "parsing_positional.pkl", {f"test_{j}": row for j, row in enumerate(rows)})
    expected = ipp_net_fusion_accuracy(paths, sample_list, pairs, "NTU60XSub")
    argv = ipp_argv({**paths, "parsing": positional}, sample_list, pairs, "NTU60XSub")
    assert main(argv) == 0
    assert fusion_line(capsys.readouterr().out)[1] == f"{100 * expected:.2f}%"

    # Without the pair file the positional parsing rows would be taken in the wrong order.
    assert main([a for a in argv if a not in ("--match_txt", str(pairs))]) == 0
    assert fusion_line(capsys.readouterr().out)[1] != f"{100 * expected:.2f}%"


def test_pair_file_must_agree_with_named_parsing_scores(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    names = ctr_order(120, 60, seed=2)
    paths, sample_list, pairs = write_ipp_net_files(tmp_path, names, 60)
    lines = pairs.read_text().splitlines()
    lines[0], lines[1] = f"0.0 {lines[1].split()[1]}", f"1.0 {lines[0].split()[1]}"
    pairs.write_text("\n".join(lines) + "\n")
    assert main(ipp_argv(paths, sample_list, pairs, "NTU60XSub")) == 2
    err = capsys.readouterr().err
    assert f"the pair file puts {names[1]} at test position 0, but the sample list has {names[0]}" in err


def test_reading_pair_files(tmp_path: Path) -> None:
    good = tmp_path / "pair.txt"
    good.write_text("0.0 2.0\n1.0 0.0\n2.0 1.0\n")  # IPP-Net's own format: integers written as floats
    np.testing.assert_array_equal(read_pair_file(good), [2, 0, 1])
    good.write_text("0 2\n1 0\n2 1\n\n")
    np.testing.assert_array_equal(read_pair_file(good), [2, 0, 1])
    keys, rows = apply_pairs(["a", "b", "c"], np.arange(3.0)[:, None], read_pair_file(good), "p.pkl")
    assert keys == ["c", "a", "b"] and rows[:, 0].tolist() == [2.0, 0.0, 1.0]
    with pytest.raises(FusionError, match="p.pkl: the pair file has 3 lines for 4 parsing scores"):
        apply_pairs(list("abcd"), np.zeros((4, 2)), read_pair_file(good), "p.pkl")
    for text, message in (
        ("0.0 1.0\n1.0 x\n", "line 2: expected two non-negative integers 'i j', found '1.0 x'"),
        ("0.0 1.5\n1.0 0.0\n", "line 1: expected two non-negative integers"),
        ("0.0 0.0\n2.0 1.0\n", "line 2: first column should be 1, found 2"),
        ("0.0 1.0\n1.0 1.0\n", "the second column is not a permutation of 0..1"),
        ("\n", "expected one 'i j' line per test sample, found none"),
    ):
        bad = tmp_path / "bad.txt"
        bad.write_text(text)
        with pytest.raises(FusionError, match=message):
            read_pair_file(bad)


def test_presets() -> None:
    assert preset_weights("epp-net", None) == {"joint": 2, "bone": 2, "joint-motion": 1, "bone-motion": 1, "parsing": 2}
    for benchmark, rates in IPP_NET_RATES.items():
        assert tuple(preset_weights("ipp-net", benchmark).values()) == rates
    with pytest.raises(FusionError, match="--preset ipp-net: its weights depend on the benchmark"):
        preset_weights("ipp-net", None)


def test_preset_weights_for_score_flags_and_configs(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    names = ntu_names(120, 60, benchmark="NTU60XView")
    paths, sample_list, pairs = write_ipp_net_files(tmp_path, names, 60)
    argv = ["--preset", "ipp-net", "--benchmark", "NTU60XView", "--val_sample", str(sample_list)]
    argv += ["--score", f"joint={paths['joint']}", "--score", f"parsing={paths['parsing']}:1.5"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert [line.split()[:2] for line in out.splitlines() if line.startswith(("joint", "parsing"))] == [
        ["joint", "6.00"], ["parsing", "1.50"]]  # the preset's weight, unless one is given
    assert main(["--preset", "ipp-net", "--score", f"joint={paths['joint']}", "--val_sample", str(sample_list)]) == 2
    assert "--preset ipp-net: its weights depend on the benchmark" in capsys.readouterr().err
    assert main(["--score", f"joint={paths['joint']}", "--val_sample", str(sample_list), "--match_txt",
                 str(pairs)]) == 2
    assert "there is no parsing stream to re-order" in capsys.readouterr().err
