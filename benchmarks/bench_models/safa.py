"""SAFA (WACV 2024) at Vid4 size: two LR frames 144x180 -> HR 576x720 (padded to 576x736 inside).

One call renders t = 0, 0.5, 1 (3 HR frames), like the authors' ``inference(x, 0.5)``; the head
runs once per frame, then six gated blocks and the reconstruction run per rendered time. The cost
depends on the scale gate: ``gate_full`` forces every block to H/2 (the most expensive branch),
``gate_quarter`` to H/8 (the cheapest); ``default_init`` leaves the gate to the random weights.
"""

from __future__ import annotations

import torch

from stvsr.models.safa import SAFA, safa


def _build(small: dict, gate_bias: float | None) -> SAFA:
    model = safa(**small).eval()
    if gate_bias is not None:
        with torch.no_grad():  # sigmoid(+-20) saturates both gate bits
            model.block.getscale[4].weight.zero_()
            model.block.getscale[4].bias.fill_(gate_bias)
    return model


def cases(quick: bool) -> list[dict]:
    """Full size: the released configuration at LR 144x180. Quick: LR 8x8, c = 8, 2 blocks."""
    h, w = (8, 8) if quick else (144, 180)
    small = {"channels": 8, "num_blocks": 2, "block_depth": 1, "recon_blocks": 1} if quick else {}
    tag = f"lr{h}x{w}_x4_t0.5"

    def clip() -> torch.Tensor:
        return torch.rand(1, 2, 3, h, w, generator=torch.Generator().manual_seed(0))

    out = []
    for label, bias in (("gate_full", 20.0), ("gate_quarter", -20.0), ("default_init", None)):
        out.append(
            {
                "name": f"safa_{label}_{tag}",
                "build": lambda b=bias: _build(small, b),
                "inputs": lambda: ((clip(),), {"scale": 4.0, "times": (0.5,)}),
                "out_frames": 3,
                "dtypes": ["float32", "bfloat16"],
            }
        )
    return out
