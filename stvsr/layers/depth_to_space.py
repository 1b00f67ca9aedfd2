"""Continuous-scale depth-to-space upsamplers (MsMr's ``Arb_upsample_cas`` and ``Arb_upsample``).

The heavy work stays at low resolution; three 32-channel sub-pixel maps at x2,
x4 and x8 are built by pixel shuffles, each is resampled to the exact (possibly
non-integer) target size and the three are fused per channel:

- :class:`CascadeDepthToSpace` (fixed model): a scale-aware conv, then three
  *chained* x2 pixel shuffles; every map is resampled with plain bilinear
  sampling at the pixel-centre positions ``(j + 0.5) / rho - 0.5`` where
  ``rho = scale / r`` is the remaining ratio of the x``r`` map.
- :class:`ArbitraryDepthToSpace` (arbitrary model): a scale-aware adapter, then
  three *parallel* pixel shuffles (x2, x4, x8 straight from the feature); the
  sampling positions get a learned per-pixel offset predicted by an MLP
  (:class:`OffsetResampler`) from ``[1/rho_w, 1/rho_h, frac_y, frac_x]``, the
  branch ratio and the sub-pixel position of each output pixel.

Both then fuse (grouped 1x1 conv over the three versions of each channel + 1x1
conv, ReLUs), apply a scale-aware adapter and a 3x3 conv to RGB. There is no
global residual and no clamp (the model clamps).

Sampling grids are built in float64 and then cast; half-precision inputs are
sampled in float32 (normalised coordinates need more than 8 mantissa bits).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from stvsr.layers.blocks import PixelShufflePack
from stvsr.layers.scale_aware import SAAdapt, SAConv

__all__ = [
    "ArbitraryDepthToSpace",
    "CascadeDepthToSpace",
    "OffsetResampler",
    "exact_resampling",
    "ratio_grid",
    "sample_grid",
    "subpixel_coordinates",
]

_BRANCHES = (2, 4, 8)


def _centres(n_out: int, ratio: float, device: torch.device | None) -> torch.Tensor:
    return (torch.arange(n_out, dtype=torch.float64, device=device) + 0.5) / ratio - 0.5


def ratio_grid(
    out_size: tuple[int, int],
    ratio_h: float,
    ratio_w: float,
    in_size: tuple[int, int],
    *,
    device: torch.device | None = None,
) -> torch.Tensor:
    """Float64 ``(1, H, W, 2)`` grid (x, y; ``align_corners=True`` units) sampling an ``in_size`` map.

    Output pixel ``(i, j)`` samples input position ``((i + .5)/ratio_h - .5, (j + .5)/ratio_w - .5)``.
    """
    (hh, ww), (hi, wi) = out_size, in_size
    ys = _centres(hh, ratio_h, device) * (2.0 / max(hi - 1, 1)) - 1.0
    xs = _centres(ww, ratio_w, device) * (2.0 / max(wi - 1, 1)) - 1.0
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack((gx, gy), dim=-1)[None]


def subpixel_coordinates(
    size: tuple[int, int], ratio_h: float, ratio_w: float, *, device: torch.device | None = None
) -> torch.Tensor:
    """Float64 ``(1, 4, H, W)``: ``[1/ratio_w, 1/ratio_h, frac_y, frac_x]`` per output pixel.

    ``frac_y = (i + .5)/ratio_h - floor((i + .5)/ratio_h + 0.001) - .5`` (the +0.001 is the authors').
    """
    hh, ww = size
    pos_y = (torch.arange(hh, dtype=torch.float64, device=device) + 0.5) / ratio_h
    pos_x = (torch.arange(ww, dtype=torch.float64, device=device) + 0.5) / ratio_w
    fy = (pos_y - torch.floor(pos_y + 1e-3) - 0.5)[:, None].expand(hh, ww)
    fx = (pos_x - torch.floor(pos_x + 1e-3) - 0.5)[None, :].expand(hh, ww)
    rw = torch.full((hh, ww), 1.0 / ratio_w, dtype=torch.float64, device=device)
    rh = torch.full((hh, ww), 1.0 / ratio_h, dtype=torch.float64, device=device)
    return torch.stack((rw, rh, fy, fx), dim=0)[None]


def exact_resampling(
    r: int, scale: tuple[float, float], map_size: tuple[int, int], out_size: tuple[int, int]
) -> str:
    """How :class:`CascadeDepthToSpace` resamples its x``r`` map of ``map_size`` to ``out_size``.

    The bilinear positions ``(j + .5) / rho - .5`` with ``rho = scale / r`` are the map's own
    pixels when ``rho = 1`` (``"same"``: a crop) and the centres of its 2x2 blocks when
    ``rho = 1/2`` (``"pool2"``: 2x2 average pooling), in both axes and inside the map; anything
    else needs ``grid_sample`` (``"grid"``). The shortcuts are the same sums without the
    interpolation weights' rounding (to ~1e-7 of the grid path).
    """
    for how, rho in (("same", 1.0), ("pool2", 0.5)):
        if all(s / r == rho and o / rho <= n for s, n, o in zip(scale, map_size, out_size)):
            return how
    return "grid"


def sample_grid(x: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Bilinear ``grid_sample`` (zeros padding, align_corners=True), ``grid`` broadcast over the batch."""
    work = torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype
    g = grid.to(work).expand(x.shape[0], -1, -1, -1)
    out = F.grid_sample(x.to(work), g, mode="bilinear", padding_mode="zeros", align_corners=True)
    return out.to(x.dtype)


class OffsetResampler(nn.Module):
    """Learned sampling offsets for a continuous resize (MsMr's ``SA_upsample_light``).

    An MLP of 1x1 convs (4 -> 32 -> 32, ReLU, -> 2) maps
    :func:`subpixel_coordinates` to an offset ``(dx, dy)`` in input pixels that is
    added to the plain :func:`ratio_grid` positions.
    """

    def __init__(self, hidden: int = 32) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(4, hidden, 1), nn.ReLU(), nn.Conv2d(hidden, hidden, 1), nn.ReLU())
        self.offset = nn.Conv2d(hidden, 2, 1)

    def grid(
        self,
        in_size: tuple[int, int],
        ratio_h: float,
        ratio_w: float,
        out_size: tuple[int, int],
        like: torch.Tensor,
        mlp_size: tuple[int, int] | None = None,
    ) -> torch.Tensor:
        """``(1, H, W, 2)`` sampling grid in ``like``'s dtype (float32 for half inputs).

        ``mlp_size``: where the offset MLP is evaluated (default ``out_size``); a
        different size is bilinearly resized to ``out_size`` (the authors evaluate
        it at the un-evened size and resize to the even output size).
        """
        work = torch.float32 if like.dtype in (torch.float16, torch.bfloat16) else like.dtype
        mlp_size = out_size if mlp_size is None else mlp_size
        coords = subpixel_coordinates(mlp_size, ratio_h, ratio_w, device=like.device).to(work)
        body, head = self.body, self.offset
        if head.weight.dtype != work:  # (never while an fp32 model is traced: export cannot move modules)
            body, head = body.to(work), head.to(work)
        off = head(body(coords))  # (1, 2, h, w): x, y in input pixels
        hi, wi = in_size
        norm = torch.tensor([2.0 / max(wi - 1, 1), 2.0 / max(hi - 1, 1)], dtype=work, device=like.device)
        off = off * norm.view(1, 2, 1, 1)
        if tuple(mlp_size) != tuple(out_size):
            off = F.interpolate(off, size=out_size, mode="bilinear", align_corners=False)
        base = ratio_grid(out_size, ratio_h, ratio_w, in_size, device=like.device).to(work)
        return base + off.permute(0, 2, 3, 1)


