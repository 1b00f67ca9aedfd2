from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from stvsr.train.losses import (
    FlowContextConsistencyLoss,
    charbonnier,
    cvrs_losses,
    structure_detail_loss,
    structure_detail_split,
    ternary,
)


def test_charbonnier_values_and_gradients():
    x = torch.rand(2, 3, 5, 5, dtype=torch.float64)
    assert charbonnier(x, x) == 0
    y = x + 1
    assert charbonnier(y, x, eps=1e-3).item() == pytest.approx(math.sqrt(1 + 1e-6) - 1e-3)
    assert charbonnier(y, x, reduction="sum").item() == pytest.approx(150 * (math.sqrt(1 + 1e-6) - 1e-3))
    t = torch.rand(1, 3, 4, 4, dtype=torch.float64)
    a = torch.rand(1, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda p: charbonnier(p, t), (a,))
    with pytest.raises(ValueError):
        charbonnier(x, x[:1])


def test_ternary_zero_positive_and_gradcheck():
    x = torch.rand(2, 3, 12, 12, dtype=torch.float64)
    assert ternary(x, x) == 0
    assert ternary(x, x.flip(-1)) > 0
    # a global brightness offset keeps the census transform (neighbour differences) unchanged
    assert ternary(x, x + 0.1).item() == pytest.approx(0.0, abs=1e-12)
    a = torch.rand(1, 3, 9, 9, dtype=torch.float64, requires_grad=True)
    t = torch.rand(1, 3, 9, 9, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda p: ternary(p, t, patch=3), (a,))
    with pytest.raises(ValueError):
        ternary(x[..., :6, :6], x[..., :6, :6])


def test_structure_detail():
    g = torch.rand(1, 2, 3, 8, 8, dtype=torch.float64)
    s, d = structure_detail_split(g)
    torch.testing.assert_close(s + d, g)
    assert structure_detail_loss(g, s, d, g) == 0
    assert structure_detail_loss(g, s, d + 0.1, g) > 0
    const = torch.full((1, 3, 8, 8), 0.3, dtype=torch.float64)
    torch.testing.assert_close(structure_detail_split(const)[1], torch.zeros_like(const))


class _ShiftFlow(nn.Module):
    """A constant flow (x, y) in pixels: +v for the loss's first call (forward), -v for its second (backward)."""

    def __init__(self, fx: float, fy: float) -> None:
        super().__init__()
        self.v = nn.Parameter(torch.tensor([fx, fy]))
        self.calls = 0

    def forward(self, ref, supp):
        sign = 1.0 if self.calls % 2 == 0 else -1.0
        self.calls += 1
        return (sign * self.v).to(ref.dtype).view(1, 2, 1, 1).expand(ref.shape[0], 2, *ref.shape[-2:])


def test_flow_context_consistency():
    loss = FlowContextConsistencyLoss(_ShiftFlow(1.0, 0.0))
    g = torch.rand(1, 3, 3, 16, 16, dtype=torch.float64)
    assert loss(g, g) == 0
    assert not loss.flow.v.requires_grad
    p = (g + 0.05 * torch.randn_like(g)).requires_grad_(True)
    val = loss(p, g)
    val.backward()
    assert val > 0 and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0
    # a temporally constant error (same offset everywhere) leaves frame-to-frame changes intact
    assert loss(g + 0.1, g).item() == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError):
        loss(g[:, :1], g[:, :1])


class _FakeCVRS(nn.Module):
    """encode = bicubic down (nearest in time), decode = bicubic up, inverter = identity."""

    def __init__(self) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.ones(()))

        class _Id(nn.Module):
            def hide(self, x, clamp=False):
                return x

            def reveal(self, x, clamp=False):
                return x

        self.inverter = _Id()

    def encode(self, hr, size, clamp=None):
        from stvsr.ops.resize import imresize

        t, h, w = size
        idx = [round(i * (hr.shape[1] - 1) / max(1, t - 1)) for i in range(t)]
        return imresize(hr[:, idx], size=(h, w)) * self.gain

    def decode(self, latent, size, clamp=None):
        t, h, w = size
        return latent.new_zeros(latent.shape[0], t, 3, h, w) + latent.mean() * 0


def test_cvrs_losses_terms():
    hr = torch.rand(1, 3, 3, 16, 16, dtype=torch.float64)
    model = _FakeCVRS().double()
    out = cvrs_losses(model, hr, (2, 8, 8), quantize=lambda x: x)
    assert set(out) == {"reconstruction", "stego", "latent", "total"}
    assert out["latent"] == 0 and out["stego"].item() == pytest.approx(0.0, abs=1e-12)  # stego == reference
    assert out["reconstruction"] > 0
    torch.testing.assert_close(out["total"], out["reconstruction"] + out["stego"] + out["latent"])
    out["total"].backward()
    assert model.gain.grad is not None
