"""FMU (Dutta et al., CVPRW 2021): parameters and keys, QVI pieces against naive references,
the authors' warp conventions, shapes, padding, several t, the STVSR contract, determinism,
gradients and errors. Numerics against the authors' code: tests/conformance (fixture ``fmu``)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from stvsr.models.fmu import FMU, FMUOutput, flow_reversal, fmu, fmu_backwarp, quadratic_flow
from stvsr.zoo._catalog import get_entry

SPEC = Path(__file__).resolve().parents[1] / "data" / "conformance" / "fmu" / "spec.json"
TINY = {"rsdn_channels": 8, "rsdn_blocks": 1, "grid_channels": (4, 4, 4)}



class _TinyFlow(nn.Module):
    """Cheap stand-in for PWC-Net in the plumbing tests (PWC-Net itself: tests/layers, conformance)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(6, 2, 3, padding=1)

    def forward(self, a: torch.Tensor, b: torch.Tensor, align_corners: bool | None = None) -> torch.Tensor:
        return 2.5 * torch.tanh(self.conv(torch.cat((a, b), dim=1)))


def tiny_model(seed: int = 0) -> FMU:
    torch.manual_seed(seed)
    model = FMU(**TINY)
    model.flownet = _TinyFlow()  # type: ignore[assignment]
    return model.eval()


def test_param_count_keys_and_card() -> None:
    model = fmu()
    assert sum(p.numel() for p in model.parameters()) == 20_091_210
    own = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert len(own) == 568
    if SPEC.is_file():
        spec = json.loads(SPEC.read_text())
        assert own == {e["key"]: tuple(e["shape"]) for e in spec["entries"]}
    assert FMU(**model.config).config == model.config
    json.dumps(model.config)
    card = get_entry("fmu").tag_card(None)
    assert card["params"] == 20_091_210 and card["task"] == "stvsr" and card["conformance"] == "fmu"


def test_quadratic_flow() -> None:
    f0, f2 = torch.randn(1, 2, 3, 4, dtype=torch.float64), torch.randn(1, 2, 3, 4, dtype=torch.float64)
    torch.testing.assert_close(quadratic_flow(f0, f2, 1.0), f2)
    torch.testing.assert_close(quadratic_flow(f0, f2, 0.0), torch.zeros_like(f0))
    # constant velocity (f0 = -f2): linear in t
    torch.testing.assert_close(quadratic_flow(-f2, f2, 0.3), 0.3 * f2)


def naive_flow_reversal(flow: torch.Tensor) -> torch.Tensor:
    """QVI's reversal one source pixel at a time (Gaussian weights to floor/floor+1 neighbours)."""
    b, _, h, w = flow.shape
    num = torch.zeros(b, 2, h, w, dtype=torch.float64)
    den = torch.zeros(b, 1, h, w, dtype=torch.float64)
    for n in range(b):
        for y in range(h):
            for x in range(w):
                fx, fy = float(flow[n, 0, y, x]), float(flow[n, 1, y, x])
                for qy in (y + math.floor(fy), y + math.floor(fy) + 1):
                    for qx in (x + math.floor(fx), x + math.floor(fx) + 1):
                        if 0 <= qy < h and 0 <= qx < w:
                            wgt = math.exp(-((x + fx - qx) ** 2 + (y + fy - qy) ** 2))
                            num[n, 0, qy, qx] += wgt * fx
                            num[n, 1, qy, qx] += wgt * fy
                            den[n, 0, qy, qx] += wgt
    return torch.where(den > 0, -num / den.clamp_min(1e-300), torch.zeros_like(num))


def test_flow_reversal_matches_naive() -> None:
    g = torch.Generator().manual_seed(0)
    flow = 2.0 * torch.randn(2, 2, 5, 6, generator=g, dtype=torch.float64)
    torch.testing.assert_close(flow_reversal(flow), naive_flow_reversal(flow), rtol=0, atol=1e-12)
    assert flow_reversal(flow.float()).dtype == torch.float32


