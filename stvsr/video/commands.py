"""``stvsr upscale``, ``stvsr info`` and ``stvsr demo``: the video subcommands of the CLI.

Each subcommand is a ``<name>_arguments(parser)`` / ``<name>_command(args) -> int``
pair registered in :data:`stvsr.cli.COMMANDS`.
"""

from __future__ import annotations

import argparse
import glob
import sys
from pathlib import Path

from stvsr._cli_types import int_at_least
from stvsr._formats import VIDEO_SUFFIXES
from stvsr.video.options import device_type

DEMO_CLIP = Path(__file__).resolve().parents[1] / "data" / "bbb_160x90.mp4"


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
    from stvsr.video.options import DEFAULT_MODEL, OutputOptions, UpscaleOptions, add_arguments

    p.add_argument("input", help="video file, PNG folder, folder of videos, or a glob such as 'clips/*.mp4'")
    p.add_argument("output", help="output file (.mp4/.mkv/.mov/.avi) or folder (PNG frames; or, for many inputs, videos)")
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"registry name or folder (default: {DEFAULT_MODEL})")
    add_arguments(p, UpscaleOptions, OutputOptions)  # every other option: stvsr/video/options.py
    p.add_argument("--threads", type=int_at_least("--threads", 1), default=None,
                   help="CPU threads for the model (default: torch's choice, one per core); fewer keep the machine "
                   "responsive")


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
    from stvsr.video.options import from_arguments

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
    run, output = from_arguments(args)
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    failed = 0
    for src in inputs:
        # inputs whose container the writer does not make (.webm, .ts, ...) become .mp4
        suffix = src.suffix if src.is_file() and src.suffix.lower() in OUTPUT_SUFFIXES else ".mp4"
        dst = out / (src.stem + suffix) if many else out
        try:
            summary = upscale_video(src, dst, model=args.model, options=run, output=output)
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
    p.add_argument("--device", type=device_type, default="auto",
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
