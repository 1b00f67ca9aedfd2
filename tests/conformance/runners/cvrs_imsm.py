"""Conformance runner for the CVRS inverter ``IND_inv3D`` (stvsr ``IMSM``, registry entry ``cvrs_imsm``).

Fixture tensors are ``(B, C, T, H, W)``; the runner transposes to stvsr's ``(B, T, C, H, W)`` and back.
"""

from __future__ import annotations

import torch

import stvsr


def run(case) -> dict[str, torch.Tensor]:
    model = stvsr.convert_checkpoint("cvrs_imsm", case.state_dict()).float()
    call = case.meta["call"]
    method = call["method"]
    if method == "inference_latent2RGB":
        x = case.tensors["latent"].float().transpose(1, 2)
        res = {"stego": model.hide(x), "stego_preclamp": model.hide(x, clamp=False)}
    elif method == "inference_RGB2latent":
        x = case.tensors["stego"].float().transpose(1, 2)
        res = {"latent_rec": model.reveal(x), "latent_rec_preclamp": model.reveal(x, clamp=False)}
    elif method == "inference_down":
        x = case.tensors["hr"].float().transpose(1, 2)
        res = {"latent": model.encode(x, tuple(call["down_size"]))}
    else:
        raise AssertionError(f"unknown call {method!r}")
    return {k: v.transpose(1, 2) for k, v in res.items()}
