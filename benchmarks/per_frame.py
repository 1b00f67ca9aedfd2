"""Seconds per output frame of the demo job, the figures behind ``stvsr.video.progress.MEASURED``.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/per_frame.py --model rife_basicvsr            # the whole demo job
    OMP_NUM_THREADS=1 python benchmarks/per_frame.py --model msmr_arb --max-frames 7  # one window only

The job is the demo's: the shipped 160x90 clip, x4 space (640x360), x2 time, window 7, float32,
written to a temporary file. ``--max-frames 7`` runs one window (13 output frames) and scales its
time to the whole clip (3 windows, 31 output frames), for models too slow to run the whole clip.
Prints seconds per output frame and per output megapixel (what ``MEASURED`` stores).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    import torch

    import stvsr
    from stvsr.models._windowed import window_plan
    from stvsr.video.commands import DEMO_CLIP

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="rife_basicvsr")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--max-frames", type=int, default=None, help="input frames to run (default: all 16)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        s = stvsr.upscale_video(DEMO_CLIP, Path(tmp) / "out.mp4", model=args.model, scale=4.0, fps="x2",
                                device=args.device, max_frames=args.max_frames, progress=False)
        seconds = time.perf_counter() - t
    whole = 16
    calls_run = len(window_plan(s.frames_in, 7, 2))
    calls_whole = len(window_plan(whole, 7, 2))
    frames_whole = 2 * whole - 1
    per_frame = seconds / calls_run * calls_whole / frames_whole  # the whole demo job's time per output frame
    mpix = s.size_out[0] * s.size_out[1] / 1e6
    print(f"{s.model} on {s.device}, {torch.get_num_threads()} thread(s): {s.frames_in} -> {s.frames_out} frames "
          f"in {seconds:.1f} s; demo job: {per_frame:.2f} s per output frame, {per_frame / mpix:.1f} s per output "
          "megapixel")


if __name__ == "__main__":
    main()
