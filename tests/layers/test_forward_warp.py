from __future__ import annotations

import pytest
import torch

from stvsr.layers.forward_warp import SoftmaxForwardWarp, fill_holes


def test_zero_flow_is_identity() -> None:
    torch.manual_seed(0)
    m = SoftmaxForwardWarp().double()
    x = torch.randn(2, 5, 6, 7, dtype=torch.float64)
    img = torch.rand(2, 3, 6, 7, dtype=torch.float64)
    z = m.importance(img, img.flip(-1), torch.zeros(2, 2, 6, 7, dtype=torch.float64))
    torch.testing.assert_close(m(x, torch.zeros(2, 2, 6, 7, dtype=torch.float64), z), x)


def test_importance_metric_formula() -> None:
    m = SoftmaxForwardWarp(init_scale=-1.0).double()
    a = torch.rand(1, 3, 5, 6, dtype=torch.float64)
    b = torch.rand(1, 3, 5, 6, dtype=torch.float64)
    z = m.importance(a, b, torch.zeros(1, 2, 5, 6, dtype=torch.float64))
    torch.testing.assert_close(z, 20 * (a - b).abs().mean(1, keepdim=True))
    assert m.paramScale.shape == (1, 1, 1, 1)


def test_integer_translation_moves_pixels() -> None:
    m = SoftmaxForwardWarp().double()
    x = torch.randn(1, 2, 5, 6, dtype=torch.float64)
    flow = torch.zeros(1, 2, 5, 6, dtype=torch.float64)
    flow[:, 0] = 1.0  # one pixel to the right
    out = m(x, flow, torch.zeros(1, 1, 5, 6, dtype=torch.float64))
    torch.testing.assert_close(out[..., 1:], x[..., :-1])
    assert torch.equal(out[..., 0], torch.zeros_like(out[..., 0]))  # hole


def test_softmax_prefers_larger_metric_on_collision() -> None:
    m = SoftmaxForwardWarp().double()
    x = torch.tensor([[[[1.0, 5.0]]]], dtype=torch.float64)
    flow = torch.zeros(1, 2, 1, 2, dtype=torch.float64)
    flow[0, 0, 0, 0] = 1.0  # both land on pixel 1
    z = torch.tensor([[[[0.0, 3.0]]]], dtype=torch.float64)
    out = m(x, flow, z)
    e = torch.exp(torch.tensor(3.0, dtype=torch.float64))
    torch.testing.assert_close(out[0, 0, 0, 1], (1.0 + 5.0 * e) / (1.0 + e))


def test_resize_metric() -> None:
    z = torch.randn(1, 1, 8, 12)
    assert SoftmaxForwardWarp.resize_metric(z, (4, 6)).shape == (1, 1, 4, 6)
    assert SoftmaxForwardWarp.resize_metric(z, (8, 12)) is z


def test_fill_holes_is_asymmetric() -> None:
    a = torch.tensor([0.0, 2.0, -1.0, 0.0])
    b = torch.tensor([3.0, 0.0, -2.0, 0.0])
    fa, fb = fill_holes(a, b)
    assert fa.tolist() == [3.0, 2.0, -2.0, 0.0]
    assert fb.tolist() == [3.0, 2.0, -2.0, 0.0]
    # b takes the *filled* a: where both are holes, both end with b's original value
    fa, fb = fill_holes(torch.tensor([-1.0]), torch.tensor([-3.0]))
    assert fa.item() == -3.0 and fb.item() == -3.0


def test_gradients_reach_scale_input_and_flow() -> None:
    torch.manual_seed(0)
    m = SoftmaxForwardWarp().double()
    a = torch.rand(1, 3, 6, 7, dtype=torch.float64, requires_grad=True)
    b = torch.rand(1, 3, 6, 7, dtype=torch.float64)
    flow = (torch.randn(1, 2, 6, 7, dtype=torch.float64) * 0.7).requires_grad_(True)
    z = m.importance(a, b, flow)
    m(a, flow * 0.5, z).square().sum().backward()
    assert m.paramScale.grad is not None and m.paramScale.grad.abs().item() > 0
    assert a.grad is not None and flow.grad is not None and flow.grad.abs().sum() > 0


def test_gradcheck_splat_input() -> None:
    torch.manual_seed(0)
    m = SoftmaxForwardWarp().double()
    flow = torch.randn(1, 2, 4, 5, dtype=torch.float64) * 0.6
    z = torch.randn(1, 1, 4, 5, dtype=torch.float64)
    x = torch.randn(1, 2, 4, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: m(t, flow, z), (x,))


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.bfloat16, 3e-2)])
def test_dtypes(dtype: torch.dtype, tol: float) -> None:
    torch.manual_seed(0)
    m = SoftmaxForwardWarp()
    x = torch.rand(1, 3, 6, 7, dtype=torch.float64)
    flow = torch.randn(1, 2, 6, 7, dtype=torch.float64)
    z = torch.randn(1, 1, 6, 7, dtype=torch.float64)
    ref = m.double()(x, flow, z)
    got = m.to(dtype)(x.to(dtype), flow.to(dtype), z.to(dtype))
    assert got.dtype == dtype and (got.double() - ref).abs().max() < tol * 10
