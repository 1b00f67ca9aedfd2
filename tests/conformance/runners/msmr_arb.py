"""Conformance runner for MsMr's space- and time-arbitrary model (``msmr_arb``).

The recorded call is the authors' ``model.time_step = [...]; model(lrs, scale_h, scale_w)``:
the padded output is neither cropped nor clamped and its size is forced even, which is
``authors_compat=True`` (the same weights and code path as the default otherwise).
"""

from __future__ import annotations

import torch

import stvsr


def run(case) -> dict[str, torch.Tensor]:
    model = stvsr.convert_checkpoint("msmr_arb", case.state_dict())
    call = case.meta["call"]
    lrs = case.tensors["lrs"].float()
    out = model(lrs, scale=(call["scale_h"], call["scale_w"]), times=call["time_step"], authors_compat=True)
    return {"output": out}
