"""Resumable jobs: the partial work of ``stvsr upscale`` kept beside the output, and its manifest.

While a job runs, the frames it has finished go into *segments*: encoded files in
``<OUT>.stvsr-part/`` (``seg_000000.mp4``, ...), each closed at a model-window boundary
every :data:`SEGMENT_WINDOWS` windows or :data:`SEGMENT_SECONDS` seconds of work.
``manifest.json`` records what a resumed job must match (the input's path, size, mtime
and the sha256 of its first MiB; the model and a hash of its weights; every option that
changes the output frames or their encoding; the stvsr version) and the segments done.

On success the segments are joined into the output by packet copy with renumbered
timestamps (:meth:`stvsr.video.io.VideoWriter.append_segment`): each segment is a whole
encode (it starts with a key frame, its encoder was flushed), so H.264 / HEVC with B-frames,
FFV1 and ProRes segments decode alone and the joined stream keeps every bit the encoder
wrote; the output is written to a temporary file, moved into place atomically, and the
part folder is removed. After an interruption the folder stays (when it holds at least one
segment) and ``--resume`` (``resume=True``) skips the windows already written without
calling the model: the resumed output's frames are those of an uninterrupted run.

The folder is stvsr's own: it is only ever deleted file by file (the manifest, segments and
the writer's hidden temporary files), never recursively.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

from stvsr._version import __version__
from stvsr.video.io import VideoError, VideoWriter, join_segments, segment_suffix

__all__ = ["MANIFEST", "PART_SUFFIX", "PartJob", "fingerprint", "part_folder", "state_hash"]

#: the part folder of ``OUT`` is ``OUT`` + this
PART_SUFFIX = ".stvsr-part"
MANIFEST = "manifest.json"
FORMAT = "stvsr-part/1"
#: a segment is closed at the first window boundary after this many windows ...
SEGMENT_WINDOWS = 100
#: ... or after this many seconds of work
SEGMENT_SECONDS = 60.0
#: the manifest fields that describe progress or the machine, not what the output is
_PROGRESS = ("format", "segments", "finished", "device")
#: what stvsr writes into a part folder (what --overwrite may delete there)
_OWN_NAME = re.compile(r"manifest\.json(\.tmp)?|seg_[0-9]{6}(\.[a-z0-9]+)?|\.seg_[0-9]{6}\..*\.tmp.*")


def part_folder(dst: str | os.PathLike[str]) -> Path:
    """``<dst>.stvsr-part`` beside ``dst`` (absolute)."""
    d = Path(os.path.abspath(dst))
    return d.parent / (d.name + PART_SUFFIX)


def fingerprint(src: str | os.PathLike[str]) -> dict[str, Any]:
    """Path, size, mtime and the sha256 of the first MiB of the input (a PNG folder: of its files, in name order)."""
    p = Path(os.path.abspath(src))
    files = sorted(q for q in p.iterdir() if q.is_file()) if p.is_dir() else [p]
    digest = hashlib.sha256()
    left = 1 << 20
    for q in files:
        with q.open("rb") as fh:
            chunk = fh.read(left)
        digest.update(chunk)
        left -= len(chunk)
        if left <= 0:
            break
    stats = [q.stat() for q in files]
    return {
        "input": str(p), "input_size": sum(st.st_size for st in stats),
        "input_mtime_ns": max((st.st_mtime_ns for st in stats), default=0),
        "input_sha256_first_mib": digest.hexdigest(),
    }


def state_hash(model: Any) -> str:
    """sha256 of a module's state (names, dtypes, shapes and values of parameters and buffers)."""
    import torch

    digest = hashlib.sha256(type(model).__qualname__.encode())
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def _is_own(folder: Path) -> str | None:
    """Why ``folder`` is not a part folder stvsr wrote (None: it is)."""
    if folder.is_symlink() or not folder.is_dir():
        return "it is not a folder"
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return f"it holds no readable {MANIFEST}"
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        return f"its {MANIFEST} is not stvsr's ({FORMAT})"
    for e in os.scandir(folder):
        if not _OWN_NAME.fullmatch(e.name):
            return f"it holds {e.name!r}, which stvsr did not write"
    return None


def _remove(folder: Path) -> None:
    """Delete a part folder's own entries one by one, then the folder (never a recursive delete of others)."""
    for e in os.scandir(folder):
        if not _OWN_NAME.fullmatch(e.name):
            continue
        if e.is_dir(follow_symlinks=False):  # a PNG segment: stvsr frames only
            for f in os.scandir(e.path):
                if re.fullmatch(r"[0-9]{6}\.png", f.name) and f.is_file(follow_symlinks=False):
                    os.unlink(f.path)
            os.rmdir(e.path)
        else:
            os.unlink(e.path)
    os.rmdir(folder)


