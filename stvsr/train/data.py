"""Training data: random space-time crops of any video files or PNG frame folders, degraded on the fly.

Determinism. Every batch is a pure function of ``(seed, step, rank)``: the
batch-level choices (space scale, key interval, time stamps: the same for every
sample of a batch so the batch stacks) come from a generator seeded with
``(seed, step)``, each sample's choices (clip, position, augmentation) from one
seeded with ``(seed, step, rank, slot)``. The sampler state saved in a checkpoint
is therefore just ``{"seed", "step"}`` and a resumed run sees exactly the batches
an uninterrupted run would have seen, whatever the number of loader restarts.

One sample (``make_batch``):

1. clip: uniform over clips (each long enough for the span); start frame uniform;
2. time: ``a`` GT frames per key interval (``fixed``: ``a = 2``, ``times = (0.5,)``;
   ``arbitrary``: ``a`` uniform in ``[2, max_interval]`` and ``K`` stamps ``j / a``
   drawn without replacement from ``j = 1..a-1``, sorted) and ``keys`` key frames,
   so the sample spans ``(keys - 1) * a + 1`` GT frames; targets are the keys and the
   frames at the chosen stamps between them, ordered as the model outputs them;
3. space: an HR crop; ``fixed`` scale ``s`` or (``arbitrary``) ``s`` uniform in
   ``[scale_min, scale_max]``; the LR crop is ``h = floor(crop / s)`` pixels, or
   ``h = lr_crop`` when that is set (the cost of a step then no longer grows as ``1/s**2``
   at small scales), and the HR crop ``round(s * h)``, so ``round(s * h)`` is exactly the
   output size;
4. augmentation: horizontal / vertical flips, transpose (square crops), time reversal,
   each with probability 1/2;
5. degradation: :func:`stvsr.ops.degrade`, the code the evaluation protocols use: ``bi``
   (MATLAB bicubic :func:`stvsr.ops.imresize`) or ``bd`` (:func:`stvsr.ops.bd_degrade`,
   BasicVSR / MMEditing's BDx4, integer scales), LR rounded to 8-bit values when
   ``quantize_lr`` (else clamped to [0, 1]).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from stvsr.ops.degradation import degrade
from stvsr.ops.resize import imresize

if TYPE_CHECKING:
    from stvsr.eval.datasets import ClipSource

__all__ = ["Batch", "ClipBank", "DataConfig", "make_batch"]


@dataclass
class DataConfig:
    """The ``data:`` section of a training config (module docs for the sampling rules)."""

    paths: Sequence[str] = ()
    crop: int = 128  # HR crop side before the scale rounding
    lr_crop: int | None = None  # fixed LR crop side instead (HR side round(s * lr_crop))
    keys: int = 4  # LR key frames per sample
    degradation: str = "bi"  # "bi" | "bd"
    scale: float | str = 4.0  # a number or "arbitrary"
    scale_min: float = 1.0
    scale_max: float = 4.0
    time: str = "fixed"  # "fixed" (t = 0.5) | "arbitrary" | "none" (space only)
    max_interval: int = 8  # arbitrary time: most GT frames per key interval
    max_times: int = 3  # arbitrary time: most stamps per interval
    augment: bool = True
    quantize_lr: bool = True
    max_frames: int | None = None  # read at most this many frames per clip
    max_side: int | None = None  # bicubic-shrink clips whose longer side exceeds this (memory)


@dataclass
class Batch:
    lr: torch.Tensor  # (B, T, 3, h, w) float in [0, 1]
    gt: torch.Tensor  # (B, T + (T-1)K, 3, H, W)
    scale: tuple[float, float]
    times: tuple[float, ...]

    def to(self, device: torch.device | str) -> Batch:
        """The same batch with its frames on ``device``."""
        return Batch(self.lr.to(device), self.gt.to(device), self.scale, self.times)


class ClipBank:
    """Clips held in memory as uint8 ``(T, 3, H, W)`` tensors (videos or PNG folders)."""

    def __init__(self, paths: Sequence[str | os.PathLike[str]], *, max_frames: int | None = None,
                 max_side: int | None = None) -> None:
        from stvsr.eval.datasets import open_dataset

        if not paths:
            raise ValueError("data.paths is empty: give video files or frame folders")
        self.clips: list[torch.Tensor] = []
        self.names: list[str] = []
        for p in paths:
            for src in open_dataset(p):
                self.clips.append(self._load(src, max_frames, max_side))
                self.names.append(src.name)

    @classmethod
    def cached(cls, paths: Sequence[str | os.PathLike[str]], cache: str | os.PathLike[str], *,
               max_side: int | None = None) -> ClipBank:
        """The bank of ``paths``, read from ``cache`` (a ``torch.save`` of its clips) when that exists,
        else built and written there: decoding and shrinking the clips takes minutes on two cores.

        ``cache`` is a file, or an existing folder in which the file is named after the clip folders
        (``bank_<name>_<name>.pt``), so that runs over the same footage share it."""
        path = Path(cache)
        if path.is_dir():
            path = path / ("bank_" + "_".join(Path(p).name for p in paths) + ".pt")
        if path.exists():
            bank = cls.__new__(cls)
            saved = torch.load(path, weights_only=True)
            bank.clips, bank.names = list(saved["clips"]), list(saved["names"])
            return bank
        bank = cls(paths, max_side=max_side)
        tmp = path.with_name(f".{path.name}.tmp")
        torch.save({"clips": bank.clips, "names": bank.names}, tmp)
        os.replace(tmp, path)
        return bank

    @staticmethod
    def _load(src: ClipSource, max_frames: int | None, max_side: int | None) -> torch.Tensor:
        """One clip as uint8, decoded and shrunk frame by frame so that the peak memory is the
        uint8 clip (a 795-frame 768x576 video held as float32 first would take 4 GB)."""
        from stvsr.video.io import read_frames

        files = getattr(src, "files", None)
        frames = (iter(src.load(max_frames).frames) if files
                  else (fr.image for fr in read_frames(src.path)))
        out: list[torch.Tensor] = []
        for frame in frames:
            if max_side and max(frame.shape[-2:]) > max_side:
                f = max_side / max(frame.shape[-2:])
                size = (max(1, round(frame.shape[-2] * f)), max(1, round(frame.shape[-1] * f)))
                frame = imresize(frame, size=size).clamp(0, 1)
            out.append((frame * 255).round().to(torch.uint8))
            if max_frames and len(out) >= max_frames:
                break
        if not out:
            raise ValueError(f"{src.path} has no decodable frames")
        sizes = {tuple(f.shape) for f in out}
        if len(sizes) != 1:
            raise ValueError(f"{src.path}: frames have different sizes {sorted(sizes)}")
        return torch.stack(out)

    def __len__(self) -> int:
        return len(self.clips)


def _gen(*parts: int) -> torch.Generator:
    g = torch.Generator()
    seed = 0
    for p in parts:  # a simple, stable mix of the parts into 63 bits
        seed = (seed * 1_000_003 + int(p) + 0x9E3779B9) % (2**63 - 1)
    g.manual_seed(seed)
    return g


def _uniform(g: torch.Generator, lo: float, hi: float) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=g, dtype=torch.float64))


def _randint(g: torch.Generator, lo: int, hi: int) -> int:
    """Uniform integer in ``[lo, hi]``."""
    return int(torch.randint(lo, hi + 1, (), generator=g))


def batch_params(cfg: DataConfig, seed: int, step: int) -> tuple[float, int, tuple[int, ...]]:
    """``(scale, a, js)`` shared by a batch: space scale, GT frames per interval, stamps ``j`` (``t = j / a``)."""
    g = _gen(seed, step, 7)
    if cfg.scale == "arbitrary":
        s = round(_uniform(g, cfg.scale_min, cfg.scale_max), 3)
    else:
        s = float(cfg.scale)
    if cfg.time == "fixed":
        return s, 2, (1,)
    if cfg.time == "none":
        return s, 1, ()
    if cfg.time != "arbitrary":
        raise ValueError(f"data.time must be 'fixed', 'arbitrary' or 'none', got {cfg.time!r}")
    a = _randint(g, 2, max(2, cfg.max_interval))
    k = _randint(g, 1, min(cfg.max_times, a - 1))
    js = tuple(sorted(int(j) + 1 for j in torch.randperm(a - 1, generator=g)[:k].tolist()))
    return s, a, js


def _degrade(hr: torch.Tensor, s: float, size: tuple[int, int], cfg: DataConfig) -> torch.Tensor:
    """LR of ``hr`` ``(..., 3, H, W)`` under ``cfg.degradation`` (:func:`stvsr.ops.degrade`), ``(..., 3, *size)``."""
    if cfg.degradation not in ("bi", "bd"):
        raise ValueError(f"data.degradation must be 'bi' or 'bd', got {cfg.degradation!r}")
    return degrade(hr, cfg.degradation, s, size=size, quantize=cfg.quantize_lr)


def make_batch(bank: ClipBank, cfg: DataConfig, *, seed: int, step: int, rank: int = 0, batch_size: int = 1) -> Batch:
    """The batch of ``(seed, step, rank)`` (module docs)."""
    s, a, js = batch_params(cfg, seed, step)
    span = (cfg.keys - 1) * a + 1
    if cfg.lr_crop is not None:
        if int(cfg.lr_crop) < 1:
            raise ValueError(f"data.lr_crop must be a positive number of LR pixels, got {cfg.lr_crop}")
        h = int(cfg.lr_crop)
    else:
        h = math.floor(cfg.crop / s + 1e-9)
        if h < 1:
            raise ValueError(f"crop {cfg.crop} is smaller than the scale {s}")
    hr_side = round(s * h)
    usable = [i for i, c in enumerate(bank.clips) if c.shape[0] >= span and min(c.shape[-2:]) >= hr_side]
    if not usable:
        raise ValueError(f"no clip has {span} frames of at least {hr_side}x{hr_side} pixels")
    # GT positions inside the span: keys and the chosen stamps, in output order
    idx = []
    for k in range(cfg.keys):
        idx.append(k * a)
        if k < cfg.keys - 1:
            idx.extend(k * a + j for j in js)
    lrs, gts = [], []
    for slot in range(batch_size):
        g = _gen(seed, step, rank, slot, 11)
        clip = bank.clips[usable[_randint(g, 0, len(usable) - 1)]]
        t0 = _randint(g, 0, clip.shape[0] - span)
        y0 = _randint(g, 0, clip.shape[-2] - hr_side)
        x0 = _randint(g, 0, clip.shape[-1] - hr_side)
        seg = clip[t0 : t0 + span, :, y0 : y0 + hr_side, x0 : x0 + hr_side].float() / 255
        if cfg.augment:
            flips = torch.rand(4, generator=g).tolist()
            if flips[0] < 0.5:
                seg = seg.flip(-1)
            if flips[1] < 0.5:
                seg = seg.flip(-2)
            if flips[2] < 0.5:
                seg = seg.transpose(-1, -2)
            if flips[3] < 0.5:
                seg = seg.flip(0)  # time reversal
        # after a time reversal the span is a valid (backwards) video: the same positions hold the
        # keys and the frames at the same stamps between them
        gt = seg[idx]
        lrs.append(_degrade(seg[[k * a for k in range(cfg.keys)]], s, (h, h), cfg))
        gts.append(gt)
    times = tuple(j / a for j in js)
    return Batch(torch.stack(lrs), torch.stack(gts), (s, s), times)
