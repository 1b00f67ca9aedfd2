"""3D implicit feature modulation: a LIIF-style continuous space-time sampler (CVRS's ``ModuleNet3D``).

Given a feature video ``(B, C, Ti, Hi, Wi)`` and any target size ``(T, H, W)``,
:class:`ImplicitModulation3D` predicts a 3-channel video ``(B, 3, T, H, W)``.
The same module down-samples and up-samples (CVRS uses it for both). Note the
layout: channels *before* time, ``(B, C, T, H, W)``, like ``nn.Conv3d``.

What it computes (CVRS, Zhang & Chen, CVPR 2025):

1. Cell-centred coordinates in ``[-1, 1]`` per axis (:func:`make_coord_1d`): on an
   axis with ``n`` cells, cell ``i`` is centred at ``-1 + 1/n + 2i/n``. The query
   grid (target size) and the centre grid (feature size) come from that one
   function, so equal sizes give bitwise-equal grids (the original depends on it).
   Time is cell-centred over the clip: output frame ``k`` of ``T`` sits at input
   frame position ``u = (2k + 1) * Ti / (2T) - 1/2`` (:func:`cell_centre_positions`).
2. Eight corners ``j = 4[vt=+1] + 2[vy=+1] + [vx=+1]``: the query shifted by half an
   input cell per axis (plus ``1e-6``, clamped to ``[-1+1e-6, 1-1e-6]``) picks the
   input cell by nearest-neighbour sampling; ``rel_j = (q - centre_j) * (Ti, Hi, Wi)``.
3. Trilinear weights: ``vol_j = |rel_t rel_y rel_x| + 1e-9``; corner ``j`` is
   weighted by the *opposite* corner's volume ``vol_{7-j} / sum_k vol_k``.
4. The grid ``[rel_0..rel_7 (24), w_j * f_j (8C), rel_cell (3)]`` (``27 + 8C``
   channels; ``rel_cell`` is the constant 2 the original computes) goes through
   a depthwise-separable 3x3x3 conv over the *query* grid (-> 256), a 1x1x1 conv
   (256 -> 256), GELU and a 1x1x1 conv (256 -> 3).
5. Plus a shortcut: a depthwise-separable conv (C -> 3) at input resolution,
   trilinearly resampled (border padding, ``align_corners=False``) at the queries.

Memory: the ``27 + 8C``-channel grid is never materialised at full size. The
query grid is evaluated in tiles whose working set fits ``max_chunk_bytes``; each
tile carries a one-voxel halo per split axis because the depthwise 3x3x3 conv
reads neighbouring queries, so tiled and untiled results are the same numbers
(up to float summation order inside the convolution).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "DepthwiseSeparableConv3d",
    "ImplicitModulation3D",
    "cell_centre_positions",
    "corner_weights_3d",
    "make_coord_1d",
    "make_coord_3d",
    "plan_tiles",
]

_Triple = tuple[torch.Tensor, torch.Tensor, torch.Tensor]
_EPS_SHIFT = 1e-6
_VOL_FLOOR = 1e-9


def make_coord_1d(n: int, *, dtype: torch.dtype = torch.float32, device: torch.device | None = None) -> torch.Tensor:
    """Cell centres ``-1 + 1/n + 2i/n`` for ``i = 0..n-1``, shape ``(n,)``, in ``(-1, 1)``."""
    r = 1.0 / n
    return (-1.0 + r) + (2.0 * r) * torch.arange(n, dtype=dtype, device=device)


def make_coord_3d(
    size: Sequence[int], *, dtype: torch.dtype = torch.float32, device: torch.device | None = None
) -> torch.Tensor:
    """Cell-centred coordinate grid ``(T, H, W, 3)`` with the last axis ordered ``(t, y, x)``."""
    axes = [make_coord_1d(int(n), dtype=dtype, device=device) for n in size]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1)


def cell_centre_positions(n_in: int, n_out: int) -> list[float]:
    """Where the ``n_out`` cell-centred outputs sit, in units of input cells (input cell ``i`` at ``i``).

    ``u_k = (2k + 1) * n_in / (2 n_out) - 1/2``; e.g. 4 -> 7 frames gives
    ``[-0.21, 0.36, 0.93, 1.5, 2.07, 2.64, 3.21]``.
    """
    return [(2 * k + 1) * n_in / (2 * n_out) - 0.5 for k in range(n_out)]


def _nearest_corner(q: torch.Tensor, n_in: int, v: int, centres: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One axis of a corner: (input cell index, offset ``(q - centre) * n_in``) for queries ``q``.

    Reproduces ``grid_sample(mode="nearest", align_corners=False)`` on a shifted,
    clamped query: the unnormalised index ``((q' + 1) n - 1) / 2`` rounded half to even.
    """
    shifted = (q + (v * (2.0 / n_in / 2.0) + _EPS_SHIFT)).clamp(-1.0 + _EPS_SHIFT, 1.0 - _EPS_SHIFT)
    idx = torch.round(((shifted + 1.0) * n_in - 1.0) / 2.0).long().clamp_(0, n_in - 1)
    return idx, (q - centres[idx]) * n_in