class PartJob:
    """The segments of one job: write frames, cut segments at window boundaries, join at the end.

    Args:
        dst, src: output and input paths.
        settings: what a resumed job must match (JSON values), see the module docs.
        writer: the keywords of every :class:`~stvsr.video.io.VideoWriter` of the job (fps,
            size, codec, ...); ``audio_from`` and ``overwrite`` go to the final output only.
        resume: continue the job recorded in the part folder (a mismatch is a ``VideoError``).
        overwrite: replace a part folder of an earlier job (only one stvsr wrote).
    """

    def __init__(
        self, dst: Path, src: str | os.PathLike[str], settings: dict[str, Any], writer: dict[str, Any], *,
        resume: bool, overwrite: bool,
    ) -> None:
        self.dst, self.src, self.folder = Path(dst), src, part_folder(dst)
        self.writer = dict(writer)
        self.final = {k: self.writer.pop(k) for k in ("audio_from", "overwrite") if k in self.writer}
        self.suffix = segment_suffix(dst, writer.get("codec", "h264"), writer.get("lossless", False))
        settings = json.loads(json.dumps(settings))  # as the manifest will read back (tuples as lists)
        self.manifest: dict[str, Any] = {"format": FORMAT, **settings, "stvsr": __version__, "segments": [],
                                         "finished": False}
        self.resumed = False
        if os.path.lexists(self.folder):
            why = _is_own(self.folder)
            if why is not None:
                raise VideoError(f"{self.folder} exists and is not stvsr's part folder ({why}); move it away")
            if resume:
                self._load()
            elif overwrite:
                _remove(self.folder)
            else:
                raise VideoError(
                    f"{self.folder} holds the unfinished work of an interrupted job for {dst}: pass --resume "
                    "(resume=True) to finish it, or delete that folder (or pass --overwrite) to start again"
                )
        elif resume:
            print(f"stvsr: nothing to resume ({self.folder} does not exist); starting from the beginning",
                  file=sys.stderr)
        self._current: VideoWriter | None = None
        self._opened = 0.0
        self._windows_at_open = self.windows_done
        if not self.finished:
            try:  # the first segment now: a bad codec / container choice fails before the model runs
                self._open_segment()
            except BaseException:
                self.interrupted()
                raise

    # -- state -----------------------------------------------------------------------------------
    @property
    def windows_done(self) -> int:
        return sum(s["windows"] for s in self.manifest["segments"])

    @property
    def frames_done(self) -> int:
        return sum(s["frames"] for s in self.manifest["segments"])

    @property
    def frames_written(self) -> int:
        """Frames of the output so far: the closed segments' and the open one's."""
        return self.frames_done + (self._current.frames_written if self._current is not None else 0)

    @property
    def finished(self) -> bool:
        return bool(self.manifest["finished"])

    def _load(self) -> None:
        old = json.loads((self.folder / MANIFEST).read_text())
        keys = sorted((set(old) | set(self.manifest)) - set(_PROGRESS))
        differ = [f"{k} (then {old.get(k)!r}, now {self.manifest.get(k)!r})" for k in keys
                  if old.get(k) != self.manifest.get(k)]
        if differ:
            raise VideoError(
                f"cannot resume {self.dst}: the job in {self.folder} differs in " + "; ".join(differ)
                + ". Run it with the same input, model and options, or delete that folder (or pass --overwrite "
                "without --resume) to start again"
            )
        for s in old["segments"]:
            if not (self.folder / s["file"]).exists():
                raise VideoError(f"cannot resume {self.dst}: segment {s['file']} is missing from {self.folder}")
        self.manifest = {**old, "device": self.manifest.get("device")}
        self.resumed = True

    def _save(self) -> None:
        self.folder.mkdir(exist_ok=True)
        tmp = self.folder / (MANIFEST + ".tmp")
        tmp.write_text(json.dumps(self.manifest, indent=1, sort_keys=True))
        os.replace(tmp, self.folder / MANIFEST)

    # -- writing ---------------------------------------------------------------------------------
    def _open_segment(self) -> VideoWriter:
        if not self.folder.exists():
            self._save()  # the folder and its manifest come first: the folder is recognisably stvsr's
        name = f"seg_{len(self.manifest['segments']):06d}{self.suffix}"
        self._current = VideoWriter(self.folder / name, **self.writer)
        self._opened = time.monotonic()
        return self._current

    def write(self, frame: Any) -> None:
        (self._current or self._open_segment()).write(frame)

    def boundary(self, windows: int) -> None:
        """All frames of the first ``windows`` windows are written: close the segment when it is due."""
        if self._current is None or self._current.frames_written == 0:
            return
        if windows - self._windows_at_open >= SEGMENT_WINDOWS or time.monotonic() - self._opened >= SEGMENT_SECONDS:
            self._close_segment(windows)

    def _close_segment(self, windows: int) -> None:
        assert self._current is not None
        w, self._current = self._current, None
        frames = w.frames_written
        path = w.close()
        self.manifest["segments"].append(
            {"file": path.name, "frames": frames, "windows": windows - self._windows_at_open}
        )
        self._windows_at_open = windows
        self._save()

    def finish(self, windows: int) -> Path:
        """Close the last segment, join every segment into ``dst`` (atomically), remove the part folder."""
        if not self.finished:
            if self._current is not None and self._current.frames_written:
                self._close_segment(windows)
            elif self._current is not None:
                self._current.abort()
                self._current = None
            self.manifest["finished"] = True
            self._save()
        segments = [self.folder / s["file"] for s in self.manifest["segments"]]
        if not segments:
            raise VideoError("no frames were written")
        if os.path.lexists(self.dst) and not self.final.get("overwrite"):
            raise VideoError(
                f"{self.dst} appeared while stvsr was writing it (another program, or a second job writing the same "
                "output?); it was left as it is: pass --overwrite (overwrite=True) with --resume to replace it"
            )
        path = join_segments(segments, self.dst, **self.writer, **self.final)
        _remove(self.folder)
        return path

    def interrupted(self) -> str | None:
        """Drop the unfinished segment; keep the folder when it holds finished work (returns how to resume)."""
        if self._current is not None:
            self._current.abort()
            self._current = None
        if not self.manifest["segments"]:
            with contextlib.suppress(OSError):
                if self.folder.exists() and _is_own(self.folder) is None:
                    _remove(self.folder)
            return None
        total = self.manifest.get("output_frames_planned")
        return (
            f"{self.frames_done}{'' if total is None else f' of {total}'} output frames are kept in {self.folder}; "
            "run the same command with --resume (Python: resume=True) to finish the job"
        )
