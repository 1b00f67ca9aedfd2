"""RSDN: "Video Super-Resolution with Recurrent Structure-Detail Network" (Isobe et al., ECCV 2020).

A x4 recurrent video SR network. Every LR frame is split into a structure part
``S = up2(down2(LR))`` (bilinear both ways) and a detail part ``D = LR - S``; one
recurrent cell (``neuro``) walks the clip, each step taking the D and S of two
neighbouring frames, the hidden state (re-weighted by a per-pixel 3x3 "hidden-state
adaptation" filter predicted from the current LR frame) and the previous outputs,
through 9 two-branch structure-detail blocks. Both branch outputs are pixel-shuffled
(detail / structure HR estimates, used by training losses) and fused by ``conv`` into
the HR frame. There is no skip from the input.

Keys follow the official ``arch.py`` (``neuro.forget``, ``neuro.conv_d``,
``neuro.SD{1..9}.conv_{d1,d2,s1,s2}``, ``neuro.conv_{hd,hs,od,os}``, ``conv``): the
official ``RSDN.pth`` (saved from ``nn.DataParallel``, ``module.`` prefix) and the
``vsrnet.*`` part of an FMU checkpoint both load with :func:`convert_rsdn`.
6,180,236 parameters at the default width.

Colour: the official weights were trained on RGB (PIL) frames, the FMU fine-tune on
BGR (cv2) frames. ``weights_colour`` records which; the public forward always takes
and returns RGB and flips channels inside when the weights are BGR.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from stvsr._validate import check_positive_int, check_video
from stvsr.models._base import StvsrModel, load_state_dict_strict
from stvsr.models._capabilities import Capabilities
from stvsr.models._registry import register_model

__all__ = ["RSDN", "RSDNConfig", "convert_rsdn", "rsdn", "structure_detail_split"]


@dataclass
class RSDNConfig:
    """The configuration of :class:`RSDN`, its one declaration (``RSDN(cfg)``, ``RSDN(**asdict(cfg))``,
    ``RSDN(cfg, **changes)``)."""

    channels: int = 128  # hidden width nf
    blocks: int = 9  # structure-detail blocks
    scale: int = 4  # pixel-shuffle factor (the published model: 4)
    weights_colour: str = "rgb"  # "rgb" (official RSDN.pth) or "bgr" (FMU fine-tune)


def structure_detail_split(lr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """RSDN's split of ``(..., C, H, W)`` frames (H, W even) into ``(detail, structure)``.

    ``structure`` is bilinear down x0.5 then up x2 (``align_corners=False``), ``detail`` the rest.
    """
    shape = lr.shape
    x = lr.reshape(-1, *shape[-3:])
    s = F.interpolate(F.interpolate(x, scale_factor=0.5, mode="bilinear", align_corners=False),
                      scale_factor=2.0, mode="bilinear", align_corners=False)
    s = s.reshape(shape)
    return lr - s, s


class _SDBlock(nn.Module):
    """Two conv-ReLU-conv branches whose outputs are summed and added back to both inputs."""

    def __init__(self, nf: int) -> None:
        super().__init__()
        self.conv_d1 = nn.Conv2d(nf, nf, 3, 1, 1)
        self.conv_d2 = nn.Conv2d(nf, nf, 3, 1, 1)
        self.conv_s1 = nn.Conv2d(nf, nf, 3, 1, 1)
        self.conv_s2 = nn.Conv2d(nf, nf, 3, 1, 1)

    def forward(self, hd: torch.Tensor, hs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hsd = self.conv_d2(F.relu(self.conv_d1(hd))) + self.conv_s2(F.relu(self.conv_s1(hs)))
        return hsd + hd, hsd + hs


class _Cell(nn.Module):
    """One recurrent step (the authors' ``neuro``)."""

    def __init__(self, nf: int, blocks: int, scale: int) -> None:
        super().__init__()
        out = 3 * scale * scale
        self.blocks = blocks
        self.forget = nn.Conv2d(3, 9, 3, 1, 1)
        self.conv_d = nn.Conv2d(out + nf + 6, nf, 3, 1, 1)
        self.conv_s = nn.Conv2d(out + nf + 6, nf, 3, 1, 1)
        for i in range(1, blocks + 1):
            setattr(self, f"SD{i}", _SDBlock(nf))
        self.conv_hd = nn.Conv2d(nf, nf, 3, 1, 1)
        self.conv_od = nn.Conv2d(nf, out, 3, 1, 1)
        self.conv_hs = nn.Conv2d(nf, nf, 3, 1, 1)
        self.conv_os = nn.Conv2d(nf, out, 3, 1, 1)

    def forward(
        self, d: torch.Tensor, s: torch.Tensor, hidden: torch.Tensor, od: torch.Tensor, os_: torch.Tensor,
        ref: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        # hidden-state adaptation: a per-pixel 3x3 filter from the LR frame, applied depthwise
        h, w = hidden.shape[-2:]
        kernel = F.leaky_relu(self.forget(ref), 0.1)  # (B, 9, H, W), taps row-major
        # nine shifted multiply-adds: an unfold + einsum becomes a bmm batched over pixels (~5% of FMU)
        padded = F.pad(hidden, (1, 1, 1, 1))
        acc = padded[..., :h, :w] * kernel[:, :1]
        for k in range(1, 9):
            dy, dx = divmod(k, 3)
            acc = acc + padded[..., dy : dy + h, dx : dx + w] * kernel[:, k : k + 1]
        sim = torch.sigmoid(acc)
        hidden = sim * hidden
        hd = F.leaky_relu(self.conv_d(torch.cat((d, hidden, od), dim=1)), 0.1)
        hs = F.leaky_relu(self.conv_s(torch.cat((s, hidden, os_), dim=1)), 0.1)
        for i in range(1, self.blocks + 1):
            hd, hs = getattr(self, f"SD{i}")(hd, hs)
        x_hd = F.leaky_relu(self.conv_hd(hd), 0.1)
        x_hs = F.leaky_relu(self.conv_hs(hs), 0.1)
        return x_hd, x_hs, self.conv_od(hd), self.conv_os(hs)


class RSDN(StvsrModel):
    """RSDN x4 video super-resolution.

    ``model(lr)``: ``lr`` ``(B, T, 3, h, w)`` RGB in [0, 1], any T >= 1 and h, w (odd sizes
    are padded by replication to even and cropped back; a single frame is run as the
    pair (frame, frame)); returns ``(B, T, 3, s*h, s*w)`` RGB, clamped to [0, 1] unless
    ``clamp=False``. :meth:`branches` is the authors' raw forward.

    ``self.config`` = ``asdict(RSDNConfig)``; ``RSDN(**config)`` rebuilds the model.
    """

    @property
    def capabilities(self) -> Capabilities:
        """x4 video SR over any ``T >= 1``; BGR-trained weights (FMU's fine-tune) are flipped inside."""
        return Capabilities(
            task="vsr", space_scales=(float(self.config["scale"]),), times=(), min_frames=1,
            weights_colour=self.weights_colour.upper(),
        )

    def __init__(self, config: RSDNConfig | None = None, **overrides: Any) -> None:
        super().__init__()
        cfg = replace(config, **overrides) if config is not None else RSDNConfig(**overrides)
        channels, blocks, scale, weights_colour = cfg.channels, cfg.blocks, cfg.scale, cfg.weights_colour
        if weights_colour not in ("rgb", "bgr"):
            raise ValueError(f"weights_colour must be 'rgb' or 'bgr', got {weights_colour!r}")
        for name, value in (("channels", channels), ("blocks", blocks), ("scale", scale)):
            check_positive_int(value, name)
        self.config = asdict(cfg)
        self.nf, self.scale, self.weights_colour = channels, scale, weights_colour
        self.neuro = _Cell(channels, blocks, scale)
        self.conv = nn.Conv2d(2 * 3 * scale * scale, 3 * scale * scale, 3, 1, 1)

    def branches(
        self, lr: torch.Tensor, detail: torch.Tensor | None = None, structure: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The authors' forward: ``(out, out_detail, out_structure)``, each ``(B, T, 3, s*h, s*w)``, unclamped.

        ``lr`` is ``(B, T, 3, h, w)`` in the weights' own colour order, T >= 2, h and w even
        when ``detail``/``structure`` are not given (they default to :func:`structure_detail_split`).
        Step 0 runs on the pair (frame 1, frame 0) with reference frame 0, step k >= 1 on
        (frame k-1, frame k) with reference frame k.
        """
        if lr.dim() != 5 or lr.shape[1] < 2:
            raise ValueError(f"lr must be (B, T, 3, h, w) with T >= 2, got {tuple(lr.shape)}")
        if detail is None or structure is None:
            detail, structure = structure_detail_split(lr)
        b, t, _, h, w = lr.shape
        zeros = lr.new_zeros(b, 1, h, w)
        out_ch = 3 * self.scale * self.scale
        hidden = zeros.expand(b, self.nf, h, w)
        od = os_ = zeros.expand(b, out_ch, h, w)
        outs, outs_d, outs_s = [], [], []
        for k in range(t):
            pair = (1, 0) if k == 0 else (k - 1, k)
            d = torch.cat((detail[:, pair[0]], detail[:, pair[1]]), dim=1)
            s = torch.cat((structure[:, pair[0]], structure[:, pair[1]]), dim=1)
            x_hd, x_hs, od, os_ = self.neuro(d, s, hidden, od, os_, lr[:, k])
            hidden = x_hd + x_hs
            outs_d.append(F.pixel_shuffle(od, self.scale))
            outs_s.append(F.pixel_shuffle(os_, self.scale))
            outs.append(F.pixel_shuffle(self.conv(torch.cat((od, os_), dim=1)), self.scale))
        return torch.stack(outs, 1), torch.stack(outs_d, 1), torch.stack(outs_s, 1)

    def forward(self, lr: torch.Tensor, scale: float | None = None, clamp: bool = True) -> torch.Tensor:
        """``(B, T, 3, h, w)`` RGB [0, 1] -> ``(B, T, 3, s*h, s*w)`` RGB (``scale``, if given, must be s)."""
        check_video(lr, "lr")
        if scale is not None and float(scale) != float(self.scale):
            raise ValueError(f"RSDN upsamples by exactly {self.scale}, got scale={scale!r}")
        b, t, c, h, w = lr.shape
        x = lr.flip(2) if self.weights_colour == "bgr" else lr
        if t == 1:
            x = x.expand(b, 2, c, h, w)
        ph, pw = h % 2, w % 2
        if ph or pw:
            x = F.pad(x.reshape(-1, c, h, w), (0, pw, 0, ph), mode="replicate").reshape(b, x.shape[1], c, h + ph, w + pw)
        out = self.branches(x)[0][:, :t, :, : h * self.scale, : w * self.scale]
        if self.weights_colour == "bgr":
            out = out.flip(2)
        return out.clamp(0.0, 1.0) if clamp else out


def convert_rsdn(state_dict: Mapping[str, torch.Tensor]) -> RSDN:
    """Load an authors' RSDN state_dict.

    Accepts the official ``RSDN.pth`` (keys ``module.neuro.*``/``module.conv.*`` or without
    the DataParallel prefix; RGB weights) or a whole FMU checkpoint / its ``vsrnet.*`` part
    (BGR weights: the model flips channels inside). The width, block count and scale are
    read from the shapes.
    """
    sd = dict(state_dict)
    if sd and all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    colour = "rgb"
    if any(k.startswith("vsrnet.") for k in sd):
        sd = {k[len("vsrnet."):]: v for k, v in sd.items() if k.startswith("vsrnet.")}
        colour = "bgr"
    try:
        nf = int(sd["neuro.conv_hd.weight"].shape[0])
        out_ch = int(sd["conv.weight"].shape[0])
        blocks = sum(1 for k in sd if k.startswith("neuro.SD") and k.endswith(".conv_d1.weight"))
    except KeyError as exc:
        raise ValueError(f"not an RSDN state_dict: no {exc.args[0]!r} (nor with 'module.'/'vsrnet.' prefixes)") from exc
    scale = int(round((out_ch / 3) ** 0.5))
    model = RSDN(channels=nf, blocks=blocks, scale=scale, weights_colour=colour)
    load_state_dict_strict(model, sd, what="RSDN state_dict")
    return model.eval()


@register_model(
    "rsdn",
    converter=convert_rsdn,
    card={
        "paper": {
            "title": "Video Super-Resolution with Recurrent Structure-Detail Network",
            "venue": "ECCV",
            "year": 2020,
        },
        "authors_repo": "https://github.com/junpan19/RSDN",
        "licence": "no licence file in the official repo",
        "params": 6_180_236,
        "conformance": None,
        "summary": "Recurrent x4 video SR splitting frames into structure and detail with hidden-state adaptation "
        "(official weights: BD degradation; FMU's fine-tune: REDS bicubic).",
    },
)
def rsdn(**overrides: Any) -> RSDN:
    """The published RSDN9_128 (x4); keyword overrides go to :class:`RSDN`."""
    return RSDN(**overrides)