class _Branches(nn.Module):
    """Holds ``ps_x2``, ``ps_x4``, ``ps_x8`` (the authors' ``cascade_ps_result``)."""

    def __init__(self, in_channels: int, mid_channels: int, cascade: bool) -> None:
        super().__init__()
        self.cascade = cascade
        if cascade:
            self.ps_x2 = PixelShufflePack(in_channels, mid_channels, 2)
            self.ps_x4 = PixelShufflePack(mid_channels, mid_channels, 2)
            self.ps_x8 = PixelShufflePack(mid_channels, mid_channels, 2)
        else:
            self.ps_x2 = PixelShufflePack(in_channels, mid_channels, 2)
            self.ps_x4 = PixelShufflePack(in_channels, mid_channels, 4)
            self.ps_x8 = PixelShufflePack(in_channels, mid_channels, 8)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if self.cascade:
            x2 = self.ps_x2(x)
            x4 = self.ps_x4(x2)
            return [x2, x4, self.ps_x8(x4)]
        return [self.ps_x2(x), self.ps_x4(x), self.ps_x8(x)]


class _FuseHead(nn.Module):
    """Shared tail: per-channel fusion of the 3 resampled maps, scale-aware adapter, conv to RGB."""

    # provided by each variant: the scale-aware input conv, the x2/x4/x8 branches, the grid builder
    spacial_adaptive_conv: nn.Module
    cascade_ps_result: nn.Module
    grids: Callable[..., Sequence[torch.Tensor | None]]

    def _init_head(self, mid_channels: int, num_experts: int, out_channels: int) -> None:
        c = mid_channels
        self.soft_average = nn.Sequential(
            nn.Conv2d(3 * c, c, 1, groups=c), nn.ReLU(), nn.Conv2d(c, c, 1), nn.ReLU()
        )
        self.sa_adapt = SAAdapt(c, mask_channels=c, num_experts=num_experts)
        self.reduce = nn.Conv2d(c, out_channels, 3, 1, 1)

    def _fuse(self, maps: list[torch.Tensor], scale_h: float, scale_w: float) -> torch.Tensor:
        # channel index c*3 + branch: each group of the grouped conv sees one channel at 3 scales
        x = torch.stack(maps, dim=2).flatten(1, 2)
        x = self.soft_average(x)
        x = self.sa_adapt(x, scale_h, scale_w)
        return self.reduce(x)

    def forward(
        self,
        x: torch.Tensor,
        scale_h: float,
        scale_w: float,
        out_size: tuple[int, int],
        grids: Sequence[torch.Tensor | None] | None = None,
    ) -> torch.Tensor:
        # subclasses define spacial_adaptive_conv, cascade_ps_result, grids() and _maps()
        if grids is None:
            grids = self.grids((x.shape[-2], x.shape[-1]), scale_h, scale_w, out_size, x)
        feat = self.spacial_adaptive_conv(x, scale_h, scale_w)
        return self._fuse(self._maps(feat, grids, scale_h, scale_w, out_size), scale_h, scale_w)

    def _maps(
        self,
        feat: torch.Tensor,
        grids: Sequence[torch.Tensor | None],
        scale_h: float,
        scale_w: float,
        out_size: tuple[int, int],
    ) -> list[torch.Tensor]:
        """The three branch maps of ``feat`` resampled to ``out_size``: each sampled by its grid."""
        maps = []
        for m, g in zip(self.cascade_ps_result(feat), grids):
            assert g is not None  # only CascadeDepthToSpace skips grids, in its own _maps
            maps.append(sample_grid(m, g))
        return maps


