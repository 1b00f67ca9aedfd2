from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from stvsr.layers.scale_aware import SA_adapt, SA_conv, SAAdapt, SAConv, ScaleAwareResidualBlocks


def test_aliases() -> None:
    assert SA_conv is SAConv and SA_adapt is SAAdapt


def test_sa_conv_is_a_conv_with_the_mixed_kernel() -> None:
    torch.manual_seed(0)
    m = SAConv(4, 5, num_experts=3).double()
    x = torch.randn(2, 4, 6, 7, dtype=torch.float64)
    route = m.expert_weights(2.0, 3.0, x)
    assert route.shape == (3,) and torch.allclose(route.sum(), torch.tensor(1.0, dtype=torch.float64))
    weight = sum(route[e] * m.weight_pool[e] for e in range(3))
    torch.testing.assert_close(m(x, 2.0, 3.0), F.conv2d(x, weight, padding=1))


def test_sa_conv_routing_depends_on_scale_order() -> None:
    torch.manual_seed(0)
    m = SAConv(2, 2, num_experts=4)
    x = torch.randn(1, 2, 4, 4)
    assert not torch.allclose(m.expert_weights(1.5, 3.0, x), m.expert_weights(3.0, 1.5, x))


def test_sa_conv_keys() -> None:
    keys = set(SAConv(8, 8, num_experts=2).state_dict())
    assert keys == {"weight_pool", "routing.0.weight", "routing.0.bias", "routing.2.weight", "routing.2.bias"}


@pytest.mark.parametrize("size", [(8, 10), (7, 9), (5, 6)])
def test_sa_adapt_shapes_including_odd(size: tuple[int, int]) -> None:
    m = SAAdapt(8, mask_channels=4, num_experts=2).eval()
    x = torch.randn(2, 8, *size)
    y = m(x, 2.5, 3.3)
    assert y.shape == x.shape and torch.isfinite(y).all()


def test_sa_adapt_mask_keys_follow_the_authors() -> None:
    keys = set(SAAdapt(8, 4).state_dict())
    for i in (0, 4, 7, 11):
        assert f"mask.{i}.weight" in keys
    for i in (1, 5, 8, 12):
        assert f"mask.{i}.running_mean" in keys and f"mask.{i}.num_batches_tracked" in keys
    assert "adapt.weight_pool" in keys


def test_sa_adapt_zero_adapt_is_identity() -> None:
    m = SAAdapt(4, 4).eval()
    torch.nn.init.zeros_(m.adapt.weight_pool)
    x = torch.randn(1, 4, 6, 6)
    assert torch.equal(m(x, 2.0, 2.0), x)


def test_scale_aware_residual_blocks() -> None:
    m = ScaleAwareResidualBlocks(3, 8, num_blocks=4, every=2, mask_channels=4, num_experts=2).eval()
    assert len(m.sa_adapt) == 2
    keys = set(m.state_dict())
    assert {"conv1.weight", "main.3.conv2.bias", "sa_adapt.1.adapt.weight_pool"} <= keys
    assert m(torch.rand(1, 3, 6, 8), 2.0, 2.0).shape == (1, 8, 6, 8)


def test_gradients_reach_every_parameter() -> None:
    m = ScaleAwareResidualBlocks(3, 8, num_blocks=2, every=1, mask_channels=4, num_experts=2)
    m.train()
    m(torch.rand(2, 3, 6, 6), 1.7, 2.2).square().mean().backward()
    missing = [n for n, p in m.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing


def test_gradcheck_sa_conv() -> None:
    torch.manual_seed(0)
    m = SAConv(2, 2, num_experts=2).double()
    x = torch.randn(1, 2, 4, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: m(t, 2.0, 3.0), (x,))


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.bfloat16, 5e-2)])
def test_sa_adapt_dtypes(dtype: torch.dtype, tol: float) -> None:
    torch.manual_seed(0)
    m = SAAdapt(4, 4).eval().double()
    x = torch.randn(1, 4, 6, 6, dtype=torch.float64)
    with torch.no_grad():
        ref = m(x, 2.0, 3.0)
        got = m.to(dtype)(x.to(dtype), 2.0, 3.0)
    assert got.dtype == dtype
    assert (got.double() - ref).abs().max() <= tol * max(1.0, float(ref.abs().max()))
