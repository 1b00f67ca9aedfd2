"""Training configuration: a YAML or JSON file mapped onto dataclasses (unknown keys are errors).

Example (``configs/msmr_fix_skvideo.yaml``)::

    model: {name: msmr_fix, overrides: {}, pretrained: false}
    warm_start: [{from: basicvsr}]          # rules in stvsr.train.warmstart
    data: {paths: [data/train], crop: 128, keys: 4, scale: 4.0, time: fixed}
    loss: {charbonnier: 1.0, ternary: 0.0, flow_consistency: 0.0}
    optim: {name: adamw, lr: 2.0e-4, weight_decay: 1.0e-4, warmup_steps: 2000, min_lr: 1.0e-7}
    steps: 300000
    batch_size: 4                            # per process
    out_dir: runs/msmr_fix

``--set key.sub=value`` on the command line overrides single values (YAML syntax).

The whole file is validated before anything runs (:func:`validate_config`): every key
must be known and every value of its field's type and range (``steps: 2.5``, a negative
loss weight or ``data.paths`` given as a string are errors naming the key).
"""

from __future__ import annotations

import collections.abc
import dataclasses
import json
import math
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stvsr.train.data import DataConfig

__all__ = ["LossConfig", "ModelConfig", "OptimConfig", "TrainConfig", "ValConfig", "load_config", "validate_config"]


@dataclass
class ModelConfig:
    name: str = "msmr_fix"  # registry name, save_pretrained folder, or "package.module:callable"
    overrides: dict[str, Any] = field(default_factory=dict)  # constructor overrides (tiny configs)
    pretrained: bool = False  # start from the registry's weights (fine-tuning)


@dataclass
class LossConfig:
    charbonnier: float = 1.0
    charbonnier_eps: float = 1e-3
    ternary: float = 0.0
    flow_consistency: float = 0.0
    flow_model: str = "spynet"  # frozen flow network of the consistency loss
    flow_pretrained: bool = True
    structure_detail: float = 1.0  # objective "fmu": RSDN structure/detail terms of the key frames
    lr_interp: float = 1.0  # objective "fmu": the LR intermediate frame vs the degraded GT
    cvrs_stego: float = 1.0  # objective "cvrs" (reconstruction uses `charbonnier`)
    cvrs_latent: float = 1.0


@dataclass
class OptimConfig:
    name: str = "adamw"  # "adamw" | "adam"
    lr: float = 2e-4
    betas: tuple[float, float] = (0.9, 0.99)
    weight_decay: float = 1e-4
    warmup_steps: int = 0
    min_lr: float = 1e-7
    grad_clip: float | None = 1.0
    # per parameter-name prefix: lr multiplier (0 freezes) and steps held at lr 0 at the start,
    # e.g. {spy: 0.125} / {spy: 5000}: BasicVSR's recipe for a pretrained flow network, whose
    # flows otherwise blow up (hundreds of pixels) within a few hundred steps of a fresh model
    lr_mult: dict[str, float] = field(default_factory=dict)
    freeze_steps: dict[str, int] = field(default_factory=dict)


@dataclass
class ValConfig:
    protocol: str = "vid4-bi-4x2x"
    data: str | None = None  # dataset path (None: no validation)
    every: int = 1000
    max_frames: int | None = 9
    window: int | None = None


@dataclass
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    val: ValConfig = field(default_factory=ValConfig)
    warm_start: list[dict[str, Any]] = field(default_factory=list)  # [{from: basicvsr, pretrained: true}]
    objective: str = "stvsr"  # "stvsr" (forward contract) | "fmu" (4-frame windows) | "cvrs" (resampler)
    steps: int = 1000
    batch_size: int = 4
    seed: int = 0
    ema_decay: float | None = 0.999
    ema_warmup: bool = True  # decay min(ema_decay, (1 + n) / (10 + n)) after n updates
    bf16: bool = False
    device: str = "auto"  # "auto" | "cpu" | "cuda"
    out_dir: str = "runs/stvsr"
    checkpoint_every: int = 1000
    log_every: int = 10
    progress: bool = True
    find_unused_parameters: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# -- schema validation -------------------------------------------------------------------------------
# Every value is checked against its field's type annotation, then against the rules below, before
# anything runs (no data loaded, no model built): the error names the key, the value and what is
# expected, instead of a Python error deep inside training.

_SECTIONS: dict[str, Any] = {
    "model": ModelConfig, "data": DataConfig, "loss": LossConfig, "optim": OptimConfig, "val": ValConfig,
}

_POSITIVE = ("> 0", lambda v: v > 0)
_NON_NEGATIVE = (">= 0", lambda v: v >= 0)
_AT_LEAST_1 = (">= 1", lambda v: v >= 1)


