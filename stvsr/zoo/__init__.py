"""Model zoo: registry access, weight resolution and loading (``stvsr.load``).

Public functions (imported lazily, so ``import stvsr.zoo`` stays cheap)::

    load(name, pretrained=True, *, weights=None, device=None, dtype=None, revision=None, **overrides)
    list_models(pattern="*", pretrained=None, *, task=None)
    model_card(name)
    resolve_weights(name)        -> Path of the verified weights file of ``name[.tag]``
    install_weights(name, src)   -> copy a weights file into $STVSR_HOME/weights (checked, atomic)
    convert_checkpoint(name, path_or_state_dict)

``name`` is a registry name (``msmr_arb``), a weight variant (``basicvsr.vimeo_bi``),
``hf-hub:org/repo[@revision]`` (a ``save_pretrained`` folder on the Hugging Face
Hub), or a local ``save_pretrained`` folder / ``.safetensors`` file (``local:PATH``,
or a bare path when it cannot be mistaken for a registry name).

Weights of registry names are looked for in this order: ``weights=`` (explicit
path), ``$STVSR_HOME/weights/<filename>`` (default ``~/.cache/stvsr``), the
Hugging Face Hub at the pinned revision (``HF_HUB_OFFLINE`` and the HF cache are
honoured), then the files shipped in ``stvsr/zoo/weights/``. Every file's sha256
is checked against the registry before use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_LAZY = {
    "load": "stvsr.zoo._api",
    "list_models": "stvsr.zoo._api",
    "model_card": "stvsr.zoo._api",
    "parse_name": "stvsr.zoo._names",
    "split_options": "stvsr.zoo._names",
    "resolve_weights": "stvsr.zoo._weights",
    "install_weights": "stvsr.zoo._weights",
    "stvsr_home": "stvsr.zoo._weights",
    "WeightsNotFoundError": "stvsr.zoo._weights",
    "WeightsChecksumError": "stvsr.zoo._weights",
    "NoPretrainedWeightsError": "stvsr.zoo._weights",
    "convert_checkpoint": "stvsr.zoo.convert",
    "load_authors_checkpoint": "stvsr.zoo.convert",
}
__all__ = [
    "NoPretrainedWeightsError",
    "WeightsChecksumError",
    "WeightsNotFoundError",
    "convert_checkpoint",
    "install_weights",
    "list_models",
    "load",
    "load_authors_checkpoint",
    "model_card",
    "parse_name",
    "split_options",
    "resolve_weights",
    "stvsr_home",
]

if TYPE_CHECKING:  # pragma: no cover
    from stvsr.zoo._api import list_models, load, model_card
    from stvsr.zoo._names import parse_name, split_options
    from stvsr.zoo._weights import (
        NoPretrainedWeightsError,
        WeightsChecksumError,
        WeightsNotFoundError,
        install_weights,
        resolve_weights,
        stvsr_home,
    )
    from stvsr.zoo.convert import convert_checkpoint, load_authors_checkpoint


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'stvsr.zoo' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
