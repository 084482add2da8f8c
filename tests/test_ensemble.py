"""Late fusion: the EPP-Net command line, alignment by name, honest weight search, tables."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import yaml

import fusion.cli
from data.ntu import BENCHMARKS as NTU_BENCHMARKS
from data.ntu import split_order
from ensemble import main
from fusion import (
    FusionError,
    StreamScores,
    align_streams,
    fuse_scores,
    get_benchmark,
    resolve_keys,
    search_weights,
    topk_accuracy,
)

STREAMS = ("joint", "bone", "jointmotion", "bonemotion", "parsing")
REFERENCE_RATES = (2.0, 2.0, 1.0, 1.0, 2.0)


def ntu_names(count: int, classes: int, seed: int = 0, subjects: tuple[int, int] = (1, 41),
              benchmark: str | None = None) -> list[str]:
    """Distinct NTU names, sorted, every class present, subjects in [low, high); with ``benchmark``, test
    samples of that benchmark in its split order (what its --val_sample list holds)."""
    rules = NTU_BENCHMARKS[get_benchmark(benchmark).folder] if benchmark else None
    rng = np.random.default_rng(seed)
    names: set[str] = set()
    while len(names) < count:
        action = len(names) % classes + 1
        setup, camera, subject, rep = (
            rng.integers(1, 18),
            rng.integers(1, 4),
            rng.integers(*subjects),
            rng.integers(1, 3),
        )
        name = f"S{setup:03d}C{camera:03d}P{subject:03d}R{rep:03d}A{action:03d}"
        if rules is None or split_order([name], rules, "test"):
            names.add(name)
    return sorted(names) if rules is None else split_order(names, rules, "test")


def labels_of(names: list[str]) -> np.ndarray:
    return np.array([int(n[-3:]) - 1 for n in names])


def noisy_logits(labels: np.ndarray, classes: int, strength: float, rng: np.random.Generator) -> np.ndarray:
    logits = rng.normal(size=(len(labels), classes)).astype(np.float32)
    logits[np.arange(len(labels)), labels] += strength
    return logits


def dump(path: Path, content: dict) -> Path:
    with path.open("wb") as f:
        pickle.dump(content, f)
    return path


def write_eppnet_files(folder: Path, names: list[str], classes: int, seed: int = 1, shuffle: bool = False):
    """Four CTR-GCN style files keyed test_i and a parsing file keyed by name, plus the val_sample list."""
    rng = np.random.default_rng(seed)
    labels = labels_of(names)
    strengths = (2, 2, 1.5, 1.5, 1.8)  # stream accuracies differ, and the fusion beats each of them
    logits = {s: noisy_logits(labels, classes, k, rng) for s, k in zip(STREAMS, strengths, strict=True)}
    order = rng.permutation(len(names)) if shuffle else np.arange(len(names))
    paths = {}
    for stream in STREAMS[:4]:
        paths[stream] = dump(folder / f"{stream}.pkl", {f"test_{i}": logits[stream][i] for i in order})
    paths["parsing"] = dump(folder / "parsing.pkl", {names[i]: logits["parsing"][i] for i in order})
    sample_list = folder / "val_sample.txt"
    sample_list.write_text("\n".join(names) + "\n")
    return paths, sample_list, logits


def reference_fusion_accuracy(paths: list[Path], val_sample: Path) -> float:
    """A plain transcription of the reference Ensemble.py: add files up by position, labels from names."""
    final = None
    for path, rate in zip(paths, REFERENCE_RATES, strict=True):
        with path.open("rb") as f:
            score = np.stack(list(pickle.load(f).values()))  # the DataFrame transpose: rows in dict order
        final = np.zeros(score.shape, dtype=np.float32) if final is None else final
        final += rate * score
    true_label = np.array([int(name[-3:]) - 1 for name in np.loadtxt(val_sample, dtype=str)])
    wrong = int((final.argmax(axis=1) != true_label).sum())
    return (len(true_label) - wrong) / len(true_label)


XVIEW = "NTU60XView"  # eppnet_argv's benchmark: test names come from ntu_names(..., benchmark=XVIEW)


def eppnet_argv(paths: dict[str, Path], sample_list: Path, benchmark: str = XVIEW) -> list[str]:
    argv = ["--benchmark", benchmark]
    for stream in STREAMS:
        argv += [f"--{stream}_Score", str(paths[stream])]
    return [*argv, "--val_sample", str(sample_list)]


def fusion_line(output: str) -> list[str]:
    return next(line for line in output.splitlines() if line.startswith("fusion")).split()


def test_eppnet_command_line_matches_the_reference(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    names = ntu_names(600, 60, benchmark=XVIEW)
    paths, sample_list, _ = write_eppnet_files(tmp_path, names, 60)
    expected = reference_fusion_accuracy([paths[s] for s in STREAMS], sample_list)

    assert main(eppnet_argv(paths, sample_list)) == 0
    out = capsys.readouterr().out
    assert fusion_line(out)[1] == f"{100 * expected:.2f}%"
    assert f"({round(expected * len(names))} of {len(names)} right)" in out
    assert "note: 600 samples; the full NTU60 XView test split has 18932" in out

    data = fusion.cli.load_streams(
        fusion.cli.spec_from_args(fusion.cli.build_parser().parse_args(eppnet_argv(paths, sample_list)))
    )
    fused = fuse_scores(list(data.streams.values()), list(data.weights.values()))
    assert list(data.weights.values()) == list(REFERENCE_RATES)
    assert topk_accuracy(fused, data.labels)[1] == expected


def test_shuffled_key_order_gives_the_same_result(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    names = ntu_names(400, 60, benchmark=XVIEW)
    in_order, shuffled = tmp_path / "in_order", tmp_path / "shuffled"
    in_order.mkdir(), shuffled.mkdir()
    paths, sample_list, _ = write_eppnet_files(in_order, names, 60, seed=3)
    expected = reference_fusion_accuracy([paths[s] for s in STREAMS], sample_list)
    paths, sample_list, _ = write_eppnet_files(shuffled, names, 60, seed=3, shuffle=True)

    assert main(eppnet_argv(paths, sample_list)) == 0
    assert fusion_line(capsys.readouterr().out)[1] == f"{100 * expected:.2f}%"


def test_align_streams_by_name() -> None:
    names = ntu_names(50, 10)
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(50, 10)).astype(np.float32)
    perm = rng.permutation(50)
    streams = {
        "a": StreamScores(names, scores, "a.pkl"),
        "b": StreamScores([names[i] for i in perm], scores[perm] * 2, "b.pkl"),
    }
    order, aligned = align_streams(streams)
    assert order == names
    np.testing.assert_array_equal(aligned["b"], scores * 2)


def test_test_i_keys_are_named_through_the_sample_list() -> None:
    names = ntu_names(5, 5)
    assert resolve_keys(["test_3", "test_0"], names, "j.pkl") == [names[3], names[0]]
    assert resolve_keys(names, None, "p.pkl") == names
    with pytest.raises(FusionError, match="j.pkl: keys are test_0, test_1, ...; name them"):
        resolve_keys(["test_0"], None, "j.pkl")
    with pytest.raises(FusionError, match="j.pkl: has key test_9 but the sample list has only 5 names"):
        resolve_keys(["test_9"], names, "j.pkl")
    with pytest.raises(FusionError, match="mixes test_i keys with other keys such as"):
        resolve_keys(["test_0", names[1]], names, "j.pkl")


def test_topk_accuracy_matches_argsort_and_argmax() -> None:
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(300, 20)).astype(np.float32)
    scores[0] = 0.0  # a full tie: argmax says class 0
    labels = rng.integers(0, 20, size=300)
    labels[0] = 0
    acc = topk_accuracy(scores, labels, ks=(1, 5))
    assert acc[1] == np.mean(scores.argmax(axis=1) == labels)
    top5 = np.argsort(-scores[1:], axis=1, kind="stable")[:, :5]
    assert acc[5] == (1 + np.sum(top5 == labels[1:, None])) / 300


def test_fuse_scores_is_the_reference_float32_sum() -> None:
    rng = np.random.default_rng(0)
    streams = [rng.normal(size=(64, 60)).astype(np.float32) for _ in range(5)]
    expected = np.zeros((64, 60), dtype=np.float32)
    for rate, score in zip(REFERENCE_RATES, streams, strict=True):
        expected += rate * score
    np.testing.assert_array_equal(fuse_scores(streams, REFERENCE_RATES), expected)


def write_prepared_split(root: Path, folder: str, names: list[str], labels: np.ndarray) -> None:
    split = root / folder / "test"
    split.mkdir(parents=True)
    (split / "names.txt").write_text("\n".join(names) + "\n")
    np.save(split / "labels.npy", labels)


def test_names_and_labels_from_prepared_data(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    names = ntu_names(200, 60)
    paths, _, logits = write_eppnet_files(tmp_path, names, 60)
    write_prepared_split(tmp_path / "prepared", "ntu60-xview", names, labels_of(names))
    argv = ["--benchmark", "ntu60-xview", "--data-root", str(tmp_path / "prepared")]
    argv += ["--score", f"joint={paths['joint']}:1", "--score", f"parsing={paths['parsing']}"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    fused = logits["joint"] + 2 * logits["parsing"]  # parsing keeps EPP-Net's weight 2
    assert fusion_line(out)[1] == f"{100 * np.mean(fused.argmax(1) == labels_of(names)):.2f}%"
    assert "prepared/ntu60-xview/test/names.txt" in out


def test_prepared_split_folder_and_output_files(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # How the pipeline calls it: --labels <prepared>/<benchmark>/test --out <results>.
    names = ntu_names(120, 60)
    paths, _, _ = write_eppnet_files(tmp_path, names, 60)
    write_prepared_split(tmp_path / "prepared", "ntu60-xview", names, labels_of(names))
    argv = [f"--score={s}={paths[s]}" for s in STREAMS]
    argv += ["--labels", str(tmp_path / "prepared" / "ntu60-xview" / "test"), "--out", str(tmp_path / "out")]
    assert main(argv) == 0
    report = (tmp_path / "out" / "report_fusion.txt").read_text()
    assert fusion_line(report) == fusion_line(capsys.readouterr().out)
    figures = json.loads((tmp_path / "out" / "results_fusion.json").read_text())
    assert f"{figures['top1']['full fusion']:.2f}%" == fusion_line(report)[1]
    for name in ("per_class_fusion.csv", "confusion_fusion.png", "parsing_gain_fusion.png"):
        assert (tmp_path / "out" / name).is_file()


def test_config_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    names = ntu_names(100, 60, benchmark=XVIEW)
    write_eppnet_files(tmp_path, names, 60)
    config = {"benchmark": "NTU60XView", "sample_list": "val_sample.txt"}
    config["streams"] = {"joint": {"path": "joint.pkl", "weight": 0.5}, "Parsing": "parsing.pkl"}
    (tmp_path / "streams.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    assert main(["--config", str(tmp_path / "streams.yaml")]) == 0
    out = capsys.readouterr().out
    assert [line.split()[:2] for line in out.splitlines() if line.startswith(("joint", "parsing"))] == [
        ["joint", "0.50"],
        ["parsing", "2.00"],
    ]


def run_error(argv: list[str], capsys: pytest.CaptureFixture) -> str:
    assert main(argv) == 2
    return capsys.readouterr().err


def test_error_different_sample_sets(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    names = ntu_names(100, 60)
    paths, sample_list, logits = write_eppnet_files(tmp_path, names, 60)
    dump(paths["parsing"], {n: logits["parsing"][i] for i, n in enumerate(names[:97])})
    err = run_error(eppnet_argv(paths, sample_list), capsys)
    assert "stream 'parsing'" in err and "parsing.pkl" in err
    assert f"3 of 100 expected are missing (e.g. {', '.join(sorted(names[97:]))})" in err


def test_error_different_class_counts(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    names = ntu_names(100, 60)
    paths, sample_list, _ = write_eppnet_files(tmp_path, names, 60)
    rng = np.random.default_rng(0)
    dump(paths["bone"], {f"test_{i}": rng.normal(size=120).astype(np.float32) for i in range(100)})
    err = run_error(eppnet_argv(paths, sample_list), capsys)
    assert "different class counts" in err and "bone" in err and ": 120" in err and ": 60" in err


def test_error_benchmark_class_count(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    names = ntu_names(100, 60)
    paths, sample_list, _ = write_eppnet_files(tmp_path, names, 60)
    err = run_error(eppnet_argv(paths, sample_list, benchmark="NTU120XSet"), capsys)
    assert "NTU120XSet has 120 classes but the score files have 60" in err


def test_error_nan_scores(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    names = ntu_names(100, 60)
    paths, sample_list, logits = write_eppnet_files(tmp_path, names, 60)
    logits["joint"][7, 3] = np.nan
    dump(paths["joint"], {f"test_{i}": row for i, row in enumerate(logits["joint"])})
    err = run_error(eppnet_argv(paths, sample_list), capsys)
    assert "joint.pkl: 1 samples have NaN or infinite scores, e.g. test_7" in err


def test_error_label_list_does_not_match(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    names = ntu_names(100, 60)
    paths, _, _ = write_eppnet_files(tmp_path, names, 60)
    argv = [
        "--benchmark",
        "NTU60XView",
        "--data-root",
        str(tmp_path / "prepared"),
        "--score",
        f"joint={paths['joint']}",
    ]

    write_prepared_split(tmp_path / "prepared", "ntu60-xview", names, labels_of(names)[:-1])
    assert "99 labels for 100 sample names" in run_error(argv, capsys)

    wrong = labels_of(names)
    wrong[[4, 9]] = (wrong[[4, 9]] + 1) % 60
    np.save(tmp_path / "prepared" / "ntu60-xview" / "test" / "labels.npy", wrong)
    err = run_error(argv, capsys)
    assert (
        "2 labels disagree with the action in the sample name" in err and f"{names[4]} -> {wrong[4]}" in err
    )

    # Labels as a .npy in the order of a names file.
    labels_npy = tmp_path / "labels.npy"
    np.save(labels_npy, labels_of(names)[::-1])
    argv = ["--sample-list", str(tmp_path / "val_sample.txt"), "--labels", str(labels_npy)]
    err = run_error([*argv, "--score", f"joint={paths['joint']}"], capsys)
    assert "labels.npy with" in err and "labels disagree with the action in the sample name" in err

    # A sample list shorter than the scores: test_99 has no name.
    short = tmp_path / "short.txt"
    short.write_text("\n".join(names[:99]))
    err = run_error(["--val_sample", str(short), "--score", f"joint={paths['joint']}"], capsys)
    assert "has key test_99 but the sample list has only 99 names" in err


def two_streams(names: list[str], strong: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Stream ``strong`` is informative, the other one is pure noise that misleads a fusion."""
    labels = labels_of(names)
    noise = rng.normal(scale=3.0, size=(len(names), 10)).astype(np.float32)
    good = noisy_logits(labels, 10, 1.2, rng)
    return {"a": good, "b": noise} if strong == "a" else {"a": noise, "b": good}


