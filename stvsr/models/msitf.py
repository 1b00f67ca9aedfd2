"""MSITF: Space-Time Video Super-Resolution via Multi-Scale Feature Interpolation and Temporal Feature Fusion.

Code ``carpenterChina/MSITF`` (no licence file; re-implemented from its description). No weights
were released: :func:`convert_msitf` loads checkpoints trained with the authors' repository.

Pipeline (N LR frames -> 2N-1 HR frames, x4, RGB):

1. Feature extraction per frame: conv + LReLU, zero-pad right/bottom to a multiple of 8,
   5 residual blocks, and a 3-level pyramid (strided convs).
2. Multi-scale feature interpolation: for each consecutive pair, a one-directional
   Zooming-Slow-Mo PCD module (modulated DCNv2, 8 offset groups, offsets bounded to +-10 px)
   and a 1x1 fusion give the feature of the missing middle frame.
3. Temporal feature fusion: a bidirectional deformable ConvLSTM (shared weights forward and
   backward, the LSTM state "aligned" by two PCD modules) fused by a 1x1 conv, plus a per-pixel
   temporal self-attention (8 heads) added residually.
4. Reconstruction: a trimmed Swin2SR trunk (6 residual SwinV2 groups of 2 blocks, window 8)
   per frame, crop, two PixelShuffle x2 stages, plus a trilinear upsampling of the input clip.

Authors' quirk kept behind ``authors_compat=True``, which the ``msitf`` registry entry and the
converter set (checkpoints trained with the authors' code depend on it; the class default is False,
as for every stvsr model): every PCD module deforms ``(fea1 + fea1) / 2`` = its first argument's
features only (frame i; the LSTM input); the second argument (frame i+1; the LSTM state) only
drives the offsets. Without it the DCNs deform ``(fea1 + fea2) / 2``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from stvsr._validate import check_positive_int, check_scale, check_times, check_video
from stvsr.layers.alignment import PCDAlignment, split_flat_pcd_key
from stvsr.layers.blocks import DropPath, ResidualBlockNoBN, lrelu
from stvsr.models._base import StvsrModel, load_state_dict_strict
from stvsr.models._capabilities import Capabilities
from stvsr.models._registry import register_model

__all__ = ["MSITF", "MSITFConfig", "convert_msitf"]


@dataclass
class MSITFConfig:
    """The configuration of :class:`MSITF`, its one declaration (``MSITF(cfg)``, ``MSITF(**asdict(cfg))``,
    ``MSITF(cfg, **changes)`` and ``MSITF(**fields)`` all build from it).

    Attributes:
        nf: feature width (64).
        groups: DCN offset groups (8).
        front_rbs: residual blocks of the feature extractor (5).
        max_offset: DCN offsets are ``max_offset * tanh(.)`` pixels (10).
        swin_depths: SwinV2 blocks per residual group of the trunk (6 groups of 2).
        swin_heads: attention heads per residual group (4).
        window_size: Swin window (8).
        mlp_ratio: Swin MLP expansion (2).
        attn_heads: heads of the temporal self-attention (8).
        drop_path_rate: stochastic depth of the trunk, ramped 0 -> rate over its blocks (0.1; training only).
        authors_compat: reproduce the released code: its PCD quirk (deform frame i's features only).
            False by default like every stvsr model; the ``msitf`` registry entry and
            :func:`convert_msitf` set it, since checkpoints trained with the authors' code depend on it.
    """

    nf: int = 64
    groups: int = 8
    front_rbs: int = 5
    max_offset: float = 10.0
    swin_depths: list[int] = field(default_factory=lambda: [2] * 6)
    swin_heads: list[int] = field(default_factory=lambda: [4] * 6)
    window_size: int = 8
    mlp_ratio: float = 2.0
    attn_heads: int = 8
    drop_path_rate: float = 0.1
    authors_compat: bool = False

    def __post_init__(self) -> None:  # JSON-friendly values whatever the caller passed (tuples, ints)
        self.max_offset = float(self.max_offset)
        self.swin_depths = [int(d) for d in self.swin_depths]
        self.swin_heads = [int(h) for h in self.swin_heads]
        self.mlp_ratio = float(self.mlp_ratio)
        self.drop_path_rate = float(self.drop_path_rate)


# ----------------------------------------------------------------------------- feature extraction


def _pcd(nf: int, groups: int, max_offset: float, authors_compat: bool) -> PCDAlignment:
    """Zooming Slow-Mo's one-directional PCD (no cascade; DCN offsets bounded to ``+-max_offset``).

    The DCN at each level deforms ``(fea1 + fea2) / 2``, or ``fea1`` only with ``authors_compat``:
    the released code deforms ``(fea1 + fea1) / 2``, and checkpoints trained with it depend on that.
    """
    return PCDAlignment(
        nf, groups, 3, max_offset, cascade=False, deform_input="nbr" if authors_compat else "mean"
    )


class _EasyPCD(nn.Module):
    """PCD on two single-level features: builds both pyramids, aligns, 1x1 fusion."""

    def __init__(self, nf: int, groups: int, max_offset: float, authors_compat: bool) -> None:
        super().__init__()
        self.fea_L2_conv1 = nn.Conv2d(nf, nf, 3, 2, 1)
        self.fea_L2_conv2 = nn.Conv2d(nf, nf, 3, 1, 1)
        self.fea_L3_conv1 = nn.Conv2d(nf, nf, 3, 2, 1)
        self.fea_L3_conv2 = nn.Conv2d(nf, nf, 3, 1, 1)
        self.pcd_align = _pcd(nf, groups, max_offset, authors_compat)
        self.fusion = nn.Conv2d(nf, nf, 1)

    def forward(self, f1: torch.Tensor, f2: torch.Tensor) -> torch.Tensor:
        l1 = torch.cat((f1, f2), 0)
        l2 = lrelu(self.fea_L2_conv2(lrelu(self.fea_L2_conv1(l1))))
        l3 = lrelu(self.fea_L3_conv2(lrelu(self.fea_L3_conv1(l2))))
        p1 = [t.chunk(2, 0)[0] for t in (l1, l2, l3)]
        p2 = [t.chunk(2, 0)[1] for t in (l1, l2, l3)]
        return self.fusion(self.pcd_align(p1, p2))


# ----------------------------------------------------------------------------- temporal fusion


class _ConvLSTMCell(nn.Module):
    """ConvLSTM cell: one conv on ``cat(x, h)`` gives the i, f, o, g gates."""

    def __init__(self, input_dim: int, hidden_dim: int, kernel: int = 3) -> None:
        super().__init__()
        self.hidden_dim = hidden_dim
        self.conv = nn.Conv2d(input_dim + hidden_dim, 4 * hidden_dim, kernel, 1, kernel // 2)

    def forward(self, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        i, f, o, g = torch.split(self.conv(torch.cat((x, h), 1)), self.hidden_dim, dim=1)
        c_next = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c_next), c_next


class _DeformableConvLSTM(nn.Module):
    """One-layer ConvLSTM whose state is replaced each step by PCD outputs ``pcd_h(x, h)``, ``pcd_c(x, c)``."""

    def __init__(self, nf: int, groups: int, max_offset: float, authors_compat: bool) -> None:
        super().__init__()
        self.pcd_h = _EasyPCD(nf, groups, max_offset, authors_compat)
        self.pcd_c = _EasyPCD(nf, groups, max_offset, authors_compat)
        self.cell_list = nn.ModuleList([_ConvLSTMCell(nf, nf, 3)])

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        """(B, T, C, H, W) -> hidden states (B, T, C, H, W); zero initial state."""
        h = seq.new_zeros(seq[:, 0].shape)
        c = torch.zeros_like(h)
        outs = []
        for t in range(seq.shape[1]):
            x = seq[:, t]
            h, c = self.cell_list[0](x, self.pcd_h(x, h), self.pcd_c(x, c))
            outs.append(h)
        return torch.stack(outs, 1)


class _BiDeformableConvLSTM(nn.Module):
    """The same deformable ConvLSTM forward and on the reversed clip, fused by a 1x1 conv."""

    def __init__(self, nf: int, groups: int, max_offset: float, authors_compat: bool) -> None:
        super().__init__()
        self.forward_net = _DeformableConvLSTM(nf, groups, max_offset, authors_compat)
        self.conv_1x1 = nn.Conv2d(2 * nf, nf, 1)

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        fwd = self.forward_net(seq)
        bwd = self.forward_net(seq.flip(1)).flip(1)
        b = seq.shape[0]
        out = self.conv_1x1(rearrange(torch.cat((fwd, bwd), 2), "b t c h w -> (b t) c h w"))
        return rearrange(out, "(b t) c h w -> b t c h w", b=b)


class _TemporalAttention(nn.Module):
    """Multi-head self-attention over the T features of each pixel (no norm, no position code)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"attn_heads ({heads}) must divide nf ({dim})")
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, C, H, W) -> (B, T, C, H, W) (the attention output, without the residual)."""
        b, _, _, h, w = x.shape
        tokens = rearrange(x, "b t c h w -> (b h w) t c")
        q, k, v = rearrange(self.qkv(tokens), "n t (three k d) -> three n k t d", three=3, k=self.heads)
        attn = torch.softmax((q @ k.transpose(-2, -1)) * self.scale, dim=-1)
        y = self.proj(rearrange(attn @ v, "n k t d -> n t (k d)"))
        return rearrange(y, "(b h w) t c -> b t c h w", b=b, h=h, w=w)


# ----------------------------------------------------------------------------- Swin2SR trunk


def _relative_coords_table(ws: int) -> torch.Tensor:
    """SwinV2 log-spaced relative coordinates ``(1, 2ws-1, 2ws-1, 2)`` (computed in float32 like the original)."""
    r = torch.arange(-(ws - 1), ws, dtype=torch.float32)
    table = torch.stack(torch.meshgrid(r, r, indexing="ij")).permute(1, 2, 0).contiguous().unsqueeze(0)
    table = table / (ws - 1) * 8
    return torch.sign(table) * torch.log2(torch.abs(table) + 1.0) / math.log2(8)


def _relative_position_index(ws: int) -> torch.Tensor:
    coords = torch.stack(torch.meshgrid(torch.arange(ws), torch.arange(ws), indexing="ij")).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0)
    return (rel[..., 0] + ws - 1) * (2 * ws - 1) + (rel[..., 1] + ws - 1)


def _shift_mask(h: int, w: int, ws: int, shift: int, like: torch.Tensor) -> torch.Tensor:
    """Attention mask ``(nW, ws*ws, ws*ws)``: 0 within a region of the rolled map, -100 across."""
    img = torch.zeros(h, w, device=like.device)
    cnt = 0
    for hs in (slice(0, -ws), slice(-ws, -shift), slice(-shift, None)):
        for wsl in (slice(0, -ws), slice(-ws, -shift), slice(-shift, None)):
            img[hs, wsl] = cnt
            cnt += 1
    win = rearrange(img, "(nh a) (nw b) -> (nh nw) (a b)", a=ws, b=ws)
    diff = win[:, None, :] - win[:, :, None]
    return torch.where(diff != 0, -100.0, 0.0).to(like.dtype)


class _WindowAttentionV2(nn.Module):
    """SwinV2 window attention: cosine attention with a learnable clamped logit scale and a
    continuous relative position bias (``cpb_mlp``, ``16 * sigmoid``)."""

    def __init__(self, dim: int, ws: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.logit_scale = nn.Parameter(torch.log(10 * torch.ones(heads, 1, 1)))
        self.cpb_mlp = nn.Sequential(nn.Linear(2, 512, bias=True), nn.ReLU(), nn.Linear(512, heads, bias=False))
        self.register_buffer("relative_coords_table", _relative_coords_table(ws), persistent=False)
        self.register_buffer("relative_position_index", _relative_position_index(ws), persistent=False)
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(dim))
        self.v_bias = nn.Parameter(torch.zeros(dim))
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """x (B*nW, N, C), mask (nW, N, N) or None -> (B*nW, N, C)."""
        n = x.shape[1]
        bias = torch.cat((self.q_bias, torch.zeros_like(self.v_bias), self.v_bias))
        q, k, v = rearrange(
            F.linear(x, self.qkv.weight, bias), "b n (three k d) -> three b k n d", three=3, k=self.heads
        )
        attn = F.normalize(q, dim=-1) @ F.normalize(k, dim=-1).transpose(-2, -1)
        scale = torch.clamp(self.logit_scale, max=math.log(1.0 / 0.01)).exp()
        attn = attn * scale
        coords: torch.Tensor = self.relative_coords_table  # type: ignore[assignment]
        table = self.cpb_mlp(coords.to(x.dtype)).view(-1, self.heads)
        index: torch.Tensor = self.relative_position_index  # type: ignore[assignment]
        rpb = table[index.view(-1)].view(n, n, -1).permute(2, 0, 1)
        attn = attn + 16 * torch.sigmoid(rpb).unsqueeze(0)
        if mask is not None:
            nw = mask.shape[0]
            attn = attn.view(-1, nw, self.heads, n, n) + mask.unsqueeze(1).unsqueeze(0)
            attn = attn.view(-1, self.heads, n, n)
        attn = torch.softmax(attn, dim=-1)
        return self.proj(rearrange(attn @ v, "b k n d -> b n (k d)"))


class _SwinV2Block(nn.Module):
    """Post-norm SwinV2 block: ``x + norm1(attn(x))``, then ``x + norm2(mlp(x))`` (optionally shifted windows)."""

    def __init__(self, dim: int, heads: int, ws: int, shift: int, mlp_ratio: float, drop_path: float) -> None:
        super().__init__()
        self.ws, self.shift = ws, shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = _WindowAttentionV2(dim, ws, heads)
        if drop_path > 0:
            self.drop_path: nn.Module = DropPath(drop_path)
        else:
            self.drop_path = nn.Identity()
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential()
        self.mlp.add_module("fc1", nn.Linear(dim, hidden))
        self.mlp.add_module("act", nn.GELU())
        self.mlp.add_module("fc2", nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        h, w = size
        ws, s = self.ws, self.shift
        y = rearrange(x, "b (h w) c -> b h w c", h=h)
        if s:
            y = torch.roll(y, shifts=(-s, -s), dims=(1, 2))
        win = rearrange(y, "b (nh a) (nw c2) c -> (b nh nw) (a c2) c", a=ws, c2=ws)
        mask = _shift_mask(h, w, ws, s, x) if s else None
        win = self.attn(win, mask)
        y = rearrange(win, "(b nh nw) (a c2) c -> b (nh a) (nw c2) c", nh=h // ws, nw=w // ws, a=ws)
        if s:
            y = torch.roll(y, shifts=(s, s), dims=(1, 2))
        x = x + self.drop_path(self.norm1(rearrange(y, "b h w c -> b (h w) c")))
        return x + self.drop_path(self.norm2(self.mlp(x)))


class _PatchEmbed(nn.Module):
    """1x1 conv ``proj`` then (B, H*W, C) tokens, optionally LayerNorm-ed."""

    def __init__(self, dim: int, norm: bool) -> None:
        super().__init__()
        self.proj = nn.Conv2d(dim, dim, 1)
        self.norm = nn.LayerNorm(dim) if norm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = rearrange(self.proj(x), "b c h w -> b (h w) c")
        return x if self.norm is None else self.norm(x)


class _ResidualGroup(nn.Module):
    def __init__(self, blocks: list[_SwinV2Block]) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)


class _RSTB(nn.Module):
    """Residual Swin group: blocks, 3x3 conv, 1x1 ``patch_embed.proj``, plus the input."""

    def __init__(self, dim: int, blocks: list[_SwinV2Block]) -> None:
        super().__init__()
        self.residual_group = _ResidualGroup(blocks)
        self.conv = nn.Conv2d(dim, dim, 3, 1, 1)
        self.patch_embed = _PatchEmbed(dim, norm=False)

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        y = x
        for blk in self.residual_group.blocks:
            y = blk(y, size)
        y = self.conv(rearrange(y, "b (h w) c -> b c h w", h=size[0]))
        return self.patch_embed(y) + x


class _SwinTrunk(nn.Module):
    """Feature-to-feature Swin2SR trunk: ``conv_after_body(norm(RSTBs(patch_embed(x0)))) + x0``, x0 = conv_first(x)."""

    def __init__(
        self, dim: int, depths: Sequence[int], heads: Sequence[int], ws: int, mlp_ratio: float, drop_path_rate: float
    ) -> None:
        super().__init__()
        self.conv_first = nn.Conv2d(dim, dim, 3, 1, 1)
        self.patch_embed = _PatchEmbed(dim, norm=True)
        rates = torch.linspace(0, drop_path_rate, sum(depths)).tolist()
        layers, k = [], 0
        for depth, nh in zip(depths, heads, strict=True):
            blocks = [
                _SwinV2Block(dim, nh, ws, 0 if j % 2 == 0 else ws // 2, mlp_ratio, rates[k + j]) for j in range(depth)
            ]
            layers.append(_RSTB(dim, blocks))
            k += depth
        self.layers = nn.ModuleList(layers)
        self.norm = nn.LayerNorm(dim)
        self.conv_after_body = nn.Conv2d(dim, dim, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) with H, W multiples of the window -> (N, C, H, W)."""
        size = (x.shape[-2], x.shape[-1])
        x0 = self.conv_first(x)
        t = self.patch_embed(x0)
        for layer in self.layers:
            t = layer(t, size)
        t = rearrange(self.norm(t), "b (h w) c -> b c h w", h=size[0])
        return self.conv_after_body(t) + x0


