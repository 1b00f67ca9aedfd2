"""Modulated deformable convolution (DCNv2, Zhu et al., CVPR 2019) in pure PyTorch.

Semantics and channel layouts are those of ``torchvision.ops.deform_conv2d`` and mmcv's
``modulated_deform_conv2d`` (so checkpoints trained with either load unchanged):

* ``offset`` is ``(B, 2*G*kh*kw, Ho, Wo)``: ordered by offset group ``g``, then kernel tap
  ``k = i*kw + j`` (row-major over the kernel), then the pair ``(dy, dx)`` in pixels.
* ``mask`` is ``(B, G*kh*kw, Ho, Wo)``: ordered by group, then tap.
* Input channel ``c`` belongs to offset group ``c // (Cin / G)``.
* Tap ``(i, j)`` of output pixel ``(oy, ox)`` samples the input at
  ``y = oy*stride_h - pad_h + i*dil_h + dy``, ``x = ox*stride_w - pad_w + j*dil_w + dx``
  with bilinear interpolation. A sample whose point lies outside ``(-1, H) x (-1, W)`` is 0;
  otherwise each of the 4 bilinear corners contributes only if it lies inside the image
  (zero padding corner by corner), exactly like torchvision's CPU kernel.
* The sample is multiplied by the mask, then the convolution weight (with optional weight
  groups) and bias are applied.

Implementation (pure PyTorch, vectorised over all taps and groups): the input is viewed as
``(B*G, Cg, H, W)`` (one grid_sample "batch" item per offset group) and ONE
``F.grid_sample(..., mode="bilinear", padding_mode="zeros", align_corners=False)`` call per chunk of
output rows samples every tap of every output pixel into an im2col column tensor
``(B*G, Cg, K*rows, Wo)``. grid_sample's zero padding drops each out-of-image bilinear corner on its
own, which is torchvision's corner-by-corner rule (a point outside ``(-1, H) x (-1, W)`` has no corner
inside and reads 0). The columns are multiplied by the mask and contracted with the weight in one
matmul (weight groups as a batch dimension). grid_sample's forward and backward (for input and grid)
are fused ATen kernels, so training is far cheaper than through gather/scatter autograd graphs.
Everything is differentiable by autograd (input, offset, mask, weight, bias), including double
backward (grid_sample supports it for input and grid). Output rows are processed in chunks so the
column tensor stays small.

Sampling positions are computed in pixels in the compute dtype and normalised for grid_sample by a
power of two: the input is zero-padded at the bottom/right to power-of-two sizes, which makes the
pixel -> normalised -> pixel round trip exact for integer and half-integer positions. Integer offsets
(zero-initialised offset branches!) therefore sample exactly on pixels and get torchvision's one-sided
offset gradient at the bilinear kink; with unpadded sizes 3-25% of such taps (float32 and float64) landed
one ulp on the other side of the kink. Other positions are rounded to the compute dtype's resolution of
the normalised coordinate (about ``eps * max(H, W)`` pixels, comparable to torchvision's pixel
coordinates).
The price is a padded copy of the input (and of its gradient per chunk): at most ~4x its size when H
and W lie just above powers of two, nothing when they are powers of two.

Precision: float32 and float64 are computed in their own dtype. float16 / bfloat16 inputs
are upcast to float32 internally (sample coordinates in half precision would be off by up
to a pixel at large coordinates, and CPU half matmuls are slow) and the result is cast
back to the input dtype.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from stvsr._validate import check_float, check_rank, check_tensor

__all__ = ["deform_conv2d"]

_BACKENDS = ("pure", "torchvision", "auto")
# Budget (bytes) for the column tensor of one chunk of output rows (B * Cin * kh*kw * rows*Wo elements).
# Small chunks stay cache- and allocator-friendly (forward on CPU: 8 MB chunks beat one 60 MB chunk ~1.5x).
# With autograd recording, every chunk's grid_sample backward allocates and fills a full-size gradient of
# the input, so fewer, larger chunks win there.
_CHUNK_BYTES = 8 << 20
_CHUNK_BYTES_GRAD = 32 << 20


def _pair(value: int | Sequence[int], name: str, minimum: int) -> tuple[int, int]:
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")
    if isinstance(value, int):
        pair = (value, value)
    elif isinstance(value, Sequence) and len(value) == 2 and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        pair = (int(value[0]), int(value[1]))
    else:
        raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")
    if min(pair) < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return pair


def _torchvision_op() -> Any | None:
    try:
        ops = importlib.import_module("torchvision.ops")
        return ops.deform_conv2d
    except Exception:  # noqa: BLE001 - any import failure (missing, ABI mismatch) means "not available"
        return None


def _deform_conv2d_pure(
    x: torch.Tensor,
    offset: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    mask: torch.Tensor | None,
    groups: int,
    wgroups: int,
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
    out_hw: tuple[int, int],
) -> torch.Tensor:
    """The pure-PyTorch path; every tensor already in the compute dtype and contiguous."""
    b, cin, h, w = x.shape
    cout, cpg, kh, kw = weight.shape
    ho, wo = out_hw
    k = kh * kw
    g = groups
    cg = cin // g
    dev, dt = x.device, x.dtype

    # grid_sample (align_corners=False) reads pixel (u + 1) * size / 2 - 0.5 for a normalised u. With a
    # power-of-two size every step of that round trip is exact for integer and half-integer pixels, so
    # zero or integer offsets sample exactly on the grid and get torchvision's one-sided offset gradient
    # (a general size lands ~1 ulp beside the pixel, on the other side of the kink for some taps).
    # The extra rows/columns are zeros: exactly what an out-of-image corner reads.
    hp, wp = 1 << (h - 1).bit_length(), 1 << (w - 1).bit_length()
    xg = x.view(b * g, cg, h, w)
    if (hp, wp) != (h, w):
        xg = F.pad(xg, (0, wp - w, 0, hp - h))
    sy, sx = 2.0 / hp, 2.0 / wp
    # (wgroups, Cout/wgroups, Cpg*K): column rows are ordered (channel, tap) like the weight itself
    wmat = weight.reshape(wgroups, cout // wgroups, cpg * k)
    off = offset.view(b, g, k, 2, ho, wo)
    mk = None if mask is None else mask.view(b, g, 1, k, ho * wo)

    # tap positions relative to the output pixel, (K, 1, 1); exact small integers in any float dtype
    ty = (torch.arange(kh, device=dev, dtype=dt) * dilation[0] - padding[0]).repeat_interleave(kw).view(k, 1, 1)
    tx = (torch.arange(kw, device=dev, dtype=dt) * dilation[1] - padding[1]).repeat(kh).view(k, 1, 1)
    tx = tx + torch.arange(wo, device=dev, dtype=dt) * stride[1]  # (K, 1, Wo)

    recording = torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in (x, offset, weight, mask)
    )
    budget = (_CHUNK_BYTES_GRAD if recording else _CHUNK_BYTES) // x.element_size()
    rows = max(1, min(ho, budget // (b * cin * k * wo)))
    outs = []
    for r0 in range(0, ho, rows):
        r1 = min(ho, r0 + rows)
        n = r1 - r0
        by = ty + (torch.arange(r0, r1, device=dev, dtype=dt) * stride[0]).view(n, 1)  # (K, rows, 1)
        # A point outside (-1, H) x (-1, W) reads 0 with zero gradient either way, so clamping changes
        # nothing there; it keeps infinite offsets finite (grid_sample would give NaN). NaN stays NaN.
        py = (off[:, :, :, 0, r0:r1] + by).clamp(-2.0, h + 1.0)  # (B, G, K, rows, Wo)
        px = (off[:, :, :, 1, r0:r1] + tx).clamp(-2.0, w + 1.0)
        grid = torch.stack((px * sx + (0.5 * sx - 1.0), py * sy + (0.5 * sy - 1.0)), dim=-1)
        # zero padding drops every out-of-image bilinear corner on its own: torchvision's rule
        cols = F.grid_sample(
            xg, grid.view(b * g, k * n, wo, 2), mode="bilinear", padding_mode="zeros", align_corners=False
        )  # (B*G, Cg, K*rows, Wo)
        cols = cols.view(b, g, cg, k, n * wo)
        if mk is not None:
            m = mk[..., r0 * wo:r1 * wo]
            # in place when no graph needs the unmasked columns (for the mask's gradient)
            cols = cols * m if recording else cols.mul_(m)
        out = torch.matmul(wmat, cols.view(b, wgroups, cpg * k, n * wo))  # (B, wgroups, Cout/wgroups, L)
        outs.append(out.view(b, cout, n, wo))
    out = outs[0] if len(outs) == 1 else torch.cat(outs, dim=2)
    if bias is not None:
        out = out + bias.view(1, cout, 1, 1)
    return out


def deform_conv2d(
    input: torch.Tensor,
    offset: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: int | Sequence[int] = 1,
    padding: int | Sequence[int] = 0,
    dilation: int | Sequence[int] = 1,
    mask: torch.Tensor | None = None,
    *,
    backend: str = "pure",
) -> torch.Tensor:
    """Modulated deformable 2-D convolution (DCNv2) with torchvision's / mmcv's layout.

    Args:
        input: ``(B, Cin, H, W)`` features, any range.
        offset: ``(B, 2*G*kh*kw, Ho, Wo)`` sampling offsets in pixels, per offset group ``g``,
            per kernel tap (row-major over ``kh, kw``), the pair ``(dy, dx)``. ``G`` (offset /
            deformable groups) is inferred from the channel count and must divide ``Cin``.
        weight: ``(Cout, Cin/groups, kh, kw)``; the weight ``groups`` are inferred as
            ``Cin // weight.shape[1]`` and must divide ``Cout``.
        bias: ``(Cout,)`` or ``None``.
        stride, padding, dilation: an int or a pair ``(h, w)``.
        mask: ``(B, G*kh*kw, Ho, Wo)`` modulation scalars per group and tap (usually in [0, 1]),
            or ``None`` for all ones (DCNv1).
        backend: ``"pure"`` (the pure-PyTorch implementation, default), ``"torchvision"``
            (``torchvision.ops.deform_conv2d``, which must be importable) or ``"auto"``
            (torchvision's C++/CUDA op when importable, except for half precision on CPU,
            else the pure path). Both give the same results up to floating-point rounding.

    Returns:
        ``(B, Cout, Ho, Wo)`` in the input dtype, with
        ``Ho = (H + 2*pad_h - dil_h*(kh-1) - 1) // stride_h + 1`` (likewise ``Wo``).

    float16 / bfloat16 are computed in float32 and cast back (see the module docstring).
    """
    check_tensor(input, "input")
    check_tensor(offset, "offset")
    check_tensor(weight, "weight")
    check_rank(input, "input", 4, "B, Cin, H, W")
    check_rank(weight, "weight", 4, "Cout, Cin/groups, kh, kw")
    check_rank(offset, "offset", 4, "B, 2*G*kh*kw, Ho, Wo")
    check_float(input, "input")
    if torch.is_autocast_enabled(input.device.type):
        # like F.conv2d under autocast: run in the autocast dtype whatever the arguments' dtypes
        # (offsets built from float32 flows meet bfloat16 features inside models)
        dt = torch.get_autocast_dtype(input.device.type)
        input, offset, weight = input.to(dt), offset.to(dt), weight.to(dt)
        bias = None if bias is None else bias.to(dt)
        mask = None if mask is None else mask.to(dt)
    for name, t in (("offset", offset), ("weight", weight), ("bias", bias), ("mask", mask)):
        if t is None:
            continue
        check_tensor(t, name)
        if t.dtype != input.dtype:
            raise TypeError(f"{name} must have the dtype of input ({input.dtype}), got {t.dtype}")
        if t.device != input.device:
            raise ValueError(f"{name} must be on the device of input ({input.device}), got {t.device}")
    if backend not in _BACKENDS:
        raise ValueError(f"backend must be one of {_BACKENDS}, got {backend!r}")
    st = _pair(stride, "stride", 1)
    pad = _pair(padding, "padding", 0)
    dil = _pair(dilation, "dilation", 1)

    b, cin, h, w = input.shape
    cout, cin_per_group, kh, kw = weight.shape
    if min(cout, cin_per_group, kh, kw) < 1:
        raise ValueError(f"weight must have non-empty dimensions, got shape {tuple(weight.shape)}")
    if cin % cin_per_group != 0:
        raise ValueError(
            f"weight.shape[1] ({cin_per_group}) must divide the input channels ({cin}) "
            f"(weight groups = Cin / weight.shape[1])"
        )
    wgroups = cin // cin_per_group
    if cout % wgroups != 0:
        raise ValueError(f"weight.shape[0] ({cout}) must be divisible by the weight groups ({wgroups})")
    ho = (h + 2 * pad[0] - dil[0] * (kh - 1) - 1) // st[0] + 1
    wo = (w + 2 * pad[1] - dil[1] * (kw - 1) - 1) // st[1] + 1
    if ho < 1 or wo < 1:
        raise ValueError(
            f"input spatial size {(h, w)} is too small for kernel {(kh, kw)} with padding {pad} and "
            f"dilation {dil} (output size would be {(ho, wo)})"
        )
    k = kh * kw
    if offset.shape[1] == 0 or offset.shape[1] % (2 * k) != 0:
        raise ValueError(
            f"offset channels must be a positive multiple of 2*kh*kw = {2 * k}, got {offset.shape[1]}"
        )
    groups = offset.shape[1] // (2 * k)
    if cin % groups != 0:
        raise ValueError(f"the offset groups ({groups}, from offset channels) must divide the input channels ({cin})")
    if offset.shape[0] != b or tuple(offset.shape[2:]) != (ho, wo):
        raise ValueError(
            f"offset must have shape (B, 2*G*kh*kw, Ho, Wo) = {(b, offset.shape[1], ho, wo)}, "
            f"got {tuple(offset.shape)}"
        )
    if mask is not None:
        check_rank(mask, "mask", 4, "B, G*kh*kw, Ho, Wo")
        if tuple(mask.shape) != (b, groups * k, ho, wo):
            raise ValueError(
                f"mask must have shape (B, G*kh*kw, Ho, Wo) = {(b, groups * k, ho, wo)} "
                f"(G = {groups} offset groups), got {tuple(mask.shape)}"
            )
    if bias is not None:
        check_rank(bias, "bias", 1, "Cout")
        if bias.shape[0] != cout:
            raise ValueError(f"bias must have shape ({cout},), got {tuple(bias.shape)}")

    # torchvision's CPU kernel has no half-precision path: "auto" keeps those on the pure path
    use_tv = backend == "torchvision" or (
        backend == "auto" and (input.is_cuda or input.dtype in (torch.float32, torch.float64))
    )
    if use_tv:
        op = _torchvision_op()
        if op is None and backend == "torchvision":
            raise RuntimeError("backend='torchvision' needs torchvision.ops.deform_conv2d, which failed to import")
        if op is not None:
            return op(input, offset, weight, bias, st, pad, dil, mask)

    if b == 0:
        return input.new_zeros((0, cout, ho, wo))
    orig = input.dtype
    cdt = torch.float32 if orig in (torch.float16, torch.bfloat16) else orig
    args = [t if t is None else t.to(cdt) for t in (input, offset, weight, bias, mask)]
    x, off, wt, bs, mk = args
    assert x is not None and off is not None and wt is not None
    out = _deform_conv2d_pure(
        x.contiguous(), off.contiguous(), wt, bs, None if mk is None else mk.contiguous(),
        groups, wgroups, st, pad, dil, (ho, wo),
    )
    return out.to(orig)
