"""Allocator benchmark: the same workloads with glibc's default malloc and with ``tune_malloc``.

Usage::

    python benchmarks/malloc.py                  # conv + rife_basicvsr forward, 2 rounds
    python benchmarks/malloc.py --quick          # tiny sizes, 1 round (smoke test)
    python benchmarks/malloc.py --model msmr_fix --rounds 3

Every measurement runs in a fresh subprocess (the allocator's state is per process, and what
an earlier workload left in the heap would hide the effect), one per setting and round, the
settings alternating (default, tuned, default, tuned, ...) so that a machine that gets busier
or quieter affects both alike.  Each subprocess does one warm-up call, then times ``--calls``
calls; the table gives the median over rounds of each subprocess's median, minor page faults
per call, the peak RSS, and the ratio tuned / default measured in this run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# run inside the subprocess: argv = [setting, workload, model, size, calls]
_CHILD = r"""
import json, resource, statistics, sys, time
setting, workload, model_name, size, calls = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
if setting == "tuned":
    from stvsr._malloc import tune_malloc
    assert tune_malloc(), "tune_malloc did not apply (not glibc, or MALLOC_* / GLIBC_TUNABLES set)"
import torch
torch.manual_seed(0)
if workload == "conv":  # the research note's reference op: 64->64 3x3 conv, 1x64xHxW
    conv = torch.nn.Conv2d(64, 64, 3, padding=1)
    x = torch.rand(1, 64, size, size * 5 // 4)
    fn = lambda: conv(x)
else:
    import stvsr
    model = stvsr.load(model_name, pretrained=False)
    x = torch.rand(1, 3, 3, size, size * 5 // 4)
    fn = lambda: model(x, scale=4.0, times=(0.5,))
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
with torch.no_grad():
    fn()
    times, f0 = [], faults()
    for _ in range(calls):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    f1 = faults()
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
print(json.dumps({"s": statistics.median(times), "faults": (f1 - f0) / calls, "rss": rss}))
"""


def run_child(setting: str, workload: str, model: str, size: int, calls: int) -> dict[str, float]:
    env = dict(os.environ)
    for name in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES", "STVSR_NO_MALLOC_TUNE"):
        env.pop(name, None)  # both settings start from glibc's defaults
    cmd = [sys.executable, "-c", _CHILD, setting, workload, model, str(size), str(calls)]
    done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{workload}/{setting} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 1 round, 2 calls")
    parser.add_argument("--model", default="rife_basicvsr", help="registered model for the model workload")
    parser.add_argument("--rounds", type=int, default=None, help="subprocesses per setting (default 2)")
    parser.add_argument("--calls", type=int, default=None, help="timed calls per subprocess (default 5)")
    args = parser.parse_args(argv)
    rounds = args.rounds or (1 if args.quick else 2)
    calls = args.calls or (2 if args.quick else 5)
    workloads = [("conv", 32 if args.quick else 144), ("model", 24 if args.quick else 72)]

    print(f"python={sys.version.split()[0]} rounds={rounds} calls={calls} model={args.model}")
    header = ("workload", "setting", "median s", "faults/call", "peak RSS GiB", "tuned/default")
    rows = []
    for workload, size in workloads:
        results: dict[str, list[dict[str, float]]] = {"default": [], "tuned": []}
        for _ in range(rounds):
            for setting in ("default", "tuned"):
                results[setting].append(run_child(setting, workload, args.model, size, calls))
        label = (
            f"conv 64->64 3x3 1x64x{size}x{size * 5 // 4}"
            if workload == "conv"
            else (f"{args.model} 1x3x3x{size}x{size * 5 // 4} x4")
        )
        med = {k: statistics.median(r["s"] for r in v) for k, v in results.items()}
        for setting, res in results.items():
            ratio = f"{med['tuned'] / med['default']:.2f}x" if setting == "tuned" else "1.00x"
            rows.append((label, setting, f"{med[setting]:.4f}", f"{statistics.median(r['faults'] for r in res):.0f}",
                         f"{max(r['rss'] for r in res):.2f}", ratio))  # fmt: skip
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
