"""The training engine both trainers share: one loop, readable top to bottom.

A trainer describes its :class:`~engine.task.Task` (config class, model, datasets, optional loss
terms, metrics and collation; see ``engine/task.py``) and calls :func:`run_task`. The engine does
the rest: config loading and overrides, the work directory, ``torchrun`` / DDP, SGD with warm-up
and step or cosine decay, mixed precision on CUDA, evaluation with top-1/top-5 and the task's own
metrics, score pickles in dataset order, atomic checkpoints every epoch, ``--resume``,
TensorBoard and a plain-text log on rank 0.

Randomness is re-seeded at the start of every epoch from (seed, epoch, rank), in the main process
and in each loader worker, so a run resumed after epoch k sees exactly the batches and
augmentations an uninterrupted run would.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import random
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler
from tqdm import tqdm

from engine.checkpoint import (
    CheckpointError,
    atomic_torch_save,
    capture_rng_state,
    load_model_weights,
    restore_rng_state,
    safe_load,
)
from engine.config import ConfigError, Experiment, check_settings, load_config, save_config
from engine.distributed import (
    DistInfo,
    all_gather_objects,
    all_reduce_sum,
    barrier,
    cleanup,
    init_distributed,
)
from engine.errors import InputError, describe_input_error, describe_os_error
from engine.task import EpochSampler, IndexedCollate, IndexedDataset, Task, class_labels, move_to
from engine.workdir import (
    LAST_CHECKPOINT,
    WorkDirError,
    check_resume,
    lock_work_dir,
    prepare_work_dir,
    release_locks,
    setup_logging,
)

log = logging.getLogger("engine")

def build_arg_parser(task: Task) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"train_{task.name}.py",
        description=f"Train or evaluate the {task.name} branch. Launch with torchrun for several GPUs.",
    )
    parser.add_argument("--config", help="YAML experiment file (defaults are used without it)")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="override any config field, e.g. --set optim.lr=0.05 (repeatable)",
    )
    parser.add_argument("--work-dir", help="where the run writes everything (overrides work_dir)")
    parser.add_argument("--resume", action="store_true", help="continue from the work dir's last checkpoint")
    parser.add_argument(
        "--overwrite", action="store_true", help="start afresh in a work dir that holds an earlier run"
    )
    parser.add_argument("--weights", help="start from (or, with --eval-only, evaluate) this checkpoint")
    parser.add_argument("--eval-only", action="store_true", help="evaluate --weights and write scores")
    parser.add_argument("--deterministic", action="store_true", help="deterministic algorithms only")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    return parser


def run_task(task: Task, argv: list[str] | None = None) -> int:
    """Command-line entry point of a trainer; returns the process exit status."""
    args = build_arg_parser(task).parse_args(argv)
    try:
        cfg = load_config(task.config_cls, args.config, args.set)
    except ConfigError as err:
        print(f"config error: {err}", file=sys.stderr)
        return 2
    if args.work_dir:
        cfg.work_dir = args.work_dir
    if args.eval_only and not args.weights:
        print("--eval-only needs --weights FILE", file=sys.stderr)
        return 2
    try:
        run(task, cfg, args)
    except (WorkDirError, ConfigError, CheckpointError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # missing or unreadable inputs, read-only or full disks: the user's to fix
        print(f"error: {describe_os_error(err)}", file=sys.stderr)
        return 2
    except InputError as err:  # data that broke during the run; finished epochs stay
        print(f"error: {describe_input_error(err)}; {cfg.work_dir} keeps every finished epoch", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"interrupted: {cfg.work_dir} keeps every finished epoch; continue with --resume", file=sys.stderr)
        return 130
    return 0


def run(task: Task, cfg: Experiment, args: argparse.Namespace) -> dict[str, Any]:
    """Train (or evaluate) ``task`` under ``cfg``; returns the final metrics."""
    check_settings(cfg)
    dist_info = init_distributed(args.device)
    try:
        if cfg.train.amp == "fp16" and dist_info.device.type != "cuda":
            raise ConfigError("'train.amp' fp16 needs CUDA (its grad scaler is CUDA-only); "
                              f"on {dist_info.device.type} use bf16 or none")
        work_dir = Path(cfg.work_dir)
        if args.resume:
            check_resume(work_dir, cfg)
        # Everything that can be checked (data, weights, maps) is built before the work dir is written,
        # even created (its lock included): a failed start leaves no folder behind.
        runner = Runner(task, cfg, args, dist_info, work_dir)
        runner.build()
        lock_work_dir(work_dir, dist_info)
        prepare_work_dir(work_dir, dist_info, resume=args.resume, overwrite=args.overwrite,
                         eval_only=args.eval_only)
        setup_logging(work_dir, dist_info)
        configure_determinism(args.deterministic, dist_info.device)
        if dist_info.is_main:
            save_config(cfg, work_dir / ("eval_config.yaml" if args.eval_only else "config.yaml"))
        return runner.execute()
    finally:
        release_locks()
        cleanup(dist_info)


def configure_determinism(deterministic: bool, device: torch.device) -> None:
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    elif device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


def epoch_seed(seed: int, epoch: int, rank: int) -> int:
    return (seed * 1_000_003 + epoch * 1009 + rank) % (2**31)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def seed_worker(worker_id: int) -> None:
    """Give each loader worker its own NumPy/Python seed derived from torch's per-worker seed."""
    worker_seed = torch.initial_seed() % (2**31)
    np.random.seed(worker_seed)
    random.seed(worker_seed)


