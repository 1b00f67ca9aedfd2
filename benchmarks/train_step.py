"""CPU training throughput of MsMr: one training step under each option, as ratios in one run.

    python benchmarks/train_step.py                 # msmr_arb, 3 LR keys of 32x32, x4 / t = 0.5
    python benchmarks/train_step.py --variant fix --repeats 3

Every option is timed interleaved with the fp32 baseline (one step of each per round, so a busy
machine slows both alike) and reported as LR pixels per second relative to the baseline:

- ``bf16``: ``torch.autocast("cpu", torch.bfloat16)`` around the forward (loss in fp32);
- ``channels_last``: model and input in ``torch.channels_last``;
- ``crop 3/4 and 3/2`` of ``--crop``: other LR crop sides (pixels per second, not seconds per step);
- ``upsampler only``: stage 1 of ``tools/train_msmr_staged.py`` (everything before the upsampler
  under ``no_grad``);
- ``threads``: the same step with 2 intra-op threads instead of 1 (one process);
- ``malloc``: a subprocess with glibc's mmap/trim thresholds raised (``stvsr._malloc``) against one
  with ``STVSR_NO_MALLOC_TUNE=1``.

SpyNet is frozen in every case (as in the zoo recipes); BatchNorms in eval mode.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from _timing import time_interleaved  # noqa: E402

from stvsr.models.msmr import MsMr  # noqa: E402


def make_step(variant: str, crop: int, *, bf16: bool = False, channels_last: bool = False,
              upsampler_only: bool = False) -> Callable[[], None]:
    torch.manual_seed(0)
    model = MsMr(variant=variant).train()
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.eval()
    for p in model.spy.parameters():
        p.requires_grad_(False)
    lr = torch.rand(1, 3, 3, crop, crop)
    gt = torch.rand(1, 5, 3, 4 * crop, 4 * crop)
    if channels_last:  # 4D weights only: scale-aware expert pools and 3D convs stay as they are
        for m in model.modules():
            if isinstance(m, torch.nn.Conv2d):
                m.to(memory_format=torch.channels_last)
    if upsampler_only:
        from train_msmr_staged import upsampler_step  # tools/

        from stvsr.train.data import Batch

        batch = Batch(lr, gt, (4.0, 4.0), (0.5,))
        for p in model.parameters():
            p.requires_grad_(False)
        for p in model.arb_upample.parameters():
            p.requires_grad_(True)

        def step() -> None:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = upsampler_step(model, batch)
            loss.backward()

        return step

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = model(lr, scale=4.0, times=(0.5,), clamp=False).float()
        (out - gt).abs().mean().backward()
        model.zero_grad(set_to_none=True)

    return step


def _malloc_ratio(variant: str, crop: int, repeats: int) -> float:
    code = (
        "import sys, time, torch; sys.path.insert(0, sys.argv[1]); sys.path.insert(0, sys.argv[1] + '/benchmarks');"
        "from stvsr._malloc import tune_malloc; tune_malloc();"
        "from train_step import make_step; s = make_step(sys.argv[2], int(sys.argv[3])); s();"
        "ts = []\nfor _ in range(int(sys.argv[4])):\n t = time.perf_counter(); s(); ts.append(time.perf_counter() - t)\n"
        "print(min(ts))"
    )
    out = {}
    for name, extra in (("tuned", {}), ("default", {"STVSR_NO_MALLOC_TUNE": "1"})):
        env = {**os.environ, "OMP_NUM_THREADS": "1", **extra}
        res = subprocess.run([sys.executable, "-c", code, str(ROOT), variant, str(crop), str(repeats)],
                             env=env, capture_output=True, text=True, check=True)
        out[name] = float(res.stdout.strip().splitlines()[-1])
    return out["default"] / out["tuned"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variant", choices=("fix", "arb"), default="arb")
    ap.add_argument("--crop", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--json", type=Path, help="also write the rows here")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    c = args.crop
    cases = {
        "fp32 (baseline)": (make_step(args.variant, c), c),
        "bf16 autocast": (make_step(args.variant, c, bf16=True), c),
        "channels_last": (make_step(args.variant, c, channels_last=True), c),
        f"crop {c * 3 // 4}": (make_step(args.variant, c * 3 // 4), c * 3 // 4),
        f"crop {c * 3 // 2}": (make_step(args.variant, c * 3 // 2), c * 3 // 2),
        "upsampler only (stage 1)": (make_step(args.variant, c, upsampler_only=True), c),
    }
    names = list(cases)
    times = time_interleaved([cases[n][0] for n in names], torch.device("cpu"), repeats=args.repeats, warmup=1)
    base = statistics.median(times[0])
    rows = []
    for n, ts in zip(names, times):
        side = cases[n][1]
        t = statistics.median(ts)
        rows.append({"option": n, "s_per_step": round(t, 3),
                     "lr_pixels_per_s_vs_baseline": round((side * side / t) / (c * c / base), 3)})
    # two intra-op threads in this process, against one, interleaved
    one = make_step(args.variant, c)

    def two() -> None:
        torch.set_num_threads(2)
        try:
            one()
        finally:
            torch.set_num_threads(1)

    t1, t2 = time_interleaved([one, two], torch.device("cpu"), repeats=args.repeats, warmup=1)
    rows.append({"option": "2 threads (one process)", "s_per_step": round(statistics.median(t2), 3),
                 "lr_pixels_per_s_vs_baseline": round(statistics.median(t1) / statistics.median(t2), 3)})
    rows.append({"option": "malloc thresholds raised (subprocess vs default)", "s_per_step": None,
                 "lr_pixels_per_s_vs_baseline": round(_malloc_ratio(args.variant, c, args.repeats), 3)})
    print(f"MsMr {args.variant} training step, 3 LR keys, x4, t=0.5, SpyNet frozen; 1 thread unless said")
    print(f"| option | s / step | LR px/s vs fp32 crop {c} |")
    print("|---|--:|--:|")
    for r in rows:
        s = "" if r["s_per_step"] is None else f"{r['s_per_step']:.2f}"
        print(f"| {r['option']} | {s} | {r['lr_pixels_per_s_vs_baseline']:.2f}x |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
