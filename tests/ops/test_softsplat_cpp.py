"""The compiled C++ softsplat kernel against the pure-PyTorch path, and its fallback.

The reference-agreement and property tests of ``test_softsplat.py`` run with both CPU backends
(its autouse fixture); this file compares the two paths directly on larger and odd shapes, checks
gradients with ``gradcheck`` in float64, and covers the build / fallback machinery.
"""

from __future__ import annotations

import importlib.resources
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

from stvsr.ops import _cpp_softsplat
from stvsr.ops.softsplat import softsplat, softsplat_backend

MODES = ("sum", "avg", "linear", "soft")


@pytest.fixture
def kernel(monkeypatch):
    monkeypatch.delenv("STVSR_NO_EXT", raising=False)
    ops = _cpp_softsplat.kernel()
    if ops is None:
        pytest.skip("the softsplat C++ kernel could not be built here")
    return ops


def _inputs(b, c, h, w, spread, seed, dtype):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, c, h, w, generator=g, dtype=torch.float64)
    flow = (torch.rand(b, 2, h, w, generator=g, dtype=torch.float64) * 2 - 1) * spread
    metric = torch.rand(b, 1, h, w, generator=g, dtype=torch.float64) + 0.25
    return x.to(dtype), flow.to(dtype), metric.to(dtype)


def _run(backend, x, flow, metric, mode, eps):
    """Output and gradients (input, flow, metric) of a weighted sum of the output."""
    args = [t.detach().clone().requires_grad_() for t in (x, flow, metric)]
    out = softsplat(args[0], args[1], args[2], mode=mode, eps=eps, backend=backend)
    weight = torch.linspace(-1.0, 2.0, out.numel(), dtype=out.dtype).view_as(out)
    grads = torch.autograd.grad((out * weight).sum(), args, allow_unused=True)
    return out.detach(), grads


def _assert_close(got, want, tol):
    # relative to the tensor's scale: splatted sums of signed values cancel
    scale = max(1.0, want.abs().max().item())
    torch.testing.assert_close(got, want, rtol=tol, atol=tol * scale)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("eps", [None, 0.1])
@pytest.mark.parametrize(
    ("b", "c", "h", "w", "spread"),
    [(1, 3, 19, 23, 4.0), (2, 5, 9, 300, 12.0), (3, 1, 7, 6, 2.0), (1, 9, 33, 17, 40.0), (2, 64, 6, 7, 1.5)],
)
def test_kernel_matches_pure_path(kernel, dtype, mode, eps, b, c, h, w, spread):
    # shapes cover: several tiles per image, plane blocks of 1..4 (+ the weight plane), batches,
    # and flows that push pixels out of the image (holes, zero denominators)
    x, flow, metric = _inputs(b, c, h, w, spread, seed=b * 100 + c * 10 + h, dtype=dtype)
    out_cpp, grads_cpp = _run("cpp", x, flow, metric, mode, eps)
    out_ref, grads_ref = _run("torch", x, flow, metric, mode, eps)
    assert out_cpp.dtype == dtype
    if dtype == torch.float64:
        _assert_close(out_cpp, out_ref, 1e-11)
        for name, got, want in zip(("input", "flow", "metric"), grads_cpp, grads_ref):
            assert (got is None) == (want is None), name
            if want is not None:
                _assert_close(got, want, 1e-11)
        return
    # float32: the two paths round target positions differently (the pure path's canvas adds one
    # rounding), and gradients near small denominators are ill-conditioned, so both are held to
    # the float64 result: the kernel must be about as accurate as the pure path, or better
    out_64, grads_64 = _run("cpp", x.double(), flow.double(), metric.double(), mode, eps)
    for name, got, ref, exact in zip(
        ("output", "input", "flow", "metric"), (out_cpp, *grads_cpp), (out_ref, *grads_ref), (out_64, *grads_64)
    ):
        if exact is None:
            assert got is None and ref is None, name
            continue
        scale = max(1.0, exact.abs().max().item())
        err_cpp = (got.double() - exact).abs().max().item() / scale
        err_ref = (ref.double() - exact).abs().max().item() / scale
        assert err_cpp <= max(2.0 * err_ref, 1e-5), (name, err_cpp, err_ref)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("eps", [None, 0.3])
def test_kernel_gradcheck_float64(kernel, mode, eps):
    x, flow, metric = _inputs(2, 3, 5, 6, spread=2.5, seed=7, dtype=torch.float64)
    # keep fractional parts away from integers (not differentiable there); one column leaves
    flow = flow.floor() + 0.1 + 0.8 * (flow - flow.floor())
    flow[:, 0, :, :1] += 40.0
    x, flow, metric = (t.requires_grad_() for t in (x, flow, metric))
    if mode in ("sum", "avg"):
        assert torch.autograd.gradcheck(lambda a, f: softsplat(a, f, mode=mode, eps=eps, backend="cpp"), (x, flow))
    else:
        assert torch.autograd.gradcheck(
            lambda a, f, m: softsplat(a, f, m, mode=mode, eps=eps, backend="cpp"), (x, flow, metric)
        )


