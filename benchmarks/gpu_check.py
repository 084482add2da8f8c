"""``make gpu-check``: everything the project wants to know from a GPU, in one short run.

    python -m benchmarks.gpu_check [--out gpu_check.json] [--skip-compile] [--peak-tflops BF16,FP32]

Rows (one table, also written as JSON): CTR-GCN (official size: 64 channels, 64 frames, 2 bodies)
and InceptionV3 (299 px) train samples/s at batch 64 in fp32, bf16 autocast, bf16 + ``torch.compile``
(inductor) and channels-last; the SCHP parser (473 px) frames/s at batch 64 in fp32 and bf16; the
Kinetics-TPS part detector (FCOS, ResNet-50 FPN, 800 px, batch 8) train images/s in fp32 and bf16; the
parsing loader's samples/s with 16 workers against InceptionV3's bf16 rate; one epoch of the demo
pose config under ``torchrun --nproc_per_node=1`` (NCCL). Each row gives the peak GPU memory, the
model's FLOPs per sample (``torch.utils.flop_counter``; a train step counts forward + backward) and
the resulting share of the device's peak. On a machine without CUDA it says so in one line and
exits 0. Under 8 minutes on one H100/H200-class GPU (the compile rows take most of it).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

PROJECT = Path(__file__).resolve().parents[1]
BATCH = 64
# Dense peak TFLOPS (bf16 tensor cores, fp32 without tensor cores) by device-name fragment, from the
# vendors' data sheets (SXM parts); utilisation is left empty for devices not listed (--peak-tflops).
PEAK_TFLOPS = {"H200": (989.0, 67.0), "H100": (989.0, 67.0), "A100": (312.0, 19.5), "L40S": (362.0, 91.6),
               "A10": (125.0, 31.2), "4090": (165.0, 82.6)}


@dataclass
class Row:
    case: str
    variant: str
    rate: float  # samples (or frames) per second
    unit: str
    peak_memory_mib: float = float("nan")
    gflops_per_sample: float = float("nan")
    utilisation: float = float("nan")  # achieved / peak FLOP/s, in [0, 1]
    note: str = ""


def measure(step: Callable[[], object], samples_per_step: int, *, warmup: int = 3, steps: int = 10,
            clock: Callable[[], float] = time.perf_counter, sync: Callable[[], None] = lambda: None) -> float:
    """Samples per second of ``step`` after ``warmup`` calls, timed between synchronisations."""
    for _ in range(warmup):
        step()
    sync()
    start = clock()
    for _ in range(steps):
        step()
    sync()
    return samples_per_step * steps / max(clock() - start, 1e-12)


def flops_per_sample(model: nn.Module, inputs: torch.Tensor, train: bool) -> float:
    """FLOPs of one sample's forward (x3 for a train step: forward and two backward matmuls)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(inputs[:1])
    return counter.get_total_flops() * (3 if train else 1)


def utilisation(rate: float, flops: float, peak_tflops: float | None) -> float:
    if not peak_tflops or not np.isfinite(flops):
        return float("nan")
    return rate * flops / (peak_tflops * 1e12)


def format_table(rows: list[Row]) -> str:
    """The one table ``make gpu-check`` prints."""
    header = ["case", "variant", "rate", "unit", "peak MiB", "GFLOP/sample", "of peak", "note"]
    cells = [[r.case, r.variant, f"{r.rate:.1f}", r.unit,
              "" if np.isnan(r.peak_memory_mib) else f"{r.peak_memory_mib:.0f}",
              "" if np.isnan(r.gflops_per_sample) else f"{r.gflops_per_sample:.2f}",
              "" if np.isnan(r.utilisation) else f"{100 * r.utilisation:.1f}%", r.note] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(cell, widths, strict=True)).rstrip() for cell in cells]
    return "\n".join(lines)


def _peaks(name: str, override: str) -> tuple[float | None, float | None]:
    if override:
        bf16, fp32 = (float(v) for v in override.split(","))
        return bf16, fp32
    return next((p for key, p in PEAK_TFLOPS.items() if key in name), (None, None))


