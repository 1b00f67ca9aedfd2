"""``stvsr upscale``, ``stvsr info`` and ``stvsr demo``: the video subcommands of the CLI.

Each subcommand is a ``<name>_arguments(parser)`` / ``<name>_command(args) -> int``
pair registered in :data:`stvsr.cli.COMMANDS`.
"""

from __future__ import annotations

import argparse
import glob
import sys
from fractions import Fraction
from pathlib import Path

from stvsr._cli_types import int_at_least
from stvsr._formats import VIDEO_SUFFIXES

#: what `--overwrite` may replace (the same words in `stvsr upscale --help` and docs/getting-started.md)
OVERWRITE_HELP = (
    "replace an existing output, but only a regular file or a folder holding nothing but the frames stvsr "
    "writes (NNNNNN.png); never a folder with other content, the input or a folder containing it, or a "
    "non-regular file (symbolic link, device, FIFO, socket)"
)
DEMO_CLIP = Path(__file__).resolve().parents[1] / "data" / "bbb_160x90.mp4"


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--size must look like 1280x720, got {text!r}") from exc
    if w <= 0 or h <= 0:
        raise argparse.ArgumentTypeError(f"--size must be positive, got {text!r}")
    return w, h


def _fps(text: str) -> str | Fraction:
    """``--fps``: a rate (60, 23.976, 30000/1001) or a multiplier (x2), checked now rather than mid-run."""
    from stvsr.video.timegrid import target_fps

    try:
        value: str | Fraction = text if text.lower().startswith("x") else Fraction(text)
        target_fps(value, Fraction(1))  # positive, finite, within the limits (multiplier and rate)
    except (ValueError, ZeroDivisionError) as exc:
        detail = str(exc) if "limit" in str(exc) or "too large" in str(exc) else ""
        raise argparse.ArgumentTypeError(
            detail or f"--fps must be a positive rate such as 60, 23.976 or 30000/1001, or a multiplier like x2; "
            f"got {text!r}"
        ) from exc
    return value


def _input_fps(text: str) -> Fraction:
    """``--input-fps``: the rate of PNG-folder inputs (a positive number or a fraction)."""
    from stvsr.video.timegrid import as_fraction

    try:
        return as_fraction(text, "--input-fps")
    except (ValueError, TypeError) as exc:
        raise argparse.ArgumentTypeError(
            f"--input-fps must be a positive frame rate such as 25 or 30000/1001, got {text!r}"
        ) from exc


def _device(text: str) -> str:
    """``--device``: ``auto`` (kept as is: resolved when the job starts) or a device checked now."""
    from stvsr._device import AUTO, resolve_device

    if text.strip().lower() == AUTO:
        return AUTO
    try:
        resolve_device(text, "--device")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    return text



def _seconds(text: str) -> float:
    import math

    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"--start/--duration take seconds >= 0, such as 12.5, got {text!r}")
    return value


def _duration(text: str) -> float:
    value = _seconds(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"--duration must be positive, got {text!r}")
    return value




def _check_task(model: str) -> None:
    """Refuse a registry model that the video pipeline cannot run, with advice for the command line."""
    try:
        from stvsr.zoo import model_card

        task = model_card(model).get("task")
    except Exception:  # unknown names, folders, hub repos: the loader gives its own message later
        return
    if task not in (None, "stvsr", "vsr", "vfi"):
        raise ValueError(
            f"--model {model} is a {task} model; stvsr upscale runs space-time (stvsr), video SR (vsr) and frame "
            "interpolation (vfi) models: see `stvsr models --task stvsr`"
        )


# --- stvsr upscale ------------------------------------------------------------------------------


