"""MsMr: continuous space-time video super-resolution with multi-stage motion information reorganisation.

Y. Zhang, D. Yang, Z. Chen, W. Ding, ACM TOMM (arXiv 2302.13256); code ``hahazh/LD-STVSR``
(Mulan PSL v2). Two released models:

- ``msmr_fix``: x4 space, x2 time (13,193,720 parameters);
- ``msmr_arb``: arbitrary space scale and time (17,066,146 parameters).

The file reads like the paper's figure, top to bottom:

1. SpyNet flows between consecutive LR frames (both directions, at LR, with 1/2 and 1/4 pyramids).
2. Per-frame LR features (``lr_feat_extract``).
3. Backward then forward recurrent propagation with one shared flow-guided deformable
   alignment (``deform_align``), fused with a temporal-attention block (``atten_fuse``).
4. Intermediate frames from two neighbouring key frames by softmax forward splatting of an
   image/feature pyramid plus two PCD deformable alignments (``insert``).
5. A continuous depth-to-space upsampler (``arb_upample``, the authors' spelling).

The flows are used the way the released weights expect (the authors' naming is the
reverse of BasicVSR's): ``spy(lr[i+1], lr[i])`` backward-warps the backward branch and
splats frame ``i+1``; ``spy(lr[i], lr[i+1])`` backward-warps the forward branch and splats frame ``i``.

Forward contract (``task="stvsr"``)::

    out = model(lr, scale=4.0, times=(0.5,))

- ``lr``: ``(B, T, 3, h, w)`` RGB in [0, 1], ``T >= 2``, any ``h, w`` (reflect-padded to a multiple
  of 4 inside and cropped back).
- ``scale``: ``float`` or ``(scale_h, scale_w)``; ``msmr_fix`` is trained for 4 but its
  resampling upsampler accepts any positive scale (quality off x4 is untested);
  ``msmr_arb`` is trained for continuous scales (the authors' code history suggests 1.2-4).
- ``times``: time stamps in (0, 1), the same for every consecutive pair of LR frames.
- returns ``(B, T + (T-1)*K, 3, H, W)``, ``K = len(times)``, ordered
  ``[key0, t1..tK, key1, ...]``, ``H = round(scale_h * h)``, ``W = round(scale_w * w)``,
  clamped to [0, 1] (``clamp=False``: unclamped, as training needs).

Fixes of the authors' defects (defaults): palindromic clips work (the original crashes on them),
any ``h, w``, output cropped to the requested size and clamped. ``authors_compat=True``
(constructor, attribute or call argument) reproduces the released code exactly on the padded
input: output size ``round(scale * h_padded)`` forced even by subtracting 1, no crop, no clamp,
and the arbitrary upsampler's offset MLP evaluated at the un-evened size then resized.

In the default mode the padded output is computed at ``round(scale * h_padded)`` rounded *up* to
even (the scale-aware mask pools by 2) and the learned sampling offsets are evaluated at the output
pixels themselves; where the authors' size was odd, their resize of the offset field to the evened
size shifts it, so the two modes then differ (by up to a few tenths on random weights). Where the
authors' size is already even (e.g. x4, or conformance-style sizes) the modes agree up to crop/clamp.

The scale-aware blocks contain BatchNorm: converted models come back in eval mode; for training,
see :mod:`stvsr.layers.scale_aware` (train from scratch in train mode, or freeze the BatchNorms
when fine-tuning on small batches). ``model`` processes the whole clip at once like the authors'
(memory grows with ``T``); for long videos use the windowed driver::

    from stvsr.models._windowed import windowed_forward
    out = windowed_forward(model, lr, window=7, overlap=2, scale=4.0, times=(0.5,))

``MsMr(**model.config)`` rebuilds a model (``config`` is the :class:`MsMrConfig` as a dict).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from stvsr._validate import check_pair_times, check_positive_int, check_scale, check_video
from stvsr.layers.alignment import FlowGuidedDeformAlignment, PCDAlignment, split_flat_pcd_key
from stvsr.layers.blocks import ResidualBlocksWithInputConv, lrelu
from stvsr.layers.depth_to_space import ArbitraryDepthToSpace, CascadeDepthToSpace
from stvsr.layers.flow.spynet import SpyNet
from stvsr.layers.forward_warp import SoftmaxForwardWarp, fill_holes
from stvsr.layers.scale_aware import ScaleAwareResidualBlocks
from stvsr.models._base import StvsrModel, load_state_dict_strict
from stvsr.models._capabilities import Capabilities
from stvsr.models._registry import register_model
from stvsr.ops.warp import backward_warp

__all__ = ["MsMr", "MsMrConfig", "convert_msmr_arb", "convert_msmr_fix", "msmr_arb", "msmr_fix"]


# ----------------------------------------------------------------------------- configuration
@dataclass(frozen=True)
class MsMrConfig:
    """The configuration of :class:`MsMr`, its one declaration: ``MsMr(cfg)``, ``MsMr(**asdict(cfg))``,
    ``MsMr(cfg, **changes)`` and ``MsMr(**fields)`` all build from it.

    Attributes:
        variant: ``"fix"`` (cascaded depth-to-space, 3D temporal fusion) or ``"arb"``
            (scale-aware trunk, parallel depth-to-space with learned offsets).
        mid_channels: feature width ``C`` (64 in the released models).
        num_blocks: residual blocks of each propagation / insertion trunk (30).
        feat_blocks: residual blocks of the per-frame feature extractor (5).
        sa_every: ``arb`` only: a scale-aware adapter after every ``sa_every`` blocks (5).
        up_channels: width of the upsampler's sub-pixel maps (32).
        authors_compat: reproduce the released code's output size / crop / clamp (module docstring).
    """

    variant: str = "fix"
    mid_channels: int = 64
    num_blocks: int = 30
    feat_blocks: int = 5
    sa_every: int = 5
    up_channels: int = 32
    authors_compat: bool = False


# ----------------------------------------------------------------------------- temporal fusion (TFA)


class _RefAttention(nn.Module):
    """TSA-like fusion of 3 frames around the reference (index 1): ``(B, C, 3, h, w) -> (B, C, h, w)``.

    Temporal attention: softmax over the 3 frames of ``<ta2(f_i), ta1(f_ref)>``, weighted frames
    concatenated t-major, conv + LReLU. Spatial attention, from the *unweighted* frames (t-major):
    conv + LReLU, max/avg pool 3/s2, conv + LReLU, bilinear x2, 1x1 conv, sigmoid.
    Output ``(feat + feat * attn) / 2``.
    """

    def __init__(self, c: int) -> None:
        super().__init__()
        self.ta1 = nn.Conv2d(c, c, 3, 1, 1)
        self.ta2 = nn.Conv2d(c, c, 3, 1, 1)
        self.feat_fusion = nn.Sequential(nn.Conv2d(3 * c, c, 3, 1, 1), nn.LeakyReLU(0.1))
        self.sa1 = nn.Sequential(nn.Conv2d(3 * c, c, 3, 1, 1), nn.LeakyReLU(0.1))
        self.sa2 = nn.Sequential(nn.Conv2d(2 * c, c, 3, 1, 1), nn.LeakyReLU(0.1))
        self.spatial_attn_add2 = nn.Conv2d(c, c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = x.shape
        frames = x.transpose(1, 2)  # (B, 3, C, h, w)
        ref = self.ta1(frames[:, 1])
        emb = self.ta2(frames.flatten(0, 1)).view(b, t, c, h, w)
        prob = torch.softmax((emb * ref[:, None]).sum(dim=2, keepdim=True), dim=1)
        feat = self.feat_fusion((frames * prob).flatten(1, 2))  # t-major: index t*C + c
        attn = self.sa1(frames.flatten(1, 2))  # spatial attention sees the unweighted frames
        pooled = torch.cat(
            [F.max_pool2d(attn, 3, 2, 1), F.avg_pool2d(attn, 3, 2, 1)], dim=1
        )
        attn = self.sa2(pooled)
        attn = F.interpolate(attn, size=(h, w), mode="bilinear", align_corners=False)
        attn = torch.sigmoid(self.spatial_attn_add2(attn))
        return (feat + feat * attn) / 2


class _Hybrid3D(nn.Module):
    """3D block: conv3d (2,3,3) -> 2 steps and (3,3,3) -> 1 step, reassembled to 3 steps, plus input."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv3d_ks2 = nn.Conv3d(c, c, (2, 3, 3), 1, (0, 1, 1))
        self.conv3d_ks3 = nn.Conv3d(c, c, (3, 3, 3), 1, (0, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        two = lrelu(self.conv3d_ks2(x))
        one = lrelu(self.conv3d_ks3(x))
        return x + torch.cat([two[:, :, :1], one, two[:, :, 1:]], dim=2)


class _FusionFix(nn.Module):
    """The fixed model's TFA: hybrid 3D convolutions then :class:`_RefAttention`, plus a 2D shortcut.

    ``(B, C, 3, h, w)`` stack [backward feature, LR feature, aligned forward feature] -> ``(B, C, h, w)``.
    The authors' in-place LeakyReLUs make both the 3D branch and the shortcut see ``LReLU(X)``
    (the released weights depend on it).
    """

    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv3d_1 = nn.Conv3d(c, c, 1)
        self.conv3d_2 = nn.Conv3d(c, c, (1, 3, 3), 1, (0, 1, 1))
        self.conv3d_3 = nn.Conv3d(2 * c, c, 1)
        self.conv3d_4 = nn.Conv3d(c, c, (1, 3, 3), 1, (0, 1, 1))
        self.conv3d_fuse1 = nn.Conv3d(2 * c, c, 1)
        self.repeat_hybrid = nn.Sequential(*[_Hybrid3D(c) for _ in range(3)])
        self.short_cut_out = nn.Conv2d(3 * c, c, 3, 1, 1)
        self.att = _RefAttention(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = lrelu(x)
        b1 = self.conv3d_2(lrelu(self.conv3d_1(a)))
        v = lrelu(self.conv3d_3(lrelu(torch.cat([a, b1], dim=1))))
        f = self.conv3d_fuse1(lrelu(torch.cat([v, self.conv3d_4(v)], dim=1)))
        shortcut = lrelu(self.short_cut_out(a.flatten(1, 2)))  # c-major: index c*3 + t
        return shortcut + self.att(self.repeat_hybrid(f))


class _FusionArb(nn.Module):
    """The arbitrary model's TFA: ``LReLU(conv(X as c-major 3C channels)) + _RefAttention(X)``."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.short_cut_out = nn.Conv2d(3 * c, c, 3, 1, 1)
        self.att = _RefAttention(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return lrelu(self.short_cut_out(x.flatten(1, 2))) + self.att(x)


# ----------------------------------------------------------------------------- frame synthesis (insert)
class _SmallUNet(nn.Module):
    """Content map from the splatted image: ``(B, 3, h, w) -> (B, 32, h, w)`` (h, w multiples of 4).

    Pre-activation ReLU blocks: two stride-2 levels (32, 64 ch), a middle level, decoders on
    ``cat[skip, decoded]`` and bilinear x2 upsampling with ``align_corners=True``.
    """

    def __init__(self) -> None:
        super().__init__()

        def block(cin: int, cout: int, stride: int = 1) -> list[nn.Module]:
            return [nn.ReLU(), nn.Conv2d(cin, cout, 3, stride, 1), nn.ReLU(), nn.Conv2d(cout, cout, 3, 1, 1)]

        def up(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True), *block(cin, cout))

        self.conv_img = nn.Conv2d(3, 16, 3, 1, 1)
        self.down_l1 = nn.Sequential(*block(16, 32, 2))
        self.down_l2 = nn.Sequential(*block(32, 64, 2))
        self.middle = nn.Sequential(nn.Conv2d(64, 64, 3, 1, 1), nn.ReLU(), nn.Conv2d(64, 64, 3, 1, 1))
        self.Decoder2 = _Decoder(128, 64)
        self.up_l2 = up(64, 32)
        self.Decoder1 = _Decoder(64, 32)
        self.up_l1 = up(32, 32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.down_l1(self.conv_img(x))
        x2 = self.down_l2(x1)
        d2 = self.Decoder2(torch.cat([x2, self.middle(x2)], dim=1))
        d1 = self.Decoder1(torch.cat([x1, self.up_l2(d2)], dim=1))
        return self.up_l1(d1)


class _Decoder(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv_relu = nn.Sequential(
            nn.ReLU(), nn.Conv2d(cin, cout, 3, 1, 1), nn.ReLU(), nn.Conv2d(cout, cout, 3, 1, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_relu(x)


class ForwardWarpPCD(nn.Module):
    """MsMr's frame-synthesis module (``insert``; the authors' ``Forward_warp_guided_pcd``).

    ``forward(img_a, img_b, feat_a, feat_b, flows_ab, flows_ba, t)`` with images ``(B, 3, h, w)``,
    key-frame features ``(B, C, h, w)``, flow pyramids ``[full, 1/2, 1/4]`` of ``(B, 2, ., .)`` pixel
    flows ``F_{a->b}`` / ``F_{b->a}``, and ``t`` in (0, 1) -> the feature of the frame at ``t``
    ``(B, C, h, w)``. ``h, w`` must be multiples of 4.

    a. importance metric ``Z`` from backward-warping errors (:class:`SoftmaxForwardWarp`);
    b. softmax splatting of ``a`` by ``t * F_ab`` and of ``b`` by ``(1 - t) * F_ba``;
    c. splatted images: cross hole filling, average, a small UNet -> 32-ch content map;
    d. a shared 3-level feature pyramid of ``[image, feature]``, splatted per level
       (cross hole filling at the coarsest level);
    e. two PCD alignments (:class:`PCDAlignment`; ``pcd_ab`` aligns ``a``'s warp to ``b``'s,
       ``pcd_ba`` the reverse; the authors' flat keys ``L{1,2,3}_*_{1,2}`` are mapped by
       :meth:`MsMr.filter_state_dict`);
    f. ``blend([y1, y2, content]) + m * y1 + (1 - m) * y2`` with a learned mask ``m``.
    """

    def __init__(self, c: int = 64, deform_groups: int = 8) -> None:
        super().__init__()
        self.c = c
        # the authors' PCD: no cascade, every conv's LeakyReLU applied twice (the weights depend on it)
        self.pcd_ab = PCDAlignment(c, deform_groups, 3, cascade=False, double_lrelu=True)
        self.pcd_ba = PCDAlignment(c, deform_groups, 3, cascade=False, double_lrelu=True)
        self.fea_L1_conv = nn.Conv2d(3 + c, c, 3, 1, 1)
        self.fea_L2_conv1 = nn.Sequential(
            nn.Conv2d(c, c, 3, 2, 1), nn.LeakyReLU(0.1), nn.Conv2d(c, c, 3, 1, 1), nn.LeakyReLU(0.1)
        )
        self.fea_L3_conv2 = nn.Sequential(
            nn.Conv2d(c, c, 3, 2, 1), nn.LeakyReLU(0.1), nn.Conv2d(c, c, 3, 1, 1), nn.LeakyReLU(0.1)
        )
        self.metric = SoftmaxForwardWarp()
        self.blend = nn.Conv2d(2 * c + 32, c, 1)
        self.small_u = _SmallUNet()
        self.mask_l1 = nn.Conv2d(2 * c, 1, 3, 1, 1)

    def _pyramid(self, img: torch.Tensor, feat: torch.Tensor) -> list[torch.Tensor]:
        l1 = lrelu(self.fea_L1_conv(torch.cat([img, feat], dim=1)))
        l2 = self.fea_L2_conv1(l1)
        return [l1, l2, self.fea_L3_conv2(l2)]

    def forward(
        self,
        img_a: torch.Tensor,
        img_b: torch.Tensor,
        feat_a: torch.Tensor,
        feat_b: torch.Tensor,
        flows_ab: Sequence[torch.Tensor],
        flows_ba: Sequence[torch.Tensor],
        t: float,
    ) -> torch.Tensor:
        warp = self.metric
        z_ab = warp.importance(img_a, img_b, flows_ab[0])
        z_ba = warp.importance(img_b, img_a, flows_ba[0])
        sizes = [(f.shape[-2], f.shape[-1]) for f in flows_ab]
        zs_ab = [warp.resize_metric(z_ab, s) for s in sizes]
        zs_ba = [warp.resize_metric(z_ba, s) for s in sizes]

        sa = warp(img_a, flows_ab[0] * t, zs_ab[0])
        sb = warp(img_b, flows_ba[0] * (1 - t), zs_ba[0])
        sa, sb = fill_holes(sa, sb)
        content = self.small_u((sa + sb) / 2)

        pa, pb = self._pyramid(img_a, feat_a), self._pyramid(img_b, feat_b)
        wa = [warp(pa[i], flows_ab[i] * t, zs_ab[i]) for i in range(3)]
        wb = [warp(pb[i], flows_ba[i] * (1 - t), zs_ba[i]) for i in range(3)]
        wa[2], wb[2] = fill_holes(wa[2], wb[2])

        y1 = self.pcd_ab(wa, wb)
        y2 = self.pcd_ba(wb, wa)
        mask = torch.sigmoid(self.mask_l1(torch.cat([y1, y2], dim=1)))
        return self.blend(torch.cat([y1, y2, content], dim=1)) + mask * y1 + (1 - mask) * y2


# ----------------------------------------------------------------------------- the model
_PCD_BRANCHES = {"1": "pcd_ab", "2": "pcd_ba"}  # the authors' branch suffix -> ForwardWarpPCD's module


class MsMr(StvsrModel):
    """MsMr space-time video super-resolution (both released variants; see the module docstring).

    Args: an :class:`MsMrConfig` and/or its fields as keywords (they replace the config's).
    ``self.config`` holds the fields as a dict.

    Forward: ``model(lr (B, T, 3, h, w) in [0, 1], scale=4.0 | (sh, sw), times=(0.5,),
    authors_compat=None)`` -> ``(B, T + (T-1)*K, 3, H, W)``.
    """

    @property
    def capabilities(self) -> Capabilities:
        """The fixed variant is trained for x4 space and t = 0.5 only (other values run but are untrained);
        the arbitrary variant takes any scale and any time."""
        if self.variant == "fix":
            return Capabilities(task="stvsr", space_scales=(4.0,), times=(0.5,), per_pair_times=True)
        return Capabilities(task="stvsr", per_pair_times=True)

    def __init__(self, config: MsMrConfig | None = None, **overrides: Any) -> None:
        super().__init__()
        cfg = replace(config or MsMrConfig(), **overrides)
        if cfg.variant not in ("fix", "arb"):
            raise ValueError(f"variant must be 'fix' or 'arb', got {cfg.variant!r}")
        for name in ("mid_channels", "num_blocks", "up_channels"):
            check_positive_int(getattr(cfg, name), name)
        if cfg.mid_channels % 16:
            raise ValueError(f"mid_channels must be a multiple of 16 (deformable groups), got {cfg.mid_channels}")
        self.config = asdict(cfg)
        self.variant = variant = cfg.variant
        self.authors_compat = cfg.authors_compat
        c, num_blocks, feat_blocks, up_channels = cfg.mid_channels, cfg.num_blocks, cfg.feat_blocks, cfg.up_channels

        # 1) flows
        self.spy = SpyNet()
        # 2) per-frame features, 3) propagation and fusion, 4) synthesis, 5) upsampler
        if variant == "fix":
            self.lr_feat_extract: nn.Module = ResidualBlocksWithInputConv(3, c, feat_blocks)
            self.backward_resblocks: nn.Module = ResidualBlocksWithInputConv(c, c, num_blocks)
            self.forward_resblocks: nn.Module = ResidualBlocksWithInputConv(c, c, num_blocks)
            self.forward_resblocks_insert: nn.Module = ResidualBlocksWithInputConv(c, c, num_blocks)
            self.atten_fuse: nn.Module = _FusionFix(c)
            self.arb_upample: nn.Module = CascadeDepthToSpace(c, up_channels, num_experts=2)
        else:

            def trunk(cin: int, n: int) -> ScaleAwareResidualBlocks:
                return ScaleAwareResidualBlocks(cin, c, n, every=cfg.sa_every, mask_channels=16, num_experts=4)

            self.lr_feat_extract = trunk(3, feat_blocks)
            self.backward_resblocks = trunk(c, num_blocks)
            self.forward_resblocks = trunk(c, num_blocks)
            self.forward_resblocks_insert = trunk(c, num_blocks)
            self.atten_fuse = _FusionArb(c)
            self.arb_upample = ArbitraryDepthToSpace(c, up_channels, num_experts=2)
        self.deform_align = FlowGuidedDeformAlignment(2 * c, c, 3, padding=1, deform_groups=16, max_residue_magnitude=10)
        self.insert = ForwardWarpPCD(c, deform_groups=8)

    def filter_state_dict(self, state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The authors' flat PCD keys of ``insert`` (``insert.L3_offset_conv1_1.conv.weight``; also the
        layout of the weight files written by stvsr 0.1.0) -> ``insert.pcd_ab.offset_conv1.l3.weight``
        (branch ``_2``: ``pcd_ba``); other keys unchanged."""
        out = {}
        for key, value in state_dict.items():
            flat = split_flat_pcd_key(key)
            renamed = flat is not None and flat[1] in _PCD_BRANCHES
            out[f"{flat[0]}.{_PCD_BRANCHES[flat[1]]}.{flat[2]}" if flat and renamed else key] = value
        return out

    # -- helpers ---------------------------------------------------------------------------
    def _trunk(self, module: nn.Module, x: torch.Tensor, sh: float, sw: float) -> torch.Tensor:
        return module(x, sh, sw) if self.variant == "arb" else module(x)

    @staticmethod
    def _pyramid(flow: torch.Tensor) -> list[torch.Tensor]:
        h, w = flow.shape[-2:]
        out = [flow]
        for k in (2, 4):
            out.append(F.interpolate(flow, size=(h // k, w // k), mode="bilinear", align_corners=False) / k)
        return out

    @staticmethod
    def _pad(x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        ph, pw = (-h) % 4, (-w) % 4
        if not (ph or pw):
            return x
        b, t = x.shape[:2]
        flat = x.flatten(0, 1)
        # reflect like the authors' arbitrary model; replicate where the frame is too small to reflect
        mode = "reflect" if ph < h and pw < w else "replicate"
        return F.pad(flat, (0, pw, 0, ph), mode=mode).unflatten(0, (b, t))

    def _upsampler_grids(
        self, lr_size: tuple[int, int], sh: float, sw: float, out_size: tuple[int, int], like: torch.Tensor, compat: bool
    ) -> Sequence[torch.Tensor | None]:
        up = self.arb_upample
        if isinstance(up, ArbitraryDepthToSpace):
            return up.grids(lr_size, sh, sw, out_size, like, authors_compat=compat)
        assert isinstance(up, CascadeDepthToSpace)
        return up.grids(lr_size, sh, sw, out_size, like)

    # -- forward -----------------------------------------------------------------------------
    def forward(
        self,
        lr: torch.Tensor,
        scale: float | tuple[float, float] = 4.0,
        times: float | Sequence[float] | Sequence[Sequence[float]] = (0.5,),
        authors_compat: bool | None = None,
        *,
        clamp: bool = True,
    ) -> torch.Tensor:
        """Super-resolve ``lr`` in space and synthesise ``times`` between every pair of its frames.

        Args:
            lr: ``(B, T, 3, h, w)`` RGB in [0, 1], ``T >= 2``; any ``h, w`` (reflect-padded to a
                multiple of 4 inside, cropped back).
            scale: space factor, ``float`` or ``(scale_h, scale_w)``. ``variant="fix"`` is trained
                for 4 only (other factors run, untrained); ``variant="arb"`` for continuous factors.
            times: instants ``t`` in (0, 1) between consecutive frames (``K = len(times)``), the same
                for every pair, or one sequence per pair (``T - 1`` of them; the output is then
                ``[key0, pair 0's times, key1, ...]``, and flows, features and propagation are
                computed once). ``variant="fix"`` is trained for ``(0.5,)`` only.
            authors_compat: None uses the model's setting; True reproduces the released code
                exactly (even padded output size, no crop, no clamp; see the module docs).
            clamp: clamp the output to [0, 1] (False for training losses).

        Returns:
            ``(B, T + (T-1)*K, 3, H, W)`` ordered ``[key0, t1..tK, key1, ..., key_{T-1}]`` with
            ``H = round(scale_h * h)``, ``W = round(scale_w * w)``.

        Cost: the whole clip is processed at once (recurrent propagation in both directions), so
        memory and time grow with ``T`` and with the *output* area; use
        :func:`stvsr.models._windowed.windowed_forward` or :class:`stvsr.video.Upscaler` (windows and
        tiles) for long or large videos.
        """
        lr = check_video(lr, "lr", channels=3, min_frames=2)
        sh, sw = check_scale(scale)
        b, n, _, h, w = lr.shape
        pair_times = check_pair_times(times, n - 1)
        compat = self.authors_compat if authors_compat is None else bool(authors_compat)
        out_h, out_w = round(sh * h), round(sw * w)
        if out_h < 1 or out_w < 1:
            raise ValueError(f"scale {scale!r} gives an empty output for a {h}x{w} input")

        x = self._pad(lr)
        hp, wp = x.shape[-2:]
        full_h, full_w = round(sh * hp), round(sw * wp)
        if compat:  # the released code evens the size by subtracting 1
            full_h, full_w = full_h - full_h % 2, full_w - full_w % 2
        else:  # even (for the upsampler's pooled mask) and never smaller than the crop
            full_h, full_w = full_h + full_h % 2, full_w + full_w % 2
        out_size = (full_h, full_w)

        # 1) flows: backward[i] = F_{i+1 -> i} (grid of i+1), forward[i] = F_{i -> i+1} (grid of i)
        first, second = x[:, :-1].flatten(0, 1), x[:, 1:].flatten(0, 1)
        flows_backward = self.spy(second, first).unflatten(0, (b, n - 1))
        flows_forward = self.spy(first, second).unflatten(0, (b, n - 1))

        # 2) features
        feats = self._trunk(self.lr_feat_extract, x.flatten(0, 1), sh, sw).unflatten(0, (b, n))
        c = feats.shape[2]

        # 3a) backward propagation
        prop = feats.new_zeros(b, c, hp, wp)
        backward: list[torch.Tensor] = [prop] * n
        for i in range(n - 1, -1, -1):
            if i < n - 1:
                flow = flows_backward[:, i]
                cond = torch.cat([backward_warp(prop, flow), feats[:, i]], dim=1)
                prop = self.deform_align(torch.cat([prop, feats[:, i + 1]], dim=1), cond, flow)
            prop = self._trunk(self.backward_resblocks, prop + feats[:, i], sh, sw)
            backward[i] = prop

        grids = self._upsampler_grids((hp, wp), sh, sw, out_size, x, compat)

        def upsample(feat: torch.Tensor) -> torch.Tensor:
            return self.arb_upample(feat, sh, sw, out_size, grids)

        # 3b) forward propagation, 4) intermediate frames, 5) upsampling
        outputs: list[torch.Tensor] = []
        prop = feats.new_zeros(b, c, hp, wp)
        key_feat_prev = prop
        for i in range(n):
            if i > 0:
                flow = flows_forward[:, i - 1]
                cond = torch.cat([backward_warp(prop, flow), feats[:, i]], dim=1)
                prop = self.deform_align(torch.cat([prop, feats[:, i - 1]], dim=1), cond, flow)
            fused = self.atten_fuse(torch.stack([backward[i], feats[:, i], prop], dim=2))
            prop = self._trunk(self.forward_resblocks, fused, sh, sw)
            if i > 0:
                pyr_ab = self._pyramid(flows_forward[:, i - 1])
                pyr_ba = self._pyramid(flows_backward[:, i - 1])
                for t in pair_times[i - 1]:
                    y = self.insert(x[:, i - 1], x[:, i], key_feat_prev, prop, pyr_ab, pyr_ba, t)
                    y = self._trunk(self.forward_resblocks_insert, y, sh, sw)
                    outputs.append(upsample(y))
            outputs.append(upsample(prop))
            key_feat_prev = prop

        out = torch.stack(outputs, dim=1)
        if compat:
            return out
        out = out[..., :out_h, :out_w]
        # training asks for clamp=False: a clamp has zero gradient wherever an output overshoots
        return out.clamp(0.0, 1.0) if clamp else out


# ----------------------------------------------------------------------------- checkpoints and registry
_CARD_COMMON: dict[str, Any] = {
    "paper": {
        "title": "Continuous Space-Time Video Super-Resolution with Multi-stage Motion Information "
        "Reorganization",
        "authors": "Y. Zhang, D. Yang, Z. Chen, W. Ding",
        "venue": "ACM TOMM",
        "year": 2024,
        "arxiv": "2302.13256",
    },
    "authors_repo": "https://github.com/hahazh/LD-STVSR",
    "licence": "Mulan PSL v2",
}


def _build(variant: str, overrides: Mapping[str, Any]) -> MsMr:
    return MsMr(MsMrConfig(variant=variant), **overrides)


def _convert(variant: str, state_dict: Mapping[str, torch.Tensor]) -> MsMr:
    model = _build(variant, {})
    load_state_dict_strict(model, state_dict, what=f"msmr_{variant} checkpoint")
    return model.eval()


def convert_msmr_fix(state_dict: Mapping[str, torch.Tensor]) -> MsMr:
    """The authors' ``model_fix`` state_dict (655 entries, keys unchanged) -> :class:`MsMr` in eval mode."""
    return _convert("fix", state_dict)


def convert_msmr_arb(state_dict: Mapping[str, torch.Tensor]) -> MsMr:
    """The authors' ``model_arb`` state_dict (1,294 entries, keys unchanged) -> :class:`MsMr` in eval mode."""
    return _convert("arb", state_dict)


def _card(variant: str, params: int, summary: str) -> dict[str, Any]:
    return {
        **_CARD_COMMON,
        "params": params,
        "conformance": f"msmr_{variant}",
        "summary": summary,
        "weights_note": f"authors' model_{variant} on Baidu pan 1eiiLGqhOMman6CPgp9LeFA (pwd kzdi); convert with "
        f"stvsr.convert_checkpoint('msmr_{variant}', path)",
    }


_SUMMARY_FIX = (
    "MsMr fixed model: x4 space / x2 time with flow-guided propagation, softmax-splatting frame synthesis and a "
    "cascading depth-to-space upsampler (other scales run but are untrained)."
)
_SUMMARY_ARB = (
    "MsMr arbitrary model: continuous space scale (scale-aware ArbSR blocks, learned-offset depth-to-space) and "
    "arbitrary time stamps."
)


@register_model("msmr_fix", converter=convert_msmr_fix, card=_card("fix", 13_193_720, _SUMMARY_FIX))
def msmr_fix(**overrides: Any) -> MsMr:
    """MsMr fixed model (x4 space, x2 time); ``overrides`` replace :class:`MsMrConfig` fields."""
    return _build("fix", overrides)


@register_model("msmr_arb", converter=convert_msmr_arb, card=_card("arb", 17_066_146, _SUMMARY_ARB))
def msmr_arb(**overrides: Any) -> MsMr:
    """MsMr arbitrary-scale model; ``overrides`` replace :class:`MsMrConfig` fields."""
    return _build("arb", overrides)
