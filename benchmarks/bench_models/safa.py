"""SAFA (WACV 2024) at Vid4 size: a pair of frames, LR 144x180 -> HR 576x720 (padded to 576x736 inside).

One call renders t = 0, 0.5, 1 (3 HR frames); the head runs once per frame, then six gated
blocks and the reconstruction run per rendered time. The cost depends on the scale gate, so
the benchmark fixes its decisions (the gate head still runs): ``authors_gates`` takes those of
the authors' timed call (``authors_anchors.SAFA_GATES``) and times their call exactly,
``inference(x, 0.5)`` on the pre-upsampled, padded pair; ``gate_full`` forces every block to
H/2 (the most expensive branch), ``gate_quarter`` to H/8 (the cheapest), both through the
stvsr call on LR frames (bicubic x4 included); ``default_init`` leaves the gate to the random weights.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from benchmarks.authors_anchors import SAFA_GATES
from stvsr.models.safa import safa

_BITS = {"F": (1.0, 1.0), "H": (0.0, 1.0), "Q": (0.0, 0.0)}  # full H/2, half H/4, quarter H/8


class _FixedGate:
    """The gate head, run as usual, its probabilities replaced by fixed decisions (one per call, cycled).

    Stands in for the bound ``_Flownet.scale_probs`` (an instance attribute shadows the method).
    """

    def __init__(self, head: Callable[[torch.Tensor], torch.Tensor], decisions: str) -> None:
        self.head, self.decisions, self.calls = head, decisions, 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        p = self.head(x)
        bits = _BITS[self.decisions[self.calls % len(self.decisions)]]
        self.calls += 1
        return torch.tensor(bits, dtype=p.dtype, device=p.device).expand_as(p)


def _build(small: dict, decisions: str | None) -> nn.Module:
    model = safa(**small).eval()
    if decisions is not None:
        flownet = model.get_submodule("block")
        flownet.scale_probs = _FixedGate(flownet.scale_probs, decisions)
    return model


def cases(quick: bool) -> list[dict]:
    """Full size: the released configuration at LR 144x180. Quick: LR 8x8, c = 8, shallow blocks."""
    h, w = (8, 8) if quick else (144, 180)
    small = {"channels": 8, "block_depth": 1, "recon_blocks": 1} if quick else {}
    tag = f"lr{h}x{w}_x4_t0.5"

    def pair() -> torch.Tensor:
        return torch.rand(1, 2, 3, h, w, generator=torch.Generator().manual_seed(0))

    def upsampled() -> torch.Tensor:  # the authors' input: bicubic x4 pair, zero-padded to a multiple of 32
        x = torch.rand(1, 6, 4 * h, 4 * w, generator=torch.Generator().manual_seed(0))
        return torch.nn.functional.pad(x, (0, -(4 * w) % 32, 0, -(4 * h) % 32))

    common = {"out_frames": 3, "dtypes": ["float32", "bfloat16"]}
    out = [
        {
            "name": f"safa_authors_gates_{tag}",
            "build": lambda: _build(small, SAFA_GATES),
            "inputs": lambda: ((upsampled(), 0.5), {}),
            "method": "inference",
            "anchors": ("safa",),
            **common,
        }
    ]
    for label, decisions in (("gate_full", "F"), ("gate_quarter", "Q"), ("default_init", None)):
        out.append(
            {
                "name": f"safa_{label}_{tag}",
                "build": lambda d=decisions: _build(small, d),
                "inputs": lambda: ((pair(),), {"scale": 4.0, "times": (0.5,)}),
                **common,
            }
        )
    return out
