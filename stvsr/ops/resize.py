"""MATLAB-compatible bicubic resizing (the BD degradation is in :mod:`stvsr.ops.degradation`).

``imresize`` reproduces MATLAB's ``imresize(x, scale, 'bicubic')`` on float
images: the cubic convolution kernel with ``a = -0.5``, MATLAB's coordinate
mapping ``u = x/s + (1 - 1/s)/2`` (pixel centres, 1-based), an antialiasing
kernel stretched by ``1/s`` when shrinking, symmetric (mirror) boundary handling
and ``ceil(s * n)`` output sizes. It is what the STVSR papers call BI
degradation. Other cubic variants are available through ``a`` and ``border``:
``a=-0.75, antialias=False, border="replicate"`` is OpenCV's ``INTER_CUBIC``.

The resize is separable; each axis is a small dense ``(out, in)`` matrix built
in float64 and applied with one matmul, so it is vectorised, differentiable and
runs on any device.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from stvsr._validate import check_float, check_tensor

_BORDERS = ("symmetric", "replicate")


def cubic_kernel(x: torch.Tensor, a: float = -0.5) -> torch.Tensor:
    """Keys' cubic convolution kernel; ``a=-0.5`` is MATLAB's, ``a=-0.75`` OpenCV's."""
    ax = x.abs()
    ax2, ax3 = ax * ax, ax * ax * ax
    near = (a + 2) * ax3 - (a + 3) * ax2 + 1
    far = a * ax3 - 5 * a * ax2 + 8 * a * ax - 4 * a
    return torch.where(ax <= 1, near, torch.where(ax < 2, far, torch.zeros_like(ax)))


def resize_matrix(
    in_len: int, out_len: int, scale: float, *, a: float = -0.5, antialias: bool = True, border: str = "symmetric"
) -> torch.Tensor:
    """The ``(out_len, in_len)`` float64 matrix of a 1-D MATLAB-style cubic resize."""
    shrink = antialias and scale < 1
    width = 4.0 / scale if shrink else 4.0
    x = torch.arange(1, out_len + 1, dtype=torch.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)  # 1-based input coordinate of each output centre
    left = torch.floor(u - width / 2)
    taps = math.ceil(width) + 2
    idx = left[:, None] + torch.arange(taps, dtype=torch.float64)[None, :]  # (out, taps), 1-based
    dist = u[:, None] - idx
    w = scale * cubic_kernel(scale * dist, a) if shrink else cubic_kernel(dist, a)
    w = w / w.sum(dim=1, keepdim=True)
    i0 = idx.long() - 1  # 0-based, may fall outside [0, in_len)
    if border == "symmetric":
        period = 2 * in_len
        m = torch.remainder(i0, period)
        i0 = torch.where(m < in_len, m, period - 1 - m)
    else:
        i0 = i0.clamp(0, in_len - 1)
    mat = torch.zeros(out_len, in_len, dtype=torch.float64)
    mat.scatter_add_(1, i0, w)  # mirrored taps that land on the same pixel add up
    return mat


def _pair(value: float | Sequence[float], name: str) -> tuple[float, float]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        pair = (float(value), float(value))
    elif isinstance(value, Sequence) and len(value) == 2:
        pair = (float(value[0]), float(value[1]))
    else:
        raise TypeError(f"{name} must be a number or a pair (h, w), got {value!r}")
    if not all(math.isfinite(v) and v > 0 for v in pair):
        raise ValueError(f"{name} must be positive and finite, got {value!r}")
    return pair


def imresize(
    x: torch.Tensor,
    scale: float | Sequence[float] | None = None,
    size: Sequence[int] | None = None,
    antialias: bool = True,
    *,
    a: float = -0.5,
    border: str = "symmetric",
) -> torch.Tensor:
    """MATLAB-compatible bicubic resize of the last two dims.

    Args:
        x: ``(..., H, W)`` floating tensor, any range (no clamping or rounding).
        scale: a factor or ``(scale_h, scale_w)``; output size ``ceil(scale * n)``
            per axis, and the kernel positions use the given factor (like MATLAB).
        size: ``(H', W')`` instead of ``scale``; the factor per axis is then ``H'/H``.
        antialias: widen the kernel by ``1/scale`` when shrinking (MATLAB's default).
        a: cubic coefficient: ``-0.5`` MATLAB, ``-0.75`` OpenCV.
        border: ``"symmetric"`` (MATLAB) or ``"replicate"`` (OpenCV).

    Returns:
        ``(..., H', W')`` in the dtype of ``x`` (weights are built in float64).
    """
    check_tensor(x, "x")
    check_float(x, "x")
    if x.dim() < 2:
        raise ValueError(f"x must have at least 2 dims (..., H, W), got shape {tuple(x.shape)}")
    if (scale is None) == (size is None):
        raise ValueError("give exactly one of scale or size")
    if border not in _BORDERS:
        raise ValueError(f"border must be one of {_BORDERS}, got {border!r}")
    h, w = x.shape[-2:]
    if h < 1 or w < 1:
        raise ValueError(f"x has an empty spatial size {(h, w)}")
    if size is not None:
        if len(size) != 2 or any(isinstance(s, bool) or not isinstance(s, int) or s <= 0 for s in size):
            raise ValueError(f"size must be a pair of positive integers (H, W), got {size!r}")
        out_h, out_w = int(size[0]), int(size[1])
        sh, sw = out_h / h, out_w / w
    else:
        sh, sw = _pair(scale, "scale")  # type: ignore[arg-type]
        # round away float noise first (3.0000000001 * n must not become n*3+1)
        out_h, out_w = math.ceil(round(sh * h, 8)), math.ceil(round(sw * w, 8))
    out = x
    # MATLAB resizes along the axis with the smaller factor first (less work, same maths)
    for axis in sorted((0, 1), key=lambda i: (sh, sw)[i]):
        n_in, n_out, s = ((h, out_h, sh), (w, out_w, sw))[axis]
        if n_in == n_out and s == 1.0:
            continue
        m = resize_matrix(n_in, n_out, s, a=a, antialias=antialias, border=border).to(x.device, x.dtype)
        if axis == 0:
            out = torch.matmul(m, out)
        else:
            out = torch.matmul(out, m.t())
    return out
