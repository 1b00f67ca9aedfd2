"""Video files in and out with PyAV: real timestamps, any pixel format, atomic writes.

Frames cross this module as ``(3, H, W)`` float tensors, RGB in [0, 1]. Inputs
with more than 8 bits per sample (10-bit, 12-bit, 16-bit RGB) are decoded
through 16-bit RGB so no precision is lost; 4:2:0 / 4:2:2 / 4:4:4 YUV are
converted to RGB by FFmpeg's swscale using the stream's colour matrix
(BT.709 when the file says so, BT.601 otherwise).

Writers never touch the destination until the whole video is written: they
write a hidden temporary file (``.NAME.XXXX.tmp...``) next to it and rename it on
success, so a crash, Ctrl-C, SIGTERM (under the CLI) or a full disk leaves no
half-written output and never an overwritten input.

What ``overwrite`` may replace (checked at the start and again at the final rename):
a regular file, or a folder holding nothing but the frames stvsr writes
(``000000.png``, ``000001.png``, ...; an empty folder too). Never a folder with other
content, never the input or a folder containing it (nor the current folder), and
never a non-regular file (symbolic link, device, FIFO, socket). Without
``overwrite`` the final rename refuses when something appeared at the destination
while the video was being written (another program, a second job), and the
temporary output is removed.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import re
import shutil
import signal
import stat
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stvsr._formats import IMAGE_SUFFIXES, OUTPUT_SUFFIXES
from stvsr.video.timegrid import as_fraction

#: the only names an output folder of PNG frames holds (what ``overwrite`` may delete)
_FRAME_NAME = re.compile(r"[0-9]{6}\.png")

_LOSSLESS_BY_SUFFIX = {".mkv": ("ffv1", "bgr0"), ".avi": ("ffv1", "bgr0"), ".mp4": ("libx264rgb", "rgb24")}

#: ``codec`` choices of :class:`VideoWriter` -> (FFmpeg encoder, bit depths it writes, containers that hold it)
CODECS: dict[str, tuple[str, tuple[int, ...], tuple[str, ...]]] = {
    "h264": ("libx264", (8, 10), (".mp4", ".mkv", ".mov", ".avi")),
    "hevc": ("libx265", (8, 10), (".mp4", ".mkv", ".mov")),
    "prores": ("prores_ks", (10,), (".mov", ".mkv")),
}


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


def _ffmpeg_reason(exc: BaseException) -> str:
    """FFmpeg's words for an error, without PyAV's errno number and repeated file name."""
    return str(getattr(exc, "strerror", None) or exc)


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
        raise VideoError(f"cannot read {p} as a video: {_ffmpeg_reason(exc)}") from exc
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


def _folder_rate(folder_fps: float | Fraction) -> Fraction:
    """The frame rate of a PNG folder (``--input-fps``), checked: positive and finite."""
    try:
        return as_fraction(folder_fps, "folder_fps (--input-fps)")
    except (TypeError, ValueError) as exc:
        raise VideoError(str(exc)) from exc


def _read_image(path: Path) -> Any:
    """Decode one PNG with FFmpeg (16-bit and grey+alpha PNGs keep their precision); returns an AVFrame."""
    import av

    try:
        with av.open(str(path)) as container:
            return next(container.decode(video=0))
    except (av.FFmpegError, StopIteration, IndexError) as exc:
        raise VideoError(f"cannot read {path} as a PNG image: {exc}") from exc


def probe(path: str | os.PathLike[str], *, folder_fps: float | Fraction = 25) -> VideoInfo:
    """Describe a video file or a PNG frame folder without decoding all of it."""
    p = Path(path)
    if p.is_dir():
        fps = _folder_rate(folder_fps)
        files = _folder_frames(p)
        first = _read_image(files[0])
        depth = _bit_depth(first.format)
        fmt = "rgb48" if depth > 8 else "rgb24"
        return VideoInfo(str(p), first.width, first.height, fps, len(files), len(files) / float(fps), "png", fmt, depth,
                         False)
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


def _declared_length(container: Any, stream: Any) -> tuple[int | None, float | None]:
    """The video stream's frame count and duration (seconds) as the container states them (None: unknown).

    The container-wide duration only counts when the file has no other stream (an
    audio track may legitimately run longer than the video).
    """
    frames = int(stream.frames) if stream.frames else None
    duration = None
    tag = (stream.metadata or {}).get("DURATION")  # Matroska: per-track duration tag "HH:MM:SS.fffffffff"
    if tag:
        with contextlib.suppress(ValueError):
            h, m, sec = tag.split(":")
            duration = int(h) * 3600 + int(m) * 60 + float(sec)
    if duration is None and stream.duration is not None and stream.time_base is not None:
        duration = float(stream.duration * stream.time_base)
    if duration is None and container.duration is not None and len(container.streams) == 1:
        duration = container.duration / 1_000_000
    return frames, duration


def read_frames(path: str | os.PathLike[str], *, folder_fps: float | Fraction = 25) -> Iterator[Frame]:
    """Decode frames one by one (bounded memory) with their real presentation times.

    Times start at 0 for the first frame. Frames whose timestamp does not increase
    (broken files) are dropped. A PNG folder yields its files in name order at
    ``folder_fps`` (8- and 16-bit PNGs; all frames must have the same size).

    Raises:
        VideoError: the file is unreadable, or it ends before the frame count or duration
            its container declares (a truncated file), or a folder mixes frame sizes.
    """
    p = Path(path)
    if p.is_dir():
        rate = float(_folder_rate(folder_fps))
        files = _folder_frames(p)
        size: tuple[int, int] | None = None
        for k, f in enumerate(files):
            image = _to_tensor(_read_image(f))
            if size is None:
                size = (image.shape[2], image.shape[1])
            elif (image.shape[2], image.shape[1]) != size:
                raise VideoError(
                    f"{f} is {image.shape[2]}x{image.shape[1]} but {files[0].name} is {size[0]}x{size[1]}: "
                    "all frames of a PNG folder must have the same size"
                )
            yield Frame(k / rate, image)
        return
    import av

    container = _open_input(p)
    with container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        declared_frames, declared_duration = _declared_length(container, stream)
        rate = float(stream.average_rate or stream.guessed_rate or 25)
        t0: float | None = None
        last = -float("inf")
        k = 0
        try:
            for frame in container.decode(stream):
                if frame.pts is None or frame.time is None:
                    ts = k / rate
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
            raise VideoError(f"{p} is corrupt or truncated: {_ffmpeg_reason(exc)}") from exc
        # a truncated file decodes "successfully" up to where it breaks: compare with what it declares
        span = (last + 1 / rate) if k else 0.0
        short_time = declared_duration is not None and span < declared_duration - max(2 / rate, 0.02 * declared_duration)
        # the declared count includes dropped frames (AVI null chunks, variable rate, e.g. opencv's tree.avi):
        # where the container declares a duration, time alone says whether the file ends early
        short_count = declared_duration is None and declared_frames is not None and k < declared_frames - 1
        if short_count or short_time:
            said = f"{declared_frames} frames" if short_count else f"{declared_duration:.3f} s"
            raise VideoError(
                f"{p} is truncated or corrupt: its container declares {said}, but decoding stopped after {k} "
                f"frames ({span:.3f} s)"
            )


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """``(3, H, W)`` float in [0, 1] -> ``(H, W, 3)`` uint8 (rounded, clamped)."""
    return image.detach().float().clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()


def to_uint16(image: torch.Tensor) -> np.ndarray:
    """``(3, H, W)`` float in [0, 1] -> ``(H, W, 3)`` uint16 (for 10-bit encoding)."""
    t = image.detach().float().clamp(0, 1).mul(65535).round().to(torch.int32)
    return t.permute(1, 2, 0).cpu().numpy().astype(np.uint16)


def _check_codec(codec: str, bit_depth: int | None, suffix: str, lossless: bool) -> tuple[str, int]:
    """``(codec, bit depth)`` checked against :data:`CODECS` and the container (``suffix``)."""
    if codec not in CODECS:
        raise VideoError(f"codec must be one of {', '.join(CODECS)}, got {codec!r}")
    _, depths, suffixes = CODECS[codec]
    depth = depths[0] if bit_depth is None else bit_depth
    if depth not in depths:
        raise VideoError(f"codec {codec} writes {' or '.join(map(str, depths))}-bit video, not {bit_depth}-bit")
    if suffix in ("", ".png"):
        return codec, 8  # PNG frames: 8-bit RGB whatever the codec
    if lossless and (codec != "h264" or depth != 8):
        raise VideoError("lossless picks its own codec (FFV1 or libx264rgb, 8-bit): leave codec and bit depth unset")
    if suffix not in suffixes:
        raise VideoError(f"codec {codec} cannot be written into {suffix} files: use {' or '.join(suffixes)}")
    return codec, depth


def segment_suffix(dst: str | os.PathLike[str], codec: str, lossless: bool) -> str:
    """The container of a resumable job's segments of ``dst`` ("" for PNG folders): ``dst``'s own, except
    H.264 / HEVC bound for Matroska, whose segments are written as ``.mov`` (it keeps the decode
    timestamps of B-frames, which packet copy needs)."""
    suffix = Path(dst).suffix.lower()
    if suffix == ".png":
        return ""
    return ".mov" if suffix == ".mkv" and codec in ("h264", "hevc") and not lossless else suffix


def reorder_delay(path: str | os.PathLike[str]) -> int:
    """Frames by which a video's first decode timestamp precedes its first presentation (B-frames; 0 if none)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for packet in container.demux(stream):
            if packet.pts is None or packet.dts is None:
                return 0
            return max(0, round((packet.pts - packet.dts) * stream.time_base * stream.average_rate))
    return 0


