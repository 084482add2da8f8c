"""Typed experiment configs: YAML files loaded into dataclasses, with strict checking.

Every YAML key maps onto a dataclass field. An unknown or misspelt key is an error naming the file,
the key and the closest valid key; a value of the wrong type names the expected type. A file may
start from another with ``_base_: relative/path.yaml`` (mappings are merged, the child wins).
Command-line overrides use the same dotted names: ``--set optim.lr=0.05 --set train.epochs=3``.

A trainer's experiment derives from :class:`Experiment` and adds its own ``model`` and ``data``
sections; :class:`OptimConfig` and :class:`TrainConfig` are what the shared engine reads.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

T = TypeVar("T")
BASE_KEY = "_base_"


class ConfigError(ValueError):
    """A config file or override that does not fit the experiment's dataclasses."""


@dataclass
class OptimConfig:
    """SGD with linear warm-up, then step decay (or cosine), stepped once per epoch as in CTR-GCN."""

    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 4e-4
    warmup_epochs: int = 5
    schedule: Literal["step", "cosine"] = "step"
    milestones: list[int] = field(default_factory=lambda: [35, 55])
    gamma: float = 0.1
    min_lr: float = 0.0


@dataclass
class TrainConfig:
    """How the engine runs: epochs, batch sizes, evaluation, precision and loader settings.

    ``batch_size`` is the global batch: with ``torchrun`` each of the W processes takes
    ``batch_size / W`` samples, so a config means the same experiment on any number of GPUs.
    """

    def compile_backend(self) -> str:
        """The torch.compile backend to use, or "none"."""
        if isinstance(self.compile, bool):
            return "inductor" if self.compile else "none"
        return self.compile

    epochs: int = 65
    batch_size: int = 64
    eval_batch_size: int = 256
    eval_interval: int = 1
    num_workers: int = 4
    # bf16 autocast on CUDA and on the CPU; fp16 (with a grad scaler) on CUDA only
    amp: Literal["none", "bf16", "fp16"] = "none"
    channels_last: bool = False
    # a torch.compile backend: "inductor" for real runs, "aot_eager" to check graph capture cheaply;
    # true means "inductor", false "none"
    compile: Literal["none", "inductor", "aot_eager", "eager"] | bool = "none"
    log_interval: int = 50
    grad_clip: float = 0.0
    pin_memory: bool = True  # page-locked host batches and non-blocking copies (CUDA only)
    persistent_workers: bool = False  # keep loader workers between epochs (samples are then seeded one by one)
    prefetch_factor: int = 2  # batches each loader worker prepares ahead


@dataclass
class Experiment:
    """The sections every experiment has; trainers subclass it to add ``model`` and ``data``."""

    work_dir: str = "work_dirs/run"
    seed: int = 1
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


def check_settings(config: Experiment) -> None:
    """Values the engine cannot run with, named by key, before anything is written or trained."""
    optim, train = config.optim, config.train
    problems = [
        (train.epochs >= 1, "train.epochs", "at least 1", train.epochs),
        (train.batch_size >= 1, "train.batch_size", "at least 1", train.batch_size),
        (train.eval_batch_size >= 1, "train.eval_batch_size", "at least 1", train.eval_batch_size),
        (train.eval_interval >= 1, "train.eval_interval", "at least 1", train.eval_interval),
        (train.num_workers >= 0, "train.num_workers", "0 or more", train.num_workers),
        (train.prefetch_factor >= 1, "train.prefetch_factor", "at least 1", train.prefetch_factor),
        (train.log_interval >= 1, "train.log_interval", "at least 1", train.log_interval),
        (train.grad_clip >= 0, "train.grad_clip", "0 (off) or more", train.grad_clip),
        (optim.lr > 0, "optim.lr", "greater than 0", optim.lr),
        (optim.momentum >= 0, "optim.momentum", "0 or more", optim.momentum),
        (optim.weight_decay >= 0, "optim.weight_decay", "0 or more", optim.weight_decay),
        (optim.warmup_epochs >= 0, "optim.warmup_epochs", "0 or more", optim.warmup_epochs),
        (optim.gamma > 0, "optim.gamma", "greater than 0", optim.gamma),
        (optim.min_lr >= 0, "optim.min_lr", "0 or more", optim.min_lr),
        (all(m >= 0 for m in optim.milestones) and optim.milestones == sorted(optim.milestones),
         "optim.milestones", "ascending epochs, 0 or more", optim.milestones),
    ]
    for ok, key, expected, value in problems:
        if not ok:
            raise ConfigError(f"'{key}' should be {expected}, found {value!r}")


def load_config(cls: type[T], path: str | Path | None = None, overrides: list[str] | None = None) -> T:
    """Build ``cls`` from a YAML file (or its defaults when ``path`` is None) plus ``key=value`` overrides."""
    raw: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        raw = _read_yaml_with_bases(Path(path), seen=())
        source = str(path)
    config = _build(cls, raw, source=source, prefix="")
    for item in overrides or []:
        apply_override(config, item)
    return config


