"""RIFE's IFNet, version HDv3 (Huang et al., ECCV 2022; Practical-RIFE "HDv3" release).

A coarse-to-fine cascade of four :class:`IFBlock` s estimates, directly from the two
input frames, the two *intermediate* flows ``F_t->0`` and ``F_t->1`` and a fusion
mask at time ``t``. Each block works at a reduced resolution (``1/8, 1/4, 1/2, 1`` of
the input by default), sees both frames backward-warped by the current flows, and
adds a residual to the flows and to the mask logit. The frame at ``t`` is the
mask-weighted blend of the two warped frames.

State-dict keys follow the authors' release (``block{0..3}.conv0.{0,1}.{0: conv, 1: prelu}``,
``block{i}.convblock.{0..7}``, ``block{i}.lastconv``), so their ``flownet.pkl``
loads after stripping the ``module.`` prefix (see :func:`stvsr.models.rife.convert_rife_hdv3`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from stvsr._validate import tracing
from stvsr.ops.warp import backward_warp

__all__ = ["IFBlock", "IFNet"]


def _conv_prelu(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    # index 0 = conv, 1 = PReLU: the authors' key layout
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.PReLU(cout))


def _resize(x: torch.Tensor, factor: float) -> torch.Tensor:
    if factor == 1.0:
        return x
    return F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False, recompute_scale_factor=False)


class IFBlock(nn.Module):
    """One level of IFNet: features at 1/(4*scale) of the input, flow residual at full size.

    Args:
        in_ch: input channels (7 for the first block: two frames + t; 8 + 4 for the
            others: two warped frames, t, mask logit, plus the 4 flow channels).
        width: feature channels ``c`` (192, 128, 96, 64 in HDv3).
    """

    def __init__(self, in_ch: int, width: int) -> None:
        super().__init__()
        self.conv0 = nn.Sequential(_conv_prelu(in_ch, width // 2, 2), _conv_prelu(width // 2, width, 2))
        self.convblock = nn.Sequential(*[_conv_prelu(width, width) for _ in range(8)])
        self.lastconv = nn.ConvTranspose2d(width, 5, 4, 2, 1)

    def forward(self, x: torch.Tensor, flow: torch.Tensor | None, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
        """``x (B, C, H, W)``, ``flow (B, 4, H, W)`` or None -> ``(flow (B, 4, H, W), mask logit (B, 1, H, W))``.

        H and W must be multiples of ``4 * scale`` for the output to match the input size.
        """
        x = _resize(x, 1.0 / scale)
        if flow is not None:
            x = torch.cat((x, _resize(flow, 1.0 / scale) / scale), dim=1)
        feat = self.conv0(x)
        feat = self.convblock(feat) + feat
        out = _resize(self.lastconv(feat), 2.0 * scale)
        return out[:, :4] * (2.0 * scale), out[:, 4:5]


class IFNet(nn.Module):
    """Intermediate-flow network (RIFE HDv3 inference path).

    ``ifnet(img0, img1, t)`` with frames ``(B, 3, H, W)`` in [0, 1] (H, W multiples of
    ``32 * max(scales)`` for exact shapes; :class:`stvsr.models.rife.Rife` pads) and
    ``t`` a float or a ``(B,)`` tensor in [0, 1] returns ``(flow (B, 4, H, W), mask
    (B, 1, H, W))``: ``flow[:, :2]`` is ``F_t->0`` and ``flow[:, 2:]`` is ``F_t->1`` in
    pixels (x, y); ``mask`` in (0, 1) is the weight of warped frame 0.

    Args:
        widths: channels of the four blocks (HDv3: 192, 128, 96, 64).
        large_motion_fallback: the authors' inference heuristic, on by default because the
            released weights were tuned with it: when block 1's residual exceeds 32 px in
            both flows, restart at twice the scales (coarser processing).
    """

    def __init__(self, widths: Sequence[int] = (192, 128, 96, 64), large_motion_fallback: bool = True) -> None:
        super().__init__()
        if len(widths) != 4:
            raise ValueError(f"widths must list 4 block widths, got {widths!r}")
        self.block0 = IFBlock(7, widths[0])
        self.block1 = IFBlock(8 + 4, widths[1])
        self.block2 = IFBlock(8 + 4, widths[2])
        self.block3 = IFBlock(8 + 4, widths[3])
        self.large_motion_fallback = large_motion_fallback

    @staticmethod
    def _warp(img: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        return backward_warp(img, flow, padding_mode="border", align_corners=True)

    def forward(
        self,
        img0: torch.Tensor,
        img1: torch.Tensor,
        t: float | torch.Tensor = 0.5,
        scales: Sequence[float] = (8.0, 4.0, 2.0, 1.0),
    ) -> tuple[torch.Tensor, torch.Tensor]:
        b, _, h, w = img0.shape
        if isinstance(t, torch.Tensor):
            tmap = t.to(dtype=img0.dtype, device=img0.device).reshape(-1, 1, 1, 1).expand(b, 1, h, w)
        else:
            tmap = img0.new_full((b, 1, h, w), float(t))
        scales = [float(s) for s in scales]
        flow, mask, large = self._refine(img0, img1, tmap, scales, self.large_motion_fallback)
        if large is not None:  # the large-motion fallback: the whole estimate again at half the resolution
            doubled = [s * 2.0 for s in scales]
            if tracing():  # torch.export / ONNX: no data-dependent branch; both run, the test selects
                flow2, mask2, _ = self._refine(img0, img1, tmap, doubled, False)
                flow, mask = torch.where(large, flow2, flow), torch.where(large, mask2, mask)
            elif bool(large):
                flow, mask, _ = self._refine(img0, img1, tmap, doubled, False)
        return flow, torch.sigmoid(mask)

    def _refine(
        self, img0: torch.Tensor, img1: torch.Tensor, tmap: torch.Tensor, scales: Sequence[float], check: bool
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Flow and mask logits over the 4 blocks; with ``check``, also the large-motion test after block 1
        (a 0-d bool; eagerly, a true test returns at once: the caller starts again at doubled scales)."""
        blocks = (self.block0, self.block1, self.block2, self.block3)
        flow, mask = blocks[0](torch.cat((img0, img1, tmap), 1), None, scales[0])
        warped0, warped1 = self._warp(img0, flow[:, :2]), self._warp(img1, flow[:, 2:])
        large = None
        for i in range(1, 4):
            inp = torch.cat((warped0, warped1, tmap, mask), 1)
            d_flow, d_mask = blocks[i](inp, flow, scales[i])
            if i == 1 and check:
                large = (d_flow[:, :2].abs().max() > 32) & (d_flow[:, 2:4].abs().max() > 32)
                if not tracing() and bool(large):
                    return flow, mask, large
            flow = flow + d_flow
            mask = mask + d_mask
            warped0, warped1 = self._warp(img0, flow[:, :2]), self._warp(img1, flow[:, 2:])
        return flow, mask, large

    def interpolate(
        self,
        img0: torch.Tensor,
        img1: torch.Tensor,
        t: float | torch.Tensor = 0.5,
        scales: Sequence[float] = (8.0, 4.0, 2.0, 1.0),
    ) -> torch.Tensor:
        """The frame at ``t``: ``mask * warp(img0, F_t->0) + (1 - mask) * warp(img1, F_t->1)`` (not clamped)."""
        flow, mask = self(img0, img1, t, scales)
        return self._warp(img0, flow[:, :2]) * mask + self._warp(img1, flow[:, 2:]) * (1 - mask)
