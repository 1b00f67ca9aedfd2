"""The LR degradations of the benchmarks: BI (MATLAB bicubic) and BD (Gaussian blur + subsampling).

One module for training (:mod:`stvsr.train.data`) and evaluation
(:mod:`stvsr.eval.protocols`), so that a model is scored on the LR frames it was trained on.

* **BI**: MATLAB ``imresize(hr, 1/s, 'bicubic')`` (:func:`stvsr.ops.imresize`, antialiased).
* **BD** (:func:`bd_degrade`): the blur-down of BasicVSR / MMEditing / KAIR on Vimeo-90K and
  Vid4 (``BD_degradation`` in ``generate_LR_Vimeo90K_BD.m``)::

      kernel = fspecial('gaussian', ceil(3 * sigma) * 2 + 2, sigma);   % 12 x 12 for sigma 1.6
      img = imfilter(img, kernel, 'replicate');
      img = img(s/2:s:end-s/2, s/2:s:end-s/2, :);

  The kernel has an *even* size; MATLAB centres it on tap ``floor((k + 1) / 2)``, so the blur
  is centred half a pixel after the pixel it is written to, and sampling from 1-based index
  ``s/2`` puts LR pixel ``i`` at the centre of its ``s x s`` HR block (HR ``s*i + (s-1)/2``,
  0-based). DUF's ``duf_downsample`` (13x13, reflect padding, samples at ``s*i``) is a
  different degradation: its LR grid is 1.5 HR pixels off at x4, and BasicVSR's BD weights
  lose ~7 dB on Vid4 with it.
* **Quantisation** (:func:`quantize_8bit`): LR frames are stored as 8-bit PNGs in the
  benchmarks; ``round(255 x) / 255`` after clamping to ``[0, 1]``, rounding halves up as
  MATLAB's ``im2uint8`` does.

Both resamplers are separable ``(out, in)`` float64 matrices applied with one matmul per
axis: exact, differentiable, and the same on every device.
"""

from __future__ import annotations

import math

import torch

from stvsr._validate import check_float, check_tensor
from stvsr.ops.resize import imresize

__all__ = [
    "DEGRADATIONS",
    "bd_degrade",
    "bd_matrix",
    "bi_degrade",
    "degrade",
    "describe_degradation",
    "gaussian_kernel1d",
    "quantize_8bit",
]

#: the degradations :func:`degrade` knows (``"none"``: the frames as they are)
DEGRADATIONS = ("bi", "bd", "none")


