"""Model benchmarks: time, peak memory and FLOPs per case, next to the conv throughput of the same run.

Usage::

    python benchmarks/models.py                 # every system's full-size cases (slow on CPU)
    python benchmarks/models.py --quick         # tiny inputs: a smoke test
    python benchmarks/models.py --only msmr     # systems whose name contains "msmr"
    python benchmarks/models.py --authors       # the cases with an authors' anchor, against their code
    python benchmarks/models.py --json out.json # also write the rows

Each system lives in ``benchmarks/bench_models/<system>.py`` with ``cases(quick)``
returning dicts: ``name``, ``build`` (-> nn.Module in eval mode), ``inputs``
(-> (args, kwargs)), optional ``method`` (default: forward), ``out_frames``
(output frames per call), ``dtypes`` (subset of float32/bfloat16) and ``anchors``
(keys of ``authors_anchors.ANCHORS`` timed on exactly this workload).

Method (that of ``shared/research/originals_cpu.md``): every case and dtype runs in a fresh
subprocess, so that its peak resident memory (``ru_maxrss``, read after the timed calls and
before the FLOP count) is its own. Time is the median of ``--repeats`` (3) calls after one
warm-up. ``bfloat16`` runs the float32 model under CPU autocast.

Every subprocess first measures the reference conv (a 64->64 3x3 conv with bias on
1x64x144x180 fp32, median of 10 calls after 3 warm-ups) under the run's malloc condition and
thread count, before building its model (with glibc's default malloc a conv measured after a
model's forwards runs at the raised-threshold speed: the note's fresh-process figure is the one
to match); ``conv GFLOP/s`` is the median over the run's processes. ``--malloc default`` (the default)
leaves glibc's settings alone, like the authors' main figures; ``--malloc tuned`` calls
``stvsr._malloc.tune_malloc`` (what the ``stvsr`` command line does) and compares with the
authors' mmap-threshold column. A model's effective GFLOP/s divided by the conv's says how close
it gets to the machine's conv speed.

Against the authors' code (rows with anchors): stvsr's time, the authors' time, the raw
speed-up ``authors_s / stvsr_s`` and the speed-up normalised by the conv throughput,
``(authors_s / stvsr_s) * (G_then / G_now)`` with G_then the authors' conv GFLOP/s under the
same malloc condition and G_now this run's (``authors_anchors.normalised_speedup``): how much
faster stvsr is than the authors' code would be on a machine with this run's conv speed.
bfloat16 rows compare stvsr under bf16 autocast with the authors' fp32. ``--authors`` runs only
the anchored cases (fp32 and bf16, no FLOP pass); with ``--quick`` the ratios print marked ``*``:
tiny inputs are not the anchors' workloads.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
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

from benchmarks.authors_anchors import ANCHORS, CONV_GFLOPS, REFERENCE_CONV_GFLOP, SOURCE, normalised_speedup  # noqa: E402
from stvsr import _malloc  # noqa: E402


def _systems(only: str | None) -> list[str]:
    names = [m.name for m in pkgutil.iter_modules([str(ROOT / "bench_models")]) if not m.name.startswith("_")]
    return sorted(n for n in names if only is None or only in n)


def _cases(system: str, quick: bool) -> list[dict]:
    return importlib.import_module(f"bench_models.{system}").cases(quick)


def conv_throughput(repeats: int = 10, warmup: int = 3) -> float:
    """GFLOP/s of the reference op: float32 64->64 3x3 conv with bias on 1x64x144x180 (the machine's conv speed)."""
    import torch

    x = torch.randn(1, 64, 144, 180)
    conv = torch.nn.Conv2d(64, 64, 3, padding=1)
    with torch.no_grad():
        for _ in range(warmup):
            conv(x)
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            conv(x)
            times.append(time.perf_counter() - t)
    return REFERENCE_CONV_GFLOP / statistics.median(times)


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_one(
    system: str, name: str, dtype: str, quick: bool, repeats: int = 3, flops: bool = True, malloc: str = "default"
) -> dict:
    """One case in this (fresh) process: the reference conv, then the case; a row of the tables."""
    if malloc == "tuned" and not _malloc.tune_malloc():
        raise RuntimeError("tune_malloc did not apply (not glibc, or MALLOC_* / GLIBC_TUNABLES set)")
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    gconv = conv_throughput()
    (case,) = [c for c in _cases(system, quick) if c["name"] == name]
    torch.manual_seed(0)
    model = case["build"]().eval()
    args, kwargs = case["inputs"]()
    fn = getattr(model, case["method"]) if case.get("method") else model

    def call():
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == "bfloat16"):
            return fn(*args, **kwargs)

    base_rss = _maxrss_mb()
    call()  # warm-up
    times = []
    for _ in range(1 if quick else repeats):
        t = time.perf_counter()
        call()
        times.append(time.perf_counter() - t)
    peak_rss = _maxrss_mb()
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
        "anchors": list(case.get("anchors", ())),
        "conv_gflops": gconv,
        "threads": torch.get_num_threads(),
    }


