"""FMU: "Efficient Space-time Video Super Resolution using Low-Resolution Flow and Mask Upsampling"
(Dutta, Shah, Mittal, CVPR Workshops (NTIRE) 2021; official code ``saikatdutta/FMU_STSR``, class ``STSR_net``).

From four LR key frames I0..I3 it makes the HR key frames and the frame at time t
between I1 and I2, top to bottom like the paper's figure:

1. LR flows with PWC-Net (:class:`stvsr.layers.flow.pwcnet.PWCNet`): F10, F12, F23, F21.
2. Quadratic flow interpolation (QVI): ``F1t = (F12 - F10)/2 t + (F12 + F10)/2 t^2`` and
   the same for ``F2t`` from F23, F21 at ``1 - t``.
3. Flow reversal (QVI, :func:`flow_reversal`): forward-splat each flow with Gaussian
   weights onto its integer neighbours, normalise, negate: Ft1, Ft2.
4. Flow refinement with a GridNet (20 -> 8): residuals and ``10 tanh``-bounded
   resampling offsets for Ft1, Ft2, plus a 32-channel feature.
5. A 3-layer mask network (:class:`SmallMaskNet`) gives the blending mask M and the
   **LR** intermediate frame ``((1-t) M I1' + t (1-M) I2') / ((1-t) M + t (1-M))``.
6. RSDN (:class:`stvsr.models.rsdn.RSDN`) super-resolves the four key frames x4.
7. Flow and mask upsampling: the refined LR flows (x4 bilinear, x4 magnitude) and M
   (x4 bilinear) warp and blend the HR key frames 1 and 2; a second GridNet (20 -> 3)
   adds a residual: the HR intermediate frame.

**Colour**: the authors' weights expect BGR (cv2 frames); every public method here
takes and returns RGB and flips channels inside.

**Warping convention** (``authors_compat``): the authors' code was written for PyTorch
1.1, whose ``grid_sample`` behaved like ``align_corners=True``; none of its calls sets
the flag, so on today's PyTorch it runs with ``False`` (a half-pixel shift even at zero
flow). The released checkpoint was trained under the old behaviour, so the default here
(``authors_compat=False``, as for every stvsr model) warps with ``align_corners=True``
(PyTorch <= 1.2 semantics) in both warps (PWC-Net's feature warp and the model's
``backwarp``); ``authors_compat=True`` reproduces the code as it runs today
(``align_corners=False``). See :func:`fmu_backwarp` and :func:`stvsr.layers.flow.pwcnet.pwc_feature_warp`.
Neither is the identity at zero flow: the authors' grid ``2(p + flow)/W - 1`` samples at
``(p + flow)(W - 1)/W`` under PyTorch 1.1 (a zoom about the top-left corner, up to one pixel at
the far edge) and at ``p + flow - 1/2`` today. ``exact_warp=True`` (the configuration of this
project's own weights, trained from scratch) samples FMU's image and flow warps at ``p + flow``;
PWC-Net's feature warp already does under the default convention.

Two entry points:

* :meth:`FMU.forward_window` (the authors' call; the pipeline's named-structure entry):
  exactly 4 LR frames ``(B, 4, 3, h, w)`` and one or more t in (0, 1) between frames 2
  and 3 (indices 1 and 2) -> :class:`FMUOutput` (unclamped, like the authors').
* :meth:`FMU.forward` (stvsr's STVSR contract): ``model(lr, scale=4.0, times=(0.5,))``
  for any T >= 2 runs one 4-frame window per consecutive pair with the authors'
  ``REDS_val.py`` windowing and returns ``(B, T + (T-1) K, 3, 4h, 4w)``.

Any h, w: the LR frames are padded (replicate, bottom/right) to multiples of 4 (GridNet
halves twice; PWC-Net resizes to multiples of 64 itself) and the outputs cropped back.
The model has no learned dependence on the dtype: float64 runs work (flow reversal's
``floor`` and PWC-Net's 0.999 validity threshold are discontinuous, so float32 and
float64 can disagree where a value sits on such an edge).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from stvsr._validate import check_scale, check_times, check_video
from stvsr.layers.flow.pwcnet import PWCNet, rename_sniklaus_keys
from stvsr.layers.gridnet import GridNet
from stvsr.models._base import StvsrModel, load_state_dict_strict
from stvsr.models._capabilities import Capabilities
from stvsr.models._registry import register_model
from stvsr.models.rsdn import RSDN
from stvsr.ops import softsplat  # via the package: the name is shared with its module
from stvsr.ops.warp import backward_warp, sampling_dtype

__all__ = [
    "FMU",
    "FMUConfig",
    "FMUOutput",
    "SmallMaskNet",
    "convert_fmu",
    "flow_reversal",
    "fmu",
    "fmu_backwarp",
    "quadratic_flow",
]

PARAMS = 20_091_210


@dataclass
class FMUConfig:
    """The configuration of :class:`FMU`, its one declaration (``FMU(cfg)``, ``FMU(**asdict(cfg))``,
    ``FMU(cfg, **changes)`` and ``FMU(**fields)`` all build from it; JSON-serialisable)."""

    authors_compat: bool = False  # True: warp like the authors' code on today's PyTorch (see module doc)
    exact_warp: bool = False  # True: FMU's own warps sample at p + flow (this project's weights; module doc)
    rsdn_channels: int = 128
    rsdn_blocks: int = 9
    grid_channels: list[int] = field(default_factory=lambda: [32, 64, 96])

    def __post_init__(self) -> None:
        self.authors_compat = bool(self.authors_compat)
        self.exact_warp = bool(self.exact_warp)
        if self.authors_compat and self.exact_warp:
            raise ValueError("authors_compat and exact_warp exclude each other: choose one warp convention")
        self.grid_channels = [int(c) for c in self.grid_channels]


@dataclass
class FMUOutput:
    """What :meth:`FMU.forward_window` returns (RGB, unclamped; K = number of time stamps).

    Attributes:
        hr_keyframes: ``(B, 4, 3, 4h, 4w)`` the 4 LR inputs super-resolved by RSDN, input order.
        hr_interp: ``(B, K, 3, 4h, 4w)`` the HR frames at ``times`` between inputs 1 and 2.
        lr_interp: ``(B, K, 3, h, w)`` the LR frames at ``times`` (before flow/mask upsampling).
        times: the K time stamps, in order.
        hr_detail: ``(B, 4, 3, 4h, 4w)`` RSDN's detail-branch output (training losses).
        hr_structure: ``(B, 4, 3, 4h, 4w)`` RSDN's structure-branch output (training losses).
    """

    hr_keyframes: torch.Tensor
    hr_interp: torch.Tensor
    lr_interp: torch.Tensor
    times: tuple[float, ...]
    hr_detail: torch.Tensor
    hr_structure: torch.Tensor


def quadratic_flow(f_0: torch.Tensor, f_2: torch.Tensor, t: float) -> torch.Tensor:
    """QVI's constant-acceleration flow from the middle frame to time ``t`` in (0, 1) towards ``f_2``.

    ``f_0``/``f_2``: ``(B, 2, H, W)`` flows from the middle frame to the previous / next frame.
    """
    return 0.5 * (f_2 - f_0) * t + 0.5 * (f_2 + f_0) * (t * t)


def flow_reversal(flow: torch.Tensor) -> torch.Tensor:
    """QVI's flow reversal: the flow ``(B, 2, H, W)`` from the source to time t -> the flow from t back.

    Every source pixel p carries ``flow(p)`` to the four integer neighbours q of
    ``p + flow(p)`` (neighbours = ``floor`` and ``floor + 1`` per axis), weighted by
    ``exp(-|p + flow(p) - q|^2)`` (Gaussian, not bilinear); the result is the weighted
    mean, negated, and 0 where nothing landed. Built from ``softsplat(mode="sum")`` with
    the *integer* displacement to each neighbour (so its bilinear weights are exactly 1
    there and 0 elsewhere) on ``(weight * flow, weight)``. As in the authors' code no
    gradient flows through the ``floor`` decisions, only through the weights and values.
    """
    b, _, h, w = flow.shape
    base = torch.floor(flow.detach())
    frac = flow - base
    values, shifts = [], []
    for oy in (0.0, 1.0):
        for ox in (0.0, 1.0):
            weight = torch.exp(-((frac[:, :1] - ox) ** 2 + (frac[:, 1:] - oy) ** 2))
            values.append(torch.cat((flow * weight, weight), dim=1))
            offset = torch.tensor([ox, oy], dtype=flow.dtype, device=flow.device).view(1, 2, 1, 1)
            shifts.append(base + offset)
    # the four neighbours as one batch of 4B integer-displacement splats
    splat = softsplat(torch.cat(values, dim=0), torch.cat(shifts, dim=0), mode="sum")
    splat = splat.view(4, b, 3, h, w).sum(dim=0)
    num, den = splat[:, :2], splat[:, 2:]
    safe = torch.where(den > 0, den, torch.ones_like(den))  # holes: num is 0 there too
    return -num / safe


def fmu_backwarp(img: torch.Tensor, flow: torch.Tensor, align_corners: bool = True, exact: bool = False) -> torch.Tensor:
    """The authors' ``backwarp``: ``grid_sample(img, 2(p + flow)/W - 1)`` (per axis, zero padding).

    With ``align_corners=True`` (PyTorch <= 1.2, what the weights were trained with) that
    grid samples at ``(p + flow) (W - 1)/W``; with ``False`` (the code on today's PyTorch)
    at ``p + flow - 1/2``. Both are expressed as pixel flows for
    :func:`stvsr.ops.backward_warp`. ``exact=True`` samples at ``p + flow`` (``align_corners`` is
    then unused). ``img`` ``(B, C, H, W)``, ``flow`` ``(B, 2, H, W)``.
    """
    h, w = img.shape[-2:]
    flow = flow.to(sampling_dtype(flow))  # pixel positions need float32: bfloat16 rounds 300.4 to 300
    if exact:
        return backward_warp(img, flow, align_corners=True)
    if align_corners:
        ys = torch.arange(h, dtype=flow.dtype, device=flow.device).view(1, h, 1)
        xs = torch.arange(w, dtype=flow.dtype, device=flow.device).view(1, 1, w)
        fx = (xs + flow[:, 0]) * ((w - 1) / w) - xs
        fy = (ys + flow[:, 1]) * ((h - 1) / h) - ys
        flow = torch.stack((fx, fy), dim=1)
    else:
        flow = flow - 0.5
    return backward_warp(img, flow, align_corners=True)


class SmallMaskNet(nn.Module):
    """conv5x5 -> LReLU(0.1) -> conv3x3 -> LReLU(0.1) -> conv3x3: blending-mask logits ``(B, 1, H, W)``."""

    def __init__(self, in_channels: int = 38, out_channels: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 32, 5, padding=2)
        self.conv2 = nn.Conv2d(32, 16, 3, padding=1)
        self.conv3 = nn.Conv2d(16, out_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(self.conv1(x), 0.1)
        x = F.leaky_relu(self.conv2(x), 0.1)
        return self.conv3(x)


def _blend(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor, t: float) -> torch.Tensor:
    wa, wb = (1.0 - t) * mask, t * (1.0 - mask)
    return (wa * a + wb * b) / (wa + wb)


class FMU(StvsrModel):
    """FMU space-time video SR (x4 space, any t between the middle two of 4 frames).

    ``self.config`` = ``asdict(FMUConfig)``; ``FMU(**model.config)`` rebuilds the model. The
    default configuration is the published one (20,091,210 parameters, key names of the
    authors' ``STSR_net``: ``flownet``, ``refinenet``, ``masknet``, ``vsrnet``, ``synthnet``).
    Smaller ``rsdn_*``/``grid_channels`` give cheap variants for tests.
    """

    scale = 4

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(task="stvsr", space_scales=(4.0,), trained_frames=4, weights_colour="BGR")

    def __init__(self, config: FMUConfig | None = None, **overrides: Any) -> None:
        super().__init__()
        cfg = replace(config, **overrides) if config is not None else FMUConfig(**overrides)
        grid = cfg.grid_channels
        self.config = asdict(cfg)
        self.authors_compat = cfg.authors_compat
        self.align_corners = not cfg.authors_compat  # the warps' grid_sample convention
        self.exact_warp = cfg.exact_warp
        self.flownet = PWCNet(align_corners=self.align_corners)
        self.refinenet = GridNet(20, 8, grid)
        self.masknet = SmallMaskNet(6 + grid[0], 1)
        self.vsrnet = RSDN(channels=cfg.rsdn_channels, blocks=cfg.rsdn_blocks, scale=4, weights_colour="bgr")
        self.synthnet = GridNet(20, 3, grid)

    # -- the authors' forward, split into the part shared by all t and the part per t ----------

    def _shared(self, lr: torch.Tensor, ac: bool) -> dict[str, torch.Tensor]:
        """Flows and RSDN for BGR frames ``(B, 4, 3, h, w)``, h and w multiples of 4."""
        i0, i1, i2, i3 = lr.unbind(1)
        b = lr.shape[0]
        # F10, F12, F23, F21 as one PWC-Net batch
        flows = self.flownet(torch.cat((i1, i1, i2, i2)), torch.cat((i0, i2, i3, i1)), align_corners=ac)
        f10, f12, f23, f21 = flows.split(b)
        pred, pred_d, pred_s = self.vsrnet.branches(lr)
        return {"i1": i1, "i2": i2, "f10": f10, "f12": f12, "f23": f23, "f21": f21,
                "pred": pred, "pred_d": pred_d, "pred_s": pred_s}

    def _at_time(
        self, s: dict[str, torch.Tensor], t: float, ac: bool, exact: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(HR frame, LR frame)`` at time t, BGR, unclamped."""
        i1, i2 = s["i1"], s["i2"]
        ft1 = flow_reversal(quadratic_flow(s["f10"], s["f12"], t))
        ft2 = flow_reversal(quadratic_flow(s["f23"], s["f21"], 1.0 - t))
        i1t, i2t = fmu_backwarp(i1, ft1, ac, exact), fmu_backwarp(i2, ft2, ac, exact)
        out, feature = self.refinenet(torch.cat((i1, i2, i1t, i2t, s["f12"], s["f21"], ft1, ft2), dim=1))
        # adaptive flow filtering: resample each flow at learned offsets (<= 10 px), add a residual
        ft1r = fmu_backwarp(ft1, 10.0 * torch.tanh(out[:, 4:6]), ac, exact) + out[:, 0:2]
        ft2r = fmu_backwarp(ft2, 10.0 * torch.tanh(out[:, 6:8]), ac, exact) + out[:, 2:4]
        i1tf, i2tf = fmu_backwarp(i1, ft1r, ac, exact), fmu_backwarp(i2, ft2r, ac, exact)
        mask = torch.sigmoid(self.masknet(torch.cat((i1tf, i2tf, feature), dim=1)))
        lr_t = _blend(i1tf, i2tf, mask, t)
        # flow and mask upsampling: LR motion and occlusion reasoning reused at HR
        h, w = i1.shape[-2:]
        size = (4 * h, 4 * w)
        ft1r_h = 4.0 * F.interpolate(ft1r, size=size, mode="bilinear", align_corners=False)
        ft2r_h = 4.0 * F.interpolate(ft2r, size=size, mode="bilinear", align_corners=False)
        mask_h = F.interpolate(mask, size=size, mode="bilinear", align_corners=False)
        i1_h, i2_h = s["pred"][:, 1], s["pred"][:, 2]
        i1tf_h, i2tf_h = fmu_backwarp(i1_h, ft1r_h, ac, exact), fmu_backwarp(i2_h, ft2r_h, ac, exact)
        hr_t = _blend(i1tf_h, i2tf_h, mask_h, t)
        delta, _ = self.synthnet(torch.cat((i1_h, i2_h, i1tf_h, i2tf_h, hr_t, mask_h, ft1r_h, ft2r_h), dim=1))
        return hr_t + delta, lr_t

    # -- public API ------------------------------------------------------------------------------

    def forward_window(
        self,
        lr: torch.Tensor,
        times: float | Sequence[float] = 0.5,
        authors_compat: bool | None = None,
    ) -> FMUOutput:
        """The authors' call on one window of 4 LR frames.

        Args:
            lr: ``(B, 4, 3, h, w)`` RGB in [0, 1], any h, w >= 1.
            times: t in (0, 1) (or several) between frames 1 and 2 (0-based), i.e. the 2nd and
                3rd inputs. The published model was trained at t = 0.5.
            authors_compat: None uses the model's setting; True warps like the authors' code on
                today's PyTorch (``align_corners=False``; see the module doc).

        Returns:
            :class:`FMUOutput` (RGB, unclamped).
        """
        check_video(lr, "lr")
        if lr.shape[1] != 4:
            raise ValueError(f"lr must hold exactly 4 frames (B, 4, 3, h, w), got shape {tuple(lr.shape)}")
        ts = check_times(times)
        ac = self.align_corners if authors_compat is None else not authors_compat
        exact = self.exact_warp if authors_compat is None else False
        b, _, c, h, w = lr.shape
        x = lr.flip(2)  # RGB -> BGR: the authors' weights read cv2 frames
        ph, pw = -h % 4, -w % 4
        if ph or pw:
            x = F.pad(x.reshape(-1, c, h, w), (0, pw, 0, ph), mode="replicate").reshape(b, 4, c, h + ph, w + pw)
        s = self._shared(x, ac)
        hr, lo = [], []
        for t in ts:
            hr_t, lr_t = self._at_time(s, t, ac, exact)
            hr.append(hr_t)
            lo.append(lr_t)
        H, W = 4 * h, 4 * w
        return FMUOutput(
            hr_keyframes=s["pred"][..., :H, :W].flip(2),
            hr_interp=torch.stack(hr, 1)[..., :H, :W].flip(2),
            lr_interp=torch.stack(lo, 1)[..., :h, :w].flip(2),
            times=ts,
            hr_detail=s["pred_d"][..., :H, :W].flip(2),
            hr_structure=s["pred_s"][..., :H, :W].flip(2),
        )

    def forward(
        self,
        lr: torch.Tensor,
        scale: float | Sequence[float] = 4.0,
        times: float | Sequence[float] = (0.5,),
        clamp: bool = True,
        authors_compat: bool | None = None,
    ) -> torch.Tensor:
        """stvsr's STVSR contract.

        Args:
            lr: ``(B, T, 3, h, w)`` RGB in [0, 1], T >= 2, any h, w.
            scale: must be 4 (or ``(4, 4)``).
            times: K time stamps in (0, 1) inserted between every pair of consecutive frames.
            clamp: clamp the result to [0, 1].
            authors_compat: override of the model's ``authors_compat`` for this call.

        Returns:
            ``(B, T + (T-1) K, 3, 4h, 4w)`` RGB ordered ``[key0, t_1..t_K, key1, ..., key_{T-1}]``.
            Frames between k and k+1 come from the 4-frame window ``(k-1, k, k+1, k+2)`` with
            indices clamped to ``[0, T-1]`` (the authors' ``REDS_val.py`` windowing); key frame
            k is that window's RSDN output for its 2nd frame, and the last key frame its 3rd
            frame in the last window. Each window is a full :meth:`forward_window` call.
        """
        check_video(lr, "lr", min_frames=2)
        if check_scale(scale) != (4.0, 4.0):
            raise ValueError(f"FMU upsamples space by exactly 4, got scale={scale!r}")
        ts = check_times(times)
        n = lr.shape[1]
        frames: list[torch.Tensor] = []
        out = None
        for k in range(n - 1):
            idx = [min(max(i, 0), n - 1) for i in (k - 1, k, k + 1, k + 2)]
            out = self.forward_window(lr[:, idx], ts, authors_compat)
            frames.append(out.hr_keyframes[:, 1])
            frames.extend(out.hr_interp.unbind(1))
        assert out is not None
        frames.append(out.hr_keyframes[:, 2])
        video = torch.stack(frames, dim=1)
        return video.clamp(0.0, 1.0) if clamp else video


def convert_fmu(state_dict: Mapping[str, torch.Tensor]) -> FMU:
    """Load the authors' ``STSR_net`` state_dict (e.g. ``checkpoints/gridnet/stsr-21-11279.pth``).

    Keys as ``STSR_net.state_dict()``; a ``module.`` (DataParallel) prefix is stripped and
    newer sniklaus PWC names (``flownet.net*``) are mapped to ``flownet.module*``. The model
    is returned in eval mode with the default ``authors_compat=False`` (warps with
    ``align_corners=True``, the weights' training convention).
    """
    sd = dict(state_dict)
    if sd and all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    flow = rename_sniklaus_keys({k[len("flownet."):]: v for k, v in sd.items() if k.startswith("flownet.")})
    sd = {k: v for k, v in sd.items() if not k.startswith("flownet.")} | {f"flownet.{k}": v for k, v in flow.items()}
    model = FMU()
    load_state_dict_strict(model, sd, what="FMU (STSR_net) state_dict")
    return model.eval()


@register_model(
    "fmu",
    converter=convert_fmu,
    card={
        "paper": {
            "title": "Efficient Space-time Video Super Resolution using Low-Resolution Flow and Mask Upsampling",
            "venue": "CVPR Workshops (NTIRE)",
            "year": 2021,
        },
        "authors_repo": "https://github.com/saikatdutta/FMU_STSR",
        "licence": "CC0-1.0 (repo); its PWC-Net code derives from sniklaus/pytorch-pwc (GPL-3.0) and NVIDIA's "
        "PWC-Net weights are CC BY-NC-SA 4.0",
        "params": PARAMS,
        "conformance": "fmu",
        "summary": "PWC-Net flows, quadratic interpolation, flow reversal and GridNet refinement at LR; the LR flow "
        "and blending mask are upsampled x4 to warp RSDN's HR key frames (trained at t = 0.5).",
    },
)
def fmu(**overrides: Any) -> FMU:
    """The published FMU (STSR_net) configuration; keyword overrides go to :class:`FMU`.

    ``align_corners`` (the switch's name in stvsr 0.1.0 configs) is read as ``authors_compat = not align_corners``.
    """
    if "align_corners" in overrides:
        overrides = {k: v for k, v in overrides.items() if k != "align_corners"} | {
            "authors_compat": not overrides["align_corners"]
        }
    return FMU(**overrides)