def upscale_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="video file, PNG folder, folder of videos, or a glob such as 'clips/*.mp4'")
    p.add_argument("output", help="output file (.mp4/.mkv/.mov/.avi) or folder (PNG frames; or, for many inputs, videos)")
    p.add_argument("--model", default="rife_basicvsr", help="registry name or folder (default: rife_basicvsr)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--scale", type=float, default=None, help="space factor (default: the model's, 4)")
    g.add_argument("--size", type=_size, default=None, metavar="WxH", help="exact output size")
    p.add_argument("--fps", type=_fps, default=None,
                   help="output frame rate, e.g. 60, 23.976, 30000/1001 or x2 (default: same; at most 1000 fps and "
                   "x1024). The output spans the first to the last input frame: x2 turns N frames into 2N-1 "
                   "(see --keep-duration)")
    p.add_argument("--keep-duration", action="store_true",
                   help="repeat the last output frame so the output lasts as long as the input (x2: 2N frames)")
    p.add_argument("--device", type=_device, default="auto",
                   help="auto (default: CUDA, else Apple MPS, else CPU; the choice is printed), cpu, cuda, cuda:1, mps")
    p.add_argument("--dtype", default=None, choices=["float32", "bfloat16", "float16"],
                   help="compute precision (default float32). On a GPU bfloat16 halves activation memory and is faster "
                   "with tensor cores. On a CPU keep float32: bfloat16 can help only on processors with bf16 "
                   "instructions (AVX512-BF16/AMX), float16 is slow there; --threads matters more")
    p.add_argument("--window", type=int_at_least("--window", 2, " (key frames per model call)"), default=None,
                   help="key frames per model call (default 7; pair models: 2). Memory grows with it: lower it (3-4 for "
                   "recurrent models) when memory runs out; longer windows give recurrent models more context, and "
                   "smaller ones are not faster (neighbouring calls share 2 key frames)")
    p.add_argument("--tile", type=int, default=None,
                   help="process frames in overlapping tiles of N x N LR pixels (default: whole frames, fastest). Use it "
                   "when large frames run out of memory: start with 256, halve it if needed; tiles overlap by 16 "
                   "px (computed twice) and are blended")
    p.add_argument("--threads", type=int_at_least("--threads", 1), default=None,
                   help="CPU threads for the model (default: torch's choice, one per core); fewer keep the machine "
                   "responsive")
    p.add_argument("--start", type=_seconds, default=0.0, help="skip the input before this time in seconds (no audio then)")
    p.add_argument("--duration", type=_duration, default=None, help="only this many seconds of input")
    p.add_argument("--max-frames", type=int_at_least("--max-frames", 2), default=None,
                   help="only the first N input frames (from --start): try settings on a short segment first")
    p.add_argument("--codec", default="h264", choices=["h264", "hevc", "prores"],
                   help="encoder (default h264): hevc gives smaller files, prores (.mov/.mkv, always 10-bit) is for "
                   "editing")
    p.add_argument("--10bit", dest="ten_bit", action="store_true", help="10-bit video (h264, hevc)")
    p.add_argument("--crf", type=int, default=18, help="H.264/HEVC quality, 0-51 (default 18)")
    p.add_argument("--lossless", action="store_true", help="FFV1 (.mkv/.avi) or libx264rgb crf 0 (.mp4)")
    p.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    p.add_argument("--no-audio", action="store_true", help="do not copy the audio stream")
    p.add_argument("--no-cuts", action="store_true", help="interpolate across detected scene cuts too")
    p.add_argument("--input-fps", type=_input_fps, default=Fraction(25),
                   help="frame rate of PNG-folder inputs, e.g. 24 or 30000/1001 (default 25)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _inputs(pattern: str) -> list[Path]:
    p = Path(pattern)
    if p.is_file():
        return [p]
    if p.is_dir():
        from stvsr.video.io import is_frame_folder

        if is_frame_folder(p):
            return [p]
        return sorted(q for q in p.iterdir() if q.suffix.lower() in VIDEO_SUFFIXES)
    if any(ch in pattern for ch in "*?["):
        return sorted(Path(q) for q in glob.glob(pattern))
    raise FileNotFoundError(f"input not found: {pattern}")


def upscale_command(args: argparse.Namespace) -> int:
    from stvsr.video import upscale_video
    from stvsr.video.io import OUTPUT_SUFFIXES

    _check_task(args.model)
    if not args.output.strip():  # Path("") would be "." (the current folder)
        raise ValueError("the output path is empty")
    inputs = _inputs(args.input)
    if not inputs:
        raise FileNotFoundError(f"no videos match {args.input}")
    out = Path(args.output)
    many = len(inputs) > 1 or (Path(args.input).is_dir() and inputs[0] != Path(args.input))
    if many:
        if out.exists() and not out.is_dir():
            raise ValueError(f"output {out} is a file; several inputs need an output folder")
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ValueError(f"cannot create the output folder {out}: {exc.strerror or exc}") from exc
    kwargs = dict(
        model=args.model, scale=args.scale, size=args.size, fps=args.fps, device=args.device, dtype=args.dtype,
        window=args.window, tile=args.tile, crf=args.crf, lossless=args.lossless, overwrite=args.overwrite,
        audio=not args.no_audio, cut_threshold=None if args.no_cuts else 0.25, folder_fps=args.input_fps,
        progress=not args.quiet, keep_duration=args.keep_duration, start=args.start, duration=args.duration,
        max_frames=args.max_frames, codec=args.codec, bit_depth=10 if args.ten_bit else None,
    )
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    failed = 0
    for src in inputs:
        # inputs whose container the writer does not make (.webm, .ts, ...) become .mp4
        suffix = src.suffix if src.is_file() and src.suffix.lower() in OUTPUT_SUFFIXES else ".mp4"
        dst = out / (src.stem + suffix) if many else out
        try:
            summary = upscale_video(src, dst, **kwargs)  # type: ignore[arg-type]
        except Exception as exc:
            if not many or getattr(args, "debug", False):
                raise
            failed += 1
            print(f"stvsr upscale: {src}: error: {' '.join(str(exc).split())}", file=sys.stderr)
            continue
        print(f"{src}: {summary.line()}")
    if many:
        print(f"{len(inputs) - failed} of {len(inputs)} videos done" + (f", {failed} failed" if failed else ""))
    return min(failed, 125)


# --- stvsr info ---------------------------------------------------------------------------------


def info_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", help="video files or PNG folders")


def info_command(args: argparse.Namespace) -> int:
    from stvsr.video.io import probe

    for f in args.files:
        print(probe(f).summary())
    return 0


# --- stvsr demo ---------------------------------------------------------------------------------


def demo_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", default="stvsr-demo", help="folder for the results (default: ./stvsr-demo)")
    p.add_argument("--model", default="rife_basicvsr", help="model to run (default: rife_basicvsr, shipped weights)")
    p.add_argument("--device", type=_device, default="auto",
                   help="auto (default: CUDA, else MPS, else CPU), cpu, cuda, cuda:1 or mps")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def demo_command(args: argparse.Namespace) -> int:
    import torch
    from PIL import Image

    from stvsr.ops import imresize
    from stvsr.video import upscale_video
    from stvsr.video.io import read_frames, to_uint8

    out_dir = Path(args.output)
    out_dir.mkdir(parents=True, exist_ok=True)
    video = out_dir / "demo_x4_x2fps.mp4"
    print(f"input: {DEMO_CLIP.name} (Big Buck Bunny, CC-BY 3.0 Blender Foundation), 160x90 @ 25 fps")
    summary = upscale_video(
        DEMO_CLIP, video, model=args.model, scale=4.0, fps="x2", device=args.device, overwrite=True,
        progress=not args.quiet,
    )
    # side by side at an interpolated instant: bicubic of the nearest LR frame (frame repeat) vs the model
    lr = [f.image for f in read_frames(DEMO_CLIP)]
    hr = list(read_frames(video))
    k = 2 * (len(lr) // 2) - 1  # an odd output index: halfway between two input frames
    baseline = imresize(lr[k // 2][None], scale=4.0)[0].clamp(0, 1)
    model_frame = hr[k].image
    h = min(baseline.shape[1], model_frame.shape[1])
    gap = torch.ones(3, h, 8)
    side = torch.cat([baseline[:, :h], gap, model_frame[:, :h]], dim=2)
    png = out_dir / "side_by_side.png"
    Image.fromarray(to_uint8(side)).save(png)
    print(summary.line())
    print(f"wrote {video}")
    print(f"wrote {png} (left: bicubic + frame repeat, right: {args.model}, output frame {k} at t = 0.5)")
    return 0
