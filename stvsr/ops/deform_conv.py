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

Implementation (pure PyTorch, vectorised over all taps and groups): the input is zero-padded by one
pixel and rearranged into a "quad" table whose row for top-left corner ``(y, x)`` and group ``g``
holds that group's channels at the 4 bilinear corners. Every sample point is clamped into the padded
frame (points outside ``(-1, H) x (-1, W)`` then fall entirely on the zero border), so one
``index_select`` per sample gathers its 4 corners with no per-corner validity masks; the bilinear
weights (times the mask) combine them into an im2col-style column tensor ``(B, L, G*K*Cg)``, followed
by one matmul with the weight. Everything is differentiable by autograd (input, offset, mask, weight,
bias), including double backward. Output rows are processed in chunks so the gathered tensor stays
small (which also keeps the CPU allocator from page-faulting fresh buffers for every chunk).

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
# Budget (bytes) for the gathered corner tensor of one chunk of output rows (4 * B * Cin * kh*kw * rows*Wo
# elements). Small chunks stay below glibc's mmap threshold, so their buffers are reused instead of being
# page-faulted in afresh for every chunk (measured 2-3x faster forward on CPU). With autograd recording,
# every chunk's gather backward allocates a full-size zero gradient of the input, so fewer, larger chunks win.
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


def _dense_weight(weight: torch.Tensor, cin: int, wgroups: int) -> torch.Tensor:
    """``(Cout, Cin/wgroups, kh, kw)`` -> block-diagonal ``(Cout, Cin, kh, kw)`` (weight groups as zeros)."""
    if wgroups == 1:
        return weight
    cout, cpg = weight.shape[:2]
    opg = cout // wgroups
    dense = weight.new_zeros((cout, cin, *weight.shape[2:]))
    for i in range(wgroups):
        dense[i * opg:(i + 1) * opg, i * cpg:(i + 1) * cpg] = weight[i * opg:(i + 1) * opg]
    return dense


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
    """The pure-PyTorch path; every tensor already in the compute dtype."""
    b, cin, h, w = x.shape
    cout, _, kh, kw = weight.shape
    ho, wo = out_hw
    k = kh * kw
    g = groups
    cg = cin // g
    dev, dt = x.device, x.dtype

    # One zero pixel around the image: a point inside (-1, H) x (-1, W) then has its 4 corners in
    # the padded image and out-of-image corners read 0; points outside are clamped onto the zero
    # border (so they read 0 too). No per-corner validity masks are needed.
    # ``quad`` row ((b*(H+1) + y)*(W+1) + x)*G + g holds the group's Cg channels at the 4 corners
    # (y, x), (y, x+1), (y+1, x), (y+1, x+1) of the padded image: one row gather per sample.
    xp = F.pad(x, (1, 1, 1, 1)).view(b, g, cg, h + 2, w + 2).permute(0, 3, 4, 1, 2)  # (B, Hp, Wp, G, Cg)
    quad = torch.stack((xp[:, :-1, :-1], xp[:, :-1, 1:], xp[:, 1:, :-1], xp[:, 1:, 1:]), dim=4)
    quad = quad.view(b * (h + 1) * (w + 1) * g, 4 * cg)
    # (G*K*Cg, Cout) matching the column order (g, tap, c); contiguous operands keep BLAS on its fast path
    wmat = _dense_weight(weight, cin, wgroups).reshape(cout, g, cg, k).permute(1, 3, 2, 0).reshape(g * k * cg, cout)

    # tap positions (+1 for the zero border), exact small integers in any float dtype
    ty = torch.arange(kh, device=dev, dtype=dt).repeat_interleave(kw) * dilation[0] + (1 - padding[0])
    tx = torch.arange(kw, device=dev, dtype=dt).repeat(kh) * dilation[1] + (1 - padding[1])
    bx = (torch.arange(wo, device=dev, dtype=dt) * stride[1])[:, None, None] + tx  # (Wo, 1, K)
    itype = torch.int64
    row_base = (
        torch.arange(b, device=dev, dtype=itype).view(b, 1, 1, 1) * ((h + 1) * (w + 1) * g)
        + torch.arange(g, device=dev, dtype=itype).view(1, 1, g, 1)
    )  # (B, 1, G, 1)

    recording = torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in (x, offset, weight, mask)
    )
    budget = (_CHUNK_BYTES_GRAD if recording else _CHUNK_BYTES) // x.element_size()
    rows = max(1, min(ho, budget // (4 * b * cin * k * wo)))
    outs = []
    for r0 in range(0, ho, rows):
        r1 = min(ho, r0 + rows)
        n_rows = r1 - r0
        length = n_rows * wo
        # (B, L, G, K, 2): per output pixel, the offsets of every group and tap
        off = offset[:, :, r0:r1].reshape(b, g * k * 2, length).transpose(1, 2).contiguous()
        off = off.view(b, n_rows, wo, g, k, 2)
        by = (torch.arange(r0, r1, device=dev, dtype=dt) * stride[0])[:, None, None, None] + ty  # (rows,1,1,K)
        py = torch.clamp(off[..., 0] + by, 0, h + 1).view(b, length, g, k)
        px = torch.clamp(off[..., 1] + bx, 0, w + 1).view(b, length, g, k)
        y0 = torch.floor(py.detach()).clamp_(max=h)
        x0 = torch.floor(px.detach()).clamp_(max=w)
        ly = py - y0
        lx = px - x0
        hy = 1 - ly
        hx = 1 - lx
        if mask is not None:
            m = mask[:, :, r0:r1].reshape(b, g * k, length).transpose(1, 2).contiguous().view(b, length, g, k)
            hy = hy * m
            ly = ly * m
        # integer clamp keeps the gather in range even for NaN offsets (which then give NaN)
        iy = y0.to(itype).clamp_(0, h)
        ix = x0.to(itype).clamp_(0, w)
        index = (iy * (w + 1) + ix) * g + row_base  # (B, L, G, K)

        vals = quad.index_select(0, index.view(-1)).view(-1, 4, cg)
        cols = vals[:, 0] * (hy * hx).view(-1, 1)
        cols = cols.addcmul(vals[:, 1], (hy * lx).view(-1, 1))
        cols = cols.addcmul(vals[:, 2], (ly * hx).view(-1, 1))
        cols = cols.addcmul(vals[:, 3], (ly * lx).view(-1, 1))
        outs.append(torch.matmul(cols.view(b, length, g * k * cg), wmat))  # (B, L, Cout)
    out = outs[0] if len(outs) == 1 else torch.cat(outs, dim=1)
    out = out.transpose(1, 2).reshape(b, cout, ho, wo)
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
