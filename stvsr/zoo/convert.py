"""Convert the authors' released checkpoints into stvsr models."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from stvsr.models._base import unwrap_state_dict
from stvsr.zoo._catalog import get_entry


def load_authors_checkpoint(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Read an authors' ``.pth``/``.pkl`` safely (``torch.load(weights_only=True)``).

    Accepts a plain state_dict or the usual wrappers (``{"params": sd}``,
    ``{"state_dict": sd}``, ``{"model": sd}``, ``{"params_ema": sd}``; see
    :func:`stvsr.models._base.unwrap_state_dict`), and drops DataParallel's ``module.`` prefix.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"checkpoint file not found: {p}")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle errors, truncated zip, non-tensor objects
        raise ValueError(f"could not read {p} as a PyTorch checkpoint with weights_only=True: {exc}") from exc
    return unwrap_state_dict(obj, what=str(p))


PathLike = str | os.PathLike[str]


def convert_checkpoint(
    name: str,
    path_or_state_dict: PathLike | Mapping[str, torch.Tensor] | Mapping[str, PathLike] | Sequence[PathLike],
) -> nn.Module:
    """Build the stvsr model ``name`` from an authors' checkpoint.

    Args:
        name: a registered model with a converter (``msmr_fix``, ``msmr_arb``, ``cvrs``,
            ``safa``, ``msitf``, ``fmu``, ...; see ``stvsr.list_models()``).
        path_or_state_dict: the authors' ``.pth`` file, or its state_dict. For a model
            whose card declares ``converter_inputs`` (several authors' files, e.g.
            ``{"rescaler": ..., "inverter": ...}``): a mapping ``{input_name: path}`` or a
            sequence of paths in the declared order; the converter then gets
            ``{input_name: state_dict}`` (a mapping of state_dicts is passed through).

    Returns:
        The model in eval mode on the CPU, in float32. Keys and shapes are checked
        strictly; a mismatch raises an error that lists every offending key.
    """
    entry = get_entry(name)
    if entry.converter is None:
        raise ValueError(f"model {name!r} has no converter for authors' checkpoints")
    state = _read_inputs(name, entry.card.get("converter_inputs"), path_or_state_dict)
    model = entry.converter(state)
    model.registry_name = name  # type: ignore[assignment]
    return model.eval()


def _is_path(value: object) -> bool:
    return isinstance(value, (str, os.PathLike))


def _read_inputs(name: str, inputs: Mapping[str, str] | None, src: object) -> dict[str, Any]:
    if isinstance(src, Mapping) and all(isinstance(v, (torch.Tensor, Mapping)) for v in src.values()):
        return dict(src)  # a state_dict, or {input_name: state_dict}
    if _is_path(src):
        paths: list[object] = [src]
    elif isinstance(src, Mapping) or (isinstance(src, Sequence) and not isinstance(src, (str, bytes))):
        paths = list(src.items()) if isinstance(src, Mapping) else list(src)
    else:
        raise TypeError(f"expected a checkpoint path, a state_dict or several paths, got {type(src).__name__}")
    if not inputs:
        if len(paths) != 1 or not _is_path(paths[0]):
            raise ValueError(f"model {name!r} converts ONE authors' checkpoint file, got {len(paths)} inputs")
        return load_authors_checkpoint(paths[0])  # type: ignore[arg-type]
    expected = list(inputs)
    want = ", ".join(f"{k} ({v})" for k, v in inputs.items())
    named: dict[str, object]
    if isinstance(src, Mapping):
        named = {str(k): v for k, v in src.items()}
        if sorted(named) != sorted(expected):
            raise ValueError(f"model {name!r} needs the authors' files {want}; got {sorted(named)}")
    elif len(paths) == 1 and _is_path(paths[0]) and Path(paths[0]).is_dir():  # type: ignore[arg-type]
        # the authors' release folder: each declared input at its declared relative path
        named = {k: Path(paths[0]) / rel for k, rel in inputs.items()}  # type: ignore[arg-type]
    else:
        if len(paths) != len(expected):
            raise ValueError(f"model {name!r} needs {len(expected)} authors' files, in order: {want}; got {len(paths)}")
        named = dict(zip(expected, paths))
    # one authors' state_dict per declared input: {input_name: state_dict}
    return {k: load_authors_checkpoint(named[k]) for k in expected}  # type: ignore[arg-type,return-value]
