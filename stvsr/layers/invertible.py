"""Invertible building blocks for video steganography (HiNet / IRN style), layout ``(B, C, T, H, W)``.

- :class:`SpacePixelUnshuffle3d`: ``pixel_unshuffle`` by ``s`` on every frame,
  ``(B, C, T, H, W) -> (B, C s^2, T, H/s, W/s)``; channel ``c s^2 + s i + j`` holds pixel
  ``(s h + i, s w + j)`` of channel ``c``. Its ``inverse`` is ``pixel_shuffle``.
- :class:`SpaceTimePixelUnshuffle3d`: the same with a time factor ``r`` too,
  ``(B, C, T, H, W) -> (B, C r s^2, T/r, H/s, W/s)``; channel ``c r s^2 + k s^2 + s i + j``
  holds ``(r t + k, s h + i, s w + j)``.
- :class:`AffineCoupling3d`: split ``x = [x1 (first ``split`` channels), x2]``,
  ``y1 = x1 + F(x2)``, ``s = clamp * (2 sigmoid(H(y1)) - 1)``, ``y2 = x2 exp(s) + G(y1)``;
  ``inverse`` undoes it exactly (``exp(s)`` stays in ``(e^-clamp, e^clamp)``).
- :class:`InvertibleSequential`: runs its ``operations`` forward, or their inverses in
  reverse order (``rev=True`` / :meth:`~InvertibleSequential.inverse`).
- :class:`DenseBlock3d`: the 5-conv dense block CVRS uses as coupling sub-network
  (3x3x3 convs, growth 32, LeakyReLU 0.2, a 1x1x1 output conv) and, with other
  kernels and a residual, in its up-sampler.

Every invertible module has ``forward(x)`` and ``inverse(y)``; the shuffles need
``T`` divisible by ``r`` and ``H``, ``W`` divisible by ``s``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

__all__ = [
    "AffineCoupling3d",
    "DenseBlock3d",
    "InvertibleSequential",
    "SpacePixelUnshuffle3d",
    "SpaceTimePixelUnshuffle3d",
]


def _check_divisible(x: torch.Tensor, r: int, s: int, what: str) -> None:
    if x.dim() != 5:
        raise ValueError(f"{what} expects a (B, C, T, H, W) tensor, got shape {tuple(x.shape)}")
    t, h, w = x.shape[2:]
    if t % r or h % s or w % s:
        raise ValueError(f"{what} needs T divisible by {r} and H, W divisible by {s}, got (T, H, W) = {(t, h, w)}")


class SpaceTimePixelUnshuffle3d(nn.Module):
    """Invertible space-time pixel-unshuffle: ``(B, C, T, H, W) -> (B, C r s^2, T/r, H/s, W/s)``."""

    def __init__(self, time_factor: int = 1, space_factor: int = 2) -> None:
        super().__init__()
        self.r, self.s = int(time_factor), int(space_factor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_divisible(x, self.r, self.s, type(self).__name__)
        return rearrange(x, "b c (t k) (h i) (w j) -> b (c k i j) t h w", k=self.r, i=self.s, j=self.s)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        k = self.r * self.s * self.s
        if y.dim() != 5 or y.shape[1] % k:
            raise ValueError(f"{type(self).__name__}.inverse needs (B, C*{k}, T, H, W), got {tuple(y.shape)}")
        return rearrange(y, "b (c k i j) t h w -> b c (t k) (h i) (w j)", k=self.r, i=self.s, j=self.s)


class SpacePixelUnshuffle3d(SpaceTimePixelUnshuffle3d):
    """Per-frame ``pixel_unshuffle`` by ``s`` (time untouched): ``(B, C, T, H, W) -> (B, C s^2, T, H/s, W/s)``."""

    def __init__(self, space_factor: int = 2) -> None:
        super().__init__(1, space_factor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_divisible(x, 1, self.s, type(self).__name__)
        y = F.pixel_unshuffle(rearrange(x, "b c t h w -> (b t) c h w"), self.s)
        return rearrange(y, "(b t) c h w -> b c t h w", b=x.shape[0])

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        if y.dim() != 5 or y.shape[1] % (self.s * self.s):
            raise ValueError(f"{type(self).__name__}.inverse needs (B, C*{self.s**2}, T, H, W), got {tuple(y.shape)}")
        x = F.pixel_shuffle(rearrange(y, "b c t h w -> (b t) c h w"), self.s)
        return rearrange(x, "(b t) c h w -> b c t h w", b=y.shape[0])


class DenseBlock3d(nn.Module):
    """Five-conv dense block ``(B, Cin, T, H, W) -> (B, Cout, T, H, W)`` (keys ``conv1..conv5``).

    ``x_k = LReLU_0.2(conv_k([x, x_1, .., x_{k-1}]))`` for k = 1..4 (``growth`` channels,
    ``kernel``), ``out = conv5([x, x_1..x_4])`` (``out_kernel``), plus ``x`` if ``residual``.
    Paddings keep the size. CVRS: IMSM sub-nets use kernel 3^3 / out 1^3 without residual
    (``D2DTInput_dense``); its up-sampler uses (1,3,3) / (3,1,1) with residual (``D2DTInput``).
    """

    def __init__(
        self,
        cin: int,
        cout: int,
        growth: int = 32,
        kernel: Sequence[int] = (3, 3, 3),
        out_kernel: Sequence[int] = (1, 1, 1),
        residual: bool = False,
    ) -> None:
        super().__init__()
        if residual and cin != cout:
            raise ValueError(f"a residual DenseBlock3d needs cin == cout, got {cin} and {cout}")
        k: tuple[int, int, int] = (int(kernel[0]), int(kernel[1]), int(kernel[2]))
        ko: tuple[int, int, int] = (int(out_kernel[0]), int(out_kernel[1]), int(out_kernel[2]))
        pad = (k[0] // 2, k[1] // 2, k[2] // 2)
        pad_o = (ko[0] // 2, ko[1] // 2, ko[2] // 2)
        self.conv1 = nn.Conv3d(cin, growth, k, padding=pad)
        self.conv2 = nn.Conv3d(cin + growth, growth, k, padding=pad)
        self.conv3 = nn.Conv3d(cin + 2 * growth, growth, k, padding=pad)
        self.conv4 = nn.Conv3d(cin + 3 * growth, growth, k, padding=pad)
        self.conv5 = nn.Conv3d(cin + 4 * growth, cout, ko, padding=pad_o)
        self.lrelu = nn.LeakyReLU(0.2)
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.lrelu(self.conv1(x))
        x2 = self.lrelu(self.conv2(torch.cat((x, x1), 1)))
        x3 = self.lrelu(self.conv3(torch.cat((x, x1, x2), 1)))
        x4 = self.lrelu(self.conv4(torch.cat((x, x1, x2, x3), 1)))
        x5 = self.conv5(torch.cat((x, x1, x2, x3, x4), 1))
        return x + x5 if self.residual else x5


SubnetFactory = Callable[[int, int], nn.Module]


def _dense_subnet(cin: int, cout: int) -> nn.Module:
    return DenseBlock3d(cin, cout)


class AffineCoupling3d(nn.Module):
    """Affine coupling on ``channels`` channels split ``split / channels - split`` (keys ``F``, ``G``, ``H``).

    Forward: ``y1 = x1 + F(x2)``; ``s = clamp (2 sigmoid(H(y1)) - 1)``; ``y2 = x2 exp(s) + G(y1)``.
    Inverse: ``s = clamp (2 sigmoid(H(y1)) - 1)``; ``x2 = (y2 - G(y1)) / exp(s)``; ``x1 = y1 - F(x2)``.
    ``subnet(cin, cout)`` builds F (``channels - split -> split``) and G, H (``split -> channels - split``).
    """

    def __init__(self, channels: int, split: int, clamp: float = 1.0, subnet: SubnetFactory = _dense_subnet) -> None:
        super().__init__()
        if not 0 < split < channels:
            raise ValueError(f"split must be in (0, {channels}), got {split}")
        self.channels, self.split, self.clamp = channels, split, float(clamp)
        rest = channels - split
        self.F = subnet(rest, split)
        self.G = subnet(split, rest)
        self.H = subnet(split, rest)

    def _log_scale(self, y1: torch.Tensor) -> torch.Tensor:
        return self.clamp * (torch.sigmoid(self.H(y1)) * 2 - 1)

    def _check(self, x: torch.Tensor) -> None:
        if x.dim() != 5 or x.shape[1] != self.channels:
            raise ValueError(f"AffineCoupling3d expects (B, {self.channels}, T, H, W), got {tuple(x.shape)}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        x1, x2 = x[:, : self.split], x[:, self.split :]
        y1 = x1 + self.F(x2)
        y2 = x2 * torch.exp(self._log_scale(y1)) + self.G(y1)
        return torch.cat((y1, y2), 1)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        self._check(y)
        y1, y2 = y[:, : self.split], y[:, self.split :]
        x2 = (y2 - self.G(y1)) / torch.exp(self._log_scale(y1))
        x1 = y1 - self.F(x2)
        return torch.cat((x1, x2), 1)

    def log_det(self, x: torch.Tensor) -> torch.Tensor:
        """``log |det J|`` of the forward map per batch element, shape ``(B,)``."""
        x1, x2 = x[:, : self.split], x[:, self.split :]
        return self._log_scale(x1 + self.F(x2)).flatten(1).sum(1)


class InvertibleSequential(nn.Module):
    """A stack of invertible modules kept in ``operations`` (so keys read ``operations.{i}.*``).

    ``forward(x)`` applies them in order; ``forward(x, rev=True)`` / ``inverse(y)`` applies
    each one's ``inverse`` in reverse order.
    """

    def __init__(self, operations: Sequence[nn.Module]) -> None:
        super().__init__()
        for op in operations:
            if not callable(getattr(op, "inverse", None)):
                raise TypeError(f"{type(op).__name__} has no inverse()")
        self.operations = nn.ModuleList(operations)

    def forward(self, x: torch.Tensor, rev: bool = False) -> torch.Tensor:
        if rev:
            return self.inverse(x)
        for op in self.operations:
            x = op(x)
        return x

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        for op in reversed(self.operations):
            y = op.inverse(y)  # type: ignore[operator]
        return y
