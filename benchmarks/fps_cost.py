"""CPU seconds per output frame of a non-integer frame rate (25 -> 60 fps) against ``--fps x2``.

Usage::

    python benchmarks/fps_cost.py                          # rife_basicvsr and msmr_arb, 9 frames, 160x90
    python benchmarks/fps_cost.py --crop 64x48             # a centre crop: a quicker run
    python benchmarks/fps_cost.py --models rife_basicvsr --max-frames 13 --repeats 3
    python benchmarks/fps_cost.py --export-only            # ONNX (onnxruntime) against eager PyTorch

The job is what ``stvsr.upscale_video`` runs on the shipped sample clip (``stvsr demo``'s: 160x90 at
25 fps, the first ``--max-frames`` frames), x4 space, window 7, float32, one torch thread:
:class:`stvsr.video.Upscaler` over the decoded (optionally centre-cropped) frames, without the
decoding and encoding. Three jobs per model, timed interleaved (x2, 60, 60 asking every pair for
every time as before per-pair times, then again), so a loaded machine slows all alike: CPU
seconds (``time.process_time``) per output frame and the ratios to x2 (the goal: 60 fps <= 1.3x).

``--export`` / ``--export-only`` add a second table: each model (its real weights) exported with
:func:`stvsr.export.to_onnx` at 1 x 3 frames x 3 x 64 x 64 -> x4, x2 in time, and the seconds per
call of onnxruntime (CPU, ``--threads`` threads) against eager PyTorch, interleaved.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # _timing


def _job(model: str, fps: object, frames: list, flat: bool) -> Callable[[], int]:
    """A function running the job once and returning its number of output frames."""
    import dataclasses

    import stvsr
    from stvsr.video import Upscaler

    net = stvsr.load(model)  # loaded once: the timing is the job's, not the load's

    def job() -> int:
        ups = Upscaler(net, scale=4.0, fps=fps, progress=False, device="cpu", dtype="float32")  # type: ignore[arg-type]
        if flat:  # the engine of before: one list of times for every pair
            ups.caps = dataclasses.replace(ups.caps, per_pair_times=False)
        return sum(1 for _ in ups.process(frames, fps_in=25))

    return job


def _frames(max_frames: int, crop: tuple[int, ...] | None) -> list:
    from stvsr.video.commands import DEMO_CLIP
    from stvsr.video.io import Frame, read_frames

    out = []
    for k, f in enumerate(read_frames(DEMO_CLIP)):
        if k == max_frames:
            break
        if crop is not None:
            h, w = f.image.shape[-2:]
            y0, x0 = (h - crop[1]) // 2, (w - crop[0]) // 2
            f = Frame(f.time, f.image[:, y0 : y0 + crop[1], x0 : x0 + crop[0]])
        out.append(f)
    return out


def main() -> None:
    import torch

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["rife_basicvsr", "msmr_arb"])
    ap.add_argument("--max-frames", type=int, default=9, help="input frames of the sample clip (default: 9)")
    ap.add_argument("--repeats", type=int, default=1, help="interleaved rounds per model (default: 1)")
    ap.add_argument("--crop", default=None, help="centre crop WxH of the 160x90 frames (e.g. 64x48)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--export", action="store_true", help="also time onnxruntime against eager PyTorch")
    ap.add_argument("--export-only", action="store_true", help="only the export table")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    crop = tuple(int(v) for v in args.crop.lower().split("x")) if args.crop else None
    size = f"{crop[0]}x{crop[1]}" if crop else "160x90"
    print(f"sample clip, first {args.max_frames} frames, {size} -> x4, window 7, float32, "
          f"{torch.get_num_threads()} thread(s), {args.repeats} interleaved round(s)")
    print("| model | x2: frames, CPU s/frame | 60 fps: frames, CPU s/frame (ratio) | 60 fps, one list for all pairs "
          "(before) |")
    print("|---|---|---|---|")
    frames = _frames(args.max_frames, crop)
    for model in [] if args.export_only else args.models:
        jobs = {name: _job(model, fps, frames, flat) for name, fps, flat in
                (("x2", "x2", False), ("60", 60, False), ("60 flat", 60, True))}
        per_frame: dict[str, list[float]] = {name: [] for name in jobs}
        count: dict[str, int] = {}
        for _ in range(args.repeats):
            for name, job in jobs.items():
                start = time.process_time()
                count[name] = job()
                per_frame[name].append((time.process_time() - start) / count[name])
        x2, new, old = (statistics.median(per_frame[k]) for k in jobs)
        print(f"| {model} | {count['x2']}, {x2:.2f} | {count['60']}, {new:.2f} ({new / x2:.2f}x) | "
              f"{count['60 flat']}, {old:.2f} ({old / x2:.2f}x) |", flush=True)
    if args.export or args.export_only:
        _export_table(args.models, args.repeats, args.threads)


def _export_table(models: list[str], repeats: int, threads: int) -> None:
    """onnxruntime against eager PyTorch, seconds per call (median of interleaved calls)."""
    import torch
    from _timing import median_ms, time_interleaved

    import stvsr
    from stvsr import export

    call = {"frames": 3, "size": (64, 64), "scale": 4.0, "times": (0.5,)}
    print(f"\n1 x 3 x 3 x 64 x 64 -> x4, times (0.5,); {threads} thread(s); median of {max(repeats, 3)} "
          "interleaved calls")
    print("| model | eager PyTorch s/call | onnxruntime s/call | ratio ort / eager | max abs difference |")
    print("|---|---|---|---|---|")
    for name in models:
        net = stvsr.load(name).eval()
        with tempfile.TemporaryDirectory() as tmp:
            path = export.to_onnx(net, Path(tmp) / "model.onnx", **call)  # type: ignore[arg-type]
            session = export.onnx_session(path, threads)
            lr = export.example_input(call["frames"], call["size"])  # type: ignore[arg-type]
            feed = {session.get_inputs()[0].name: lr.numpy()}
            fixed = export.FixedCall(net, call["scale"], call["times"]).eval()  # type: ignore[arg-type]

            def eager(fixed: torch.nn.Module = fixed, lr: torch.Tensor = lr) -> torch.Tensor:
                with torch.no_grad():
                    return fixed(lr)

            def onnx(session: object = session, feed: dict = feed) -> object:
                return session.run(None, feed)  # type: ignore[attr-defined]

            diff = float((torch.from_numpy(onnx()[0]) - eager()).abs().max())  # type: ignore[index]
            eag, ort = time_interleaved([eager, onnx], torch.device("cpu"), repeats=max(repeats, 3), warmup=1)
        a, b = median_ms(eag) / 1e3, median_ms(ort) / 1e3
        print(f"| {name} | {a:.2f} | {b:.2f} | {b / a:.2f}x | {diff:.1e} |", flush=True)

if __name__ == "__main__":
    main()
