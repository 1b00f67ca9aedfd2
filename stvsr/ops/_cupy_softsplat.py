"""CuPy CUDA kernels for the bilinear forward splat behind ``stvsr.ops.softsplat``.

Only imported by ``softsplat`` when it runs on CUDA with ``cupy`` importable; ``cupy`` itself is
imported inside the functions so that importing this module never needs it.  One thread handles
one source pixel and loops over the channels: the forward scatters with ``atomicAdd`` (so the
summation order, and the last bits of the result, vary from run to run, as in the authors'
kernel), the backward gathers and needs no atomics.  Same math as the PyTorch path.
"""

from __future__ import annotations

import functools
from typing import Any

import torch

__all__ = ["splat_backward", "splat_forward"]

_THREADS = 256

# {T} is replaced by float or double; indices are 64-bit so that large batches cannot overflow
_PROLOGUE = r"""
    const long long hw = (long long)H * W;
    const long long b = i / hw;
    const long long p = i - b * hw;
    const int y = (int)(p / W);
    const int x = (int)(p - (long long)y * W);
    const {T} px = ({T})x + flow[(b * 2) * hw + p];
    const {T} py = ({T})y + flow[(b * 2 + 1) * hw + p];
    const {T} fx0 = floor(px);
    const {T} fy0 = floor(py);
    /* every corner outside (this also keeps the int conversions below in range) */
    const bool inside = fx0 >= ({T})(-1) && fx0 <= ({T})(W - 1) && fy0 >= ({T})(-1) && fy0 <= ({T})(H - 1);
    const int x0 = inside ? (int)fx0 : 0;
    const int y0 = inside ? (int)fy0 : 0;
    const {T} ax = px - fx0;
    const {T} ay = py - fy0;
    const {T} bx = ({T})1 - ax;
    const {T} by = ({T})1 - ay;
    const {T} wgt[4] = {bx * by, ax * by, bx * ay, ax * ay};
    const int cx[4] = {x0, x0 + 1, x0, x0 + 1};
    const int cy[4] = {y0, y0, y0 + 1, y0 + 1};
    bool ok[4];
    long long q[4];
    for (int k = 0; k < 4; ++k) {
        ok[k] = inside && cx[k] >= 0 && cx[k] < W && cy[k] >= 0 && cy[k] < H;
        q[k] = ok[k] ? (long long)cy[k] * W + cx[k] : 0;
    }
"""

_FORWARD = (
    r"""
extern "C" __global__ void splat_forward_{T}(
    const long long n, const int K, const int H, const int W,
    const {T}* __restrict__ values, const {T}* __restrict__ flow, {T}* __restrict__ out)
{
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (long long)blockDim.x * gridDim.x) {
"""
    + _PROLOGUE
    + r"""
        const {T}* v = values + b * K * hw + p;
        {T}* o = out + b * K * hw;
        for (int k = 0; k < 4; ++k) {
            if (!ok[k]) continue;
            for (int c = 0; c < K; ++c) {
                atomicAdd(o + c * hw + q[k], v[c * hw] * wgt[k]);
            }
        }
    }
}
"""
)

_BACKWARD = (
    r"""
extern "C" __global__ void splat_backward_{T}(
    const long long n, const int K, const int H, const int W,
    const {T}* __restrict__ values, const {T}* __restrict__ flow, const {T}* __restrict__ gout,
    {T}* __restrict__ gvalues, {T}* __restrict__ gflow)
{
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (long long)blockDim.x * gridDim.x) {
"""
    + _PROLOGUE
    + r"""
        /* derivatives of the four bilinear weights w.r.t. px and py (floor is constant) */
        const {T} dwx[4] = {-by, by, -ay, ay};
        const {T} dwy[4] = {-bx, -ax, bx, ax};
        const {T}* v = values + b * K * hw + p;
        const {T}* g = gout + b * K * hw;
        {T}* gv = gvalues + b * K * hw + p;
        {T} sx = 0;
        {T} sy = 0;
        for (int c = 0; c < K; ++c) {
            {T} acc = 0;
            {T} accx = 0;
            {T} accy = 0;
            for (int k = 0; k < 4; ++k) {
                if (!ok[k]) continue;
                const {T} gk = g[c * hw + q[k]];
                acc += wgt[k] * gk;
                accx += dwx[k] * gk;
                accy += dwy[k] * gk;
            }
            gv[c * hw] = acc;
            sx += v[c * hw] * accx;
            sy += v[c * hw] * accy;
        }
        gflow[(b * 2) * hw + p] = sx;
        gflow[(b * 2 + 1) * hw + p] = sy;
    }
}
"""
)

_CTYPES = {torch.float32: "float", torch.float64: "double"}


@functools.lru_cache(maxsize=8)
def _kernel(which: str, ctype: str) -> Any:
    import cupy

    source = (_FORWARD if which == "forward" else _BACKWARD).replace("{T}", ctype)
    return cupy.RawKernel(source, f"splat_{which}_{ctype}")


def _launch(which: str, shape: tuple[int, int, int, int], *tensors: torch.Tensor) -> None:
    """Run kernel ``which`` over the B*H*W source pixels on PyTorch's current stream."""
    import cupy
    import numpy as np

    b, k, h, w = shape
    n = b * h * w
    device = tensors[0].device
    blocks = min((n + _THREADS - 1) // _THREADS, 2**31 - 1)
    stream = torch.cuda.current_stream(device)
    with cupy.cuda.Device(device.index), cupy.cuda.ExternalStream(stream.cuda_stream, device.index):
        # DLPack views (no copies), taken while PyTorch's stream is current so no sync is needed
        arrays = tuple(cupy.from_dlpack(t.detach()) for t in tensors)
        args = (np.int64(n), np.int32(k), np.int32(h), np.int32(w), *arrays)
        _kernel(which, _CTYPES[tensors[0].dtype])((blocks,), (_THREADS,), args)


def splat_forward(values: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Bilinear forward splat of ``values`` (B, K, H, W) by ``flow`` (B, 2, H, W) on CUDA.

    Both must be CUDA tensors of one dtype, float32 or float64.  Returns a new (B, K, H, W) tensor.
    """
    _check(values, flow)
    values = values.contiguous()
    flow = flow.contiguous()
    b, k, h, w = values.shape
    out = torch.zeros_like(values)
    n = b * h * w
    if n == 0 or k == 0:
        return out
    _launch("forward", (b, k, h, w), values, flow, out)
    return out


def splat_backward(values: torch.Tensor, flow: torch.Tensor, gout: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradients ``(d values, d flow)`` of ``<gout, splat_forward(values, flow)>``."""
    _check(values, flow)
    values = values.contiguous()
    flow = flow.contiguous()
    gout = gout.to(values.dtype).contiguous()
    b, k, h, w = values.shape
    gvalues = torch.empty_like(values)
    gflow = torch.empty_like(flow)
    n = b * h * w
    if n == 0 or k == 0:
        return gvalues.zero_(), gflow.zero_()
    _launch("backward", (b, k, h, w), values, flow, gout, gvalues, gflow)
    return gvalues, gflow


def _check(values: torch.Tensor, flow: torch.Tensor) -> None:
    if values.dtype not in _CTYPES or flow.dtype != values.dtype:
        raise TypeError(f"the CuPy splat needs float32/float64 tensors of one dtype, got {values.dtype}, {flow.dtype}")
    if not (values.is_cuda and flow.is_cuda):
        raise ValueError("the CuPy splat needs CUDA tensors")
