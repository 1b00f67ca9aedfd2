"""The models benchmark of two revisions, interleaved in one run: did a change make anything slower?

Usage::

    python benchmarks/revisions.py --base 21316f5                 # HEAD's checkout against that commit
    python benchmarks/revisions.py --base v0.1.0 --quick          # tiny inputs: call overhead, not compute
    python benchmarks/revisions.py --base 21316f5 --only msmr_fix msitf --dtype float32 --rounds 3

The base revision is checked out into a temporary git worktree (removed afterwards). Both
revisions run *this* checkout's workloads (``benchmarks/models.py``'s cases and ``run_one``: a fresh
process per case, the reference conv, one warm-up, the median of ``--repeats`` calls, random
weights seeded the same); only the ``stvsr`` package imported differs. A case the base package
cannot run (an API it did not have yet) is listed as skipped. The two revisions alternate
case by case, in the opposite order every round, so that a change of the machine's load during
the run reaches both alike; each figure is the median over ``--rounds``. The table gives both
times and ``new / base`` (below 1: faster now), and the geometric mean of the ratios.

``--pipeline HxW:FRAMES ...`` adds whole-clip jobs of ``benchmarks/pipeline.py`` (``upscale_video``
with ``--pipeline-model``, x4 space, x2 time, on the same synthetic H.264 clips for both revisions):
the streaming engine, decoding and encoding, which the models table does not time.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

# every job runs this checkout's benchmark code (same workloads) over one revision's package: ``stvsr`` is
# imported from ``pkg`` (a folder holding only a link to that revision's package) before the benchmark
# module puts this checkout first on sys.path, so the cached package is the one under test
_JOB = (
    "import json, sys; sys.path.insert(0, {pkg!r}); import stvsr; "
    "assert stvsr.__file__.startswith({pkg!r}), stvsr.__file__; "
    "sys.path.insert(1, {root!r}); sys.path.insert(2, {root!r} + '/benchmarks'); "
    "import benchmarks.models as m, benchmarks.pipeline as p; "
)


def _package_dir(tree: Path, where: Path) -> str:
    where.mkdir(parents=True, exist_ok=True)
    link = where / "stvsr"
    if not link.exists():
        link.symlink_to(tree / "stvsr", target_is_directory=True)
    return str(where)


def _job(pkg: str, code: str, env: dict[str, str]) -> dict:
    proc = subprocess.run([sys.executable, "-c", _JOB.format(pkg=pkg, root=str(ROOT)) + code], cwd=pkg, env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def list_cases(quick: bool, env: dict[str, str]) -> list[tuple[str, str, str]]:
    """``(system, case, dtype)`` of this checkout's models benchmark."""
    out = subprocess.run([sys.executable, "-c", "import json, sys; sys.path[:0] = [sys.argv[1], sys.argv[1] + "
                          "'/benchmarks']; from benchmarks.models import _systems, _cases; print(json.dumps([[s, "
                          f"c['name'], d] for s in _systems(None) for c in _cases(s, {quick}) for d in "
                          "c.get('dtypes', ['float32'])]))", str(ROOT)],
                         env=env, capture_output=True, text=True, check=True)
    return [tuple(r) for r in json.loads(out.stdout.strip().splitlines()[-1])]


def run_case(pkg: str, system: str, case: str, dtype: str, args: argparse.Namespace, env: dict[str, str]) -> float:
    code = (f"print(json.dumps(m.run_one({system!r}, {case!r}, {dtype!r}, {args.quick}, {args.repeats}, False)))")
    return float(_job(pkg, code, env)["seconds"])