def test_flow_reversal_translation_and_holes() -> None:
    flow = torch.tensor([1.3, -0.6], dtype=torch.float64).view(1, 2, 1, 1).expand(1, 2, 6, 7).contiguous()
    out = flow_reversal(flow)
    landed = naive_flow_reversal(flow).abs().sum(1) > 0
    torch.testing.assert_close(out[:, :, landed[0]], -flow[:, :, landed[0]], rtol=0, atol=1e-12)
    assert bool((out[:, :, ~landed[0]] == 0).all()) and bool((~landed).any())


def test_flow_reversal_gradcheck() -> None:
    # fractional parts kept away from integers so that the floor decisions stay fixed
    g = torch.Generator().manual_seed(1)
    ints = torch.randint(-2, 2, (1, 2, 3, 4), generator=g).double()
    frac = 0.2 + 0.6 * torch.rand(1, 2, 3, 4, generator=g, dtype=torch.float64)
    flow = (ints + frac).requires_grad_(True)
    assert torch.autograd.gradcheck(flow_reversal, (flow,), eps=1e-6, atol=1e-7)


def authors_backwarp(img: torch.Tensor, flow: torch.Tensor, align_corners: bool) -> torch.Tensor:
    _, _, h, w = img.shape
    gy, gx = torch.meshgrid(torch.arange(h, dtype=img.dtype), torch.arange(w, dtype=img.dtype), indexing="ij")
    x = 2 * ((gx + flow[:, 0]) / w - 0.5)
    y = 2 * ((gy + flow[:, 1]) / h - 0.5)
    return F.grid_sample(img, torch.stack((x, y), dim=3), align_corners=align_corners)


@pytest.mark.parametrize("align_corners", [True, False])
def test_backwarp_matches_authors_grid(align_corners: bool) -> None:
    g = torch.Generator().manual_seed(2)
    img = torch.randn(2, 3, 6, 9, generator=g, dtype=torch.float64)
    flow = 1.7 * torch.randn(2, 2, 6, 9, generator=g, dtype=torch.float64)
    want = authors_backwarp(img, flow, align_corners)
    torch.testing.assert_close(fmu_backwarp(img, flow, align_corners), want, rtol=0, atol=1e-12)


def test_window_shapes_times_padding_float64() -> None:
    model = tiny_model().double()
    g = torch.Generator().manual_seed(3)
    lr = torch.rand(1, 4, 3, 10, 14, generator=g, dtype=torch.float64)
    with torch.no_grad():
        out = model.forward_window(lr, times=(0.25, 0.5, 0.8))
        # same as padding by replication to 12 x 16 by hand and cropping
        padded = F.pad(lr[0], (0, 2, 0, 2), mode="replicate")[None]
        ref = model.forward_window(padded, times=(0.25, 0.5, 0.8))
    assert isinstance(out, FMUOutput) and out.times == (0.25, 0.5, 0.8)
    assert out.hr_keyframes.shape == (1, 4, 3, 40, 56) and out.hr_keyframes.dtype == torch.float64
    assert out.hr_interp.shape == (1, 3, 3, 40, 56)
    assert out.lr_interp.shape == (1, 3, 3, 10, 14)
    assert out.hr_detail.shape == out.hr_structure.shape == (1, 4, 3, 40, 56)
    torch.testing.assert_close(out.hr_interp, ref.hr_interp[..., :40, :56], rtol=0, atol=0)
    torch.testing.assert_close(out.lr_interp, ref.lr_interp[..., :10, :14], rtol=0, atol=0)
    # different t give different frames; the LR frame stays a convex blend of warped inputs
    assert not torch.allclose(out.hr_interp[:, 0], out.hr_interp[:, 2])
    assert float(out.lr_interp.min()) >= -1e-9 and float(out.lr_interp.max()) <= 1 + 1e-9


