"""Pictures of a fusion result: the confusion matrix and the classes that parsing changes most."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fusion.evaluate import FusionResult


def action_label(index: int, class_names: Sequence[str] | None) -> str:
    return class_names[index] if class_names else f"A{index + 1:03d}"


def _new_figure(size: tuple[float, float]) -> Any:
    # Figure + Agg canvas directly: no pyplot global state, no display needed.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=100)
    FigureCanvasAgg(fig)
    return fig


def plot_confusion(path: Path, result: FusionResult, class_names: Sequence[str] | None) -> None:
    """Row-normalised confusion matrix of the full fusion."""
    # Only the classes that occur (as truth or as a prediction): a subset of NTU stays readable.
    shown = np.flatnonzero(result.confusion.sum(axis=0) + result.confusion.sum(axis=1))
    counts = result.confusion[np.ix_(shown, shown)]
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = counts / counts.sum(axis=1, keepdims=True)
    c = len(counts)
    fig = _new_figure((10, 9))
    ax = fig.add_subplot()
    image = ax.imshow(np.nan_to_num(rates), cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
    step = max(1, c // 20)
    ticks = np.arange(0, c, step)
    ax.set_xticks(ticks, [action_label(shown[i], class_names) for i in ticks], rotation=90, fontsize=6)
    ax.set_yticks(ticks, [action_label(shown[i], class_names) for i in ticks], fontsize=6)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{result.title}: full fusion, top-1 {result.top1['full fusion']:.2f}%")
    fig.colorbar(image, ax=ax, fraction=0.046, label="share of the true class")
    fig.tight_layout()
    fig.savefig(path)


def parsing_gain_classes(result: FusionResult, count: int = 20) -> np.ndarray:
    """Up to ``count`` classes whose top-1 changes when parsing joins the pose streams, most changed
    first by size, then ordered by the change; empty when no class changes."""
    delta = result.per_class["full fusion"] - result.per_class["pose fusion"]
    valid = np.flatnonzero(~np.isnan(delta))
    changed = valid[delta[valid] != 0]
    chosen = changed[np.argsort(-np.abs(delta[changed]), kind="stable")[:count]]
    return chosen[np.argsort(delta[chosen], kind="stable")]


def no_change_message(result: FusionResult) -> str:
    classes = int(np.sum(~np.isnan(result.per_class["full fusion"])))
    return (
        f"no class changed: with parsing, each of the {classes} classes has the top-1 of the pose-only\n"
        f"fusion ({result.top1['pose fusion']:.2f}% overall, full fusion {result.top1['full fusion']:.2f}%)"
    )


def plot_parsing_gain(
    path: Path, result: FusionResult, class_names: Sequence[str] | None, count: int = 20
) -> np.ndarray:
    """The classes whose top-1 changes most when the parsing stream joins the pose streams (returned); when
    no class changes, a picture that says so in words instead of an empty chart."""
    chosen = parsing_gain_classes(result, count)
    title = f"{result.title}: classes most changed by adding parsing"
    if not len(chosen):
        fig = _new_figure((8, 2.5))
        ax = fig.add_subplot()
        ax.axis("off")
        ax.set_title(title)
        ax.text(0.5, 0.5, no_change_message(result), ha="center", va="center", fontsize=11, transform=ax.transAxes)
        fig.savefig(path)
        return chosen
    delta = result.per_class["full fusion"] - result.per_class["pose fusion"]
    fig = _new_figure((8, 0.3 * len(chosen) + 1.5))
    ax = fig.add_subplot()
    values = 100 * delta[chosen]
    ax.barh(np.arange(len(chosen)), values, color=["tab:green" if v >= 0 else "tab:red" for v in values])
    ax.set_yticks(np.arange(len(chosen)), [action_label(i, class_names) for i in chosen], fontsize=7)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel("per-class top-1 change, full fusion - pose-only (percentage points)")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path)
    return chosen
