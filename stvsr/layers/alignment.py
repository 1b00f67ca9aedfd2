"""Feature alignment with modulated deformable convolution (DCNv2).

* :class:`ModulatedDeformConv2d`: holds ``weight`` / ``bias`` and applies
  :func:`stvsr.ops.deform_conv2d` with offsets and masks given by the caller.
* :class:`ModulatedDeformConv2dPack` (alias :data:`DCNPack`): predicts its own offsets and
  masks with a zero-initialised ``conv_offset`` (mmcv / EDVR semantics), optionally bounded
  to ``+-max_offset`` pixels with ``tanh`` (MSITF).
* :class:`FlowGuidedDeformAlignment`: BasicVSR++'s first-order flow-guided deformable
  alignment (the ``deform_align`` of MsMr): offsets are a bounded residual on top of an
  optical flow.
* :class:`PCDAlignment`: Pyramid, Cascading and Deformable alignment (EDVR, Wang et al.,
  CVPRW 2019), with the variants of Zooming Slow-Mo / MSITF and MsMr (one block for all).

Offsets use torchvision's / mmcv's layout (per offset group, per kernel tap, ``(dy, dx)``),
so checkpoints trained with mmcv or torchvision DCNs load unchanged.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from stvsr._validate import check_positive_int
from stvsr.ops.deform_conv import deform_conv2d

__all__ = [
    "DCNPack",
    "FlowGuidedDeformAlignment",
    "ModulatedDeformConv2d",
    "ModulatedDeformConv2dPack",
    "PCDAlignment",
    "split_flat_pcd_key",
]

_IntPair = int | tuple[int, int]


def _pair(value: int | Sequence[int], name: str) -> tuple[int, int]:
    if isinstance(value, int) and not isinstance(value, bool):
        return value, value
    if isinstance(value, Sequence) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return int(value[0]), int(value[1])
    raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")


class ModulatedDeformConv2d(nn.Module):
    """A modulated deformable conv layer whose offsets and masks are supplied by the caller.

    Args:
        in_channels: ``Cin``.
        out_channels: ``Cout``.
        kernel_size, stride, padding, dilation: int or ``(h, w)`` pair.
        groups: weight (convolution) groups; must divide ``Cin`` and ``Cout``.
        deform_groups: offset groups ``G``; must divide ``Cin``.
        bias: whether to learn a bias.

    Parameters (state-dict keys): ``weight`` ``(Cout, Cin/groups, kh, kw)`` and ``bias`` ``(Cout,)``.
    Initialisation follows mmcv: ``weight ~ U(-1/sqrt(Cin*kh*kw), +)``, ``bias = 0``.

    Forward: ``x (B, Cin, H, W)``, ``offset (B, 2*G*kh*kw, Ho, Wo)`` in pixels, per group, per tap,
    ``(dy, dx)``; ``mask (B, G*kh*kw, Ho, Wo)`` or ``None`` -> ``(B, Cout, Ho, Wo)``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: _IntPair,
        stride: _IntPair = 1,
        padding: _IntPair = 0,
        dilation: _IntPair = 1,
        groups: int = 1,
        deform_groups: int = 1,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.in_channels = check_positive_int(in_channels, "in_channels")
        self.out_channels = check_positive_int(out_channels, "out_channels")
        self.groups = check_positive_int(groups, "groups")
        self.deform_groups = check_positive_int(deform_groups, "deform_groups")
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"groups ({groups}) must divide in_channels ({in_channels}) and out_channels ({out_channels})")
        if in_channels % deform_groups:
            raise ValueError(f"deform_groups ({deform_groups}) must divide in_channels ({in_channels})")
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.stride = _pair(stride, "stride")
        self.padding = _pair(padding, "padding")
        self.dilation = _pair(dilation, "dilation")
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels // groups, *self.kernel_size))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.in_channels * self.kernel_size[0] * self.kernel_size[1])
        nn.init.uniform_(self.weight, -stdv, stdv)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    @property
    def offset_channels(self) -> int:
        """Channels of the offset tensor: ``2 * G * kh * kw``."""
        return 2 * self.deform_groups * self.kernel_size[0] * self.kernel_size[1]

    def forward(self, x: torch.Tensor, offset: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return deform_conv2d(
            x, offset, self.weight, self.bias, self.stride, self.padding, self.dilation, mask
        )

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}, dilation={self.dilation}, groups={self.groups}, "
            f"deform_groups={self.deform_groups}, bias={self.bias is not None}"
        )


