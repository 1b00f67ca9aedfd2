"""backward_warp and resize_flow against naive float64 references."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from stvsr.ops import backward_warp, resize_flow
from tests.base import assert_close_to_reference


def naive_bilinear_warp(x: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Bilinear sampling with zero padding, corner by corner, one pixel at a time."""
    b, c, h, w = x.shape
    out = torch.zeros_like(x)
    for n in range(b):
        for i in range(h):
            for j in range(w):
                px = j + flow[n, 0, i, j].item()
                py = i + flow[n, 1, i, j].item()
                x0, y0 = math.floor(px), math.floor(py)
                for yy, wy in ((y0, y0 + 1 - py), (y0 + 1, py - y0)):
                    for xx, wx in ((x0, x0 + 1 - px), (x0 + 1, px - x0)):
                        if 0 <= yy < h and 0 <= xx < w:
                            out[n, :, i, j] += wy * wx * x[n, :, yy, xx]
    return out


def test_matches_naive_reference() -> None:
    g = torch.Generator().manual_seed(1)
    x = torch.rand(2, 3, 5, 6, generator=g, dtype=torch.float64)
    flow = (torch.rand(2, 2, 5, 6, generator=g, dtype=torch.float64) - 0.5) * 4
    torch.testing.assert_close(backward_warp(x, flow), naive_bilinear_warp(x, flow), rtol=0, atol=1e-12)


def test_align_corners_false_is_half_pixel_convention() -> None:
    # With align_corners=False the grid is normalised by W instead of W-1; an integer
    # shift of an image is still exact in the interior.
    x = torch.rand(1, 1, 6, 8, dtype=torch.float64)
    flow = torch.zeros(1, 2, 6, 8, dtype=torch.float64)
    flow[:, 0] = 1.0
    out = backward_warp(x, flow, align_corners=False)
    torch.testing.assert_close(out[..., :-1], x[..., 1:], rtol=0, atol=1e-12)


def test_dtypes(dtype: torch.dtype, device: torch.device) -> None:
    x = torch.rand(1, 3, 8, 9, dtype=torch.float64)
    flow = torch.randn(1, 2, 8, 9, dtype=torch.float64)
    ref = naive_bilinear_warp(x, flow)
    got = backward_warp(x.to(device, dtype), flow.to(device, dtype))
    assert got.dtype == dtype and got.device.type == device.type
    assert_close_to_reference(got, ref, scale=10)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_samples_at_float32_positions(dtype: torch.dtype) -> None:
    """A half-precision grid cannot hold pixel positions on a 720-wide frame (bfloat16 rounds 300.4 to
    300): positions are built and sampled in float32, so only the inputs' and output's rounding remain."""
    g = torch.Generator().manual_seed(3)
    x = torch.rand(1, 2, 4, 720, generator=g).to(dtype)
    flow = ((torch.rand(1, 2, 4, 720, generator=g) - 0.5) * 6).to(dtype)
    got = backward_warp(x, flow)
    ref = backward_warp(x.double(), flow.double())
    assert got.dtype == dtype
    # one output rounding (2^-8 relative for bfloat16); a bfloat16 grid was off by up to 2 pixels
    torch.testing.assert_close(got.double(), ref, rtol=0, atol=2 ** -7)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # the same under autocast
        torch.testing.assert_close(backward_warp(x, flow).double(), ref, rtol=0, atol=2 ** -7)


@given(h=st.integers(1, 9), w=st.integers(1, 9), c=st.integers(1, 3))
def test_zero_flow_is_identity(h: int, w: int, c: int) -> None:
    x = torch.rand(1, c, h, w, dtype=torch.float64)
    out = backward_warp(x, torch.zeros(1, 2, h, w, dtype=torch.float64))
    torch.testing.assert_close(out, x, rtol=0, atol=1e-12)


@given(dx=st.integers(-3, 3), dy=st.integers(-3, 3))
def test_integer_flow_is_shift(dx: int, dy: int) -> None:
    x = torch.rand(1, 2, 7, 8, dtype=torch.float64)
    flow = torch.zeros(1, 2, 7, 8, dtype=torch.float64)
    flow[:, 0], flow[:, 1] = dx, dy
    out = backward_warp(x, flow)
    shifted = torch.zeros_like(x)
    for i in range(7):
        for j in range(8):
            if 0 <= i + dy < 7 and 0 <= j + dx < 8:
                shifted[..., i, j] = x[..., i + dy, j + dx]
    torch.testing.assert_close(out, shifted, rtol=0, atol=1e-12)


def test_gradcheck() -> None:
    x = torch.rand(1, 2, 4, 5, dtype=torch.float64, requires_grad=True)
    flow = ((torch.rand(1, 2, 4, 5, dtype=torch.float64) - 0.5) * 3 + 0.1).requires_grad_()
    assert torch.autograd.gradcheck(backward_warp, (x, flow))


def test_errors() -> None:
    x = torch.rand(1, 3, 4, 4)
    with pytest.raises(ValueError, match="flow"):
        backward_warp(x, torch.zeros(1, 2, 4, 5))
    with pytest.raises(ValueError, match="flow"):
        backward_warp(x, torch.zeros(1, 3, 4, 4))
    with pytest.raises(ValueError, match="x"):
        backward_warp(torch.rand(3, 4, 4), torch.zeros(1, 2, 4, 4))
    with pytest.raises(ValueError, match="NaN"):
        backward_warp(x, torch.full((1, 2, 4, 4), float("nan")))
    with pytest.raises(TypeError, match="x"):
        backward_warp(x.to(torch.int32), torch.zeros(1, 2, 4, 4))
    with pytest.raises(ValueError, match="padding_mode"):
        backward_warp(x, torch.zeros(1, 2, 4, 4), padding_mode="wrap")


def test_resize_flow_scales_vectors() -> None:
    flow = torch.ones(1, 2, 4, 6, dtype=torch.float64)
    flow[:, 1] = 2.0
    out = resize_flow(flow, (8, 18))
    assert out.shape == (1, 2, 8, 18)
    torch.testing.assert_close(out[:, 0], torch.full((1, 8, 18), 3.0, dtype=torch.float64))
    torch.testing.assert_close(out[:, 1], torch.full((1, 8, 18), 4.0, dtype=torch.float64))
    # a flow field that moves every pixel of an image keeps doing so after resizing the image
    with pytest.raises(ValueError, match="size"):
        resize_flow(flow, (0, 3))
    with pytest.raises(ValueError, match="2 channels"):
        resize_flow(torch.zeros(1, 3, 4, 4), (8, 8))