def test_search_uses_validation_scores_only(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(0)
    val_names, test_names = ntu_names(300, 10, subjects=(1, 21)), ntu_names(200, 10, subjects=(21, 41))
    assert not set(val_names) & set(test_names)
    val, test = two_streams(val_names, "a", rng), two_streams(test_names, "b", rng)
    for split, names, scores in (("val", val_names, val), ("test", test_names, test)):
        for stream, matrix in scores.items():
            dump(tmp_path / f"{split}_{stream}.pkl", dict(zip(names, matrix, strict=True)))

    seen_rows = []

    def spy(scores, labels, initial, grid):
        seen_rows.extend(len(s) for s in scores)
        return search_weights(scores, labels, initial, grid)

    monkeypatch.setattr(fusion.cli, "search_weights", spy)
    argv = ["--score", f"a={tmp_path / 'test_a.pkl'}:1", "--score", f"b={tmp_path / 'test_b.pkl'}:1"]
    argv += [
        "--search-weights",
        "--val-score",
        f"a={tmp_path / 'val_a.pkl'}",
        "--val-score",
        f"b={tmp_path / 'val_b.pkl'}",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out

    assert seen_rows == [300, 300], "the search saw only the validation scores"
    val_weights, _ = search_weights([val["a"], val["b"]], labels_of(val_names), [1, 1])
    test_weights, _ = search_weights([test["a"], test["b"]], labels_of(test_names), [1, 1])
    assert val_weights[1] == 0 and test_weights[0] == 0, "the two splits must want different weights"
    assert f"a {val_weights[0]:g}, b {val_weights[1]:g}; validation top-1" in out
    assert "TUNED ON THE TEST SET" not in out
    fused = fuse_scores([test["a"], test["b"]], val_weights)
    assert f"{100 * np.mean(fused.argmax(1) == labels_of(test_names)):.2f}%" in out


def test_search_on_test_needs_an_explicit_flag(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    names = ntu_names(100, 60, benchmark=XVIEW)
    paths, sample_list, _ = write_eppnet_files(tmp_path, names, 60)
    argv = [*eppnet_argv(paths, sample_list), "--search-weights", "--grid", "0,1,2"]
    assert "--search-weights needs validation scores" in run_error(argv, capsys)

    leaky = [f"--val-score={s}={paths[s]}" for s in STREAMS]
    err = run_error([*argv, *leaky, "--val-sample-list", str(sample_list)], capsys)
    assert "100 validation samples are test samples too" in err

    assert main([*argv, "--allow-test-tuning"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == fusion.cli.TEST_TUNED_BANNER and out.count(fusion.cli.TEST_TUNED_BANNER) == 2
    assert "test, weights TUNED ON TEST" in out


def test_table_writes_its_files(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    config: dict = {"benchmarks": {}}
    for benchmark, classes in (("NTU60XView", 60), ("NTU120XSet", 120)):
        folder = tmp_path / benchmark
        folder.mkdir()
        names = ntu_names(2 * classes, classes, seed=classes, benchmark=benchmark)
        paths, sample_list, _ = write_eppnet_files(folder, names, classes)
        config["benchmarks"][benchmark] = {
            "sample_list": f"{benchmark}/{sample_list.name}",
            "streams": {s: {"path": f"{benchmark}/{paths[s].name}"} for s in STREAMS},
        }
    (tmp_path / "table.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    out_dir = tmp_path / "results"
    assert main(["--table", str(tmp_path / "table.yaml"), "--out", str(out_dir)]) == 0

    table = (out_dir / "results.md").read_text()
    assert "| top-1 (%) | NTU60 XView | NTU120 XSet |" in table
    assert (
        "| EPP-Net, paper | 97.7 | 92.8 |" in table and "| CTR-GCN 4-stream, paper | 96.8 | 90.6 |" in table
    )
    for row in ("joint-motion", "parsing (parsing only)", "pose-only fusion", "full fusion (pose + parsing)"):
        assert f"| {row}" in table
    rows = (out_dir / "per_class_ntu120-xset.csv").read_text().splitlines()
    assert rows[0].startswith("class,action,samples,joint,bone,joint-motion,bone-motion,parsing,pose fusion")
    assert len(rows) == 121 and rows[1].startswith("0,drink water,2,")  # NTU action names by default
    for picture in ("confusion_ntu60-xview", "parsing_gain_ntu60-xview", "confusion_ntu120-xset"):
        assert (out_dir / f"{picture}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "wrote" in capsys.readouterr().out