def lr_factor(epoch: int, cfg: Experiment) -> float:
    """Learning-rate multiplier for ``epoch`` (0-based): linear warm-up, then step or cosine decay."""
    optim = cfg.optim
    if epoch < optim.warmup_epochs:
        return (epoch + 1) / optim.warmup_epochs
    if optim.schedule == "cosine":
        span = max(1, cfg.train.epochs - optim.warmup_epochs)
        progress = (epoch - optim.warmup_epochs) / span
        floor = optim.min_lr / optim.lr if optim.lr else 0.0
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))
    return optim.gamma ** sum(epoch >= m for m in optim.milestones)


class ShardSampler(Sampler[int]):
    """Evaluation order split across ranks without padding: rank r takes r, r+W, r+2W, ..."""

    def __init__(self, length: int, rank: int, world_size: int) -> None:
        self.indices = list(range(rank, length, world_size))

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


class Runner:
    """State of one run; :meth:`execute` is the whole loop."""

    def __init__(self, task: Task, cfg: Experiment, args: argparse.Namespace, info: DistInfo,
                 work_dir: Path) -> None:
        self.task, self.cfg, self.args, self.info, self.work_dir = task, cfg, args, info, work_dir
        self.device = info.device
        self.amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg.train.amp)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype is torch.float16)
        self.writer: Any = None
        self.evaluation = task.make_evaluation(cfg)

    # -- building ---------------------------------------------------------------------------------
    def build_model(self) -> nn.Module:
        seed_everything(self.cfg.seed)  # identical initial weights on every rank and every run
        model = self.task.build_model(self.cfg)
        if self.args.weights:
            load_model_weights(model, self.args.weights)
        model.to(self.device)
        if self.cfg.train.channels_last:
            model.to(memory_format=torch.channels_last)
        return model

    def loader(self, dataset: Dataset, train: bool) -> DataLoader:
        tc = self.cfg.train
        world = self.info.world_size
        batch = tc.batch_size if train else tc.eval_batch_size
        if batch % world:
            raise ConfigError(f"train.{'batch_size' if train else 'eval_batch_size'}={batch} "
                              f"is not divisible by the {world} processes")
        if train:
            sampler: Sampler[int] = DistributedSampler(
                dataset, num_replicas=world, rank=self.info.rank, shuffle=True, seed=self.cfg.seed, drop_last=False
            )
        else:
            sampler = ShardSampler(len(dataset), self.info.rank, world)  # type: ignore[arg-type]
        persistent = tc.persistent_workers and tc.num_workers > 0
        if persistent and train:
            # a persistent worker is seeded once, not every epoch: seed each sample instead
            sampler = EpochSampler(sampler)  # type: ignore[assignment]
        return DataLoader(
            IndexedDataset(dataset, seed=self.cfg.seed),
            batch_size=batch // world,
            sampler=sampler,
            num_workers=tc.num_workers,
            pin_memory=tc.pin_memory and self.device.type == "cuda",
            drop_last=False,
            worker_init_fn=seed_worker,
            persistent_workers=persistent,
            prefetch_factor=tc.prefetch_factor if tc.num_workers > 0 else None,
            collate_fn=IndexedCollate(self.task.collate_fn),
        )

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def to_device(self, batch: Any, inputs: bool = False) -> Any:
        """Every tensor of an input or target batch on the device, inputs through the task's
        ``device_transform``; (floating) images channels-last when asked."""
        channels_last = self.cfg.train.channels_last

        def layout(tensor: torch.Tensor) -> torch.Tensor:
            if channels_last and tensor.dim() == 4 and tensor.is_floating_point():
                return tensor.contiguous(memory_format=torch.channels_last)
            return tensor

        if inputs and self.task.device_transform is not None:  # tensors already there are not copied again
            batch = self.task.device_transform(move_to(batch, self.device), self.cfg)
        return move_to(batch, self.device, layout)

    # -- the loop ---------------------------------------------------------------------------------
    def build(self) -> None:
        """The model, the datasets and their loaders: what fails on bad data or weights, before any write."""
        self.model = self.build_model()
        self.eval_set = self.task.build_dataset(self.cfg, "test")
        self.eval_loader = self.loader(self.eval_set, train=False)
        if not self.args.eval_only:
            self.train_set = self.task.build_dataset(self.cfg, "train")
            self.train_loader = self.loader(self.train_set, train=True)

    def execute(self) -> dict[str, Any]:
        cfg, info = self.cfg, self.info
        model, eval_set, eval_loader = self.model, self.eval_set, self.eval_loader
        names = list(getattr(eval_set, "sample_names", [f"test_{i}" for i in range(len(eval_set))]))
        if self.args.weights:
            log.info("loaded weights from %s", self.args.weights)
        if info.is_main and not self.args.eval_only:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(self.work_dir / "tensorboard"))
        if self.args.eval_only:
            metrics, entries = self.evaluate(model, eval_loader, len(eval_set))
            if info.is_main:
                self.evaluation.save(self.work_dir / "scores" / "eval.pkl", names, entries)
                log.info("eval: %s  -> %s", self.evaluation.describe(metrics), self.work_dir / "scores" / "eval.pkl")
            return metrics

        train_set, train_loader = self.train_set, self.train_loader
        optimizer = torch.optim.SGD(
            model.parameters(), lr=cfg.optim.lr, momentum=cfg.optim.momentum,
            nesterov=cfg.optim.nesterov, weight_decay=cfg.optim.weight_decay,
        )
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: lr_factor(e, cfg))
        key = self.evaluation.key
        start_epoch, best = 0, {key: -math.inf, "epoch": -1}
        if self.args.resume:
            start_epoch, best = self.restore(model, optimizer, scheduler)

        train_model: nn.Module = model
        if info.enabled:
            train_model = nn.parallel.DistributedDataParallel(
                model, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
        backend = cfg.train.compile_backend()
        if backend != "none":
            train_model = torch.compile(train_model, backend=backend)

        log.info("%s: %d train / %d eval samples, %d process(es) on %s, %.2fM parameters", self.task.name,
                 len(train_set), len(eval_set), info.world_size, self.device,
                 sum(p.numel() for p in model.parameters()) / 1e6)
        metrics: dict[str, Any] = {}
        for epoch in range(start_epoch, cfg.train.epochs):
            seed_everything(epoch_seed(cfg.seed, epoch, info.rank))
            train_loader.sampler.set_epoch(epoch)  # type: ignore[attr-defined]
            train_metrics = self.train_epoch(train_model, train_loader, optimizer, epoch)
            scheduler.step()
            metrics = {"epoch": epoch + 1, **train_metrics}
            last_epoch = epoch + 1 == cfg.train.epochs
            if (epoch + 1) % cfg.train.eval_interval == 0 or last_epoch:
                eval_metrics, entries = self.evaluate(model, eval_loader, len(eval_set))
                metrics.update({f"eval_{k}": v for k, v in eval_metrics.items()})
                if info.is_main:
                    self.log_eval(epoch, eval_metrics)
                    if eval_metrics[key] > best.get(key, -math.inf):
                        best = {key: eval_metrics[key], "epoch": epoch + 1}
                        self.save_best(model, names, entries, epoch)
                    if last_epoch:
                        self.evaluation.save(self.work_dir / "scores" / "final.pkl", names, entries)
            if info.is_main:
                self.save_checkpoint(model, optimizer, scheduler, epoch, best)
                with open(self.work_dir / "metrics.jsonl", "a") as fh:
                    fh.write(json.dumps(metrics) + "\n")
            barrier(info)
        if info.is_main:
            log.info("done: final scores %s; best epoch %s (%s %.4g, chosen on the evaluation split)",
                     self.work_dir / "scores" / "final.pkl", best["epoch"], key, best.get(key, math.nan))
            if self.writer is not None:
                self.writer.close()
        return metrics

    def train_epoch(self, model: nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer,
                    epoch: int) -> dict[str, float]:
        model.train()
        cfg = self.cfg
        lr = optimizer.param_groups[0]["lr"]
        total_loss, total_correct, total_seen = 0.0, 0, 0
        term_sums: dict[str, float] = {}
        start = time.perf_counter()
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{cfg.train.epochs}", disable=not self.info.is_main,
                   leave=False, dynamic_ncols=True)
        step_base = epoch * len(loader)
        for step, (inputs, target, index) in enumerate(bar):
            inputs, target = self.to_device(inputs, inputs=True), self.to_device(target)
            with self.autocast():
                output = model(inputs)
                loss, terms = self.task.loss_terms(output, target, cfg)
            optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            if cfg.train.grad_clip > 0:
                self.scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(model.parameters(), cfg.train.grad_clip)
            self.scaler.step(optimizer)
            self.scaler.update()
            batch = len(index)
            total_loss += float(loss.detach()) * batch
            for name, term in terms.items():
                term_sums[name] = term_sums.get(name, 0.0) + float(term.detach()) * batch
            if self.task.classifies:
                total_correct += int((self.task.logits(output).detach().argmax(1) == class_labels(target)).sum())
            total_seen += batch
            if self.info.is_main:
                bar.set_postfix(loss=f"{total_loss / total_seen:.4f}", lr=f"{lr:.4g}")
                if self.writer is not None and (step % cfg.train.log_interval == 0):
                    self.writer.add_scalar("train/loss_step", float(loss.detach()), step_base + step)
        elapsed = time.perf_counter() - start
        term_names = sorted(term_sums)
        loss_sum, correct, seen, *term_totals = all_reduce_sum(
            self.info, [total_loss, float(total_correct), float(total_seen), *(term_sums[n] for n in term_names)])
        metrics = {"loss": loss_sum / max(seen, 1), "lr": lr, "samples_per_s": seen / max(elapsed, 1e-9)}
        if self.task.classifies:
            metrics["top1"] = correct / max(seen, 1)
        metrics.update({f"loss_{n}": total / max(seen, 1) for n, total in zip(term_names, term_totals, strict=True)})
        if self.info.is_main:
            accuracy = f"  train-top1 {100 * metrics['top1']:.2f}%" if "top1" in metrics else ""
            log.info("epoch %d/%d  loss %.4f%s  lr %.4g  %.1f samples/s", epoch + 1, cfg.train.epochs,
                     metrics["loss"], accuracy, lr, metrics["samples_per_s"])
            if self.writer is not None:
                for key, value in metrics.items():
                    self.writer.add_scalar(f"train/{key}", value, epoch + 1)
        return metrics

    @torch.no_grad()
    def evaluate(self, model: nn.Module, loader: DataLoader, size: int) -> tuple[dict[str, float], list[Any]]:
        """The task's metrics over the whole split, and every sample's score entry in dataset order."""
        model.eval()
        records: list[Any] = []
        metric_sums: dict[str, list[float]] = {}
        start = time.perf_counter()
        for inputs, target, index in tqdm(loader, desc="eval", disable=not self.info.is_main, leave=False,
                                          dynamic_ncols=True):
            inputs = self.to_device(inputs, inputs=True)
            with self.autocast():
                output = model(inputs)
            if self.task.batch_metrics is not None:
                for name, (total, count) in self.task.batch_metrics(output, self.to_device(target), self.cfg).items():
                    sums = metric_sums.setdefault(name, [0.0, 0.0])
                    sums[0] += float(total)
                    sums[1] += float(count)
            records.append(self.evaluation.batch(output, target, index))
        gathered = [record for shard in all_gather_objects(self.info, records) for record in shard]
        metrics, entries = self.evaluation.summarise(gathered, size)
        metrics["samples_per_s"] = size / max(time.perf_counter() - start, 1e-9)
        metrics.update(self.reduce_metrics(metric_sums))
        return metrics, entries

    def reduce_metrics(self, metric_sums: dict[str, list[float]]) -> dict[str, float]:
        """The task's metrics over every batch of every process: ``sum / count`` each (NaN with no count)."""
        # Every rank must take part in the reduction, also one whose shard gave no batch.
        names = sorted(name for shard in all_gather_objects(self.info, sorted(metric_sums)) for name in shard)
        names = sorted(set(names))
        flat = all_reduce_sum(self.info, [v for n in names for v in metric_sums.get(n, [0.0, 0.0])])
        return {n: flat[2 * i] / flat[2 * i + 1] if flat[2 * i + 1] else math.nan for i, n in enumerate(names)}

    # -- outputs ----------------------------------------------------------------------------------
    def log_eval(self, epoch: int, metrics: dict[str, float]) -> None:
        log.info("eval after epoch %d: %s", epoch + 1, self.evaluation.describe(metrics))
        if self.writer is not None:
            for key, value in metrics.items():
                self.writer.add_scalar(f"eval/{key}", value, epoch + 1)

    def save_best(self, model: nn.Module, names: list[str], entries: list[Any], epoch: int) -> None:
        # Chosen on the evaluation split, which for NTU is the test split: say so in the file names.
        self.evaluation.save(self.work_dir / "scores" / "best_chosen_on_eval.pkl", names, entries)
        atomic_torch_save({"model": model.state_dict(), "epoch": epoch + 1},
                          self.work_dir / "checkpoints" / "best_chosen_on_eval.pt")

    def save_checkpoint(self, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any, epoch: int,
                        best: dict[str, Any]) -> None:
        state = {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "epoch": epoch + 1,
            "best": best,
            "rng": capture_rng_state(),
        }
        atomic_torch_save(state, self.work_dir / LAST_CHECKPOINT)

    def restore(self, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any) -> tuple[int, dict]:
        path = self.work_dir / LAST_CHECKPOINT
        state = safe_load(path)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        restore_rng_state(state["rng"])
        log.info("resumed from %s after epoch %d", path, state["epoch"])
        return int(state["epoch"]), dict(state["best"])