def join_segments(segments: list[Path], dst: str | os.PathLike[str], **writer: Any) -> Path:
    """Join segments written by ``VideoWriter(**writer)`` into ``dst`` by packet copy, atomically.

    The output is a ``VideoWriter(dst, **writer, template=segments[0])`` filled with
    :meth:`VideoWriter.append_segment` (audio, ``overwrite`` and the final rename as for any output).
    """
    png = Path(dst).suffix.lower() in ("", ".png")
    delay = 0 if png else max(reorder_delay(seg) for seg in segments)
    out = VideoWriter(dst, **writer, template=segments[0])
    try:
        for seg in segments:
            out.append_segment(seg, delay)
        return out.close()
    except BaseException:
        out.abort()
        raise


def _why_not_replaceable(path: Path) -> str | None:
    """Why ``overwrite`` may not replace the existing ``path``, or None when it may.

    Replaceable: a regular file, or a folder holding nothing but stvsr frames (``NNNNNN.png``
    regular files; an empty folder too).
    """
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        return "it is a symbolic link"
    if stat.S_ISREG(st.st_mode):
        return None
    if stat.S_ISDIR(st.st_mode):
        with os.scandir(path) as entries:
            for e in entries:
                if not (_FRAME_NAME.fullmatch(e.name) and e.is_file(follow_symlinks=False)):
                    return f"it is a folder that holds other things than stvsr frames (such as {e.name!r})"
        return None
    return "it is not a regular file (a device, FIFO or socket)"


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check_output_path(dst: str | os.PathLike[str], src: str | os.PathLike[str] | None, overwrite: bool) -> Path:
    """Check where an output may be written; returns it as an absolute path.

    Refused: an unsupported suffix, a missing parent folder or one that is a file, the
    input itself or a folder containing it, and an existing ``dst`` without ``overwrite``.
    With ``overwrite`` only a regular file or a folder holding nothing but stvsr frames
    (``NNNNNN.png``) is replaced; never another folder, the current folder, or a
    non-regular file (symbolic link, device, FIFO, socket).
    """
    if not str(dst).strip():
        raise VideoError("the output path is empty")
    d = Path(os.path.abspath(dst))  # abspath: "." and ".." get a real name and parent
    suffix = d.suffix.lower()
    if suffix not in OUTPUT_SUFFIXES + ("", ".png"):
        raise VideoError(
            f"cannot write {suffix!r} files ({dst}): give a video path ending in {', '.join(OUTPUT_SUFFIXES)}, "
            "or a folder path without a suffix (or ending in .png) for PNG frames"
        )
    if src is not None:
        s, r = Path(src).resolve(), d.resolve()
        if r == s:
            raise VideoError(f"output {dst} is the input; choose another path")
        if _inside(s, r):
            raise VideoError(f"output {dst} contains the input {src}; choose another path")
    ancestor = d.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise VideoError(f"cannot write {dst}: {ancestor} is a file, not a folder")
    if ancestor != d.parent:
        raise VideoError(f"output folder {d.parent} does not exist")
    if not os.access(d.parent, os.W_OK | os.X_OK):
        raise VideoError(f"cannot write {dst}: no permission to write into {d.parent}")
    if os.path.lexists(d):
        if not overwrite:
            raise VideoError(f"output {dst} exists; pass overwrite=True (--overwrite) to replace it")
        why = _why_not_replaceable(d)
        if why is None and _inside(Path.cwd().resolve(), d.resolve()):
            why = "it is the current folder or contains it"
        if why is not None:
            raise VideoError(
                f"output {dst} exists and is not replaced, even with --overwrite: {why} (--overwrite only replaces "
                "a regular file or a folder holding nothing but stvsr frames NNNNNN.png)"
            )
    return d