def apply_override(config: Any, item: str) -> None:
    """Apply one ``dotted.key=value`` override in place; the value is parsed as YAML."""
    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {item!r}: expected KEY=VALUE, for example optim.lr=0.05")
    where = f"--set {item}"
    parts = key.strip().split(".")
    target = config
    for depth, name in enumerate(parts):
        fields = {f.name: f for f in dataclasses.fields(target)}
        if name not in fields:
            raise ConfigError(_unknown_key_message(where, ".".join(parts[: depth + 1]), name, fields))
        hint = typing.get_type_hints(type(target))[name]
        if depth == len(parts) - 1:
            value = yaml.safe_load(text) if text.strip() else None
            setattr(target, name, _coerce(value, hint, where=where, key=key))
        else:
            target = getattr(target, name)
            if not dataclasses.is_dataclass(target):
                raise ConfigError(f"{where}: '{'.'.join(parts[: depth + 1])}' is a value, not a section")


def config_to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def save_config(config: Any, path: str | Path) -> None:
    """Write the fully resolved config as YAML (atomically)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # unique: two writers never share a name
    tmp.write_text(yaml.safe_dump(config_to_dict(config), sort_keys=False))
    tmp.replace(path)


def _read_yaml_with_bases(path: Path, seen: tuple[Path, ...]) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    resolved = path.resolve()
    if resolved in seen:
        raise ConfigError(f"{path}: {BASE_KEY} chain loops back to itself")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, found {type(data).__name__}")
    base = data.pop(BASE_KEY, None)
    if base is None:
        return data
    bases = [base] if isinstance(base, str) else base
    merged: dict[str, Any] = {}
    for entry in bases:
        merged = _merge(merged, _read_yaml_with_bases(path.parent / entry, seen + (resolved,)))
    return _merge(merged, data)


def _merge(base: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in child.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _unknown_key_message(where: str, dotted: str, name: str, fields: dict[str, Any]) -> str:
    close = difflib.get_close_matches(name, list(fields), n=1, cutoff=0.5)
    hint = f"; did you mean '{close[0]}'?" if close else f"; valid keys here: {', '.join(sorted(fields))}"
    return f"{where}: unknown key '{dotted}'{hint}"


def _build(cls: type[T], raw: Any, *, source: str, prefix: str) -> T:
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{source}: '{prefix.rstrip('.') or '<top>'}' should be a mapping, found {type(raw).__name__}"
        )
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in raw.items():
        if key not in fields:
            raise ConfigError(_unknown_key_message(source, prefix + str(key), str(key), fields))
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            section = _build(hint, value if value is not None else {}, source=source, prefix=f"{prefix}{key}.")
            # A YAML section changes only the keys it names; the rest keep the experiment's own
            # defaults (its default_factory), not the section class's generic ones.
            default = _field_default(fields[key])
            named = {k: getattr(section, k) for k in (value or {})}
            kwargs[key] = dataclasses.replace(default, **named) if default is not None else section
        else:
            kwargs[key] = _coerce(value, hint, where=source, key=prefix + key)
    return cls(**kwargs)


def _field_default(f: dataclasses.Field) -> Any:
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    if f.default is not dataclasses.MISSING:
        return f.default
    return None


def _type_name(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(hint))
    if origin in (list, tuple):
        args = typing.get_args(hint)
        return f"a list of {_type_name(args[0])}" if args else "a list"
    if origin is dict:
        args = typing.get_args(hint)
        return f"a mapping of {_type_name(args[0])} to {_type_name(args[1])}" if args else "a mapping"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(hint))
    if hint is type(None):
        return "null"
    return getattr(hint, "__name__", str(hint))


def _coerce(value: Any, hint: Any, *, where: str, key: str) -> Any:
    """Check ``value`` against a field's type hint, converting only where no information is lost."""

    def fail() -> ConfigError:
        return ConfigError(f"{where}: '{key}' should be {_type_name(hint)}, found {value!r}")

    origin = typing.get_origin(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(hint):
            try:
                return _coerce(value, option, where=where, key=key)
            except ConfigError:
                continue
        raise fail()
    if hint is type(None):
        if value is None:
            return None
        raise fail()
    if origin is Literal:
        if value in typing.get_args(hint):
            return value
        raise fail()
    if origin in (list, tuple):
        if not isinstance(value, list | tuple):
            raise fail()
        (item_hint, *_) = typing.get_args(hint) or (Any,)
        items = [_coerce(v, item_hint, where=where, key=f"{key}[{i}]") for i, v in enumerate(value)]
        return items if origin is list else tuple(items)
    if origin is dict:
        if not isinstance(value, dict):
            raise fail()
        key_hint, value_hint = typing.get_args(hint) or (Any, Any)
        return {
            _coerce(k, key_hint, where=where, key=f"{key} key"): _coerce(v, value_hint, where=where, key=f"{key}.{k}")
            for k, v in value.items()
        }
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise fail()
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise fail()
    if hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        # PyYAML reads 1e-4 (no dot) as a string; accept what is unambiguously a number.
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise fail()
    if hint is str:
        if isinstance(value, str):
            return value
        raise fail()
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, source=where, prefix=f"{key}.")
    if isinstance(value, hint):
        return value
    raise fail()
