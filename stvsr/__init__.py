"""stvsr: space-time video super-resolution in PyTorch.

Importing this package is cheap and never touches the network: the public
functions below are resolved lazily on first use (PEP 562), so heavy modules
(torch model files, PyAV, huggingface_hub) are imported only when needed.

Public API::

    stvsr.load(name, pretrained=True, ...)       -> nn.Module in eval mode
    stvsr.list_models(pattern="*")               -> list[str]
    stvsr.model_card(name)                        -> dict
    stvsr.convert_checkpoint(name, path_or_sd)    -> nn.Module (authors' weights)
    stvsr.upscale_video(src, dst, ...)            -> summary of the job
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from stvsr._version import __version__ as __version__

# public name -> module that defines it (imported on first attribute access)
_LAZY: dict[str, str] = {
    "load": "stvsr.zoo",
    "list_models": "stvsr.zoo",
    "model_card": "stvsr.zoo",
    "convert_checkpoint": "stvsr.zoo.convert",
    "upscale_video": "stvsr.video",
    "Upscaler": "stvsr.video",
}
_SUBMODULES = {"ops", "layers", "models", "zoo", "video", "eval", "train", "metrics", "cli", "export"}

__all__ = sorted([*_LAZY, *_SUBMODULES, "__version__"])

if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    from stvsr.video import Upscaler, upscale_video  # noqa: F401
    from stvsr.zoo import list_models, load, model_card  # noqa: F401
    from stvsr.zoo.convert import convert_checkpoint  # noqa: F401


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module(_LAZY[name])
        value = getattr(module, name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        module = importlib.import_module(f"stvsr.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'stvsr' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