# -- atomic placement ------------------------------------------------------------------------------

_RENAME_NOREPLACE = 1  # linux/fs.h
_AT_FDCWD = -100


def _renameat2() -> Any:
    """libc's ``renameat2`` (Linux, glibc >= 2.28), or None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    except OSError:
        return None


def _rename_noreplace(src: Path, dst: Path) -> None:
    """Move ``src`` to ``dst``; ``FileExistsError`` if ``dst`` exists, atomically where the system allows.

    ``os.rename`` would silently replace a file (or an empty folder) that appeared at
    ``dst``; ``renameat2(RENAME_NOREPLACE)`` or, for files, a hard link refuse atomically.
    """
    fn = _renameat2()
    if fn is not None:
        if fn(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), _RENAME_NOREPLACE) == 0:
            return
        err = ctypes.get_errno()
        if err == errno.EEXIST:
            raise FileExistsError(err, os.strerror(err), str(dst))
        if err not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):  # other errors are real
            raise OSError(err, os.strerror(err), str(dst))
    if not src.is_dir():
        try:
            os.link(src, dst)  # fails with EEXIST when dst exists
        except FileExistsError:
            raise
        except OSError:
            pass  # no hard links on this file system: check, then rename
        else:
            os.unlink(src)
            return
    if os.path.lexists(dst):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(dst))
    os.rename(src, dst)


def _remove_stvsr_output(path: Path) -> None:
    """Delete a replaced output: a regular file, or a folder's stvsr frames and then the (empty) folder.

    Never a recursive delete: anything that is not an stvsr frame makes the final ``rmdir`` fail.
    """
    if not path.is_dir() or path.is_symlink():
        path.unlink()
        return
    with os.scandir(path) as entries:
        frames = [e.path for e in entries if _FRAME_NAME.fullmatch(e.name) and e.is_file(follow_symlinks=False)]
    for f in frames:
        os.unlink(f)
    os.rmdir(path)


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM back while cleaning up, so a second Ctrl-C cannot leave half a cleanup behind."""
    sigs = {signal.SIGINT, signal.SIGTERM}
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


