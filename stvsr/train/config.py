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
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stvsr.train.data import DataConfig

__all__ = ["LossConfig", "ModelConfig", "OptimConfig", "TrainConfig", "ValConfig", "load_config"]


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


def _build(cls: Any, data: dict[str, Any], where: str) -> Any:
    if not isinstance(data, dict):
        raise ValueError(f"{where or 'config'} must be a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(f"unknown key(s) {unknown} in {where or 'config'}; known: {sorted(fields)}")
    kwargs = {}
    for k, v in data.items():
        sub = {"model": ModelConfig, "data": DataConfig, "loss": LossConfig, "optim": OptimConfig, "val": ValConfig}
        if cls is TrainConfig and k in sub:
            kwargs[k] = _build(sub[k], v or {}, k)
        elif k == "betas" and v is not None:
            kwargs[k] = tuple(float(x) for x in v)
        else:
            kwargs[k] = v
    return cls(**kwargs)


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
    if cfg.steps < 1 or cfg.batch_size < 1:
        raise ValueError("steps and batch_size must be >= 1")
    if cfg.objective not in ("stvsr", "fmu", "cvrs"):
        raise ValueError(f"objective must be 'stvsr', 'fmu' or 'cvrs', got {cfg.objective!r}")
    if cfg.objective == "fmu" and cfg.data.keys != 4:
        raise ValueError(f"objective 'fmu' trains on windows of 4 key frames: set data.keys: 4 (got {cfg.data.keys})")
    if cfg.optim.name not in ("adamw", "adam"):
        raise ValueError(f"optim.name must be 'adamw' or 'adam', got {cfg.optim.name!r}")
    return cfg
