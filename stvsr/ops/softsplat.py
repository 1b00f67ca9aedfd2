"""Forward warping by softmax splatting (Niklaus & Liu, CVPR 2020).

Every source pixel ``(y, x)`` is moved to ``(y + flow[1], x + flow[0])`` and its value
is spread bilinearly onto the four integer neighbours of that point; a neighbour
outside the image receives nothing.  The four normalisation modes of the paper are

* ``"sum"``:    ``out = splat(input)``
* ``"avg"``:    ``out = splat(input) / splat(1)``
* ``"linear"``: ``out = splat(input * metric) / splat(metric)``
* ``"soft"``:   ``out = splat(input * exp(metric)) / splat(exp(metric))``

As in the authors' kernel, a denominator that is exactly zero (a hole: no source
pixel landed there) is replaced by 1, so holes come out as 0.  ``eps`` switches to
``numerator / (denominator + eps)`` instead.

Backends (``backend=``): ``"torch"`` runs everywhere; on CPU and CUDA it drives ATen's fused
``grid_sampler_2d`` kernels (splatting is the adjoint of bilinear sampling, see
``_GridSplatter``), on other devices a ``scatter_add`` composition.  ``"cpp"`` is a C++/OpenMP CPU
kernel (``csrc/softsplat_cpu.cpp``, weighting, splat and normalisation fused; built on first use
and cached, see ``_cpp_softsplat``), ``"cupy"`` a CUDA kernel (``_cupy_softsplat``); both give the
same results up to float rounding.  ``"auto"`` picks ``"cpp"`` for CPU tensors when the kernel
builds (a compiler exists and ``STVSR_NO_EXT=1`` is not set) and ``"cupy"`` for CUDA tensors when
``cupy`` imports, else ``"torch"``.  Gradients w.r.t. input, flow and metric are written by hand in one
autograd node (verified with ``gradcheck``); double backward is not supported.

Precision: half-precision tensors are splatted in float32.  Target positions are rounded like
the authors' float32 ``x + flow`` up to one extra float32 rounding (at most ~1e-4 px on a 720 px
wide frame); integer targets (zero or integer flow) stay exact, so holes stay exactly empty.
Determinism: on CPU the result is deterministic; on CUDA the scatter uses atomic adds (like the
authors' kernel), so the last bits can vary from run to run, unless
``torch.use_deterministic_algorithms(True)`` is on: then ``"auto"``/``"torch"`` use the
``scatter_add`` composition instead.
"""

from __future__ import annotations

import functools
import importlib.util
import math
from typing import Any

import torch

from stvsr._validate import check_finite, check_float, check_rank, check_tensor, tracing
from stvsr.ops.warp import sampling_dtype

__all__ = ["softsplat", "softsplat_backend"]

_MODES = ("sum", "avg", "linear", "soft")
_BACKENDS = ("auto", "torch", "cpp", "cupy")


@functools.lru_cache(maxsize=1)
def _cupy_available() -> bool:
    # imported (not just found) so that a broken CUDA/cupy install falls back to PyTorch under "auto"
    if importlib.util.find_spec("cupy") is None:
        return False
    try:
        importlib.import_module("cupy")
    except Exception:  # any import failure (missing CUDA libraries, ...) means "not usable"
        return False
    return True


def _cpp_kernel() -> Any | None:
    from stvsr.ops import _cpp_softsplat  # builds the extension on first use

    return _cpp_softsplat.kernel()


def softsplat_backend(device: torch.device | str, backend: str = "auto") -> str:
    """Name the backend (``"torch"``, ``"cpp"`` or ``"cupy"``) that ``softsplat`` uses on ``device``.

    On the CPU, ``"auto"`` builds the C++ kernel on first use (see ``_cpp_softsplat``).
    """
    if backend not in _BACKENDS:
        raise ValueError(f"backend must be one of {_BACKENDS}, got {backend!r}")
    kind = torch.device(device).type
    is_cuda = kind == "cuda"
    if backend == "torch":
        return "torch"
    if backend == "cpp":
        if kind != "cpu":
            raise ValueError(f"backend='cpp' needs CPU tensors, got device {device}")
        if _cpp_kernel() is None:
            raise ValueError(
                "backend='cpp' needs the compiled C++ kernel, which is unavailable here (no compiler, "
                "a failed build, or STVSR_NO_EXT=1)"
            )
        return "cpp"
    if backend == "cupy":
        if not is_cuda:
            raise ValueError(f"backend='cupy' needs CUDA tensors, got device {device}")
        if not _cupy_available():
            raise ValueError("backend='cupy' needs the cupy package (pip install stvsr[cuda12])")
        return "cupy"
    if kind == "cpu":  # "auto"
        return "cpp" if _cpp_kernel() is not None else "torch"
    return "cupy" if is_cuda and _cupy_available() else "torch"