def against_authors(rows: list[dict], conv_now: float, malloc: str, quick: bool) -> list[dict]:
    """One row per (anchor, dtype): stvsr's and the authors' seconds, raw and normalised speed-ups."""
    out = []
    for r in rows:
        for key in r["anchors"]:
            anchor = ANCHORS[key]
            authors_s = anchor.time(malloc)
            ratio = None if authors_s is None else authors_s / r["seconds"]
            norm = (
                None
                if authors_s is None
                else normalised_speedup(authors_s, r["seconds"], CONV_GFLOPS[malloc], conv_now)
            )
            out.append(
                {
                    "anchor": key,
                    "case": r["case"],
                    "dtype": r["dtype"],
                    "stvsr_s": r["seconds"],
                    "authors_s": authors_s,
                    "raw_speedup": ratio,
                    "normalised_speedup": norm,
                    "stvsr_peak_gib": r["peak_rss_mb"] / 1024,
                    "authors_peak_gib": anchor.peak_gib if malloc == "default" else None,
                    "params_match": round(r["params"] / 1e6, 2) == anchor.params_m,  # the note gives 2 decimals
                    "comparable": not quick,
                }
            )
    return out


def _f(value: float | None, fmt: str, mark: str = "") -> str:
    return "-" if value is None else f"{value:{fmt}}{mark}"


