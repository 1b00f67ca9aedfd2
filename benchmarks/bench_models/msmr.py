"""MsMr fixed and arbitrary models, x4 space / x2 time, on LR frames of 180x144 (w x h).

Each call runs the whole clip (as the authors do). The 4-frame cases are the authors' timed
workload (``authors_anchors``: 4 LR frames -> 4 key + 3 interpolated = 7 HR frames of 720x576);
the 7-frame ones make 13. ``msmr_arb`` also gets an off-integer case (x3.3, three time stamps)
since its learned-offset resampler is what makes it arbitrary.
"""

from __future__ import annotations

import torch

from stvsr.models.msmr import msmr_arb, msmr_fix

_SMALL = {"mid_channels": 16, "num_blocks": 2, "feat_blocks": 1, "sa_every": 1, "up_channels": 8}


def cases(quick: bool) -> list[dict]:
    """Full size: 1 x T x 3 x 144 x 180, T = 4 and 7. Quick: 16 x 20 frames with a reduced width."""
    h, w = (16, 20) if quick else (144, 180)
    overrides = _SMALL if quick else {}
    specs = [  # name, builder, frames, scale, times, anchors
        ("msmr_fix", msmr_fix, 4, 4.0, (0.5,), ("msmr_fix",)),
        ("msmr_arb", msmr_arb, 4, 4.0, (0.5,), ("msmr_arb",)),
        ("msmr_fix", msmr_fix, 7, 4.0, (0.5,), ()),
        ("msmr_arb", msmr_arb, 7, 4.0, (0.5,), ()),
        ("msmr_arb", msmr_arb, 7, 3.3, (0.25, 0.5, 0.75), ()),
    ]
    out = []
    for name, builder, t, scale, times, anchors in specs:
        out.append(
            {
                "name": f"{name}_{t}x{h}x{w}_s{scale:g}_t{len(times) + 1}",
                "build": lambda builder=builder: builder(**overrides).eval(),
                "inputs": lambda t=t, scale=scale, times=times: (
                    (torch.rand(1, t, 3, h, w, generator=torch.Generator().manual_seed(0)),),
                    {"scale": scale, "times": times},
                ),
                "out_frames": t + (t - 1) * len(times),
                "dtypes": ["float32", "bfloat16"],
                "anchors": anchors,
            }
        )
    return out