# ----------------------------------------------------------------------------- the model


class MSITF(StvsrModel):
    """MSITF space-time video super-resolution: N LR frames -> 2N-1 HR frames (x4, midpoints only).

    ``MSITF(**model.config)`` rebuilds a model (``config``: the fields of :class:`MSITFConfig`; an
    ``MSITFConfig`` may also be passed first, keywords replacing its fields).

    Forward (stvsr contract): ``model(lr, scale=4.0, times=(0.5,))`` with ``lr`` ``(B, N, 3, h, w)``
    RGB in [0, 1], N >= 2 (trained with N = 4) -> ``(B, 2N-1, 3, 4h, 4w)`` RGB,
    ``[key0, mid01, key1, ...]``, clamped to [0, 1] unless ``clamp=False`` (the authors' network
    output is unclamped). Only ``times=(0.5,)`` and ``scale=4`` are supported. Any h, w.
    """

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(task="stvsr", space_scales=(4.0,), times=(0.5,), trained_frames=4)

    def __init__(self, config: MSITFConfig | None = None, **overrides: Any) -> None:
        super().__init__()
        cfg = replace(config, **overrides) if config is not None else MSITFConfig(**overrides)
        nf, groups, window_size, authors_compat = cfg.nf, cfg.groups, cfg.window_size, cfg.authors_compat
        for name in ("nf", "groups", "front_rbs", "window_size", "attn_heads"):
            value = getattr(cfg, name)
            check_positive_int(value, name)
        if nf % groups:
            raise ValueError(f"groups ({groups}) must divide nf ({nf})")
        if len(cfg.swin_depths) != len(cfg.swin_heads) or not cfg.swin_depths:
            raise ValueError(
                f"swin_depths and swin_heads must be non-empty and of equal length, got "
                f"{cfg.swin_depths} and {cfg.swin_heads}"
            )
        if any(nf % nh for nh in cfg.swin_heads):
            raise ValueError(f"every entry of swin_heads must divide nf ({nf}), got {cfg.swin_heads}")
        if window_size < 2:
            raise ValueError(f"window_size must be >= 2, got {window_size}")
        self.config: dict[str, Any] = asdict(cfg)
        # features are padded so that the pyramid (/4) and the Swin windows tile exactly (8 as released)
        self.pad_multiple = math.lcm(4, window_size)
        self.conv_first = nn.Conv2d(3, nf, 3, 1, 1)
        self.feature_extraction = nn.Sequential(*[ResidualBlockNoBN(nf) for _ in range(cfg.front_rbs)])
        self.fea_L2_conv1 = nn.Conv2d(nf, nf, 3, 2, 1)
        self.fea_L2_conv2 = nn.Conv2d(nf, nf, 3, 1, 1)
        self.fea_L3_conv1 = nn.Conv2d(nf, nf, 3, 2, 1)
        self.fea_L3_conv2 = nn.Conv2d(nf, nf, 3, 1, 1)
        self.pcd_align = _pcd(nf, groups, cfg.max_offset, authors_compat)
        self.fusion = nn.Conv2d(nf, nf, 1)
        self.ConvBLSTM = _BiDeformableConvLSTM(nf, groups, cfg.max_offset, authors_compat)
        self.attn = _TemporalAttention(nf, cfg.attn_heads)
        self.recon_trunk = _SwinTrunk(
            nf, cfg.swin_depths, cfg.swin_heads, window_size, cfg.mlp_ratio, cfg.drop_path_rate
        )
        self.upconv1 = nn.Conv2d(nf, 4 * nf, 3, 1, 1)
        self.upconv2 = nn.Conv2d(nf, 4 * nf, 3, 1, 1)
        self.HRconv = nn.Conv2d(nf, nf, 3, 1, 1)
        self.conv_last = nn.Conv2d(nf, 3, 3, 1, 1)
        self._init_like_authors()

    def _init_like_authors(self) -> None:
        # Swin2SR initialises its linear layers with trunc_normal(0.02) and LayerNorms with (1, 0)
        for m in self.recon_trunk.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def filter_state_dict(self, state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The authors' flat PCD keys (``pcd_align.L3_offset_conv1_1.weight``) -> :class:`PCDAlignment`'s
        (``pcd_align.offset_conv1.l3.weight``); other keys unchanged."""
        out = {}
        for key, value in state_dict.items():
            flat = split_flat_pcd_key(key)
            out[key if flat is None else ".".join(filter(None, (flat[0], flat[2])))] = value
        return out

    def network(self, x: torch.Tensor) -> torch.Tensor:
        """The authors' ``Net.forward``: ``(B, N, 3, h, w)`` RGB -> ``(B, 2N-1, 3, 4h, 4w)``, unclamped."""
        check_video(x, "x", min_frames=2)
        b, n, _, h, w = x.shape
        base = F.interpolate(
            rearrange(x, "b n c h w -> b c n h w"),
            size=(2 * n - 1, 4 * h, 4 * w),
            mode="trilinear",
            align_corners=False,
        )
        base = rearrange(base, "b c t h w -> b t c h w")
        m = self.pad_multiple
        l1 = lrelu(self.conv_first(rearrange(x, "b n c h w -> (b n) c h w")))
        l1 = F.pad(l1, (0, (-w) % m, 0, (-h) % m))
        l1 = self.feature_extraction(l1)
        l2 = lrelu(self.fea_L2_conv2(lrelu(self.fea_L2_conv1(l1))))
        l3 = lrelu(self.fea_L3_conv2(lrelu(self.fea_L3_conv1(l2))))
        pyr = [rearrange(t, "(b n) c h w -> b n c h w", b=b) for t in (l1, l2, l3)]
        seq = [pyr[0][:, 0]]
        for i in range(n - 1):
            mid = self.fusion(self.pcd_align([p[:, i] for p in pyr], [p[:, i + 1] for p in pyr]))
            seq += [mid, pyr[0][:, i + 1]]
        feats = self.ConvBLSTM(torch.stack(seq, 1))
        feats = feats + self.attn(feats)
        out = self.recon_trunk(rearrange(feats, "b t c h w -> (b t) c h w"))[..., :h, :w]
        out = lrelu(F.pixel_shuffle(self.upconv1(out), 2))
        out = lrelu(F.pixel_shuffle(self.upconv2(out), 2))
        out = self.conv_last(lrelu(self.HRconv(out)))
        return rearrange(out, "(b t) c h w -> b t c h w", b=b) + base

    def forward(
        self,
        lr: torch.Tensor,
        scale: float | Sequence[float] = 4.0,
        times: float | Sequence[float] = (0.5,),
        *,
        clamp: bool = True,
    ) -> torch.Tensor:
        """``(B, N, 3, h, w)`` RGB [0, 1], N >= 2 -> ``(B, 2N-1, 3, 4h, 4w)`` RGB.

        Args:
            lr: N LR frames (trained with N = 4).
            scale: must be 4.
            times: must be ``(0.5,)`` (MSITF renders midpoints only).
            clamp: clamp the output to [0, 1] (the authors' network does not).
        """
        check_video(lr, "lr", min_frames=2)
        sh, sw = check_scale(scale)
        if sh != 4.0 or sw != 4.0:
            raise ValueError(f"MSITF supports scale=4 only (fixed x4 architecture), got {scale!r}")
        ts = check_times(times)
        if ts != (0.5,):
            raise ValueError(f"MSITF renders midpoints only: times must be (0.5,), got {times!r}")
        out = self.network(lr)
        return out.clamp(0, 1) if clamp else out


# ----------------------------------------------------------------------------- converter & registry

_REGENERATED = ("relative_coords_table", "relative_position_index", "attn_mask")


def convert_msitf(state_dict: Mapping[str, torch.Tensor], **overrides: Any) -> MSITF:
    """Load a checkpoint of the authors' ``Net`` (``mystvsr07.py``) into :class:`MSITF`.

    Keys are the authors' (a ``module.`` prefix from DataParallel is tolerated; the flat PCD names are
    mapped by :meth:`MSITF.filter_state_dict` while loading); the Swin buffers
    ``relative_coords_table``, ``relative_position_index`` and ``attn_mask`` are dropped (stvsr
    recomputes them; they are constants of the window size).
    """
    sd = {k.removeprefix("module."): v for k, v in state_dict.items()}
    sd = {k: v for k, v in sd.items() if k.rsplit(".", 1)[-1] not in _REGENERATED}
    model = msitf(**overrides)
    assert isinstance(model, MSITF)  # the registry entry: with the authors' behaviour
    load_state_dict_strict(model, sd, what="MSITF checkpoint")
    return model.eval()


_CARD = {
    "paper": {
        "title": "Space-Time Video Super-Resolution via Multi-Scale Feature Interpolation and Temporal Feature Fusion",
        "venue": "Research Square preprint (rs-4342774/v1)",
        "year": 2024,  # preprint posted with the code (June 2024); no journal version known
    },
    "authors_repo": "https://github.com/carpenterChina/MSITF",
    "licence": "none stated (no LICENSE file; re-implemented from its description)",
    "params": 5585611,
    "conformance": "msitf",
    "summary": "Pyramid deformable feature interpolation, a bidirectional deformable ConvLSTM with temporal "
    "self-attention and a SwinV2 trunk: N LR frames to 2N-1 HR frames at x4 (no released weights).",
}


@register_model("msitf", converter=convert_msitf, card=_CARD)
def msitf(**overrides: Any) -> MSITF:
    """MSITF as in the authors' test scripts (nf 64, 8 DCN groups, Swin2SR trunk 6 x 2 blocks), with their
    PCD quirk (``authors_compat=True``, which ``overrides`` may change)."""
    return MSITF(**{"authors_compat": True, **overrides})