def _print_authors(table: list[dict], conv_now: float, malloc: str, quick: bool) -> None:
    print(
        f"\nAgainst the authors' code ({SOURCE}); malloc {malloc}: reference conv {CONV_GFLOPS[malloc]:.0f} "
        f"GFLOP/s then, {conv_now:.1f} now; normalised = raw x {CONV_GFLOPS[malloc]:.0f} / {conv_now:.1f}"
    )
    mark = "*" if quick else ""
    header = f"{'anchor':<16} {'dtype':<9} {'stvsr s':>8} {'authors s':>9} {'raw x':>7} {'norm x':>7} {'stvsr GiB':>9} {'authors GiB':>11}"
    print(header)
    print("-" * len(header))
    for a in table:
        print(
            f"{a['anchor']:<16} {a['dtype']:<9} {a['stvsr_s']:>8.3f} {_f(a['authors_s'], '.2f'):>9} "
            f"{_f(a['raw_speedup'], '.2f', mark):>7} {_f(a['normalised_speedup'], '.2f', mark):>7} "
            f"{a['stvsr_peak_gib']:>9.2f} {_f(a['authors_peak_gib'], '.2f'):>11}"
            + ("" if a["params_match"] or quick else "  (parameter count differs from the authors')")
        )
    if quick:
        print("* not comparable: --quick runs tiny inputs and narrow models, not the anchors' workloads")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny inputs, one repeat (smoke test)")
    ap.add_argument("--only", help="run systems whose name contains this string")
    ap.add_argument("--authors", action="store_true", help="only the cases with an authors' anchor (no FLOP count)")
    ap.add_argument(
        "--malloc",
        choices=sorted(CONV_GFLOPS),
        default="default",
        help="glibc malloc of every case process: default (the authors' main figures) or tuned (tune_malloc)",
    )
    ap.add_argument("--threads", type=int, help="torch threads per case process (default: torch's; the authors' 2)")
    ap.add_argument(
        "--dtypes",
        nargs="+",
        choices=("float32", "bfloat16"),
        help="dtypes to run (default: float32, and bfloat16 where the CPU has native bf16 instructions: "
        "emulated bf16 is many times slower and says nothing about the library)",
    )
    ap.add_argument("--json", help="write the rows to this file")
    ap.add_argument("--repeats", type=int, default=3, help="timed calls per case after the warm-up (median)")
    ap.add_argument("--no-flops", action="store_true", help="skip the FLOP count (one call fewer)")
    ap.add_argument("--run-one", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    flops = not (args.no_flops or args.authors)
    if args.run_one:
        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        system, name, dtype = args.run_one.split(":", 2)
        print(json.dumps(run_one(system, name, dtype, args.quick, args.repeats, flops, args.malloc)))
        return 0

    # every case process starts from glibc's own settings; --malloc alone decides the condition
    env = {k: v for k, v in os.environ.items() if k not in (*_malloc._USER_SETTINGS, "STVSR_NO_MALLOC_TUNE")}
    dtypes = args.dtypes
    if dtypes is None:
        from stvsr._device import cpu_has_native_bf16

        dtypes = ["float32", "bfloat16"] if cpu_has_native_bf16() else ["float32"]
        if "bfloat16" not in dtypes:
            print("bfloat16 skipped: this CPU has no native bf16 instructions (pass --dtypes to force it)")
    rows, failures = [], 0
    for system in _systems(args.only):
        for case in _cases(system, args.quick):
            if args.authors and not case.get("anchors"):
                continue
            for dtype in case.get("dtypes", ["float32"]):
                if dtype not in dtypes:
                    continue
                cmd = [
                    sys.executable,
                    __file__,
                    "--run-one",
                    f"{system}:{case['name']}:{dtype}",
                    "--malloc",
                    args.malloc,
                ]
                cmd += ["--quick"] if args.quick else []
                cmd += ["--repeats", str(args.repeats)] + ([] if flops else ["--no-flops"])
                cmd += ["--threads", str(args.threads)] if args.threads else []
                proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
                if proc.returncode != 0:
                    failures += 1
                    print(f"FAILED {system}:{case['name']}:{dtype}\n{proc.stderr[-2000:]}", file=sys.stderr)
                    continue
                rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    if not rows:
        print("no case ran", file=sys.stderr)
        return 1
    convs = [r["conv_gflops"] for r in rows]
    gconv = statistics.median(convs)
    print(
        f"reference conv (fp32 64->64 3x3 @144x180, {rows[0]['threads']} threads, malloc {args.malloc}): "
        f"{gconv:.1f} GFLOP/s, median of {len(convs)} processes ({min(convs):.0f}-{max(convs):.0f})\n"
    )
    header = f"{'system':<8} {'case':<40} {'dtype':<9} {'s/call':>8} {'s/frame':>8} {'peak MB':>8} {'+fwd MB':>8} {'GFLOP':>9} {'GFLOP/s':>8} {'vs conv':>7}"
    print(header)
    print("-" * len(header))
    for r in rows:
        gfl = r["gflops"]
        rate = gfl / r["seconds"] if gfl else None
        print(
            f"{r['system']:<8} {r['case']:<40} {r['dtype']:<9} {r['seconds']:>8.3f} {r['seconds'] / r['out_frames']:>8.3f} "
            f"{r['peak_rss_mb']:>8.0f} {r['forward_extra_mb']:>8.0f} "
            f"{_f(gfl, '.1f'):>9} {_f(rate, '.1f'):>8} {_f(rate and rate / gconv, '.2f'):>7}"
        )
    authors = against_authors(rows, gconv, args.malloc, args.quick)
    if authors:
        _print_authors(authors, gconv, args.malloc, args.quick)
    if args.json:
        report = {
            "conv_gflops": gconv,
            "conv_gflops_then": CONV_GFLOPS[args.malloc],
            "malloc": args.malloc,
            "quick": args.quick,
            "rows": rows,
            "authors": authors,
        }
        Path(args.json).write_text(json.dumps(report, indent=1))
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