def _train_rows(case: str, build: Callable[[], nn.Module], make_inputs: Callable[[], torch.Tensor],
                classes: int, peaks: tuple[float | None, float | None], compile_: bool) -> Iterator[Row]:
    device = torch.device("cuda")
    variants = [("fp32", None, False, False), ("bf16", torch.bfloat16, False, False)]
    if compile_:
        variants.append(("bf16 + compile", torch.bfloat16, True, False))
    variants.append(("bf16 + channels-last", torch.bfloat16, False, True))
    for variant, dtype, compiled, channels_last in variants:
        torch.manual_seed(0)
        model = build().to(device)
        inputs = make_inputs().to(device)
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
            if inputs.dim() == 4:
                inputs = inputs.contiguous(memory_format=torch.channels_last)
        labels = torch.randint(0, classes, (inputs.shape[0],), device=device)
        flops = flops_per_sample(model.eval(), inputs, train=True)
        model.train()
        runner = torch.compile(model) if compiled else model
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

        def step(runner: nn.Module = runner, inputs: torch.Tensor = inputs, labels: torch.Tensor = labels,
                 dtype: torch.dtype | None = dtype, optimizer: torch.optim.Optimizer = optimizer) -> None:
            with torch.autocast("cuda", dtype=dtype or torch.float32, enabled=dtype is not None):
                output = runner(inputs)
                logits = output[0] if isinstance(output, tuple) else output
                loss = nn.functional.cross_entropy(logits, labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        torch.cuda.reset_peak_memory_stats()
        rate = measure(step, inputs.shape[0], warmup=5 if compiled else 3, sync=torch.cuda.synchronize)
        peak = peaks[0] if dtype is not None else peaks[1]
        yield Row(case, variant, rate, "samples/s", torch.cuda.max_memory_allocated() / 2**20, flops / 1e9,
                  utilisation(rate, flops, peak))


def ctrgcn_rows(peaks: tuple[float | None, float | None], compile_: bool) -> Iterator[Row]:
    from pose_branch.ctrgcn import CTRGCN

    yield from _train_rows("CTR-GCN train b64", lambda: CTRGCN(num_class=60),
                           lambda: torch.randn(BATCH, 3, 64, 25, 2), 60, peaks, compile_)


def inception_rows(peaks: tuple[float | None, float | None], compile_: bool) -> Iterator[Row]:
    from parsing_branch.models import build_backbone

    yield from _train_rows("InceptionV3 299 train b64", lambda: build_backbone("inception_v3", 60),
                           lambda: torch.randn(BATCH, 3, 299, 299), 60, peaks, compile_)


def schp_rows(peaks: tuple[float | None, float | None]) -> Iterator[Row]:
    from parsing.schp import build_schp, parse_batch

    device = torch.device("cuda")
    model = build_schp("lip", seed=0).to(device).eval()
    batch = torch.randn(BATCH, 3, 473, 473, device=device)
    flops = flops_per_sample(model, batch, train=False)
    for variant, amp in (("fp32", None), ("bf16", "bf16")):
        torch.cuda.reset_peak_memory_stats()
        rate = measure(lambda amp=amp: parse_batch(model, batch, amp=amp), BATCH, sync=torch.cuda.synchronize)
        peak = peaks[0] if amp else peaks[1]
        yield Row("SCHP parser 473 b64", variant, rate, "frames/s", torch.cuda.max_memory_allocated() / 2**20,
                  flops / 1e9, utilisation(rate, flops, peak))


def detector_rows(peaks: tuple[float | None, float | None]) -> Iterator[Row]:
    """The Kinetics-TPS part detector (FCOS, ResNet-50 FPN, 800 px) training, fp32 and bf16."""
    from part_parsing.detection.model import Detector, build_detector

    device = torch.device("cuda")
    images = 8
    generator = torch.Generator().manual_seed(0)
    corners = torch.rand((images, 10, 2), generator=generator) * 600
    batch = {"image": torch.randint(0, 256, (images, 3, 800, 800), dtype=torch.uint8, generator=generator),
             "size": torch.tensor([[800, 800]] * images),
             "boxes": torch.cat([corners, corners + 40 + torch.rand((images, 10, 2), generator=generator) * 150], 2),
             "labels": torch.randint(1, 11, (images, 10), generator=generator)}
    batch = {k: v.to(device) for k, v in batch.items()}
    for variant, dtype in (("fp32", None), ("bf16", torch.bfloat16)):
        torch.manual_seed(0)
        model = Detector(build_detector("fcos", "resnet50", 10)).to(device).train()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.9)

        def step(model: nn.Module = model, dtype: torch.dtype | None = dtype,
                 optimizer: torch.optim.Optimizer = optimizer) -> None:
            with torch.autocast("cuda", dtype=dtype or torch.float32, enabled=dtype is not None):
                loss = sum(model(batch).values())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        torch.cuda.reset_peak_memory_stats()
        rate = measure(step, images, sync=torch.cuda.synchronize)
        yield Row("part detector FCOS-R50 800 train b8", variant, rate, "images/s",
                  torch.cuda.max_memory_allocated() / 2**20)


