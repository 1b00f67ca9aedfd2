"""The options of a video job, written once: name, default, documentation, command-line flag, check.

:class:`UpscaleOptions` holds what :class:`stvsr.video.Upscaler` takes (the model and how it
runs) and :class:`OutputOptions` what :func:`stvsr.video.upscale_video` adds (segment,
encoding, output). ``stvsr upscale`` declares its flags from the fields' metadata
(:func:`add_arguments`) and builds both objects from the parsed arguments
(:func:`from_arguments`); ``upscale_video(src, dst, **options)`` builds them from its
keywords. No torch here: ``stvsr upscale --help`` stays light.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, field, fields
from fractions import Fraction
from typing import Any

from stvsr._cli_types import int_at_least

__all__ = [
    "DEFAULT_CUT_THRESHOLD",
    "DEFAULT_MODEL",
    "OVERWRITE_HELP", "OutputOptions", "UpscaleOptions", "add_arguments", "from_arguments", "split"]

#: what `--overwrite` may replace (the same words in `stvsr upscale --help` and docs/getting-started.md)
OVERWRITE_HELP = (
    "replace an existing output, but only a regular file or a folder holding nothing but the frames stvsr "
    "writes (NNNNNN.png); never a folder with other content, the input or a folder containing it, or a "
    "non-regular file (symbolic link, device, FIFO, socket)"
)
#: the model of stvsr upscale / upscale_video / Upscaler when none is named
DEFAULT_MODEL = "rife_basicvsr"
#: scene-cut threshold: mean absolute difference of 64x64 grey thumbnails, in [0, 1]
DEFAULT_CUT_THRESHOLD = 0.25


def size_type(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--size must look like 1280x720, got {text!r}") from exc
    if w <= 0 or h <= 0:
        raise argparse.ArgumentTypeError(f"--size must be positive, got {text!r}")
    return w, h


def fps_type(text: str) -> str | Fraction:
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


def input_fps_type(text: str) -> Fraction:
    """``--input-fps``: the rate of PNG-folder inputs (a positive number or a fraction)."""
    from stvsr.video.timegrid import as_fraction

    try:
        return as_fraction(text, "--input-fps")
    except (ValueError, TypeError) as exc:
        raise argparse.ArgumentTypeError(
            f"--input-fps must be a positive frame rate such as 25 or 30000/1001, got {text!r}"
        ) from exc


def device_type(text: str) -> str:
    """``--device``: ``auto`` (kept as is: resolved when the job starts) or a device checked now."""
    from stvsr._device import AUTO, resolve_device

    if text.strip().lower() == AUTO:
        return AUTO
    try:
        resolve_device(text, "--device")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    return text



def seconds_type(text: str) -> float:
    import math

    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"--start/--duration take seconds >= 0, such as 12.5, got {text!r}")
    return value


def duration_type(text: str) -> float:
    value = seconds_type(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"--duration must be positive, got {text!r}")
    return value


def _option(default: Any, doc: str, *flags: str, **cli: Any) -> Any:
    """A field with its documentation and, when ``flags`` are given, its ``argparse`` declaration."""
    return field(default=default, metadata={"doc": doc, "flags": flags, "cli": cli})


def _number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


@dataclass(frozen=True)
class UpscaleOptions:
    """How the model runs (the keywords of :class:`stvsr.video.Upscaler`; see each field's ``doc``)."""

    scale: Any = _option(None, "space factor or (scale_h, scale_w); default: the model's own (4 for "
                         "arbitrary-scale models)", "--scale", type=float, group="space",
                         help="space factor (default: the model's, 4)")
    size: Any = _option(None, "exact output size (W, H) instead of scale", "--size", type=size_type, group="space",
                        metavar="WxH", help="exact output size")
    fps: Any = _option(None, "output frame rate: a number, an 'x2'-style multiplier, or None (same as the input)",
                       "--fps", type=fps_type,
                       help="output frame rate, e.g. 60, 23.976, 30000/1001 or x2 (default: same; at most 1000 fps "
                       "and x1024). The output spans the first to the last input frame: x2 turns N frames into 2N-1 "
                       "(see --keep-duration)")
    device: Any = _option(None, "'auto' or None (CUDA, else MPS, else the CPU; the choice is printed), 'cpu', "
                          "'cuda', 'cuda:1', 'mps' or a torch.device", "--device", type=device_type, cli_default="auto",
                          help="auto (default: CUDA, else Apple MPS, else CPU; the choice is printed), cpu, cuda, "
                          "cuda:1, mps")
    dtype: Any = _option(None, "'auto' or None (bfloat16 autocast on a CPU with native bf16 instructions, "
                         "AVX512-BF16/AMX; float32 elsewhere), 'float32', or bfloat16 / float16 through autocast",
                         "--dtype", choices=["auto", "float32", "bfloat16", "float16"], cli_default="auto",
                         help="compute precision. auto (default): bfloat16 on CPUs with bf16 instructions "
                         "(AVX512-BF16/AMX: about 2x faster, within 0.01 dB of float32 on Vid4), float32 elsewhere "
                         "(GPUs included). float16 is slow on CPUs; on a GPU bfloat16/float16 halve activation memory")
    window: int | None = _option(
        None, "key frames per model call (default 7; pair models: 2)", "--window",
        type=int_at_least("--window", 2, " (key frames per model call)"),
        help="key frames per model call (default 7; pair models: 2). Memory grows with it: lower it (3-4 for "
        "recurrent models) when memory runs out; longer windows give recurrent models more context, and smaller "
        "ones are not faster (neighbouring calls share 2 key frames)",
    )
    overlap: int | None = _option(None, "key frames shared by neighbouring calls (default 2; pairs: 1)")
    tile: int | None = _option(
        None, "spatial tiles of N x N LR pixels (None: whole frames)", "--tile", type=int,
        help="process frames in overlapping tiles of N x N LR pixels (default: whole frames, fastest). Use it when "
        "large frames run out of memory: start with 256, halve it if needed; tiles overlap by 16 px (computed "
        "twice) and are blended",
    )
    tile_overlap: int = _option(16, "LR pixels shared by neighbouring tiles")
    cut_threshold: float | None = _option(
        DEFAULT_CUT_THRESHOLD, "scene-cut sensitivity in (0, 1] (None: interpolate across cuts too)",
        "--no-cuts", action="store_const", const=None, help="interpolate across detected scene cuts too",
    )
    progress: bool = _option(
        True, "print what runs, the estimated duration and a progress bar with an ETA (stderr)",
        "--quiet", action="store_false", help="no progress bar",
    )

    def __post_init__(self) -> None:
        if self.scale is not None and self.size is not None:
            raise ValueError("give scale or size, not both")
        if self.size is not None and (
            len(self.size) != 2 or any(isinstance(v, bool) or not isinstance(v, int) or v <= 0 for v in self.size)
        ):
            raise ValueError(f"size must be (W, H) with positive integers, got {self.size!r}")
        if self.window is not None and (isinstance(self.window, bool) or not isinstance(self.window, int)
                                        or self.window < 2):
            raise ValueError(f"window must be an integer >= 2 (key frames per model call), got {self.window!r}")
        if self.tile is not None and self.tile < 8:
            raise ValueError(f"tile must be at least 8 LR pixels, got {self.tile}")
        if self.cut_threshold is not None and not 0 < self.cut_threshold <= 1:
            raise ValueError(f"cut_threshold must be in (0, 1] or None, got {self.cut_threshold}")


@dataclass(frozen=True)
class OutputOptions:
    """What :func:`stvsr.video.upscale_video` adds: the input segment, the encoding and the output."""

    crf: int = _option(18, "H.264 / HEVC quality, 0-51", "--crf", type=int, help="H.264/HEVC quality, 0-51 "
                       "(default 18)")
    lossless: bool = _option(False, "FFV1 (.mkv/.avi) or libx264rgb crf 0 (.mp4)", "--lossless",
                             action="store_true", help="FFV1 (.mkv/.avi) or libx264rgb crf 0 (.mp4)")
    codec: str = _option("h264", "encoder: 'h264', 'hevc' or 'prores'", "--codec",
                         choices=["h264", "hevc", "prores"],
                         help="encoder (default h264): hevc gives smaller files, prores (.mov/.mkv, always 10-bit) "
                         "is for editing")
    bit_depth: int | None = _option(None, "8 (default) or 10 (h264, hevc; prores is always 10-bit)", "--10bit",
                                    action="store_const", const=10, help="10-bit video (h264, hevc)")
    overwrite: bool = _option(False, "replace an existing output (only what stvsr writes; see VideoWriter)",
                              "--overwrite", action="store_true", help=OVERWRITE_HELP)
    audio: bool = _option(True, "copy the audio stream (not with start > 0: it would be out of sync)",
                          "--no-audio", action="store_false", help="do not copy the audio stream")
    folder_fps: Any = _option(Fraction(25), "frame rate of a PNG-folder input", "--input-fps", type=input_fps_type, metavar="FPS",
                              help="frame rate of PNG-folder inputs, e.g. 24 or 30000/1001 (default 25)")
    keep_duration: bool = _option(
        False, "repeat the last output frame so the output lasts as long as the input", "--keep-duration",
        action="store_true",
        help="repeat the last output frame so the output lasts as long as the input (x2: 2N frames)",
    )
    start: float = _option(0.0, "skip the input before this time in seconds (no audio then)", "--start",
                           type=seconds_type)
    duration: float | None = _option(None, "only this many seconds of input", "--duration", type=duration_type)
    max_frames: int | None = _option(None, "only the first N input frames (from start): try settings on a short "
                                     "segment first", "--max-frames", type=int_at_least("--max-frames", 2))
    resume: bool = _option(
        False, "finish an interrupted job from the work it kept in OUT.stvsr-part/ (same input, model and options; "
        "the windows already written are not run again)", "--resume", action="store_true",
        help="finish an interrupted job: a job keeps its finished frames in OUT.stvsr-part/ until it succeeds; "
        "--resume checks that input, model and options are the same and continues where it stopped (without it "
        "an existing OUT.stvsr-part/ is an error; --overwrite starts again)",
    )

    def __post_init__(self) -> None:
        if not _number(self.start) or self.start < 0:
            raise ValueError(f"start must be a number of seconds >= 0, got {self.start!r}")
        if self.duration is not None and (not _number(self.duration) or self.duration <= 0):
            raise ValueError(f"duration must be a positive number of seconds, got {self.duration!r}")
        if self.max_frames is not None and (isinstance(self.max_frames, bool) or not isinstance(self.max_frames, int)
                                            or self.max_frames < 2):
            raise ValueError(f"max_frames must be an integer >= 2, got {self.max_frames!r}")


def split(kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Keywords -> (``UpscaleOptions`` ones, ``OutputOptions`` ones); an unknown name is a ``TypeError``."""
    run = {f.name for f in fields(UpscaleOptions)}
    out = {f.name for f in fields(OutputOptions)}
    unknown = sorted(set(kwargs) - run - out)
    if unknown:
        raise TypeError(f"unknown option(s) {', '.join(unknown)}; options are {', '.join(sorted(run | out))}")
    return {k: v for k, v in kwargs.items() if k in run}, {k: v for k, v in kwargs.items() if k in out}


def add_arguments(p: argparse.ArgumentParser, *types: type) -> None:
    """Declare the flags of the fields of ``types`` that have one (``dest`` is the field's name).

    The default is the field's unless the metadata gives the command line its own (``--device auto``);
    fields sharing a ``group`` exclude each other (``--scale`` / ``--size``).
    """
    groups: dict[str, Any] = {}
    for cls in types:
        for f in fields(cls):
            flags = f.metadata.get("flags")
            if not flags:
                continue
            cli = {"help": f.metadata["doc"], "default": f.default, **f.metadata.get("cli", {})}
            if "cli_default" in cli:
                cli["default"] = cli.pop("cli_default")
            group = cli.pop("group", None)
            if group and group not in groups:
                groups[group] = p.add_mutually_exclusive_group()
            target = groups[group] if group else p
            target.add_argument(*flags, dest=f.name, **cli)


def from_arguments(args: argparse.Namespace) -> tuple[UpscaleOptions, OutputOptions]:
    """The options of a parsed ``stvsr upscale`` command line (fields without a flag keep their defaults)."""
    given = vars(args)
    run = {f.name: given[f.name] for f in fields(UpscaleOptions) if f.name in given}
    out = {f.name: given[f.name] for f in fields(OutputOptions) if f.name in given}
    return UpscaleOptions(**run), OutputOptions(**out)


