from __future__ import annotations

import pytest
import torch

from stvsr.layers.blocks import ConvAct, PixelShufflePack, ResidualBlockNoBN, ResidualBlocksWithInputConv


def test_residual_block_identity_when_second_conv_zero() -> None:
    block = ResidualBlockNoBN(8)
    torch.nn.init.zeros_(block.conv2.weight)
    torch.nn.init.zeros_(block.conv2.bias)
    x = torch.randn(2, 8, 5, 7)
    assert torch.equal(block(x), x)


def test_residual_blocks_with_input_conv_keys_and_shape() -> None:
    m = ResidualBlocksWithInputConv(3, 16, 2)
    keys = set(m.state_dict())
    assert {"main.0.weight", "main.2.0.conv1.weight", "main.2.1.conv2.bias"} <= keys
    assert m(torch.rand(1, 3, 9, 11)).shape == (1, 16, 9, 11)


@pytest.mark.parametrize("act", ["lrelu", "relu", None])
def test_conv_act(act: str | None) -> None:
    m = ConvAct(4, 6, act=act)
    assert set(m.state_dict()) == {"conv.weight", "conv.bias"}
    y = m(torch.randn(1, 4, 5, 5))
    assert y.shape == (1, 6, 5, 5)
    if act == "relu":
        assert bool((y >= 0).all())


def test_conv_act_rejects_unknown_activation() -> None:
    with pytest.raises(ValueError, match="act"):
        ConvAct(2, 2, act="gelu")


@pytest.mark.parametrize("r", [2, 4])
def test_pixel_shuffle_pack(r: int) -> None:
    m = PixelShufflePack(8, 3, r)
    assert m.upsample_conv.weight.shape == (3 * r * r, 8, 3, 3)
    assert m(torch.randn(2, 8, 5, 6)).shape == (2, 3, 5 * r, 6 * r)


def test_gradients_reach_parameters() -> None:
    m = torch.nn.Sequential(ResidualBlocksWithInputConv(3, 8, 1), PixelShufflePack(8, 3, 2))
    m(torch.rand(1, 3, 6, 6)).square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in m.parameters())