class ModulatedDeformConv2dPack(ModulatedDeformConv2d):
    """DCNv2 that predicts its own offsets and masks ("DCNPack"; mmcv ``ModulatedDeformConv2dPack``).

    ``conv_offset`` is a conv ``offset_in_channels -> 3*G*kh*kw`` with the layer's kernel, stride,
    padding and dilation, with bias, zero-initialised (so an untrained pack starts as a plain conv
    with mask 0.5). Its output is split into thirds ``o1, o2, m``;
    ``offset = cat(o1, o2)`` (read with the torchvision layout: group, tap, ``(dy, dx)``) and
    ``mask = sigmoid(m)``.

    Args:
        offset_in_channels: channels of the tensor the offsets are predicted from (default ``Cin``).
        max_offset: if given, offsets are bounded as ``max_offset * tanh(cat(o1, o2))`` pixels
            (MSITF's ``DCN_sep`` uses ``max_offset=10``); ``None`` (mmcv / EDVR / MsMr) leaves them
            unbounded.
        Other arguments as :class:`ModulatedDeformConv2d`.

    State-dict keys: ``weight``, ``bias``, ``conv_offset.weight`` ``(3*G*kh*kw, offset_in, kh, kw)``,
    ``conv_offset.bias``. E.g. MsMr's ``insert.L1_dcnpack_1`` (64 -> 64, 3x3, G = 8): ``weight``
    ``[64, 64, 3, 3]``, ``conv_offset.weight`` ``[216, 64, 3, 3]``.

    Forward: ``x (B, Cin, H, W)`` and optional ``feat (B, offset_in, H, W)`` to predict the offsets
    from (EDVR / MSITF pass the offset features here; mmcv uses ``x`` itself) -> ``(B, Cout, Ho, Wo)``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: _IntPair,
        stride: _IntPair = 1,
        padding: _IntPair = 0,
        dilation: _IntPair = 1,
        groups: int = 1,
        deform_groups: int = 1,
        bias: bool = True,
        *,
        offset_in_channels: int | None = None,
        max_offset: float | None = None,
    ) -> None:
        super().__init__(
            in_channels, out_channels, kernel_size, stride, padding, dilation, groups, deform_groups, bias
        )
        if max_offset is not None and not (math.isfinite(max_offset) and max_offset > 0):
            raise ValueError(f"max_offset must be a positive finite number or None, got {max_offset!r}")
        self.max_offset = max_offset
        self.offset_in_channels = check_positive_int(
            in_channels if offset_in_channels is None else offset_in_channels, "offset_in_channels"
        )
        kh, kw = self.kernel_size
        self.conv_offset = nn.Conv2d(
            self.offset_in_channels,
            3 * deform_groups * kh * kw,
            self.kernel_size,
            stride=self.stride,
            padding=self.padding,
            dilation=self.dilation,
            bias=True,
        )
        self.init_offset()

    def init_offset(self) -> None:
        nn.init.zeros_(self.conv_offset.weight)
        if self.conv_offset.bias is not None:
            nn.init.zeros_(self.conv_offset.bias)

    def offsets_and_mask(self, feat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``feat (B, offset_in, H, W)`` -> ``offset (B, 2*G*kh*kw, Ho, Wo)``, ``mask (B, G*kh*kw, Ho, Wo)`` in (0, 1)."""
        o1, o2, m = torch.chunk(self.conv_offset(feat), 3, dim=1)
        offset = torch.cat((o1, o2), dim=1)
        if self.max_offset is not None:
            offset = self.max_offset * torch.tanh(offset)
        return offset, torch.sigmoid(m)

    def forward(self, x: torch.Tensor, feat: torch.Tensor | None = None) -> torch.Tensor:  # type: ignore[override]
        offset, mask = self.offsets_and_mask(x if feat is None else feat)
        return deform_conv2d(x, offset, self.weight, self.bias, self.stride, self.padding, self.dilation, mask)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, offset_in_channels={self.offset_in_channels}, max_offset={self.max_offset}"


