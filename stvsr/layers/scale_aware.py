"""Scale-aware convolution and adaptation (ArbSR, Wang et al., ICCV 2021), as used by MsMr.

- :class:`SAConv` (ArbSR's ``SA_conv``): a bias-free convolution whose kernel is a
  softmax mixture of ``num_experts`` expert kernels; the mixture weights come from
  a small MLP on ``(1/scale_h, 1/scale_w)``, so one network adapts to every scale.
- :class:`SAAdapt` (ArbSR's ``SA_adapt``): ``x + SAConv(x) * mask(x)`` with a
  spatial mask from a small conv/BatchNorm branch (computed at half resolution).
- :class:`ScaleAwareResidualBlocks`: input conv + residual blocks with an
  :class:`SAAdapt` after every ``every`` blocks (MsMr's ``..._insert_sav``).

The masks contain BatchNorm: use ``model.eval()`` for inference (converted
checkpoints come back in eval mode). Training from scratch works in train mode
as usual; fine-tuning on small batches is best done with the BatchNorm layers
frozen (``m.eval()`` on every ``nn.BatchNorm2d``).

Key names follow the authors' code (``weight_pool``, ``routing.{0,2}``,
``mask.{0,1,4,5,7,8,11,12}``, ``adapt.*``, ``conv1``, ``main.{i}``, ``sa_adapt.{j}``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from stvsr.layers.blocks import ResidualBlockNoBN

__all__ = ["SAAdapt", "SAConv", "SA_adapt", "SA_conv", "ScaleAwareResidualBlocks"]


class SAConv(nn.Module):
    """Scale-aware expert convolution.

    ``forward(x, scale_h, scale_w)``: ``x`` is ``(B, C_in, H, W)``; returns
    ``(B, C_out, H', W')`` (``H' = H`` with the default stride 1 / padding 1).
    The expert mixture is routed by ``(1/scale_h, 1/scale_w)``, in that order.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        padding: int = 1,
        num_experts: int = 4,
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.num_experts = num_experts
        self.routing = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, num_experts), nn.Softmax(dim=-1))
        pool = torch.empty(num_experts, out_channels, in_channels, kernel_size, kernel_size)
        for e in range(num_experts):
            nn.init.kaiming_uniform_(pool[e], a=math.sqrt(5))
        self.weight_pool = nn.Parameter(pool)

    def expert_weights(self, scale_h: float, scale_w: float, like: torch.Tensor) -> torch.Tensor:
        """The ``(num_experts,)`` softmax routing weights for a scale pair."""
        inv = torch.tensor([[1.0 / scale_h, 1.0 / scale_w]], dtype=like.dtype, device=like.device)
        return self.routing(inv)[0]

    def forward(self, x: torch.Tensor, scale_h: float, scale_w: float) -> torch.Tensor:
        route = self.expert_weights(scale_h, scale_w, x)
        weight = torch.einsum("e,eoikl->oikl", route, self.weight_pool.to(x.dtype))
        return F.conv2d(x, weight, None, self.stride, self.padding)


class SAAdapt(nn.Module):
    """Scale-aware adaptation: ``x + SAConv(x) * mask(x)``.

    ``forward(x, scale_h, scale_w)``: ``(B, C, H, W) -> (B, C, H, W)``. The mask
    branch pools by 2 and upsamples back; odd ``H``/``W`` are handled by
    replicate-padding the mask branch to even and cropping (the authors' code
    needs even sizes; for even sizes the result is identical).

    Args:
        channels: ``C``.
        mask_channels: width of the mask branch (16 in MsMr's trunk, 32 in its upsamplers).
        num_experts: experts of the inner :class:`SAConv`.
    """

    def __init__(self, channels: int, mask_channels: int = 16, num_experts: int = 4) -> None:
        super().__init__()
        m = mask_channels
        self.mask = nn.Sequential(
            nn.Conv2d(channels, m, 3, 1, 1),
            nn.BatchNorm2d(m),
            nn.ReLU(),
            nn.AvgPool2d(2),
            nn.Conv2d(m, m, 3, 1, 1),
            nn.BatchNorm2d(m),
            nn.ReLU(),
            nn.Conv2d(m, m, 3, 1, 1),
            nn.BatchNorm2d(m),
            nn.ReLU(),
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
            nn.Conv2d(m, 1, 3, 1, 1),
            nn.BatchNorm2d(1),
            nn.Sigmoid(),
        )
        self.adapt = SAConv(channels, channels, 3, 1, 1, num_experts=num_experts)

    def spatial_mask(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 1, H, W)`` mask in (0, 1)."""
        h, w = x.shape[-2:]
        ph, pw = h % 2, w % 2
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        return self.mask(x)[..., :h, :w]

    def forward(self, x: torch.Tensor, scale_h: float, scale_w: float) -> torch.Tensor:
        return x + self.adapt(x, scale_h, scale_w) * self.spatial_mask(x)


class ScaleAwareResidualBlocks(nn.Module):
    """Input conv + LeakyReLU(0.1) + residual blocks with an :class:`SAAdapt` after every ``every`` blocks.

    ``forward(x, scale_h, scale_w)``: ``(B, in_channels, H, W) -> (B, out_channels, H, W)``.
    Keys: ``conv1``, ``main.{i}.conv{1,2}``, ``sa_adapt.{j}.*`` (``num_blocks // every`` adapters).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int = 64,
        num_blocks: int = 30,
        every: int = 5,
        mask_channels: int = 16,
        num_experts: int = 4,
    ) -> None:
        super().__init__()
        self.every = every
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(0.1)
        self.main = nn.ModuleList([ResidualBlockNoBN(out_channels) for _ in range(num_blocks)])
        self.sa_adapt = nn.ModuleList(
            [SAAdapt(out_channels, mask_channels, num_experts) for _ in range(num_blocks // every)]
        )

    def forward(self, x: torch.Tensor, scale_h: float, scale_w: float) -> torch.Tensor:
        x = self.lrelu(self.conv1(x))
        for i, block in enumerate(self.main):
            x = block(x)
            if (i + 1) % self.every == 0:
                x = self.sa_adapt[(i + 1) // self.every - 1](x, scale_h, scale_w)
        return x


# ArbSR's names, for readers coming from the original code
SA_conv = SAConv
SA_adapt = SAAdapt
