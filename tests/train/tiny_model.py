"""A tiny trainable stvsr-contract model for the training tests (bicubic blend + a 2-conv residual)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from stvsr.models.baselines import BicubicBaseline


class TinyStvsr(nn.Module):
    def __init__(self, channels: int = 4) -> None:
        super().__init__()
        self.base = BicubicBaseline("blend", clamp=False)
        self.conv1 = nn.Conv2d(3, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, 3, 3, padding=1)

    def forward(self, lr: torch.Tensor, scale: float | Sequence[float] = 4.0,
                times: float | Sequence[float] = (0.5,)) -> torch.Tensor:
        up = self.base(lr, scale=scale, times=times)
        x = up.flatten(0, 1)
        x = x + self.conv2(torch.relu(self.conv1(x)))
        return x.unflatten(0, up.shape[:2])


def tiny(channels: int = 4) -> TinyStvsr:
    return TinyStvsr(channels)


class TinyFmu(nn.Module):
    """FMU-shaped outputs from bicubic + a conv: ``forward_window(lr (B, 4, 3, h, w), times)`` -> FMUOutput."""

    def __init__(self) -> None:
        super().__init__()
        self.base = BicubicBaseline("blend", clamp=False)
        self.conv = nn.Conv2d(3, 3, 3, padding=1)

    def forward_window(self, lr: torch.Tensor, times: Sequence[float] = (0.5,)):
        from stvsr.models.fmu import FMUOutput
        from stvsr.train.losses import structure_detail_split

        up = self.base(lr, scale=4.0, times=times)
        k = len(times)
        keys = up[:, :: k + 1]
        keys = keys + self.conv(keys.flatten(0, 1)).unflatten(0, keys.shape[:2])
        mids = up[:, k + 2 : 2 * k + 2]
        s, d = structure_detail_split(keys)
        lr_mid = self.base(lr, scale=1.0, times=times)[:, k + 2 : 2 * k + 2]
        return FMUOutput(keys, mids * self.conv.weight.mean().add(1), lr_mid, tuple(times), d, s)


def tiny_fmu() -> TinyFmu:
    return TinyFmu()
