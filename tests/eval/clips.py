"""Tiny synthetic clips written as PNG frame folders / septuplets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image


def moving_clip(n: int = 9, h: int = 32, w: int = 32, seed: int = 0) -> torch.Tensor:
    """(n, 3, h, w) smooth pattern shifting by one pixel per frame, quantised to 8 bits."""
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(3, h // 4, (w + n) // 4 + 2, generator=g)
    big = torch.nn.functional.interpolate(base[None], scale_factor=4, mode="bilinear", align_corners=False)[0]
    frames = torch.stack([big[:, :h, i : i + w] for i in range(n)])
    return (frames.clamp(0, 1) * 255).round() / 255


def write_folder(folder: Path, frames: torch.Tensor, names: list[str] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(frames):
        arr = (f.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        Image.fromarray(arr).save(folder / (names[i] if names else f"{i:04d}.png"))
    return folder


def write_septuplets(root: Path, count: int = 2, h: int = 32, w: int = 32) -> Path:
    for k in range(count):
        write_folder(root / "sequences" / "00001" / f"{k + 1:04d}", moving_clip(7, h, w, seed=k),
                     [f"im{i}.png" for i in range(1, 8)])
    return root / "sequences"
