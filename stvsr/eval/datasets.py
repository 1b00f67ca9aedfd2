"""Evaluation datasets: clips from video files, PNG frame folders and Vimeo-90K septuplets.

A :class:`Clip` is a named ground-truth (HR) clip held in memory as ``(T, 3, H, W)``
float RGB in [0, 1]. :func:`open_dataset` understands three layouts:

* a **video file** (anything PyAV decodes, e.g. the lossless FFV1 Vid4 ``.mkv``
  files): one clip named after the file stem;
* a **frame folder** (``*.png`` files, read in name order): one clip named after the
  folder;
* a **folder of clips**: every video file and frame folder inside it, in name order
  (e.g. ``vid4/{calendar,city,foliage,walk}.mkv`` or ``vid4/<clip>/*.png``);
* a **Vimeo-90K-style septuplet tree**: every folder below the root holding
  ``im1.png .. im7.png`` (``sequences/00001/0001/im1.png``), one 7-frame clip each,
  named by its path relative to the root (``00001/0001``); an optional list file
  (``sep_testlist.txt``: one relative path per line) selects and orders them.

Clips are loaded lazily, one at a time, so a dataset never holds more than one clip.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from stvsr._formats import IMAGE_SUFFIXES, VIDEO_SUFFIXES

__all__ = ["Clip", "ClipSource", "load_clip", "open_dataset", "septuplet_folders"]

SEPTUPLET = tuple(f"im{i}.png" for i in range(1, 8))


@dataclass
class Clip:
    """A ground-truth clip: ``frames`` ``(T, 3, H, W)`` float32 RGB in [0, 1]."""

    name: str
    frames: torch.Tensor
    fps: float = 25.0
    source: str = ""


@dataclass(frozen=True)
class ClipSource:
    """Where one clip comes from (loaded by :meth:`load`)."""

    name: str
    path: str
    kind: str  # "video" | "folder" | "septuplet"
    files: tuple[str, ...] = field(default=())

    def load(self, max_frames: int | None = None) -> Clip:
        return load_clip(self.path, name=self.name, max_frames=max_frames, files=self.files or None)


def _is_video(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES


def _is_frame_folder(p: Path) -> bool:
    return p.is_dir() and any(q.suffix.lower() in IMAGE_SUFFIXES for q in p.iterdir())


def _read_png(path: Path) -> torch.Tensor:
    import numpy as np
    from PIL import Image

    with Image.open(path) as im:
        arr = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(arr).permute(2, 0, 1).contiguous()


def load_clip(
    path: str | os.PathLike[str],
    *,
    name: str | None = None,
    max_frames: int | None = None,
    files: Sequence[str] | None = None,
) -> Clip:
    """Read a whole clip (video file or PNG folder) into memory.

    Args:
        path: video file or folder of PNG frames.
        name: clip name (default: the file stem / folder name).
        max_frames: keep only the first frames (quick runs).
        files: explicit frame files inside ``path`` (septuplets), in order.

    Returns:
        :class:`Clip` with ``frames`` ``(T, 3, H, W)`` float32 in [0, 1].
    """
    p = Path(path)
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max_frames must be >= 1, got {max_frames}")
    label = name or (p.stem if p.is_file() else p.name)
    if p.is_dir():
        names = list(files) if files else sorted(q.name for q in p.iterdir() if q.suffix.lower() in IMAGE_SUFFIXES)
        if not names:
            raise ValueError(f"{p} holds no PNG frames")
        names = names[:max_frames] if max_frames else names
        frames = [_read_png(p / n) for n in names]
        fps = 25.0
    elif p.is_file():
        from stvsr.video.io import probe, read_frames

        frames = []
        for fr in read_frames(p):
            frames.append(fr.image)
            if max_frames and len(frames) >= max_frames:
                break
        fps = float(probe(p).fps)
        if not frames:
            raise ValueError(f"{p} has no decodable frames")
    else:
        raise FileNotFoundError(f"no such video file or frame folder: {p}")
    sizes = {tuple(f.shape) for f in frames}
    if len(sizes) != 1:
        raise ValueError(f"{p}: frames have different sizes {sorted(sizes)}")
    return Clip(label, torch.stack(frames), fps, str(p))


def septuplet_folders(root: str | os.PathLike[str], list_file: str | os.PathLike[str] | None = None) -> list[Path]:
    """Folders below ``root`` holding ``im1.png .. im7.png``, in name order (or ``list_file``'s)."""
    base = Path(root)
    if list_file is not None:
        entries = [ln.strip() for ln in Path(list_file).read_text().splitlines() if ln.strip()]
        folders = [base / e for e in entries]
        missing = [str(f) for f in folders if not all((f / n).is_file() for n in SEPTUPLET)]
        if missing:
            raise ValueError(f"{len(missing)} listed septuplets lack im1..im7.png, e.g. {missing[0]}")
        return folders
    found = [d for d in [base, *sorted(base.rglob("*"))] if d.is_dir() and all((d / n).is_file() for n in SEPTUPLET)]
    return found


def open_dataset(
    path: str | os.PathLike[str], *, list_file: str | os.PathLike[str] | None = None
) -> list[ClipSource]:
    """The clips of a video file, frame folder, folder of clips or septuplet tree (module docs)."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"no such dataset: {p}")
    if _is_video(p):
        return [ClipSource(p.stem, str(p), "video")]
    if not p.is_dir():
        raise ValueError(f"{p} is neither a video file ({', '.join(VIDEO_SUFFIXES)}) nor a folder")
    septs = septuplet_folders(p, list_file)
    if septs:
        return [
            ClipSource(str(s.relative_to(p)) if s != p else p.name, str(s), "septuplet", SEPTUPLET) for s in septs
        ]
    if _is_frame_folder(p):
        return [ClipSource(p.name, str(p), "folder")]
    out = []
    for q in sorted(p.iterdir()):
        if _is_video(q):
            out.append(ClipSource(q.stem, str(q), "video"))
        elif _is_frame_folder(q):
            out.append(ClipSource(q.name, str(q), "folder"))
    if not out:
        raise ValueError(f"{p} holds no video files, PNG frame folders or im1..im7.png septuplets")
    return out


def iter_clips(sources: Sequence[ClipSource], max_frames: int | None = None) -> Iterator[Clip]:
    for s in sources:
        yield s.load(max_frames)
