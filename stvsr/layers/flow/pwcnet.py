"""PWC-Net (Sun et al., CVPR 2018) in the sniklaus/pytorch-pwc layout used by FMU.

Six-level feature pyramid (16, 32, 64, 96, 128, 196 channels), a DenseNet-style
decoder per level 6..2 on the 81-channel cost volume (``stvsr.ops.correlation``,
max displacement 4), and a dilated context network on the level-2 features.
Module names follow the 2019 sniklaus code (``moduleExtractor.moduleOne..Six``,
``moduleTwo..moduleSix`` decoders, ``moduleRefiner.moduleMain``), so FMU's
``flownet.*`` keys and the old ``network-chairs-things.pytorch`` load unchanged
(:func:`rename_sniklaus_keys` maps the newer ``net*`` names). 9,374,274 parameters.

The sniklaus weights expect **BGR** images in [0, 1]; the layer itself does not
reorder channels.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from stvsr.ops import correlation  # via the package: the name is shared with its module
from stvsr.ops.warp import backward_warp, sampling_dtype

__all__ = ["PWCNet", "pwc_feature_warp", "rename_sniklaus_keys"]

_LEVEL_NAMES = ("One", "Two", "Thr", "Fou", "Fiv", "Six")
_PYRAMID = (16, 32, 64, 96, 128, 196)
_DENSE = (128, 128, 96, 64, 32)


def _lrelu() -> nn.LeakyReLU:
    return nn.LeakyReLU(negative_slope=0.1)


def pwc_feature_warp(x: torch.Tensor, flow: torch.Tensor, align_corners: bool = True) -> torch.Tensor:
    """PWC-Net's feature warp: backward warp, then zero every sample whose validity is <= 0.999.

    The authors build the grid ``2(p + f)/(W - 1) - 1`` (an ``align_corners=True``
    construction) and hand it to ``grid_sample``. With ``align_corners=True`` (the
    PyTorch <= 1.2 behaviour the weights were trained with) that samples at ``p + f``;
    with ``False`` (the code as written, run on today's PyTorch) at
    ``(p + f) W/(W - 1) - 1/2`` per axis. A ones channel warped alongside gives the
    validity, thresholded (no gradient) at 0.999.

    Args:
        x: ``(B, C, H, W)`` features. flow: ``(B, 2, H, W)`` pixels (x, y).

    Returns:
        ``(B, C, H, W)``.
    """
    h, w = x.shape[-2:]
    flow = flow.to(sampling_dtype(flow))  # pixel positions need float32: bfloat16 rounds 300.4 to 300
    if not align_corners:
        ys = torch.arange(h, dtype=flow.dtype, device=flow.device).view(1, h, 1)
        xs = torch.arange(w, dtype=flow.dtype, device=flow.device).view(1, 1, w)
        sx, sy = w / max(w - 1, 1), h / max(h - 1, 1)
        fx = (xs + flow[:, 0]) * sx - 0.5 - xs
        fy = (ys + flow[:, 1]) * sy - 0.5 - ys
        flow = torch.stack((fx, fy), dim=1)
    ones = torch.ones_like(x[:, :1])
    out = backward_warp(torch.cat((x, ones), dim=1), flow, align_corners=True)
    mask = (out[:, -1:].detach() > 0.999).to(x.dtype)
    return out[:, :-1] * mask


class _Extractor(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        cin = 3
        for name, cout in zip(_LEVEL_NAMES, _PYRAMID):
            layers = [nn.Conv2d(cin, cout, 3, 2, 1), _lrelu(), nn.Conv2d(cout, cout, 3, 1, 1), _lrelu()]
            layers += [nn.Conv2d(cout, cout, 3, 1, 1), _lrelu()]
            setattr(self, f"module{name}", nn.Sequential(*layers))
            cin = cout

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for name in _LEVEL_NAMES:
            x = getattr(self, f"module{name}")(x)
            feats.append(x)
        return feats


def _decoder_in(level: int) -> int:
    return 81 if level == 6 else 81 + _PYRAMID[level - 1] + 2 + 2


class _Decoder(nn.Module):
    """One pyramid level: cost volume (+ upsampled flow and features) -> dense convs -> flow."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level
        cin = _decoder_in(level)
        if level < 6:
            prev = _decoder_in(level + 1) + sum(_DENSE)
            self.moduleUpflow = nn.ConvTranspose2d(2, 2, 4, 2, 1)
            self.moduleUpfeat = nn.ConvTranspose2d(prev, 2, 4, 2, 1)
            # flows are estimated in units of 20 px at 1/4 resolution: 20 / 2**level * ...
            self.backward_scale = {5: 0.625, 4: 1.25, 3: 2.5, 2: 5.0}[level]
        c = cin
        for name, cout in zip(_LEVEL_NAMES[:5], _DENSE):
            setattr(self, f"module{name}", nn.Sequential(nn.Conv2d(c, cout, 3, 1, 1), _lrelu()))
            c += cout
        self.moduleSix = nn.Sequential(nn.Conv2d(c, 2, 3, 1, 1))

    def forward(
        self,
        first: torch.Tensor,
        second: torch.Tensor,
        previous: tuple[torch.Tensor, torch.Tensor] | None,
        align_corners: bool,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if previous is None:
            feat = F.leaky_relu(correlation(first, second), 0.1)
        else:
            flow = self.moduleUpflow(previous[0])
            up = self.moduleUpfeat(previous[1])
            warped = pwc_feature_warp(second, flow * self.backward_scale, align_corners)
            volume = F.leaky_relu(correlation(first, warped), 0.1)
            feat = torch.cat((volume, first, flow, up), dim=1)
        for name in _LEVEL_NAMES[:5]:
            feat = torch.cat((getattr(self, f"module{name}")(feat), feat), dim=1)
        return self.moduleSix(feat), feat


class _Refiner(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        widths = (128, 128, 128, 96, 64, 32)
        dilations = (1, 2, 4, 8, 16, 1)
        layers: list[nn.Module] = []
        c = _decoder_in(2) + sum(_DENSE)
        for cout, dil in zip(widths, dilations):
            layers += [nn.Conv2d(c, cout, 3, 1, dil, dilation=dil), _lrelu()]
            c = cout
        layers.append(nn.Conv2d(c, 2, 3, 1, 1))
        self.moduleMain = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.moduleMain(x)


class PWCNet(nn.Module):
    """PWC-Net optical flow, ``pwc(first, second) -> flow``.

    The flow lives on ``first``'s grid and points into ``second`` (backward-warping
    ``second`` with it approximates ``first``).

    Args:
        align_corners: how the decoder's feature warp reads its grid (see
            :func:`pwc_feature_warp`): ``True`` as under PyTorch <= 1.2 (what the
            published weights were trained with), ``False`` as the authors' code runs
            on today's PyTorch.

    Inputs ``(B, 3, H, W)`` in [0, 1] (BGR for the sniklaus/FMU weights), any H, W: they
    are resized bilinearly to the next multiples of 64 inside and the flow is resized
    back and rescaled per axis. Output ``(B, 2, H, W)`` in pixels (x, y).
    """

    def __init__(self, align_corners: bool = True) -> None:
        super().__init__()
        self.align_corners = align_corners
        self.moduleExtractor = _Extractor()
        self.moduleTwo = _Decoder(2)
        self.moduleThr = _Decoder(3)
        self.moduleFou = _Decoder(4)
        self.moduleFiv = _Decoder(5)
        self.moduleSix = _Decoder(6)
        self.moduleRefiner = _Refiner()

    def estimate(
        self, first: torch.Tensor, second: torch.Tensor, align_corners: bool | None = None
    ) -> torch.Tensor:
        """Flow at 1/4 resolution in units of 20 px, for H and W multiples of 64."""
        ac = self.align_corners if align_corners is None else align_corners
        # both images through the shared extractor in one batch
        feats = self.moduleExtractor(torch.cat((first, second), dim=0))
        n = first.shape[0]
        estimate: tuple[torch.Tensor, torch.Tensor] | None = None
        for level, decoder in ((6, self.moduleSix), (5, self.moduleFiv), (4, self.moduleFou),
                               (3, self.moduleThr), (2, self.moduleTwo)):
            f = feats[level - 1]
            estimate = decoder(f[:n], f[n:], estimate, ac)
        assert estimate is not None
        return estimate[0] + self.moduleRefiner(estimate[1])

    def forward(
        self, first: torch.Tensor, second: torch.Tensor, align_corners: bool | None = None
    ) -> torch.Tensor:
        if first.dim() != 4 or first.shape[1] != 3 or first.shape != second.shape:
            raise ValueError(
                f"first and second must be (B, 3, H, W) of equal shape, got {tuple(first.shape)} and "
                f"{tuple(second.shape)}"
            )
        h, w = first.shape[-2:]
        h64, w64 = int(math.ceil(h / 64.0) * 64), int(math.ceil(w / 64.0) * 64)
        a = F.interpolate(first, size=(h64, w64), mode="bilinear", align_corners=False)
        b = F.interpolate(second, size=(h64, w64), mode="bilinear", align_corners=False)
        flow = 20.0 * F.interpolate(self.estimate(a, b, align_corners), size=(h, w), mode="bilinear",
                                    align_corners=False)
        factor = torch.tensor([w / w64, h / h64], dtype=flow.dtype, device=flow.device).view(1, 2, 1, 1)
        return flow * factor


def rename_sniklaus_keys(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map the newer sniklaus names (``netExtractor``, ``netOne``.., ``netMain``) to the 2019 ``module*`` ones."""
    out = {}
    for key, value in state_dict.items():
        parts = [("module" + p[3:]) if p.startswith("net") and p[3:4].isupper() else p for p in key.split(".")]
        out[".".join(parts)] = value
    return out