def _one_of(*choices: Any) -> tuple[str, Any]:
    return f"one of {', '.join(repr(c) for c in choices)}", lambda v: v in choices


#: extra rules by dotted key: (what is expected, test); None values of optional keys skip the rule
_RULES: dict[str, tuple[str, Any]] = {
    "steps": _AT_LEAST_1,
    "batch_size": _AT_LEAST_1,
    "checkpoint_every": _AT_LEAST_1,
    "log_every": _AT_LEAST_1,
    "seed": _NON_NEGATIVE,
    "objective": _one_of("stvsr", "fmu", "cvrs"),
    "ema_decay": ("in [0, 1)", lambda v: 0 <= v < 1),
    "device": ("'auto' or a torch device such as 'cpu', 'cuda', 'cuda:1'", lambda v: v == "auto" or _is_device(v)),
    "warm_start": ("a list of rules with a 'from' key", lambda v: all("from" in rule for rule in v)),
    "out_dir": ("a non-empty path", lambda v: v != ""),
    "model.name": ("a non-empty name", lambda v: v != ""),
    "data.crop": _AT_LEAST_1,
    "data.lr_crop": _AT_LEAST_1,
    "data.keys": (">= 2", lambda v: v >= 2),
    "data.degradation": _one_of("bi", "bd"),
    "data.scale": ("a number > 0 or 'arbitrary'", lambda v: v == "arbitrary" if isinstance(v, str) else v > 0),
    "data.scale_min": _POSITIVE,
    "data.scale_max": _POSITIVE,
    "data.time": _one_of("fixed", "arbitrary", "none"),
    "data.max_interval": (">= 2", lambda v: v >= 2),
    "data.max_times": _AT_LEAST_1,
    "data.max_frames": _AT_LEAST_1,
    "data.max_side": _AT_LEAST_1,
    "loss.charbonnier_eps": _POSITIVE,
    "optim.name": _one_of("adamw", "adam"),
    "optim.lr": _POSITIVE,
    "optim.betas": ("two numbers in [0, 1)", lambda v: all(0 <= b < 1 for b in v)),
    "optim.weight_decay": _NON_NEGATIVE,
    "optim.warmup_steps": _NON_NEGATIVE,
    "optim.min_lr": _NON_NEGATIVE,
    "optim.grad_clip": _POSITIVE,
    "optim.lr_mult": ("multipliers >= 0", lambda v: all(m >= 0 for m in v.values())),
    "optim.freeze_steps": ("step counts >= 0", lambda v: all(n >= 0 for n in v.values())),
    "val.every": _AT_LEAST_1,
    "val.max_frames": _AT_LEAST_1,
    "val.window": (">= 2", lambda v: v >= 2),
}
#: loss weights: numbers >= 0 (a negative weight would train the model to be worse)
_LOSS_WEIGHTS = ("charbonnier", "ternary", "flow_consistency", "structure_detail", "lr_interp", "cvrs_stego",
                 "cvrs_latent")
_RULES.update({f"loss.{k}": _NON_NEGATIVE for k in _LOSS_WEIGHTS})

_NO_MATCH = object()


def _is_device(name: str) -> bool:
    import torch

    try:
        torch.device(name)
    except (RuntimeError, ValueError):
        return False
    return True


