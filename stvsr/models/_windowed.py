"""Run a clip model over a long video in overlapping windows of key frames (bounded memory).

Works for every model with the stvsr ``task="stvsr"`` forward contract
``model(lr (B, T, C, h, w), **kwargs) -> (B, T + (T-1)*K, C, H, W)`` ordered
``[key0, t1..tK, key1, ...]`` (``K`` = frames inserted per interval, inferred from the
first window's output).

How window borders are treated:

- Windows are ``window`` consecutive LR key frames, started every ``window - overlap``
  frames; the last window is shifted back to end at the last frame (so every window is
  full-length and the overlap at the end may be larger).
- Every output slot (a key frame ``j``, or the ``K`` frames of interval ``(j, j+1)``,
  positioned at ``j + 0.5``) is taken from the window in which it is farthest from the
  window border (distance ``min(pos - start, end - pos)``); ties go to the earlier window.
  So recurrent models see as much context on both sides as the windows give, and the
  ``K`` frames of an interval always come from the same window.
- With ``window >= T`` there is one window and the result equals ``model(lr, **kwargs)``.

:func:`iter_windowed` yields finished output frames in order (for streaming writers);
:func:`windowed_forward` concatenates them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch

__all__ = ["iter_windowed", "plan_windows", "windowed_forward"]


def plan_windows(num_frames: int, window: int, overlap: int) -> list[tuple[int, int]]:
    """The ``[(start, end), ...]`` key-frame windows (``end`` exclusive) covering ``num_frames``."""
    if isinstance(window, bool) or not isinstance(window, int) or window < 2:
        raise ValueError(f"window must be an int >= 2 (key frames per call), got {window!r}")
    if isinstance(overlap, bool) or not isinstance(overlap, int) or not 0 <= overlap < window:
        raise ValueError(f"overlap must be an int in [0, window), got {overlap!r} for window {window}")
    if num_frames <= window:
        return [(0, num_frames)]
    # consecutive windows must share at least one key frame so every interval lies inside one
    step = max(1, min(window - overlap, window - 1))
    starts = list(range(0, num_frames - window + 1, step))
    if starts[-1] + window < num_frames:
        starts.append(num_frames - window)
    return [(s, s + window) for s in starts]


def _owners(windows: list[tuple[int, int]], num_frames: int) -> tuple[list[int], list[int]]:
    """Window index owning each key frame and each interval (farthest from a border, ties earlier)."""

    def best(pos: float, lo: int, hi: int) -> int:
        # windows holding key frames lo..hi; distance of pos from the nearest window border
        choice, dist = -1, -1.0
        for k, (s, e) in enumerate(windows):
            if s <= lo and hi < e:
                d = min(pos - s, (e - 1) - pos)
                if d > dist:
                    choice, dist = k, d
        return choice

    keys = [best(float(j), j, j) for j in range(num_frames)]
    gaps = [best(j + 0.5, j, j + 1) for j in range(num_frames - 1)]
    return keys, gaps


def iter_windowed(
    model: Callable[..., torch.Tensor], lr: torch.Tensor, window: int, overlap: int = 2, **kwargs: Any
) -> Iterator[torch.Tensor]:
    """Yield the output frames ``(B, C, H, W)`` of ``model`` over ``lr (B, T, C, h, w)`` in order.

    Args:
        model: a clip model with the stvsr forward contract.
        lr: the whole low-resolution clip (it may live on the CPU; each window is moved by the model call).
        window: key frames per model call (>= 2).
        overlap: key frames shared by consecutive windows (``0 <= overlap < window``; at least one
            frame is always shared so that every interval has both its key frames in one window).
        **kwargs: passed to every call (``scale=``, ``times=``, ...).
    """
    if not isinstance(lr, torch.Tensor) or lr.dim() != 5:
        raise ValueError(f"lr must be a (B, T, C, h, w) tensor, got {getattr(lr, 'shape', type(lr))}")
    n = lr.shape[1]
    if n < 2:
        raise ValueError(f"lr must have at least 2 frames, got {n}")
    windows = plan_windows(n, window, overlap)
    key_owner, gap_owner = _owners(windows, n)
    k_per_gap: int | None = None
    for w_index, (s, e) in enumerate(windows):
        out = model(lr[:, s:e], **kwargs)
        frames_in = e - s
        if k_per_gap is None:
            extra = out.shape[1] - frames_in
            if extra % (frames_in - 1):
                raise ValueError(f"model returned {out.shape[1]} frames for {frames_in} key frames")
            k_per_gap = extra // (frames_in - 1)
        stride = k_per_gap + 1
        for j in range(s, e):
            if key_owner[j] == w_index:
                yield out[:, (j - s) * stride]
            if j + 1 < e and gap_owner[j] == w_index:
                base = (j - s) * stride + 1
                for k in range(k_per_gap):
                    yield out[:, base + k]
        del out


def windowed_forward(
    model: Callable[..., torch.Tensor], lr: torch.Tensor, window: int, overlap: int = 2, **kwargs: Any
) -> torch.Tensor:
    """``(B, T + (T-1)*K, C, H, W)``: :func:`iter_windowed` stacked along dim 1."""
    return torch.stack(list(iter_windowed(model, lr, window, overlap, **kwargs)), dim=1)
