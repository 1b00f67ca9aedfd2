"""imresize (MATLAB bicubic) against hand-computed values and naive references (BD: test_degradation.py)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from stvsr.ops import imresize
from stvsr.ops.resize import cubic_kernel
from tests.base import assert_close_to_reference


def naive_resize_1d(v: list[float], scale: float, out_len: int, a: float = -0.5, antialias: bool = True,
                    border: str = "symmetric") -> list[float]:
    """Direct transcription of MATLAB's imresize contributions, one output sample at a time."""
    n = len(v)

    def cubic(x: float) -> float:
        x = abs(x)
        if x <= 1:
            return (a + 2) * x**3 - (a + 3) * x**2 + 1
        if x < 2:
            return a * x**3 - 5 * a * x**2 + 8 * a * x - 4 * a
        return 0.0

    def source(j: int) -> int:  # 1-based index after the boundary rule
        if border == "replicate":
            return min(max(j, 1), n)
        while j < 1 or j > n:
            j = 1 - j if j < 1 else 2 * n + 1 - j
        return j

    out = []
    for x in range(1, out_len + 1):
        u = x / scale + 0.5 * (1 - 1 / scale)
        shrink = antialias and scale < 1
        width = 4 / scale if shrink else 4
        total, norm = 0.0, 0.0
        for j in range(math.floor(u - width / 2), math.floor(u - width / 2) + math.ceil(width) + 2):
            wgt = scale * cubic(scale * (u - j)) if shrink else cubic(u - j)
            total += wgt * v[source(j) - 1]
            norm += wgt
        out.append(total / norm)
    return out


def test_cubic_kernel_values() -> None:
    x = torch.tensor([0.0, 0.25, 0.75, 1.0, 1.25, 1.75, 2.0, 2.5], dtype=torch.float64)
    want = torch.tensor([1.0, 0.8671875, 0.2265625, 0.0, -0.0703125, -0.0234375, 0.0, 0.0], dtype=torch.float64)
    torch.testing.assert_close(cubic_kernel(x), want, rtol=0, atol=1e-15)


def test_hand_computed_upscale_border() -> None:
    # u = 0.75 for the first output sample at x2: taps at 1-based j = -1, 0, 1, 2 with
    # weights cubic(1.75), cubic(0.75), cubic(0.25), cubic(1.25); j=0 -> 1 and j=-1 -> 2 by mirroring,
    # so out[0] = (0.2265625 + 0.8671875) * v1 + (-0.0234375 - 0.0703125) * v2.
    v = torch.tensor([[0.0, 1.0, 2.0, 3.0]], dtype=torch.float64)
    out = imresize(v, scale=2.0)
    assert out.shape == (2, 8)
    assert out[0, 0].item() == pytest.approx(-0.09375, abs=1e-15)
    # samples whose taps all fall inside a ramp are exact (cubic convolution reproduces linear functions):
    # v[j-1] = j-1 at 1-based j, so the output at u is u - 1 with u = x/2 + 1/4
    ramp = imresize(torch.arange(8, dtype=torch.float64)[None], scale=2.0)[0]
    x = torch.arange(4, 14, dtype=torch.float64)
    torch.testing.assert_close(ramp[3:13], x / 2 + 0.25 - 1, rtol=0, atol=1e-14)


@pytest.mark.parametrize("scale", [0.25, 0.5, 1 / 3, 0.37, 1.5, 2.0, 3.3, 4.0])
@pytest.mark.parametrize("antialias", [True, False])
def test_matches_naive_1d(scale: float, antialias: bool) -> None:
    g = torch.Generator().manual_seed(0)
    v = torch.rand(13, generator=g, dtype=torch.float64)
    out_len = math.ceil(round(scale * 13, 8))
    want = torch.tensor(naive_resize_1d(v.tolist(), scale, out_len, antialias=antialias), dtype=torch.float64)
    got = imresize(v[None, :], scale=(1.0, scale), antialias=antialias)[0]
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)


