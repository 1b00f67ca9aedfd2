"""Conformance runner for SAFA: the authors' ``SAFA.inference(x, timestep)`` in threshold-gate mode."""

from __future__ import annotations

import torch
from einops import rearrange

import stvsr
from tests.conformance.fixtures import Case


def run(case: Case) -> dict[str, torch.Tensor]:
    model = stvsr.convert_checkpoint("safa", case.state_dict())  # default gate="threshold", as recorded
    model = model.float().eval()
    x = case.tensors["x"].float()  # (B, 6, H, W) BGR, already upsampled
    if "t" in case.tensors:
        timestep: float | list[float] | torch.Tensor = case.tensors["t"].float()
    else:
        timestep = case.meta["call"]["timestep"]
    frames, gates = model.inference(x, timestep, return_gates=True)
    n_steps = len(frames)
    probs = rearrange(torch.stack([p for p, _ in gates]), "(t k) b two -> t k b two", t=n_steps)
    bits = rearrange(torch.stack([d for _, d in gates]), "(t k) b two -> t k b two", t=n_steps)
    return {"output": torch.stack(frames, 1), "gate_prob": probs, "gate_decision": bits}