class VideoWriter:
    """Write a constant-frame-rate video (or PNG frames) atomically.

    Frames go to a hidden temporary file (or folder) next to ``dst``, moved into place by
    :meth:`close`; any error (a full disk, a NaN frame), :meth:`abort`, Ctrl-C or, under
    the CLI, SIGTERM removes it and leaves ``dst`` as it was.

    Args:
        dst: output path. ``.mp4``/``.mkv``/``.mov``/``.avi`` write a video; a path
            without a suffix (or ending in ``.png``) writes a folder of PNG frames.
        fps: output frame rate (exact fraction kept in the container's time base).
        width, height: frame size (odd sizes are fine: H.264 then uses 4:4:4).
        crf: H.264 / HEVC quality (0 best; 18 visually lossless for H.264; default 18).
        lossless: FFV1 (``.mkv``/``.avi``) or libx264rgb with crf 0 (``.mp4``).
        codec: ``"h264"`` (default, plays everywhere), ``"hevc"`` (H.265: smaller files at the
            same quality, slower to encode) or ``"prores"`` (ProRes 422 HQ, 10-bit, for editing;
            ``.mov``/``.mkv``); see :data:`CODECS`.
        bit_depth: 8 (default) or 10 (h264 and hevc; prores is always 10-bit). 10-bit frames
            are encoded from 16-bit RGB, so the model's output keeps its gradations.
        audio_from: copy the first audio stream of this file, when the container allows it.
        overwrite: replace an existing ``dst``, but only a regular file or a folder holding
            nothing but stvsr frames (see :func:`check_output_path`). Without it, :meth:`close`
            refuses if anything appeared at ``dst`` meanwhile.
        src: the input path, never written to (nor a folder containing it).
        template: a segment written earlier by a ``VideoWriter`` with the same settings: the
            output then takes that segment's stream parameters and is filled by
            :meth:`append_segment` (packet copy) instead of :meth:`write`.

    Raises:
        VideoError: the path is refused (see :func:`check_output_path`), writing failed
            (disk full, read-only folder) or a frame is not finite.
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
        codec: str = "h264",
        bit_depth: int | None = None,
        template: str | os.PathLike[str] | None = None,
    ) -> None:
        self.dst = check_output_path(dst, src, overwrite)
        self.template = Path(template) if template is not None else None
        self._extradata: bytes | None = None
        self.overwrite, self.src = overwrite, src
        if not (0 <= crf <= 51):
            raise VideoError(f"crf must be in [0, 51], got {crf}")
        self.codec, self.bit_depth = _check_codec(codec, bit_depth, self.dst.suffix.lower(), lossless)
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

    def _failed(self, what: str, exc: BaseException) -> VideoError:
        """Drop the temporary output and describe an I/O failure in one actionable line."""
        self._cleanup()
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return VideoError(f"{what} {self.dst} failed: {reason}; nothing was written (the destination is unchanged)")

    # -- setup ---------------------------------------------------------------------------------
    def _open(self) -> None:
        import av

        try:
            if self.png:
                self._tmp = Path(tempfile.mkdtemp(prefix=f".{self.dst.name}.", suffix=".tmp", dir=self.dst.parent))
                return
            fd, name = tempfile.mkstemp(
                prefix=f".{self.dst.stem}.", suffix=f".tmp{self.dst.suffix}", dir=self.dst.parent
            )
            os.close(fd)
            self._tmp = Path(name)
            self._container = av.open(str(self._tmp), mode="w")
            if self.template is not None:
                with av.open(str(self.template)) as seg:
                    stream = self._container.add_stream_from_template(seg.streams.video[0])
                    self._extradata = seg.streams.video[0].codec_context.extradata
                self._time_base = Fraction(1, 1) / self.fps
                stream.time_base = self._time_base
                self._stream = stream
                if self.audio_from is not None:
                    self._add_audio()
                return
            if self.lossless:
                codec, pix_fmt = _LOSSLESS_BY_SUFFIX.get(self.dst.suffix.lower(), ("ffv1", "bgr0"))
                options = {"crf": "0"} if codec == "libx264rgb" else {}
            else:
                codec = CODECS[self.codec][0]
                odd = self.width % 2 or self.height % 2
                pix_fmt = "yuv444p" if odd else "yuv420p"  # 4:2:0 needs even sizes
                if self.codec == "prores":
                    pix_fmt, options = "yuv444p10le" if odd else "yuv422p10le", {"profile": "3"}  # 422 HQ
                else:
                    pix_fmt += "10le" if self.bit_depth == 10 else ""
                    options = {"crf": str(self.crf)}
                    if self.codec == "hevc":
                        options["x265-params"] = "log-level=error"  # x265 prints a banner per file otherwise
            stream = self._container.add_stream(codec, rate=self.fps, options=options)
            stream.width, stream.height, stream.pix_fmt = self.width, self.height, pix_fmt
            # keep our own copy: the muxer may change stream.time_base when it writes the header
            self._time_base = Fraction(1, 1) / self.fps
            stream.time_base = self._time_base
            self._stream = stream
            if self.audio_from is not None:
                self._add_audio()
        except (OSError, av.FFmpegError) as exc:
            raise self._failed("creating a temporary file for", exc) from exc
        except BaseException:
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
    def _mux(self, packet: Any) -> None:
        self._container.mux(packet)

    def write(self, image: torch.Tensor | np.ndarray) -> None:
        """Append one frame: ``(3, H, W)`` float RGB in [0, 1] or ``(H, W, 3)`` uint8.

        A frame with NaN or infinite values (a diverged model, corrupt weights) is an
        error, not a black frame: the temporary output is removed.
        """
        import av

        if self._tmp is None:
            raise VideoError(f"the writer of {self.dst} is closed")
        if isinstance(image, torch.Tensor):
            if image.is_floating_point() and not bool(torch.isfinite(image).all()):
                self._cleanup()
                raise VideoError(
                    f"output frame {self.frames_written} contains NaN or infinite values (the model diverged: "
                    "corrupt weights, or an overflow in float16: try --dtype float32); nothing was written"
                )
            arr = to_uint16(image) if self.bit_depth > 8 and not self.png else to_uint8(image)
        else:
            arr = np.ascontiguousarray(image)
        if arr.shape != (self.height, self.width, 3) or arr.dtype not in (np.uint8, np.uint16):
            raise VideoError(f"frame must be {self.height}x{self.width} RGB, got {arr.shape} {arr.dtype}")
        try:
            if self.png:
                from PIL import Image

                Image.fromarray(arr).save(self._tmp / f"{self.frames_written:06d}.png")
            else:
                frame = av.VideoFrame.from_ndarray(arr, format="rgb48le" if arr.dtype == np.uint16 else "rgb24")
                frame.pts = self.frames_written
                frame.time_base = self._time_base
                for packet in self._stream.encode(frame):
                    self._mux(packet)
        except (OSError, av.FFmpegError) as exc:
            raise self._failed("writing", exc) from exc
        except BaseException:
            self._cleanup()
            raise
        self.frames_written += 1

    def append_segment(self, segment: str | os.PathLike[str], delay: int = 0) -> int:
        """Append a finished segment by packet copy (PNG frames: hard links or copies); returns its frames.

        The segment was written by a ``VideoWriter`` with this one's settings (the ``template``):
        every segment starts with a key frame and ends with its encoder flushed (closed GOPs), so
        its packets decode alone. Their timestamps are renumbered to follow the frames already
        written: ``pts`` shifts by the frames before the segment; ``dts`` counts the packets in
        decode order minus ``delay``, the largest B-frame reorder delay of all the segments
        (:func:`reorder_delay`: a short segment may have a smaller one), so decode times keep
        increasing across segments and never pass the presentation times.
        """
        import av

        if self._tmp is None:
            raise VideoError(f"the writer of {self.dst} is closed")
        segment = Path(segment)
        try:
            if self.png:
                names = sorted(q for q in segment.iterdir() if _FRAME_NAME.fullmatch(q.name))
                for q in names:
                    target = self._tmp / f"{self.frames_written:06d}.png"
                    try:
                        os.link(q, target)
                    except OSError:
                        shutil.copyfile(q, target)
                    self.frames_written += 1
                return len(names)
            fps, offset, n = self.fps, self.frames_written, 0
            with av.open(str(segment)) as seg:
                stream = seg.streams.video[0]
                if stream.codec_context.extradata != self._extradata:
                    raise VideoError(f"{segment} was encoded with other stream parameters than {self.template}")
                tb = stream.time_base
                for packet in seg.demux(stream):
                    if packet.size == 0:  # the demuxer's end-of-stream marker
                        continue
                    pts = None if packet.pts is None else round(packet.pts * tb * fps) + offset
                    dts = None if packet.dts is None else offset + n - delay
                    packet.pts, packet.dts, packet.time_base, packet.duration = pts, dts, self._time_base, 1
                    packet.stream = self._stream
                    self._mux(packet)
                    n += 1
            self.frames_written += n
            return n
        except (OSError, av.FFmpegError) as exc:
            raise self._failed("writing", exc) from exc
        except BaseException:
            self._cleanup()
            raise

    def close(self) -> Path:
        """Finish the file and move it into place; returns the final path.

        Raises:
            VideoError: no frames were written, writing failed, or (without ``overwrite``)
                something appeared at the destination meanwhile; the temporary output is
                removed and the destination left as it is.
        """
        import av

        if self._tmp is None:
            return self.dst
        try:
            if not self.png:
                if self.template is None:
                    for packet in self._stream.encode():
                        self._mux(packet)
                self._copy_audio()
                self._container.close()
                self._container = None
            if self.frames_written == 0:
                raise VideoError("no frames were written")
            # mkstemp/mkdtemp create owner-only files: give the result the usual permissions
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(self._tmp, (0o777 if self._tmp.is_dir() else 0o666) & ~umask)
            self._place(self._tmp)
            self._tmp = None
        except (OSError, av.FFmpegError) as exc:
            raise self._failed("writing", exc) from exc
        except BaseException:
            self._cleanup()
            raise
        return self.dst

    def _place(self, tmp: Path) -> None:
        """Move the finished ``tmp`` to ``dst`` without ever replacing what ``overwrite`` does not allow."""
        appeared = (
            f"{self.dst} appeared while stvsr was writing it (another program, or a second job writing the same "
            "output?); it was left as it is and nothing was written: pass --overwrite (overwrite=True) to replace it"
        )
        if not os.path.lexists(self.dst):
            try:
                _rename_noreplace(tmp, self.dst)
            except FileExistsError:
                raise VideoError(appeared) from None
            return
        if not self.overwrite:
            raise VideoError(appeared)
        check_output_path(self.dst, self.src, True)  # what is there now must still be replaceable
        if not tmp.is_dir() and stat.S_ISREG(os.lstat(self.dst).st_mode):
            os.replace(tmp, self.dst)  # file over file: atomic
            return
        # a folder is involved: move the old output aside, put the new one in place, then delete the old
        aside_dir = Path(tempfile.mkdtemp(prefix=f".{self.dst.name}.", suffix=".old", dir=self.dst.parent))
        aside = aside_dir / "old"
        with _signals_deferred():
            os.rename(self.dst, aside)
            try:
                _rename_noreplace(tmp, self.dst)
            except BaseException:
                os.rename(aside, self.dst)
                os.rmdir(aside_dir)
                raise
        try:
            _remove_stvsr_output(aside)
            os.rmdir(aside_dir)
        except OSError:
            import warnings

            warnings.warn(
                f"the replaced output {self.dst} gained other files while stvsr was writing; it was kept as {aside}",
                stacklevel=3,
            )

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
                self._mux(packet)
        finally:
            self._audio_in.close()
            self._audio_in = None

    def _cleanup(self) -> None:
        with _signals_deferred():
            with contextlib.suppress(Exception):
                if self._audio_in is not None:
                    self._audio_in.close()
            self._audio_in = None
            with contextlib.suppress(Exception):
                if self._container is not None:
                    self._container.close()
            self._container = None
            if self._tmp is not None:
                if self._tmp.is_dir():
                    shutil.rmtree(self._tmp, ignore_errors=True)  # our own temporary folder only
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
