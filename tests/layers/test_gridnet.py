"""GridNet: FMU's parameter counts and key names, shapes, size check, gradients."""

from __future__ import annotations

import pytest
import torch

from stvsr.layers.gridnet import GridNet


def test_param_counts_and_keys() -> None:
    assert sum(p.numel() for p in GridNet(20, 8).parameters()) == 2_251_722
    assert sum(p.numel() for p in GridNet(20, 3).parameters()) == 2_249_777
    keys = GridNet(20, 3).state_dict()
    assert tuple(keys["Lin.block.1.weight"].shape) == (32, 20, 3, 3)
    assert tuple(keys["u12.block.4.weight"].shape) == (64, 64, 3, 3)
    assert tuple(keys["Lout.block.3.weight"].shape) == (3, 3, 3, 3)
    assert tuple(keys["d10.block.0.weight"].shape) == (1,)


def test_shapes_and_gradients() -> None:
    torch.manual_seed(0)
    net = GridNet(5, 2, channels=(4, 6, 8))
    x = torch.randn(2, 5, 8, 12, requires_grad=True)
    out, feature = net(x)
    assert out.shape == (2, 2, 8, 12) and feature.shape == (2, 4, 8, 12)
    (out.sum() + feature.sum()).backward()
    assert all(p.grad is not None for p in net.parameters())
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_errors() -> None:
    with pytest.raises(ValueError, match="divisible by 4"):
        GridNet(3, 3, channels=(4, 4, 4))(torch.zeros(1, 3, 6, 8))
    with pytest.raises(ValueError, match="3 widths"):
        GridNet(3, 3, channels=(4, 4))