def corner_weights_3d(
    q: Sequence[torch.Tensor], n_in: Sequence[int]
) -> tuple[list[_Triple], list[_Triple], list[torch.Tensor]]:
    """Corner indices, relative offsets and trilinear weights for separable queries.

    Args:
        q: three 1-D tensors of query coordinates (t, y, x) in ``[-1, 1]``, lengths ``(t, h, w)``.
        n_in: the input sizes ``(Ti, Hi, Wi)``.

    Returns:
        ``(indices, rels, weights)``, each a list over the 8 corners ``j = 4 vt + 2 vy + vx``:
        ``indices[j]`` and ``rels[j]`` are per-axis tuples of 1-D tensors; ``weights[j]`` is the
        ``(t, h, w)`` weight of corner ``j`` (the opposite corner's volume, normalised).
    """
    centres = [make_coord_1d(n, dtype=qa.dtype, device=qa.device) for n, qa in zip(n_in, q, strict=True)]
    per_axis = [{v: _nearest_corner(qa, n, v, c) for v in (-1, 1)} for qa, n, c in zip(q, n_in, centres, strict=True)]
    indices, rels, vols = [], [], []
    for vt, vy, vx in itertools.product((-1, 1), repeat=3):
        (it, rt), (iy, ry), (ix, rx) = per_axis[0][vt], per_axis[1][vy], per_axis[2][vx]
        indices.append((it, iy, ix))
        rels.append((rt, ry, rx))
        vols.append((rt[:, None, None] * ry[None, :, None] * rx[None, None, :]).abs() + _VOL_FLOOR)
    total = torch.stack(vols).sum(dim=0)
    weights = [vols[7 - j] / total for j in range(8)]
    return indices, rels, weights