def gaussian_kernel1d(sigma: float, size: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """One factor of MATLAB's ``fspecial('gaussian', size, sigma)``: ``(size,)``, sums to 1.

    Samples ``exp(-x^2 / (2 sigma^2))`` at ``x = i - (size - 1) / 2`` (half-integers for an
    even ``size``). The 2-D kernel is the outer product of two of these (MATLAB's zeroing of
    values below ``eps * max`` never triggers within ``3 sigma``).
    """
    if not (math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma must be positive and finite, got {sigma!r}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive integer, got {size!r}")
    xs = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(xs**2) / (2 * sigma * sigma))
    return (g / g.sum()).to(dtype)


def _bd_defaults(scale: int, sigma: float, kernel_size: int | None, offset: int | None) -> tuple[int, int]:
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise ValueError(f"scale must be a positive integer, got {scale!r}")
    if not (math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma must be positive and finite, got {sigma!r}")
    k = math.ceil(3 * sigma) * 2 + 2 if kernel_size is None else kernel_size
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"kernel_size must be a positive integer, got {kernel_size!r}")
    off = max(scale // 2 - 1, 0) if offset is None else offset
    if isinstance(off, bool) or not isinstance(off, int) or not 0 <= off < scale:
        raise ValueError(f"offset must be an integer in [0, scale), got {offset!r}")
    return k, off


def bd_matrix(
    in_len: int, scale: int = 4, sigma: float = 1.6, kernel_size: int | None = None, offset: int | None = None
) -> torch.Tensor:
    """The ``(in_len // scale, in_len)`` float64 matrix of one axis of :func:`bd_degrade`.

    Row ``i`` holds the Gaussian taps of output sample ``offset + scale * i`` (0-based HR
    index), tap ``j`` reading HR pixel ``offset + scale * i + j - (kernel_size + 1) // 2 + 1``
    clamped to ``[0, in_len)`` (``'replicate'``); clamped taps that land on the same pixel add up.
    """
    k, off = _bd_defaults(scale, sigma, kernel_size, offset)
    if isinstance(in_len, bool) or not isinstance(in_len, int) or in_len < scale:
        raise ValueError(f"in_len must be an integer >= scale ({scale}), got {in_len!r}")
    out_len = in_len // scale
    centre = (k + 1) // 2 - 1  # MATLAB imfilter's kernel centre, 0-based
    rows = off + scale * torch.arange(out_len)
    idx = (rows[:, None] + torch.arange(k)[None, :] - centre).clamp(0, in_len - 1)
    taps = gaussian_kernel1d(sigma, k).expand(out_len, k).contiguous()
    mat = torch.zeros(out_len, in_len, dtype=torch.float64)
    mat.scatter_add_(1, idx, taps)
    return mat


def bd_degrade(
    x: torch.Tensor, scale: int = 4, sigma: float = 1.6, kernel_size: int | None = None, offset: int | None = None
) -> torch.Tensor:
    """BD degradation: MATLAB ``imfilter(x, fspecial('gaussian', k, sigma), 'replicate')``, then
    every ``scale``-th pixel from ``offset`` (module docs; BasicVSR / MMEditing / KAIR's BD).

    Args:
        x: ``(..., H, W)`` floating tensor (e.g. ``(B, T, 3, H, W)`` in [0, 1]), ``H, W >= scale``.
        scale: integer subsampling factor >= 1.
        sigma: Gaussian standard deviation in HR pixels (1.6 for x4).
        kernel_size: kernel side; default MATLAB's ``ceil(3 sigma) * 2 + 2`` (12 for sigma 1.6).
        offset: 0-based index of the first kept row / column; default ``scale // 2 - 1``
            (MATLAB's 1-based ``s/2:s:end``; 1 at x4), floored at 0.

    Returns:
        ``(..., H // scale, W // scale)`` in the dtype of ``x``, not clamped or rounded
        (:func:`degrade` does that).
    """
    check_tensor(x, "x")
    check_float(x, "x")
    if x.dim() < 2:
        raise ValueError(f"x must have at least 2 dims (..., H, W), got shape {tuple(x.shape)}")
    _bd_defaults(scale, sigma, kernel_size, offset)
    h, w = x.shape[-2:]
    if h < scale or w < scale:
        raise ValueError(f"x is too small for bd_degrade at scale {scale}: got H, W = {(h, w)}")
    mh = bd_matrix(h, scale, sigma, kernel_size, offset).to(x.device, x.dtype)
    mw = bd_matrix(w, scale, sigma, kernel_size, offset).to(x.device, x.dtype)
    return torch.matmul(torch.matmul(mh, x), mw.t())


def bi_degrade(x: torch.Tensor, scale: float, size: tuple[int, int] | None = None) -> torch.Tensor:
    """BI degradation: MATLAB bicubic ``imresize(x, 1/scale)`` of ``(..., H, W)``.

    An integer ``scale`` uses the exact factor ``1/scale`` (MATLAB's kernel positions; output
    ``ceil(H / scale)``). Other scales resize to ``size`` ``(h, w)``, by default
    ``(round(H / scale), round(W / scale))``, the LR size of a frame mod-cropped to
    ``round(scale * h)``.
    """
    check_tensor(x, "x")
    check_float(x, "x")
    if not (isinstance(scale, (int, float)) and not isinstance(scale, bool) and math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a positive number, got {scale!r}")
    if x.dim() < 2:
        raise ValueError(f"x must have at least 2 dims (..., H, W), got shape {tuple(x.shape)}")
    if float(scale).is_integer():
        return imresize(x, scale=1.0 / float(scale))
    if size is None:
        size = (max(1, round(x.shape[-2] / scale)), max(1, round(x.shape[-1] / scale)))
    return imresize(x, size=size)


def quantize_8bit(x: torch.Tensor) -> torch.Tensor:
    """``floor(255 clamp(x, 0, 1) + 0.5) / 255``: the 8-bit value an LR PNG stores (MATLAB ``im2uint8``)."""
    check_tensor(x, "x")
    check_float(x, "x")
    return torch.floor(x.clamp(0, 1) * 255 + 0.5) / 255


def degrade(
    hr: torch.Tensor, kind: str, scale: float, *, size: tuple[int, int] | None = None, quantize: bool = True
) -> torch.Tensor:
    """LR frames of ``hr`` ``(..., H, W)`` in [0, 1]: ``kind`` ``"bi"``, ``"bd"`` or ``"none"``.

    Args:
        hr: ``(..., H, W)`` floating frames, already mod-cropped to a multiple of the scale.
        kind: ``"bi"`` (:func:`bi_degrade`), ``"bd"`` (:func:`bd_degrade`, integer scales, its
            defaults: sigma 1.6, 12x12, replicate, offset ``scale // 2 - 1``) or ``"none"``.
        scale: HR / LR factor (``"none"`` ignores it).
        size: BI at a non-integer scale: the LR ``(h, w)`` (default ``round(H / scale)``).
        quantize: round to 8-bit values (:func:`quantize_8bit`); otherwise only clamp to [0, 1].

    Returns:
        ``(..., h, w)`` in the dtype of ``hr``.
    """
    check_tensor(hr, "hr")
    check_float(hr, "hr")
    if kind not in DEGRADATIONS:
        raise ValueError(f"kind must be one of {DEGRADATIONS}, got {kind!r}")
    if kind == "none" or scale == 1:
        lr = hr
    elif kind == "bi":
        lr = bi_degrade(hr, scale, size)
    else:
        if not (isinstance(scale, (int, float)) and float(scale).is_integer()):
            raise ValueError(f"BD degradation needs an integer scale, got {scale!r}")
        lr = bd_degrade(hr, scale=int(scale))
    return quantize_8bit(lr) if quantize else lr.clamp(0, 1)


def describe_degradation(kind: str, scale: float) -> dict[str, object]:
    """The exact rules of ``degrade(hr, kind, scale)`` as JSON-ready data (recorded with results)."""
    if kind not in DEGRADATIONS:
        raise ValueError(f"kind must be one of {DEGRADATIONS}, got {kind!r}")
    rules: dict[str, object] = {"kind": kind, "scale": scale, "quantize": "floor(255 clamp(x, 0, 1) + 0.5) / 255"}
    if kind == "none" or scale == 1:
        rules["rule"] = "LR = GT"
    elif kind == "bi":
        rules["rule"] = (
            "MATLAB imresize(gt, 1/s, 'bicubic') (a = -0.5, antialiased, symmetric border); a non-integer s "
            "resizes to round(H / s) x round(W / s)"
        )
        rules["function"] = "stvsr.ops.bi_degrade"
    else:
        k, off = _bd_defaults(int(scale), 1.6, None, None)
        rules.update(
            rule=f"MATLAB imfilter(gt, fspecial('gaussian', {k}, 1.6), 'replicate'), then 1-based rows/columns "
            f"{off + 1}:{int(scale)}:end (BasicVSR / MMEditing / KAIR BDx4)",
            function="stvsr.ops.bd_degrade",
            sigma=1.6,
            kernel_size=k,
            padding="replicate",
            offset=off,
        )
    return rules
