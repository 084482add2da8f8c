"""Checkpoints: atomic saving, safe loading, and RNG states that survive ``weights_only`` loading.

Checkpoints and weights from elsewhere are untrusted input, so everything is read with
``torch.load(..., weights_only=True)``; RNG states are therefore stored as plain tensors and ints.
"""

from __future__ import annotations

import os
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn


class CheckpointError(RuntimeError):
    """A weights file that cannot be read or does not fit the model."""


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """Write to a temporary file beside ``path`` and rename, so a killed run never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def safe_load(path: str | Path) -> Any:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"weights file {path} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for corrupt or unsafe files
        raise CheckpointError(f"{path}: cannot be loaded safely (weights_only=True): {err}") from err


def extract_state_dict(obj: Any, path: str | Path) -> dict[str, torch.Tensor]:
    """Find the model weights in our checkpoints, ``{'state_dict': ...}`` files or bare state dicts."""
    if isinstance(obj, Mapping):
        for key in ("model", "state_dict"):
            if key in obj and isinstance(obj[key], Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path}: no state dict of tensors found (expected a model checkpoint)")
    return {k.removeprefix("module.").removeprefix("_orig_mod."): v for k, v in obj.items()}


def check_state_dict(model: nn.Module, state: Mapping[str, torch.Tensor], path: str | Path) -> None:
    """Raise one error that names every missing, unexpected and wrongly shaped key."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in expected
        if k in state and state[k].shape != expected[k].shape
    ]
    if missing or unexpected or wrong:
        parts = []
        for title, items in (("missing keys", missing), ("unexpected keys", unexpected), ("wrong shapes", wrong)):
            if items:
                shown = ", ".join(items[:8]) + (f", ... ({len(items)} in all)" if len(items) > 8 else "")
                parts.append(f"{title}: {shown}")
        raise CheckpointError(f"{path}: does not fit the model; " + "; ".join(parts))


def load_model_weights(model: nn.Module, path: str | Path) -> None:
    """Load weights strictly (after stripping a ``module.`` prefix) from an untrusted file."""
    state = extract_state_dict(safe_load(path), path)
    check_state_dict(model, state, path)
    model.load_state_dict(state, strict=True)


def capture_rng_state() -> dict[str, Any]:
    np_kind, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    py_version, py_state, py_gauss = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy_keys": torch.from_numpy(np.asarray(np_keys, dtype=np.int64)),
        "numpy_pos": int(np_pos),
        "numpy_has_gauss": int(np_has_gauss),
        "numpy_gauss": float(np_gauss),
        "python_state": torch.tensor(py_state, dtype=torch.int64),
        "python_version": int(py_version),
        "python_gauss": py_gauss,
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(
        (
            "MT19937",
            state["numpy_keys"].numpy().astype(np.uint32),
            state["numpy_pos"],
            state["numpy_has_gauss"],
            state["numpy_gauss"],
        )
    )
    random.setstate((state["python_version"], tuple(state["python_state"].tolist()), state["python_gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def load_all_but_head(model: nn.Module, state: dict[str, torch.Tensor], path: str | Path,
                      head_prefixes: tuple[str, ...], *, drop_absent_heads: bool = False) -> list[str]:
    """Load ``state`` into ``model`` except classifier-head keys (``head_prefixes``) whose shape differs
    (and, with ``drop_absent_heads``, head keys the model lacks); returns the skipped keys.

    Every other key must fit exactly, else one :class:`CheckpointError` names the file and the keys.
    """
    expected = model.state_dict()
    skipped = [k for k, v in state.items() if k.startswith(head_prefixes)
               and ((k in expected and v.shape != expected[k].shape) or (drop_absent_heads and k not in expected))]
    state = {k: v for k, v in state.items() if k not in skipped}
    missing = [k for k in expected if k not in state and k not in skipped]
    unexpected = [k for k in state if k not in expected]
    wrong = [f"{k} {tuple(state[k].shape)} vs {tuple(expected[k].shape)}"
             for k in state if k in expected and state[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        raise CheckpointError(f"{path}: does not fit the {type(model).__name__}; missing {missing[:5]}, "
                              f"unexpected {unexpected[:5]}, wrong shapes {wrong[:5]}")
    model.load_state_dict(state, strict=False)
    return skipped
