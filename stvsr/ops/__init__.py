"""Functional, differentiable, device-agnostic ops (no nn.Module state).

All ops run in pure PyTorch on every device; some have faster paths (e.g. a CuPy
kernel for ``softsplat`` on CUDA) that give the same results.
"""

from __future__ import annotations

# Imported eagerly: a submodule named like its function (stvsr.ops.correlation) would
# otherwise shadow the function as soon as anything imports the submodule directly.
from stvsr.ops.correlation import correlation
from stvsr.ops.deform_conv import deform_conv2d
from stvsr.ops.degradation import bd_degrade, bi_degrade, degrade, quantize_8bit
from stvsr.ops.resize import imresize
from stvsr.ops.softsplat import softsplat
from stvsr.ops.warp import backward_warp, resize_flow

__all__ = [
    "backward_warp",
    "bd_degrade",
    "bi_degrade",
    "correlation",
    "deform_conv2d",
    "degrade",
    "imresize",
    "quantize_8bit",
    "resize_flow",
    "softsplat",
]