class CascadeDepthToSpace(_FuseHead):
    """MsMr's fixed-model upsampler (``Arb_upsample_cas``): cascaded x2 shuffles + exact resampling.

    ``forward(x (B, C, h, w), scale_h, scale_w, out_size=(H, W))`` -> ``(B, out_channels, H, W)``.
    Output pixel ``(i, j)`` sits at LR position ``((i + .5)/scale_h - .5, (j + .5)/scale_w - .5)``,
    so ``out_size`` may be anything (the model passes ``round(scale * h)``).

    Keys: ``spacial_adaptive_conv.*`` (sic, the authors' spelling), ``cascade_ps_result.ps_x{2,4,8}``,
    ``soft_average.{0,2}``, ``sa_adapt.*``, ``reduce``.
    """

    def __init__(
        self, in_channels: int = 64, mid_channels: int = 32, num_experts: int = 2, out_channels: int = 3
    ) -> None:
        super().__init__()
        self.spacial_adaptive_conv = SAConv(in_channels, in_channels, 3, 1, 1, num_experts=num_experts)
        self.cascade_ps_result = _Branches(in_channels, mid_channels, cascade=True)
        self._init_head(mid_channels, num_experts, out_channels)

    def grids(
        self, lr_size: tuple[int, int], scale_h: float, scale_w: float, out_size: tuple[int, int], like: torch.Tensor
    ) -> list[torch.Tensor | None]:
        """The three float64 ``(1, H, W, 2)`` sampling grids (reusable for every frame of a call);
        ``None`` for a branch that :func:`exact_resampling` takes without a grid."""
        h, w = lr_size
        return [
            None
            if exact_resampling(r, (scale_h, scale_w), (r * h, r * w), out_size) != "grid"
            else ratio_grid(out_size, scale_h / r, scale_w / r, (r * h, r * w), device=like.device)
            for r in _BRANCHES
        ]

    def _maps(
        self,
        feat: torch.Tensor,
        grids: Sequence[torch.Tensor | None],
        scale_h: float,
        scale_w: float,
        out_size: tuple[int, int],
    ) -> list[torch.Tensor]:
        """As :meth:`_FuseHead._maps`, with the :func:`exact_resampling` shortcuts where they apply."""
        h, w = feat.shape[-2:]
        oh, ow = out_size
        branches = cast(_Branches, self.cascade_ps_result)
        x2 = branches.ps_x2(feat)
        x4 = branches.ps_x4(x2)
        maps = []
        for r, grid in zip(_BRANCHES, grids):
            how = exact_resampling(r, (scale_h, scale_w), (r * h, r * w), out_size)
            if how == "pool2" and r == 8:
                # a shuffle whose 2x2 blocks are then averaged is one conv with the 4 phases' mean weights
                # (x4 fewer output channels and no x8 map, 212 MB per frame at 576x720)
                conv = cast(PixelShufflePack, branches.ps_x8).upsample_conv
                weight = conv.weight.unflatten(0, (-1, 4)).mean(1)
                bias = None if conv.bias is None else conv.bias.unflatten(0, (-1, 4)).mean(1)
                maps.append(F.conv2d(x4, weight, bias, padding=conv.padding)[..., :oh, :ow])
                continue
            m = x2 if r == 2 else x4 if r == 4 else branches.ps_x8(x4)
            if how == "same":
                maps.append(m[..., :oh, :ow])
            elif how == "pool2":
                maps.append(F.avg_pool2d(m, 2)[..., :oh, :ow])
            else:
                assert grid is not None
                maps.append(sample_grid(m, grid))
        return maps


