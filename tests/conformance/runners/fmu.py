"""FMU (Dutta et al., CVPRW 2021): ``STSR_net.forward(I0, I1, I2, I3, t)``.

The fixture's tensors are BGR (the authors' convention); stvsr's API is RGB, so the
inputs are flipped to RGB and the outputs back to BGR (the model flips inside again:
an exact round trip). The main cases record the code as it runs on today's PyTorch
(``grid_sample`` with ``align_corners=False``: ``authors_compat=True``); ``legacy_ac_true_*``
cases force ``align_corners=True`` (PyTorch <= 1.2, stvsr's default ``authors_compat=False``).
"""

from __future__ import annotations

import torch

import stvsr
from tests.conformance.fixtures import Case


def run(case: Case) -> dict[str, torch.Tensor]:
    model = stvsr.convert_checkpoint("fmu", case.state_dict()).float().eval()
    frames = [case.tensors[f"I{k}"].float() for k in range(4)]
    lr_rgb = torch.stack(frames, dim=1).flip(2)  # (B, 4, 3, h, w) BGR -> RGB
    legacy = case.name.startswith("legacy_ac_true")
    out = model.forward_window(lr_rgb, times=float(case.meta["call"]["t"]), authors_compat=not legacy)
    result = {
        "hr_keyframes": out.hr_keyframes.flip(2),
        "hr_interp": out.hr_interp[:, 0].flip(1),
        "lr_interp": out.lr_interp[:, 0].flip(1),
    }
    return {name: result[name] for name in case.meta["outputs"]}
