"""Convert the authors' released checkpoints into stvsr models."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from stvsr._registry import get_entry


def load_authors_checkpoint(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Read an authors' ``.pth``/``.pkl`` safely (``torch.load(weights_only=True)``).

    Accepts a plain state_dict or the usual wrappers (``{"params": sd}``,
    ``{"state_dict": sd}``, ``{"model": sd}``, ``{"params_ema": sd}``).
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"checkpoint file not found: {p}")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle errors, truncated zip, non-tensor objects
        raise ValueError(f"could not read {p} as a PyTorch checkpoint with weights_only=True: {exc}") from exc
    for wrapper in ("params", "params_ema", "state_dict", "model"):
        if isinstance(obj, Mapping) and wrapper in obj and isinstance(obj[wrapper], Mapping):
            obj = obj[wrapper]
            break
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{p} does not hold a state_dict (a mapping of names to tensors)")
    return dict(obj)


def convert_checkpoint(name: str, path_or_state_dict: str | os.PathLike[str] | Mapping[str, torch.Tensor]) -> nn.Module:
    """Build the stvsr model ``name`` from an authors' checkpoint.

    Args:
        name: a registered model with a converter (``msmr_fix``, ``msmr_arb``, ``cvrs``,
            ``safa``, ``msitf``, ``fmu``, ...; see ``stvsr.list_models()``).
        path_or_state_dict: the authors' ``.pth`` file, or its state_dict.

    Returns:
        The model in eval mode on the CPU, in float32. Keys and shapes are checked
        strictly; a mismatch raises an error that lists every offending key.
    """
    entry = get_entry(name)
    if entry.converter is None:
        raise ValueError(f"model {name!r} has no converter for authors' checkpoints")
    if isinstance(path_or_state_dict, Mapping):
        state = dict(path_or_state_dict)
    else:
        state = load_authors_checkpoint(path_or_state_dict)
    model = entry.converter(state)
    model.registry_name = name  # type: ignore[assignment]
    return model.eval()