class ArbitraryDepthToSpace(_FuseHead):
    """MsMr's arbitrary-model upsampler (``Arb_upsample``): parallel x2/x4/x8 shuffles + learned offsets.

    ``forward(x (B, C, h, w), scale_h, scale_w, out_size=(H, W), grids=None)`` -> ``(B, out_channels, H, W)``.
    :meth:`grids` builds the three learned sampling grids once per call (they depend
    only on the scales and sizes, not on the content).

    Keys: ``spacial_adaptive_conv.*`` (an :class:`~stvsr.layers.scale_aware.SAAdapt`),
    ``cascade_ps_result.ps_x{2,4,8}``, ``sa_up.*``, ``soft_average.{0,2}``, ``sa_adapt.*``, ``reduce``.
    """

    def __init__(
        self, in_channels: int = 64, mid_channels: int = 32, num_experts: int = 2, out_channels: int = 3
    ) -> None:
        super().__init__()
        self.spacial_adaptive_conv = SAAdapt(in_channels, mask_channels=mid_channels, num_experts=num_experts)
        self.cascade_ps_result = _Branches(in_channels, mid_channels, cascade=False)
        self.sa_up = OffsetResampler(mid_channels)
        self._init_head(mid_channels, num_experts, out_channels)

    def grids(
        self,
        lr_size: tuple[int, int],
        scale_h: float,
        scale_w: float,
        out_size: tuple[int, int],
        like: torch.Tensor,
        authors_compat: bool = False,
    ) -> list[torch.Tensor]:
        """The three ``(1, H, W, 2)`` learned sampling grids.

        ``authors_compat=True`` evaluates the offset MLP at ``round(rho * r * h)`` and resizes
        it to ``out_size`` (what MsMr's released code does; it differs from evaluating at
        ``out_size`` when the authors evened an odd size).
        """
        h, w = lr_size
        out = []
        for r in _BRANCHES:
            rho_h, rho_w = scale_h / r, scale_w / r
            size_b = (r * h, r * w)
            mlp = (round(rho_h * size_b[0]), round(rho_w * size_b[1])) if authors_compat else None
            out.append(self.sa_up.grid(size_b, rho_h, rho_w, out_size, like, mlp_size=mlp))
        return out

