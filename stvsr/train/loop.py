"""The training loop: AdamW/Adam, warm-up + cosine schedule, EMA, bf16 autocast, gradient
clipping, checkpoints with exact resume, periodic validation, progress and metrics logs,
and DistributedDataParallel under ``torchrun``.

Exact resume. A checkpoint (``<out>/checkpoints/last.pt``, written atomically) holds the
model, EMA, optimiser and scheduler states, the step, the sampler state
(``{"seed", "step"}``: batches are a pure function of ``(seed, step, rank)``, see
:mod:`stvsr.train.data`) and the torch RNG state. ``train(cfg, resume=True)`` continues
from it and, on the same device and world size, produces bit-identical losses and
weights to an uninterrupted run (tested on CPU).

Distributed. Under ``torchrun`` (``WORLD_SIZE > 1``) every process builds the same
model (same seed), wraps it in DDP (``gloo`` on CPU, ``nccl`` on CUDA), draws its
own samples (rank in the sample seed) and averages gradients; rank 0 alone writes
checkpoints, logs and validation. ``batch_size`` is per process.

Outputs in ``out_dir``: ``metrics.csv`` (step, total and weighted loss terms, lr, grad norm, seconds,
validation PSNR/SSIM), TensorBoard events when ``torch.utils.tensorboard`` works,
``checkpoints/``, ``config.json`` and, at the end, ``final/`` (``save_pretrained`` of
the EMA weights, loadable with ``stvsr.load``).
"""

from __future__ import annotations

import copy
import csv
import importlib
import json
import math
import os
import time
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from stvsr._device import warn_if_emulated_bf16
from stvsr.train.config import TrainConfig, validate_config
from stvsr.train.data import Batch, ClipBank, make_batch
from stvsr.train.objectives import build_objective

__all__ = ["EMA", "build_model", "cosine_lambda", "atomic_save", "export_fp16", "train"]


def build_model(name: str, overrides: dict[str, Any] | None = None, pretrained: bool = False) -> nn.Module:
    """A registry name / ``save_pretrained`` folder (via ``stvsr.load``) or ``"package.module:callable"``."""
    overrides = dict(overrides or {})
    if ":" in name and not os.path.exists(name) and not name.startswith("hf-hub:"):
        mod, _, attr = name.partition(":")
        return getattr(importlib.import_module(mod), attr)(**overrides)
    from stvsr.zoo import load

    return load(name, pretrained=pretrained, **overrides)


