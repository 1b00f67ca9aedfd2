"""Conformance runner for MSITF: the authors' ``Net.forward(x)`` (unclamped, RGB)."""

from __future__ import annotations

import torch

import stvsr
from tests.conformance.fixtures import Case


def run(case: Case) -> dict[str, torch.Tensor]:
    model = stvsr.convert_checkpoint("msitf", case.state_dict()).float().eval()
    x = case.tensors["x"].float()  # (B, N, 3, h, w) RGB
    return {"output": model.network(x)}
