"""Conformance runner for CVRS ``RescalerNet`` (also used by ``cvrs_mix`` / ``cvrs_mix_plain``).

Fixture tensors are in the authors' layout ``(B, C, T, H, W)``; stvsr's API is
``(B, T, C, H, W)``, so the runner transposes in and out. ``*_preclamp`` outputs are
the raw down/up-sampler outputs (``clamp=False``); the others follow the authors'
clamping for the class (``clamp=None``).
"""

from __future__ import annotations

import torch

import stvsr


def run(case) -> dict[str, torch.Tensor]:
    model = stvsr.convert_checkpoint("cvrs_rescaler", case.state_dict()).float()
    call = case.meta["call"]
    outs = case.meta["outputs"]
    if call["method"] == "inference_down":
        hr = case.tensors["hr"].float().transpose(1, 2)
        size = tuple(call["down_size"])
        res = {"latent": model.encode(hr, size), "latent_preclamp": model.encode(hr, size, clamp=False)}
    elif call["method"] == "inference_up":
        latent = case.tensors["latent"].float().transpose(1, 2)
        size = tuple(call["size"])
        res = {"out": model.decode(latent, size), "out_preclamp": model.decode(latent, size, clamp=False)}
    else:
        raise AssertionError(f"unknown call {call['method']!r}")
    return {k: v.transpose(1, 2) for k, v in res.items() if k in outs}
