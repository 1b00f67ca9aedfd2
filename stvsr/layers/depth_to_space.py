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

import math
from collections.abc import Callable, Sequence
from typing import cast

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from stvsr._validate import tracing
from stvsr.layers.blocks import PixelShufflePack
from stvsr.layers.scale_aware import SAAdapt, SAConv

__all__ = [
    "ArbitraryDepthToSpace",
    "CascadeDepthToSpace",
    "OffsetResampler",
    "block_taps",
    "exact_resampling",
    "fold_shuffle",
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


def block_taps(
    grid: torch.Tensor, r: int, scale: tuple[float, float], map_size: tuple[int, int]
) -> torch.Tensor | None:
    """The bilinear taps of ``grid`` on an x``r`` pixel-shuffled map, where they stay in one LR pixel.

    ``grid``: ``(1, H, W, 2)`` (``align_corners=True`` units) sampling a map of ``map_size = (r h, r w)``
    made by a pixel shuffle of an ``(h, w)`` map. With integer ``scale = (s_h, s_w)`` output pixel
    ``(s_h y + v, s_w x + u)`` may read shuffle phases of LR pixel ``(y, x)`` only, with weights that
    depend on ``(v, u)`` alone (a branch whose positions and learned offsets repeat every LR pixel).
    Then the result is ``(s_h s_w, r r)`` float64: row ``v s_w + u`` holds the weights of the ``r r``
    phases, and :func:`fold_shuffle` computes the resampled map without the x``r`` map. ``None``
    where that does not hold (non-integer scale, a tap in a neighbouring pixel or outside the map,
    positions that do not repeat, no saving: ``s_h s_w >= r r``, or a grid that carries a gradient).
    """
    sh, sw = scale
    # grid.requires_grad: the offsets train, and taps read from the grid would cut their gradient
    if not (sh.is_integer() and sw.is_integer()) or sh * sw >= r * r or grid.requires_grad:
        return None
    sh_i, sw_i = int(sh), int(sw)
    (hh, ww), (mh, mw) = grid.shape[1:3], map_size
    if not (sh_i <= hh <= sh_i * (mh // r) and sw_i <= ww <= sw_i * (mw // r)):
        return None
    g = grid[0].double()
    pos = torch.stack(((g[..., 1] + 1) * (mh - 1) / 2, (g[..., 0] + 1) * (mw - 1) / 2))  # (2, H, W): y, x
    block_y = torch.arange(hh, dtype=torch.float64, device=g.device).div(sh_i, rounding_mode="floor")
    block_x = torch.arange(ww, dtype=torch.float64, device=g.device).div(sw_i, rounding_mode="floor")
    pos[0] -= r * block_y[:, None]
    pos[1] -= r * block_x[None, :]
    first = pos[:, :sh_i, :sw_i]
    # positions are periodic by construction; float32 grids carry ~1e-4 px of rounding at x8 sizes
    period = first.repeat(1, -(-hh // sh_i), -(-ww // sw_i))[:, :hh, :ww]
    if (pos - period).abs().max() > 1e-3:
        return None
    taps = torch.zeros(sh_i * sw_i, r * r, dtype=torch.float64)
    for v in range(sh_i):
        for u in range(sw_i):
            y, x = float(first[0, v, u]), float(first[1, v, u])
            y0, x0 = math.floor(y), math.floor(x)
            for dy, wy in ((0, 1 - (y - y0)), (1, y - y0)):
                for dx, wx in ((0, 1 - (x - x0)), (1, x - x0)):
                    if wy * wx == 0:
                        continue
                    if not (0 <= y0 + dy < r and 0 <= x0 + dx < r):
                        return None
                    taps[v * sw_i + u, (y0 + dy) * r + x0 + dx] += wy * wx
    return taps


def fold_shuffle(
    x: torch.Tensor, conv: nn.Conv2d, r: int, taps: torch.Tensor, scale: tuple[float, float], out_size: tuple[int, int]
) -> torch.Tensor:
    """``conv`` + x``r`` pixel shuffle + the resampling :func:`block_taps` describes, as one conv.

    ``x (B, C_in, h, w)`` -> ``(B, C, H, W)`` with ``C = conv.out_channels / r**2``: the taps are
    linear in the shuffle's phases, so they fold into the conv's weights (``s_h s_w`` phases per
    channel instead of ``r**2``) and a depth-to-space by ``(s_h, s_w)`` follows.
    """
    sh, sw = int(scale[0]), int(scale[1])
    dtype = conv.weight.dtype
    work = torch.promote_types(dtype, torch.float32)  # half weights: the tap sums in float32
    t = taps.to(device=conv.weight.device, dtype=work)
    weight = torch.einsum("pk,ck...->cp...", t, conv.weight.to(work).unflatten(0, (-1, r * r)))
    weight = weight.flatten(0, 1).to(dtype)
    bias = None if conv.bias is None else (conv.bias.to(work).unflatten(0, (-1, r * r)) @ t.T).flatten().to(dtype)
    y = F.conv2d(x, weight, bias, stride=conv.stride, padding=conv.padding)
    y = rearrange(y, "b (c v u) h w -> b c (h v) (w u)", v=sh, u=sw)
    return y[..., : out_size[0], : out_size[1]]


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

    # provided by each variant: the scale-aware input conv, the x2/x4/x8 branches, the grid builder and
    # _maps(feat, grids, scale_h, scale_w, out_size) -> the three branch maps resampled to out_size
    spacial_adaptive_conv: nn.Module
    cascade_ps_result: nn.Module
    grids: Callable[..., Sequence[torch.Tensor | None]]
    _maps: Callable[..., list[torch.Tensor]]

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
        if grids is None:
            grids = self.grids((x.shape[-2], x.shape[-1]), scale_h, scale_w, out_size, x)
        feat = self.spacial_adaptive_conv(x, scale_h, scale_w)
        return self._fuse(self._maps(feat, grids, scale_h, scale_w, out_size), scale_h, scale_w)


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
                # a shuffle whose 2x2 blocks are then averaged: one conv with the 4 phases' mean weights
                # (x4 fewer output channels and no x8 map, 212 MB per frame at 576x720)
                conv = cast(PixelShufflePack, branches.ps_x8).upsample_conv
                mean = torch.full((1, 4), 0.25, dtype=torch.float64)
                maps.append(fold_shuffle(x4, conv, 2, mean, (1.0, 1.0), out_size))
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

    def _maps(
        self,
        feat: torch.Tensor,
        grids: Sequence[torch.Tensor | None],
        scale_h: float,
        scale_w: float,
        out_size: tuple[int, int],
    ) -> list[torch.Tensor]:
        """The three branch maps of ``feat`` resampled to ``out_size``, each by its grid.

        Where a grid reads every shuffle block from its own LR pixel (:func:`block_taps`; with the
        zoo's weights: x8 at x4, x4 and x8 at x2 and x3) the branch is one folded conv
        (:func:`fold_shuffle`): at x4 it skips the x8 branch's 64 -> 2,048 conv and its 212 MB map
        per 576x720 frame. The same sums as the grid path, without its float32 coordinate rounding.
        """
        h, w = feat.shape[-2:]
        branches = cast(_Branches, self.cascade_ps_result)
        maps = []
        for r, grid in zip(_BRANCHES, grids):
            assert grid is not None
            pack = cast(PixelShufflePack, getattr(branches, f"ps_x{r}"))
            # the taps are read from the grid's values, which a tracer cannot branch on
            taps = None if tracing() else block_taps(grid, r, (scale_h, scale_w), (r * h, r * w))
            if taps is None:
                maps.append(sample_grid(pack(feat), grid))
            else:
                maps.append(fold_shuffle(feat, pack.upsample_conv, r, taps, (scale_h, scale_w), out_size))
        return maps

