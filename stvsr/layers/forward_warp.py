"""Softmax-splatting forward warping with a learnable importance metric (MsMr's variant).

Softmax splatting (Niklaus & Liu, CVPR 2020) moves every source pixel along its
flow and blends colliding pixels with weights ``exp(Z)``. MsMr derives the
importance metric ``Z`` from how badly a frame is explained by backward-warping
the other frame, with one learnable scale ``s`` (``paramScale``, initialised to
-1 as in the authors' code)::

    Z_{a->b} = -20 * s * mean_c | I_a - backwarp(I_b, F_{a->b}) |

With ``s = -1`` this is ``+20 * error`` (the sign the authors' trained weights
carry; the double negation is theirs). ``Z`` is computed once at full
resolution and bilinearly resized for coarser pyramid levels (values unscaled).

:func:`fill_holes` is the authors' asymmetric cross hole filling of two splatted
tensors (a value ``<= 0`` counts as a hole).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from stvsr.ops.softsplat import softsplat
from stvsr.ops.warp import backward_warp

__all__ = ["SoftmaxForwardWarp", "fill_holes"]


def fill_holes(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-fill two splatted tensors of the same shape.

    First ``a`` takes ``b``'s value wherever ``a <= 0``; then ``b`` takes the
    *already filled* ``a`` wherever ``b <= 0`` (MsMr's order, asymmetric on purpose).
    """
    a = torch.where(a > 0, a, b)
    b = torch.where(b > 0, b, a)
    return a, b


class SoftmaxForwardWarp(nn.Module):
    """Softmax splatting with MsMr's learnable backward-warping-error metric.

    Holds one parameter, ``paramScale`` of shape ``(1, 1, 1, 1)``.

    - :meth:`importance` ``(img_a (B,C,H,W), img_b (B,C,H,W), flow_ab (B,2,H,W) px)``
      -> ``Z (B, 1, H, W)``.
    - :meth:`resize_metric` ``(Z, (h, w))`` -> bilinear (align_corners=False), values unscaled.
    - :meth:`forward` ``(x (B,C,H,W), flow (B,2,H,W) px [x, y], metric (B,1,H,W))`` -> splatted
      ``(B, C, H, W)``; targets no source reaches are 0 (zero denominators become 1).
    """

    def __init__(self, init_scale: float = -1.0) -> None:
        super().__init__()
        self.paramScale = nn.Parameter(torch.full((1, 1, 1, 1), float(init_scale)))

    def importance(self, img_a: torch.Tensor, img_b: torch.Tensor, flow_ab: torch.Tensor) -> torch.Tensor:
        err = (img_a - backward_warp(img_b, flow_ab, padding_mode="zeros", align_corners=True)).abs()
        return -20.0 * self.paramScale.to(img_a.dtype) * err.mean(dim=1, keepdim=True)

    @staticmethod
    def resize_metric(metric: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        if tuple(metric.shape[-2:]) == tuple(size):
            return metric
        return F.interpolate(metric, size=size, mode="bilinear", align_corners=False)

    def forward(self, x: torch.Tensor, flow: torch.Tensor, metric: torch.Tensor) -> torch.Tensor:
        return softsplat(x, flow, metric, mode="soft")
