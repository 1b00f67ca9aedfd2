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

import dataclasses
import math
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import torch
from torch import nn

from stvsr._device import AUTO, auto_dtype
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
from stvsr.video.options import DEFAULT_MODEL, OutputOptions, UpscaleOptions, split
from stvsr.video.timegrid import Sample, StreamPlanner, as_fraction, target_fps

#: largest output side the pipeline accepts (a guard against typos such as --scale 400)
MAX_OUTPUT_SIDE = 16384


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
        options: an :class:`stvsr.video.options.UpscaleOptions`; keywords override its fields.
        **kwargs: the fields of :class:`~stvsr.video.options.UpscaleOptions`, each documented
            there once: ``scale`` / ``size``, ``fps``, ``device``, ``dtype``, ``window``,
            ``overlap``, ``tile``, ``tile_overlap``, ``cut_threshold``, ``progress`` (a tqdm bar
            counted in model calls that moves *inside* each call, with an ETA and the output
            frames written beside it).
    """

    def __init__(
        self, model: str | nn.Module = DEFAULT_MODEL, *, options: UpscaleOptions | None = None, **kwargs: Any
    ) -> None:
        from stvsr._device import resolve_device

        run, rest = split(kwargs)
        if rest:
            raise TypeError(f"Upscaler takes no {', '.join(sorted(rest))} (options of upscale_video)")
        opts = dataclasses.replace(options, **run) if options is not None else UpscaleOptions(**run)
        self.options = opts
        device, dtype, scale, size, fps = opts.device, opts.dtype, opts.scale, opts.size, opts.fps
        window, overlap, tile, progress = opts.window, opts.overlap, opts.tile, opts.progress
        self.device = resolve_device(device)
        self.device_chosen = device is None or str(device).strip().lower() == "auto"  # said in describe()
        self.dtype = _parse_dtype(dtype, self.device)
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
        if scale is not None:
            from stvsr._validate import check_scale

            self.scale: tuple[float, float] | None = check_scale(scale, "scale")
        else:
            self.scale = None
        self.size = tuple(size) if size is not None else None
        if fps is not None:  # validate now, not after the first frames were decoded
            target_fps(fps, Fraction(1))
        self.fps = fps
        self.window = int(window if window is not None else default_window(self.caps))  # window=0 is an error, not "default"
        if self.caps.input_frames and self.window != self.caps.input_frames:
            raise ValueError(f"this model takes exactly {self.caps.input_frames} frames per call; got window={window}")
        self.overlap = int(overlap if overlap is not None else default_overlap(self.window))
        if not 1 <= self.overlap < self.window:  # the pair between two windows needs both its frames
            raise ValueError(f"overlap must be in [1, window), got {self.overlap} for window {self.window}")
        self.tile, self.tile_overlap = tile, int(opts.tile_overlap)
        self.cut_threshold = opts.cut_threshold
        self.progress = progress
        self.cuts = 0
        self.windows = 0  # model calls of the last process() (per tile row: one)
        self.skipped_frames = 0  # output frames of the windows process(skip_windows=...) left out
        self._warned_time = False
        self._meter: Any = None  # CallProgress while process() runs with progress
        self._eta: Any = None  # EtaMeter while process() runs with progress
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
        from stvsr.video import progress

        key = (lr.shape[1], time_counts(times, lr.shape[1]))  # per-pair counts: the call's shape
        if self._meter.needs_calibration(key):  # once per call shape, for models that announce no steps
            self._status("timing the model's layers on a 16x16 crop (once)")
            c = 16  # LR pixels: the models pad small inputs; the call's leaf sequence is that of any size
            ch, cw = min(c, lr.shape[-2]), min(c, lr.shape[-1])
            small_hw = (max(1, round(ch * out_hw[0] / lr.shape[-2])), max(1, round(cw * out_hw[1] / lr.shape[-1])))
            began = progress.clock()
            self._meter.calibrate(key, lambda: call_model(self.model, self.caps, lr[..., :ch, :cw], times, small_hw))
            if self._eta is not None:
                self._eta.exclude(progress.clock() - began)  # later calls do not calibrate
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
        seconds: float | None = None,
        *,
        skip_windows: int = 0,
        on_window: Callable[[int], None] | None = None,
    ) -> Iterator[torch.Tensor]:
        """Upscale a stream of frames; yields ``(3, H, W)`` float RGB frames in [0, 1] in time order.

        Args:
            frames: :class:`stvsr.video.io.Frame` objects (with real timestamps) or ``(3, h, w)``
                tensors in [0, 1] (then timed at ``fps_in``).
            fps_in: input rate, required for plain tensors and to resolve ``"x2"``-style rates.
            total: expected number of output frames (for the progress bar only).
            frames_in: expected number of input frames (for the progress bar only: it counts
                model calls, known from it, and moves inside each call).
            seconds: estimated duration of the job (the ETA until the first call measures one).
            skip_windows: leave out the first windows (a resumed job has their frames): the model is
                not called for them and their frames are not yielded (:attr:`skipped_frames` counts them);
                the frames after them are those of a whole run.
            on_window: called with ``m`` before window ``m`` runs, when every frame of the windows
                before it has been yielded and consumed (where a resumable job may cut a segment).

        The progress bar counts model calls (windows), not output frames: every call costs
        about the same, while the frames a window keeps vary (the first keeps the most). It
        moves inside each call (:class:`stvsr.video.progress.CallProgress`: the model's
        announced steps in the first call, the measured time profile in later ones); the ETA
        (:class:`stvsr.video.progress.EtaMeter`) comes from the measured seconds per call,
        the first (warm-up) call left out once a later one gives a rate. A ``?`` after the ETA
        marks an extrapolation from the first call alone.
        """
        from tqdm.auto import tqdm

        fps_in_f = as_fraction(fps_in, "fps_in") if fps_in is not None else None
        if fps_in_f is None and (isinstance(self.fps, str) or self.fps is None):
            raise ValueError("fps_in is needed to resolve the output frame rate")
        fps_out = target_fps(self.fps, fps_in_f) if fps_in_f is not None else as_fraction(self.fps)  # type: ignore[arg-type]
        planner = StreamPlanner(fps_out)
        out_hw: tuple[int, int] | None = None

        calls = len(window_plan(frames_in, self.window, self.overlap)) if frames_in and frames_in >= 2 else None
        bar = tqdm(total=calls, disable=not self.progress, desc="stvsr",
                   bar_format="{l_bar}{bar}| model call {n:.2f}/{total_fmt} [{elapsed}{postfix}]")
        calls_done = 0
        emitted = 0
        eta = None
        if self.progress:
            from stvsr.video.progress import CallProgress, EtaMeter, format_seconds

            eta = EtaMeter(calls - skip_windows if calls else calls, prior=seconds / calls if seconds and calls else None)

        def show(refresh: bool) -> None:
            """The postfix: time left and output frames written."""
            left = eta.remaining() if eta is not None else None
            if eta is None or left is None:
                rest = "?"
            else:  # "?" while the ETA still extrapolates from the start of the first call
                rest = format_seconds(left) + ("?" if not eta.durations and eta.done < 0.25 else "")
            frames = f"{emitted}/{total if total is not None else '?'} frames written"
            bar.set_postfix_str(f"ETA {rest}, {frames}" if self.progress else frames, refresh=refresh)

        def move(position: float) -> None:
            if position > bar.n:
                if eta is not None:
                    eta.partial(position - calls_done)
                    show(False)
                bar.update(position - bar.n)

        def run(lr: torch.Tensor, times: Times) -> torch.Tensor:
            nonlocal out_hw, calls_done
            if out_hw is None:
                out_hw = self.output_size(*lr.shape[-2:])
            if on_window is not None:
                on_window(calls_done)
            if calls_done < skip_windows:  # a resumed job wrote this window's frames: no model call
                calls_done += 1
                move(calls_done)
                made = 0 if self.caps.task == "vsr" else sum(time_counts(times, lr.shape[1]))
                return torch.zeros(()).expand(lr.shape[0], lr.shape[1] + made, 3, *out_hw)
            if eta is not None:
                eta.begin()
            y = self._run(lr.to(self.device), times, out_hw)
            if eta is not None:
                eta.end()
            calls_done += 1
            move(calls_done)
            return y

        def inside_call(f: float) -> None:
            """Move the bar to ``f`` of the current model call (of the current tile)."""
            tile, tiles = self._tile_pos
            move(calls_done + (tile + f) / tiles)

        stream = WindowedStream(run, self.caps, self.window, self.overlap)

        if self.progress:
            self._meter = CallProgress(self.model, inside_call)
            self._meter.attach()
            self._eta = eta
            self._status = lambda text: bar.set_postfix_str(text, refresh=True)

        self.skipped_frames = 0

        def emit(done: Iterator[tuple[Sample, torch.Tensor]]) -> Iterator[torch.Tensor]:
            nonlocal emitted
            for _, frame in done:
                if stream.windows <= skip_windows:
                    self.skipped_frames += 1
                    emitted += 1
                    continue
                if stream.inexact and not self._warned_time:
                    warnings.warn(
                        f"model supports times {list(self.caps.times or ()) or 'none'}; t={stream.inexact[0]:.3f} "
                        "(and others) use the nearest available frame",
                        stacklevel=5,
                    )
                    self._warned_time = True
                emitted += 1
                show(False)
                yield frame[0].cpu()

        try:
            yield from self._stream_frames(frames, fps_in_f, planner, stream, emit)
            if bar.total is None or bar.n < bar.total:  # a frame count the container got wrong
                bar.total = max(calls_done, 1)
                bar.refresh()
        finally:
            if self._meter is not None:
                self._meter.detach()
                self._meter = self._eta = None
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


def _parse_dtype(dtype: torch.dtype | str | None, device: torch.device) -> torch.dtype:
    """``None``/``"auto"`` (:func:`stvsr._device.auto_dtype`: bfloat16 on CPUs with native bf16, else
    float32), float32, bfloat16 or float16 (the last two through autocast)."""
    if dtype is None or (isinstance(dtype, str) and dtype.strip().lower() == AUTO):
        return auto_dtype(device)
    return check_dtype(dtype, "dtype", allowed=(torch.float32, torch.bfloat16, torch.float16))


def upscale_video(
    src: str | Path,
    dst: str | Path,
    *,
    model: str | nn.Module = DEFAULT_MODEL,
    options: UpscaleOptions | None = None,
    output: OutputOptions | None = None,
    **kwargs: Any,
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
        model: see :class:`Upscaler`.
        options, output: :class:`stvsr.video.options.UpscaleOptions` (how the model runs) and
            :class:`stvsr.video.options.OutputOptions` (segment, encoding, output); keywords
            override their fields.
        **kwargs: the fields of both, each documented there once. Running: ``scale`` / ``size``,
            ``fps``, ``device`` (None or ``"auto"``: CUDA, else MPS, else CPU), ``dtype``,
            ``window``, ``overlap``, ``tile``, ``tile_overlap``, ``cut_threshold``, ``progress``
            (what runs, the estimated duration, a progress bar with an ETA). Output: ``crf``,
            ``lossless``, ``codec`` (``"h264"``, ``"hevc"``, ``"prores"``), ``bit_depth`` (8 or
            10), ``overwrite`` (only what stvsr writes; see ``VideoWriter``), ``audio`` (not with
            ``start > 0``), ``folder_fps`` (PNG-folder input), ``keep_duration``, ``start``,
            ``duration``, ``max_frames`` (only the input frames from ``start`` seconds on, for
            ``duration`` seconds and at most ``max_frames`` frames: try settings on a short
            segment before the whole video), ``resume`` (finish an interrupted job; see below).

    Interrupted jobs: the frames a job has finished are kept in ``<dst>.stvsr-part/``
    (:mod:`stvsr.video.resume`) until the output is complete; after Ctrl-C or an error that
    folder stays and ``resume=True`` (``--resume``) finishes the job without running the
    windows already written again. Without ``resume`` an existing part folder is an error
    (``overwrite=True`` replaces it).

    Returns:
        A :class:`Summary`: frames in and out, frame rates, sizes, seconds taken, scene
        cuts, the output path, the model (with its weights tag), device and dtype.
        ``print(summary)`` gives one line.
    """
    import sys

    from stvsr.video.io import VideoError, check_output_path, probe, read_frames
    from stvsr.video.resume import PartJob

    t_start = time.perf_counter()
    run_kw, out_kw = split(kwargs)
    opts = dataclasses.replace(options, **run_kw) if options is not None else UpscaleOptions(**run_kw)
    out_opts = dataclasses.replace(output, **out_kw) if output is not None else OutputOptions(**out_kw)
    crf, lossless, codec, bit_depth = out_opts.crf, out_opts.lossless, out_opts.codec, out_opts.bit_depth
    overwrite, audio, folder_fps = out_opts.overwrite, out_opts.audio, out_opts.folder_fps
    keep_duration, start, duration, max_frames = (
        out_opts.keep_duration, out_opts.start, out_opts.duration, out_opts.max_frames
    )
    progress, fps = opts.progress, opts.fps
    info = probe(src, folder_fps=folder_fps)
    dst_path = check_output_path(dst, src, overwrite)
    ups = Upscaler(model, options=opts)
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
    guess = _announce(ups, info, fps_out, (out_w, out_h), total, held, model) if progress else None
    job = PartJob(
        dst_path, src, _job_settings(src, ups, opts, out_opts, fps_out, (out_w, out_h), total),
        {"fps": fps_out, "width": out_w, "height": out_h, "crf": crf, "lossless": lossless, "codec": codec,
         "bit_depth": bit_depth, "src": src, "overwrite": overwrite,
         "audio_from": src if audio and info.has_audio and start == 0 else None},
        resume=out_opts.resume, overwrite=overwrite,
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

    skip = job.windows_done

    def cut(m: int) -> None:
        """Before window ``m``: the frames of the windows before it are written."""
        if m == skip and skip and ups.skipped_frames != job.frames_done:
            raise VideoError(f"{job.folder} holds {job.frames_done} frames for its {skip} windows, but they give "
                             f"{ups.skipped_frames} now: delete that folder (or pass --overwrite) to start again")
        job.boundary(m)

    try:
        if not job.finished:
            last: torch.Tensor | None = None
            for frame in ups.process(segment(), fps_in=info.fps, total=total, frames_in=n_in, seconds=guess,
                                     skip_windows=skip, on_window=cut):
                job.write(frame)
                last = frame
            if keep_duration and last is not None:
                # the input lasts frames_in / fps_in seconds; the output's last frame would end early
                held = max(0, round(frames_in * fps_out / info.fps) - job.frames_written)
                for _ in range(held):
                    job.write(last)
        out = job.finish(ups.windows)
    except BaseException as exc:
        hint = job.interrupted()
        if hint:
            print(f"stvsr: {hint}", file=sys.stderr)
        if isinstance(exc, ValueError) and not isinstance(exc, VideoError) and "frame(s)" in str(exc):
            raise VideoError(f"{src}: {exc}") from exc
        raise
    return Summary(
        frames_in, job.frames_done, info.fps, fps_out, (info.width, info.height), (out_w, out_h),
        time.perf_counter() - t_start, ups.cuts, str(out), ups.name, str(ups.device),
        str(ups.dtype).replace("torch.", ""), held,
    )


def _job_settings(
    src: str | Path, ups: Upscaler, opts: UpscaleOptions, out: OutputOptions, fps_out: Fraction,
    size_out: tuple[int, int], total: int | None,
) -> dict[str, Any]:
    """What a resumed job must match (:mod:`stvsr.video.resume`): input, model, every option that shapes the output."""
    from stvsr.video.resume import fingerprint, state_hash

    return {
        **fingerprint(src), "model": ups.name, "model_state_sha256": state_hash(ups.model),
        "scale": opts.scale, "size": list(size_out), "fps": str(opts.fps), "fps_out": str(fps_out),
        "dtype": str(ups.dtype).replace("torch.", ""), "window": ups.window, "overlap": ups.overlap,
        "tile": ups.tile, "tile_overlap": ups.tile_overlap, "cut_threshold": ups.cut_threshold,
        "codec": out.codec, "bit_depth": out.bit_depth, "crf": out.crf, "lossless": out.lossless,
        "audio": out.audio, "folder_fps": str(out.folder_fps), "keep_duration": out.keep_duration,
        "start": out.start, "duration": out.duration, "max_frames": out.max_frames,
        "output_frames_planned": total, "device": str(ups.device),
    }


def _announce(
    ups: Upscaler, info: Any, fps_out: Fraction, size_out: tuple[int, int], total: int | None, held: int,
    model: str | nn.Module,
) -> float | None:
    """Print what runs and the estimated duration to stderr, before the first model call; returns the estimate."""
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
        return seconds
    if total:
        print(f"stvsr: no measured speed for {name} on {ups.device.type}; the progress bar's ETA starts with the "
              "first model call", file=sys.stderr)
    return None
