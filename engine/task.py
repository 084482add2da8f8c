"""The task contract between a system and the engine, and the batch helpers it implies.

A system describes its task; the engine trains it. The simple form (pose, parsing) is one line:

    TASK = Task(name="pose", config_cls=PoseExperiment, build_model=build_model, build_dataset=build_dataset)

A dataset item is ``(inputs, target)``. ``inputs`` is a tensor or a (nested) dict / list of tensors
(frames, joints, masks, boxes): the engine moves every tensor in it to the device and calls
``model(inputs)``. ``target`` is the 0-based class label (an int), or a dict holding it under
``"label"`` beside the task's other targets (poses, visibilities, part states).

A model returns the logits ``(N, classes)``, a tuple whose first item is the logits (InceptionV3 in
training), or a dict of outputs of which ``Task.logits_key`` names the logits. Those logits give the
engine's top-1/top-5 and the score file.

Losses: ``compute_loss(output, target, cfg)`` returns a scalar, or a dict of named terms; the engine
minimises ``sum(weight[k] * term[k])`` with ``Task.loss_weights(cfg)`` (1 for a term it does not
name) and logs every term (``loss_<name>``) beside the total. Without ``compute_loss`` the loss is the
cross-entropy of the logits.

Extra evaluation metrics: ``batch_metrics(output, target, cfg)`` returns, per metric, a
``(sum, count)`` pair for the batch (e.g. correct joints and visible joints for PCK, summed
millimetres and joints for MPJPE); the engine adds them over batches and processes and logs
``sum / count`` as ``eval_<name>`` (TensorBoard ``eval/<name>``, ``metrics.jsonl``).

``collate_fn`` (a list of ``(inputs, target)`` -> batched ``(inputs, target)``) replaces PyTorch's
default collation, e.g. to pad variable-length boxes.

``device_transform(inputs, cfg)`` is applied by the engine to each batch's ``inputs`` (never the target)
right after they reach the device, outside autocast, in training and evaluation, and returns the
inputs ``model`` gets: e.g. a dataset hands over uint8 images (a quarter of float32's bytes through
the loader and host->device copy) and the transform normalises them on the device. ``train.channels_last``
applies to its (floating) output.

A task that does not classify (a detector) gives ``evaluation``, a factory ``cfg -> Evaluation``
(``engine/evaluation.py``): its metrics, the metric that picks the best epoch and its score files replace
top-1/top-5 and the logits; the training log then has no train accuracy.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset, Sampler, default_collate

from engine.config import Experiment
from engine.evaluation import ClassificationEvaluation, Evaluation

LossTerms = Mapping[str, torch.Tensor]
MetricSums = Mapping[str, tuple[float, float]]


@dataclass
class Task:
    """What a trainer contributes; everything else is the engine's."""

    name: str
    config_cls: type[Experiment]
    build_model: Callable[[Any], nn.Module]
    build_dataset: Callable[[Any, str], Dataset]
    compute_loss: Callable[[Any, Any, Any], torch.Tensor | LossTerms] | None = None
    loss_weights: Callable[[Any], Mapping[str, float]] | None = None
    logits_key: str = ""  # the output dict's key of the logits; "" for a tensor (or tuple) output
    batch_metrics: Callable[[Any, Any, Any], MetricSums] | None = None
    collate_fn: Callable[[list[tuple[Any, Any]]], tuple[Any, Any]] | None = None
    evaluation: Callable[[Any], Evaluation] | None = None
    device_transform: Callable[[Any, Any], Any] | None = None  # (inputs on the device, cfg) -> model inputs

    @property
    def classifies(self) -> bool:
        """Whether the task's outputs hold logits the engine scores (no ``evaluation`` of its own)."""
        return self.evaluation is None

    def make_evaluation(self, cfg: Any) -> Evaluation:
        """The task's evaluation of a split (classification of :meth:`logits` unless it gives its own)."""
        if self.evaluation is not None:
            return self.evaluation(cfg)
        return ClassificationEvaluation(self.logits, class_labels)

    def logits(self, output: Any) -> torch.Tensor:
        """The logits ``(N, classes)`` in a model's output."""
        if isinstance(output, Mapping):
            if not self.logits_key or self.logits_key not in output:
                raise KeyError(f"task {self.name}: the model returned outputs {sorted(output)}; "
                               f"Task.logits_key is {self.logits_key!r}")
            return output[self.logits_key]
        return logits_of(output)

    def loss_terms(self, output: Any, target: Any, cfg: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The loss to minimise and its named terms (empty for a single-term loss)."""
        if self.compute_loss is None:
            return F.cross_entropy(self.logits(output), class_labels(target)), {}
        loss = self.compute_loss(output, target, cfg)
        if isinstance(loss, torch.Tensor):
            return loss, {}
        if not loss:
            raise ValueError(f"task {self.name}: compute_loss returned no loss terms")
        weights = dict(self.loss_weights(cfg)) if self.loss_weights is not None else {}
        unknown = set(weights) - set(loss)
        if unknown:
            raise KeyError(f"task {self.name}: loss weights for {sorted(unknown)}, but the terms are {sorted(loss)}")
        total = sum(weights.get(name, 1.0) * term for name, term in loss.items())
        return total, dict(loss)  # type: ignore[return-value]


def logits_of(output: Any) -> torch.Tensor:
    """Models may return auxiliary outputs in training (InceptionV3); the first item is the logits."""
    if isinstance(output, torch.Tensor):
        return output
    return output[0]


def class_labels(target: Any) -> torch.Tensor:
    """The class labels ``(N,)`` of a batch's target (the target itself, or its ``"label"``)."""
    if isinstance(target, Mapping):
        return target["label"]
    return target


def move_to(batch: Any, device: torch.device, transform: Callable[[torch.Tensor], torch.Tensor] | None = None) -> Any:
    """Every tensor of a (nested) dict / list / tuple batch on ``device`` (non-blocking), other leaves as they are."""
    if isinstance(batch, torch.Tensor):
        moved = batch.to(device, non_blocking=True)
        return transform(moved) if transform is not None else moved
    if isinstance(batch, Mapping):
        return {key: move_to(value, device, transform) for key, value in batch.items()}
    if isinstance(batch, list | tuple):
        return type(batch)(move_to(value, device, transform) for value in batch)
    return batch


class IndexedDataset(Dataset):
    """Adds the sample index to each item so evaluation can put scores back in dataset order.

    Given an ``(epoch, index)`` pair (from :class:`EpochSampler`), the item's randomness is seeded
    from ``(seed, epoch, index)`` first, so augmentation does not depend on which worker, or which
    life of a persistent worker, draws it.
    """

    def __init__(self, dataset: Dataset, seed: int = 0) -> None:
        self.dataset = dataset
        self.seed = seed

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[Any, Any, int]:
        if isinstance(key, tuple):
            epoch, index = key
            sample_seed = (self.seed * 1_000_003 + epoch * 100_003 + index) % (2**31)
            random.seed(sample_seed)
            np.random.seed(sample_seed)
            torch.manual_seed(sample_seed)
        else:
            index = key
        inputs, target = self.dataset[index]
        return inputs, target, index


class EpochSampler(Sampler[tuple[int, int]]):
    """A sampler's indices as ``(epoch, index)`` pairs, for per-sample seeding in persistent workers."""

    def __init__(self, sampler: Sampler[int]) -> None:
        self.sampler = sampler
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return ((self.epoch, index) for index in self.sampler)

    def __len__(self) -> int:
        return len(self.sampler)  # type: ignore[arg-type]


class IndexedCollate:
    """The task's collation (or PyTorch's default) for ``(inputs, target, index)`` items; picklable for workers."""

    def __init__(self, collate_fn: Callable[[list[tuple[Any, Any]]], tuple[Any, Any]] | None) -> None:
        self.collate_fn = collate_fn

    def __call__(self, items: list[tuple[Any, Any, int]]) -> tuple[Any, Any, torch.Tensor]:
        index = torch.tensor([item[2] for item in items], dtype=torch.long)
        pairs = [(item[0], item[1]) for item in items]
        inputs, target = self.collate_fn(pairs) if self.collate_fn is not None else default_collate(pairs)
        return inputs, target, index
