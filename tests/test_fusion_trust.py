"""Results a researcher can trust: bootstrap intervals, McNemar's test, stacking fitted on validation only,
fused probabilities, and the parsing-gain picture that says when no class changed."""

from __future__ import annotations

import math
import pickle
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import binomtest, chi2

import fusion.stacking
from engine.scores import load_scores
from ensemble import main
from fusion import Bootstrap, bootstrap_intervals, evaluate_fusion, fit_stacking, mcnemar, softmax
from fusion.plots import no_change_message, plot_parsing_gain
from fusion.spec import AlignedScores
from tests.test_ensemble import dump, labels_of, noisy_logits, ntu_names


def test_bootstrap_of_all_right_and_all_wrong_is_a_point() -> None:
    intervals = bootstrap_intervals({"right": np.ones(37, bool), "wrong": np.zeros(37, bool)}, Bootstrap(200))
    assert intervals == {"right": (100.0, 100.0), "wrong": (0.0, 0.0)}


def test_bootstrap_of_a_symmetric_case_matches_the_binomial_by_hand() -> None:
    # 5 of 10 right: a resample's right count is Binomial(10, 1/2). P(X <= 1) = 11/1024 = 1.1% and
    # P(X <= 2) = 56/1024 = 5.5% put the 2.5% quantile at 2 of 10, and by symmetry the 97.5% one at 8.
    correct = np.array([True, False] * 5)
    assert bootstrap_intervals({"row": correct}, Bootstrap(20_000, seed=3)) == {"row": (20.0, 80.0)}


def test_bootstrap_is_fixed_by_its_seed_and_shared_by_the_rows() -> None:
    rng = np.random.default_rng(0)
    correct = {"a": rng.random(500) < 0.7, "b": rng.random(500) < 0.6}
    first = bootstrap_intervals(correct, Bootstrap(300, seed=5))
    assert first == bootstrap_intervals(correct, Bootstrap(300, seed=5))
    assert first != bootstrap_intervals(correct, Bootstrap(300, seed=6))
    copy = bootstrap_intervals({**correct, "again": correct["a"]}, Bootstrap(300, seed=5))
    assert copy["a"] == copy["again"]  # every row sees the same resamples
    low, high = first["a"]
    assert low < 100 * correct["a"].mean() < high


def mcnemar_by_hand(only_a: int, only_b: int) -> float:
    """McNemar's p transcribed: exact two-sided binomial below 25 discordant pairs, else the
    continuity-corrected chi-square on one degree of freedom."""
    n = only_a + only_b
    if n < 25:
        return min(1.0, 2 * sum(math.comb(n, i) for i in range(min(only_a, only_b) + 1)) / 2**n)
    return float(chi2.sf((abs(only_a - only_b) - 1) ** 2 / n, df=1))


def paired(only_a: int, only_b: int, both: int = 40, neither: int = 7) -> tuple[np.ndarray, np.ndarray]:
    a = np.array([True] * only_a + [False] * only_b + [True] * both + [False] * neither)
    b = np.array([False] * only_a + [True] * only_b + [True] * both + [False] * neither)
    return a, b


@pytest.mark.parametrize(("only_a", "only_b"), [(0, 0), (2, 9), (12, 12), (10, 30), (3, 40)])
def test_mcnemar_matches_its_formula(only_a: int, only_b: int) -> None:
    result = mcnemar(*paired(only_a, only_b), "A", "B")
    assert (result.only_a, result.only_b) == (only_a, only_b)
    assert result.p_value == pytest.approx(mcnemar_by_hand(only_a, only_b), rel=1e-12)
    assert result.test == ("exact binomial" if only_a + only_b < 25 else "chi-square, continuity-corrected")
    if 0 < only_a + only_b < 25:  # and scipy's exact binomial test agrees
        assert result.p_value == pytest.approx(binomtest(min(only_a, only_b), only_a + only_b).pvalue)
    assert f"{only_a} samples right only in A, {only_b} only in B" in result.describe()


def write_streams(folder: Path, names: list[str], seed: int) -> dict[str, Path]:
    """Pose streams that confuse the class pairs (0, 1) and (2, 3) and a parsing stream that tells them
    apart, as the synthetic twins do."""
    rng = np.random.default_rng(seed)
    labels = labels_of(names)
    twin = labels ^ 1  # 0 <-> 1, 2 <-> 3, ...
    paths = {}
    for stream, strength in (("joint", 3.0), ("bone", 3.0), ("parsing", 1.5)):
        logits = noisy_logits(labels, 10, strength, rng)
        if stream != "parsing":
            logits[np.arange(len(labels)), twin] += strength  # the twin looks just as likely
        paths[stream] = dump(folder / f"{stream}.pkl", dict(zip(names, logits, strict=True)))
    return paths


def score_args(paths: dict[str, Path]) -> list[str]:
    return [arg for stream, path in paths.items() for arg in ("--score", f"{stream}={path}")]


