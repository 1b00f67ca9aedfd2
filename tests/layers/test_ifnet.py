"""IFNet / IFBlock (RIFE HDv3): shapes, parameter count, determinism, gradients, t handling."""

from __future__ import annotations

import pytest
import torch

from stvsr.layers.flow.ifnet import IFBlock, IFNet

TINY = (8, 8, 8, 8)


def _frames(b: int = 1, h: int = 64, w: int = 64, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    return torch.rand(b, 3, h, w, generator=g, dtype=dtype), torch.rand(b, 3, h, w, generator=g, dtype=dtype)


def test_hdv3_parameter_count() -> None:
    net = IFNet()
    assert sum(p.numel() for p in net.parameters()) == 5_160_980
    assert [b.lastconv.in_channels for b in (net.block0, net.block1, net.block2, net.block3)] == [192, 128, 96, 64]


def test_ifblock_shapes() -> None:
    block = IFBlock(7, 16)
    flow, mask = block(torch.rand(2, 7, 64, 96), None, 4.0)
    assert flow.shape == (2, 4, 64, 96) and mask.shape == (2, 1, 64, 96)
    block = IFBlock(12, 16)
    flow, mask = block(torch.rand(1, 8, 32, 32), torch.rand(1, 4, 32, 32), 1.0)
    assert flow.shape == (1, 4, 32, 32)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_ifnet_shapes_range_determinism(dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    net = IFNet(TINY).to(dtype)
    a, b = _frames(2, 64, 128, dtype)
    flow, mask = net(a, b, 0.3)
    assert flow.shape == (2, 4, 64, 128) and flow.dtype == dtype
    assert mask.shape == (2, 1, 64, 128) and bool(((mask > 0) & (mask < 1)).all())
    out = net.interpolate(a, b, 0.3)
    assert out.shape == a.shape
    assert torch.equal(out, net.interpolate(a, b, 0.3))


def test_tensor_t_matches_float_t() -> None:
    torch.manual_seed(0)
    net = IFNet(TINY, large_motion_fallback=False)
    a, b = _frames(2)
    both = net.interpolate(a, b, torch.tensor([0.25, 0.75]))
    first = net.interpolate(a[:1], b[:1], 0.25)
    second = net.interpolate(a[1:], b[1:], 0.75)
    torch.testing.assert_close(both, torch.cat([first, second]), rtol=1e-5, atol=1e-5)


def test_identical_frames_with_zero_flow_give_the_frame() -> None:
    net = IFNet(TINY)
    for p in net.parameters():
        torch.nn.init.zeros_(p)  # zero flow and a 0.5 mask everywhere
    a, _ = _frames()
    torch.testing.assert_close(net.interpolate(a, a, 0.5), a)


def test_large_motion_fallback_restarts_coarser() -> None:
    torch.manual_seed(0)
    net = IFNet(TINY)
    with torch.no_grad():
        net.block1.lastconv.bias[:4] = 100.0  # block 1 reports > 32 px motion in both flows
    seen: list[torch.Size] = []
    net.block0.conv0.register_forward_hook(lambda m, i, o: seen.append(i[0].shape))
    a, b = _frames(1, 128, 128)
    net(a, b, 0.5)
    assert [s[-1] for s in seen] == [128 // 8, 128 // 16]  # scale 8, then the restart at 16
    seen.clear()
    net.large_motion_fallback = False
    net(a, b, 0.5)
    assert [s[-1] for s in seen] == [128 // 8]


def test_backward_reaches_every_parameter() -> None:
    torch.manual_seed(0)
    net = IFNet(TINY, large_motion_fallback=False)
    a, b = _frames(1, 32, 32)
    net.interpolate(a.requires_grad_(), b, 0.5).square().mean().backward()
    assert all(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in net.parameters())
    assert a.grad is not None


def test_widths_validated() -> None:
    with pytest.raises(ValueError, match="widths"):
        IFNet((8, 8, 8))
