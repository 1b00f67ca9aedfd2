"""Validation of trained STVSR weights on a held-out clip: the figures the training tools log and select by.

Never Vid4: septuplets (x4 space / x2 time, LR frames 1, 3, 5, 7 in, all 7 scored on Y) and nonuplets
(keys 4 frames apart, ``t = 0.25 / 0.5 / 0.75``, any space scale) of a clip the training data does not
hold, each against the parameter-free baseline: MATLAB-bicubic keys and linear blends.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from stvsr.metrics import psnr
from stvsr.ops.resize import imresize

__all__ = ["RunLog", "baseline_scores", "baseline_stvsr", "blend_keys", "build_val", "evaluate", "grid_gain", "grid_report", "read_clip"]


def read_clip(path: Path, frames: int) -> torch.Tensor:
    """The first ``frames`` frames of ``path`` as ``(T, 3, H, W)`` in [0, 1]."""
    from stvsr.video.io import read_frames

    out = []
    for k, fr in enumerate(read_frames(path)):
        if k >= frames:
            break
        out.append(fr.image)
    return torch.stack(out)


def build_val(
    path: Path, *, starts: tuple[int, ...] = (10, 60, 110, 160), size: tuple[int, int] = (256, 448), scale: int = 4
) -> dict[str, torch.Tensor]:
    """Septuplets of ``path``: centre crops ``size`` (H, W) of 7 consecutive frames; LR = frames 0,2,4,6."""
    clip = read_clip(path, max(starts) + 7)
    h, w = size
    y0, x0 = (clip.shape[-2] - h) // 2, (clip.shape[-1] - w) // 2
    gts = torch.stack([clip[s : s + 7, :, y0 : y0 + h, x0 : x0 + w] for s in starts])
    lr = imresize(gts[:, ::2], scale=1.0 / scale).clamp(0, 1)
    lr = (lr * 255).round() / 255
    return {"gt": gts, "lr": lr}


def baseline_stvsr(lr: torch.Tensor, scale: float, out_size: tuple[int, int], times: tuple[float, ...]) -> torch.Tensor:
    """Bicubic (MATLAB) keys + linear blends: ``(B, T, 3, h, w) -> (B, T + (T-1)K, 3, H, W)``."""
    return blend_keys(imresize(lr, size=out_size).clamp(0, 1), times)


def blend_keys(up: torch.Tensor, times: tuple[float, ...]) -> torch.Tensor:
    """Upsampled keys ``(B, T, 3, H, W)`` with ``(1 - t) I0 + t I1`` between each pair: ``[key0, t.., key1, ...]``."""
    out = []
    for i in range(up.shape[1]):
        if i:
            out += [(1 - t) * up[:, i - 1] + t * up[:, i] for t in times]
        out.append(up[:, i])
    return torch.stack(out, 1)


@torch.no_grad()
def evaluate(model: nn.Module, val: dict[str, torch.Tensor]) -> dict[str, float]:
    model.eval()
    preds = torch.cat([model(val["lr"][i : i + 1], scale=4.0, times=(0.5,)) for i in range(len(val["lr"]))])
    p = psnr(preds, val["gt"], y_channel=True)  # (N, 7)
    return {"all": p.mean().item(), "key": p[:, ::2].mean().item(), "mid": p[:, 1::2].mean().item()}


def baseline_scores(val: dict[str, torch.Tensor]) -> dict[str, float]:
    gt = val["gt"]
    pred = baseline_stvsr(val["lr"], 4.0, (gt.shape[-2], gt.shape[-1]), (0.5,))
    p = psnr(pred, gt, y_channel=True)
    return {"all": p.mean().item(), "key": p[:, ::2].mean().item(), "mid": p[:, 1::2].mean().item()}


@torch.no_grad()
def grid_report(
    model: nn.Module,
    path: Path | torch.Tensor,
    *,
    scales: tuple[float, ...] = (2.0, 2.5, 3.0, 4.0),
    starts: tuple[int, ...] = (10, 60, 110, 160),
    size: tuple[int, int] = (256, 448),
) -> list[dict[str, Any]]:
    """Y-PSNR of ``model`` and of bicubic + linear blend per (space scale, time stamp).

    Nonuplets of ``path`` (or of its frames already read, :func:`read_clip`): LR keys are frames
    0, 4, 8 (MATLAB bicubic at ``1/scale``, 8-bit), the model is asked for ``t = 0.25, 0.5, 0.75``
    and scored on frames 1-3 and 5-7 against the HR crop of ``size`` (H, W) cropped to
    ``round(scale * lr)``; keys are scored too (``t = 0``).
    """
    clip = path if isinstance(path, torch.Tensor) else read_clip(path, max(starts) + 9)
    h, w = size
    y0, x0 = (clip.shape[-2] - h) // 2, (clip.shape[-1] - w) // 2
    times = (0.25, 0.5, 0.75)
    rows = []
    model.eval()
    for s in scales:
        lh, lw = round(h / s), round(w / s)
        oh, ow = round(s * lh), round(s * lw)
        per_t: dict[float, list[tuple[float, float]]] = {t: [] for t in (0.0, *times)}
        for st in starts:
            gt = clip[st : st + 9, :, y0 : y0 + oh, x0 : x0 + ow][None]
            lr = imresize(gt[:, ::4], size=(lh, lw)).clamp(0, 1)
            lr = (lr * 255).round() / 255
            pred = model(lr, scale=s, times=times)
            base = baseline_stvsr(lr, s, (oh, ow), times)
            pm, pb = psnr(pred, gt, y_channel=True)[0], psnr(base, gt, y_channel=True)[0]
            for k in range(9):
                t = (0.0, *times)[k % 4]
                per_t[t].append((pm[k].item(), pb[k].item()))
        for t, vals in per_t.items():
            m = sum(v[0] for v in vals) / len(vals)
            b = sum(v[1] for v in vals) / len(vals)
            rows.append({"scale": s, "t": t, "model": round(m, 3), "baseline": round(b, 3), "gain": round(m - b, 3)})
    return rows


def grid_gain(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Mean and worst gain over the intermediate cells of :func:`grid_report` rows (what stage 3 selects by)."""
    mids = [r["gain"] for r in rows if r["t"] > 0]
    return {"grid_mean": sum(mids) / len(mids), "grid_min": min(mids)}


class RunLog:
    """A training run's journal in ``out``: timestamped ``log.txt`` lines (also printed) and every validation
    appended to ``history.json`` (kept across ``--resume``)."""

    def __init__(self, out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.start = time.time()
        self._file = open(out / "log.txt", "a")
        self.history_path = out / "history.json"
        self.history: list[dict[str, Any]] = (
            json.loads(self.history_path.read_text()) if self.history_path.exists() else []
        )

    def minutes(self) -> float:
        return (time.time() - self.start) / 60

    def __call__(self, msg: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')} +{self.minutes():6.1f} min] {msg}"
        print(line, flush=True)
        self._file.write(line + "\n")
        self._file.flush()

    def record(self, stage: str, step: int, scores: dict[str, float]) -> None:
        self.history.append({"stage": stage, "step": step, "minutes": round(self.minutes(), 2), **scores})
        self.history_path.write_text(json.dumps(self.history, indent=1))
        self(f"VAL {stage} step {step}: all {scores['all']:.3f} key {scores['key']:.3f} mid {scores['mid']:.3f}")