@pytest.mark.parametrize("mode", ("sum", "soft"))
def test_kernel_is_deterministic_across_thread_counts(kernel, mode):
    # each thread owns whole planes (forward) or whole source pixels (backward): the summation
    # order never depends on the thread count, so results are bitwise equal
    x, flow, metric = _inputs(2, 6, 96, 120, spread=6.0, seed=3, dtype=torch.float32)
    before = torch.get_num_threads()
    results = []
    try:
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            results.append(_run("cpp", x, flow, metric, mode, None))
    finally:
        torch.set_num_threads(before)
    for out, grads in results[1:]:
        assert torch.equal(out, results[0][0])
        for got, want in zip(grads, results[0][1]):
            assert (got is None and want is None) or torch.equal(got, want)


def test_auto_uses_the_kernel_on_cpu(kernel):
    x, flow, metric = _inputs(1, 2, 5, 6, spread=2.0, seed=1, dtype=torch.float64)
    assert softsplat_backend("cpu") == "cpp"
    assert torch.equal(softsplat(x, flow, metric, mode="soft"), softsplat(x, flow, metric, mode="soft", backend="cpp"))


def test_half_precision_runs_through_the_kernel_in_float32(kernel):
    x, flow, metric = _inputs(1, 3, 8, 9, spread=2.0, seed=2, dtype=torch.bfloat16)
    out = softsplat(x, flow, metric, mode="soft")
    ref = softsplat(x.float(), flow.float(), metric.float(), mode="soft", backend="torch")
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), ref, rtol=1e-2, atol=1e-2)


def test_kernel_rejects_bad_tensors_with_clear_errors(kernel):
    x, flow, metric = _inputs(1, 2, 4, 5, spread=1.0, seed=4, dtype=torch.float32)
    with pytest.raises(RuntimeError, match="float32 or float64"):
        kernel.forward(x.half(), flow.half(), None, 0, None)
    with pytest.raises(RuntimeError, match="flow"):
        kernel.forward(x, flow[:, :1].contiguous(), None, 0, None)
    with pytest.raises(RuntimeError, match="metric"):
        kernel.forward(x, flow, None, 3, None)
    with pytest.raises(RuntimeError, match="mode"):
        kernel.forward(x, flow, None, 7, None)


# ---------------------------------------------------------------- fallback and build


def test_no_ext_env_var_falls_back_to_pure_path(monkeypatch):
    monkeypatch.setenv("STVSR_NO_EXT", "1")
    assert _cpp_softsplat.kernel() is None
    assert softsplat_backend("cpu") == "torch"
    x, flow, metric = _inputs(1, 2, 4, 5, spread=1.0, seed=5, dtype=torch.float64)
    with pytest.raises(ValueError, match="backend='cpp'"):
        softsplat(x, flow, metric, mode="soft", backend="cpp")
    assert torch.equal(
        softsplat(x, flow, metric, mode="soft"), softsplat(x, flow, metric, mode="soft", backend="torch")
    )


@pytest.mark.parametrize("value", ["0", "", "no"])
def test_no_ext_only_for_true_values(monkeypatch, value):
    monkeypatch.setenv("STVSR_NO_EXT", value)
    assert not _cpp_softsplat.disabled()


def test_cpp_backend_needs_cpu_tensors():
    with pytest.raises(ValueError, match="CPU"):
        softsplat_backend("meta", "cpp")


def test_missing_compiler_is_reported(monkeypatch):
    monkeypatch.setenv("CXX", "stvsr-no-such-compiler")
    assert "no C++ compiler" in (_cpp_softsplat._compiler_missing() or "")


def test_failed_build_warns_and_returns_none(monkeypatch):
    from torch.utils import cpp_extension

    def broken(**kwargs):
        raise RuntimeError("simulated compiler error")

    monkeypatch.setattr(cpp_extension, "load", broken)
    with pytest.warns(RuntimeWarning, match="simulated compiler error"):
        assert _cpp_softsplat._build.__wrapped__() is None  # the uncached build function


def test_missing_compiler_gives_none_without_warning(monkeypatch):
    monkeypatch.setattr(_cpp_softsplat, "_compiler_missing", lambda: "no C++ compiler (test)")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _cpp_softsplat._build.__wrapped__() is None


def test_source_ships_inside_the_package():
    source = importlib.resources.files("stvsr.ops") / "csrc" / "softsplat_cpu.cpp"
    assert source.is_file() and "TORCH_LIBRARY(stvsr_softsplat" in source.read_text()
    pyproject = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    assert '"ops/csrc/*.cpp"' in pyproject  # package data: wheels carry the source


@pytest.mark.slow
def test_build_goes_to_torch_extensions_dir(tmp_path):
    # a fresh process, so that the in-process cache cannot answer; builds from scratch (~30 s)
    env = dict(os.environ, TORCH_EXTENSIONS_DIR=str(tmp_path))
    env.pop("STVSR_NO_EXT", None)
    code = "from stvsr.ops import _cpp_softsplat as c; assert c.kernel() is not None"
    if _cpp_softsplat._compiler_missing() is not None:
        pytest.skip("no compiler here")
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=600)
    assert list(tmp_path.glob("stvsr_softsplat_cpu_*/*.so"))