def run_pipeline(pkg: str, model: str, src: Path, env: dict[str, str]) -> float:
    return float(_job(pkg, f"print(json.dumps(p.run_one({model!r}, {str(src)!r}, 4.0, 'x2')))", env)["seconds"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="the revision to compare against (commit, tag, branch)")
    ap.add_argument("--quick", action="store_true", help="the benchmark's tiny inputs (call overhead)")
    ap.add_argument("--only", nargs="+", help="cases whose 'system:case' contains one of these strings")
    ap.add_argument("--dtype", choices=["float32", "bfloat16"], help="one dtype only")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved rounds (median)")
    ap.add_argument("--repeats", type=int, default=3, help="timed calls per case process (median)")
    ap.add_argument("--threads", type=int, help="OMP_NUM_THREADS of every case process (default: unset)")
    ap.add_argument("--pipeline", nargs="*", default=[], metavar="HxW:FRAMES", help="whole-clip jobs (see above)")
    ap.add_argument("--pipeline-model", default="bicubic_blend")
    ap.add_argument("--json", help="write the rows to this file")
    args = ap.parse_args(argv)
    if args.rounds < 1 or args.repeats < 1:
        ap.error("--rounds and --repeats must be positive")

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if args.threads:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(args.threads)
    with tempfile.TemporaryDirectory(prefix="stvsr-base-") as tmp:
        base = Path(tmp) / "base"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(base), args.base], check=True)
        try:
            pkgs = {"base": _package_dir(base, Path(tmp) / "pkg_base"), "new": _package_dir(ROOT, Path(tmp) / "pkg_new")}
            jobs: dict[tuple[str, str, str], Any] = {}
            for c in list_cases(args.quick, env):
                if args.only and not any(o in f"{c[0]}:{c[1]}" for o in args.only):
                    continue
                if args.dtype and c[2] != args.dtype:
                    continue
                jobs[c] = lambda pkg, c=c: run_case(pkg, *c, args, env)
            for spec in args.pipeline:
                size, frames = spec.split(":")
                h, w = (int(v) for v in size.split("x"))
                src = Path(tmp) / f"clip_{size}_{frames}.mp4"
                sys.path.insert(0, str(ROOT / "benchmarks"))
                from pipeline import make_clip

                make_clip(src, int(frames), h, w)
                key = ("pipeline", f"{args.pipeline_model}_{size}_{frames}fr_x4_x2", "float32")
                jobs[key] = lambda pkg, src=src: run_pipeline(pkg, args.pipeline_model, src, env)
            times: dict[tuple[str, str, str], dict[str, list[float]]] = {c: {"base": [], "new": []} for c in jobs}
            skipped: dict[tuple[str, str, str], str] = {}
            for r in range(args.rounds):
                order = ("base", "new") if r % 2 == 0 else ("new", "base")
                for c, job in jobs.items():
                    if c in skipped:
                        continue
                    try:
                        for who in order:
                            times[c][who].append(job(pkgs[who]))
                    except RuntimeError as err:  # a workload the base revision's package cannot run
                        skipped[c] = str(err).strip().splitlines()[-1]
                        print(f"skipped {c[1]} {c[2]}: {skipped[c]}", flush=True)
                        continue
                    print(f"round {r + 1} {c[1]} {c[2]}: base {times[c]['base'][-1]:.3f} s, "
                          f"new {times[c]['new'][-1]:.3f} s", flush=True)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], check=False)
    times = {c: t for c, t in times.items() if c not in skipped}

    rows = []
    for (system, case, dtype), t in times.items():
        b, n = statistics.median(t["base"]), statistics.median(t["new"])
        rows.append({"system": system, "case": case, "dtype": dtype, "base_s": b, "new_s": n, "ratio": n / b})
    print(f"\n{'case':<44} {'dtype':<9} {'base s':>8} {'new s':>8} {'new/base':>8}")
    for r in rows:
        print(f"{r['case']:<44} {r['dtype']:<9} {r['base_s']:>8.3f} {r['new_s']:>8.3f} {r['ratio']:>8.2f}")
    if rows:
        gm = math.exp(sum(math.log(r["ratio"]) for r in rows) / len(rows))
        print(f"geometric mean new/base over {len(rows)} cases: {gm:.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"base": args.base, "rounds": args.rounds, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
