"""Parameter-free space-time baselines: bicubic in space, frame repeat or linear blend in time.

They implement the stvsr forward contract for any scale and any time stamps and
have no weights (``stvsr.load("bicubic_blend")`` builds them). Space uses
MATLAB-compatible bicubic (:func:`stvsr.ops.imresize`, what the papers call BI).
They are the reference points every learned model should beat, and cheap stand-ins
for the video pipeline's tests.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from stvsr._validate import check_pair_times, check_scale, check_video
from stvsr.models._base import StvsrModel
from stvsr.models._capabilities import Capabilities
from stvsr.models._registry import register_model
from stvsr.ops import imresize

__all__ = ["BicubicBaseline", "bicubic_blend", "bicubic_repeat"]

_MODES = ("repeat", "blend")


def upscale_frames(lr: torch.Tensor, scale_h: float, scale_w: float) -> torch.Tensor:
    """Bicubic (MATLAB) upscale of ``(B, T, C, h, w)`` to ``(B, T, C, round(sh*h), round(sw*w))``."""
    h, w = lr.shape[-2:]
    out_h, out_w = max(1, round(scale_h * h)), max(1, round(scale_w * w))
    # MATLAB's own size rule is ceil(s*n); use the factor itself whenever it gives the contract's
    # size (exact kernel positions), else ask for the size (factor out/in per axis)
    if (math.ceil(round(scale_h * h, 8)), math.ceil(round(scale_w * w, 8))) == (out_h, out_w):
        return imresize(lr, scale=(scale_h, scale_w))
    return imresize(lr, size=(out_h, out_w))


class BicubicBaseline(StvsrModel):
    """Bicubic space upscaling with frame repeat (``mode="repeat"``) or blend (``"blend"``) in time.

    ``config`` is ``{"mode": ..., "clamp": ...}`` and ``BicubicBaseline(**config)``
    rebuilds it. It has no parameters.

    Args:
        mode: ``"repeat"``: a frame at time ``t`` between key frames ``i`` and ``i+1`` is
            key ``i`` for ``t <= 0.5`` and key ``i+1`` otherwise (a tie duplicates the
            earlier frame, as frame-rate conversion by duplication does); ``"blend"``:
            ``(1 - t) * key_i + t * key_{i+1}``.
        clamp: clamp the output to [0, 1] (bicubic overshoots at edges).
    """

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(task="stvsr", min_frames=1, per_pair_times=True)

    def __init__(self, mode: str = "blend", clamp: bool = True) -> None:
        super().__init__()
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
        self.mode = mode
        self.clamp = bool(clamp)
        self.config: dict[str, Any] = {"mode": mode, "clamp": self.clamp}

    def forward(
        self,
        lr: torch.Tensor,
        scale: float | Sequence[float] = 4.0,
        times: float | Sequence[float] | Sequence[Sequence[float]] = (0.5,),
    ) -> torch.Tensor:
        """Upscale ``lr`` in space and time.

        Args:
            lr: ``(B, T, 3, h, w)`` RGB in [0, 1], T >= 1.
            scale: space factor or ``(scale_h, scale_w)``, any positive value.
            times: stamps in (0, 1) of the frames made between each pair of key frames, or one
                sequence of them per pair (``T - 1``; output ``[key0, pair 0's times, key1, ...]``).

        Returns:
            ``(B, T + (T - 1) * K, 3, round(sh * h), round(sw * w))`` with K = len(times),
            frames ordered ``[key0, t1..tK, key1, ...]``.
        """
        lr = check_video(lr, "lr")
        sh, sw = check_scale(scale)
        pair_times = check_pair_times(times, lr.shape[1] - 1)
        up = upscale_frames(lr, sh, sw)  # (B, T, C, H, W)
        if any(pair_times):
            frames = []
            for i, ts in enumerate(pair_times):
                prev, nxt = up[:, i], up[:, i + 1]
                frames.append(prev)
                if self.mode == "repeat":
                    frames += [prev if t <= 0.5 else nxt for t in ts]
                else:
                    frames += [prev + t * (nxt - prev) for t in ts]
            up = torch.stack([*frames, up[:, -1]], dim=1)
        return up.clamp(0, 1) if self.clamp else up


_CARD: dict[str, Any] = {
    "paper": {
        "title": "Cubic convolution interpolation for digital image processing",
        "venue": "IEEE TASSP",
        "year": 1981,
    },
    "authors_repo": None,
    "licence": "Apache-2.0",
    "params": 0,
    "conformance": None,
    "weights_free": True,
    "provenance": "stvsr's own baseline: MATLAB-compatible bicubic (a=-0.5, antialias) via stvsr.ops.imresize",
}


@register_model(
    "bicubic_repeat",
    card={**_CARD, "summary": "Bicubic space upscaling with nearest-in-time frame repeat (no parameters)."},
)
def bicubic_repeat(**overrides: Any) -> BicubicBaseline:
    return BicubicBaseline(**{"mode": "repeat", **overrides})


@register_model(
    "bicubic_blend",
    card={**_CARD, "summary": "Bicubic space upscaling with linear blending in time (no parameters)."},
)
def bicubic_blend(**overrides: Any) -> BicubicBaseline:
    return BicubicBaseline(**{"mode": "blend", **overrides})