class DepthwiseSeparableConv3d(nn.Module):
    """Depthwise 3x3x3 conv (padding 1) then a pointwise 1x1x1 conv; keys ``depthwise``/``pointwise``."""

    def __init__(self, cin: int, cout: int, kernel_size: int = 3, padding: int = 1) -> None:
        super().__init__()
        self.depthwise = nn.Conv3d(cin, cin, kernel_size, padding=padding, groups=cin)
        self.pointwise = nn.Conv3d(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, Cin, T, H, W)`` -> ``(B, Cout, T, H, W)``."""
        return self.pointwise(self.depthwise(x))


def plan_tiles(size: Sequence[int], bytes_per_voxel: int, max_bytes: int | None) -> tuple[int, int, int]:
    """Tile sizes ``(tt, th, tw)`` so that a tile plus its 1-voxel halo costs at most ``max_bytes``.

    Splits rows (H) first, then columns (W, down to 8), then frames; never below 1.
    ``max_bytes=None`` means one tile.
    """
    tile = [int(s) for s in size]
    if max_bytes is None:
        return tile[0], tile[1], tile[2]

    def cost(t: list[int]) -> int:
        ext = [min(a + 2, s) for a, s in zip(t, size, strict=True)]
        return math.prod(ext) * bytes_per_voxel

    while cost(tile) > max_bytes:
        if tile[1] > 8:
            tile[1] = math.ceil(tile[1] / 2)
        elif tile[2] > 8:
            tile[2] = math.ceil(tile[2] / 2)
        elif tile[0] > 1:
            tile[0] = math.ceil(tile[0] / 2)
        elif tile[1] > 1:
            tile[1] = math.ceil(tile[1] / 2)
        elif tile[2] > 1:
            tile[2] = math.ceil(tile[2] / 2)
        else:
            break
    return tile[0], tile[1], tile[2]


class ImplicitModulation3D(nn.Module):
    """CVRS's ``ModuleNet3D``: sample a ``(B, C, Ti, Hi, Wi)`` feature at any ``(T, H, W)`` -> ``(B, 3, T, H, W)``.

    Keys (authors' names): ``conv00_3d.{depthwise,pointwise}``, ``fc1``, ``fc2``,
    ``short_cut.0.{depthwise,pointwise}``. ``27 + 8C`` grid channels, hidden width 256.

    Args:
        channels: C, the feature channels.
        hidden: width of the MLP head (256 in CVRS).
        max_chunk_bytes: default working-set budget of one query tile (bytes; ``None``: no tiling).
            Peak memory of a call is about this plus the output and the input feature.
    """

    def __init__(self, channels: int, hidden: int = 256, max_chunk_bytes: int | None = 256 * 2**20) -> None:
        super().__init__()
        self.channels = channels
        grid_channels = 27 + 8 * channels
        self.conv00_3d = DepthwiseSeparableConv3d(grid_channels, hidden)
        self.fc1 = nn.Conv3d(hidden, hidden, 1)
        self.fc2 = nn.Conv3d(hidden, 3, 1)
        self.act = nn.GELU()
        self.short_cut = nn.Sequential(DepthwiseSeparableConv3d(channels, 3))
        self.max_chunk_bytes = max_chunk_bytes

    @property
    def grid_channels(self) -> int:
        return 27 + 8 * self.channels

    def bytes_per_voxel(self, element_size: int = 4) -> int:
        """Estimated working memory per query voxel of a tile (grid, its conv, three hidden maps, temps)."""
        hidden = self.fc1.out_channels
        return element_size * (2 * self.grid_channels + 3 * hidden + 2 * self.channels + 16)

    def forward(
        self, feat: torch.Tensor, size: Sequence[int], *, max_chunk_bytes: int | None | str = "default"
    ) -> torch.Tensor:
        """Sample ``feat`` ``(B, C, Ti, Hi, Wi)`` at the cell-centred grid of ``size = (T, H, W)``.

        ``max_chunk_bytes`` overrides the module's tile budget for this call
        (``None``: the whole grid at once). Returns ``(B, 3, T, H, W)``, not clamped.
        """
        if feat.dim() != 5 or feat.shape[1] != self.channels:
            raise ValueError(
                f"feat must be (B, {self.channels}, T, H, W) (channels before time), got {tuple(feat.shape)}"
            )
        size = tuple(int(s) for s in size)
        if len(size) != 3 or min(size) < 1:
            raise ValueError(f"size must be three positive ints (T, H, W), got {size!r}")
        if isinstance(max_chunk_bytes, str) and max_chunk_bytes != "default":
            raise ValueError(f"max_chunk_bytes must be an int, None or 'default', got {max_chunk_bytes!r}")
        budget = self.max_chunk_bytes if isinstance(max_chunk_bytes, str) else max_chunk_bytes
        b = feat.shape[0]
        n_in = tuple(int(s) for s in feat.shape[2:])
        # coordinates stay in float32 (float64 for float64 features): bf16/fp16 would pick wrong cells
        cdtype = torch.float64 if feat.dtype == torch.float64 else torch.float32
        q_axes = [make_coord_1d(n, dtype=cdtype, device=feat.device) for n in size]
        big = budget is not None and feat.numel() * feat.element_size() > budget
        shortcut = self._shortcut(feat, budget) if big and budget is not None else self.short_cut(feat)
        feat_cl = feat.permute(0, 2, 3, 4, 1)
        if not big:  # a channels-last copy speeds up the gathers; skip it for a large (HR) feature
            feat_cl = feat_cl.contiguous()
        tile = plan_tiles(size, b * self.bytes_per_voxel(feat.element_size()), budget)
        if tile == size:
            return self._tile(feat_cl, shortcut, n_in, q_axes, [(0, s) for s in size], [(0, s) for s in size])
        out = feat.new_empty((b, 3, *size))
        for starts in itertools.product(*[range(0, s, t) for s, t in zip(size, tile, strict=True)]):
            inner = [(a, min(a + t, s)) for a, t, s in zip(starts, tile, size, strict=True)]
            ext = [(max(a - 1, 0), min(e + 1, s)) for (a, e), s in zip(inner, size, strict=True)]
            (t0, t1), (h0, h1), (w0, w1) = inner
            out[:, :, t0:t1, h0:h1, w0:w1] = self._tile(feat_cl, shortcut, n_in, q_axes, inner, ext)
        return out

    def _shortcut(self, feat: torch.Tensor, budget: int) -> torch.Tensor:
        """``short_cut(feat)`` on row bands with a one-row halo (same values, bounded memory)."""
        b, c, t, h, w = feat.shape
        rows = max(1, budget // (4 * b * c * t * w * feat.element_size()) - 2)
        out = feat.new_empty((b, 3, t, h, w))
        for r0 in range(0, h, rows):
            r1 = min(r0 + rows, h)
            e0, e1 = max(r0 - 1, 0), min(r1 + 1, h)
            out[:, :, :, r0:r1] = self.short_cut(feat[:, :, :, e0:e1])[:, :, :, r0 - e0 : r0 - e0 + r1 - r0]
        return out

    def _tile(
        self,
        feat_cl: torch.Tensor,
        shortcut: torch.Tensor,
        n_in: tuple[int, ...],
        q_axes: list[torch.Tensor],
        inner: list[tuple[int, int]],
        ext: list[tuple[int, int]],
    ) -> torch.Tensor:
        """Evaluate the head on the query box ``ext`` and return its ``inner`` part ``(B, 3, t, h, w)``.

        ``feat_cl`` is the feature channels-last, ``(B, Ti, Hi, Wi, C)``. The grid is built
        channels-last too: the depthwise conv is several times faster in that memory format
        and the 1x1x1 convs become plain matrix products.
        """
        b, c = feat_cl.shape[0], feat_cl.shape[-1]
        q = [qa[a:e] for qa, (a, e) in zip(q_axes, ext, strict=True)]
        shape = tuple(int(x.numel()) for x in q)
        indices, rels, weights = corner_weights_3d(q, n_in)
        grid = feat_cl.new_empty((b, *shape, self.grid_channels))
        rel = [
            r.view([-1 if a == axis else 1 for a in range(3)]).expand(shape) for rs in rels for axis, r in enumerate(rs)
        ]
        grid[..., :24] = torch.stack(rel, dim=-1)
        del rel
        slots = grid[..., 24 : 24 + 8 * c].unflatten(-1, (8, c))
        for j, (it, iy, ix) in enumerate(indices):
            sampled = feat_cl[:, it[:, None, None], iy[None, :, None], ix[None, None, :]]
            if torch.is_grad_enabled():
                slots[..., j, :] = sampled * weights[j][..., None]
            else:  # straight into the grid, no temporary
                torch.mul(sampled, weights[j][..., None], out=slots[..., j, :])
            del sampled
        # rel_cell: the original scales a cell of 2/T by T/Ti and then by Ti, i.e. the constant 2
        for axis, (n_out, n) in enumerate(zip((x.numel() for x in q_axes), n_in, strict=True)):
            grid[..., 24 + 8 * c + axis] = (2.0 / n_out) * (n_out / n) * n
        # (B, t, h, w, K) storage viewed as (B, K, t, h, w) is channels_last_3d
        dw = self.conv00_3d.depthwise(grid.permute(0, 4, 1, 2, 3))
        del grid
        lo = [a - ea for (a, _), (ea, _) in zip(inner, ext, strict=True)]
        hi = [lo_ + (e - a) for lo_, (a, e) in zip(lo, inner, strict=True)]
        dw = dw[:, :, lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]].permute(0, 2, 3, 4, 1)
        x = _linear(dw, self.conv00_3d.pointwise)
        del dw
        x = _linear(self.act(_linear(x, self.fc1)), self.fc2).permute(0, 4, 1, 2, 3)
        # trilinear shortcut at the unshifted queries of the inner box; grid_sample wants (x, y, t)
        qi = [qa[a:e] for qa, (a, e) in zip(q_axes, inner, strict=True)]
        coords = torch.stack(torch.meshgrid(*qi, indexing="ij"), dim=-1).flip(-1)
        coords = coords.unsqueeze(0).expand(b, *coords.shape)
        s = F.grid_sample(
            shortcut.to(coords.dtype), coords, mode="bilinear", padding_mode="border", align_corners=False
        )
        # back to the head's dtype: float32 coordinates must not turn a bfloat16 model's output float32
        return x + s.to(x.dtype)


def _linear(x: torch.Tensor, conv: nn.Conv3d) -> torch.Tensor:
    """A 1x1x1 ``conv`` applied to channels-last ``x`` ``(..., Cin)`` -> ``(..., Cout)``."""
    return F.linear(x, conv.weight.flatten(1), conv.bias)
