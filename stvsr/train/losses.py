"""Training losses of the zoo's systems.

All take video or image tensors ``(..., C, H, W)`` in [0, 1] and return a scalar
(``reduction="mean"``, the default, or ``"sum"`` as MsMr's / MSITF's Charbonnier)
that is exactly 0 for identical inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from stvsr.ops.warp import backward_warp

__all__ = [
    "FlowContextConsistencyLoss",
    "charbonnier",
    "cvrs_losses",
    "structure_detail_loss",
    "structure_detail_split",
    "ternary",
]


def _reduce(x: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return x.mean()
    if reduction == "sum":
        return x.sum()
    raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")


def charbonnier(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-3, reduction: str = "mean") -> torch.Tensor:
    """Charbonnier penalty ``sqrt((pred - target)^2 + eps^2) - eps`` (a smooth L1).

    The constant ``eps`` is subtracted so identical inputs give exactly 0; gradients
    are those of the usual ``sqrt(d^2 + eps^2)``. MsMr's utility uses ``eps^2 = 1e-8``
    with sum reduction, MSITF ``eps = 1e-6`` (sum), RSDN ``1e-6``.

    Args:
        pred, target: same shape ``(..., C, H, W)``.
        eps: smoothing (> 0).
        reduction: ``"mean"`` or ``"sum"``.
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")
    d = pred - target
    return _reduce(torch.sqrt(d * d + eps * eps) - eps, reduction)


