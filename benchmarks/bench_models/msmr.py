"""MsMr fixed and arbitrary models on 7 LR frames of 180x144 (w x h), x4 space / x2 time.

Both run the whole clip in one call (as the authors do): 7 key + 6 interpolated = 13
HR frames of 720x576 per call. ``msmr_arb`` also gets an off-integer case (x3.3, three
time stamps) since its learned-offset resampler is what makes it arbitrary.
"""

from __future__ import annotations

import torch

from stvsr.models.msmr import msmr_arb, msmr_fix

_SMALL = {"mid_channels": 16, "num_blocks": 2, "feat_blocks": 1, "sa_every": 1, "up_channels": 8}


def cases(quick: bool) -> list[dict]:
    """Full size: 1 x 7 x 3 x 144 x 180. Quick: 1 x 3 x 3 x 16 x 20 with a reduced width."""
    t, h, w = (3, 16, 20) if quick else (7, 144, 180)
    overrides = _SMALL if quick else {}

    def clip() -> torch.Tensor:
        return torch.rand(1, t, 3, h, w, generator=torch.Generator().manual_seed(0))

    specs = [
        ("msmr_fix", msmr_fix, 4.0, (0.5,)),
        ("msmr_arb", msmr_arb, 4.0, (0.5,)),
        ("msmr_arb", msmr_arb, 3.3, (0.25, 0.5, 0.75)),
    ]
    out = []
    for name, builder, scale, times in specs:
        out.append({
            "name": f"{name}_{t}x{h}x{w}_s{scale:g}_t{len(times) + 1}",
            "build": lambda builder=builder: builder(**overrides).eval(),
            "inputs": lambda scale=scale, times=times: ((clip(),), {"scale": scale, "times": times}),
            "out_frames": t + (t - 1) * len(times),
            "dtypes": ["float32", "bfloat16"],
        })
    return out