def test_opencv_variant_matches_naive() -> None:
    v = torch.rand(9, dtype=torch.float64)
    want = naive_resize_1d(v.tolist(), 4.0, 36, a=-0.75, antialias=False, border="replicate")
    got = imresize(v[None, :], scale=(1.0, 4.0), antialias=False, a=-0.75, border="replicate")[0]
    torch.testing.assert_close(got, torch.tensor(want, dtype=torch.float64), rtol=0, atol=1e-12)


def test_separable_2d_equals_two_1d_passes() -> None:
    x = torch.rand(2, 3, 11, 7, dtype=torch.float64)
    out = imresize(x, scale=(0.5, 2.5))
    rows = torch.stack([torch.tensor(naive_resize_1d(c.tolist(), 0.5, 6), dtype=torch.float64) for c in x.reshape(-1, 11, 7).transpose(1, 2).reshape(-1, 11)])
    rows = rows.reshape(6, 7, 6).transpose(1, 2)  # (B*C, 6, 7)
    both = torch.stack([torch.tensor(naive_resize_1d(r.tolist(), 2.5, 18), dtype=torch.float64) for r in rows.reshape(-1, 7)])
    torch.testing.assert_close(out.reshape(-1, 18), both.to(torch.float64), rtol=0, atol=1e-12)


def test_dtypes(dtype: torch.dtype, device: torch.device) -> None:
    x = torch.rand(1, 3, 20, 24, dtype=torch.float64)
    ref = imresize(x, scale=0.5)
    got = imresize(x.to(device, dtype), scale=0.5)
    assert got.dtype == dtype and got.device.type == device.type
    assert_close_to_reference(got, ref, scale=10)


@given(
    value=st.floats(-2, 2),
    h=st.integers(1, 12),
    w=st.integers(1, 12),
    scale=st.floats(0.2, 5.0),
)
def test_constant_stays_constant(value: float, h: int, w: int, scale: float) -> None:
    x = torch.full((1, h, w), value, dtype=torch.float64)
    out = imresize(x, scale=scale)
    torch.testing.assert_close(out, torch.full_like(out, value), rtol=0, atol=1e-12)


def test_up_then_down_smooth_is_close() -> None:
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 32, dtype=torch.float64),
                            torch.linspace(0, 1, 40, dtype=torch.float64), indexing="ij")
    img = 0.5 + 0.25 * torch.sin(3 * xx) * torch.cos(2 * yy)
    back = imresize(imresize(img, scale=2.0), scale=0.5)
    assert back.shape == img.shape
    assert (back - img).abs().max() < 2e-3


def test_size_argument_and_output_sizes() -> None:
    x = torch.rand(1, 3, 144, 180)
    assert imresize(x, scale=0.25).shape[-2:] == (36, 45)
    assert imresize(x, size=(100, 77)).shape[-2:] == (100, 77)
    assert imresize(torch.rand(1, 30, 30), scale=1 / 3).shape[-2:] == (10, 10)
    torch.testing.assert_close(imresize(x, scale=1.0), x)


def test_gradcheck() -> None:
    x = torch.rand(1, 5, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: imresize(t, scale=(0.6, 1.7)), (x,))


def test_errors() -> None:
    x = torch.rand(1, 8, 8)
    with pytest.raises(ValueError, match="exactly one"):
        imresize(x)
    with pytest.raises(ValueError, match="scale"):
        imresize(x, scale=0)
    with pytest.raises(ValueError, match="scale"):
        imresize(x, scale=-1.5)
    with pytest.raises(ValueError, match="size"):
        imresize(x, size=(0, 4))
    with pytest.raises(TypeError, match="x"):
        imresize(torch.zeros(4, 4, dtype=torch.uint8), scale=2)
    with pytest.raises(ValueError, match="border"):
        imresize(x, scale=2, border="wrap")
