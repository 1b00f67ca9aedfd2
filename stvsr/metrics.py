"""PSNR and SSIM as the STVSR papers compute them (BasicSR's ``calculate_psnr``/``calculate_ssim``).

Protocol, for both metrics:

* images are compared on the 8-bit scale [0, 255]; model outputs (tensors in
  [0, 1]) are first clamped and rounded to 8-bit values (``quantize=True``), as
  BasicSR's ``tensor2img`` does before scoring, or as saving a PNG does;
* ``crop_border`` pixels are removed on each side;
* on the Y channel (``y_channel=True``) the 8-bit RGB values are converted to float
  first and then to ITU-R BT.601 luma on the [16, 235] scale, **without rounding**
  (BasicSR's ``to_y_channel``): ``Y = 16 + 65.481 R + 128.553 G + 24.966 B`` with
  R, G, B in [0, 1]; BasicSR does this in float32, here it is float64 (the PSNRs
  differ by under 1e-4 dB);
* PSNR = ``10 log10(255^2 / MSE)`` over all pixels and channels of one image
  (``inf`` for identical images);
* SSIM uses an 11x11 Gaussian window (sigma 1.5), only the "valid" positions
  (no padding), ``C1 = (0.01 * 255)^2``, ``C2 = (0.03 * 255)^2``, the mean of the
  SSIM map per channel, then the mean over channels.

Scores are per image (frame); papers then average over frames (and say whether
per clip first). Inputs: tensors ``(..., C, H, W)`` in [0, 1] (any float dtype,
any device) giving a float64 tensor of shape ``(...)``, or numpy arrays
``(..., H, W, C)`` on the [0, 255] scale (``uint8`` as read from a PNG) giving a
float (one image) or a float64 array ``(...)``. Channels are in RGB order.
"""

from __future__ import annotations

from typing import Any, overload

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["psnr", "rgb_to_y", "ssim"]

# BT.601 luma weights for R, G, B in [0, 1], giving Y on the [16, 235] scale
_Y_WEIGHTS = (65.481, 128.553, 24.966)
_SSIM_SIZE, _SSIM_SIGMA = 11, 1.5


