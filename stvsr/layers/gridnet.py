"""GridNet (Fourure et al., BMVC 2017) as used by context-aware frame synthesis and FMU.

Three rows (full, 1/2, 1/4 resolution; channels ``c1, c2, c3``) and six columns: the
first three columns go down, the last three go up. Every block is pre-activated with
a single-parameter PReLU. Module and key names follow the FMU authors' ``gridnet.py``
(``Lin``, ``L00``..``L24``, ``d00``..``d12``, ``u00``..``u12``, ``Lout``, each holding an
``nn.Sequential`` called ``block``) so their checkpoints load unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["GridNet", "GridNetDown", "GridNetLateral", "GridNetUp"]


class GridNetLateral(nn.Module):
    """PReLU -> conv3x3 -> PReLU -> conv3x3, plus the input when ``residual`` (same size)."""

    def __init__(self, cin: int, cout: int, residual: bool = True) -> None:
        super().__init__()
        self.block = nn.Sequential(nn.PReLU(), nn.Conv2d(cin, cout, 3, 1, 1), nn.PReLU(), nn.Conv2d(cout, cout, 3, 1, 1))
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        return x + y if self.residual else y


class GridNetDown(nn.Module):
    """PReLU -> conv3x3 stride 2 -> PReLU -> conv3x3: ``(B, cin, H, W) -> (B, cout, ceil(H/2), ceil(W/2))``."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.block = nn.Sequential(nn.PReLU(), nn.Conv2d(cin, cout, 3, 2, 1), nn.PReLU(), nn.Conv2d(cout, cout, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class GridNetUp(nn.Module):
    """Bilinear x2 (``align_corners=False``) -> PReLU -> conv3x3 -> PReLU -> conv3x3 (keys ``block.1..4``)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
            nn.PReLU(),
            nn.Conv2d(cin, cout, 3, 1, 1),
            nn.PReLU(),
            nn.Conv2d(cout, cout, 3, 1, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class GridNet(nn.Module):
    """``GridNet(cin, cout)(x (B, cin, H, W)) -> (out (B, cout, H, W), feature (B, c1, H, W))``.

    H and W must be multiples of 4 (two stride-2 levels). ``feature`` is the last
    full-resolution feature before the output block (FMU feeds it to its mask network).
    """

    def __init__(self, in_channels: int, out_channels: int, channels: Sequence[int] = (32, 64, 96)) -> None:
        super().__init__()
        if len(channels) != 3:
            raise ValueError(f"channels must list 3 widths (one per row), got {channels!r}")
        c1, c2, c3 = (int(c) for c in channels)
        self.Lin = GridNetLateral(in_channels, c1, residual=False)
        for col in range(5):
            setattr(self, f"L0{col}", GridNetLateral(c1, c1))
            setattr(self, f"L1{col}", GridNetLateral(c2, c2))
            setattr(self, f"L2{col}", GridNetLateral(c3, c3))
        self.Lout = GridNetLateral(c1, out_channels, residual=False)
        for col in range(3):
            setattr(self, f"d0{col}", GridNetDown(c1, c2))
            setattr(self, f"d1{col}", GridNetDown(c2, c3))
            setattr(self, f"u0{col}", GridNetUp(c2, c1))
            setattr(self, f"u1{col}", GridNetUp(c3, c2))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.shape[-2] % 4 or x.shape[-1] % 4:
            raise ValueError(f"GridNet needs H and W divisible by 4, got {tuple(x.shape[-2:])}")
        m: dict[str, nn.Module] = dict(self.named_children())
        lin = m["Lin"](x)
        l00 = m["L00"](lin)
        l01 = m["L01"](l00)
        l02 = m["L02"](l01)
        d00, d01, d02 = m["d00"](lin), m["d01"](l00), m["d02"](l01)
        l10 = m["L10"](d00)
        l11 = m["L11"](d01 + l10)
        l12 = m["L12"](d02 + l11)
        # the authors feed d00 (not L10) to d10
        d10, d11, d12 = m["d10"](d00), m["d11"](l10 + d01), m["d12"](l11 + d02)
        l20 = m["L20"](d10)
        l21 = m["L21"](d11 + l20)
        l22 = m["L22"](d12 + l21)
        l23 = m["L23"](l22)
        l24 = m["L24"](l23)
        u10, u11, u12 = m["u10"](l22), m["u11"](l23), m["u12"](l24)
        l13 = m["L13"](u10 + l12)
        l14 = m["L14"](u11 + l13)
        u00, u01, u02 = m["u00"](u10 + l12), m["u01"](u11 + l13), m["u02"](u12 + l14)
        l03 = m["L03"](u00 + l02)
        l04 = m["L04"](u01 + l03)
        feature = l04 + u02
        return m["Lout"](feature), feature
