"""Video-Swin 3D window attention (Liu et al., CVPR 2022) as used by CVRS's Mix up-sampler.

:class:`SwinLayer3D` maps ``(B, C, D, H, W) -> (B, C, D, H, W)`` (D = time): ``depth``
:class:`SwinBlock3D` (even blocks unshifted, odd blocks shifted by ``window // 2``), then
``out = PReLU(Conv3d_3x3x3(blocks(x))) + x`` (keys ``conv3x3x3.{0,1}``).

Semantics (the CVRS / Video-Swin reference code, kept exactly because checkpoints
and results depend on them):

- Effective window per axis: if the feature size is ``<=`` the window, the window
  shrinks to the size and the shift on that axis becomes 0.
- Tokens are zero-padded at the end of each axis *after* LayerNorm; padded tokens
  take part in attention (they are not masked; ``qkv`` has no bias, so their keys
  and values are zero but they add ``exp(bias)`` to the softmax denominator).
- Shifted windows mask token pairs from different shift regions with ``-100``.
- ``authors_index_slice=True``: when the window shrinks, the relative-position
  index of the full window is sliced to its first ``N x N`` block (N = tokens of
  the shrunken window), which equals the geometric index only when the window
  shrinks in D alone. ``False`` uses the geometric index of the shrunken window.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

__all__ = [
    "SwinBlock3D",
    "SwinLayer3D",
    "WindowAttention3D",
    "compute_shift_mask",
    "effective_window",
    "relative_position_index_3d",
]


def relative_position_index_3d(window: Sequence[int], device: torch.device | None = None) -> torch.Tensor:
    """``(N, N)`` int64 index into the ``(2Wd-1)(2Wh-1)(2Ww-1)``-row bias table, N = Wd Wh Ww.

    ``I[a, b] = (d_a - d_b + Wd - 1)(2Wh - 1)(2Ww - 1) + (h_a - h_b + Wh - 1)(2Ww - 1) + (w_a - w_b + Ww - 1)``
    with tokens in row-major (d, h, w) order.
    """
    wd, wh, ww = (int(w) for w in window)
    coords = torch.stack(
        torch.meshgrid(
            torch.arange(wd, device=device),
            torch.arange(wh, device=device),
            torch.arange(ww, device=device),
            indexing="ij",
        )
    ).flatten(1)
    rel = coords[:, :, None] - coords[:, None, :]
    return (rel[0] + wd - 1) * (2 * wh - 1) * (2 * ww - 1) + (rel[1] + wh - 1) * (2 * ww - 1) + (rel[2] + ww - 1)


def effective_window(
    size: Sequence[int], window: Sequence[int], shift: Sequence[int]
) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """Window and shift actually used for a ``(D, H, W)`` feature: an axis with size ``<=`` window
    uses window = size and shift = 0."""
    win = [int(w) for w in window]
    sh = [int(s) for s in shift]
    for i, n in enumerate(size):
        if n <= win[i]:
            win[i], sh[i] = int(n), 0
    return (win[0], win[1], win[2]), (sh[0], sh[1], sh[2])


def _window_partition(x: torch.Tensor, window: Sequence[int]) -> torch.Tensor:
    """``(B, D, H, W, C)`` -> ``(B * nW, wd * wh * ww, C)``; windows in (b, d, h, w) order."""
    wd, wh, ww = window
    return rearrange(x, "b (d i) (h j) (w k) c -> (b d h w) (i j k) c", i=wd, j=wh, k=ww)


def _window_reverse(x: torch.Tensor, window: Sequence[int], b: int, d: int, h: int, w: int) -> torch.Tensor:
    wd, wh, ww = window
    return rearrange(
        x, "(b d h w) (i j k) c -> b (d i) (h j) (w k) c", b=b, d=d // wd, h=h // wh, w=w // ww, i=wd, j=wh, k=ww
    )


def compute_shift_mask(
    padded: Sequence[int], window: Sequence[int], shift: Sequence[int], device: torch.device | None = None
) -> torch.Tensor:
    """``(nW, N, N)`` additive mask: ``-100`` between tokens of different shift regions, else 0.

    Each axis of the padded grid ``P`` is cut into ``[0, P-w)``, ``[P-w, P-s)``, ``[P-s, P)``;
    an axis with shift 0 is one region.
    """
    labels = []
    for n, w, s in zip(padded, window, shift, strict=True):
        i = torch.arange(n, device=device)
        lab = (i >= n - w).long() + (i >= n - s).long() if s > 0 else torch.zeros_like(i)
        labels.append(lab)
    lab3 = labels[0][:, None, None] * 9 + labels[1][None, :, None] * 3 + labels[2][None, None, :]
    win = _window_partition(lab3[None, ..., None].float(), window).squeeze(-1)
    diff = win[:, None, :] - win[:, :, None]
    return torch.zeros_like(diff).masked_fill(diff != 0, -100.0)


class WindowAttention3D(nn.Module):
    """Multi-head self-attention in a 3D window with a learned relative-position bias.

    Keys: ``relative_position_bias_table`` ``((2Wd-1)(2Wh-1)(2Ww-1), heads)``, buffer
    ``relative_position_index`` ``(N, N)`` (persistent), ``qkv`` (``dim -> 3 dim``),
    ``proj`` (``dim -> dim``). Input ``(B*, N, C)`` with ``N <=`` the full window's tokens.
    """

    def __init__(
        self,
        dim: int,
        window_size: Sequence[int],
        num_heads: int,
        qkv_bias: bool = False,
        authors_index_slice: bool = True,
    ) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} must be divisible by num_heads {num_heads}")
        self.dim, self.num_heads = dim, num_heads
        self.window_size = tuple(int(w) for w in window_size)
        self.scale = (dim // num_heads) ** -0.5
        rows = math.prod(2 * w - 1 for w in self.window_size)
        self.relative_position_bias_table = nn.Parameter(torch.zeros(rows, num_heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        self.register_buffer("relative_position_index", relative_position_index_3d(self.window_size))
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.authors_index_slice = authors_index_slice

    def _bias(self, window: Sequence[int]) -> torch.Tensor:
        n = math.prod(window)
        full_index: torch.Tensor = self.relative_position_index  # type: ignore[assignment]
        if tuple(window) == self.window_size:
            index = full_index
        elif self.authors_index_slice:
            # authors' quirk: slice the full-window index instead of rebuilding it for the smaller window
            index = full_index[:n, :n]
        else:
            # geometric index of the small window, mapped into the full window's table
            wd, wh, ww = self.window_size
            dev = full_index.device
            coords = torch.stack(torch.meshgrid(*(torch.arange(s, device=dev) for s in window), indexing="ij")).flatten(
                1
            )
            rel = coords[:, :, None] - coords[:, None, :]
            index = (rel[0] + wd - 1) * (2 * wh - 1) * (2 * ww - 1) + (rel[1] + wh - 1) * (2 * ww - 1) + rel[2] + ww - 1
        bias = self.relative_position_bias_table[index.reshape(-1)].reshape(n, n, -1)
        return bias.permute(2, 0, 1)

    def forward(self, x: torch.Tensor, window: Sequence[int], mask: torch.Tensor | None = None) -> torch.Tensor:
        """``x`` ``(B*, N, C)`` tokens of windows of shape ``window``; ``mask`` ``(nW, N, N)`` or None."""
        bw, n, c = x.shape
        qkv = self.qkv(x).reshape(bw, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q * self.scale) @ k.transpose(-2, -1)
        attn = attn + self._bias(window).unsqueeze(0)
        if mask is not None:
            nw = mask.shape[0]
            attn = attn.view(bw // nw, nw, self.num_heads, n, n) + mask.to(attn.dtype)[None, :, None]
            attn = attn.view(-1, self.num_heads, n, n)
        attn = attn.softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(bw, n, c))


class _Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class SwinBlock3D(nn.Module):
    """One (shifted-)window transformer block on ``(B, D, H, W, C)`` tokens (channels last).

    ``x = x + WindowAttention(LN1(x))``; ``x = x + MLP(LN2(x))`` (MLP ratio ``mlp_ratio``, exact GELU).
    Keys ``norm1``, ``attn.*``, ``norm2``, ``mlp.fc1``, ``mlp.fc2``.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        window_size: Sequence[int],
        shift_size: Sequence[int] = (0, 0, 0),
        mlp_ratio: float = 4.0,
        qkv_bias: bool = False,
        authors_index_slice: bool = True,
    ) -> None:
        super().__init__()
        self.window_size = tuple(int(w) for w in window_size)
        self.shift_size = tuple(int(s) for s in shift_size)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention3D(dim, self.window_size, num_heads, qkv_bias, authors_index_slice)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = _Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """``x`` ``(B, D, H, W, C)``; ``mask`` is the layer's shift mask (used only if this block shifts)."""
        b, d, h, w, c = x.shape
        window, shift = effective_window((d, h, w), self.window_size, self.shift_size)
        y = self.norm1(x)
        pads = [(-n) % win for n, win in zip((d, h, w), window, strict=True)]
        y = F.pad(y, (0, 0, 0, pads[2], 0, pads[1], 0, pads[0]))
        dp, hp, wp = d + pads[0], h + pads[1], w + pads[2]
        shifted = any(s > 0 for s in shift)
        if shifted:
            y = torch.roll(y, shifts=tuple(-s for s in shift), dims=(1, 2, 3))
        y = self.attn(_window_partition(y, window), window, mask if shifted else None)
        y = _window_reverse(y, window, b, dp, hp, wp)
        if shifted:
            y = torch.roll(y, shifts=shift, dims=(1, 2, 3))
        x = x + y[:, :d, :h, :w]
        return x + self.mlp(self.norm2(x))


