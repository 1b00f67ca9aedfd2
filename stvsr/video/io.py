"""Video files in and out with PyAV: real timestamps, any pixel format, atomic writes.

Frames cross this module as ``(3, H, W)`` float tensors, RGB in [0, 1]. Inputs
with more than 8 bits per sample (10-bit, 12-bit, 16-bit RGB) are decoded
through 16-bit RGB so no precision is lost; 4:2:0 / 4:2:2 / 4:4:4 YUV are
converted to RGB by FFmpeg's swscale using the stream's colour matrix
(BT.709 when the file says so, BT.601 otherwise).

Writers never touch the destination until the whole video is written: they
write a temporary file next to it and rename it on success, so a crash or
Ctrl-C leaves no half-written output (and never an overwritten input).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stvsr.video.timegrid import as_fraction

IMAGE_SUFFIXES = (".png",)

_LOSSLESS_BY_SUFFIX = {".mkv": ("ffv1", "bgr0"), ".avi": ("ffv1", "bgr0"), ".mp4": ("libx264rgb", "rgb24")}


class VideoError(ValueError):
    """A video file is missing, unreadable, empty, or cannot be written as asked."""


@dataclass(frozen=True)
class VideoInfo:
    """What a video (or a folder of PNG frames) is."""

    path: str
    width: int
    height: int
    fps: Fraction  # average frame rate
    frames: int | None  # from the container; None when it does not say
    duration: float | None  # seconds
    codec: str
    pix_fmt: str
    bit_depth: int
    has_audio: bool
    audio_codec: str | None = None
    variable_frame_rate: bool = False

    def summary(self) -> str:
        n = "?" if self.frames is None else str(self.frames)
        dur = "?" if self.duration is None else f"{self.duration:.3f}s"
        audio = f", audio {self.audio_codec}" if self.has_audio else ", no audio"
        vfr = " (variable)" if self.variable_frame_rate else ""
        return (
            f"{self.path}: {self.width}x{self.height}, {float(self.fps):.3f} fps{vfr}, {n} frames, {dur}, "
            f"{self.codec} {self.pix_fmt} ({self.bit_depth}-bit){audio}"
        )


@dataclass(frozen=True)
class Frame:
    """A decoded frame: ``image`` is ``(3, H, W)`` RGB float32 in [0, 1], ``time`` in seconds."""

    time: float
    image: torch.Tensor


def _bit_depth(fmt: Any) -> int:
    try:
        return max(int(c.bits) for c in fmt.components)
    except (AttributeError, ValueError):
        return 8


def _open_input(path: str | os.PathLike[str]) -> Any:
    import av

    p = Path(path)
    if not p.exists():
        raise VideoError(f"input not found: {p}")
    if p.is_dir():
        raise VideoError(f"{p} is a folder, not a video file")
    try:
        container = av.open(str(p))
    except av.FFmpegError as exc:
        raise VideoError(f"cannot read {p} as a video: {exc}") from exc
    if not container.streams.video:
        container.close()
        raise VideoError(f"{p} has no video stream")
    return container


def is_frame_folder(path: str | os.PathLike[str]) -> bool:
    p = Path(path)
    return p.is_dir() and any(q.suffix.lower() in IMAGE_SUFFIXES for q in p.iterdir())


def _folder_frames(path: Path) -> list[Path]:
    files = sorted(q for q in path.iterdir() if q.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise VideoError(f"{path} holds no PNG frames")
    return files


def probe(path: str | os.PathLike[str], *, folder_fps: float | Fraction = 25) -> VideoInfo:
    """Describe a video file or a PNG frame folder without decoding all of it."""
    p = Path(path)
    if p.is_dir():
        from PIL import Image

        files = _folder_frames(p)
        with Image.open(files[0]) as im:
            w, h = im.size
            depth = 16 if im.mode in ("I;16", "I") else 8
        fps = Fraction(folder_fps).limit_denominator(1001)
        return VideoInfo(str(p), w, h, fps, len(files), len(files) / float(fps), "png", "rgb24", depth, False)
    container = _open_input(p)
    with container:
        vs = container.streams.video[0]
        cc = vs.codec_context
        # containers with a 1/1000 time base (mkv) report rates like 19001/317: snap to the exact rate
        fps = as_fraction(float(vs.average_rate or vs.guessed_rate or 25))
        duration = None
        if vs.duration is not None and vs.time_base is not None:
            duration = float(vs.duration * vs.time_base)
        elif container.duration is not None:
            duration = container.duration / 1_000_000
        frames = int(vs.frames) if vs.frames else None
        fmt = cc.format
        audio = container.streams.audio[0] if container.streams.audio else None
        vfr = bool(vs.guessed_rate and vs.average_rate and abs(float(vs.guessed_rate) - float(vs.average_rate)) > 1e-3)
        return VideoInfo(
            str(p), cc.width, cc.height, fps, frames, duration, cc.name, fmt.name if fmt else "?",
            _bit_depth(fmt) if fmt else 8, audio is not None, audio.codec_context.name if audio else None, vfr,
        )


def _to_tensor(frame: Any) -> torch.Tensor:
    deep = _bit_depth(frame.format) > 8
    arr = frame.to_ndarray(format="rgb48le" if deep else "rgb24")
    scale = 65535.0 if deep else 255.0
    return torch.from_numpy(arr.astype(np.float32) / scale).permute(2, 0, 1).contiguous()


def read_frames(path: str | os.PathLike[str], *, folder_fps: float | Fraction = 25) -> Iterator[Frame]:
    """Decode frames one by one (bounded memory) with their real presentation times.

    Times start at 0 for the first frame. Frames whose timestamp does not increase
    (broken files) are dropped. A PNG folder yields its files in name order at
    ``folder_fps``.
    """
    p = Path(path)
    if p.is_dir():
        from PIL import Image

        for k, f in enumerate(_folder_frames(p)):
            with Image.open(f) as im:
                arr = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
            yield Frame(k / float(folder_fps), torch.from_numpy(arr).permute(2, 0, 1).contiguous())
        return
    import av

    container = _open_input(p)
    with container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        t0: float | None = None
        last = -float("inf")
        k = 0
        try:
            for frame in container.decode(stream):
                if frame.pts is None or frame.time is None:
                    ts = k / float(stream.average_rate or 25)
                else:
                    ts = float(frame.time)
                if t0 is None:
                    t0 = ts
                ts -= t0
                k += 1
                if ts <= last:
                    continue
                last = ts
                yield Frame(ts, _to_tensor(frame))
        except av.FFmpegError as exc:
            raise VideoError(f"{p} is corrupt or truncated: {exc}") from exc


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """``(3, H, W)`` float in [0, 1] -> ``(H, W, 3)`` uint8 (rounded, clamped)."""
    return image.detach().float().clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()


def check_output_path(dst: str | os.PathLike[str], src: str | os.PathLike[str] | None, overwrite: bool) -> Path:
    """Refuse to write over an input or over an existing file without ``overwrite``."""
    d = Path(dst)
    if src is not None and d.resolve() == Path(src).resolve():
        raise VideoError(f"output {d} is the input; choose another path")
    if d.exists() and not overwrite:
        raise VideoError(f"output {d} exists; pass overwrite=True (--overwrite) to replace it")
    if not d.parent.exists():
        raise VideoError(f"output folder {d.parent} does not exist")
    return d


class VideoWriter:
    """Write a constant-frame-rate video (or PNG frames) atomically.

    Args:
        dst: output path. ``.mp4``/``.mkv``/``.mov``/``.avi`` write a video; a path
            without a suffix (or ending in ``.png``) writes a folder of PNG frames.
        fps: output frame rate (exact fraction kept in the container's time base).
        width, height: frame size (odd sizes are fine: H.264 then uses 4:4:4).
        crf: H.264 quality (0 best; 18 visually lossless; default 18).
        lossless: FFV1 (``.mkv``/``.avi``) or libx264rgb with crf 0 (``.mp4``).
        audio_from: copy the first audio stream of this file, when the container allows it.
        overwrite: replace an existing ``dst``.
        src: the input path, never written to.
    """

    def __init__(
        self,
        dst: str | os.PathLike[str],
        fps: Fraction | float,
        width: int,
        height: int,
        *,
        crf: int = 18,
        lossless: bool = False,
        audio_from: str | os.PathLike[str] | None = None,
        overwrite: bool = False,
        src: str | os.PathLike[str] | None = None,
    ) -> None:
        self.dst = check_output_path(dst, src, overwrite)
        if not (0 <= crf <= 51):
            raise VideoError(f"crf must be in [0, 51], got {crf}")
        self.fps = Fraction(fps).limit_denominator(1001 * 1000) if not isinstance(fps, Fraction) else fps
        self.width, self.height = int(width), int(height)
        self.crf, self.lossless = crf, lossless
        self.audio_from = audio_from
        self.frames_written = 0
        self.png = self.dst.suffix.lower() in ("", ".png")
        self._tmp: Path | None = None
        self._container: Any = None
        self._stream: Any = None
        self._audio_in: Any = None
        self._audio_out: Any = None
        self._time_base = Fraction(1, 1) / self.fps
        self._open()

    # -- setup ---------------------------------------------------------------------------------
    def _open(self) -> None:
        if self.png:
            self._tmp = Path(tempfile.mkdtemp(prefix=f".{self.dst.name}.", suffix=".tmp", dir=self.dst.parent))
            return
        import av

        fd, name = tempfile.mkstemp(prefix=f".{self.dst.stem}.", suffix=f".tmp{self.dst.suffix}", dir=self.dst.parent)
        os.close(fd)
        self._tmp = Path(name)
        try:
            self._container = av.open(str(self._tmp), mode="w")
            if self.lossless:
                codec, pix_fmt = _LOSSLESS_BY_SUFFIX.get(self.dst.suffix.lower(), ("ffv1", "bgr0"))
                options = {"crf": "0"} if codec == "libx264rgb" else {}
            else:
                codec = "libx264"
                odd = self.width % 2 or self.height % 2
                pix_fmt = "yuv444p" if odd else "yuv420p"  # 4:2:0 needs even sizes
                options = {"crf": str(self.crf)}
            stream = self._container.add_stream(codec, rate=self.fps, options=options)
            stream.width, stream.height, stream.pix_fmt = self.width, self.height, pix_fmt
            # keep our own copy: the muxer may change stream.time_base when it writes the header
            self._time_base = Fraction(1, 1) / self.fps
            stream.time_base = self._time_base
            self._stream = stream
            if self.audio_from is not None:
                self._add_audio()
        except Exception:
            self._cleanup()
            raise

    def _add_audio(self) -> None:
        import av

        try:
            src = av.open(str(self.audio_from))
        except av.FFmpegError:
            return
        if not src.streams.audio:
            src.close()
            return
        try:
            self._audio_out = self._container.add_stream_from_template(src.streams.audio[0])
            self._audio_in = src
        except (ValueError, av.FFmpegError):  # codec not allowed in this container: video only
            src.close()

    # -- writing -------------------------------------------------------------------------------
    def write(self, image: torch.Tensor | np.ndarray) -> None:
        """Append one frame: ``(3, H, W)`` float RGB in [0, 1] or ``(H, W, 3)`` uint8."""
        arr = to_uint8(image) if isinstance(image, torch.Tensor) else np.ascontiguousarray(image)
        if arr.shape != (self.height, self.width, 3) or arr.dtype != np.uint8:
            raise VideoError(f"frame must be {self.height}x{self.width} RGB, got {arr.shape} {arr.dtype}")
        if self.png:
            from PIL import Image

            assert self._tmp is not None
            Image.fromarray(arr).save(self._tmp / f"{self.frames_written:06d}.png")
        else:
            import av

            frame = av.VideoFrame.from_ndarray(arr, format="rgb24")
            frame.pts = self.frames_written
            frame.time_base = self._time_base
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
        self.frames_written += 1

    def close(self) -> Path:
        """Finish the file and move it into place; returns the final path."""
        if self._tmp is None:
            return self.dst
        try:
            if not self.png:
                for packet in self._stream.encode():
                    self._container.mux(packet)
                self._copy_audio()
                self._container.close()
                self._container = None
            if self.frames_written == 0:
                raise VideoError("no frames were written")
            # mkstemp/mkdtemp create owner-only files: give the result the usual permissions
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(self._tmp, (0o777 if self._tmp.is_dir() else 0o666) & ~umask)
            if self.dst.exists():
                if self.dst.is_dir():
                    shutil.rmtree(self.dst)
                else:
                    self.dst.unlink()
            os.replace(self._tmp, self.dst)
            self._tmp = None
        except BaseException:
            self._cleanup()
            raise
        return self.dst

    def _copy_audio(self) -> None:
        if self._audio_in is None:
            return
        duration = self.frames_written / float(self.fps)
        ain = self._audio_in.streams.audio[0]
        try:
            for packet in self._audio_in.demux(ain):
                if packet.dts is None:
                    continue
                if packet.pts is not None and float(packet.pts * ain.time_base) > duration:
                    break
                packet.stream = self._audio_out
                self._container.mux(packet)
        finally:
            self._audio_in.close()
            self._audio_in = None

    def _cleanup(self) -> None:
        with contextlib.suppress(Exception):
            if self._audio_in is not None:
                self._audio_in.close()
        with contextlib.suppress(Exception):
            if self._container is not None:
                self._container.close()
        self._container = None
        if self._tmp is not None:
            if self._tmp.is_dir():
                shutil.rmtree(self._tmp, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    self._tmp.unlink()
            self._tmp = None

    def abort(self) -> None:
        """Drop everything written so far; the destination is untouched."""
        self._cleanup()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

