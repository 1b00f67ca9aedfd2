"""Pipeline benchmark: output frames/s and peak memory vs clip length and frame size.

Usage::

    python benchmarks/pipeline.py                      # bicubic_blend, 30 vs 300 frames, two sizes
    python benchmarks/pipeline.py --model rife_basicvsr --lengths 30 90
    python benchmarks/pipeline.py --quick              # smoke test

Every job runs in a fresh subprocess so its peak resident memory (ru_maxrss) is
its own; the table's last column is each job's peak memory relative to the
shortest clip of the same size: streaming keeps it near 1.0 however long the
clip is (the goal: 300 frames within 10% of 30 frames).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))


def make_clip(path: Path, n: int, h: int, w: int) -> None:
    import av
    import numpy as np

    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=25, options={"crf": "18"})
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        for k in range(n):
            img = np.stack([np.sin(xx / 9 + k / 5), np.cos(yy / 7 - k / 9), np.sin((xx + yy) / 13 + k / 7)], -1)
            frame = av.VideoFrame.from_ndarray(((img * 0.4 + 0.5) * 255).astype(np.uint8), format="rgb24")
            for p in s.encode(frame):
                out.mux(p)
        for p in s.encode():
            out.mux(p)


def run_one(model: str, src: str, scale: float, fps: str) -> dict:
    from stvsr.video import upscale_video

    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        summary = upscale_video(src, Path(tmp) / "out.mp4", model=model, scale=scale, fps=fps, progress=False)
        seconds = time.perf_counter() - t
    return {
        "frames_out": summary.frames_out,
        "seconds": seconds,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="bicubic_blend")
    ap.add_argument("--lengths", type=int, nargs="+", default=[30, 300])
    ap.add_argument("--sizes", nargs="+", default=["90x160", "180x320"], help="HxW of the input")
    ap.add_argument("--scale", type=float, default=4.0)
    ap.add_argument("--fps", default="x2")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--run-one", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.run_one:
        model, src, scale, fps = args.run_one
        print(json.dumps(run_one(model, src, float(scale), fps)))
        return 0
    if args.quick:
        args.lengths, args.sizes, args.scale = [4, 8], ["16x24"], 2.0
    print(f"model {args.model}, scale x{args.scale}, fps {args.fps}")
    header = f"{'input':>9} {'frames in':>9} {'frames out':>10} {'seconds':>8} {'out fr/s':>8} {'peak MB':>8} {'vs shortest':>11}"
    print(header + "\n" + "-" * len(header))
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            h, w = (int(v) for v in size.split("x"))
            base = None
            for n in sorted(args.lengths):
                src = Path(tmp) / f"clip_{size}_{n}.mp4"
                make_clip(src, n, h, w)
                cmd = [sys.executable, __file__, "--run-one", args.model, str(src), str(args.scale), args.fps]
                proc = subprocess.run(cmd, capture_output=True, text=True)
                if proc.returncode != 0:
                    failures += 1
                    print(f"FAILED {size} {n}: {proc.stderr[-1500:]}", file=sys.stderr)
                    continue
                r = json.loads(proc.stdout.strip().splitlines()[-1])
                base = base or r["peak_mb"]
                print(
                    f"{size:>9} {n:>9} {r['frames_out']:>10} {r['seconds']:>8.2f} {r['frames_out'] / r['seconds']:>8.2f} "
                    f"{r['peak_mb']:>8.0f} {r['peak_mb'] / base:>11.3f}"
                )
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
