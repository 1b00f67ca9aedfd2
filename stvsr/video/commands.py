"""``stvsr upscale``, ``stvsr info`` and ``stvsr demo``: the video subcommands of the CLI.

Each subcommand is a ``<name>_arguments(parser)`` / ``<name>_command(args) -> int``
pair registered in :data:`stvsr.cli.COMMANDS`.
"""

from __future__ import annotations

import argparse
import glob
import sys
from pathlib import Path

VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".ts", ".y4m")
DEMO_CLIP = Path(__file__).resolve().parents[1] / "data" / "bbb_160x90.mp4"


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--size must look like 1280x720, got {text!r}") from exc
    if w <= 0 or h <= 0:
        raise argparse.ArgumentTypeError(f"--size must be positive, got {text!r}")
    return w, h


def _fps(text: str) -> str | float:
    if text.lower().startswith("x"):
        return text
    try:
        return float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--fps must be a number or a multiplier like x2, got {text!r}") from exc


# --- stvsr upscale ------------------------------------------------------------------------------


def upscale_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="video file, PNG folder, folder of videos, or a glob such as 'clips/*.mp4'")
    p.add_argument("output", help="output file (.mp4/.mkv/.mov/.avi) or folder (PNG frames; or, for many inputs, videos)")
    p.add_argument("--model", default="rife_basicvsr", help="registry name or folder (default: rife_basicvsr)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--scale", type=float, default=None, help="space factor (default: the model's, 4)")
    g.add_argument("--size", type=_size, default=None, metavar="WxH", help="exact output size")
    p.add_argument("--fps", type=_fps, default=None, help="output frame rate, e.g. 60, 23.976 or x2 (default: same)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cpu)")
    p.add_argument("--dtype", default=None, choices=["float32", "bfloat16", "float16"], help="compute precision")
    p.add_argument("--window", type=int, default=None, help="key frames per model call")
    p.add_argument("--tile", type=int, default=None, help="process frames in tiles of N LR pixels (less memory)")
    p.add_argument("--crf", type=int, default=18, help="H.264 quality, 0-51 (default 18)")
    p.add_argument("--lossless", action="store_true", help="FFV1 (.mkv/.avi) or libx264rgb crf 0 (.mp4)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("--no-audio", action="store_true", help="do not copy the audio stream")
    p.add_argument("--no-cuts", action="store_true", help="interpolate across detected scene cuts too")
    p.add_argument("--input-fps", type=float, default=25.0, help="frame rate of PNG-folder inputs (default 25)")
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

    inputs = _inputs(args.input)
    if not inputs:
        raise FileNotFoundError(f"no videos match {args.input}")
    out = Path(args.output)
    many = len(inputs) > 1 or (Path(args.input).is_dir() and inputs[0] != Path(args.input))
    if many:
        out.mkdir(parents=True, exist_ok=True)
    kwargs = dict(
        model=args.model, scale=args.scale, size=args.size, fps=args.fps, device=args.device, dtype=args.dtype,
        window=args.window, tile=args.tile, crf=args.crf, lossless=args.lossless, overwrite=args.overwrite,
        audio=not args.no_audio, cut_threshold=None if args.no_cuts else 0.25, folder_fps=args.input_fps,
        progress=not args.quiet,
    )
    failed = 0
    for src in inputs:
        dst = out / (src.stem + (".mp4" if src.is_dir() else src.suffix)) if many else out
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
    p.add_argument("--device", default=None, help="cpu (default) or cuda")
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
