from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

import stvsr.ops.deform_conv as dc
from stvsr.ops import deform_conv2d

try:  # torchvision is a dev dependency; its C++ op may fail to load against some torch builds
    from torchvision.ops import deform_conv2d as tv_deform_conv2d

    tv_deform_conv2d(
        torch.zeros(1, 1, 3, 3), torch.zeros(1, 18, 1, 1), torch.zeros(1, 1, 3, 3)
    )
    HAS_TV = True
except Exception:  # noqa: BLE001
    HAS_TV = False

needs_tv = pytest.mark.skipif(not HAS_TV, reason="torchvision.ops.deform_conv2d unavailable")


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _out_size(h, w, kh, kw, stride, padding, dilation):
    s, p, d = _pair(stride), _pair(padding), _pair(dilation)
    return (h + 2 * p[0] - d[0] * (kh - 1) - 1) // s[0] + 1, (w + 2 * p[1] - d[1] * (kw - 1) - 1) // s[1] + 1


def naive_deform_conv2d(x, offset, weight, bias, stride, padding, dilation, mask):
    """Obviously-correct loops over every output pixel, channel and tap (float64, tiny sizes)."""
    s, p, d = _pair(stride), _pair(padding), _pair(dilation)
    b, cin, h, w = x.shape
    cout, cpg, kh, kw = weight.shape
    wgroups = cin // cpg
    ho, wo = offset.shape[2:]
    groups = offset.shape[1] // (2 * kh * kw)
    xl = x.tolist()
    ol = offset.tolist()
    ml = mask.tolist() if mask is not None else None
    wl = weight.tolist()

    def sample(plane, yy, xx):
        if yy <= -1 or yy >= h or xx <= -1 or xx >= w:
            return 0.0
        y0, x0 = math.floor(yy), math.floor(xx)
        ly, lx = yy - y0, xx - x0
        total = 0.0
        for cy, wy in ((y0, 1 - ly), (y0 + 1, ly)):
            for cx, wx in ((x0, 1 - lx), (x0 + 1, lx)):
                if 0 <= cy < h and 0 <= cx < w:
                    total += wy * wx * plane[cy][cx]
        return total

    out = torch.zeros(b, cout, ho, wo, dtype=torch.float64)
    for bi in range(b):
        for oy in range(ho):
            for ox in range(wo):
                # sampled values per input channel and tap
                col = [[0.0] * (kh * kw) for _ in range(cin)]
                for c in range(cin):
                    g = c // (cin // groups)
                    for i in range(kh):
                        for j in range(kw):
                            t = i * kw + j
                            dy = ol[bi][2 * (g * kh * kw + t)][oy][ox]
                            dx = ol[bi][2 * (g * kh * kw + t) + 1][oy][ox]
                            yy = oy * s[0] - p[0] + i * d[0] + dy
                            xx = ox * s[1] - p[1] + j * d[1] + dx
                            m = ml[bi][g * kh * kw + t][oy][ox] if ml is not None else 1.0
                            col[c][t] = m * sample(xl[bi][c], yy, xx)
                for o in range(cout):
                    wg = o // (cout // wgroups)
                    acc = 0.0
                    for cl in range(cpg):
                        c = wg * cpg + cl
                        for t in range(kh * kw):
                            acc += wl[o][cl][t // kw][t % kw] * col[c][t]
                    out[bi, o, oy, ox] = acc + (float(bias[o]) if bias is not None else 0.0)
    return out


def _make(cin, cout, groups, wgroups, kernel, stride, padding, dilation, hw=(6, 7), batch=2, scale=2.0,
          with_mask=True, with_bias=True, dtype=torch.float64, seed=0):
    gen = torch.Generator().manual_seed(seed)
    kh, kw = _pair(kernel)
    h, w = hw
    ho, wo = _out_size(h, w, kh, kw, stride, padding, dilation)
    x = torch.randn(batch, cin, h, w, generator=gen, dtype=torch.float64)
    weight = torch.randn(cout, cin // wgroups, kh, kw, generator=gen, dtype=torch.float64)
    bias = torch.randn(cout, generator=gen, dtype=torch.float64) if with_bias else None
    offset = torch.randn(batch, 2 * groups * kh * kw, ho, wo, generator=gen, dtype=torch.float64) * scale
    mask = torch.rand(batch, groups * kh * kw, ho, wo, generator=gen, dtype=torch.float64) if with_mask else None
    cast = [t if t is None else t.to(dtype) for t in (x, offset, weight, bias, mask)]
    return cast


CONFIGS = [
    # cin, cout, offset groups, weight groups, kernel, stride, padding, dilation
    (2, 3, 1, 1, 3, 1, 1, 1),
    (4, 2, 2, 1, 3, 1, 0, 1),
    (4, 4, 4, 2, 3, 2, 1, 1),
    (6, 4, 3, 2, (2, 3), (1, 2), (0, 1), (2, 1)),
    (4, 6, 2, 1, 1, 1, 0, 1),
    (2, 2, 1, 2, 3, 1, 2, 2),
]


@pytest.mark.parametrize("cfg", CONFIGS)
@pytest.mark.parametrize("with_mask", [True, False])
def test_matches_naive_reference(cfg, with_mask):
    cin, cout, g, wg, k, s, p, d = cfg
    x, off, w, b, m = _make(cin, cout, g, wg, k, s, p, d, batch=1, with_mask=with_mask, with_bias=with_mask)
    ours = deform_conv2d(x, off, w, b, s, p, d, m)
    ref = naive_deform_conv2d(x, off, w, b, s, p, d, m)
    torch.testing.assert_close(ours, ref, atol=1e-12, rtol=1e-12)


def test_offsets_outside_and_on_border_lines():
    # integer and half-integer offsets that put samples exactly on -1, 0, H-1, H and beyond
    x, off, w, b, m = _make(2, 2, 1, 1, 3, 1, 1, 1, hw=(4, 5), batch=1)
    vals = torch.tensor([-7.0, -2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0, 3.5, 4.0, 4.5, 9.0], dtype=torch.float64)
    gen = torch.Generator().manual_seed(3)
    off = vals[torch.randint(0, len(vals), off.shape, generator=gen)]
    ours = deform_conv2d(x, off, w, b, 1, 1, 1, m)
    ref = naive_deform_conv2d(x, off, w, b, 1, 1, 1, m)
    torch.testing.assert_close(ours, ref, atol=1e-12, rtol=1e-12)
    # everything far outside: only the bias remains (also for infinite offsets)
    for far in (1e4, float("inf"), -float("inf")):
        out = deform_conv2d(x, torch.full_like(off, far), w, b, 1, 1, 1, m)
        torch.testing.assert_close(out, b.view(1, -1, 1, 1).expand_as(out))


def _border_offsets(shape, hw, kernel, padding, dtype, seed):
    """(dy, dx) offsets putting every sample exactly on -1, 0, H-1 or H (likewise x), or half a pixel beside."""
    b, pairs, ho, wo = shape
    tap = torch.arange(pairs) % (kernel * kernel)  # channel pairs ordered (group, tap)
    gen = torch.Generator().manual_seed(seed)
    out = torch.empty(b, pairs, 2, ho, wo, dtype=torch.float64)
    for axis, size in enumerate(hw):
        targets = torch.tensor([-1.5, -1.0, -0.5, 0.0, 0.5, size - 1.5, size - 1.0, size - 0.5, size, size + 0.5],
                               dtype=torch.float64)
        pick = targets[torch.randint(0, len(targets), (b, pairs, ho, wo), generator=gen)]
        if axis == 0:
            nominal = torch.arange(ho).view(1, 1, ho, 1) - padding + (tap // kernel).view(1, -1, 1, 1)
        else:
            nominal = torch.arange(wo).view(1, 1, 1, wo) - padding + (tap % kernel).view(1, -1, 1, 1)
        out[:, :, axis] = pick - nominal
    return out.flatten(1, 2).to(dtype)


@needs_tv
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("hw", [(5, 7), (4, 8), (9, 11)])
def test_border_lines_values_and_gradients_match_torchvision(dtype, hw):
    # samples exactly on a pixel / image border: values AND one-sided gradients (the offset gradient at an
    # integer coordinate uses the pixel below/right, zero at -1 and H) must follow torchvision there
    x, off, w, b, m = _make(4, 3, 2, 1, 3, 1, 1, 1, hw=hw, batch=2, dtype=dtype, seed=21)
    off = _border_offsets((2, off.shape[1] // 2, *off.shape[2:]), hw, 3, 1, dtype, seed=22)
    ins = [t.clone().requires_grad_() for t in (x, off, w, b, m)]
    tvs = [t.clone().requires_grad_() for t in (x, off, w, b, m)]
    ours = deform_conv2d(ins[0], ins[1], ins[2], ins[3], 1, 1, 1, ins[4])
    ref = tv_deform_conv2d(tvs[0], tvs[1], tvs[2], tvs[3], (1, 1), (1, 1), (1, 1), tvs[4])
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    torch.testing.assert_close(ours, ref, atol=tol, rtol=tol)
    if dtype == torch.float64:
        naive = naive_deform_conv2d(x, off, w, b, 1, 1, 1, m)
        torch.testing.assert_close(ours, naive, atol=1e-12, rtol=1e-12)
    go = torch.randn(ours.shape, generator=torch.Generator().manual_seed(23), dtype=torch.float64).to(dtype)
    ours.backward(go)
    ref.backward(go)
    for name, a, r in zip(("input", "offset", "weight", "bias", "mask"), ins, tvs):
        torch.testing.assert_close(a.grad, r.grad, atol=tol * 10, rtol=tol * 10, msg=f"grad of {name}")


def test_zero_offset_unit_mask_is_conv2d_example():
    x, off, w, b, _ = _make(4, 6, 2, 2, 3, 1, 1, 1)
    out = deform_conv2d(x, torch.zeros_like(off), w, b, 1, 1, 1, None)
    torch.testing.assert_close(out, F.conv2d(x, w, b, 1, 1, 1, groups=2))


@given(
    cin_g=st.integers(1, 3),
    wgroups=st.integers(1, 2),
    cout_g=st.integers(1, 3),
    kh=st.integers(1, 3),
    kw=st.integers(1, 3),
    stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    padding=st.tuples(st.integers(0, 2), st.integers(0, 2)),
    dilation=st.tuples(st.integers(1, 2), st.integers(1, 2)),
    h=st.integers(1, 8),
    w=st.integers(1, 8),
    ogroups=st.sampled_from([1, 2]),
)
def test_property_zero_offset_equals_conv2d(cin_g, wgroups, cout_g, kh, kw, stride, padding, dilation, h, w,
                                             ogroups):
    cin = cin_g * wgroups * ogroups
    cout = cout_g * wgroups
    ho, wo = _out_size(h, w, kh, kw, stride, padding, dilation)
    if ho < 1 or wo < 1:
        return
    gen = torch.Generator().manual_seed(cin * 31 + h * 7 + w)
    x = torch.randn(2, cin, h, w, generator=gen, dtype=torch.float64)
    weight = torch.randn(cout, cin // wgroups, kh, kw, generator=gen, dtype=torch.float64)
    bias = torch.randn(cout, generator=gen, dtype=torch.float64)
    offset = torch.zeros(2, 2 * ogroups * kh * kw, ho, wo, dtype=torch.float64)
    mask = torch.ones(2, ogroups * kh * kw, ho, wo, dtype=torch.float64)
    ours = deform_conv2d(x, offset, weight, bias, stride, padding, dilation, mask)
    ref = F.conv2d(x, weight, bias, stride, padding, dilation, groups=wgroups)
    torch.testing.assert_close(ours, ref, atol=1e-12, rtol=1e-12)


@given(shift=st.tuples(st.integers(-2, 2), st.integers(-2, 2)))
def test_property_integer_offset_is_shifted_conv(shift):
    # a uniform integer offset (dy, dx) equals a conv of the zero-padded, shifted input
    dy, dx = shift
    gen = torch.Generator().manual_seed(dy * 5 + dx + 11)
    x = torch.randn(1, 2, 5, 6, generator=gen, dtype=torch.float64)
    weight = torch.randn(3, 2, 3, 3, generator=gen, dtype=torch.float64)
    offset = torch.zeros(1, 18, 5, 6, dtype=torch.float64)
    offset[:, 0::2] = dy
    offset[:, 1::2] = dx
    padded = F.pad(x, (1 + 4, 1 + 4, 1 + 4, 1 + 4))
    shifted = padded[:, :, 4 + dy: 4 + dy + 7, 4 + dx: 4 + dx + 8]
    ref = F.conv2d(shifted, weight)
    torch.testing.assert_close(deform_conv2d(x, offset, weight, None, 1, 1), ref, atol=1e-12, rtol=1e-12)


@needs_tv
@pytest.mark.parametrize("cfg", CONFIGS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_matches_torchvision(cfg, dtype):
    cin, cout, g, wg, k, s, p, d = cfg
    x, off, w, b, m = _make(cin, cout, g, wg, k, s, p, d, hw=(9, 11), scale=3.0, dtype=dtype, seed=5)
    ours = deform_conv2d(x, off, w, b, s, p, d, m)
    ref = tv_deform_conv2d(x, off, w, b, _pair(s), _pair(p), _pair(d), m)
    tol = 1e-12 if dtype == torch.float64 else 2e-5
    torch.testing.assert_close(ours, ref, atol=tol, rtol=tol)


@needs_tv
def test_gradients_match_torchvision():
    x, off, w, b, m = _make(4, 4, 2, 2, 3, 1, 1, 1, hw=(6, 7), scale=2.5, seed=9)
    ins = [t.clone().requires_grad_() for t in (x, off, w, b, m)]
    tvs = [t.clone().requires_grad_() for t in (x, off, w, b, m)]
    gen = torch.Generator().manual_seed(1)
    go = torch.randn(2, 4, 6, 7, generator=gen, dtype=torch.float64)
    deform_conv2d(ins[0], ins[1], ins[2], ins[3], 1, 1, 1, ins[4]).backward(go)
    tv_deform_conv2d(tvs[0], tvs[1], tvs[2], tvs[3], (1, 1), (1, 1), (1, 1), tvs[4]).backward(go)
    for name, a, r in zip(("input", "offset", "weight", "bias", "mask"), ins, tvs):
        torch.testing.assert_close(a.grad, r.grad, atol=1e-10, rtol=1e-10, msg=f"grad of {name}")


@needs_tv
@pytest.mark.parametrize("backend", ["torchvision", "auto"])
def test_backends_agree(backend):
    x, off, w, b, m = _make(4, 4, 2, 1, 3, 2, 1, 1, hw=(8, 9), dtype=torch.float32, seed=2)
    pure = deform_conv2d(x, off, w, b, 2, 1, 1, m)
    other = deform_conv2d(x, off, w, b, 2, 1, 1, m, backend=backend)
    torch.testing.assert_close(pure, other, atol=2e-5, rtol=2e-5)


def test_gradcheck_all_arguments():
    x, off, w, b, m = _make(4, 2, 2, 2, (2, 3), (2, 1), 1, (1, 2), hw=(4, 5), batch=1, scale=1.3, seed=4)
    # keep samples away from integer coordinates where the bilinear weights are not differentiable
    off = off + 0.137
    args = [t.clone().requires_grad_() for t in (x, off, w, b, m)]

    def fn(xx, oo, ww, bb, mm):
        return deform_conv2d(xx, oo, ww, bb, (2, 1), 1, (1, 2), mm)

    # fast mode (random projections): the full Jacobian needs ~1000 calls; exact gradients are also
    # compared with torchvision in test_gradients_match_torchvision
    assert torch.autograd.gradcheck(fn, args, eps=1e-6, atol=1e-6, fast_mode=True)


def test_gradcheck_full_jacobian_tiny():
    x, off, w, b, m = _make(2, 1, 2, 1, 2, 1, 0, 1, hw=(3, 3), batch=1, scale=1.1, seed=14)
    args = [t.clone().requires_grad_() for t in (x, off + 0.113, m)]
    assert torch.autograd.gradcheck(lambda xx, oo, mm: deform_conv2d(xx, oo, w, b, 1, 0, 1, mm), args, eps=1e-6,
                                    atol=1e-6)


def test_gradgradcheck():
    x, off, w, b, m = _make(2, 2, 1, 1, 2, 1, 0, 1, hw=(3, 3), batch=1, scale=0.7, seed=8)
    args = [t.clone().requires_grad_() for t in (x, off + 0.21, w, b, m)]
    assert torch.autograd.gradgradcheck(lambda *a: deform_conv2d(*a[:4], 1, 0, 1, a[4]), args, eps=1e-6,
                                        atol=1e-5, fast_mode=True)


@pytest.mark.parametrize("backend", ["pure", "auto"])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision(dtype, backend):
    x, off, w, b, m = _make(4, 4, 2, 1, 3, 1, 1, 1, hw=(8, 9), scale=2.0, seed=6)
    ref = deform_conv2d(x, off, w, b, 1, 1, 1, m)
    args = [t.to(dtype) for t in (x, off, w, b, m)]
    args[0].requires_grad_()
    out = deform_conv2d(args[0], args[1], args[2], args[3], 1, 1, 1, args[4], backend=backend)
    assert out.dtype == dtype
    # rounding the inputs to half precision dominates the error
    tol = 0.1 if dtype == torch.float16 else 0.5
    assert (out.double() - ref).abs().max().item() < tol
    out.float().sum().backward()
    assert args[0].grad is not None and args[0].grad.dtype == dtype


def test_chunked_rows_match_unchunked(monkeypatch):
    x, off, w, b, m = _make(4, 3, 2, 1, 3, 1, 1, 1, hw=(7, 6), seed=12)
    full = deform_conv2d(x, off, w, b, 1, 1, 1, m)
    monkeypatch.setattr(dc, "_CHUNK_BYTES", 1)  # one output row per chunk
    monkeypatch.setattr(dc, "_CHUNK_BYTES_GRAD", 1)
    xg = x.clone().requires_grad_()
    chunked = deform_conv2d(xg, off, w, b, 1, 1, 1, m)
    torch.testing.assert_close(chunked, full, atol=1e-13, rtol=1e-13)
    chunked.sum().backward()
    assert xg.grad is not None


def test_empty_batch():
    x, off, w, b, m = _make(2, 3, 1, 1, 3, 1, 1, 1, batch=1)
    out = deform_conv2d(x[:0], off[:0], w, b, 1, 1, 1, m[:0])
    assert out.shape == (0, 3, 6, 7)


def test_noncontiguous_inputs():
    x, off, w, b, m = _make(4, 3, 2, 1, 3, 1, 1, 1, hw=(6, 6), seed=13)
    ref = deform_conv2d(x, off, w, b, 1, 1, 1, m)
    out = deform_conv2d(
        x.transpose(2, 3).contiguous().transpose(2, 3), off.transpose(2, 3).contiguous().transpose(2, 3),
        w, b, 1, 1, 1, m.transpose(2, 3).contiguous().transpose(2, 3),
    )
    torch.testing.assert_close(out, ref)


@pytest.mark.parametrize(
    "change, exc, words",
    [
        (dict(x=torch.zeros(1, 4, 6)), ValueError, "input"),
        (dict(x=torch.zeros(1, 4, 6, 7, dtype=torch.int64)), TypeError, "input"),
        (dict(x=[1.0]), TypeError, "input"),
        (dict(w=torch.zeros(3, 3, 3, 3, dtype=torch.float64)), ValueError, "weight.shape[1]"),
        (dict(w=torch.zeros(3, 2, 3, 3, dtype=torch.float64)), ValueError, "weight groups"),
        (dict(w=torch.zeros(4, 4, 3, 3)), TypeError, "weight"),
        (dict(off=torch.zeros(1, 17, 6, 7, dtype=torch.float64)), ValueError, "offset channels"),
        (dict(off=torch.zeros(1, 54, 6, 7, dtype=torch.float64)), ValueError, "offset groups"),
        (dict(off=torch.zeros(1, 36, 5, 7, dtype=torch.float64)), ValueError, "offset must have shape"),
        (dict(m=torch.zeros(1, 9, 6, 7, dtype=torch.float64)), ValueError, "mask"),
        (dict(m=torch.zeros(1, 18, 6, 7, dtype=torch.float32)), TypeError, "mask"),
        (dict(b=torch.zeros(5, dtype=torch.float64)), ValueError, "bias"),
        (dict(stride=0), ValueError, "stride"),
        (dict(padding=-1), ValueError, "padding"),
        (dict(dilation=(1, 2, 3)), TypeError, "dilation"),
        (dict(stride=1.5), TypeError, "stride"),
        (dict(backend="cuda"), ValueError, "backend"),
    ],
)
def test_clear_errors(change, exc, words):
    x, off, w, b, m = _make(4, 4, 2, 1, 3, 1, 1, 1, batch=1)
    kwargs = dict(x=x, off=off, w=w, b=b, m=m, stride=1, padding=1, dilation=1, backend="pure")
    kwargs.update(change)
    with pytest.raises(exc, match=None) as info:
        deform_conv2d(kwargs["x"], kwargs["off"], kwargs["w"], kwargs["b"], kwargs["stride"], kwargs["padding"],
                      kwargs["dilation"], kwargs["m"], backend=kwargs["backend"])
    assert words in str(info.value)


def test_too_small_input_error():
    w = torch.zeros(2, 2, 3, 3)
    with pytest.raises(ValueError, match="too small"):
        deform_conv2d(torch.zeros(1, 2, 2, 2), torch.zeros(1, 18, 1, 1), w)


def test_autocast_mixed_dtypes_follow_conv2d() -> None:
    """Under CPU autocast, float32 offsets/weights meet bfloat16 inputs (as inside models): run in bf16."""
    torch.manual_seed(0)
    x = torch.randn(1, 8, 9, 10)
    w = torch.randn(8, 8, 3, 3) * 0.1
    off = torch.randn(1, 18, 9, 10)
    mask = torch.rand(1, 9, 9, 10)
    ref = deform_conv2d(x, off, w, padding=1, mask=mask)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = deform_conv2d(x.bfloat16(), off, w, padding=1, mask=mask)
    assert got.dtype == torch.bfloat16
    torch.testing.assert_close(got.float(), ref, atol=0.1, rtol=0.05)
    with pytest.raises(TypeError, match="offset"):  # outside autocast the dtypes must agree
        deform_conv2d(x.bfloat16(), off, w, padding=1)