def test_cli_prints_intervals_and_mcnemar(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    names = ntu_names(300, 10)
    paths = write_streams(tmp_path, names, seed=0)
    argv = [*score_args(paths), "--bootstrap", "400", "--compare", "pose fusion", "full fusion"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith(("joint", "pose", "fusion"))}
    assert "95% interval" in out and "400 resamples of the 300 test samples (seed 0)" in out
    assert rows["pose"].startswith("pose fusion") and "of 300 right" in rows["pose"]
    low, high = (float(v) for v in rows["fusion"].split("[")[1].split("]")[0].split(","))
    assert low <= float(rows["fusion"].split()[1].rstrip("%")) <= high
    assert "McNemar pose fusion vs fusion:" in out and "chi-square, continuity-corrected test" in out

    assert main([*score_args(paths), "--compare", "pose fusion", "skeleton"]) == 2
    assert "--compare 'skeleton': not a row of this table" in capsys.readouterr().err


def test_stacking_is_fitted_on_validation_only(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    val_names = ntu_names(400, 10, seed=1, subjects=(1, 21))
    test_names = ntu_names(300, 10, seed=2, subjects=(21, 41))
    (tmp_path / "val").mkdir(), (tmp_path / "test").mkdir()
    val = write_streams(tmp_path / "val", val_names, seed=1)
    test = write_streams(tmp_path / "test", test_names, seed=2)
    # The same test scores under other names, i.e. other labels: what the stacking predicts must not move.
    relabelled = [n[:-3] + f"{(int(n[-3:]) % 10) + 1:03d}" for n in test_names]
    (tmp_path / "relabelled").mkdir()
    for path in test.values():
        with path.open("rb") as f:
            rows = list(pickle.load(f).values())
        dump(tmp_path / "relabelled" / path.name, dict(zip(relabelled, rows, strict=True)))

    fitted_labels = []
    original_fit = fusion.stacking.fit_stacking

    def spy(streams, labels, **kwargs):
        fitted_labels.append(np.array(labels))
        return original_fit(streams, labels, **kwargs)

    monkeypatch.setattr("fusion.cli.fit_stacking", spy)
    val_args = [arg for s, p in val.items() for arg in ("--val-score", f"{s}={p}")]
    probabilities = {}
    for folder in ("test", "relabelled"):
        out_file = tmp_path / f"{folder}_fused.pkl"
        paths = {s: tmp_path / folder / f"{s}.pkl" for s in val}
        argv = [*score_args(paths), "--stack", *val_args, "--save-fused", str(out_file), "--bootstrap", "100"]
        assert main(argv) == 0
        probabilities[folder] = np.stack(list(load_scores(out_file).values()))
    out = capsys.readouterr().out
    assert all(np.array_equal(labels, labels_of(val_names)) for labels in fitted_labels) and len(fitted_labels) == 2
    np.testing.assert_array_equal(probabilities["test"], probabilities["relabelled"])
    assert "stacking: logistic regression on the log-softmax scores of joint, bone, parsing, fitted on 400" in out
    stacking_line = next(line for line in out.splitlines() if line.startswith("stacking "))
    assert float(stacking_line.split()[1].rstrip("%")) > 80  # it learns to trust parsing on the twins

    leaky = [arg for s, p in test.items() for arg in ("--val-score", f"{s}={p}")]
    assert main([*score_args(test), "--stack", *leaky]) == 2
    assert "stacking fitted on them is tuned on test" in capsys.readouterr().err
    assert main([*score_args(test), "--stack"]) == 2
    assert "--stack needs validation scores" in capsys.readouterr().err


def test_stacking_api_takes_no_test_labels() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 200)
    val = {"a": noisy_logits(labels, 6, 2.0, rng), "b": noisy_logits(labels, 6, 1.0, rng)}
    model = fit_stacking(val, labels)
    test_scores = {"a": noisy_logits(labels, 6, 2.0, rng), "b": noisy_logits(labels, 6, 1.0, rng)}
    probabilities = model.scores(test_scores)
    assert probabilities.shape == (200, 6) and np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)
    assert (probabilities[:, 4:] == 0).all()  # classes the validation never showed


def test_save_fused_writes_softmax_of_the_weighted_sum(tmp_path: Path) -> None:
    names = ntu_names(120, 10)
    paths = write_streams(tmp_path, names, seed=4)
    assert main([*score_args(paths), "--save-fused", str(tmp_path / "fused.pkl")]) == 0
    saved = load_scores(tmp_path / "fused.pkl")
    assert list(saved) == names
    logits = {s: np.stack(list(load_scores(p).values())) for s, p in paths.items()}
    fused = 2 * logits["joint"] + 2 * logits["bone"] + 2 * logits["parsing"]  # EPP-Net's weights
    np.testing.assert_allclose(np.stack(list(saved.values())), softmax(fused), rtol=1e-5, atol=1e-7)
    assert np.allclose(np.stack(list(saved.values())).sum(axis=1), 1, atol=1e-5)


def test_parsing_gain_picture_shows_changed_classes_or_says_none_changed(tmp_path: Path) -> None:
    names = ntu_names(60, 6)
    labels = labels_of(names)
    rng = np.random.default_rng(0)
    pose = noisy_logits(labels, 6, 4.0, rng)
    pose[labels == 1, 0] += 10  # the pose streams take class 1 for class 0
    quiet = AlignedScores(names, labels, {"joint": pose, "parsing": np.zeros_like(pose)}, {"joint": 1, "parsing": 1})
    result = evaluate_fusion(quiet, bootstrap=Bootstrap(50))
    assert not len(plot_parsing_gain(tmp_path / "none.png", result, None))
    assert "no class changed: with parsing, each of the 6 classes" in no_change_message(result)
    assert (tmp_path / "none.png").read_bytes()[:4] == b"\x89PNG"

    helpful = noisy_logits(labels, 6, 1.0, rng)
    helpful[labels == 1, 1] += 30
    data = AlignedScores(names, labels, {"joint": pose, "parsing": helpful}, {"joint": 1, "parsing": 1})
    shown = plot_parsing_gain(tmp_path / "gain.png", evaluate_fusion(data, bootstrap=Bootstrap(50)), None)
    assert 1 in shown.tolist()
