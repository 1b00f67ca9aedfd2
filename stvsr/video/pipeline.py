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
from stvsr.models._windowed import WindowedStream, call_model, default_overlap, default_window
from stvsr.video.timegrid import Sample, StreamPlanner, as_fraction, target_fps

#: largest output side the pipeline accepts (a guard against typos such as --scale 400)
MAX_OUTPUT_SIDE = 16384
#: scene-cut threshold: mean absolute difference of 64x64 grey thumbnails, in [0, 1]
DEFAULT_CUT_THRESHOLD = 0.25


@dataclass
class Summary:
    """What a job did."""

    frames_in: int
    frames_out: int
    fps_in: Fraction
    fps_out: Fraction
    size_in: tuple[int, int]  # (W, H)
    size_out: tuple[int, int]  # (W, H)
    seconds: float
    cuts: int = 0
    output: str | None = None

    def line(self) -> str:
        return (
            f"{self.frames_in} -> {self.frames_out} frames, {float(self.fps_in):.3f} -> {float(self.fps_out):.3f} fps, "
            f"{self.size_in[0]}x{self.size_in[1]} -> {self.size_out[0]}x{self.size_out[1]}, "
            f"{self.seconds:.1f} s ({self.frames_out / max(self.seconds, 1e-9):.2f} frames/s)"
            + (f", {self.cuts} scene cuts" if self.cuts else "")
            + (f" -> {self.output}" if self.output else "")
        )


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
        device, dtype: where and how to run; ``bfloat16``/``float16`` use autocast.
        window, overlap: key frames per model call and shared between calls (see module doc).
        tile, tile_overlap: spatial tiling in LR pixels (None: whole frames).
        cut_threshold: scene-cut sensitivity (None disables cut detection).
        progress: show a tqdm progress bar counted in output frames.
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
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.dtype = _parse_dtype(dtype)
        if isinstance(model, str):
            from stvsr.zoo import load

            model = load(model, device=self.device)
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a registry name or an nn.Module, got {type(model).__name__}")
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
    def _call(self, lr: torch.Tensor, times: tuple[float, ...], out_hw: tuple[int, int]) -> torch.Tensor:
        """``lr`` (1, T, 3, h, w) -> (1, T + (T-1)K, 3, H, W) at the exact output size."""
        return call_model(self.model, self.caps, lr, times, out_hw)

    def _run(self, lr: torch.Tensor, times: tuple[float, ...], out_hw: tuple[int, int]) -> torch.Tensor:
        ctx = (
            torch.autocast(self.device.type, dtype=self.dtype)
            if self.dtype in (torch.bfloat16, torch.float16)
            else _nullcontext()
        )
        with torch.no_grad(), ctx:
            if self.tile is None:
                return self._call(lr, times, out_hw)
            return self._tiled(lr, times, out_hw)

    def _tiled(self, lr: torch.Tensor, times: tuple[float, ...], out_hw: tuple[int, int]) -> torch.Tensor:
        h, w = lr.shape[-2:]
        H, W = out_hw
        sh, sw = H / h, W / w
        assert self.tile is not None
        ov = min(self.tile_overlap, self.tile // 2)
        acc: torch.Tensor | None = None
        weight = torch.zeros(1, 1, 1, H, W, device=lr.device)
        for y0, y1 in _tiles(h, self.tile, ov):
            for x0, x1 in _tiles(w, self.tile, ov):
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
        self, frames: Iterable[Any], fps_in: float | Fraction | None = None, total: int | None = None
    ) -> Iterator[torch.Tensor]:
        """Upscale a stream of frames; yields ``(3, H, W)`` float RGB frames in [0, 1] in time order.

        Args:
            frames: :class:`stvsr.video.io.Frame` objects (with real timestamps) or ``(3, h, w)``
                tensors in [0, 1] (then timed at ``fps_in``).
            fps_in: input rate, required for plain tensors and to resolve ``"x2"``-style rates.
            total: expected number of output frames (for the progress bar only).
        """
        from tqdm.auto import tqdm

        fps_in_f = as_fraction(fps_in, "fps_in") if fps_in is not None else None
        if fps_in_f is None and (isinstance(self.fps, str) or self.fps is None):
            raise ValueError("fps_in is needed to resolve the output frame rate")
        fps_out = target_fps(self.fps, fps_in_f) if fps_in_f is not None else as_fraction(self.fps)  # type: ignore[arg-type]
        planner = StreamPlanner(fps_out)
        out_hw: tuple[int, int] | None = None

        def run(lr: torch.Tensor, times: tuple[float, ...]) -> torch.Tensor:
            nonlocal out_hw
            if out_hw is None:
                out_hw = self.output_size(*lr.shape[-2:])
            return self._run(lr.to(self.device), times, out_hw)

        stream = WindowedStream(run, self.caps, self.window, self.overlap)
        prev_thumb: torch.Tensor | None = None
        bar = tqdm(total=total, unit="frame", disable=not self.progress, desc="stvsr")

        def emit(done: Iterator[tuple[Sample, torch.Tensor]]) -> Iterator[torch.Tensor]:
            for _, frame in done:
                if stream.inexact and not self._warned_time:
                    warnings.warn(
                        f"model supports times {list(self.caps.times or ()) or 'none'}; t={stream.inexact[0]:.3f} "
                        "(and others) use the nearest available frame",
                        stacklevel=4,
                    )
                    self._warned_time = True
                bar.update(1)
                yield frame[0].cpu()

        n = 0
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
            bar.close()
            raise ValueError(f"the video has {n} frame(s); at least 2 are needed")
        yield from emit(stream.finish(planner.finish()))
        self.windows = stream.windows
        bar.close()


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
) -> Summary:
    """Upscale a video file (or PNG folder) in space and time and write the result.

    ``dst``'s suffix picks the container (``.mp4``, ``.mkv``, ``.mov``, ``.avi``);
    a path without a suffix writes PNG frames into that folder. The output is
    written to a temporary file and renamed on success; an existing ``dst`` is
    only replaced with ``overwrite=True``, and ``dst`` may never be ``src``.
    Audio is copied (aligned to the same start) when the container allows it.

    Returns:
        A :class:`Summary` (frames, rates, sizes, time taken).
    """
    from stvsr.video.io import VideoError, VideoWriter, check_output_path, probe, read_frames

    t_start = time.perf_counter()
    info = probe(src, folder_fps=folder_fps)
    check_output_path(dst, src, overwrite)
    ups = Upscaler(
        model, scale=scale, size=size, fps=fps, device=device, dtype=dtype, window=window, overlap=overlap,
        tile=tile, cut_threshold=cut_threshold, progress=progress,
    )
    fps_out = target_fps(fps, info.fps)
    out_h, out_w = ups.output_size(info.height, info.width)
    total = None
    if info.duration and info.frames:
        total = int(math.floor((info.frames - 1) / float(info.fps) * float(fps_out) + 1e-6)) + 1
    writer = VideoWriter(
        dst, fps_out, out_w, out_h, crf=crf, lossless=lossless, audio_from=src if audio and info.has_audio else None,
        overwrite=overwrite, src=src,
    )
    frames_in = 0

    def counted() -> Iterator[Any]:
        nonlocal frames_in
        for f in read_frames(src, folder_fps=folder_fps):
            frames_in += 1
            yield f

    try:
        for frame in ups.process(counted(), fps_in=info.fps, total=total):
            writer.write(frame)
        out = writer.close()
    except BaseException as exc:
        writer.abort()
        if isinstance(exc, ValueError) and not isinstance(exc, VideoError) and "frame(s)" in str(exc):
            raise VideoError(f"{src}: {exc}") from exc
        raise
    return Summary(
        frames_in, writer.frames_written, info.fps, fps_out, (info.width, info.height), (out_w, out_h),
        time.perf_counter() - t_start, ups.cuts, str(out),
    )