def _describe(tp: Any, plural: bool = False) -> str:
    """A type annotation in words (for error messages)."""
    if tp is Any:
        return "values" if plural else "anything"
    if tp is type(None):
        return "null"
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a, plural) for a in args)
    if origin is tuple:
        return f"a list of {len(args)} {_describe(args[0], True)}" if args else "a list"
    if origin in (list, collections.abc.Sequence):
        return f"a list of {_describe(args[0], True)}" if args else "a list"
    if origin is dict:
        return f"a mapping of {_describe(args[0], True)} to {_describe(args[1], True)}" if args else "a mapping"
    words = {bool: ("true/false", "true/false values"), int: ("an integer", "integers"), float: ("a number", "numbers"),
             str: ("a string", "strings"), dict: ("a mapping", "mappings")}
    if tp in words:
        return words[tp][plural]
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any) -> Any:
    """``value`` as type ``tp`` (lists become tuples for tuple fields), or ``_NO_MATCH``."""
    if tp is Any:
        return value
    if tp is type(None):
        return None if value is None else _NO_MATCH
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        for a in args:
            out = _coerce(value, a)
            if out is not _NO_MATCH:
                return out
        return _NO_MATCH
    if tp is bool:
        return value if isinstance(value, bool) else _NO_MATCH
    if tp is int:  # 2.5 is not a step count, and neither is true
        return value if isinstance(value, int) and not isinstance(value, bool) else _NO_MATCH
    if tp is float:
        if isinstance(value, str):  # PyYAML reads 1e-3 (no dot) as text
            try:
                value = float(value)
            except ValueError:
                return _NO_MATCH
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        return float(value) if ok else _NO_MATCH
    if tp is str:
        if isinstance(value, os.PathLike):  # Path objects of a config built in Python
            value = os.fspath(value)
        return value if isinstance(value, str) else _NO_MATCH
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or (args and len(value) != len(args)):
            return _NO_MATCH
        items = [_coerce(v, a) for v, a in zip(value, args)] if args else list(value)
        return _NO_MATCH if any(v is _NO_MATCH for v in items) else tuple(items)
    if origin in (list, collections.abc.Sequence):  # a string is not a list of paths
        if not isinstance(value, (list, tuple)):
            return _NO_MATCH
        items = [_coerce(v, args[0]) for v in value] if args else list(value)
        return _NO_MATCH if any(v is _NO_MATCH for v in items) else list(items)
    if origin is dict:
        if not isinstance(value, dict):
            return _NO_MATCH
        out = {}
        for k, v in value.items():
            kk, vv = _coerce(k, args[0]), _coerce(v, args[1])
            if kk is _NO_MATCH or vv is _NO_MATCH:
                return _NO_MATCH
            out[kk] = vv
        return out
    return value if isinstance(tp, type) and isinstance(value, tp) else _NO_MATCH


def _check_field(key: str, value: Any, tp: Any) -> Any:
    out = _coerce(value, tp)
    if out is _NO_MATCH:
        hint = " (give a list, e.g. [data/train])" if key == "data.paths" and isinstance(value, str) else ""
        raise ValueError(f"config key {key}: expected {_describe(tp)}, got {value!r}{hint}")
    rule = _RULES.get(key)
    if rule is not None and out is not None and not rule[1](out):
        raise ValueError(f"config key {key}: expected {rule[0]}, got {value!r}")
    return out


def _build(cls: Any, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise ValueError(f"config key {where or '(top level)'}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(f"unknown key(s) {unknown} in {where or 'config'}; known: {sorted(fields)}")
    kwargs = {}
    for k, v in data.items():
        key = f"{where}.{k}" if where else k
        if cls is TrainConfig and k in _SECTIONS:
            kwargs[k] = _build(_SECTIONS[k], {} if v is None else v, k)
        else:
            kwargs[k] = _check_field(key, v, hints[k])
    return cls(**kwargs)


def validate_config(cfg: TrainConfig) -> TrainConfig:
    """Check a whole :class:`TrainConfig` (types, ranges, choices, cross-key rules); returns it.

    :func:`load_config` calls it; call it on a config built in Python before training.

    Raises:
        ValueError: naming the key, the value and what is expected.
    """
    if not isinstance(cfg, TrainConfig):
        raise TypeError(f"cfg must be a TrainConfig, got {type(cfg).__name__}")
    tree = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)}
    for k, section in _SECTIONS.items():
        tree[k] = {f.name: getattr(tree[k], f.name) for f in dataclasses.fields(section)}
    _build(TrainConfig, tree, "")
    if cfg.data.scale_min > cfg.data.scale_max:
        raise ValueError(
            f"config keys data.scale_min / data.scale_max: expected min <= max, got {cfg.data.scale_min} > "
            f"{cfg.data.scale_max}"
        )
    if cfg.objective == "fmu" and cfg.data.keys != 4:
        raise ValueError(f"objective 'fmu' trains on windows of 4 key frames: set data.keys: 4 (got {cfg.data.keys})")
    return cfg


def _set(tree: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = tree
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    node[parts[-1]] = value


def load_config(source: str | os.PathLike[str] | dict[str, Any], overrides: list[str] | None = None) -> TrainConfig:
    """A :class:`TrainConfig` from a YAML/JSON file or a dict, with ``key.sub=value`` overrides."""
    if isinstance(source, dict):
        tree = json.loads(json.dumps(source))
    else:
        p = Path(source)
        text = p.read_text()
        if p.suffix.lower() == ".json":
            tree = json.loads(text)
        else:
            import yaml

            tree = yaml.safe_load(text) or {}
    for item in overrides or []:
        if "=" not in item:
            raise ValueError(f"--set expects key=value, got {item!r}")
        k, v = item.split("=", 1)
        import yaml

        _set(tree, k.strip(), yaml.safe_load(v))
    cfg = _build(TrainConfig, tree, "")
    return validate_config(cfg)

