"""correlation (PWC-Net cost volume) against a naive loop, gradcheck and invariants."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from stvsr.ops import correlation
from tests.base import assert_close_to_reference


def naive_correlation(f1: torch.Tensor, f2: torch.Tensor, d: int, s: int) -> torch.Tensor:
    """One output value at a time: channel (dy+d)/s * n + (dx+d)/s, mean over channels, zero outside."""
    b, c, h, w = f1.shape
    n = 2 * d // s + 1
    out = torch.zeros(b, n * n, h, w, dtype=torch.float64)
    for bi in range(b):
        for iy, dy in enumerate(range(-d, d + 1, s)):
            for ix, dx in enumerate(range(-d, d + 1, s)):
                for y in range(h):
                    for x in range(w):
                        if 0 <= y + dy < h and 0 <= x + dx < w:
                            total = 0.0
                            for ci in range(c):
                                total += float(f1[bi, ci, y, x]) * float(f2[bi, ci, y + dy, x + dx])
                            out[bi, iy * n + ix, y, x] = total / c
    return out


@pytest.mark.parametrize(("shape", "d", "s"), [((2, 3, 5, 7), 4, 1), ((1, 5, 4, 3), 2, 1), ((1, 2, 6, 5), 2, 2)])
def test_matches_naive_float64(shape: tuple[int, ...], d: int, s: int) -> None:
    g = torch.Generator().manual_seed(0)
    f1 = torch.randn(shape, generator=g, dtype=torch.float64)
    f2 = torch.randn(shape, generator=g, dtype=torch.float64)
    got = correlation(f1, f2, max_displacement=d, stride=s)
    want = naive_correlation(f1, f2, d, s)
    assert got.shape == (shape[0], (2 * d // s + 1) ** 2, *shape[2:])
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)


def test_channel_order_is_vertical_major() -> None:
    # f2 is f1 shifted by (dy, dx) = (1, -2): its peak channel must be (1+4)*9 + (-2+4) = 47
    f1 = torch.zeros(1, 1, 9, 9, dtype=torch.float64)
    f1[0, 0, 4, 4] = 1.0
    f2 = torch.zeros_like(f1)
    f2[0, 0, 5, 2] = 1.0
    out = correlation(f1, f2)
    assert out.shape == (1, 81, 9, 9)
    assert int(out[0, :, 4, 4].argmax()) == 47
    assert float(out.sum()) == 1.0


def test_dtypes(dtype: torch.dtype, device: torch.device) -> None:
    g = torch.Generator().manual_seed(1)
    f1 = torch.rand(2, 8, 6, 7, generator=g, dtype=torch.float64)
    f2 = torch.rand(2, 8, 6, 7, generator=g, dtype=torch.float64)
    want = correlation(f1, f2)
    got = correlation(f1.to(device, dtype), f2.to(device, dtype))
    assert got.dtype == dtype and got.device.type == device.type
    assert_close_to_reference(got, want)


def test_gradcheck() -> None:
    g = torch.Generator().manual_seed(2)
    f1 = torch.randn(1, 3, 4, 5, generator=g, dtype=torch.float64, requires_grad=True)
    f2 = torch.randn(1, 3, 4, 5, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: correlation(a, b, max_displacement=2), (f1, f2))


@given(
    c=st.integers(1, 4), h=st.integers(1, 6), w=st.integers(1, 6), d=st.integers(0, 3), seed=st.integers(0, 2**16)
)
def test_properties(c: int, h: int, w: int, d: int, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    f1 = torch.randn(1, c, h, w, generator=g, dtype=torch.float64)
    f2 = torch.randn(1, c, h, w, generator=g, dtype=torch.float64)
    out = correlation(f1, f2, max_displacement=d)
    n = 2 * d + 1
    # zero displacement is the centre channel: the plain channel mean of the product
    torch.testing.assert_close(out[:, n * n // 2], (f1 * f2).mean(1), rtol=0, atol=1e-12)
    # swapping the images mirrors the displacement: corr(f2, f1)[k](p) = corr(f1, f2)[-k](p + k)
    back = correlation(f2, f1, max_displacement=d)
    for iy, dy in enumerate(range(-d, d + 1)):
        for ix, dx in enumerate(range(-d, d + 1)):
            k, mirrored = iy * n + ix, (n - 1 - iy) * n + (n - 1 - ix)
            for y in range(h):
                for x in range(w):
                    if 0 <= y + dy < h and 0 <= x + dx < w:
                        assert abs(float(out[0, k, y, x] - back[0, mirrored, y + dy, x + dx])) < 1e-12
                    else:
                        assert float(out[0, k, y, x]) == 0.0
    # bilinear in the inputs: scaling f1 scales the volume
    torch.testing.assert_close(correlation(2.5 * f1, f2, max_displacement=d), 2.5 * out, rtol=1e-12, atol=1e-12)


def test_errors() -> None:
    a = torch.zeros(1, 2, 4, 4)
    with pytest.raises(ValueError, match="same shape"):
        correlation(a, torch.zeros(1, 2, 4, 5))
    with pytest.raises(ValueError, match="max_displacement"):
        correlation(a, a, max_displacement=-1)
    with pytest.raises(ValueError, match="divide"):
        correlation(a, a, max_displacement=3, stride=2)
    mixed = correlation(a.bfloat16(), a, max_displacement=1)
    assert mixed.dtype == torch.float32 and mixed.shape == (1, 9, 4, 4)
    with pytest.raises(TypeError, match="floating"):
        correlation(a.long(), a.long())
    with pytest.raises(ValueError, match="4-D"):
        correlation(a[0], a[0])