@overload
def rgb_to_y(img: torch.Tensor) -> torch.Tensor: ...
@overload
def rgb_to_y(img: np.ndarray) -> np.ndarray: ...
def rgb_to_y(img: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
    """ITU-R BT.601 luma, as BasicSR: float conversion first, no rounding.

    Args:
        img: tensor ``(..., 3, H, W)`` RGB in [0, 1], or numpy ``(..., H, W, 3)`` RGB in
            [0, 255] (e.g. uint8).

    Returns:
        tensor ``(..., 1, H, W)`` in [16/255, 235/255] (same float dtype, float32 for
        integer input), or numpy float64 ``(..., H, W)`` in [16, 235].
    """
    if isinstance(img, torch.Tensor):
        if img.dim() < 3 or img.shape[-3] != 3:
            raise ValueError(f"img must have layout (..., 3, H, W), got shape {tuple(img.shape)}")
        x = img if img.is_floating_point() else img.float()
        r, g, b = x.unbind(dim=-3)
        y = (_Y_WEIGHTS[0] * r + _Y_WEIGHTS[1] * g + _Y_WEIGHTS[2] * b + 16.0) / 255.0
        return y.unsqueeze(-3)
    if isinstance(img, np.ndarray):
        if img.ndim < 3 or img.shape[-1] != 3:
            raise ValueError(f"img must have layout (..., H, W, 3), got shape {img.shape}")
        rgb = img.astype(np.float64) / 255.0
        return rgb @ np.asarray(_Y_WEIGHTS, dtype=np.float64) + 16.0
    raise TypeError(f"img must be a torch.Tensor or a numpy array, got {type(img).__name__}")


def _prepare(
    pred: Any, target: Any, *, y_channel: bool, crop_border: int, quantize: bool
) -> tuple[torch.Tensor, torch.Tensor, bool, tuple[int, ...]]:
    """Both images as float64 tensors ``(N, C, H, W)`` on the [0, 255] scale, whether the input
    was numpy, and the leading (batch) shape."""
    if type(pred) is not type(target) and not (isinstance(pred, torch.Tensor) and isinstance(target, torch.Tensor)):
        raise TypeError(
            "pred and target must both be tensors or both numpy arrays, "
            f"got {type(pred).__name__} and {type(target).__name__}"
        )
    if isinstance(crop_border, bool) or not isinstance(crop_border, int) or crop_border < 0:
        raise ValueError(f"crop_border must be a non-negative int, got {crop_border!r}")
    if pred.shape != target.shape:
        raise ValueError(f"pred and target must have the same shape, got {tuple(pred.shape)} and {tuple(target.shape)}")
    is_numpy = isinstance(pred, np.ndarray)
    if is_numpy:
        if pred.ndim < 3:
            raise ValueError(f"numpy images must have layout (..., H, W, C), got shape {pred.shape}")
        # (..., H, W, C) on [0, 255] -> (..., C, H, W)
        a = torch.from_numpy(np.moveaxis(np.asarray(pred, dtype=np.float64), -1, -3).copy())
        b = torch.from_numpy(np.moveaxis(np.asarray(target, dtype=np.float64), -1, -3).copy())
    elif isinstance(pred, torch.Tensor):
        if pred.dim() < 3:
            raise ValueError(f"tensors must have layout (..., C, H, W), got shape {tuple(pred.shape)}")
        if not pred.is_floating_point() or not target.is_floating_point():
            raise TypeError("tensor images must be floating point in [0, 1]")
        a = pred.detach().to(torch.float64)
        b = target.detach().to(torch.float64)
        if quantize:  # what tensor2img / saving a PNG does to a model output
            a, b = (a.clamp(0, 1) * 255).round(), (b.clamp(0, 1) * 255).round()
        else:
            a, b = a * 255, b * 255
    else:
        raise TypeError(f"images must be torch tensors or numpy arrays, got {type(pred).__name__}")
    lead = a.shape[:-3]
    a, b = a.reshape(-1, *a.shape[-3:]), b.reshape(-1, *b.shape[-3:])
    if crop_border:
        if min(a.shape[-2:]) <= 2 * crop_border:
            raise ValueError(f"crop_border={crop_border} leaves nothing of a {tuple(a.shape[-2:])} image")
        a = a[..., crop_border:-crop_border, crop_border:-crop_border]
        b = b[..., crop_border:-crop_border, crop_border:-crop_border]
    if y_channel:
        if a.shape[1] != 3:
            raise ValueError(f"y_channel=True needs 3 (RGB) channels, got {a.shape[1]}")
        a, b = rgb_to_y(a / 255.0) * 255.0, rgb_to_y(b / 255.0) * 255.0
    return a, b, is_numpy, tuple(lead)


def _finish(values: torch.Tensor, lead: tuple[int, ...], is_numpy: bool) -> Any:
    values = values.reshape(lead)
    if is_numpy:
        return float(values) if not lead else values.numpy()
    return values


def psnr(
    pred: torch.Tensor | np.ndarray,
    target: torch.Tensor | np.ndarray,
    *,
    y_channel: bool = False,
    crop_border: int = 0,
    quantize: bool = True,
) -> Any:
    """Peak signal-to-noise ratio in dB, per image (see the module docs for the protocol).

    Args:
        pred, target: tensors ``(..., C, H, W)`` in [0, 1] or numpy ``(..., H, W, C)`` in [0, 255].
        y_channel: score the BT.601 luma instead of all channels (RGB input).
        crop_border: pixels removed on each side before scoring.
        quantize: tensors only: clamp and round to 8-bit values first (BasicSR's protocol).

    Returns:
        float64 tensor ``(...)`` for tensors; float or float64 array ``(...)`` for numpy.
        Identical images give ``inf``.
    """
    a, b, is_numpy, lead = _prepare(pred, target, y_channel=y_channel, crop_border=crop_border, quantize=quantize)
    mse = (a - b).pow(2).mean(dim=(-3, -2, -1))
    values = 10.0 * torch.log10(255.0**2 / mse)  # mse == 0 -> inf
    return _finish(values, lead, is_numpy)


def gaussian_window(size: int = _SSIM_SIZE, sigma: float = _SSIM_SIGMA) -> torch.Tensor:
    """The normalised 2-D Gaussian window of SSIM (OpenCV's ``getGaussianKernel`` outer product), float64."""
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return torch.outer(g, g)


def ssim(
    pred: torch.Tensor | np.ndarray,
    target: torch.Tensor | np.ndarray,
    *,
    y_channel: bool = False,
    crop_border: int = 0,
    quantize: bool = True,
) -> Any:
    """Structural similarity, per image (see the module docs for the protocol).

    Arguments and return value as :func:`psnr`; images must be at least 11x11 after
    ``crop_border``. Identical images give 1.
    """
    a, b, is_numpy, lead = _prepare(pred, target, y_channel=y_channel, crop_border=crop_border, quantize=quantize)
    if min(a.shape[-2:]) < _SSIM_SIZE:
        raise ValueError(f"ssim needs images of at least {_SSIM_SIZE}x{_SSIM_SIZE} pixels, got {tuple(a.shape[-2:])}")
    c = a.shape[1]
    window = gaussian_window().to(a.device).expand(c, 1, _SSIM_SIZE, _SSIM_SIZE)

    def blur(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, window, groups=c)  # "valid": no padding, like BasicSR's [5:-5, 5:-5]

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    values = ssim_map.mean(dim=(-2, -1)).mean(dim=-1)
    return _finish(values, lead, is_numpy)