def cosine_lambda(step: float, total: float, warmup: int, base_lr: float, min_lr: float) -> float:
    """LR multiplier: linear warm-up over ``warmup`` steps, then cosine from ``base_lr`` to ``min_lr``
    (``step`` / ``total`` may be any progress measure, e.g. minutes)."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    floor = min_lr / base_lr if base_lr else 0.0
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


class EMA:
    """Exponential moving average of a model's floating-point parameters and buffers.

    ``ema = d * ema + (1 - d) * value`` after every step (integer buffers are copied), with
    ``d = min(decay, (1 + n) / (10 + n))`` after ``n`` updates when ``warmup`` is on: without
    it, a short run keeps ``decay ** steps`` of the random initial weights in the average
    (9% after 1,200 steps at 0.998), which ruins the averaged model.
    """

    _UPDATES = "__ema_updates__"  # checkpoint key of the update counter

    def __init__(self, model: nn.Module, decay: float, *, warmup: bool = True) -> None:
        if not 0 <= decay < 1:
            raise ValueError(f"ema_decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.warmup = warmup
        self.updates = 0
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()}

    def current_decay(self) -> float:
        """The decay the next update uses."""
        n = self.updates + 1
        return min(self.decay, (1 + n) / (10 + n)) if self.warmup else self.decay

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        d = self.current_decay()
        self.updates += 1
        for k, v in model.state_dict().items():
            s = self.shadow[k]
            if v.is_floating_point():
                s.mul_(d).add_(v.detach(), alpha=1 - d)
            else:
                s.copy_(v)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {**self.shadow, self._UPDATES: torch.tensor(self.updates)}

    def load_state_dict(self, sd: dict[str, torch.Tensor]) -> None:
        for k, v in sd.items():
            if k == self._UPDATES:
                self.updates = int(v)
            else:
                self.shadow[k].copy_(v)

    def copy_to(self, model: nn.Module) -> nn.Module:
        model.load_state_dict(self.shadow)
        return model


def param_groups(model: nn.Module, lr_mult: dict[str, float], freeze_steps: dict[str, int]) -> list[dict[str, Any]]:
    """Split the trainable parameters by name prefix (the longest matching prefix wins).

    ``lr_mult[prefix]`` scales the learning rate (0 freezes the parameters for the whole run:
    they get ``requires_grad=False``, so no gradient is even computed); ``freeze_steps[prefix]``
    holds them at lr 0 for that many steps (BasicVSR's fixed flow network at the start).
    Returns ``[{"label", "params", "mult", "freeze"}]``, the default group first.
    """
    for prefix, mult in lr_mult.items():
        if not (isinstance(mult, (int, float)) and mult >= 0):
            raise ValueError(f"optim.lr_mult[{prefix!r}] must be a number >= 0, got {mult!r}")
    for prefix, n in freeze_steps.items():
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"optim.freeze_steps[{prefix!r}] must be an int >= 0, got {n!r}")
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    for prefix in [*lr_mult, *freeze_steps]:
        if not any(n.startswith(prefix) for n in names):
            raise ValueError(f"no trainable parameter name starts with {prefix!r} (optim.lr_mult / freeze_steps)")

    def best(table: dict[str, Any], name: str, default: Any) -> Any:
        hits = [k for k in table if name.startswith(k)]
        return table[max(hits, key=len)] if hits else default

    groups: dict[tuple[float, int], dict[str, Any]] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        mult, freeze = float(best(lr_mult, name, 1.0)), int(best(freeze_steps, name, 0))
        if mult == 0:
            p.requires_grad_(False)
            continue
        g = groups.setdefault((mult, freeze), {"label": "", "params": [], "mult": mult, "freeze": freeze, "names": []})
        g["params"].append(p)
        g["names"].append(name)
    out = sorted(groups.values(), key=lambda g: (g["mult"] != 1.0 or g["freeze"] != 0, g["mult"], g["freeze"]))
    for g in out:
        prefixes = sorted({k for k in [*lr_mult, *freeze_steps] for n in g["names"] if n.startswith(k)})
        g["label"] = ", ".join(f"{k}*" for k in prefixes) or "other parameters"
    return out


def atomic_save(obj: Any, path: Path) -> None:
    """``torch.save`` to a temporary name beside ``path``, then rename: a kill never leaves half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def export_fp16(state: dict[str, torch.Tensor], path: Path) -> str:
    """Write a state dict as float16 safetensors (the zoo's storage format), atomically; returns its sha256."""
    import hashlib

    from safetensors.torch import save_file

    half = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in state.items()}
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(half, str(tmp))
    os.replace(tmp, path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _apply_warm_start(model: nn.Module, cfg: TrainConfig, log: Any) -> None:
    from stvsr.train.warmstart import rules_for, warm_start

    for item in cfg.warm_start:
        src_name = item["from"]
        rules = rules_for(item.get("target", cfg.model.name), src_name)
        source = build_model(src_name, item.get("overrides"), pretrained=item.get("pretrained", True))
        report = warm_start(model, source, rules)
        log(f"{src_name}: {report.summary()}")


def _validate(model: nn.Module, cfg: TrainConfig) -> dict[str, float]:
    from stvsr.eval.datasets import open_dataset
    from stvsr.eval.protocols import ModelSpec, get_protocol, run_clip

    proto = get_protocol(cfg.val.protocol).expand()[0]
    spec = ModelSpec.from_model(model)
    ps, ss = [], []
    for src in open_dataset(cfg.val.data or ""):
        res = run_clip(model, proto, src.load(cfg.val.max_frames).frames, window=cfg.val.window, spec=spec)
        ps += [f[2] for f in res["frames"]]
        ss += [f[3] for f in res["frames"]]
    return {"val_psnr": sum(ps) / len(ps), "val_ssim": sum(ss) / len(ss)}


def train(cfg: TrainConfig, *, resume: bool = False, max_steps: int | None = None) -> dict[str, Any]:
    """Run (or resume) a training job; returns ``{"step", "losses": [per-step total loss], ...}``.

    Args:
        cfg: the configuration (:func:`stvsr.train.config.load_config`).
        resume: continue from ``<out_dir>/checkpoints/last.pt`` when it exists.
        max_steps: stop after this global step (simulates an interruption; the schedule still
            spans ``cfg.steps``).
    """
    validate_config(cfg)  # a config built in Python gets the same checks as a file, before anything runs
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    device = _device(cfg.device)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    main = rank == 0
    out = Path(cfg.out_dir)
    ckpt_dir = out / "checkpoints"
    if main:
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=1, default=str) + "\n")

    def log(msg: str) -> None:
        if main:
            print(f"[stvsr.train] {msg}", flush=True)

    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model.name, cfg.model.overrides, cfg.model.pretrained)
    if cfg.warm_start:
        _apply_warm_start(model, cfg, log)
    model.to(device).train()
    o = cfg.optim
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    groups = param_groups(model, o.lr_mult, o.freeze_steps)
    if any(v == 0 for v in o.lr_mult.values()):
        kept = sum(p.numel() for g in groups for p in g["params"])
        log(f"frozen ({', '.join(k + '*' for k, v in o.lr_mult.items() if v == 0)}): {trainable - kept:,} parameters")
    params = [p for g in groups for p in g["params"]]
    if not params:
        raise ValueError(f"model {cfg.model.name!r} has no trainable parameters")
    for g in groups:
        if g["mult"] != 1.0 or g["freeze"]:
            log(f"{g['label']}: {sum(p.numel() for p in g['params']):,} parameters, lr x{g['mult']}"
                + (f", frozen for the first {g['freeze']} steps" if g["freeze"] else ""))
    opt_cls = torch.optim.AdamW if o.name == "adamw" else torch.optim.Adam
    optimizer = opt_cls([{"params": g["params"], "lr": o.lr * g["mult"]} for g in groups], lr=o.lr,
                        betas=o.betas, weight_decay=o.weight_decay)

    def schedule(freeze: int) -> Any:
        return lambda s: 0.0 if s < freeze else cosine_lambda(s, cfg.steps, o.warmup_steps, o.lr, o.min_lr)

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, [schedule(g["freeze"]) for g in groups])
    ema = EMA(model, cfg.ema_decay, warmup=cfg.ema_warmup) if cfg.ema_decay is not None else None
    flow = None
    if cfg.loss.flow_consistency and cfg.objective == "stvsr":
        flow = build_model(cfg.loss.flow_model, pretrained=cfg.loss.flow_pretrained)
    objective = build_objective(cfg.objective, model, cfg.loss, cfg.data, flow).to(device)

    step = 0
    last = ckpt_dir / "last.pt"
    if resume and last.exists():
        ck = torch.load(last, map_location=device, weights_only=False)
        model.load_state_dict(ck["model"])
        optimizer.load_state_dict(ck["optimizer"])
        scheduler.load_state_dict(ck["scheduler"])
        if ema is not None and ck.get("ema") is not None:
            ema.load_state_dict(ck["ema"])
        if ck["sampler"]["seed"] != cfg.seed:
            raise ValueError(f"checkpoint seed {ck['sampler']['seed']} differs from config seed {cfg.seed}")
        torch.set_rng_state(ck["rng"]["torch"])
        step = int(ck["step"])
        log(f"resumed from {last} at step {step}")

    net: nn.Module = objective
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(
            objective, device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=cfg.find_unused_parameters,
        )

    bank = ClipBank(cfg.data.paths, max_frames=cfg.data.max_frames, max_side=cfg.data.max_side)
    log(f"{len(bank)} clips, model {cfg.model.name} ({sum(p.numel() for p in params):,} trainable), "
        f"world {world}, device {device}")
    writer = None
    metrics_path = out / "metrics.csv"
    fields = ["step", "loss", "charbonnier", "ternary", "flow_consistency", "lr_interp", "reconstruction", "stego",
              "latent", "lr", "grad_norm", "seconds", "val_psnr", "val_ssim"]
    if main:
        new = not metrics_path.exists() or not resume
        mf = metrics_path.open("w" if new else "a", newline="")
        mw = csv.DictWriter(mf, fieldnames=fields)
        if new:
            mw.writeheader()
        try:
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(str(out / "tb"))
        except Exception:  # tensorboard is optional
            writer = None
    end = min(cfg.steps, max_steps) if max_steps is not None else cfg.steps
    bar = None
    if main and cfg.progress:
        try:
            from tqdm import tqdm

            bar = tqdm(total=end, initial=step, desc="train", dynamic_ncols=True)
        except ImportError:
            bar = None

    def save() -> None:
        if not main:
            return
        state = {
            "model": model.state_dict(),
            "ema": ema.state_dict() if ema is not None else None,
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "step": step,
            "sampler": {"seed": cfg.seed, "step": step},
            "rng": {"torch": torch.get_rng_state()},
            "config": cfg.to_dict(),
            "world_size": world,
        }
        atomic_save(state, ckpt_dir / f"step_{step:08d}.pt")
        atomic_save(state, last)

    losses: list[float] = []
    if cfg.bf16:
        warn_if_emulated_bf16(device)
    amp = torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.bf16)
    t_start = time.perf_counter()
    while step < end:
        batch = make_batch(bank, cfg.data, seed=cfg.seed, step=step, rank=rank, batch_size=cfg.batch_size)
        batch = Batch(batch.lr.to(device), batch.gt.to(device), batch.scale, batch.times)
        with amp:
            terms = net(batch)
        loss = sum(terms.values())
        assert isinstance(loss, torch.Tensor)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = (torch.nn.utils.clip_grad_norm_(params, o.grad_clip) if o.grad_clip
                 else torch.stack([p.grad.pow(2).sum() for p in params if p.grad is not None]).sum().sqrt())
        optimizer.step()
        scheduler.step()
        if ema is not None:
            ema.update(model)
        step += 1
        value = float(loss.detach())
        if world > 1:
            tl = loss.detach().clone()
            dist.all_reduce(tl)
            value = float(tl) / world
        losses.append(value)
        row: dict[str, Any] = {}
        if main and (step % cfg.log_every == 0 or step == end):
            row = {"step": step, "loss": f"{value:.8g}", "lr": f"{scheduler.get_last_lr()[0]:.6g}",
                   "grad_norm": f"{float(gnorm):.6g}", "seconds": f"{time.perf_counter() - t_start:.2f}",
                   **{k: f"{float(v.detach()):.8g}" for k, v in terms.items()}}
            if writer is not None:
                writer.add_scalar("train/loss", value, step)
                writer.add_scalar("train/lr", scheduler.get_last_lr()[0], step)
        if main and cfg.val.data and cfg.objective != "cvrs" and (step % cfg.val.every == 0 or step == end):
            vm = copy.deepcopy(model).eval()
            if ema is not None:
                ema.copy_to(vm)
            v = _validate(vm, cfg)
            row = {**(row or {"step": step}), **{k: f"{x:.6f}" for k, x in v.items()}}
            log(f"step {step}: val PSNR {v['val_psnr']:.4f} SSIM {v['val_ssim']:.4f}")
            if writer is not None:
                writer.add_scalar("val/psnr", v["val_psnr"], step)
            del vm
        if row:
            mw.writerow(row)
            mf.flush()
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{value:.4g}")
        if step % cfg.checkpoint_every == 0 or step == end:
            save()
    if bar is not None:
        bar.close()
    result: dict[str, Any] = {"step": step, "losses": losses, "out_dir": str(out)}
    if main:
        mf.close()
        if writer is not None:
            writer.close()
        if step >= cfg.steps:
            final = copy.deepcopy(model)
            if ema is not None:
                ema.copy_to(final)
            result["final"] = str(out / "final.pt")
            if hasattr(final, "save_pretrained"):
                try:
                    final.save_pretrained(out / "final")  # type: ignore[operator]
                    result["final"] = str(out / "final")
                except Exception as exc:  # e.g. a model built from an import path has no registry name
                    log(f"final weights saved as final.pt, not a save_pretrained folder: {exc}")
            if result["final"].endswith(".pt"):
                torch.save(final.state_dict(), out / "final.pt")
    if world > 1:
        dist.barrier()
    return result
