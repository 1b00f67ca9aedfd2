"""Training from a function-preserving start: one resumable loop for the seed models with no checkpoint.

SAFA and MSITF have no reachable checkpoint and nothing of another zoo model maps onto them, so
their training starts where a parameter-free method already is (``stvsr.train.warmstart``:
``preserve_function_safa`` renders bicubic keys and the linear blend, ``preserve_function_msitf``
the model's own trilinear base) and every step improves a working model rather than noise. What
differs per model is a :class:`FloorRecipe`: how to build it, how to set its start, which data it
reads and what a step's loss is (a teacher, held rows). The loop is the same:

- AdamW, cosine learning rate with a 50-step warm-up, gradient clipping at 1, EMA of the weights;
- optional bf16 autocast (targets and losses in float32); ``--device cuda`` trains on a GPU;
- validation every ``--val-every`` steps on septuplets of a held-out clip (:func:`build_val`:
  LR frames 1, 3, 5, 7 in, all 7 scored on Y against MATLAB-bicubic keys + linear blend; never
  Vid4); the best EMA is kept;
- ``last.pt`` every ``--ckpt-minutes`` (atomic), ``--resume`` continues it (step, optimiser,
  EMA, the validation history); ``--minutes`` bounds the wall time of one call; ``--init-from``
  restarts from a weights file (the committed EMA of an earlier session) with a fresh optimiser;
- outputs in ``--out``: ``log.txt``, ``history.json``, ``last.pt``, ``best_ema.pt`` and
  ``final.safetensors`` (float16, the zoo's format);
- ``--report WEIGHTS`` only scores a file (JSON): the septuplets and, for arbitrary-time models,
  :func:`grid_report`'s nonuplets at t = 0.25 / 0.5 / 0.75.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from stvsr._device import resolve_device, warn_if_emulated_bf16
from stvsr.train.data import Batch, ClipBank, DataConfig, make_batch
from stvsr.train.loop import EMA, atomic_save, cosine_lambda, export_fp16
from stvsr.train.validation import RunLog, baseline_scores, build_val, evaluate, grid_report

__all__ = ["FloorRecipe", "StepLoss", "floor_arguments", "train_from_floor"]

StepLoss = Callable[[Batch, int], tuple[torch.Tensor, dict[str, float]]]
"""``(batch, step) -> (loss, named parts for the log)``; the loop runs it under autocast when ``--bf16``."""


@dataclass(frozen=True)
class FloorRecipe:
    """What one model's training from its floor needs; the loop (:func:`train_from_floor`) does the rest.

    Attributes:
        build: a fresh model (random weights) in float32.
        start: sets the function-preserving start in place; returns the line logged for it.
        data: the sampling of the training batches (clips, keys, times, crop) from the parsed arguments.
        attach: called once on the training model after its start or its resume; returns the step
            loss (hooks such as a teacher's flow tap or held rows are installed here).
        arbitrary_time: the model renders any t in (0, 1) (``--report`` adds the t-grid).
    """

    build: Callable[[], nn.Module]
    start: Callable[[nn.Module], str]
    data: Callable[[argparse.Namespace], DataConfig]
    attach: Callable[[nn.Module, argparse.Namespace], StepLoss]
    arbitrary_time: bool = True


def floor_arguments(ap: argparse.ArgumentParser, *, lr: float, steps: int = 2000) -> None:
    """The loop's options on ``ap`` (a tool adds its model's own)."""
    ap.add_argument("--data", nargs="+", required=True, help="training clip folders (never Vid4)")
    ap.add_argument("--val", type=Path, required=True, help="held-out validation clip")
    ap.add_argument("--out", type=Path, required=True, help="run folder")
    ap.add_argument("--minutes", type=float, default=90.0, help="wall-clock budget of this call")
    ap.add_argument("--steps", type=int, default=steps, help="schedule length (cut by --minutes)")
    ap.add_argument("--crop", type=int, default=32, help="LR crop (HR = 4x)")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--lr", type=float, default=lr)
    ap.add_argument("--ema", type=float, default=0.995)
    ap.add_argument("--val-every", type=int, default=100)
    ap.add_argument("--ckpt-minutes", type=float, default=5.0)
    ap.add_argument("--val-starts", type=int, nargs="+", default=[10, 60, 110, 160])
    ap.add_argument("--val-size", type=int, nargs=2, default=[256, 448], metavar=("H", "W"))
    ap.add_argument("--bf16", action="store_true", help="bf16 autocast (1.6x faster steps on AVX-512 BF16 CPUs)")
    ap.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 or auto")
    ap.add_argument("--resume", action="store_true", help="continue OUT/last.pt")
    ap.add_argument("--init-from", type=Path, metavar="WEIGHTS",
                    help="warm restart from these safetensors (e.g. the committed weights) instead of the start")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--bank-cache", type=Path, help="where the decoded clips are cached (default: beside --out)")
    ap.add_argument("--dry-run", action="store_true", help="a couple of steps on tiny crops (the test)")
    ap.add_argument("--report", type=Path, metavar="WEIGHTS", help="only score these weights on --val, print JSON")


def _report(recipe: FloorRecipe, args: argparse.Namespace) -> int:
    from safetensors.torch import load_file

    model = recipe.build().eval()
    model.load_state_dict({k: v.float() for k, v in load_file(str(args.report)).items()})
    val = build_val(args.val, starts=tuple(args.val_starts), size=tuple(args.val_size))
    out: dict[str, Any] = {"weights": str(args.report), "x4x2": evaluate(model, val),
                           "x4x2_baseline": baseline_scores(val)}
    if recipe.arbitrary_time:
        out["grid"] = grid_report(model, args.val, scales=(4.0,), starts=tuple(args.val_starts),
                                  size=tuple(args.val_size))
    print(json.dumps(out, indent=1))
    return 0


def train_from_floor(recipe: FloorRecipe, args: argparse.Namespace) -> int:
    """Run (or resume) one training call of ``recipe`` with the options of :func:`floor_arguments`."""
    if args.dry_run:
        args.steps, args.crop, args.batch, args.val_every = 2, 8, 1, 1
        args.val_starts, args.val_size = [0], [32, 48]
    if args.report is not None:
        return _report(recipe, args)

    dev = resolve_device(args.device, "--device")
    if args.bf16:
        warn_if_emulated_bf16(dev)
    log = RunLog(args.out)
    torch.manual_seed(args.seed)
    data = recipe.data(args)
    bank = ClipBank.cached(data.paths, args.bank_cache or args.out.parent, max_side=720)
    log(f"{len(bank)} clips, {sum(c.shape[0] for c in bank.clips)} frames: {bank.names}")
    val = build_val(args.val, starts=tuple(args.val_starts), size=tuple(args.val_size))
    log(f"baseline bicubic + blend: {baseline_scores(val)}")
    val = {k: v.to(dev) for k, v in val.items()}

    model = recipe.build().to(dev)
    last = args.out / "last.pt"
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.99), weight_decay=1e-4)
    step = 0
    if args.resume and last.exists():
        ck = torch.load(last, map_location=dev, weights_only=True)
        model.load_state_dict(ck["model"])
        ema = EMA(model, args.ema)
        ema.load_state_dict(ck["ema"])
        opt.load_state_dict(ck["opt"])
        step = int(ck["step"])
        log(f"resumed {last} at step {step}")
    else:
        if args.init_from is not None:  # a warm restart: the weights, a fresh optimiser and schedule
            from safetensors.torch import load_file

            model.load_state_dict({k: v.float() for k, v in load_file(str(args.init_from)).items()})
            log(f"warm restart from {args.init_from}")
        else:
            log(recipe.start(model))
        ema = EMA(model, args.ema)
        log.record("init", 0, evaluate(model, val))
    step_loss = recipe.attach(model, args)
    shadow = recipe.build().to(dev)
    best = max((h["all"] for h in log.history if h["stage"] == "ema"), default=-1.0)
    last_ckpt = time.time()

    def save() -> None:
        atomic_save({"model": model.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(), "step": step},
                    last)

    def keep_if_best(stage: str) -> None:
        nonlocal best
        scores = evaluate(ema.copy_to(shadow), val)
        log.record(stage, step, scores)
        if scores["all"] > best or not (args.out / "best_ema.pt").exists():
            best = max(best, scores["all"])
            atomic_save(shadow.state_dict(), args.out / "best_ema.pt")

    while log.minutes() < args.minutes and step < args.steps:
        model.train()
        batch = make_batch(bank, data, seed=args.seed + 500, step=step, batch_size=args.batch).to(dev)
        for g in opt.param_groups:
            g["lr"] = args.lr * cosine_lambda(step, args.steps, 50, 1.0, 0.05)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=args.bf16):
            loss, parts = step_loss(batch, step)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        ema.update(model)
        step += 1
        if step % 20 == 0 or args.dry_run:
            log(f"step {step} loss {loss.item():.4f} " + " ".join(f"{k} {v:.4f}" for k, v in parts.items())
                + f" times {tuple(round(t, 3) for t in batch.times)}")
        if step % args.val_every == 0:
            keep_if_best("ema")
        if (time.time() - last_ckpt) / 60 > args.ckpt_minutes:
            save()
            last_ckpt = time.time()
    save()
    keep_if_best("ema-final")
    best_state = torch.load(args.out / "best_ema.pt", map_location="cpu", weights_only=True)
    sha = export_fp16(best_state, args.out / "final.safetensors")
    log(f"wrote {args.out / 'final.safetensors'} sha256 {sha}")
    return 0