def loader_row(model_rate: float) -> Row:
    """The parsing loader with 16 workers, and whether it feeds the model's rate."""
    from benchmarks.loader import loader_rate, synthetic_parsing_dataset

    with tempfile.TemporaryDirectory() as tmp:
        dataset = synthetic_parsing_dataset(Path(tmp), samples=512, train=True)
        rate = loader_rate(dataset, workers=16, batch=BATCH, batches=8)
    verdict = "feeds the model" if rate >= model_rate else f"starves the model ({model_rate:.0f}/s)"
    return Row("parsing loader 299 train", "16 workers", rate, "samples/s", note=verdict)


def torchrun_row() -> Row:
    """One epoch of the demo joint config on the generated data under torchrun with NCCL."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        run = [sys.executable, "-m"]
        subprocess.run([*run, "data.synthetic", "--out", str(out / "syn"), "--classes", "6",
                        "--samples-per-class", "8", "--videos", "0"], check=True, cwd=PROJECT, capture_output=True)
        subprocess.run([*run, "data.ntu", "prepare", "--skeletons", str(out / "syn" / "skeletons"), "--out",
                        str(out / "prepared"), "--benchmarks", "ntu60-xsub", "--on-error", "skip"],
                       check=True, cwd=PROJECT, capture_output=True)
        start = time.perf_counter()
        result = subprocess.run(
            [*run, "torch.distributed.run", "--standalone", "--nproc_per_node=1", "train_pose.py", "--config",
             "configs/demo/pose_joint.yaml", "--work-dir", str(out / "run"), "--device", "cuda",
             "--set", f"data.root={out / 'prepared'}", "--set", "train.epochs=1"],
            cwd=PROJECT, capture_output=True, text=True)
        seconds = time.perf_counter() - start
    ok = result.returncode == 0
    note = "NCCL ok" if ok else "failed: " + (result.stderr.strip().splitlines() or ["?"])[-1][:80]
    return Row("torchrun 1 GPU demo epoch", "NCCL", 1.0 / seconds if ok else 0.0, "epochs/s", note=note)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="gpu_check.json", help="where to write the JSON rows")
    parser.add_argument("--skip-compile", action="store_true", help="leave out the torch.compile rows")
    parser.add_argument("--peak-tflops", default="", metavar="BF16,FP32", help="the device's dense peaks")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print(f"gpu-check: no CUDA device here (torch {torch.__version__}); nothing measured")
        return 0
    name = torch.cuda.get_device_name(0)
    peaks = _peaks(name, args.peak_tflops)
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    rows: list[Row] = []
    sections: list[Callable[[], Iterator[Row]]] = [
        lambda: ctrgcn_rows(peaks, not args.skip_compile),
        lambda: inception_rows(peaks, not args.skip_compile),
        lambda: schp_rows(peaks),
        lambda: detector_rows(peaks),
    ]
    for section in sections:
        for row in section():
            rows.append(row)
            print(f"[gpu-check] {row.case} {row.variant}: {row.rate:.1f} {row.unit}", file=sys.stderr, flush=True)
    inception_bf16 = next(r.rate for r in rows if r.case.startswith("InceptionV3") and r.variant == "bf16")
    rows.append(loader_row(inception_bf16))
    rows.append(torchrun_row())
    print(f"{name}, torch {torch.__version__}, CUDA {torch.version.cuda}")
    print(format_table(rows))
    Path(args.out).write_text(json.dumps({"device": name, "torch": torch.__version__,
                                          "rows": [asdict(r) for r in rows]}, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
