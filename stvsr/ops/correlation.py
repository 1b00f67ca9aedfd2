"""The PWC-Net cost volume (FlowNet-style correlation with a 1x1 patch).

For every pixel ``(y, x)`` and every displacement ``(dy, dx)`` with
``dy, dx in {-d, -d + s, ..., d}`` (``d = max_displacement``, ``s = stride``)::

    out[b, k, y, x] = mean_c f1[b, c, y, x] * f2[b, c, y + dy, x + dx]

with ``f2`` taken as zero outside the image and the channel index
``k = iy * n + ix`` where ``iy = (dy + d) / s``, ``ix = (dx + d) / s``,
``n = 2 d / s + 1``: vertical displacement major, horizontal minor. That is the
layout of the CUDA kernel of sniklaus/pytorch-pwc used by PWC-Net ports (FMU,
...), so weights trained with it read the same channels here; the product is
divided by the channel count as in that kernel.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from stvsr._validate import check_float, check_positive_int, check_rank, check_tensor

__all__ = ["correlation"]


def correlation(
    f1: torch.Tensor, f2: torch.Tensor, max_displacement: int = 4, stride: int = 1
) -> torch.Tensor:
    """Cost volume between two feature maps.

    Args:
        f1: ``(B, C, H, W)`` features of the first image.
        f2: ``(B, C, H, W)`` features of the second image (read displaced, zero outside).
        max_displacement: ``d >= 0``, the largest displacement in pixels along each axis.
        stride: ``s >= 1`` step between displacements; must divide ``d``.

    Returns:
        ``(B, (2d/s + 1)**2, H, W)`` in the promoted dtype of ``f1`` and ``f2``, channel ``(dy + d)/s * n + (dx + d)/s``
        holding the channel mean of ``f1 * shift(f2, dy, dx)`` (see the module docstring).
        Half-precision inputs are accumulated in float32. Differentiable w.r.t. both inputs.
    """
    check_tensor(f1, "f1")
    check_tensor(f2, "f2")
    check_rank(f1, "f1", 4, "B, C, H, W")
    check_rank(f2, "f2", 4, "B, C, H, W")
    check_float(f1, "f1")
    check_float(f2, "f2")
    if f1.shape != f2.shape:
        raise ValueError(f"f1 and f2 must have the same shape, got {tuple(f1.shape)} and {tuple(f2.shape)}")
    if f1.device != f2.device:
        raise ValueError(f"f1 and f2 must be on the same device, got {f1.device} and {f2.device}")
    if isinstance(max_displacement, bool) or not isinstance(max_displacement, int) or max_displacement < 0:
        raise ValueError(f"max_displacement must be an integer >= 0, got {max_displacement!r}")
    check_positive_int(stride, "stride")
    if max_displacement % stride:
        raise ValueError(f"stride ({stride}) must divide max_displacement ({max_displacement})")
    if f1.shape[1] < 1:
        raise ValueError(f"f1 must have at least one channel, got shape {tuple(f1.shape)}")
    d = max_displacement
    h, w = f1.shape[-2:]
    # mixed dtypes (e.g. under autocast) promote; half types accumulate in float32
    dtype = torch.promote_types(f1.dtype, f2.dtype)
    work = torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype
    a = f1.to(work)
    # zero padding by d gives "zero outside the image" for every displacement
    b = F.pad(f2.to(work), (d, d, d, d))
    scale = 1.0 / f1.shape[1]
    planes = []
    for dy in range(-d, d + 1, stride):  # vertical major, as the CUDA kernel's channel layout
        rows = b[:, :, d + dy : d + dy + h]
        for dx in range(-d, d + 1, stride):
            planes.append((a * rows[..., d + dx : d + dx + w]).sum(dim=1) * scale)
    return torch.stack(planes, dim=1).to(dtype)