def _census(x: torch.Tensor, patch: int) -> torch.Tensor:
    """Soft census transform of ``(N, 3, H, W)``: ``(N, patch^2, H, W)``."""
    w = torch.tensor([0.299, 0.587, 0.114], dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    grey = (x * w).sum(1, keepdim=True) * 255
    eye = torch.eye(patch * patch, dtype=x.dtype, device=x.device).view(patch * patch, 1, patch, patch)
    neigh = F.conv2d(grey, eye, padding=patch // 2)
    diff = neigh - grey
    return diff / torch.sqrt(0.81 + diff * diff)


def ternary(pred: torch.Tensor, target: torch.Tensor, patch: int = 7, reduction: str = "mean") -> torch.Tensor:
    """Census / ternary loss (Meister et al. 2018; RIFE's and MsMr's ``Ternary``).

    Both images are turned to grey (BT.601 weights, 0..255), each pixel's ``patch x patch``
    neighbourhood differences are softly binarised ``d / sqrt(0.81 + d^2)``, and the
    per-neighbour distance ``e^2 / (0.1 + e^2)`` of the two transforms is averaged over
    neighbours; a ``patch // 2`` border (where neighbours fall outside) is ignored.

    Args:
        pred, target: ``(..., 3, H, W)`` in [0, 1], H and W larger than ``patch - 1``.
        patch: odd neighbourhood size (7).
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")
    if pred.shape[-3] != 3:
        raise ValueError(f"ternary needs RGB (..., 3, H, W), got {tuple(pred.shape)}")
    r = patch // 2
    a, b = pred.reshape(-1, *pred.shape[-3:]), target.reshape(-1, *target.shape[-3:])
    if min(a.shape[-2:]) <= 2 * r:
        raise ValueError(f"images of {tuple(a.shape[-2:])} are too small for a {patch}x{patch} census")
    e = _census(a, patch) - _census(b, patch)
    dist = (e * e / (0.1 + e * e)).mean(1)
    return _reduce(dist[:, r:-r, r:-r], reduction)


def structure_detail_split(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """RSDN's split of ``(..., C, H, W)``: structure ``S = up2(down2(x))`` (bilinear), detail ``D = x - S``."""
    flat = x.reshape(-1, *x.shape[-3:])
    h, w = flat.shape[-2:]
    low = F.interpolate(flat, size=(max(1, h // 2), max(1, w // 2)), mode="bilinear", align_corners=False)
    s = F.interpolate(low, size=(h, w), mode="bilinear", align_corners=False).reshape(x.shape)
    return s, x - s


def structure_detail_loss(
    pred: torch.Tensor,
    pred_structure: torch.Tensor,
    pred_detail: torch.Tensor,
    target: torch.Tensor,
    *,
    weights: tuple[float, float, float] = (1.0, 1.0, 1.0),
    eps: float = 1e-3,
) -> torch.Tensor:
    """RSDN's structure-detail loss, as used for FMU's key frames (RSDN recipe; FMU's own was not released).

    ``w_hr * C(pred, GT) + w_s * C(pred_s, S(GT)) + w_d * C(pred_d, D(GT))`` with Charbonnier
    ``C`` and the split of :func:`structure_detail_split` applied to the ground truth (FMU's
    ``FMUOutput.hr_keyframes``, ``hr_structure``, ``hr_detail``).
    """
    gs, gd = structure_detail_split(target)
    w_hr, w_s, w_d = weights
    return (
        w_hr * charbonnier(pred, target, eps)
        + w_s * charbonnier(pred_structure, gs, eps)
        + w_d * charbonnier(pred_detail, gd, eps)
    )


class FlowContextConsistencyLoss(nn.Module):
    """MsMr's optical-flow-guided context consistency loss, as this library reads it.

    The paper's body (and its training code) is not available; its abstract names an
    "optical-flow-guided context consistency loss" and the authors' repository ships an
    offline SPyNet flow generator for *HR* frames. Our reading: the output video should
    change from frame to frame the way the ground truth does, along the ground truth's
    motion. For every pair of consecutive output frames ``(y_i, y_{i+1})`` and ground
    truth frames ``(g_i, g_{i+1})``, with ``F`` the flow from frame ``i`` to ``i + 1``
    estimated by a frozen flow network on the **ground truth**:

        ``r_y = y_i - warp(y_{i+1}, F)``,  ``r_g = g_i - warp(g_{i+1}, F)``,
        ``L = mean(M * charbonnier(r_y - r_g))``

    where ``warp`` is backward warping and ``M`` masks pixels failing a forward-backward
    flow consistency check (``|F_fw + warp(F_bw, F_fw)|^2 < 0.01 (|F_fw|^2 + |warp(F_bw)|^2) + 0.5``,
    UnFlow's rule) and pixels warped from outside the frame. Comparing residuals (not
    ``y_i`` with the warped ``y_{i+1}``) makes the loss 0 for a perfect output even where
    the warp is imperfect, and it ties the interpolated frames' context to their key
    frames'. Flows are computed without gradients.

    Args:
        flow: a module ``flow(ref, supp) -> (N, 2, H, W)`` pixels ``[x, y]`` on ref's grid pointing
            into supp (SpyNet's convention), e.g. ``stvsr.load("spynet")``; frozen here.
        eps: Charbonnier smoothing.
    """

    def __init__(self, flow: nn.Module, eps: float = 1e-3) -> None:
        super().__init__()
        self.flow = flow.eval()
        for p in self.flow.parameters():
            p.requires_grad_(False)
        self.eps = eps

    def train(self, mode: bool = True) -> FlowContextConsistencyLoss:
        super().train(mode)
        self.flow.eval()  # always frozen
        return self

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``pred``, ``target``: ``(B, T, 3, H, W)``, T >= 2 -> scalar."""
        if pred.shape != target.shape or pred.dim() != 5 or pred.shape[1] < 2:
            raise ValueError(f"pred and target must be equal (B, T>=2, 3, H, W), got {tuple(pred.shape)}, "
                             f"{tuple(target.shape)}")
        g0, g1 = target[:, :-1].flatten(0, 1), target[:, 1:].flatten(0, 1)
        y0, y1 = pred[:, :-1].flatten(0, 1), pred[:, 1:].flatten(0, 1)
        with torch.no_grad():
            fw = self.flow(g0.float(), g1.float()).to(pred.dtype)  # on g0's grid, into g1
            bw = self.flow(g1.float(), g0.float()).to(pred.dtype)
            bw_at0 = backward_warp(bw, fw)
            sq = (fw + bw_at0).pow(2).sum(1, keepdim=True)
            ok = sq < 0.01 * (fw.pow(2).sum(1, keepdim=True) + bw_at0.pow(2).sum(1, keepdim=True)) + 0.5
            inside = backward_warp(torch.ones_like(g1[:, :1]), fw) > 0.999
            mask = (ok & inside).to(pred.dtype)
            r_g = g0 - backward_warp(g1, fw)
        r_y = y0 - backward_warp(y1, fw)
        d = r_y - r_g
        pen = torch.sqrt(d * d + self.eps**2) - self.eps
        return (pen * mask).sum() / (mask.sum() * pen.shape[1]).clamp_min(1)


def cvrs_losses(
    model: Any,
    hr: torch.Tensor,
    size: tuple[int, int, int],
    *,
    weights: Mapping[str, float] | None = None,
    quantize: Callable[[torch.Tensor], torch.Tensor] | None = None,
    eps: float = 1e-3,
) -> dict[str, torch.Tensor]:
    """CVRS training losses (our design: the authors removed their training code).

    CVRS downscales an HR clip ``(B, T, 3, H, W)`` into a latent ``(B, T', 3, H', W')``
    (``size = (T', H', W')``), hides it in an 8-bit-looking RGB "stego" video with the
    invertible IMSM, and reverses both. The three terms, from the research notes'
    reading of the released evaluation scripts (§2.2 of ``msmr_cvrs.md``):

    * ``reconstruction``: Charbonnier between ``decode(reveal(quantize(hide(encode(hr)))))``
      and ``hr``: the round trip through the stego video restores the HR clip;
    * ``stego``: Charbonnier between the stego video and its reference, nearest-in-time
      (frames ``round(i * (T - 1) / (T' - 1))``) and MATLAB-bicubic-in-space HR frames,
      so the downscaled video looks like a normal low-resolution one;
    * ``latent``: MSE between the latent revealed from the stego video and the encoded
      latent (IMSM's recovery; 0 in exact arithmetic without quantisation).

    Quantisation (8-bit rounding) uses a straight-through estimator by default, so
    gradients reach the encoder. Weights default to ``reconstruction 1, stego 1,
    latent 1`` and ``total`` is their weighted sum. Training in two stages (rescaler
    first with ``model.inverter`` frozen or absent, then IMSM) is done by choosing which
    parameters the optimiser holds; a model without an inverter uses the latent as
    the stego video (``latent`` is then 0).

    Args:
        model: a :class:`stvsr.models.cvrs.CVRS` (``encode``/``decode``; ``inverter``
            with ``hide``/``reveal`` if present).
        hr: ``(B, T, 3, H, W)`` in [0, 1].
        size: latent size ``(T', H', W')``.
    """
    from stvsr.ops.resize import imresize

    w = {"reconstruction": 1.0, "stego": 1.0, "latent": 1.0, **(weights or {})}
    q = quantize or (lambda x: x + ((x.clamp(0, 1) * 255).round() / 255 - x).detach())
    t_out, h_out, w_out = size
    latent = model.encode(hr, size, clamp=False)
    inverter = getattr(model, "inverter", None)
    stego = inverter.hide(latent, clamp=False) if inverter is not None else latent
    stego_q = q(stego)
    revealed = inverter.reveal(stego_q, clamp=False) if inverter is not None else stego_q
    out = model.decode(revealed, (hr.shape[1], hr.shape[-2], hr.shape[-1]), clamp=False)
    t_in = hr.shape[1]
    idx = [round(i * (t_in - 1) / max(1, t_out - 1)) for i in range(t_out)]
    ref = imresize(hr[:, idx], size=(h_out, w_out)).clamp(0, 1)
    losses = {
        "reconstruction": charbonnier(out, hr, eps),
        "stego": charbonnier(stego, ref, eps),
        "latent": F.mse_loss(revealed, latent) if inverter is not None else latent.new_zeros(()),
    }
    losses["total"] = sum(w[k] * v for k, v in losses.items())
    return losses
