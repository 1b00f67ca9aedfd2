from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from stvsr.layers.invertible import (
    AffineCoupling3d,
    DenseBlock3d,
    InvertibleSequential,
    SpacePixelUnshuffle3d,
    SpaceTimePixelUnshuffle3d,
)


def _small_subnet(cin: int, cout: int) -> torch.nn.Module:
    return DenseBlock3d(cin, cout, growth=4)


def _stack(c: int = 3, blocks: int = 1) -> InvertibleSequential:
    ops: list[torch.nn.Module] = [SpacePixelUnshuffle3d(2)]
    ops += [AffineCoupling3d(4 * c, 3, subnet=_small_subnet) for _ in range(blocks)]
    ops += [SpacePixelUnshuffle3d(2)]
    ops += [AffineCoupling3d(16 * c, 3, subnet=_small_subnet) for _ in range(blocks)]
    return InvertibleSequential(ops)


def test_space_unshuffle_channel_order_naive() -> None:
    x = torch.rand(2, 3, 2, 4, 6, dtype=torch.float64)
    y = SpacePixelUnshuffle3d(2)(x)
    assert y.shape == (2, 12, 2, 2, 3)
    for c in range(3):
        for i in range(2):
            for j in range(2):
                assert torch.equal(y[:, c * 4 + 2 * i + j], x[:, c, :, i::2, j::2])


def test_space_time_unshuffle_channel_order_naive() -> None:
    x = torch.rand(1, 2, 4, 6, 3, dtype=torch.float64)
    op = SpaceTimePixelUnshuffle3d(2, 3)
    y = op(x)
    assert y.shape == (1, 2 * 2 * 9, 2, 2, 1)
    for c in range(2):
        for k in range(2):
            for i in range(3):
                for j in range(3):
                    assert torch.equal(y[:, c * 18 + k * 9 + 3 * i + j], x[:, c, k::2, i::3, j::3])
    assert torch.equal(op.inverse(y), x)


def test_unshuffle_errors() -> None:
    with pytest.raises(ValueError, match="divisible by 2"):
        SpacePixelUnshuffle3d(2)(torch.rand(1, 3, 2, 5, 4))
    with pytest.raises(ValueError, match="T divisible by 2"):
        SpaceTimePixelUnshuffle3d(2, 1)(torch.rand(1, 3, 3, 4, 4))
    with pytest.raises(ValueError, match="channels|C\\*4"):
        SpacePixelUnshuffle3d(2).inverse(torch.rand(1, 3, 2, 4, 4))


@settings(max_examples=8, deadline=None)
@given(t=st.integers(1, 3), h4=st.integers(1, 3), w4=st.integers(1, 3), b=st.integers(1, 2), seed=st.integers(0, 2**16))
def test_stack_round_trip_float32(t, h4, w4, b, seed) -> None:
    torch.manual_seed(seed)
    stack = _stack()
    x = torch.rand(b, 3, t, 4 * h4, 4 * w4)
    with torch.no_grad():
        y = stack(x)
        assert y.shape == (b, 48, t, h4, w4)
        back = stack(y, rev=True)
    assert (back - x).abs().max() < 1e-5


def test_coupling_exact_inverse_float64_and_bounded_scale() -> None:
    torch.manual_seed(0)
    cpl = AffineCoupling3d(5, 2, clamp=1.0, subnet=_small_subnet).double()
    x = torch.randn(2, 5, 2, 3, 3, dtype=torch.float64) * 3
    y = cpl(x)
    assert (cpl.inverse(y) - x).abs().max() < 1e-12
    s = cpl._log_scale(y[:, :2])
    assert s.abs().max() < 1.0
    assert torch.autograd.gradcheck(cpl, (x[:1, :, :1, :2, :2].clone().requires_grad_(),))


def test_log_det_matches_jacobian() -> None:
    torch.manual_seed(1)
    cpl = AffineCoupling3d(4, 1, subnet=_small_subnet).double()
    x = torch.randn(1, 4, 1, 2, 2, dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(lambda v: cpl(v.view_as(x)).flatten(), x.flatten())
    assert float(cpl.log_det(x)[0].detach()) == pytest.approx(float(torch.linalg.slogdet(jac)[1]), abs=1e-10)


def test_coupling_errors() -> None:
    with pytest.raises(ValueError, match="split"):
        AffineCoupling3d(3, 3)
    cpl = AffineCoupling3d(4, 1, subnet=_small_subnet)
    with pytest.raises(ValueError, match="expects"):
        cpl(torch.rand(1, 5, 1, 2, 2))
    with pytest.raises(TypeError, match="inverse"):
        InvertibleSequential([torch.nn.ReLU()])
    with pytest.raises(ValueError, match="cin == cout"):
        DenseBlock3d(3, 4, residual=True)


def test_dense_block_kernels_and_residual() -> None:
    blk = DenseBlock3d(6, 6, growth=4, kernel=(1, 3, 3), out_kernel=(3, 1, 1), residual=True)
    assert blk.conv1.weight.shape == (4, 6, 1, 3, 3)
    assert blk.conv5.weight.shape == (6, 22, 3, 1, 1)
    x = torch.rand(1, 6, 3, 4, 5)
    torch.nn.init.zeros_(blk.conv5.weight)
    torch.nn.init.zeros_(blk.conv5.bias)
    assert torch.equal(blk(x), x)