def test_determinism_batch_and_align_corners_switch() -> None:
    model = tiny_model(1)
    lr = torch.rand(2, 4, 3, 8, 12)
    with torch.no_grad():
        a = model.forward_window(lr, 0.5)
        b = model.forward_window(lr, 0.5)
        one = model.forward_window(lr[1:], 0.5)
        legacy_off = model.forward_window(lr, 0.5, authors_compat=True)  # the code as it runs today
    for name in ("hr_keyframes", "hr_interp", "lr_interp"):
        assert torch.equal(getattr(a, name), getattr(b, name))
        torch.testing.assert_close(getattr(one, name), getattr(a, name)[1:], rtol=0, atol=1e-5)
    assert model.align_corners is True and model.config["authors_compat"] is False
    assert (legacy_off.lr_interp - a.lr_interp).abs().max() > 1e-3
    torch.testing.assert_close(legacy_off.hr_keyframes, a.hr_keyframes)  # RSDN has no warp


def test_authors_compat_config_and_old_name() -> None:
    from stvsr.models.fmu import FMUConfig, fmu

    assert FMU(**TINY).config["authors_compat"] is False  # the default of every stvsr model
    legacy = fmu(**TINY, align_corners=False)  # a stvsr 0.1.0 config: the authors' code as it runs today
    assert legacy.config["authors_compat"] is True and legacy.align_corners is False
    assert FMU(FMUConfig(**TINY), rsdn_blocks=2).config == {**FMU(**TINY).config, "rsdn_blocks": 2}


def test_stvsr_contract_windows() -> None:
    model = tiny_model(2)
    lr = torch.rand(1, 3, 3, 8, 8)
    with torch.no_grad():
        video = model(lr, scale=4.0, times=(0.4,))
        raw = model(lr, scale=(4, 4), times=0.4, clamp=False)
        w0 = model.forward_window(lr[:, [0, 0, 1, 2]], 0.4)
        w1 = model.forward_window(lr[:, [0, 1, 2, 2]], 0.4)
    assert video.shape == (1, 5, 3, 32, 32)
    assert float(video.min()) >= 0.0 and float(video.max()) <= 1.0
    want = torch.stack([w0.hr_keyframes[:, 1], w0.hr_interp[:, 0], w1.hr_keyframes[:, 1], w1.hr_interp[:, 0],
                        w1.hr_keyframes[:, 2]], dim=1)
    torch.testing.assert_close(raw, want)
    torch.testing.assert_close(video, want.clamp(0, 1))


def test_backward_reaches_every_parameter() -> None:
    torch.manual_seed(4)
    model = FMU(**TINY)  # the real PWC-Net
    out = model.forward_window(torch.rand(1, 4, 3, 8, 8), 0.5)
    (out.hr_keyframes.mean() + out.hr_interp.mean() + out.lr_interp.mean()).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing, missing
    zero = [n for n, p in model.named_parameters() if float(p.grad.abs().sum()) == 0]
    # only a PReLU whose input happens to be all positive may get an exact zero
    assert all(".block." in n and n.endswith("weight") and model.get_parameter(n).numel() == 1 for n in zero), zero


def test_errors() -> None:
    model = tiny_model()
    with pytest.raises(ValueError, match="exactly 4 frames"):
        model.forward_window(torch.rand(1, 3, 3, 8, 8))
    with pytest.raises(ValueError, match="exactly 4"):
        model(torch.rand(1, 2, 3, 8, 8), scale=2.0)
    with pytest.raises(ValueError, match="times"):
        model.forward_window(torch.rand(1, 4, 3, 8, 8), times=1.0)
    with pytest.raises(ValueError, match="at least 2 frames"):
        model(torch.rand(1, 1, 3, 8, 8))
    with pytest.raises(ValueError, match="3 channels"):
        model.forward_window(torch.rand(1, 4, 1, 8, 8))
    with pytest.raises(TypeError, match="floating"):
        model.forward_window(torch.zeros(1, 4, 3, 8, 8, dtype=torch.uint8))
