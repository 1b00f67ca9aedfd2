"""SAFA: Scale-Adaptive Feature Aggregation for Efficient Space-Time Video Super-Resolution.

WACV 2024 (arXiv 2310.17294); code ``megvii-research/WACV2024-SAFA`` (MIT).

Pipeline (one pair of LR frames ``I0, I1`` and a time ``t`` in [0, 1]):

1. Both LR frames are bicubic-upsampled x4 (the authors' ``cv2.resize(INTER_CUBIC)`` on uint8),
   so the network works on HR-sized images ``B x 3 x H x W``.
2. ``Head``: a truncated ResNet-18 (conv1..layer2) with 1x1 projections summed at H/2 gives
   features ``f0, f1`` (c = 80 channels) once per frame.
3. ``Flownet``: a fused feature, then 6 scale-adaptive blocks refine a 6-channel flow at H
   (flow t->0, flow t->1, mask logit, one spare channel). Each block lets a gate pick the
   resolution it runs at (H/2, H/4 or H/8) per sample; flow and gate heads are shared.
4. ``lastconv``: a residual CNN on the time map and the warped features adds a residual to
   the mask-blended warp of the upsampled frames. Output clamped to [0, 1].

The parameter names follow the authors' ``model/flownet.py`` (``block.convimg.*``,
``block.convblock.{i}.*``, ``lastconv.*``) so their ``flownet.pkl`` loads after stripping the
``module.`` prefix (:func:`convert_safa`).

Deviation from the authors' code, on purpose: their scale gate draws Bernoulli samples at
inference too, so identical calls give different frames. ``gate="threshold"`` (default) takes
bit = 1 when p > 0.5 (strict), which is deterministic; ``gate="sample"`` is the original draw
(pass a ``torch.Generator`` for reproducible draws).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, cast

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from stvsr._validate import (
    check_float,
    check_positive_int,
    check_rank,
    check_scale,
    check_tensor,
    check_times,
    check_video,
)
from stvsr.models._base import StvsrModel, load_state_dict_strict
from stvsr.models._capabilities import Capabilities
from stvsr.models._registry import register_model
from stvsr.ops import backward_warp, imresize

__all__ = ["SAFA", "SAFAConfig", "convert_safa", "cv2_cubic_upsample"]

_GATES = ("threshold", "sample")


@dataclass
class SAFAConfig:
    """The configuration of :class:`SAFA`, its one declaration (``SAFA(cfg)``, ``SAFA(**asdict(cfg))``,
    ``SAFA(cfg, **changes)`` and ``SAFA(**fields)`` all build from it).

    Attributes:
        channels: feature width c (80 in the release).
        num_blocks: scale-adaptive blocks (6).
        block_depth: residual blocks inside each scale-adaptive block (2).
        recon_blocks: residual blocks of the reconstruction head (12).
        scale: spatial factor of the bicubic pre-upsampling; the release is trained for 4 only.
        gate: ``"threshold"`` (deterministic, p > 0.5) or ``"sample"`` (the authors' Bernoulli draw).
        bgr_weights: the weights expect BGR input (the release does); RGB frames are flipped inside.
        authors_compat: reproduce the authors' pre-upsampling (``inference_img.py``): the LR frames
            are quantised to 8 bits, OpenCV INTER_CUBIC is applied and the result is rounded (half up)
            and saturated to 8 bits (straight-through gradients). ``False`` (the class default, as
            for every stvsr model): a plain float cubic resize (a = -0.75, replicate border), no
            rounding or clamping. The ``safa`` registry entry and :func:`convert_safa` set it.
        pad_multiple: HR frames are zero-padded right/bottom to a multiple of this (the authors'
            CLI uses 32; 8 is the network's minimum) and cropped afterwards.
        freeze_bn: keep the ResNet BatchNorms in eval mode in ``train()`` (as the authors did).
    """

    channels: int = 80
    num_blocks: int = 6
    block_depth: int = 2
    recon_blocks: int = 12
    scale: float = 4.0
    gate: str = "threshold"
    bgr_weights: bool = True
    authors_compat: bool = False
    pad_multiple: int = 32
    freeze_bn: bool = True


# ----------------------------------------------------------------------------- pre-upsampling


def cv2_cubic_upsample(x: torch.Tensor, scale: int = 4, *, u8: bool = True) -> torch.Tensor:
    """OpenCV ``resize(INTER_CUBIC)`` of ``(..., h, w)`` frames in [0, 1] to ``(..., scale*h, scale*w)``.

    The kernel (a = -0.75, half-pixel centres, replicated border) is
    ``stvsr.ops.imresize(x, scale, antialias=False, a=-0.75, border="replicate")``. With ``u8``
    the call emulates OpenCV on uint8 images, as the SAFA authors used it: the input is quantised
    to 8 bits, and the result rounded half up and saturated to [0, 255] (OpenCV's fixed-point
    ``(v + 2**21) >> 22``; for factors 2 and 4 its 11-bit coefficients are exact, so evaluating
    in float64 and rounding half up reproduces it bit for bit, whereas ``torch.round`` rounds
    exact ties to even; other factors differ from OpenCV by its coefficient quantisation, at most
    one uint8 step). Rounding steps pass gradients straight through.
    """
    if not u8:
        return imresize(x, scale=scale, antialias=False, a=-0.75, border="replicate")
    v = x.double() * 255.0
    v = v + (v.round().clamp(0, 255) - v).detach()
    y = imresize(v, scale=scale, antialias=False, a=-0.75, border="replicate")
    y = y + (torch.floor(y + 0.5).clamp(0, 255) - y).detach()
    return (y / 255.0).to(x.dtype)


# ----------------------------------------------------------------------------- building blocks


def _conv(cin: int, cout: int, kernel: int = 3, stride: int = 1, padding: int = 1) -> nn.Sequential:
    """Conv2d + PReLU (the authors' ``conv`` helper; keys ``.0`` conv, ``.1`` PReLU)."""
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, padding, bias=True), nn.PReLU(cout))


class _Resblock(nn.Module):
    """``prelu(x + beta * (conv3 -> PReLU -> conv3)(x))`` with a learnable per-channel ``beta`` (init 0)."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(c, c, 3, 1, 1), nn.PReLU(c), nn.Conv2d(c, c, 3, 1, 1))
        self.beta = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.prelu = nn.PReLU(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.prelu(x + self.conv(x) * self.beta)


class _BasicBlock(nn.Module):
    """ResNet-18 basic block (keys as torchvision: conv1, bn1, conv2, bn2, downsample.{0,1})."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample: nn.Module | None = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + identity)


class _Head(nn.Module):
    """Feature head: fixed-layout 1x1 normalisation, ResNet-18 conv1..layer2, 1x1 outputs summed at H/2.

    ``normalize`` is the authors' ``MeanShift``: a 1x1 conv initialised to ImageNet mean/std (RGB
    constants, applied to BGR data). It is an ordinary trainable conv in the original, so its
    values come from the checkpoint.
    """

    def __init__(self, c: int) -> None:
        super().__init__()
        self.cnn0 = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU())
        self.cnn1 = nn.Sequential(nn.MaxPool2d(3, 2, 1), nn.Sequential(_BasicBlock(64, 64), _BasicBlock(64, 64)))
        self.cnn2 = nn.Sequential(nn.Sequential(_BasicBlock(64, 128, 2), _BasicBlock(128, 128)))
        self.out0 = nn.Conv2d(64, c, 1)
        self.out1 = nn.Conv2d(64, c, 1)
        self.out2 = nn.Conv2d(128, c, 1)
        self.normalize = nn.Conv2d(3, 3, 1, bias=True)
        assert self.normalize.bias is not None
        mean = torch.tensor([0.485, 0.456, 0.406])
        std = torch.tensor([0.229, 0.224, 0.225])
        with torch.no_grad():
            self.normalize.weight.copy_(torch.diag(1.0 / std).view(3, 3, 1, 1))
            self.normalize.bias.copy_(-mean / std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) BGR [0, 1] -> (N, c, H/2, W/2)."""
        x = self.normalize(x)
        f0 = self.cnn0(x)
        f1 = self.cnn1(f0)
        f2 = self.cnn2(f1)
        size = f0.shape[-2:]
        up1 = F.interpolate(self.out1(f1), size=size, mode="bilinear", align_corners=False)
        up2 = F.interpolate(self.out2(f2), size=size, mode="bilinear", align_corners=False)
        return self.out0(f0) + up1 + up2


class _ScaleBlock(nn.Module):
    """One scale-adaptive block (the authors' ``RecurrentBlock``): stem conv + residual blocks.

    The same weights run at H/2, H/4 or H/8 (bilinear down, bilinear back up); the gate bits
    ``(s0, s1)`` pick the branch: (1, 1) full, (0, 1) half, (*, 0) quarter.
    """

    def __init__(self, cin: int, c: int, depth: int) -> None:
        super().__init__()
        self.conv_stem = _conv(cin, c)
        self.conv_backbone = nn.Sequential(*[_Resblock(c) for _ in range(depth)])

    def branch(self, x: torch.Tensor, factor: int) -> torch.Tensor:
        if factor == 1:
            return self.conv_backbone(self.conv_stem(x))
        y = F.interpolate(x, scale_factor=1.0 / factor, mode="bilinear", align_corners=False)
        y = self.conv_backbone(self.conv_stem(y))
        return F.interpolate(y, scale_factor=float(factor), mode="bilinear", align_corners=False)

    def forward(self, x: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
        """x (B, cin, h, w), bits (B, 2) in {0, 1} (straight-through) -> (B, c, h, w)."""
        s0 = bits[:, 0].view(-1, 1, 1, 1)
        s1 = bits[:, 1].view(-1, 1, 1, 1)
        weights = {1: s0 * s1, 2: (1 - s0) * s1, 4: 1 - s1}
        if torch.is_grad_enabled() and self.training:
            # training (like the authors): every branch runs so the gate gets straight-through gradients
            return sum(self.branch(x, f) * w for f, w in weights.items())  # type: ignore[return-value]
        # inference: run only the branches some sample picked (with batch 1, just one); the 0/1
        # weights are exact, so masking changes no value
        out: torch.Tensor | None = None
        for f, w in weights.items():
            if bool((w.detach() != 0).any()):
                y = self.branch(x, f) * w
                out = y if out is None else out + y
        assert out is not None  # the three weights of a sample sum to 1
        return out


class _Flownet(nn.Module):
    """Head + fused feature + scale-adaptive blocks with shared flow (``convflow``) and gate heads."""

    def __init__(self, c: int, num_blocks: int, depth: int) -> None:
        super().__init__()
        cin = 3 * c + 7  # feat, 6 flow channels, two warped features, time map
        self.convimg = _Head(c)
        self.shuffle = _conv(2 * c, c)
        self.convblock = nn.ModuleList([_ScaleBlock(cin, c, depth) for _ in range(num_blocks)])
        self.convflow = nn.Sequential(nn.Conv2d(c, 24, 3, 1, 1), nn.PixelShuffle(2))
        self.getscale = nn.Sequential(
            _conv(cin, c, 1, 1, 0),
            _conv(c, c, 1, 2, 0),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(c, 2),
            nn.Sigmoid(),
        )

    def scale_probs(self, x: torch.Tensor) -> torch.Tensor:
        """``getscale(x)``: the gate's probabilities ``(B, 2)`` of the block input ``x`` ``(B, cin, h, w)``.

        The second 1x1 conv has stride 2, so it reads every other pixel of the first one's output;
        the layers before it are pointwise, so they run on those pixels only (a quarter of the
        work, the same values).
        """
        second = cast(nn.Sequential, self.getscale[1])
        conv = cast(nn.Conv2d, second[0])
        y = self.getscale[0](x[..., ::2, ::2])
        y = second[1](F.conv2d(y, conv.weight, conv.bias))
        return self.getscale[2:](y)


def _gate_bits(p: torch.Tensor, mode: str, generator: torch.Generator | None) -> torch.Tensor:
    """Binary gate with straight-through gradient (the authors' ``RoundSTE``)."""
    with torch.no_grad():
        if mode == "threshold":
            hard = (p > 0.5).to(p.dtype)
        else:
            hard = torch.bernoulli(p.detach(), generator=generator)
    # exact 0/1 values forward, identity gradient to p backward
    return hard + (p - p.detach())


# ----------------------------------------------------------------------------- the model


class SAFA(StvsrModel):
    """SAFA space-time video super-resolution (x4 space, any time in [0, 1]).

    ``SAFA(**model.config)`` rebuilds a model (``config``: the fields of :class:`SAFAConfig`; an
    ``SAFAConfig`` may also be passed first, keywords replacing its fields).

    Public forward (stvsr contract): ``model(lr, scale=4.0, times=(0.5,))`` with ``lr``
    ``(B, T, 3, h, w)`` RGB in [0, 1], T >= 2, returns ``(B, T + (T-1)*K, 3, 4h, 4w)`` RGB in
    [0, 1]: ``[key0, t1..tK, key1, ...]``. Key frames are the network's own t = 0 / t = 1
    renderings (key k from the pair (k, k+1) at t = 0, the last key from the last pair at t = 1),
    as in the authors' ``inference``. Any h, w (frames are padded internally).

    Lower level: :meth:`inference` is the authors' ``SAFA.inference`` on pre-upsampled BGR
    pairs, and :meth:`upsample` the authors' pre-upsampling.
    """

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(task="stvsr", space_scales=(4.0,), weights_colour="BGR")

    def __init__(self, config: SAFAConfig | None = None, **overrides: Any) -> None:
        super().__init__()
        cfg = replace(config, **overrides) if config is not None else SAFAConfig(**overrides)
        channels, scale, gate, pad_multiple = cfg.channels, cfg.scale, cfg.gate, cfg.pad_multiple
        for name in ("channels", "num_blocks", "block_depth", "recon_blocks"):
            value = getattr(cfg, name)
            check_positive_int(value, name)
        if channels % 2:
            raise ValueError(f"channels must be even (the reconstruction pixel-shuffles 2c channels), got {channels}")
        if gate not in _GATES:
            raise ValueError(f"gate must be one of {_GATES}, got {gate!r}")
        if float(scale) != int(scale) or int(scale) < 1:
            raise ValueError(f"scale must be a positive integer factor (the release uses 4), got {scale!r}")
        if isinstance(pad_multiple, bool) or not isinstance(pad_multiple, int) or pad_multiple < 8 or pad_multiple % 8:
            raise ValueError(
                f"pad_multiple must be a positive multiple of 8 (the network needs H, W % 8 == 0), got {pad_multiple!r}"
            )
        cfg.scale = float(scale)
        self.config: dict[str, Any] = asdict(cfg)
        self.gate = gate
        c = channels
        self.block = _Flownet(c, cfg.num_blocks, cfg.block_depth)
        self.lastconv = nn.Sequential(
            _conv(2 * c + 1, c, 3, 2, 1),
            *[_Resblock(c) for _ in range(cfg.recon_blocks)],
            _conv(c, 2 * c),
            nn.PixelShuffle(2),
            nn.Conv2d(c // 2, 12, 3, 1, 1),
            nn.PixelShuffle(2),
        )

    # ------------------------------------------------------------------ training mode
    def train(self, mode: bool = True) -> SAFA:
        super().train(mode)
        if mode and self.config["freeze_bn"]:
            for m in self.block.convimg.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.eval()
        return self

    # ------------------------------------------------------------------ pieces
    def upsample(self, lr: torch.Tensor) -> torch.Tensor:
        """The authors' pre-upsampling of ``(..., 3, h, w)`` frames in [0, 1] (see :func:`cv2_cubic_upsample`)."""
        return cv2_cubic_upsample(lr, int(self.config["scale"]), u8=self.config["authors_compat"])

    def features(self, img: torch.Tensor) -> torch.Tensor:
        """Head features ``(N, c, H/2, W/2)`` of upsampled BGR frames ``(N, 3, H, W)``."""
        return self.block.convimg(img)

    def render(
        self,
        img0: torch.Tensor,
        img1: torch.Tensor,
        f0: torch.Tensor,
        f1: torch.Tensor,
        t: torch.Tensor,
        *,
        generator: torch.Generator | None = None,
        gates: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
    ) -> torch.Tensor:
        """One frame at time ``t`` (shape (B,)) from upsampled BGR frames (B, 3, H, W) and their features.

        Appends ``(probabilities (B, 2), bits (B, 2))`` of every gate call to ``gates`` if given.
        Returns (B, 3, H, W) BGR, clamped to [0, 1].
        """
        net = self.block
        b, _, h, w = img0.shape
        tmap = t.to(f0.dtype).view(b, 1, 1, 1).expand(b, 1, h // 2, w // 2)
        feat = net.shuffle(torch.cat((f0, f1), 1))
        flow = img0.new_zeros(b, 6, h, w)
        for blk in net.convblock:
            # the flow enters at half size unscaled; the features are warped by the halved vectors
            flow_d = F.interpolate(flow, scale_factor=0.5, mode="bilinear", align_corners=False)
            w0 = backward_warp(f0, flow_d[:, 0:2] * 0.5, padding_mode="border")
            w1 = backward_warp(f1, flow_d[:, 2:4] * 0.5, padding_mode="border")
            x = torch.cat((feat, flow_d, w0, w1, tmap), 1)
            p = net.scale_probs(x)
            bits = _gate_bits(p, self.gate, generator)
            if gates is not None:
                gates.append((p.detach(), bits.detach()))
            feat = blk(x, bits)
            flow = flow + net.convflow(feat)
        mask = torch.sigmoid(flow[:, 4:5])
        warped = backward_warp(img0, flow[:, 0:2], padding_mode="border") * mask + backward_warp(
            img1, flow[:, 2:4], padding_mode="border"
        ) * (1 - mask)
        flow_d = F.interpolate(flow, scale_factor=0.5, mode="bilinear", align_corners=False) * 0.5
        w0 = backward_warp(f0, flow_d[:, 0:2], padding_mode="border")
        w1 = backward_warp(f1, flow_d[:, 2:4], padding_mode="border")
        res = self.lastconv(torch.cat((tmap, w0, w1), 1))
        return torch.clamp(warped + res, 0, 1)

    # ------------------------------------------------------------------ authors' entry point
    def inference(
        self,
        x: torch.Tensor,
        timestep: float | Sequence[float] | torch.Tensor = 0.5,
        *,
        generator: torch.Generator | None = None,
        return_gates: bool = False,
    ) -> list[torch.Tensor] | tuple[list[torch.Tensor], list[tuple[torch.Tensor, torch.Tensor]]]:
        """The authors' ``SAFA.inference``: frames of one pre-upsampled pair, in their colour order.

        Args:
            x: ``(B, 6, H, W)`` in [0, 1], channels 0:3 = frame 0, 3:6 = frame 1, already upsampled
                (see :meth:`upsample`), in the weights' colour order (BGR for the release);
                H, W multiples of 8.
            timestep: a float t renders ``[0, t, 1]``; a list renders exactly those times; a
                ``(B, 1, 1, 1)`` tensor renders ``[0, t_b, 1]`` per sample.
            generator: random source of ``gate="sample"``.
            return_gates: also return ``[(p (B, 2), bits (B, 2)), ...]`` per gate call, in call
                order (time step, then block).

        Returns:
            A list of ``(B, 3, H, W)`` frames in [0, 1] (and the gate record if asked).
        """
        check_tensor(x, "x")
        check_rank(x, "x", 4, "B, 6, H, W")
        check_float(x, "x")
        if x.shape[1] != 6:
            raise ValueError(f"x must have 6 channels (two frames), got shape {tuple(x.shape)}")
        h, w = x.shape[-2:]
        if h % 8 or w % 8:
            raise ValueError(f"x must have H and W divisible by 8 (pad right/bottom first), got {(h, w)}")
        b = x.shape[0]
        if isinstance(timestep, torch.Tensor):
            if timestep.numel() != b:
                raise ValueError(f"timestep tensor must have B = {b} elements, got shape {tuple(timestep.shape)}")
            tt = timestep.reshape(b).to(x)
            stamps = [torch.zeros_like(tt), tt, torch.ones_like(tt)]
        else:
            if isinstance(timestep, (int, float)) and not isinstance(timestep, bool):
                seq: tuple[float, ...] = (0.0, *check_times(timestep, "timestep", closed=True), 1.0)
            else:
                seq = check_times(timestep, "timestep", closed=True)
            stamps = [x.new_full((b,), s) for s in seq]
        img0, img1 = x[:, :3], x[:, 3:6]
        f0, f1 = self.features(torch.cat((img0, img1), 0)).chunk(2, 0)
        gates: list[tuple[torch.Tensor, torch.Tensor]] = []
        frames = [self.render(img0, img1, f0, f1, s, generator=generator, gates=gates) for s in stamps]
        return (frames, gates) if return_gates else frames

    # ------------------------------------------------------------------ stvsr contract
    def forward(
        self,
        lr: torch.Tensor,
        scale: float | Sequence[float] = 4.0,
        times: float | Sequence[float] = (0.5,),
        *,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """``(B, T, 3, h, w)`` RGB [0, 1] -> ``(B, T + (T-1)*K, 3, s*h, s*w)`` RGB [0, 1].

        Args:
            lr: T >= 2 LR frames.
            scale: must equal the configured factor (4 for the release).
            times: K time stamps in (0, 1) rendered between every pair of consecutive frames.
            generator: random source of ``gate="sample"``.
        """
        check_video(lr, "lr", min_frames=2)
        sh, sw = check_scale(scale)
        s = int(self.config["scale"])
        if sh != s or sw != s:
            raise ValueError(f"SAFA supports scale={s} only (the factor it was trained for), got {scale!r}")
        ts = check_times(times)
        bsz, n, _, h, w = lr.shape
        frames = lr.flip(2) if self.config["bgr_weights"] else lr
        hr = self.upsample(rearrange(frames, "b t c h w -> (b t) c h w"))
        hh, ww = h * s, w * s
        m = self.config["pad_multiple"]
        ph, pw = (-hh) % m, (-ww) % m
        if ph or pw:
            hr = F.pad(hr, (0, pw, 0, ph))
        feats = rearrange(self.features(hr), "(b t) c h w -> b t c h w", b=bsz)
        hr = rearrange(hr, "(b t) c h w -> b t c h w", b=bsz)
        out: list[torch.Tensor] = []
        for i in range(n - 1):
            args = (hr[:, i], hr[:, i + 1], feats[:, i], feats[:, i + 1])
            stamps = ((0.0,) if i == 0 else ()) + ts + (1.0,)
            for t in stamps:
                out.append(self.render(*args, hr.new_full((bsz,), t), generator=generator))
        video = torch.stack(out, 1)[..., :hh, :ww]
        return video.flip(2) if self.config["bgr_weights"] else video


# ----------------------------------------------------------------------------- converter & registry


def convert_safa(state_dict: Mapping[str, torch.Tensor], **overrides: Any) -> SAFA:
    """Load the authors' ``flownet.pkl`` state_dict (keys with or without ``module.``) into :class:`SAFA`.

    Like the authors' ``Model.load_model``, keys are taken with the ``module.`` prefix removed
    (all keys must then match the model exactly).
    """
    if any(k.startswith("module.") for k in state_dict):
        sd = {k[len("module.") :]: v for k, v in state_dict.items() if k.startswith("module.")}
    else:
        sd = dict(state_dict)
    model = safa(**overrides)
    assert isinstance(model, SAFA)  # the registry entry: with the authors' behaviour
    load_state_dict_strict(model, sd, what="SAFA checkpoint")
    return model.eval()


_CARD = {
    "paper": {
        "title": "Scale-Adaptive Feature Aggregation for Efficient Space-Time Video Super-Resolution",
        "venue": "WACV",
        "year": 2024,
    },
    "authors_repo": "https://github.com/megvii-research/WACV2024-SAFA",
    "licence": "MIT",
    "params": 4941442,
    "conformance": "safa",
    "summary": "Bicubic-upsampled frame pair, ResNet-18 features and six gated multi-scale flow blocks "
    "(threshold gate by default; the authors sample it), then a residual reconstruction; any t in [0, 1].",
}


@register_model("safa", converter=convert_safa, card=_CARD)
def safa(**overrides: Any) -> SAFA:
    """SAFA as released (c = 80, 6 blocks, x4, BGR weights, deterministic gate), with the authors' 8-bit
    pre-upsampling (``authors_compat=True``). ``authors_u8`` (its name in stvsr 0.1.0 configs) is read
    as ``authors_compat``."""
    if "authors_u8" in overrides:
        overrides = {k: v for k, v in overrides.items() if k != "authors_u8"} | {
            "authors_compat": overrides["authors_u8"]
        }
    return SAFA(**{"authors_compat": True, **overrides})