DCNPack = ModulatedDeformConv2dPack
"""Alias: the name EDVR / BasicVSR / MsMr code uses for :class:`ModulatedDeformConv2dPack`."""


class FlowGuidedDeformAlignment(ModulatedDeformConv2d):
    """First-order flow-guided deformable alignment (BasicVSR++; MsMr's ``deform_align``).

    The DCN offsets are a bounded residual on top of the optical flow:
    ``out = conv_offset(cat[extra_feat, flow])``; ``o1, o2, m = chunk(out, 3)``;
    ``offset = max_residue_magnitude * tanh(cat(o1, o2)) + flow.flip(1).repeat(1, G*kh*kw, 1, 1)``
    (the flow ``[x, y]`` becomes ``(dy, dx)`` for every group and tap); ``mask = sigmoid(m)``.

    ``conv_offset`` = Conv(extra+2 -> out, 3x3) LReLU(0.1) Conv(out -> out) LReLU Conv(out -> out)
    LReLU Conv(out -> 3*G*kh*kw), all 3x3 padding 1; the last conv is zero-initialised, so an
    untrained module is a flow warp followed by a conv with mask 0.5.

    Args:
        in_channels: channels of ``x`` (MsMr: 128 = [propagated feature, neighbour feature]).
        out_channels: ``Cout`` (MsMr: 64); also the width of the offset head.
        kernel_size, stride, padding, dilation, groups, bias: of the DCN.
        deform_groups: ``G`` (MsMr: 16).
        max_residue_magnitude: bound on the learned residual, in pixels (MsMr: 10).
        extra_channels: channels of ``extra_feat`` (default ``2 * out_channels``: the flow-warped
            feature and the current feature).

    State-dict keys: ``weight`` ``(Cout, Cin/groups, kh, kw)``, ``bias``,
    ``conv_offset.{0,2,4,6}.{weight,bias}``. MsMr (128 -> 64, G = 16): 471,856 parameters.

    Forward: ``x (B, Cin, H, W)``, ``extra_feat (B, extra, H, W)``, ``flow (B, 2, H, W)`` in pixels,
    channel 0 = x, channel 1 = y (the flow that warped the feature) -> ``(B, Cout, H, W)``
    (``Ho, Wo`` if stride/padding change the size; the flow must then have the output size).
    """

    def __init__(
        self,
        in_channels: int = 128,
        out_channels: int = 64,
        kernel_size: _IntPair = 3,
        stride: _IntPair = 1,
        padding: _IntPair = 1,
        dilation: _IntPair = 1,
        groups: int = 1,
        deform_groups: int = 16,
        bias: bool = True,
        *,
        max_residue_magnitude: float = 10.0,
        extra_channels: int | None = None,
    ) -> None:
        super().__init__(
            in_channels, out_channels, kernel_size, stride, padding, dilation, groups, deform_groups, bias
        )
        if not (math.isfinite(max_residue_magnitude) and max_residue_magnitude > 0):
            raise ValueError(f"max_residue_magnitude must be a positive finite number, got {max_residue_magnitude!r}")
        self.max_residue_magnitude = float(max_residue_magnitude)
        self.extra_channels = check_positive_int(2 * out_channels if extra_channels is None else extra_channels, "extra_channels")
        kh, kw = self.kernel_size
        c = out_channels
        self.conv_offset = nn.Sequential(
            nn.Conv2d(self.extra_channels + 2, c, 3, 1, 1),
            nn.LeakyReLU(negative_slope=0.1, inplace=True),
            nn.Conv2d(c, c, 3, 1, 1),
            nn.LeakyReLU(negative_slope=0.1, inplace=True),
            nn.Conv2d(c, c, 3, 1, 1),
            nn.LeakyReLU(negative_slope=0.1, inplace=True),
            nn.Conv2d(c, 3 * deform_groups * kh * kw, 3, 1, 1),
        )
        self.init_offset()

    def init_offset(self) -> None:
        last = self.conv_offset[-1]
        assert isinstance(last, nn.Conv2d)
        nn.init.zeros_(last.weight)
        if last.bias is not None:
            nn.init.zeros_(last.bias)

    def forward(  # type: ignore[override]
        self, x: torch.Tensor, extra_feat: torch.Tensor, flow: torch.Tensor
    ) -> torch.Tensor:
        if flow.dim() != 4 or flow.shape[1] != 2:
            raise ValueError(f"flow must have shape (B, 2, H, W), got {tuple(flow.shape)}")
        if extra_feat.dim() != 4 or extra_feat.shape[1] != self.extra_channels:
            raise ValueError(
                f"extra_feat must have shape (B, {self.extra_channels}, H, W), got {tuple(extra_feat.shape)}"
            )
        out = self.conv_offset(torch.cat((extra_feat, flow), dim=1))
        o1, o2, m = torch.chunk(out, 3, dim=1)
        offset = self.max_residue_magnitude * torch.tanh(torch.cat((o1, o2), dim=1))
        offset = offset + flow.flip(1).repeat(1, offset.shape[1] // 2, 1, 1)
        return deform_conv2d(
            x, offset, self.weight, self.bias, self.stride, self.padding, self.dilation, torch.sigmoid(m)
        )


class PCDAlignment(nn.Module):
    """Pyramid, Cascading and Deformable alignment: EDVR's (Wang et al., CVPRW 2019) and its variants.

    The one PCD block of stvsr: EDVR (``cascade=True``), Zooming Slow-Mo / MSITF (no cascade,
    ``max_offset``, ``deform_input``) and MsMr's frame synthesis (no cascade, ``double_lrelu``).

    Aligns a neighbour frame's feature pyramid to the reference frame's. From the coarsest
    level to the finest: offset features from ``cat[nbr, ref]`` (plus the x2 upsampled,
    x2 scaled offset features of the coarser level), a :class:`DCNPack` on the neighbour's
    features, fused with the x2 upsampled aligned feature of the coarser level; then (EDVR only)
    a cascading DCN refines the finest result against the reference.

    Per level ``l{i}`` (``i = num_levels`` coarsest ... ``1`` finest), keys (basicsr layout):

    * ``offset_conv1.l{i}``: conv ``2C -> C``;
    * ``offset_conv2.l{i}``: conv ``C -> C`` at the coarsest level, ``2C -> C`` (with the upsampled
      coarser offset features) elsewhere; ``offset_conv3.l{i}``: conv ``C -> C`` (not at the coarsest);
    * ``dcn_pack.l{i}``: :class:`DCNPack` ``C -> C``, 3x3, ``deform_groups`` groups
      (``weight``, ``bias``, ``conv_offset.weight``, ``conv_offset.bias``);
    * ``feat_conv.l{i}``: conv ``2C -> C`` fusing with the upsampled coarser aligned feature (not at
      the coarsest);
    * cascading (``cascade=True``): ``cas_offset_conv1`` (``2C -> C``), ``cas_offset_conv2``
      (``C -> C``), ``cas_dcnpack``.

    The original EDVR / Zooming Slow-Mo code names these flatly (``L3_offset_conv1_1``,
    ``L2_dcnpack_1``, ``L1_fea_conv_1``, ...): :func:`split_flat_pcd_key` maps such keys here.

    All convs are 3x3 with padding 1 and bias; activations are LeakyReLU(0.1) after every offset
    conv, after each level's aligned feature except the finest, and after the cascading DCN.
    Upsampling is bilinear (``align_corners=False``) to the finer level's size.

    Args:
        num_feat: ``C``.
        deform_groups: offset groups of every DCN.
        num_levels: pyramid levels (EDVR: 3).
        max_offset: optional ``tanh`` bound of every DCN's offsets (see :class:`DCNPack`; MSITF: 10).
        cascade: EDVR's cascading DCN after the finest level (Zooming Slow-Mo, MSITF and MsMr have none).
        deform_input: what each level's DCN deforms: ``"nbr"`` (EDVR, MsMr, the released MSITF)
            or ``"mean"``, ``(nbr + ref) / 2`` (what MSITF's code means to do).
        double_lrelu: apply every conv's LeakyReLU twice (slope 0.01 on negatives; not the DCNs'):
            MsMr's authors wrap each LeakyReLU-activated ``ConvModule`` in another LeakyReLU, and
            the released weights depend on it.

    Forward: ``nbr_feats`` and ``ref_feats``: sequences of ``num_levels`` tensors, finest first,
    level ``i`` of shape ``(B, C, H_i, W_i)`` -> aligned neighbour feature ``(B, C, H_1, W_1)``.
    """

    def __init__(
        self,
        num_feat: int = 64,
        deform_groups: int = 8,
        num_levels: int = 3,
        max_offset: float | None = None,
        *,
        cascade: bool = True,
        deform_input: str = "nbr",
        double_lrelu: bool = False,
    ) -> None:
        super().__init__()
        c = check_positive_int(num_feat, "num_feat")
        self.num_levels = check_positive_int(num_levels, "num_levels")
        if deform_input not in ("nbr", "mean"):
            raise ValueError(f"deform_input must be 'nbr' or 'mean', got {deform_input!r}")
        self.cascade = bool(cascade)
        self.deform_input = deform_input
        self.double_lrelu = bool(double_lrelu)
        self.offset_conv1 = nn.ModuleDict()
        self.offset_conv2 = nn.ModuleDict()
        self.offset_conv3 = nn.ModuleDict()
        self.dcn_pack = nn.ModuleDict()
        self.feat_conv = nn.ModuleDict()
        for i in range(num_levels, 0, -1):  # creation order = the original code's (same random init)
            level = f"l{i}"
            coarsest = i == num_levels
            self.offset_conv1[level] = nn.Conv2d(2 * c, c, 3, 1, 1)
            self.offset_conv2[level] = nn.Conv2d(c if coarsest else 2 * c, c, 3, 1, 1)
            if not coarsest:
                self.offset_conv3[level] = nn.Conv2d(c, c, 3, 1, 1)
            self.dcn_pack[level] = DCNPack(c, c, 3, padding=1, deform_groups=deform_groups, max_offset=max_offset)
            if not coarsest:
                self.feat_conv[level] = nn.Conv2d(2 * c, c, 3, 1, 1)
        if self.cascade:
            self.cas_offset_conv1 = nn.Conv2d(2 * c, c, 3, 1, 1)
            self.cas_offset_conv2 = nn.Conv2d(c, c, 3, 1, 1)
            self.cas_dcnpack = DCNPack(c, c, 3, padding=1, deform_groups=deform_groups, max_offset=max_offset)
        self.lrelu = nn.LeakyReLU(negative_slope=0.1, inplace=True)

    def _conv_act(self, x: torch.Tensor) -> torch.Tensor:
        x = self.lrelu(x)
        # not in place: the first LeakyReLU's backward reads its output
        return F.leaky_relu(x, 0.1) if self.double_lrelu else x

    def forward(self, nbr_feats: Sequence[torch.Tensor], ref_feats: Sequence[torch.Tensor]) -> torch.Tensor:
        if len(nbr_feats) != self.num_levels or len(ref_feats) != self.num_levels:
            raise ValueError(
                f"nbr_feats and ref_feats must each hold {self.num_levels} levels (finest first), "
                f"got {len(nbr_feats)} and {len(ref_feats)}"
            )
        act = self._conv_act
        up_offset: torch.Tensor | None = None
        up_feat: torch.Tensor | None = None
        feat = nbr_feats[0]
        for i in range(self.num_levels, 0, -1):
            level = f"l{i}"
            nbr, ref = nbr_feats[i - 1], ref_feats[i - 1]
            if nbr.shape != ref.shape:
                raise ValueError(
                    f"level {i}: nbr_feats and ref_feats must have equal shapes, got {tuple(nbr.shape)} and "
                    f"{tuple(ref.shape)}"
                )
            offset = act(self.offset_conv1[level](torch.cat((nbr, ref), dim=1)))
            if up_offset is None:
                offset = act(self.offset_conv2[level](offset))
            else:
                offset = act(self.offset_conv2[level](torch.cat((offset, up_offset), dim=1)))
                offset = act(self.offset_conv3[level](offset))
            feat = self.dcn_pack[level](nbr if self.deform_input == "nbr" else (nbr + ref) / 2, offset)
            if up_feat is None:
                if i > 1:
                    feat = self.lrelu(feat)
            else:
                feat = self.feat_conv[level](torch.cat((feat, up_feat), dim=1))
                if i > 1:
                    feat = act(feat)
            if i > 1:
                size = nbr_feats[i - 2].shape[-2:]
                # offsets are in pixels: doubling the resolution doubles them
                up_offset = 2 * F.interpolate(offset, size=size, mode="bilinear", align_corners=False)
                up_feat = F.interpolate(feat, size=size, mode="bilinear", align_corners=False)
        if not self.cascade:
            return feat
        offset = self.lrelu(self.cas_offset_conv1(torch.cat((feat, ref_feats[0]), dim=1)))
        offset = self.lrelu(self.cas_offset_conv2(offset))
        return self.lrelu(self.cas_dcnpack(feat, offset))

    def extra_repr(self) -> str:
        return (
            f"num_levels={self.num_levels}, cascade={self.cascade}, deform_input={self.deform_input!r}, "
            f"double_lrelu={self.double_lrelu}"
        )


# the original EDVR / Zooming Slow-Mo flat key names: L{level}_{name}_{branch}.{rest}
_FLAT_PCD_KEY = re.compile(r"(?:(?P<owner>.*)\.)?L(?P<level>\d+)_(?P<name>offset_conv[123]|dcnpack|fea_conv)_(?P<branch>\d+)\.(?P<rest>.+)")
_FLAT_PCD_NAMES = {"dcnpack": "dcn_pack", "fea_conv": "feat_conv"}


def split_flat_pcd_key(key: str) -> tuple[str, str, str] | None:
    """A flat PCD key of the original EDVR / Zooming Slow-Mo code as ``(owner, branch, PCDAlignment key)``.

    ``"insert.L3_offset_conv1_2.conv.weight"`` -> ``("insert", "2", "offset_conv1.l3.weight")``:
    ``owner`` is the module path holding the flat names (``""`` at the root), ``branch`` the
    trailing index of the flat name (several PCDs may share one owner) and the mmcv ``ConvModule``
    wrapper (``.conv.``) of a conv is dropped. Any other key gives None. Checkpoint key filters
    (``filter_state_dict`` of MSITF and MsMr) build their renames from it.
    """
    m = _FLAT_PCD_KEY.fullmatch(key)
    if m is None:
        return None
    name, rest = m["name"], m["rest"]
    if name != "dcnpack":
        rest = rest.removeprefix("conv.")
    return m["owner"] or "", m["branch"], f"{_FLAT_PCD_NAMES.get(name, name)}.l{m['level']}.{rest}"