def _check_args(
    input: torch.Tensor, flow: torch.Tensor, metric: torch.Tensor | None, mode: str, eps: float | None
) -> None:
    check_tensor(input, "input")
    check_tensor(flow, "flow")
    check_rank(input, "input", 4, "B, C, H, W")
    check_rank(flow, "flow", 4, "B, 2, H, W")
    check_float(input, "input")
    check_float(flow, "flow")
    if not isinstance(mode, str) or mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
    b, _, h, w = input.shape
    if flow.shape != (b, 2, h, w):
        raise ValueError(f"flow must have shape (B, 2, H, W) = {(b, 2, h, w)} to match input, got {tuple(flow.shape)}")
    if flow.device != input.device:
        raise ValueError(f"flow must be on the same device as input ({input.device}), got {flow.device}")
    if metric is None:
        if mode in ("linear", "soft"):
            raise ValueError(f"metric (B, 1, H, W) is required for mode={mode!r}")
    else:
        check_tensor(metric, "metric")
        check_rank(metric, "metric", 4, "B, 1, H, W")
        check_float(metric, "metric")
        if metric.shape != (b, 1, h, w):
            raise ValueError(
                f"metric must have shape (B, 1, H, W) = {(b, 1, h, w)} to match input, got {tuple(metric.shape)}"
            )
        if metric.device != input.device:
            raise ValueError(f"metric must be on the same device as input ({input.device}), got {metric.device}")
    if eps is not None:
        if isinstance(eps, bool) or not isinstance(eps, (int, float)):
            raise TypeError(f"eps must be None or a float, got {type(eps).__name__}")
        if not (eps >= 0.0 and eps != float("inf")):
            raise ValueError(f"eps must be a finite number >= 0, got {eps!r}")


def _flow_magnitude(flow: torch.Tensor) -> float:
    """``max |flow|`` in one cheap pass; raises if ``flow`` holds NaN or inf (min/max propagate NaN)."""
    if flow.numel() == 0:
        return 0.0
    low, high = torch.stack(torch.aminmax(flow.detach())).tolist()  # one device sync
    if not (math.isfinite(low) and math.isfinite(high)):
        check_finite(flow, "flow")  # raises with the shared message
    return max(-low, high)


def _splat_scatter(values: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Bilinear forward splat of ``values`` (B, K, H, W) by ``flow`` (B, 2, H, W) with ``scatter_add``.

    Plain differentiable PyTorch (autograd does the backward): the fallback on devices other than
    CPU and CUDA, and a cross-check of the fused path in the tests.
    """
    b, k, h, w = values.shape
    hw = h * w
    xs = torch.arange(w, device=flow.device, dtype=flow.dtype)
    ys = torch.arange(h, device=flow.device, dtype=flow.dtype)
    px = flow[:, 0] + xs  # (B, H, W) absolute target positions
    py = flow[:, 1] + ys[:, None]
    # integer corners are piecewise constant: no gradient flows through them (as in the kernel)
    x0 = torch.floor(px.detach())
    y0 = torch.floor(py.detach())
    fx = px - x0
    fy = py - y0
    gx = 1.0 - fx
    gy = 1.0 - fy
    # validity of the west/east columns and north/south rows
    vw = (x0 >= 0) & (x0 <= w - 1)
    ve = (x0 >= -1) & (x0 <= w - 2)
    vn = (y0 >= 0) & (y0 <= h - 1)
    vs = (y0 >= -1) & (y0 <= h - 2)
    weights = torch.stack(
        (gx * gy * (vw & vn), fx * gy * (ve & vn), gx * fy * (vw & vs), fx * fy * (ve & vs)), dim=1
    )  # (B, 4, H, W); out-of-image corners weigh exactly 0
    # clamped so that every index is valid even when its weight is 0
    base = y0.clamp(-1, h - 1).long() * w + x0.clamp(-1, w - 1).long()
    offsets = torch.tensor([0, 1, w, w + 1], device=flow.device).view(1, 4, 1, 1)
    index = (base.unsqueeze(1) + offsets).clamp_(0, hw - 1).view(b, 1, 4 * hw)
    src = (values.unsqueeze(2) * weights.unsqueeze(1)).reshape(b, k, 4 * hw)
    out = values.new_zeros(b, k, hw)
    out = out.scatter_add(2, index.expand(b, k, 4 * hw), src)
    return out.view(b, k, h, w)


# grid_sampler enums: bilinear interpolation, zero padding; align_corners=True maps pixel centres
_BILINEAR, _ZEROS, _ALIGN = 0, 0, True


def _half_span(size: int) -> int:
    """Smallest power of two >= (size - 1) / 2 (and >= 1): the canvas is ``2 * span + 1`` pixels."""
    return 1 << max(0, size // 2 - 1).bit_length()  # size // 2 = ceil((size - 1) / 2)


def _sample_grid(flow: torch.Tensor, clamp: bool) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int]]:
    """``grid_sampler`` coordinates (B, H, W, 2) of the targets ``pixel + flow`` on a canvas.

    With align_corners=True a canvas of ``2 * S + 1`` pixels unnormalises ``g`` to ``(g + 1) * S``.
    With ``S`` a power of two, ``g = (x + flow - S) / S`` and back are exact apart from the
    roundings of ``x + flow - S`` and of adding ``S`` back (the authors' kernel rounds
    ``x + flow`` once), so integer targets stay exact integers: a zero or integer flow leaves
    holes exactly empty.  (Normalising by ``(W - 1) / 2`` instead would turn a target 3 into
    2.9999998 and leak a 2e-7 weight into a hole, which the normalisation then blows up.)
    """
    b, _, h, w = flow.shape
    sx, sy = _half_span(w), _half_span(h)
    scale = torch.tensor([1.0 / sx, 1.0 / sy], dtype=flow.dtype, device=flow.device)
    xs = (torch.arange(w, dtype=flow.dtype, device=flow.device) - sx) / sx  # exact: integers / 2^k
    ys = (torch.arange(h, dtype=flow.dtype, device=flow.device) - sy) / sy
    base = torch.stack((xs.expand(h, w), ys[:, None].expand(h, w)))  # (2, H, W)
    grid = torch.empty(b, h, w, 2, dtype=flow.dtype, device=flow.device)
    torch.addcmul(base, flow, scale.view(2, 1, 1), out=grid.permute(0, 3, 1, 2))
    if clamp:  # beyond +-3 is more than a pixel off the canvas; keeps absurd flows finite
        grid.clamp_(-3.0, 3.0)
    return grid, scale, (2 * sy + 1, 2 * sx + 1)


class _GridSplatter:
    """Bilinear forward splat and its adjoint through ATen's fused ``grid_sampler_2d`` kernels.

    Splatting is the adjoint of bilinear sampling: the input-gradient of ``grid_sample`` scatters
    its ``grad_output`` onto the four neighbours of every grid point with exactly the splat's
    weights (neighbours outside the input dropped), so it *is* the forward splat.  The adjoint is
    a bilinear sampling of the output gradient (gradient w.r.t. the values) plus ``grid_sample``'s
    grid-gradient (gradient w.r.t. the flow).  Splatting happens on a canvas whose top-left
    ``H x W`` is the image (see ``_sample_grid``); what lands elsewhere on it is dropped.

    The CPU scatter runs one thread per batch element, so with fewer images than threads the
    channels are split into ``groups`` equal parts that pose as batch elements (zero channels pad
    ``channels`` up to a multiple of ``groups``; their results are ignored).
    """

    def __init__(self, flow: torch.Tensor, channels: int, clamp: bool = True) -> None:
        self.grid, self.scale, self.canvas = _sample_grid(flow, clamp)
        b = flow.shape[0]
        self.size = tuple(flow.shape[-2:])
        threads = torch.get_num_threads() if flow.device.type == "cpu" else 1
        self.groups = max(1, min(threads // max(b, 1), channels))  # the grid is repeated per group
        self.channels = -(-channels // self.groups) * self.groups
        if self.groups > 1:
            expanded = self.grid.unsqueeze(1).expand(b, self.groups, *self.grid.shape[1:])
            self.grid_g = expanded[0] if b == 1 else expanded.reshape(b * self.groups, *self.grid.shape[1:])
        else:
            self.grid_g = self.grid

    def _grouped(self, t: torch.Tensor) -> torch.Tensor:
        return t.reshape(t.shape[0] * self.groups, t.shape[1] // self.groups, *t.shape[2:])

    def splat(self, values: torch.Tensor) -> torch.Tensor:
        """(B, channels, H, W) -> splatted (B, channels, H, W), a view into the canvas."""
        b, k, h, w = values.shape
        grouped = self._grouped(values.contiguous())
        shape_only = values.new_zeros(()).expand(*grouped.shape[:2], *self.canvas)  # only its shape is used
        out = _GRID_BACKWARD(grouped, shape_only, self.grid_g, _BILINEAR, _ZEROS, _ALIGN, (True, False))[0]
        return out.view(b, k, *self.canvas)[:, :, :h, :w]

    def grad_buffer(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A zeroed canvas (B, channels, Hc, Wc) for an output gradient and its (B, channels, H, W) view."""
        full = like.new_zeros(like.shape[0], self.channels, *self.canvas)
        return full, full[:, :, : self.size[0], : self.size[1]]

    def adjoint(
        self, values: torch.Tensor, gfull: torch.Tensor, need_values: bool, need_flow: bool
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Gradients (B, channels, H, W) and (B, 2, H, W) of ``<gfull, splat(values)>``."""
        gvalues = gflow = None
        ggrouped = self._grouped(gfull)
        if need_values:
            gvalues = torch.grid_sampler_2d(ggrouped, self.grid_g, _BILINEAR, _ZEROS, _ALIGN)
            gvalues = gvalues.view(values.shape)
        if need_flow:
            grouped = self._grouped(values.contiguous())
            ggrid = _GRID_BACKWARD(grouped, ggrouped, self.grid_g, _BILINEAR, _ZEROS, _ALIGN, (False, True))[1]
            if self.groups > 1:
                ggrid = ggrid.view(values.shape[0], self.groups, *ggrid.shape[1:]).sum(dim=1)
            gflow = (ggrid * self.scale).permute(0, 3, 1, 2)
        return gvalues, gflow


class _CupySplatter:
    """The same interface with the CuPy kernels of ``_cupy_softsplat`` (no canvas, no groups)."""

    def __init__(self, flow: torch.Tensor, channels: int) -> None:
        from stvsr.ops import _cupy_softsplat

        self.kernels = _cupy_softsplat
        self.flow = flow.contiguous()
        self.channels = channels

    def splat(self, values: torch.Tensor) -> torch.Tensor:
        return self.kernels.splat_forward(values, self.flow)

    def grad_buffer(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        full = like.new_empty(like.shape[0], self.channels, *like.shape[2:])  # every element gets written
        return full, full

    def adjoint(
        self, values: torch.Tensor, gfull: torch.Tensor, need_values: bool, need_flow: bool
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        gvalues, gflow = self.kernels.splat_backward(values, self.flow, gfull)
        return (gvalues if need_values else None), (gflow if need_flow else None)


_GRID_BACKWARD = torch.ops.aten.grid_sampler_2d_backward
# flows beyond this many pixels get their sample grid clamped (grid_sample overflows near 3e38)
_HUGE_FLOW = 1e30


class _Softsplat(torch.autograd.Function):
    """Weighting, splat and normalisation in one autograd node with a hand-written gradient.

    Keeps the input, the weighted values, the denominator and the result for the backward (not
    the splat canvas).  Non-tensor arguments: ``mode``, ``eps``, ``backend`` ("torch" or "cupy")
    and ``clamp`` (clamp the sample grid, for absurdly large flows).
    """

    @staticmethod
    def forward(
        ctx: Any,
        x: torch.Tensor,
        flow: torch.Tensor,
        metric: torch.Tensor | None,
        mode: str,
        eps: float | None,
        backend: str,
        clamp: bool,
    ) -> torch.Tensor:
        b, c, h, w = x.shape
        k = c if mode == "sum" else c + 1
        splatter = _CupySplatter(flow, k) if backend == "cupy" else _GridSplatter(flow, k, clamp)
        ctx.splatter, ctx.mode, ctx.c = splatter, mode, c
        if mode == "sum" and splatter.channels == c:
            values = x
        else:  # [x * weight, weight, zero padding]
            values = x.new_empty(b, splatter.channels, h, w)
            values[:, k:].zero_()
        if mode == "sum":
            if values is not x:
                values[:, :c].copy_(x)
            ctx.save_for_backward(x, values)
            return splatter.splat(values)[:, :c].contiguous()
        weight = values[:, c : c + 1]
        if mode == "avg":
            values[:, :c].copy_(x)
            weight.fill_(1.0)
        else:
            assert metric is not None
            if mode == "linear":
                weight.copy_(metric)
            else:
                torch.exp(metric, out=weight)  # no max-subtraction: exactly the authors' exp(metric)
            torch.mul(x, weight, out=values[:, :c])
        splat = splatter.splat(values)
        num, den = splat[:, :c], splat[:, c : c + 1]
        if eps is None:
            holes = den == 0
            den = den.masked_fill(holes, 1.0)  # the authors' kernel: a zero denominator becomes 1
        else:
            holes = None
            den = den + eps
        out = num / den
        ctx.holes = holes
        ctx.save_for_backward(x, values, den, out)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        splatter, mode, c = ctx.splatter, ctx.mode, ctx.c
        need_x, need_flow, need_metric = ctx.needs_input_grad[:3]
        if mode == "sum":
            x, values = ctx.saved_tensors
            gfull, gview = splatter.grad_buffer(x)
            gview[:, :c].copy_(grad)
            gvalues, gflow = splatter.adjoint(values, gfull, need_x, need_flow)
            gx = gvalues[:, :c] if gvalues is not None else None
            return gx, gflow, None, None, None, None, None
        x, values, den, out = ctx.saved_tensors
        gfull, gview = splatter.grad_buffer(x)
        gnum = gview[:, :c]
        torch.div(grad, den, out=gnum)
        gden = (gnum * out).sum(dim=1, keepdim=True).neg_()  # d(num / den) / d den = -out / den
        if ctx.holes is not None:
            gden.masked_fill_(ctx.holes, 0.0)  # a replaced denominator is a constant
        gview[:, c : c + 1].copy_(gden)
        need_values = need_x or (need_metric and mode != "avg")
        gvalues, gflow = splatter.adjoint(values, gfull, need_values, need_flow)
        gx = gmetric = None
        if gvalues is not None:
            weight = values[:, c : c + 1]
            if need_x:
                gx = gvalues[:, :c] if mode == "avg" else gvalues[:, :c] * weight
            if need_metric and mode != "avg":
                gweight = (gvalues[:, :c] * x).sum(dim=1, keepdim=True) + gvalues[:, c : c + 1]
                gmetric = gweight if mode == "linear" else gweight * weight
        return gx, gflow, gmetric, None, None, None, None


class _SoftsplatCpp(torch.autograd.Function):
    """The whole op in the C++ kernel: ``forward`` returns the result and the raw denominator.

    Keeps the input, flow, metric, result and raw denominator (B, 1, H, W) for the backward,
    which the kernel also computes in one pass (gradients w.r.t. input, flow and metric).
    """

    @staticmethod
    def forward(
        ctx: Any, x: torch.Tensor, flow: torch.Tensor, metric: torch.Tensor | None, mode: str, eps: float | None
    ) -> torch.Tensor:
        from stvsr.ops._cpp_softsplat import MODES

        ops = _cpp_kernel()
        assert ops is not None  # softsplat_backend chose "cpp"
        x, flow = x.contiguous(), flow.contiguous()
        metric = metric.contiguous() if metric is not None else None
        out, den = ops.forward(x, flow, metric, MODES[mode], eps)
        ctx.ops, ctx.mode_id, ctx.eps = ops, MODES[mode], eps
        ctx.save_for_backward(x, flow, metric, out, den)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, flow, metric, out, den = ctx.saved_tensors
        need_x, need_flow, need_metric = ctx.needs_input_grad[:3]
        gx, gflow, gmetric = ctx.ops.backward(
            grad.to(x.dtype).contiguous(), x, flow, metric, out, den, ctx.mode_id, ctx.eps,
            need_x, need_flow, need_metric,
        )  # fmt: skip
        return gx, gflow, gmetric, None, None


def _normalise(out: torch.Tensor, eps: float | None) -> torch.Tensor:
    num, den = out[:, :-1], out[:, -1:]
    if eps is None:
        den = torch.where(den == 0, torch.ones_like(den), den)
    else:
        den = den + eps
    return num / den


def _softsplat_scatter(
    x: torch.Tensor, flow: torch.Tensor, metric: torch.Tensor | None, mode: str, eps: float | None
) -> torch.Tensor:
    """The same computation composed of differentiable PyTorch ops (any device)."""
    if mode == "sum":
        return _splat_scatter(x, flow)
    if mode == "avg":
        values = torch.cat((x, torch.ones_like(x[:, :1])), dim=1)
    else:
        assert metric is not None
        weight = metric if mode == "linear" else torch.exp(metric)
        values = torch.cat((x * weight, weight), dim=1)
    return _normalise(_splat_scatter(values, flow), eps)


def softsplat(
    input: torch.Tensor,
    flow: torch.Tensor,
    metric: torch.Tensor | None = None,
    mode: str = "sum",
    eps: float | None = None,
    backend: str = "auto",
) -> torch.Tensor:
    """Forward-warp ``input`` by ``flow`` with bilinear splatting.

    Args:
        input: ``(B, C, H, W)`` image or features, any range.
        flow: ``(B, 2, H, W)`` displacement in pixels, channel 0 = x (right), channel 1 = y
            (down); must be finite.  Source pixel ``(y, x)`` lands at
            ``(y + flow[:, 1, y, x], x + flow[:, 0, y, x])``.
        metric: ``(B, 1, H, W)`` importance, required for ``"linear"`` (used as a weight, should
            be >= 0) and ``"soft"`` (used as ``exp(metric)``, any real number; like the authors'
            kernel there is no max-subtraction, so metric above ~88 overflows float32 to inf and
            gives NaN: clip it beforehand if that can happen).  Ignored by ``"sum"``/``"avg"``.
        mode: ``"sum"``, ``"avg"``, ``"linear"`` or ``"soft"`` (see the module docstring).
        eps: ``None`` (default) divides by the splatted denominator with exact zeros replaced by 1,
            as the authors' kernel does; a float divides by ``denominator + eps`` instead.
            Not used by ``"sum"``.
        backend: ``"auto"``, ``"torch"``, ``"cpp"`` (CPU only, needs the compiled kernel) or
            ``"cupy"`` (CUDA only, needs ``cupy``).

    Returns:
        ``(B, C, H, W)`` in ``input``'s dtype.  Half-precision inputs are splatted in float32
        internally; float64 stays float64.  Differentiable w.r.t. ``input``, ``flow`` and ``metric``;
        like ``torch.exp``, the normalised modes keep their result for the backward, so modify it
        in place only when no gradient is needed (autograd raises otherwise).

    Raises:
        TypeError: a non-tensor or non-floating argument, or a non-float ``eps``.
        ValueError: wrong ranks or shapes, tensors on different devices, non-finite ``flow``,
            an unknown ``mode``/``backend``, ``metric`` missing for ``"linear"``/``"soft"``,
            a negative ``eps``, ``backend="cupy"`` without CUDA tensors and ``cupy``, or
            ``backend="cpp"`` without CPU tensors and the compiled kernel.
    """
    _check_args(input, flow, metric, mode, eps)
    if tracing() and backend in ("auto", "torch"):
        # torch.export / ONNX: the scatter composition, plain traceable ops (no custom kernel, no
        # data-dependent clamp decision); the same results up to float rounding
        if mode in ("sum", "avg"):
            metric = None
        dtype = sampling_dtype(input, flow, metric)
        m = metric.to(dtype) if metric is not None else None
        return _softsplat_scatter(input.to(dtype), flow.to(dtype), m, mode, eps).to(input.dtype)
    clamp = _flow_magnitude(flow) > _HUGE_FLOW
    chosen = softsplat_backend(input.device, backend)
    if mode in ("sum", "avg"):
        metric = None  # unused: keeps it out of the graph and the dtype choice
    dtype = sampling_dtype(input, flow, metric)
    x = input.to(dtype)
    f = flow.to(dtype)
    m = metric.to(dtype) if metric is not None else None
    # CUDA atomics (grid_sampler's backward, the CuPy kernel) are not deterministic: honour
    # torch.use_deterministic_algorithms with the scatter composition unless CuPy was asked for
    deterministic = x.is_cuda and torch.are_deterministic_algorithms_enabled()
    if chosen == "cupy" and backend == "auto" and deterministic:
        chosen = "torch"
    if chosen == "cpp":
        out = _SoftsplatCpp.apply(x, f, m, mode, eps)
    elif chosen == "cupy" or x.device.type == "cpu" or (x.is_cuda and not deterministic):
        out = _Softsplat.apply(x, f, m, mode, eps, chosen, clamp)
    else:
        out = _softsplat_scatter(x, f, m, mode, eps)
    return out.to(input.dtype)
