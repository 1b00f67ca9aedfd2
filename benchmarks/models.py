"""Model benchmarks: time, peak memory and FLOPs per case, next to the conv throughput of the same run.

Usage::

    python benchmarks/models.py                 # every system's full-size cases (slow on CPU)
    python benchmarks/models.py --quick         # tiny inputs: a smoke test
    python benchmarks/models.py --only msmr     # systems whose name contains "msmr"
    python benchmarks/models.py --json out.json # also write the rows

Each system lives in ``benchmarks/bench_models/<system>.py`` with ``cases(quick)``
returning dicts: ``name``, ``build`` (-> nn.Module in eval mode), ``inputs``
(-> (args, kwargs)), optional ``method`` (default: forward), ``out_frames``
(output frames per call) and ``dtypes`` (subset of float32/bfloat16).

Every case runs in a fresh subprocess so that its peak resident memory
(``ru_maxrss``) is its own. Time is the median of several calls after a warm-up.
``bfloat16`` runs the float32 model under CPU autocast. ``conv GFLOP/s`` is a
64->64 3x3 convolution at 180x144 measured in the same run: a model's effective
GFLOP/s divided by it says how close the model gets to the machine's conv speed.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))
sys.path.insert(0, str(ROOT))


def _systems(only: str | None) -> list[str]:
    names = [m.name for m in pkgutil.iter_modules([str(ROOT / "bench_models")]) if not m.name.startswith("_")]
    return sorted(n for n in names if only is None or only in n)


def _cases(system: str, quick: bool) -> list[dict]:
    return importlib.import_module(f"bench_models.{system}").cases(quick)


def conv_throughput(repeats: int = 5) -> float:
    """GFLOP/s of a float32 64->64 3x3 conv on 1x64x180x144 (the machine's conv speed)."""
    import torch

    x = torch.randn(1, 64, 180, 144)
    conv = torch.nn.Conv2d(64, 64, 3, padding=1)
    flops = 2 * 64 * 64 * 9 * 180 * 144
    with torch.no_grad():
        conv(x)
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            conv(x)
            times.append(time.perf_counter() - t)
    return flops / statistics.median(times) / 1e9


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_one(system: str, name: str, dtype: str, quick: bool, repeats: int = 3, flops: bool = True) -> dict:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    (case,) = [c for c in _cases(system, quick) if c["name"] == name]
    torch.manual_seed(0)
    model = case["build"]().eval()
    args, kwargs = case["inputs"]()
    fn = getattr(model, case.get("method", "forward")) if case.get("method") else model
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if dtype == "bfloat16" else None

    def call():
        with torch.no_grad():
            if autocast is None:
                return fn(*args, **kwargs)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return fn(*args, **kwargs)

    base_rss = _maxrss_mb()
    call()  # warm-up (also the peak-memory call)
    peak_rss = _maxrss_mb()
    repeats = 1 if quick else repeats
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        call()
        times.append(time.perf_counter() - t)
    total_flops = None
    if dtype == "float32" and flops:
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            fn(*args, **kwargs)
        total_flops = counter.get_total_flops()
    return {
        "system": system,
        "case": name,
        "dtype": dtype,
        "seconds": statistics.median(times),
        "out_frames": case.get("out_frames", 1),
        "peak_rss_mb": peak_rss,
        "forward_extra_mb": max(0.0, peak_rss - base_rss),
        "gflops": None if total_flops is None else total_flops / 1e9,
        "params": sum(p.numel() for p in model.parameters()),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny inputs, one repeat (smoke test)")
    ap.add_argument("--only", help="run systems whose name contains this string")
    ap.add_argument("--json", help="write the rows to this file")
    ap.add_argument("--repeats", type=int, default=3, help="timed calls per case after the warm-up (median)")
    ap.add_argument("--no-flops", action="store_true", help="skip the FLOP count (one call fewer)")
    ap.add_argument("--run-one", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.run_one:
        system, name, dtype = args.run_one.split(":", 2)
        print(json.dumps(run_one(system, name, dtype, args.quick, args.repeats, not args.no_flops)))
        return 0

    gconv = conv_throughput(2 if args.quick else 5)
    print(f"conv throughput (fp32 64->64 3x3 @180x144, this run): {gconv:.1f} GFLOP/s\n")
    rows, failures = [], 0
    for system in _systems(args.only):
        for case in _cases(system, args.quick):
            for dtype in case.get("dtypes", ["float32"]):
                cmd = [sys.executable, __file__, "--run-one", f"{system}:{case['name']}:{dtype}"]
                cmd += ["--quick"] if args.quick else []
                cmd += ["--repeats", str(args.repeats)] + (["--no-flops"] if args.no_flops else [])
                proc = subprocess.run(cmd, capture_output=True, text=True)
                if proc.returncode != 0:
                    failures += 1
                    print(f"FAILED {system}:{case['name']}:{dtype}\n{proc.stderr[-2000:]}", file=sys.stderr)
                    continue
                rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    header = f"{'system':<8} {'case':<34} {'dtype':<9} {'s/call':>8} {'s/frame':>8} {'peak MB':>8} {'+fwd MB':>8} {'GFLOP':>9} {'GFLOP/s':>8} {'vs conv':>7}"
    print(header)
    print("-" * len(header))
    for r in rows:
        gfl = r["gflops"]
        rate = gfl / r["seconds"] if gfl else None
        print(
            f"{r['system']:<8} {r['case']:<34} {r['dtype']:<9} {r['seconds']:>8.3f} {r['seconds'] / r['out_frames']:>8.3f} "
            f"{r['peak_rss_mb']:>8.0f} {r['forward_extra_mb']:>8.0f} "
            f"{(f'{gfl:.1f}' if gfl else '-'):>9} {(f'{rate:.1f}' if rate else '-'):>8} "
            f"{(f'{rate / gconv:.2f}' if rate else '-'):>7}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps({"conv_gflops": gconv, "rows": rows}, indent=1))
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
