from __future__ import annotations

import torch

from stvsr.layers.flow.spynet import SpyNet


def test_param_count_and_keys() -> None:
    net = SpyNet()
    assert sum(p.numel() for p in net.parameters()) == 1_440_300
    keys = set(net.state_dict())
    assert "basic_module.0.basic_module.0.conv.weight" in keys
    assert "basic_module.5.basic_module.4.conv.bias" in keys
    assert {"mean", "std"} <= keys


def test_any_size_and_grad() -> None:
    torch.manual_seed(0)
    net = SpyNet()
    ref, supp = torch.rand(2, 3, 37, 29), torch.rand(2, 3, 37, 29)
    flow = net(ref, supp)
    assert flow.shape == (2, 2, 37, 29)
    flow.abs().mean().backward()
    assert all(p.grad is not None for p in net.parameters())


def test_zero_weights_give_zero_flow() -> None:
    net = SpyNet()
    for p in net.parameters():
        torch.nn.init.zeros_(p)
    flow = net(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32))
    assert flow.abs().max() == 0
