"""Small building blocks shared by several models.

State-dict key names follow mmcv/mmedit (``conv``, ``conv1``/``conv2``, ``main``,
``upsample_conv``) so that authors' checkpoints built on those libraries load
without renaming.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ConvAct",
    "DropPath",
    "PixelShufflePack",
    "ResidualBlockNoBN",
    "ResidualBlocksWithInputConv",
    "make_layer",
]


def lrelu(x: torch.Tensor) -> torch.Tensor:
    """LeakyReLU with slope 0.1 (EDVR / BasicVSR / MsMr / MSITF's activation)."""
    return F.leaky_relu(x, 0.1)


def make_layer(block: type[nn.Module], num_blocks: int, **kwargs: object) -> nn.Sequential:
    """``nn.Sequential`` of ``num_blocks`` fresh ``block(**kwargs)``."""
    return nn.Sequential(*[block(**kwargs) for _ in range(num_blocks)])


class ConvAct(nn.Module):
    """``act(conv(x))``: mmcv's ``ConvModule`` without a norm layer (keys ``conv.weight``/``conv.bias``).

    Args:
        in_channels, out_channels, kernel_size, stride, padding: of the ``nn.Conv2d``.
        act: ``"lrelu"`` (LeakyReLU 0.1), ``"relu"`` or ``None``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        padding: int | None = None,
        act: str | None = "lrelu",
    ) -> None:
        super().__init__()
        if padding is None:
            padding = kernel_size // 2
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding)
        if act == "lrelu":
            self.act: nn.Module = nn.LeakyReLU(0.1)
        elif act == "relu":
            self.act = nn.ReLU()
        elif act is None:
            self.act = nn.Identity()
        else:
            raise ValueError(f"act must be 'lrelu', 'relu' or None, got {act!r}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv(x))


class ResidualBlockNoBN(nn.Module):
    """``x + res_scale * conv2(relu(conv1(x)))`` (EDSR/mmedit residual block without BatchNorm).

    Shapes: ``(B, C, H, W) -> (B, C, H, W)``.
    """

    def __init__(self, mid_channels: int = 64, res_scale: float = 1.0) -> None:
        super().__init__()
        self.res_scale = res_scale
        self.conv1 = nn.Conv2d(mid_channels, mid_channels, 3, 1, 1)
        self.conv2 = nn.Conv2d(mid_channels, mid_channels, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res_scale * self.conv2(F.relu(self.conv1(x)))


class ResidualBlocksWithInputConv(nn.Module):
    """Input conv + LeakyReLU(0.1) + ``num_blocks`` residual blocks (mmedit/BasicVSR).

    Keys: ``main.0`` (input conv), ``main.2.{i}.conv{1,2}`` (blocks).
    Shapes: ``(B, in_channels, H, W) -> (B, out_channels, H, W)``.
    """

    def __init__(self, in_channels: int, out_channels: int = 64, num_blocks: int = 30) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, 1, 1),
            nn.LeakyReLU(0.1),
            make_layer(ResidualBlockNoBN, num_blocks, mid_channels=out_channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x)


class PixelShufflePack(nn.Module):
    """Conv to ``out_channels * r**2`` channels, then depth-to-space by ``r`` (key ``upsample_conv``).

    Shapes: ``(B, in_channels, H, W) -> (B, out_channels, r*H, r*W)``.
    """

    def __init__(self, in_channels: int, out_channels: int, scale_factor: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.scale_factor = scale_factor
        self.upsample_conv = nn.Conv2d(
            in_channels, out_channels * scale_factor**2, kernel_size, padding=(kernel_size - 1) // 2
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(self.upsample_conv(x), self.scale_factor)


class DropPath(nn.Module):
    """Stochastic depth per sample (Huang et al., 2016): in training, a sample's residual branch is
    zeroed with probability ``p`` and survivors are scaled by ``1 / (1 - p)``; the identity in eval.

    ``forward(x (B, ...)) -> (B, ...)``. No parameters (state dicts are unchanged); written here so
    that building a model never imports timm (and, through it, torchvision).
    """

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"drop path probability must be in [0, 1), got {p!r}")
        self.drop_prob = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.drop_prob == 0.0:
            return x
        keep = 1.0 - self.drop_prob
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep
