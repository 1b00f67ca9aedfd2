"""Streaming space-time upscaling of real videos with any stvsr model.

The pipeline decodes frames one by one, maps every output timestamp to
(input frame ``i``, fraction ``t``) with :mod:`stvsr.video.timegrid`, runs the
model on overlapping *windows* of key frames, keeps from each window only the
frames it owns (those farthest from the window's borders), writes them and
releases them. Peak memory therefore depends on the window length and the
frame size, not on the clip length.

Windows and time: the windowing engine :mod:`stvsr.models._windowed` (the same one the
evaluation runs) decides which window owns each output frame and which ``t`` each model
is asked for; pair models (two input frames) use ``W = 2, overlap = 1``. Video SR models
(task ``vsr``) repeat the nearest key frame. Across detected scene cuts nothing is
interpolated.

Space. Arbitrary-scale models are asked for the exact target size. Fixed-scale
models (x4) run at their scale and the result is resampled to the exact target
with MATLAB-style bicubic (antialiased when shrinking): sizes other than the
model's own are therefore an interpolation of its output, not a super-resolution
at that scale. Large frames can be processed in overlapping spatial tiles
(``tile``) blended with linear ramps; tiled and untiled outputs agree to within
the effect of the model's receptive field at tile borders (see the tests).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import torch
from torch import nn

from stvsr._geometry import scaled_size
from stvsr._validate import check_dtype
from stvsr.models._capabilities import Capabilities, capabilities_of
from stvsr.models._windowed import (
    Times,
    WindowedStream,
    call_model,
    default_overlap,
    default_window,
    time_counts,
    window_plan,
)
from stvsr.video.timegrid import Sample, StreamPlanner, as_fraction, target_fps

#: largest output side the pipeline accepts (a guard against typos such as --scale 400)
MAX_OUTPUT_SIDE = 16384
#: scene-cut threshold: mean absolute difference of 64x64 grey thumbnails, in [0, 1]
DEFAULT_CUT_THRESHOLD = 0.25


@dataclass
class Summary:
    """What a job did (returned by :func:`upscale_video`; ``print(summary)`` shows :meth:`line`).

    Attributes:
        frames_in, frames_out: input frames read (after ``start`` / ``duration`` / ``max_frames``)
            and output frames written (``held`` of them repeats of the last frame, ``keep_duration``).
        fps_in, fps_out: frame rates; size_in, size_out: ``(W, H)``.
        seconds: wall-clock time of the whole job (loading the model included).
        cuts: scene cuts detected (not interpolated across).
        output: the path written.
        model: registry name (with ``.tag`` when weights were loaded) or the module's class name.
        device, dtype: where and in which precision the model ran.
        held: frames added at the end by ``keep_duration``.
    """

    frames_in: int
    frames_out: int
    fps_in: Fraction
    fps_out: Fraction
    size_in: tuple[int, int]  # (W, H)
    size_out: tuple[int, int]  # (W, H)
    seconds: float
    cuts: int = 0
    output: str | None = None
    model: str = ""
    device: str = ""
    dtype: str = ""
    held: int = 0

    def line(self) -> str:
        return (
            f"{self.frames_in} -> {self.frames_out} frames, {float(self.fps_in):.3f} -> {float(self.fps_out):.3f} fps, "
            f"{self.size_in[0]}x{self.size_in[1]} -> {self.size_out[0]}x{self.size_out[1]}, "
            f"{self.seconds:.1f} s ({self.frames_out / max(self.seconds, 1e-9):.2f} frames/s)"
            + (f", {self.model} on {self.device}" if self.model and self.device else "")
            + (f", {self.cuts} scene cuts" if self.cuts else "")
            + (f", last frame held {self.held}x" if self.held else "")
            + (f" -> {self.output}" if self.output else "")
        )

    def __str__(self) -> str:
        return self.line()


def _thumb(img: torch.Tensor) -> torch.Tensor:
    grey = img.float().mean(dim=0, keepdim=True)[None]
    return torch.nn.functional.adaptive_avg_pool2d(grey, (64, 64))[0, 0]


def _ramp(n: int, lo_fade: int, hi_fade: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """1 inside, linear fades of the given lengths at the two ends (for tile blending)."""
    w = torch.ones(n, dtype=dtype, device=device)
    if lo_fade > 0:
        w[:lo_fade] = torch.arange(1, lo_fade + 1, dtype=dtype, device=device) / (lo_fade + 1)
    if hi_fade > 0:
        w[n - hi_fade :] = torch.minimum(
            w[n - hi_fade :], torch.arange(hi_fade, 0, -1, dtype=dtype, device=device) / (hi_fade + 1)
        )
    return w


def _tiles(n: int, tile: int, overlap: int) -> list[tuple[int, int]]:
    if tile >= n:
        return [(0, n)]
    step = tile - overlap
    starts = list(range(0, n - tile, step)) + [n - tile]
    return [(s, s + tile) for s in sorted(set(starts))]


class Upscaler:
    """Frame-level STVSR for notebooks and custom I/O.

    Args:
        model: a registry name (``"rife_basicvsr"``, ``"msmr_arb"``, ...; loaded with
            ``stvsr.load``) or an ``nn.Module`` following the stvsr forward contract.
        scale: space factor or ``(scale_h, scale_w)``; ``size`` instead gives ``(W, H)``.
            Default: the model's own scale (4 for arbitrary-scale models).
        fps: output frame rate: a number, ``"x2"``-style multiplier, or None (same as input).
        device: ``"auto"`` or None (the default: CUDA, else MPS, else the CPU), ``"cpu"``,
            ``"cuda"``, ``"cuda:1"``, ``"mps"`` or a ``torch.device``.
        dtype: float32 (default), or ``bfloat16``/``float16`` through autocast (on a CPU
            bfloat16 helps only where the processor has bf16 instructions; float16 rarely does).
        window, overlap: key frames per model call and shared between calls (see module doc).
        tile, tile_overlap: spatial tiling in LR pixels (None: whole frames).
        cut_threshold: scene-cut sensitivity (None disables cut detection).
        progress: show a tqdm progress bar counted in model calls (windows) that also moves
            *inside* each call (:class:`stvsr.video.progress.CallProgress`), with the output
            frames written beside it.
    """

    def __init__(
        self,
        model: str | nn.Module = "rife_basicvsr",
        *,
        scale: float | Sequence[float] | None = None,
        size: Sequence[int] | None = None,
        fps: float | str | Fraction | None = None,
        device: str | torch.device | None = None,
        dtype: torch.dtype | str | None = None,
        window: int | None = None,
        overlap: int | None = None,
        tile: int | None = None,
        tile_overlap: int = 16,
        cut_threshold: float | None = DEFAULT_CUT_THRESHOLD,
        progress: bool = True,
    ) -> None:
        from stvsr._device import resolve_device

        self.device = resolve_device(device)
        self.device_chosen = device is None or str(device).strip().lower() == "auto"  # said in describe()
        self.dtype = _parse_dtype(dtype)
        if isinstance(model, str):
            from stvsr.zoo import load

            model = load(model, device=self.device)
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a registry name or an nn.Module, got {type(model).__name__}")
        self.name = _model_name(model)
        self.model = model.to(self.device).eval()
        self.caps: Capabilities = capabilities_of(self.model)
        if self.caps.task not in ("stvsr", "vsr", "vfi"):
            raise ValueError(
                f"{type(model).__name__} has task {self.caps.task!r}; the video pipeline runs stvsr, vsr and vfi "
                "models (CVRS is a resampler: use its downscale/upscale methods)"
            )
        if scale is not None and size is not None:
            raise ValueError("give scale or size, not both")
        if scale is not None:
            from stvsr._validate import check_scale

            self.scale: tuple[float, float] | None = check_scale(scale, "scale")
        else:
            self.scale = None
        if size is not None:
            if len(size) != 2 or any(isinstance(v, bool) or not isinstance(v, int) or v <= 0 for v in size):
                raise ValueError(f"size must be (W, H) with positive integers, got {size!r}")
        self.size = tuple(size) if size is not None else None
        if fps is not None:  # validate now, not after the first frames were decoded
            target_fps(fps, Fraction(1))
        self.fps = fps
        if window is not None and (isinstance(window, bool) or not isinstance(window, int) or window < 2):
            raise ValueError(f"window must be an integer >= 2 (key frames per model call), got {window!r}")
        self.window = int(window if window is not None else default_window(self.caps))  # window=0 is an error, not "default"
        if self.caps.input_frames and self.window != self.caps.input_frames:
            raise ValueError(f"this model takes exactly {self.caps.input_frames} frames per call; got window={window}")
        if self.window < 2:
            raise ValueError(f"window must be >= 2 key frames, got {self.window}")
        self.overlap = int(overlap if overlap is not None else default_overlap(self.window))
        if not 1 <= self.overlap < self.window:  # the pair between two windows needs both its frames
            raise ValueError(f"overlap must be in [1, window), got {self.overlap} for window {self.window}")
        if tile is not None and tile < 8:
            raise ValueError(f"tile must be at least 8 LR pixels, got {tile}")
        self.tile, self.tile_overlap = tile, int(tile_overlap)
        if cut_threshold is not None and not 0 < cut_threshold <= 1:
            raise ValueError(f"cut_threshold must be in (0, 1] or None, got {cut_threshold}")
        self.cut_threshold = cut_threshold
        self.progress = progress
        self.cuts = 0
        self.windows = 0  # model calls of the last process() (per tile row: one)
        self._warned_time = False
        self._meter: Any = None  # CallProgress while process() runs with progress
        self._status: Any = lambda text: None  # shows a word on the progress bar while process() runs
        self._tile_pos = (0, 1)  # (tile being run, tiles per window) for the progress inside a window

    def describe(self) -> str:
        """What runs: model, weights, device, dtype, window and tile (printed at the start of a job)."""
        overlap = f", overlap {self.overlap}" if self.overlap != default_overlap(self.window) else ""
        tile = f"tiles of {self.tile} LR px" if self.tile else "no tiling"
        return (
            f"model {self.name}, device {self.device}{' (auto: CUDA, else MPS, else CPU)' if self.device_chosen else ''}, "
            f"{str(self.dtype).replace('torch.', '')}, "
            f"window {self.window} key frames{overlap}, {tile}"
        )

    # -- sizes ---------------------------------------------------------------------------------
    def output_size(self, h: int, w: int) -> tuple[int, int]:
        """Output ``(H, W)`` for an ``h x w`` input."""
        if self.size is not None:
            out = (int(self.size[1]), int(self.size[0]))
        else:
            native = self.caps.native_scale or 4.0
            out = scaled_size(h, w, self.scale if self.scale is not None else native)
        if max(out) > MAX_OUTPUT_SIDE:
            raise ValueError(f"output size {out[1]}x{out[0]} exceeds the limit of {MAX_OUTPUT_SIDE} pixels per side")
        return out

    # -- model calls ---------------------------------------------------------------------------
    def _call(self, lr: torch.Tensor, times: Times, out_hw: tuple[int, int]) -> torch.Tensor:
        """``lr`` (1, T, 3, h, w) -> (1, T + (T-1)K, 3, H, W) at the exact output size."""
        if self._meter is None:
            return call_model(self.model, self.caps, lr, times, out_hw)
        key = (lr.shape[1], time_counts(times, lr.shape[1]))  # per-pair counts: the call's shape
        if key not in self._meter.profiles and key not in self._meter.failed:  # once per call shape
            self._status("timing the model's layers on a 16x16 crop (once)")
            c = 16  # LR pixels: the models pad small inputs; the call's leaf sequence is that of any size
            ch, cw = min(c, lr.shape[-2]), min(c, lr.shape[-1])
            small_hw = (max(1, round(ch * out_hw[0] / lr.shape[-2])), max(1, round(cw * out_hw[1] / lr.shape[-1])))
            self._meter.calibrate(key, lambda: call_model(self.model, self.caps, lr[..., :ch, :cw], times, small_hw))
        self._meter.start(key)
        finished = False
        try:
            y = call_model(self.model, self.caps, lr, times, out_hw)
            finished = True
            return y
        finally:
            self._meter.stop(finished)

    def _run(self, lr: torch.Tensor, times: Times, out_hw: tuple[int, int]) -> torch.Tensor:
        ctx = (
            torch.autocast(self.device.type, dtype=self.dtype)
            if self.dtype in (torch.bfloat16, torch.float16)
            else _nullcontext()
        )
        with torch.no_grad(), ctx:
            if self.tile is None:
                self._tile_pos = (0, 1)
                return self._call(lr, times, out_hw)
            return self._tiled(lr, times, out_hw)

    def _tiled(self, lr: torch.Tensor, times: Times, out_hw: tuple[int, int]) -> torch.Tensor:
        h, w = lr.shape[-2:]
        H, W = out_hw
        sh, sw = H / h, W / w
        assert self.tile is not None
        ov = min(self.tile_overlap, self.tile // 2)
        acc: torch.Tensor | None = None
        weight = torch.zeros(1, 1, 1, H, W, device=lr.device)
        rows, cols = _tiles(h, self.tile, ov), _tiles(w, self.tile, ov)
        for n, ((y0, y1), (x0, x1)) in enumerate((r, c) for r in rows for c in cols):
            self._tile_pos = (n, len(rows) * len(cols))
            Y0, Y1, X0, X1 = round(y0 * sh), round(y1 * sh), round(x0 * sw), round(x1 * sw)
            part = self._call(lr[..., y0:y1, x0:x1], times, (Y1 - Y0, X1 - X0))
            if acc is None:
                acc = torch.zeros(*part.shape[:3], H, W, device=part.device)
            fy = round(ov * sh)
            fx = round(ov * sw)
            wy = _ramp(Y1 - Y0, fy if y0 > 0 else 0, fy if y1 < h else 0, part.dtype, part.device)
            wx = _ramp(X1 - X0, fx if x0 > 0 else 0, fx if x1 < w else 0, part.dtype, part.device)
            mask = wy[:, None] * wx[None, :]
            acc[..., Y0:Y1, X0:X1] += part * mask
            weight[..., Y0:Y1, X0:X1] += mask
        assert acc is not None
        return acc / weight

    # -- streaming -----------------------------------------------------------------------------
    def process(
        self,
        frames: Iterable[Any],
        fps_in: float | Fraction | None = None,
        total: int | None = None,
        frames_in: int | None = None,
    ) -> Iterator[torch.Tensor]:
        """Upscale a stream of frames; yields ``(3, H, W)`` float RGB frames in [0, 1] in time order.

        Args:
            frames: :class:`stvsr.video.io.Frame` objects (with real timestamps) or ``(3, h, w)``
                tensors in [0, 1] (then timed at ``fps_in``).
            fps_in: input rate, required for plain tensors and to resolve ``"x2"``-style rates.
            total: expected number of output frames (for the progress bar only).
            frames_in: expected number of input frames (for the progress bar only: it counts
                model calls, known from it, and moves inside each call).

        The progress bar counts model calls (windows), not output frames: every call costs
        about the same, while the frames a window keeps vary (the first keeps the most), so
        an ETA from calls is stable; the output frames written so far are shown beside it.
        """
        from tqdm.auto import tqdm

        fps_in_f = as_fraction(fps_in, "fps_in") if fps_in is not None else None
        if fps_in_f is None and (isinstance(self.fps, str) or self.fps is None):
            raise ValueError("fps_in is needed to resolve the output frame rate")
        fps_out = target_fps(self.fps, fps_in_f) if fps_in_f is not None else as_fraction(self.fps)  # type: ignore[arg-type]
        planner = StreamPlanner(fps_out)
        out_hw: tuple[int, int] | None = None

        calls = len(window_plan(frames_in, self.window, self.overlap)) if frames_in and frames_in >= 2 else None
        # smoothing=0: the ETA is the average rate since the start (stable, not the last update's)
        bar = tqdm(total=calls, disable=not self.progress, desc="stvsr", smoothing=0,
                   bar_format="{l_bar}{bar}| model call {n:.2f}/{total_fmt} [{elapsed}<{remaining}]{postfix}")
        calls_done = 0
        emitted = 0

        def move(position: float) -> None:
            if position > bar.n:
                bar.update(position - bar.n)

        def run(lr: torch.Tensor, times: Times) -> torch.Tensor:
            nonlocal out_hw, calls_done
            if out_hw is None:
                out_hw = self.output_size(*lr.shape[-2:])
            y = self._run(lr.to(self.device), times, out_hw)
            calls_done += 1
            move(calls_done)
            return y

        def inside_call(f: float) -> None:
            """Move the bar to ``f`` of the current model call (of the current tile)."""
            tile, tiles = self._tile_pos
            move(calls_done + (tile + f) / tiles)

        stream = WindowedStream(run, self.caps, self.window, self.overlap)

        if self.progress:
            from stvsr.video.progress import CallProgress

            self._meter = CallProgress(self.model, inside_call)
            self._meter.attach()
            self._status = lambda text: bar.set_postfix_str(text, refresh=True)

        def emit(done: Iterator[tuple[Sample, torch.Tensor]]) -> Iterator[torch.Tensor]:
            nonlocal emitted
            for _, frame in done:
                if stream.inexact and not self._warned_time:
                    warnings.warn(
                        f"model supports times {list(self.caps.times or ()) or 'none'}; t={stream.inexact[0]:.3f} "
                        "(and others) use the nearest available frame",
                        stacklevel=5,
                    )
                    self._warned_time = True
                emitted += 1
                bar.set_postfix_str(f"{emitted}/{total if total is not None else '?'} frames written", refresh=False)
                yield frame[0].cpu()

        try:
            yield from self._stream_frames(frames, fps_in_f, planner, stream, emit)
            if bar.total is None or bar.n < bar.total:  # a frame count the container got wrong
                bar.total = max(calls_done, 1)
                bar.refresh()
        finally:
            if self._meter is not None:
                self._meter.detach()
                self._meter = None
                self._status = lambda text: None
            bar.close()

    def _stream_frames(
        self, frames: Iterable[Any], fps_in_f: Fraction | None, planner: StreamPlanner, stream: WindowedStream,
        emit: Any,
    ) -> Iterator[torch.Tensor]:
        n = 0
        prev_thumb: torch.Tensor | None = None
        for item in frames:
            if isinstance(item, torch.Tensor):
                if fps_in_f is None:
                    raise ValueError("fps_in is required when frames are plain tensors")
                image, ts = item, n / float(fps_in_f)
            else:
                image, ts = item.image, item.time
            if image.dim() != 3 or image.shape[0] != 3:
                raise ValueError(f"frames must be (3, H, W) RGB tensors, got shape {tuple(image.shape)}")
            cut = False
            if self.cut_threshold is not None:
                thumb = _thumb(image)
                cut = prev_thumb is not None and float((thumb - prev_thumb).abs().mean()) > self.cut_threshold
                prev_thumb = thumb
                self.cuts += int(cut)
            n += 1
            yield from emit(stream.push(image.float()[None], planner.push(ts, cut=cut)))
        if n < 2:
            raise ValueError(f"the video has {n} frame(s); at least 2 are needed")
        yield from emit(stream.finish(planner.finish()))
        self.windows = stream.windows


def _model_name(model: nn.Module) -> str:
    """``registry_name.weights_tag`` for a registry model (as ``stvsr.load`` marks it), else the class name."""
    name = getattr(model, "registry_name", None)
    if not name:
        return type(model).__name__
    tag = getattr(model, "weights_tag", None)
    return f"{name}.{tag}" if tag else f"{name} (random weights)" if _has_parameters(model) else str(name)


def _has_parameters(model: nn.Module) -> bool:
    return next(model.parameters(), None) is not None


class _nullcontext:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


def _parse_dtype(dtype: torch.dtype | str | None) -> torch.dtype:
    """float32 (default), bfloat16 or float16 (the last two through autocast)."""
    if dtype is None:
        return torch.float32
    return check_dtype(dtype, "dtype", allowed=(torch.float32, torch.bfloat16, torch.float16))


def upscale_video(
    src: str | Path,
    dst: str | Path,
    *,
    model: str | nn.Module = "rife_basicvsr",
    scale: float | Sequence[float] | None = None,
    size: Sequence[int] | None = None,
    fps: float | str | Fraction | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype | str | None = None,
    window: int | None = None,
    overlap: int | None = None,
    tile: int | None = None,
    crf: int = 18,
    lossless: bool = False,
    overwrite: bool = False,
    audio: bool = True,
    cut_threshold: float | None = DEFAULT_CUT_THRESHOLD,
    folder_fps: float = 25,
    progress: bool = True,
    keep_duration: bool = False,
    start: float = 0.0,
    duration: float | None = None,
    max_frames: int | None = None,
    codec: str = "h264",
    bit_depth: int | None = None,
) -> Summary:
    """Upscale a video file (or PNG folder) in space and time and write the result.

    ``dst``'s suffix picks the container (``.mp4``, ``.mkv``, ``.mov``, ``.avi``);
    a path without a suffix writes PNG frames into that folder. The output is
    written to a temporary file and renamed on success; an existing ``dst`` is
    only replaced with ``overwrite=True``, and ``dst`` may never be ``src``.
    Audio is copied (aligned to the same start) when the container allows it.

    Frame count: the output spans the first to the last input frame, so ``fps="x2"``
    turns N frames into 2N - 1 (nothing follows the last frame to interpolate towards);
    ``keep_duration=True`` repeats the last output frame to keep the input's duration
    (2N frames for x2).

    Args:
        src, dst: input and output paths (see above).
        model, scale, size, fps, device, dtype, window, overlap, tile, cut_threshold:
            see :class:`Upscaler` (``device`` None or ``"auto"``: CUDA, else MPS, else CPU).
        crf, lossless, codec, bit_depth: encoding (see :class:`stvsr.video.io.VideoWriter`;
            ``codec`` is ``"h264"``, ``"hevc"`` or ``"prores"``, ``bit_depth`` 8 or 10).
        overwrite: replace an existing output (only what stvsr writes; see ``VideoWriter``).
        audio: copy the audio stream (not with ``start > 0``: it would be out of sync).
        folder_fps: frame rate of a PNG-folder input.
        progress: print what runs, the estimated duration and a progress bar (stderr).
        keep_duration: repeat the last output frame so the output lasts as long as the input.
        start, duration, max_frames: only the input frames from ``start`` seconds on, for
            ``duration`` seconds and at most ``max_frames`` frames (try settings on a short
            segment before the whole video).

    Returns:
        A :class:`Summary`: frames in and out, frame rates, sizes, seconds taken, scene
        cuts, the output path, the model (with its weights tag), device and dtype.
        ``print(summary)`` gives one line.
    """
    from stvsr.video.io import VideoError, VideoWriter, check_output_path, probe, read_frames

    t_start = time.perf_counter()
    if isinstance(start, bool) or not isinstance(start, (int, float)) or not math.isfinite(start) or start < 0:
        raise ValueError(f"start must be a number of seconds >= 0, got {start!r}")
    if duration is not None and (isinstance(duration, bool) or not isinstance(duration, (int, float))
                                 or not math.isfinite(duration) or duration <= 0):
        raise ValueError(f"duration must be a positive number of seconds, got {duration!r}")
    if max_frames is not None and (isinstance(max_frames, bool) or not isinstance(max_frames, int) or max_frames < 2):
        raise ValueError(f"max_frames must be an integer >= 2, got {max_frames!r}")
    info = probe(src, folder_fps=folder_fps)
    check_output_path(dst, src, overwrite)
    ups = Upscaler(
        model, scale=scale, size=size, fps=fps, device=device, dtype=dtype, window=window, overlap=overlap,
        tile=tile, cut_threshold=cut_threshold, progress=progress,
    )
    fps_out = target_fps(fps, info.fps)
    out_h, out_w = ups.output_size(info.height, info.width)
    # the input frames this job reads (the container's count may be missing: then unknown)
    n_in: int | None = info.frames
    if n_in is not None:
        first = math.ceil(start * float(info.fps) - 1e-6)
        n_in = max(0, n_in - first)
        if duration is not None:
            n_in = min(n_in, math.ceil(duration * float(info.fps) - 1e-6))
        if max_frames is not None:
            n_in = min(n_in, max_frames)
    total = None
    if n_in:
        total = int(math.floor((n_in - 1) / float(info.fps) * float(fps_out) + 1e-6)) + 1
    held = 0
    if keep_duration and n_in:
        held = max(0, round(n_in * fps_out / info.fps) - (total or 0))
    if progress:
        _announce(ups, info, fps_out, (out_w, out_h), total, held, model)
    writer = VideoWriter(
        dst, fps_out, out_w, out_h, crf=crf, lossless=lossless,
        audio_from=src if audio and info.has_audio and start == 0 else None,
        overwrite=overwrite, src=src, codec=codec, bit_depth=bit_depth,
    )
    frames_in = 0

    def segment() -> Iterator[Any]:
        nonlocal frames_in
        t0: float | None = None
        for f in read_frames(src, folder_fps=folder_fps):
            if f.time < start - 1e-6:
                continue
            if t0 is None:
                t0 = f.time
            if (duration is not None and f.time - t0 >= duration - 1e-6) or frames_in == max_frames:
                break
            frames_in += 1
            yield f

    try:
        last: torch.Tensor | None = None
        for frame in ups.process(segment(), fps_in=info.fps, total=total, frames_in=n_in):
            writer.write(frame)
            last = frame
        if keep_duration and last is not None:
            # the input lasts frames_in / fps_in seconds; the output's last frame would end early
            held = max(0, round(frames_in * fps_out / info.fps) - writer.frames_written)
            for _ in range(held):
                writer.write(last)
        out = writer.close()
    except BaseException as exc:
        writer.abort()
        if isinstance(exc, ValueError) and not isinstance(exc, VideoError) and "frame(s)" in str(exc):
            raise VideoError(f"{src}: {exc}") from exc
        raise
    return Summary(
        frames_in, writer.frames_written, info.fps, fps_out, (info.width, info.height), (out_w, out_h),
        time.perf_counter() - t_start, ups.cuts, str(out), ups.name, str(ups.device),
        str(ups.dtype).replace("torch.", ""), held,
    )


def _announce(
    ups: Upscaler, info: Any, fps_out: Fraction, size_out: tuple[int, int], total: int | None, held: int,
    model: str | nn.Module,
) -> None:
    """Print what runs and the estimated duration to stderr, before the first model call."""
    import sys

    from stvsr.video.progress import estimate_seconds, format_seconds

    print(f"stvsr: {ups.describe()}", file=sys.stderr)
    frames = "?" if total is None else str(total + held)
    print(
        f"stvsr: {info.width}x{info.height} @ {float(info.fps):.3f} fps -> {size_out[0]}x{size_out[1]} @ "
        f"{float(fps_out):.3f} fps, {frames} output frames" + (f" ({held} of them the last frame held)" if held else ""),
        file=sys.stderr,
    )
    name = model if isinstance(model, str) else ups.name
    guess = estimate_seconds(name, ups.device.type, total, size_out) if total else None
    if guess is not None:
        seconds, where = guess
        print(f"stvsr: estimated time ~{format_seconds(seconds)} (measured {where}); the bar's ETA refines it",
              file=sys.stderr)
    elif total:
        print(f"stvsr: no measured speed for {name} on {ups.device.type}; the progress bar's ETA starts with the "
              "first model call", file=sys.stderr)
