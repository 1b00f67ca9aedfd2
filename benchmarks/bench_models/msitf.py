"""MSITF at Vid4 size: 4 LR frames 144x180 -> 7 HR frames 576x720 (x4, midpoints), one call."""

from __future__ import annotations

import torch

from stvsr.models.msitf import msitf


def cases(quick: bool) -> list[dict]:
    """Full size: the authors' configuration. Quick: LR 8x8, nf 8, one Swin group, window 4."""
    h, w = (8, 8) if quick else (144, 180)
    small = (
        {"nf": 8, "groups": 2, "front_rbs": 1, "swin_depths": [2], "swin_heads": [2], "window_size": 4, "attn_heads": 2}
        if quick
        else {}
    )

    def clip() -> torch.Tensor:
        return torch.rand(1, 4, 3, h, w, generator=torch.Generator().manual_seed(0))

    return [
        {
            "name": f"msitf_lr{h}x{w}_x4_n4",
            "build": lambda: msitf(**small).eval(),
            "inputs": lambda: ((clip(),), {"scale": 4.0, "times": (0.5,)}),
            "out_frames": 7,
            "dtypes": ["float32", "bfloat16"],
            "anchors": ("msitf",),
        },
    ]
