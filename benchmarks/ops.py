"""Op benchmarks: ``softsplat`` and ``deform_conv2d`` against their natural baselines.

Usage::

    python benchmarks/ops.py                 # full shapes on the CPU
    python benchmarks/ops.py --quick         # tiny shapes, 1 repeat: a smoke test (CI)
    python benchmarks/ops.py --device cuda   # on a GPU (every kernel synchronised)
    python benchmarks/ops.py --only splat    # rows whose group contains "splat"

Every group is timed in one run, its candidates and baseline interleaved call by call (see
``_timing.py``), so the ``ratio`` column (median time / median time of the group's baseline)
stays meaningful on a busy machine even when the absolute milliseconds do not.  ``min ratio``
compares the fastest calls instead: on an oversubscribed machine (more busy threads than cores)
every OpenMP region can stall for a scheduler time slice (spinning idle workers make it worse:
try ``OMP_WAIT_POLICY=PASSIVE``), which penalises multi-op pipelines far more than one fused
kernel; there ``--threads 1`` shows the work itself.  Note that ``grid_sample`` on CPU only
parallelises over the batch, so with B = 1 the baseline is single-threaded whatever ``--threads``.

* softsplat forward (each mode) vs ``F.grid_sample`` bilinear backward warping of the same
  tensor with the same flow; forward+backward vs grid_sample forward+backward (gradients for
  every floating input).  Rows are labelled with the backend: ``[cpp]`` is the compiled C++
  kernel that ``backend="auto"`` uses on the CPU (built on first use; absent with
  ``STVSR_NO_EXT=1`` or without a compiler), ``[torch]`` the pure-PyTorch fallback, timed in the
  same run for comparison.
* ``stvsr.ops.deform_conv2d`` vs ``torchvision.ops.deform_conv2d`` (when importable) and vs an
  im2col ("unfold"-style) version written here: ``grid_sample`` gathers every kernel tap into a
  column tensor, then one matmul.  ``max|diff|`` is the largest output difference to the
  group's baseline (a sanity check that the rows compute the same thing).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _timing import median_ms, time_interleaved  # noqa: E402

Row = dict[str, object]


def _normalised_grid(flow: torch.Tensor) -> torch.Tensor:
    """grid_sample grid (B, H, W, 2), align_corners=True, for a pixel flow (B, 2, H, W)."""
    _, _, h, w = flow.shape
    ys = torch.arange(h, dtype=flow.dtype, device=flow.device)
    xs = torch.arange(w, dtype=flow.dtype, device=flow.device)
    gx = (xs + flow[:, 0]) * (2.0 / max(w - 1, 1)) - 1.0
    gy = (ys[:, None] + flow[:, 1]) * (2.0 / max(h - 1, 1)) - 1.0
    return torch.stack((gx, gy), dim=-1)


def _run_group(
    group: str,
    shape: str,
    dtype: torch.dtype,
    cases: Sequence[tuple[str, Callable[[], object]]],
    device: torch.device,
    repeats: int,
    warmup: int,
    reference: Callable[[], torch.Tensor] | None = None,
    outputs: dict[str, Callable[[], torch.Tensor]] | None = None,
) -> list[Row]:
    """Time ``cases`` (the first is the baseline) interleaved; one table row each."""
    times = time_interleaved([fn for _, fn in cases], device, repeats=repeats, warmup=warmup)
    base, base_min = median_ms(times[0]), 1e3 * min(times[0])
    ref = reference() if reference is not None else None
    rows = []
    for (name, _), samples in zip(cases, times):
        diff = "-"
        if ref is not None and outputs is not None and name in outputs:
            diff = f"{(outputs[name]().double() - ref.double()).abs().max().item():.1e}"
        ms, fastest = median_ms(samples), 1e3 * min(samples)
        rows.append(
            {"group": group, "op": name, "shape": shape, "dtype": str(dtype).replace("torch.", ""),
             "ms": ms, "ratio": ms / base, "min_ms": fastest, "min_ratio": fastest / base_min, "diff": diff}
        )  # fmt: skip
    return rows


def bench_softsplat(shape: tuple[int, int, int, int], device: torch.device, repeats: int, warmup: int) -> list[Row]:
    from stvsr.ops import softsplat
    from stvsr.ops.softsplat import softsplat_backend

    b, c, h, w = shape
    dtype = torch.float32
    g = torch.Generator(device="cpu").manual_seed(0)
    x = torch.rand(b, c, h, w, generator=g, dtype=dtype).to(device)
    flow = (torch.randn(b, 2, h, w, generator=g, dtype=dtype) * 8.0).to(device)  # sigma = 8 px
    metric = torch.randn(b, 1, h, w, generator=g, dtype=dtype).to(device)
    grid = _normalised_grid(flow)
    text = "x".join(map(str, shape))

    auto = softsplat_backend(device)  # "cpp" on the CPU when the kernel builds (built here, untimed)
    backends = [auto] if auto == "torch" else [auto, "torch"]

    def splat(mode: str, backend: str) -> Callable[[], object]:
        return lambda: softsplat(x, flow, metric, mode=mode, backend=backend)

    fwd: list[tuple[str, Callable[[], object]]] = [
        ("grid_sample backward warp (fwd)", lambda: F.grid_sample(x, grid, align_corners=True))
    ]
    fwd += [(f"softsplat {mode} [{auto}] (fwd)", splat(mode, auto)) for mode in ("sum", "avg", "linear", "soft")]
    fwd += [(f"softsplat soft [{b}] (fwd)", splat("soft", b)) for b in backends[1:]]
    rows = _run_group("softsplat", text, dtype, fwd, device, repeats, warmup)

    xr, fr, mr, gr = (t.clone().requires_grad_() for t in (x, flow, metric, grid))

    def gs_fb() -> None:
        F.grid_sample(xr, gr, align_corners=True).sum().backward()

    def splat_fb(mode: str, backend: str) -> Callable[[], object]:
        return lambda: softsplat(xr, fr, mr, mode=mode, backend=backend).sum().backward()

    fb: list[tuple[str, Callable[[], object]]] = [("grid_sample backward warp (fwd+bwd)", gs_fb)]
    fb += [(f"softsplat {mode} [{auto}] (fwd+bwd)", splat_fb(mode, auto)) for mode in ("sum", "soft")]
    fb += [(f"softsplat soft [{b}] (fwd+bwd)", splat_fb("soft", b)) for b in backends[1:]]
    rows += _run_group("softsplat", text, dtype, fb, device, repeats, warmup)
    return rows


def deform_conv2d_im2col(
    input: torch.Tensor,
    offset: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    padding: int = 1,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Modulated deformable conv (stride 1, dilation 1) as grid_sample im2col + one matmul.

    Offsets use the torchvision layout (per offset group, per tap, (dy, dx)); grid_sample's zero
    padding drops out-of-image corners one by one, as torchvision's kernel does.
    """
    b, cin, h, w = input.shape
    cout, _, kh, kw = weight.shape
    kk = kh * kw
    groups = offset.shape[1] // (2 * kk)
    ho, wo = offset.shape[-2:]
    ty, tx = torch.meshgrid(
        torch.arange(kh, dtype=input.dtype, device=input.device),
        torch.arange(kw, dtype=input.dtype, device=input.device),
        indexing="ij",
    )
    oy = torch.arange(ho, dtype=input.dtype, device=input.device).view(1, 1, 1, ho, 1)
    ox = torch.arange(wo, dtype=input.dtype, device=input.device).view(1, 1, 1, 1, wo)
    off = offset.view(b, groups, kk, 2, ho, wo)
    py = oy - padding + ty.reshape(1, 1, kk, 1, 1) + off[:, :, :, 0]  # (B, G, kk, Ho, Wo)
    px = ox - padding + tx.reshape(1, 1, kk, 1, 1) + off[:, :, :, 1]
    grid = torch.stack((px * (2.0 / max(w - 1, 1)) - 1.0, py * (2.0 / max(h - 1, 1)) - 1.0), dim=-1)
    grid = grid.view(b * groups, kk * ho, wo, 2)
    cols = F.grid_sample(input.view(b * groups, cin // groups, h, w), grid, align_corners=True)
    cols = cols.view(b, groups, cin // groups, kk, ho * wo)
    if mask is not None:
        cols = cols * mask.view(b, groups, 1, kk, ho * wo)
    out = weight.view(cout, cin * kk) @ cols.reshape(b, cin * kk, ho * wo)
    if bias is not None:
        out = out + bias.view(1, cout, 1)
    return out.view(b, cout, ho, wo)


def _torchvision_deform_conv2d() -> Callable[..., torch.Tensor] | None:
    try:
        from torchvision.ops import deform_conv2d as tv_deform_conv2d
    except Exception:  # torchvision missing or built against another torch
        return None
    return tv_deform_conv2d


def bench_deform_conv(
    shape: tuple[int, int, int, int], cout: int, groups: int, device: torch.device, repeats: int, warmup: int
) -> list[Row]:
    from stvsr.ops import deform_conv2d

    b, cin, h, w = shape
    dtype = torch.float32
    g = torch.Generator(device="cpu").manual_seed(1)
    x = torch.randn(b, cin, h, w, generator=g, dtype=dtype).to(device)
    weight = (torch.randn(cout, cin, 3, 3, generator=g, dtype=dtype) * 0.05).to(device)
    bias = torch.randn(cout, generator=g, dtype=dtype).to(device)
    offset = (torch.randn(b, 2 * groups * 9, h, w, generator=g, dtype=dtype) * 2.0).to(device)
    mask = torch.sigmoid(torch.randn(b, groups * 9, h, w, generator=g, dtype=dtype)).to(device)
    text = f"{'x'.join(map(str, shape))} {cin}->{cout} 3x3 G={groups}"

    # every implementation called as fn(input, offset, weight, bias, mask) with padding 1
    impls: dict[str, Callable[..., torch.Tensor]] = {}
    tv = _torchvision_deform_conv2d()
    if tv is not None:
        impls["torchvision deform_conv2d"] = lambda i, o, w, b, m: tv(i, o, w, b, padding=(1, 1), mask=m)
    impls["im2col (unfold-style) deform_conv2d"] = lambda i, o, w, b, m: deform_conv2d_im2col(
        i, o, w, b, padding=1, mask=m
    )
    impls["stvsr deform_conv2d"] = lambda i, o, w, b, m: deform_conv2d(i, o, w, b, padding=1, mask=m)

    def fwd(fn: Callable[..., torch.Tensor]) -> Callable[[], torch.Tensor]:
        return lambda: fn(x, offset, weight, bias, mask)

    names = list(impls)
    outputs = {f"{n} (fwd)": fwd(impls[n]) for n in names}
    cases = [(f"{n} (fwd)", outputs[f"{n} (fwd)"]) for n in names]
    with torch.no_grad():
        rows = _run_group(
            "deform_conv2d", text, dtype, cases, device, repeats, warmup, reference=cases[0][1], outputs=outputs
        )

    leaves = [t.clone().requires_grad_() for t in (x, offset, weight, bias, mask)]

    def fb(fn: Callable[..., torch.Tensor]) -> Callable[[], None]:
        def step() -> None:
            xi, oi, wi, bi, mi = leaves
            fn(xi, oi, wi, bi, mi).sum().backward()

        return step

    rows += _run_group(
        "deform_conv2d", text, dtype, [(f"{n} (fwd+bwd)", fb(impls[n])) for n in names], device, repeats, warmup
    )
    return rows


def format_table(rows: list[Row]) -> str:
    headers = ("op", "shape", "dtype", "median ms", "ratio", "min ms", "min ratio", "max|diff|")
    body = [
        (str(r["op"]), str(r["shape"]), str(r["dtype"]), f"{r['ms']:.2f}", f"{r['ratio']:.2f}x",
         f"{r['min_ms']:.2f}", f"{r['min_ratio']:.2f}x", str(r["diff"]))
        for r in rows
    ]  # fmt: skip
    widths = [max(len(h), *(len(line[i]) for line in body)) for i, h in enumerate(headers)]
    sep = "  "
    lines = [sep.join(h.ljust(wd) for h, wd in zip(headers, widths))]
    lines.append(sep.join("-" * wd for wd in widths))
    lines += [sep.join(cell.ljust(wd) for cell, wd in zip(line, widths)) for line in body]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny shapes and 1 repeat (smoke test)")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--repeats", type=int, default=None, help="timed rounds per group (default 10)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (CPU)")
    parser.add_argument("--only", default=None, help="run groups whose name contains this")
    args = parser.parse_args(argv)

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda given but CUDA is not available")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    repeats = args.repeats if args.repeats is not None else (1 if args.quick else 10)
    warmup = 1 if args.quick else 3

    if args.quick:
        splat_shapes = [(1, 3, 24, 32)]
        dcn_shapes = [((1, 8, 12, 10), 8, 2)]
    else:
        splat_shapes = [(1, 3, 576, 720), (1, 64, 144, 180)]
        dcn_shapes = [((1, 64, 180, 144), 64, 8), ((1, 32, 64, 64), 32, 8)]

    rows: list[Row] = []
    if args.only is None or args.only in "softsplat":
        for shape in splat_shapes:
            rows += bench_softsplat(shape, device, repeats, warmup)
    if args.only is None or args.only in "deform_conv2d":
        for shape, cout, groups in dcn_shapes:
            rows += bench_deform_conv(shape, cout, groups, device, repeats, warmup)

    print(f"device={device} threads={torch.get_num_threads()} torch={torch.__version__} repeats={repeats}")
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