class SwinLayer3D(nn.Module):
    """CVRS's Video-Swin ``BasicLayer``: ``(B, C, D, H, W) -> (B, C, D, H, W)``.

    ``depth`` blocks (odd ones shifted by ``window // 2``), then
    ``PReLU(Conv3d_3x3x3(.)) + input``. Keys ``blocks.{k}.*``, ``conv3x3x3.{0,1}``.
    """

    def __init__(
        self,
        dim: int,
        depth: int,
        num_heads: int,
        window_size: Sequence[int] = (3, 7, 7),
        mlp_ratio: float = 4.0,
        qkv_bias: bool = False,
        authors_index_slice: bool = True,
    ) -> None:
        super().__init__()
        self.window_size = tuple(int(w) for w in window_size)
        self.shift_size = tuple(w // 2 for w in self.window_size)
        self.blocks = nn.ModuleList(
            SwinBlock3D(
                dim,
                num_heads,
                self.window_size,
                (0, 0, 0) if k % 2 == 0 else self.shift_size,
                mlp_ratio,
                qkv_bias,
                authors_index_slice,
            )
            for k in range(depth)
        )
        self.conv3x3x3 = nn.Sequential(nn.Conv3d(dim, dim, 3, padding=1), nn.PReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 5:
            raise ValueError(f"SwinLayer3D expects (B, C, D, H, W), got shape {tuple(x.shape)}")
        d, h, w = x.shape[2:]
        window, shift = effective_window((d, h, w), self.window_size, self.shift_size)
        padded = [n + (-n) % win for n, win in zip((d, h, w), window, strict=True)]
        mask = None
        if any(s > 0 for s in shift):
            mask = compute_shift_mask(padded, window, shift, device=x.device).to(x.dtype)
        y = rearrange(x, "b c d h w -> b d h w c")
        for blk in self.blocks:
            y = blk(y, mask)
        y = rearrange(y, "b d h w c -> b c d h w")
        return self.conv3x3x3(y) + x
