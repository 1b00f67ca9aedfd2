"""PWC-Net (sniklaus layout): parameters, keys, shapes, the feature warp's two conventions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from stvsr.layers.flow.pwcnet import PWCNet, pwc_feature_warp, rename_sniklaus_keys

SPEC = Path(__file__).resolve().parents[1] / "data" / "conformance" / "fmu" / "spec.json"



def test_params_and_keys_match_authors() -> None:
    net = PWCNet()
    assert sum(p.numel() for p in net.parameters()) == 9_374_274
    own = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    if SPEC.is_file():
        spec = json.loads(SPEC.read_text())
        want = {e["key"][len("flownet."):]: tuple(e["shape"]) for e in spec["entries"] if e["key"].startswith("flownet.")}
        assert own == want
    assert own["moduleTwo.moduleUpfeat.weight"] == (597, 2, 4, 4)
    assert own["moduleRefiner.moduleMain.0.weight"] == (128, 565, 3, 3)


def authors_grid_warp(x: torch.Tensor, flow: torch.Tensor, align_corners: bool) -> torch.Tensor:
    """Direct transcription of the described grid: linspace(-1, 1) + flow / ((W-1)/2), mask > 0.999."""
    b, _, h, w = x.shape
    gx = torch.linspace(-1.0, 1.0, w, dtype=x.dtype).view(1, 1, w).expand(b, h, w) + flow[:, 0] / ((w - 1) / 2)
    gy = torch.linspace(-1.0, 1.0, h, dtype=x.dtype).view(1, h, 1).expand(b, h, w) + flow[:, 1] / ((h - 1) / 2)
    grid = torch.stack((gx, gy), dim=-1)
    out = F.grid_sample(torch.cat((x, torch.ones_like(x[:, :1])), 1), grid, align_corners=align_corners)
    return out[:, :-1] * (out[:, -1:] > 0.999).to(x.dtype)


@pytest.mark.parametrize("align_corners", [True, False])
def test_feature_warp_matches_authors_grid(align_corners: bool) -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 7, 9, generator=g, dtype=torch.float64)
    flow = 1.5 * torch.randn(2, 2, 7, 9, generator=g, dtype=torch.float64)
    got = pwc_feature_warp(x, flow, align_corners)
    torch.testing.assert_close(got, authors_grid_warp(x, flow, align_corners), rtol=0, atol=1e-12)


def test_feature_warp_zero_flow() -> None:
    x = torch.rand(1, 2, 5, 6, dtype=torch.float64)
    zero = torch.zeros(1, 2, 5, 6, dtype=torch.float64)
    torch.testing.assert_close(pwc_feature_warp(x, zero, True), x, rtol=0, atol=1e-14)
    # read with align_corners=False the validity drops below 0.999 exactly on the border
    out = pwc_feature_warp(x, zero, False)
    assert bool((out[..., 0, :] == 0).all() and (out[..., -1, :] == 0).all())
    assert bool((out[..., :, 0] == 0).all() and (out[..., :, -1] == 0).all())
    assert bool((out[..., 1:-1, 1:-1] != 0).all())


def test_forward_shapes_resize_and_batch() -> None:
    torch.manual_seed(0)
    net = PWCNet().eval()
    a, b = torch.rand(2, 3, 20, 30), torch.rand(2, 3, 20, 30)
    with torch.no_grad():
        flow = net(a, b)
        single = net(a[1:], b[1:])
        again = net(a, b)
    assert flow.shape == (2, 2, 20, 30)
    assert torch.isfinite(flow).all()
    torch.testing.assert_close(single, flow[1:], rtol=0, atol=1e-4)
    assert torch.equal(flow, again)
    with pytest.raises(ValueError, match="first and second"):
        net(a, b[:, :, :10])


def test_rename_sniklaus_keys() -> None:
    sd = {"netExtractor.netOne.0.weight": torch.zeros(1), "netTwo.netUpflow.weight": torch.zeros(1),
          "netRefiner.netMain.0.bias": torch.zeros(1)}
    assert sorted(rename_sniklaus_keys(sd)) == [
        "moduleExtractor.moduleOne.0.weight", "moduleRefiner.moduleMain.0.bias", "moduleTwo.moduleUpflow.weight"]
