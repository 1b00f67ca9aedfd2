from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from stvsr.ops.softsplat import _softsplat_scatter, _splat_scatter, softsplat, softsplat_backend
from tests.base import assert_close_to_reference

MODES = ("sum", "avg", "linear", "soft")


@pytest.fixture(autouse=True, params=["cpp", "torch"])
def cpu_backend(request, monkeypatch):
    """Every test runs with the compiled C++ kernel as the CPU default and with the pure-PyTorch
    fallback (``STVSR_NO_EXT=1``, read on every call), so both stay covered."""
    if request.param == "torch":
        monkeypatch.setenv("STVSR_NO_EXT", "1")
    else:
        monkeypatch.delenv("STVSR_NO_EXT", raising=False)
        if softsplat_backend("cpu") != "cpp":
            pytest.skip("the softsplat C++ kernel could not be built here")
    return request.param


# ---------------------------------------------------------------- naive float64 reference


def _splat_reference(values: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Obviously-correct loops: each source pixel goes to the 4 neighbours of its target."""
    b, k, h, w = values.shape
    v = values.double().tolist()
    f = flow.double().tolist()
    out = [[[[0.0] * w for _ in range(h)] for _ in range(k)] for _ in range(b)]
    for n in range(b):
        for y in range(h):
            for x in range(w):
                px = x + f[n][0][y][x]
                py = y + f[n][1][y][x]
                x0, y0 = math.floor(px), math.floor(py)
                ax, ay = px - x0, py - y0
                corners = (
                    (x0, y0, (1 - ax) * (1 - ay)),
                    (x0 + 1, y0, ax * (1 - ay)),
                    (x0, y0 + 1, (1 - ax) * ay),
                    (x0 + 1, y0 + 1, ax * ay),
                )
                for cx, cy, wgt in corners:
                    if 0 <= cx < w and 0 <= cy < h:
                        for c in range(k):
                            out[n][c][cy][cx] += v[n][c][y][x] * wgt
    return torch.tensor(out, dtype=torch.float64)


def softsplat_reference(
    input: torch.Tensor, flow: torch.Tensor, metric: torch.Tensor | None, mode: str, eps: float | None = None
) -> torch.Tensor:
    x = input.double()
    m = metric.double() if metric is not None else None
    if mode == "sum":
        return _splat_reference(x, flow)
    if mode == "avg":
        weight = torch.ones_like(x[:, :1])
    elif mode == "linear":
        weight = m
    else:
        weight = torch.exp(m)
    out = _splat_reference(torch.cat([x * weight, weight], 1), flow)
    num, den = out[:, :-1], out[:, -1:]
    if eps is None:
        den = den.clone()
        den[den == 0] = 1.0
    else:
        den = den + eps
    return num / den


def _inputs(b=2, c=3, h=5, w=6, spread=3.0, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, c, h, w, generator=g, dtype=torch.float64)
    flow = (torch.rand(b, 2, h, w, generator=g, dtype=torch.float64) * 2 - 1) * spread
    metric = torch.rand(b, 1, h, w, generator=g, dtype=torch.float64) + 0.25  # > 0 for "linear"
    return x.to(dtype), flow.to(dtype), metric.to(dtype)


# ---------------------------------------------------------------- reference agreement


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("spread", [0.0, 0.7, 3.0, 8.0])
def test_matches_reference_float64(mode, spread):
    x, flow, metric = _inputs(spread=spread, seed=int(spread * 10))
    out = softsplat(x, flow, metric, mode=mode)
    assert out.dtype == torch.float64 and out.shape == x.shape
    torch.testing.assert_close(out, softsplat_reference(x, flow, metric, mode), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", MODES)
def test_pushed_partly_and_fully_outside(mode):
    x, flow, metric = _inputs(b=1, h=4, w=5, seed=3)
    flow[:, 0, :, :2] += 100.0  # two columns leave the image entirely
    flow[:, 1, 1] = -1.5  # one row half leaves through the top
    flow[:, 0, 3] = 4.25  # one row lands on the right border, partly outside
    out = softsplat(x, flow, metric, mode=mode)
    torch.testing.assert_close(out, softsplat_reference(x, flow, metric, mode), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_absurdly_large_flows_just_leave_the_image(dtype):
    x, flow, metric = _inputs(b=1, h=4, w=5, seed=33, dtype=dtype)
    flow[0, 0, 0, 0], flow[0, 1, 1, 1], flow[0, 0, 2, 2] = 3e38, -3e38, 1e31
    out = softsplat(x, flow, metric, mode="avg")
    ref = softsplat_reference(x.double(), flow.double(), None, "avg")
    torch.testing.assert_close(out.double(), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("mode", MODES)
def test_everything_outside_gives_zeros(mode):
    x, flow, metric = _inputs(b=1, h=3, w=4, seed=4)
    out = softsplat(x, flow + 50.0, metric, mode=mode)
    assert torch.equal(out, torch.zeros_like(x))  # zero denominators are replaced by 1: no NaN


@pytest.mark.parametrize("mode", ("avg", "linear", "soft"))
def test_holes_are_zero_and_finite(mode):
    x, _, metric = _inputs(b=1, h=4, w=6, seed=5)
    flow = torch.zeros(1, 2, 4, 6, dtype=torch.float64)
    flow[:, 0, :, 2] = 1.0  # column 2 moves onto column 3: column 2 becomes a hole
    out = softsplat(x, flow, metric, mode=mode)
    assert torch.isfinite(out).all()
    assert torch.equal(out[:, :, :, 2], torch.zeros_like(out[:, :, :, 2]))
    torch.testing.assert_close(out, softsplat_reference(x, flow, metric, mode), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", ("avg", "linear", "soft"))
@pytest.mark.parametrize("eps", [1e-7, 0.5])
def test_eps_divides_by_denominator_plus_eps(mode, eps):
    x, flow, metric = _inputs(b=1, h=4, w=5, spread=2.0, seed=6)
    out = softsplat(x, flow, metric, mode=mode, eps=eps)
    ref = softsplat_reference(x, flow, metric, mode, eps=eps)
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("h", "w"), [(1, 1), (1, 6), (5, 1), (2, 2), (3, 17)])
@pytest.mark.parametrize("mode", ("sum", "soft"))
def test_small_and_degenerate_sizes(h, w, mode):
    x, flow, metric = _inputs(b=2, h=h, w=w, spread=1.5, seed=h * 31 + w)
    out = softsplat(x, flow, metric, mode=mode)
    torch.testing.assert_close(out, softsplat_reference(x, flow, metric, mode), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
def test_integer_targets_are_exact_in_low_precision(dtype):
    # integer targets must put their whole weight on one pixel: a stray 1e-7 weight would turn a
    # hole (exactly 0 after normalisation) into a copied value
    h, w = 37, 45
    g = torch.Generator().manual_seed(60)
    x = torch.rand(1, 2, h, w, generator=g).to(dtype) + 0.5
    flow = torch.randint(-3, 4, (1, 2, h, w), generator=g).to(dtype)
    out = softsplat(x, flow, mode="avg")
    ref = softsplat_reference(x.double(), flow.double(), None, "avg")
    holes = ref == 0
    assert holes.any() and torch.equal(out[holes], torch.zeros_like(out[holes]))
    single = softsplat_reference(torch.ones_like(x[:, :1]).double(), flow.double(), None, "sum") == 1
    single = single.expand_as(x)  # pixels hit by exactly one source reproduce it bit for bit
    assert torch.equal(out[single], ref.to(dtype)[single])


@pytest.mark.parametrize("mode", MODES)
def test_scatter_fallback_matches_reference_and_fused_path(mode):
    x, flow, metric = _inputs(b=2, h=5, w=6, spread=3.0, seed=61)
    weight = {"sum": None, "avg": torch.ones_like(metric), "linear": metric, "soft": metric.exp()}[mode]
    values = x if weight is None else torch.cat([x * weight, weight], 1)
    ref_values = softsplat_reference(values, flow, None, "sum")
    torch.testing.assert_close(_splat_scatter(values, flow), ref_values, rtol=1e-12, atol=1e-12)
    values, flow = _gradcheck_inputs(seed=62)[:2]
    assert torch.autograd.gradcheck(_splat_scatter, (values, flow))


def test_eps_ignored_by_sum():
    x, flow, _ = _inputs(b=1, h=4, w=5, seed=7)
    assert torch.equal(softsplat(x, flow, mode="sum", eps=0.1), softsplat(x, flow, mode="sum"))


def test_metric_ignored_by_sum_and_avg():
    x, flow, metric = _inputs(b=1, h=4, w=5, seed=8)
    for mode in ("sum", "avg"):
        assert torch.equal(softsplat(x, flow, metric, mode=mode), softsplat(x, flow, None, mode=mode))


def test_soft_uses_plain_exp_without_max_subtraction():
    # exp(metric) overflows float32 beyond ~88: documented; the authors' kernel behaves the same
    x, flow, metric = _inputs(b=1, c=1, h=3, w=3, spread=0.0, seed=9, dtype=torch.float32)
    out = softsplat(x, flow, metric + 100.0, mode="soft")
    assert torch.isnan(out).all()
    shifted = softsplat(x, flow, metric + 20.0, mode="soft")  # shift-invariant while finite
    torch.testing.assert_close(shifted, softsplat(x, flow, metric, mode="soft"))


# ---------------------------------------------------------------- gradients


def _gradcheck_inputs(seed):
    x, flow, metric = _inputs(b=1, c=2, h=4, w=5, spread=2.0, seed=seed)
    # keep fractional parts away from integers: the splat is not differentiable there
    frac = flow - flow.floor()
    flow = flow.floor() + 0.1 + 0.8 * frac
    return x.requires_grad_(), flow.requires_grad_(), metric.requires_grad_()


@pytest.mark.parametrize("mode", MODES)
def test_gradcheck_input_flow_metric(mode):
    x, flow, metric = _gradcheck_inputs(seed=10 + MODES.index(mode))
    if mode in ("sum", "avg"):
        assert torch.autograd.gradcheck(lambda a, f: softsplat(a, f, mode=mode), (x, flow))
    else:
        assert torch.autograd.gradcheck(lambda a, f, m: softsplat(a, f, m, mode=mode), (x, flow, metric))


@pytest.mark.parametrize("mode", ("avg", "soft"))
def test_gradcheck_with_eps_and_holes(mode):
    x, flow, metric = _gradcheck_inputs(seed=20)
    with torch.no_grad():
        flow[:, 0, :, :2] += 40.0  # two columns leave: holes and zero denominators
    assert torch.autograd.gradcheck(lambda a, f, m: softsplat(a, f, m, mode=mode, eps=0.3), (x, flow, metric))
    assert torch.autograd.gradcheck(lambda a, f, m: softsplat(a, f, m, mode=mode), (x, flow, metric))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("eps", [None, 0.05])
@pytest.mark.parametrize("wanted", ["input", "flow", "metric", "all"])
def test_fused_gradients_match_autograd_composition(mode, eps, wanted):
    # the fused node writes its backward by hand; the scatter composition leaves it to autograd
    x, flow, metric = _gradcheck_inputs(seed=22)
    with torch.no_grad():
        flow[:, :, 0] -= 30.0  # a row leaves the image: holes, zero denominators
    grads = []
    for fn in (softsplat, _softsplat_scatter):
        args = [t.detach().clone().requires_grad_(wanted in (name, "all")) for name, t in
                zip(("input", "flow", "metric"), (x, flow, metric))]  # fmt: skip
        if not any(a.requires_grad for a in args[:2]) and mode in ("sum", "avg"):
            return  # the metric is unused by these modes
        out = fn(args[0], args[1], args[2], mode=mode, eps=eps) if fn is softsplat else fn(*args, mode, eps)
        weight = torch.linspace(-1.0, 2.0, out.numel(), dtype=out.dtype).view_as(out)
        (out * weight).sum().backward()
        grads.append([a.grad for a in args])
    for fused, composed in zip(*grads):
        if composed is None:
            assert fused is None or not fused.any()
        else:
            torch.testing.assert_close(fused, composed, rtol=1e-10, atol=1e-10)


@pytest.fixture
def threads(request):
    before = torch.get_num_threads()
    torch.set_num_threads(request.param)
    yield request.param
    torch.set_num_threads(before)


@pytest.mark.parametrize("threads", [1, 2, 3, 4], indirect=True)
@pytest.mark.parametrize(("b", "c"), [(1, 1), (1, 3), (1, 4), (2, 5), (3, 2)])
@pytest.mark.parametrize("mode", ("sum", "soft"))
def test_channel_groups_for_threads(threads, b, c, mode):
    # with fewer images than threads the CPU path splits channels into groups (padding them)
    x, flow, metric = _inputs(b=b, c=c, h=4, w=5, spread=2.0, seed=23 + b * 7 + c)
    flow = flow.floor() + 0.1 + 0.8 * (flow - flow.floor())
    x, flow, metric = (t.requires_grad_() for t in (x, flow, metric))
    out = softsplat(x, flow, metric, mode=mode)
    ref = softsplat_reference(x.detach(), flow.detach(), metric.detach(), mode)
    torch.testing.assert_close(out.detach(), ref, rtol=1e-12, atol=1e-12)
    weight = torch.linspace(-1.0, 2.0, out.numel(), dtype=out.dtype).view_as(out)
    got = torch.autograd.grad((out * weight).sum(), (x, flow, metric), allow_unused=True)
    composed = _softsplat_scatter(x, flow, metric if mode == "soft" else None, mode, None)
    expected = torch.autograd.grad((composed * weight).sum(), (x, flow, metric), allow_unused=True)
    for g_got, g_exp in zip(got, expected):
        if g_exp is None:
            assert g_got is None
        else:
            torch.testing.assert_close(g_got, g_exp, rtol=1e-10, atol=1e-10)


def test_gradients_reach_every_argument_in_half_precision():
    x, flow, metric = _inputs(b=1, c=2, h=4, w=5, seed=21, dtype=torch.bfloat16)
    x.requires_grad_()
    flow.requires_grad_()
    metric.requires_grad_()
    softsplat(x, flow, metric, mode="soft").square().sum().backward()
    for t in (x, flow, metric):
        assert t.grad is not None and t.grad.dtype == torch.bfloat16 and torch.isfinite(t.grad).all()


# ---------------------------------------------------------------- dtypes

# the flow is upcast before use, so the reference sees exactly the rounded flow
@pytest.mark.parametrize("mode", MODES)
def test_dtypes_against_float64_reference(dtype, mode):
    x, flow, metric = _inputs(b=1, c=3, h=6, w=7, spread=2.5, seed=30, dtype=dtype)
    out = softsplat(x, flow, metric, mode=mode)
    assert out.dtype == dtype
    ref = softsplat_reference(x.double(), flow.double(), metric.double(), mode)
    assert_close_to_reference(out, ref)


def test_float32_position_rounding_on_a_larger_frame():
    # the fused path rounds target positions on a power-of-two canvas (S = 64 here): the error
    # must stay at float32 level; "sum" is well conditioned (normalised modes amplify tiny weights)
    x, flow, _ = _inputs(b=1, c=2, h=72, w=100, spread=9.0, seed=32, dtype=torch.float32)
    out = softsplat(x, flow, mode="sum")
    ref = _splat_scatter(x.double(), flow.double())
    torch.testing.assert_close(out.double(), ref, rtol=1e-5, atol=2e-5)


def test_mixed_dtypes_output_follows_input():
    x, flow, metric = _inputs(b=1, h=4, w=5, seed=31, dtype=torch.float32)
    out = softsplat(x, flow.half(), metric.double(), mode="linear")
    assert out.dtype == torch.float32
    ref = softsplat_reference(x, flow.half(), metric, "linear")
    torch.testing.assert_close(out.double(), ref, rtol=1e-5, atol=1e-5)


def test_empty_batch():
    x = torch.zeros(0, 3, 4, 5)
    out = softsplat(x, torch.zeros(0, 2, 4, 5), torch.zeros(0, 1, 4, 5), mode="soft")
    assert out.shape == x.shape


# ---------------------------------------------------------------- properties


@st.composite
def _case(draw):
    b = draw(st.integers(1, 2))
    c = draw(st.integers(1, 3))
    h = draw(st.integers(1, 7))
    w = draw(st.integers(1, 7))
    seed = draw(st.integers(0, 2**31 - 1))
    return b, c, h, w, seed


@given(_case(), st.sampled_from(MODES))
def test_zero_flow_is_identity(case, mode):
    b, c, h, w, seed = case
    x, _, metric = _inputs(b, c, h, w, seed=seed, dtype=torch.float64)
    out = softsplat(x, torch.zeros(b, 2, h, w, dtype=torch.float64), metric, mode=mode)
    torch.testing.assert_close(out, x, rtol=1e-12, atol=1e-12)


@given(_case())
def test_sum_conserves_mass_when_all_neighbours_inside(case):
    b, c, h, w, seed = case
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, c, h, w, generator=g, dtype=torch.float64)
    # targets anywhere in [0, W-1] x [0, H-1]: every neighbour with a non-zero weight is inside
    tx = torch.rand(b, h, w, generator=g, dtype=torch.float64) * (w - 1)
    ty = torch.rand(b, h, w, generator=g, dtype=torch.float64) * (h - 1)
    gy, gx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    flow = torch.stack([tx - gx, ty - gy], dim=1)
    out = softsplat(x, flow, mode="sum")
    torch.testing.assert_close(out.sum(dim=(2, 3)), x.sum(dim=(2, 3)), rtol=1e-10, atol=1e-10)


@given(_case(), st.integers(-8, 8), st.integers(-8, 8), st.sampled_from(MODES))
def test_integer_translation_is_a_shift(case, dx, dy, mode):
    b, c, h, w, seed = case
    x, _, metric = _inputs(b, c, h, w, seed=seed, dtype=torch.float64)
    flow = torch.zeros(b, 2, h, w, dtype=torch.float64)
    flow[:, 0], flow[:, 1] = float(dx), float(dy)
    out = softsplat(x, flow, metric, mode=mode)
    pad = 8  # expected[y, x] = x[y - dy, x - dx], zero where that falls outside
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    expected = padded[:, :, pad - dy : pad - dy + h, pad - dx : pad - dx + w]
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)


@given(_case(), st.floats(-30.0, 30.0))
def test_soft_is_invariant_to_a_metric_offset(case, offset):
    b, c, h, w, seed = case
    x, flow, metric = _inputs(b, c, h, w, seed=seed, dtype=torch.float64)
    a = softsplat(x, flow, metric, mode="soft")
    torch.testing.assert_close(softsplat(x, flow, metric + offset, mode="soft"), a, rtol=1e-9, atol=1e-9)


# ---------------------------------------------------------------- errors


def _good():
    x, flow, metric = _inputs(b=1, h=4, w=5, seed=40, dtype=torch.float32)
    return x, flow, metric


@pytest.mark.parametrize(
    ("mutate", "exc", "match"),
    [
        (lambda x, f, m: (x.numpy(), f, m), TypeError, "input"),
        (lambda x, f, m: (x, f.tolist(), m), TypeError, "flow"),
        (lambda x, f, m: (x, f, m.numpy()), TypeError, "metric"),
        (lambda x, f, m: (x[0], f, m), ValueError, "input"),
        (lambda x, f, m: (x, f[0], m), ValueError, "flow"),
        (lambda x, f, m: (x, f, m[0]), ValueError, "metric"),
        (lambda x, f, m: (x.long(), f, m), TypeError, "input"),
        (lambda x, f, m: (x, f.int(), m), TypeError, "flow"),
        (lambda x, f, m: (x, f, m > 0), TypeError, "metric"),
        (lambda x, f, m: (x, f[:, :1], m), ValueError, "flow"),
        (lambda x, f, m: (x, torch.cat([f, f]), m), ValueError, "flow"),
        (lambda x, f, m: (x, f[..., :-1], m), ValueError, "flow"),
        (lambda x, f, m: (x, f, torch.cat([m, m], 1)), ValueError, "metric"),
        (lambda x, f, m: (x, f, m[..., :-1, :]), ValueError, "metric"),
        (lambda x, f, m: (x, f.index_fill(3, torch.tensor([1]), float("nan")), m), ValueError, "flow"),
        (lambda x, f, m: (x, f.index_fill(2, torch.tensor([0]), float("inf")), m), ValueError, "flow"),
    ],
)
def test_bad_arguments(mutate, exc, match):
    x, f, m = mutate(*_good())
    with pytest.raises(exc, match=match):
        softsplat(x, f, m, mode="soft")


@pytest.mark.parametrize("mode", ("linear", "soft"))
def test_metric_required(mode):
    x, f, _ = _good()
    with pytest.raises(ValueError, match="metric"):
        softsplat(x, f, None, mode=mode)


@pytest.mark.parametrize("mode", ("softmax", "summation", "", None, 1))
def test_unknown_mode(mode):
    x, f, m = _good()
    with pytest.raises(ValueError, match="mode"):
        softsplat(x, f, m, mode=mode)


@pytest.mark.parametrize(("eps", "exc"), [(-1.0, ValueError), (float("nan"), ValueError), ("1", TypeError)])
def test_bad_eps(eps, exc):
    x, f, m = _good()
    with pytest.raises(exc, match="eps"):
        softsplat(x, f, m, mode="avg", eps=eps)


def test_backend_choice_on_cpu(cpu_backend):
    x, f, m = _good()
    assert softsplat_backend("cpu") == cpu_backend
    with pytest.raises(ValueError, match="backend"):
        softsplat(x, f, m, mode="soft", backend="cupy")
    with pytest.raises(ValueError, match="backend"):
        softsplat(x, f, m, mode="soft", backend="triton")
    chosen = softsplat(x, f, m, mode="soft", backend=cpu_backend)
    assert torch.equal(chosen, softsplat(x, f, m, mode="soft"))  # "auto" is the chosen backend
    torch.testing.assert_close(chosen, softsplat(x, f, m, mode="soft", backend="torch"))


# ---------------------------------------------------------------- CUDA


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16], ids=str)
@pytest.mark.parametrize("mode", MODES)
def test_cupy_matches_torch_on_cuda(mode, dtype):
    pytest.importorskip("cupy")
    x, flow, metric = _inputs(b=2, c=5, h=23, w=31, spread=6.0, seed=50, dtype=dtype)
    outs, grads = [], []
    for backend in ("torch", "cupy"):
        args = [t.cuda().requires_grad_() for t in (x, flow, metric)]
        out = softsplat(*args, mode=mode, backend=backend)
        weight = torch.linspace(-1, 1, out.numel(), device="cuda", dtype=out.dtype).view_as(out)
        (out * weight).sum().backward()
        outs.append(out.detach().double().cpu())
        grads.append([None if a.grad is None else a.grad.double().cpu() for a in args])
    tol = 1e-5 if dtype != torch.float16 else 3e-3
    torch.testing.assert_close(outs[1], outs[0], rtol=tol, atol=tol)
    for g_cupy, g_torch in zip(grads[1], grads[0]):
        assert (g_cupy is None) == (g_torch is None)
        if g_torch is not None:
            torch.testing.assert_close(g_cupy, g_torch, rtol=tol, atol=tol)


@pytest.mark.cuda
@pytest.mark.parametrize("mode", MODES)
def test_cuda_torch_path_matches_reference(mode):
    x, flow, metric = _inputs(b=1, h=5, w=6, spread=3.0, seed=51)
    out = softsplat(x.cuda(), flow.cuda(), metric.cuda(), mode=mode, backend="torch")
    torch.testing.assert_close(out.cpu(), softsplat_reference(x, flow, metric, mode), rtol=1e-12, atol=1e-12)


@pytest.mark.cuda
def test_cupy_gradcheck():
    pytest.importorskip("cupy")
    x, flow, metric = (t.detach().cuda().requires_grad_() for t in _gradcheck_inputs(seed=52))
    assert torch.autograd.gradcheck(lambda a, f, m: softsplat(a, f, m, mode="soft", backend="cupy"), (x, flow, metric))


@pytest.mark.cuda
@pytest.mark.parametrize("mode", MODES)
def test_cuda_torch_path_gradcheck(mode):
    x, flow, metric = (t.detach().cuda().requires_grad_() for t in _gradcheck_inputs(seed=53))
    assert torch.autograd.gradcheck(lambda a, f, m: softsplat(a, f, m, mode=mode, backend="torch"), (x, flow, metric))
