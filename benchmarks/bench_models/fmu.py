"""FMU (Dutta et al., CVPRW 2021) and its RSDN: one 4-frame window at Vid4 size (LR 144x180, x4).

``forward_window`` is the authors' call: 4 LR frames -> 4 HR key frames (RSDN) + the HR
frame at t = 0.5 between frames 2 and 3 (5 HR frames per call). The STVSR-contract
``forward`` on a T-frame clip runs T-1 such windows (REDS_val.py windowing), so its cost
per clip is (T-1) x this row. ``rsdn_vid4`` is the key-frame network alone on 4 frames.
"""

from __future__ import annotations

import torch

from stvsr.models.fmu import fmu
from stvsr.models.rsdn import rsdn


def cases(quick: bool) -> list[dict]:
    """Full size: the published models at LR 144x180. Quick: LR 16x16 with narrow RSDN/GridNets
    (PWC-Net is fixed and always works at >= 64x64 inside)."""
    h, w = (16, 16) if quick else (144, 180)
    small_fmu = {"rsdn_channels": 16, "rsdn_blocks": 2, "grid_channels": [8, 8, 8]} if quick else {}
    small_rsdn = {"channels": 16, "blocks": 2} if quick else {}
    tag = f"lr{h}x{w}_x4"

    def clip() -> torch.Tensor:
        return torch.rand(1, 4, 3, h, w, generator=torch.Generator().manual_seed(0))

    return [
        {
            "name": f"fmu_window_{tag}_t0.5",
            "build": lambda: fmu(**small_fmu).eval(),
            "inputs": lambda: ((clip(),), {"times": 0.5}),
            "method": "forward_window",
            "out_frames": 5,
            "dtypes": ["float32", "bfloat16"],
            "anchors": ("fmu",),
        },
        {
            "name": f"rsdn_{tag}_T4",
            "build": lambda: rsdn(**small_rsdn).eval(),
            "inputs": lambda: ((clip(),), {}),
            "out_frames": 4,
            "dtypes": ["float32", "bfloat16"],
        },
    ]
