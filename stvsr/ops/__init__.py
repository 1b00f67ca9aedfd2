"""Functional, differentiable, device-agnostic ops (no nn.Module state).

All ops run in pure PyTorch on every device; some have faster paths (e.g. a CuPy
kernel for ``softsplat`` on CUDA) that give the same results.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_LAZY = {
    "softsplat": "stvsr.ops.softsplat",
    "deform_conv2d": "stvsr.ops.deform_conv",
    "backward_warp": "stvsr.ops.warp",
    "resize_flow": "stvsr.ops.warp",
    "imresize": "stvsr.ops.resize",
    "bd_degrade": "stvsr.ops.resize",
    "correlation": "stvsr.ops.correlation",
}
__all__ = sorted(_LAZY)

if TYPE_CHECKING:  # pragma: no cover
    from stvsr.ops.correlation import correlation  # noqa: F401
    from stvsr.ops.deform_conv import deform_conv2d  # noqa: F401
    from stvsr.ops.resize import bd_degrade, imresize  # noqa: F401
    from stvsr.ops.softsplat import softsplat  # noqa: F401
    from stvsr.ops.warp import backward_warp, resize_flow  # noqa: F401


def __getattr__(name: str) -> Any:
    # lazy so that importing one op does not import the others (and their optional deps)
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'stvsr.ops' has no attribute {name!r}")
