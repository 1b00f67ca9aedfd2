"""SpyNet (Ranjan & Black, CVPR 2017), the variant used by mmedit's BasicVSR and MsMr.

Six pyramid levels, each a 5-layer 7x7 CNN (8 -> 32 -> 64 -> 32 -> 16 -> 2) that
refines the flow upsampled from the coarser level. State-dict keys follow mmedit
(``basic_module.{level}.basic_module.{layer}.conv.{weight,bias}``, buffers
``mean``/``std``) so the authors' checkpoints load unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from stvsr.ops.warp import backward_warp


class _ConvAct(nn.Module):
    """A conv with an optional ReLU; named ``conv`` so keys read ``...{i}.conv.weight``."""

    def __init__(self, cin: int, cout: int, act: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 7, padding=3)
        self.act = nn.ReLU() if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv(x))


class SpyNetBasicModule(nn.Module):
    """One pyramid level: ``(B, 8, h, w)`` = [ref (3), warped supp (3), flow (2)] -> flow residual ``(B, 2, h, w)``."""

    def __init__(self) -> None:
        super().__init__()
        chans = (8, 32, 64, 32, 16, 2)
        self.basic_module = nn.Sequential(
            *[_ConvAct(chans[i], chans[i + 1], act=i < 4) for i in range(5)]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.basic_module(x)


class SpyNet(nn.Module):
    """SpyNet optical flow.

    ``spynet(ref, supp)`` returns the flow on ``ref``'s grid that points into
    ``supp``: backward-warping ``supp`` with it approximates ``ref``.

    Inputs are ``(B, 3, H, W)`` RGB in [0, 1] (normalised inside with the ImageNet
    mean and std held in the buffers ``mean``/``std``), any H, W (resized to a
    multiple of 32 inside); the output is ``(B, 2, H, W)`` in pixels (x, y).
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        self.basic_module = nn.ModuleList([SpyNetBasicModule() for _ in range(6)])
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def compute_flow(self, ref: torch.Tensor, supp: torch.Tensor) -> torch.Tensor:
        """Flow for inputs whose H and W are multiples of 32."""
        refs = [(ref - self.mean) / self.std]
        supps = [(supp - self.mean) / self.std]
        for _ in range(5):
            refs.append(F.avg_pool2d(refs[-1], 2, 2, count_include_pad=False))
            supps.append(F.avg_pool2d(supps[-1], 2, 2, count_include_pad=False))
        refs, supps = refs[::-1], supps[::-1]
        n, _, h, w = refs[0].shape
        flow = refs[0].new_zeros(n, 2, h, w)
        for level, module in enumerate(self.basic_module):
            if level > 0:
                flow = F.interpolate(flow, scale_factor=2, mode="bilinear", align_corners=True) * 2.0
            warped = backward_warp(supps[level], flow, padding_mode="border", align_corners=True)
            flow = flow + module(torch.cat([refs[level], warped, flow], dim=1))
        return flow

    def forward(self, ref: torch.Tensor, supp: torch.Tensor) -> torch.Tensor:
        h, w = ref.shape[-2:]
        h_up, w_up = -(-h // 32) * 32, -(-w // 32) * 32
        ref_r = F.interpolate(ref, size=(h_up, w_up), mode="bilinear", align_corners=False)
        supp_r = F.interpolate(supp, size=(h_up, w_up), mode="bilinear", align_corners=False)
        flow = F.interpolate(self.compute_flow(ref_r, supp_r), size=(h, w), mode="bilinear", align_corners=False)
        scale = torch.tensor([w / w_up, h / h_up], dtype=flow.dtype, device=flow.device).view(1, 2, 1, 1)
        return flow * scale
