"""``make gpu-check`` without a GPU: the one-line answer, and its arithmetic and table on fake timings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from benchmarks.gpu_check import Row, flops_per_sample, format_table, measure, utilisation
from benchmarks.loader import loader_rate, synthetic_parsing_dataset

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(torch.cuda.is_available(), reason="the no-GPU answer")
def test_without_cuda_it_says_so_in_one_line_and_exits_0(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "benchmarks.gpu_check", "--out", str(tmp_path / "g.json")],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    assert result.stdout.strip().count("\n") == 0 and "no CUDA device" in result.stdout
    assert not (tmp_path / "g.json").exists()


def test_measure_counts_samples_between_synchronised_clock_readings() -> None:
    readings = iter([10.0, 12.5])
    calls, syncs = [], []
    rate = measure(lambda: calls.append(1), 64, warmup=2, steps=5, clock=lambda: next(readings),
                   sync=lambda: syncs.append(len(calls)))
    assert rate == pytest.approx(64 * 5 / 2.5)
    assert len(calls) == 7 and syncs == [2, 7]  # synchronised after the warm-up and after the timed steps


def test_flops_of_a_linear_layer_and_the_utilisation() -> None:
    model = nn.Linear(10, 4)
    assert flops_per_sample(model, torch.zeros(8, 10), train=False) == 2 * 10 * 4
    assert flops_per_sample(model, torch.zeros(8, 10), train=True) == 3 * 2 * 10 * 4
    assert utilisation(1e6, 2e6, 4.0) == pytest.approx(0.5)  # 2e12 FLOP/s of a 4 TFLOPS peak
    assert utilisation(1e6, 2e6, None) != utilisation(1e6, 2e6, None)  # NaN: unknown peak


def test_table_lists_every_row_and_leaves_unknowns_blank() -> None:
    rows = [Row("CTR-GCN train b64", "bf16", 1234.5, "samples/s", 2048.0, 3.8, 0.125),
            Row("parsing loader 299 train", "16 workers", 900.0, "samples/s", note="feeds the model")]
    table = format_table(rows).splitlines()
    assert table[0].split()[:4] == ["case", "variant", "rate", "unit"]
    assert "1234.5" in table[2] and "12.5%" in table[2] and "2048" in table[2]
    assert table[3].endswith("feeds the model") and "nan" not in table[3]


def test_loader_rate_on_generated_maps(tmp_path: Path) -> None:
    dataset = synthetic_parsing_dataset(tmp_path, samples=6, train=True, frames=12)
    assert dataset[0][0].shape == (3, 299, 299)
    assert loader_rate(dataset, workers=0, batch=2, batches=2) > 0
