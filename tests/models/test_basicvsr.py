"""BasicVSR and the SpyNet zoo entry: shapes, parameter counts, determinism, gradients,
conversion from BasicSR and mmedit key layouts (strict), errors."""

from __future__ import annotations

import re

import pytest
import torch

import stvsr
from stvsr.models._base import CheckpointError
from stvsr.models.basicvsr import (
    BasicVSR,
    SpyNetFlow,
    basicvsr,
    basicvsr_state_dict,
    convert_basicvsr,
    convert_spynet,
    spynet,
)
from stvsr.zoo._catalog import get_entry

TINY = {"num_feat": 8, "num_block": 2}


@pytest.fixture(scope="module")
def tiny() -> BasicVSR:
    torch.manual_seed(0)
    m = basicvsr(**TINY).eval()
    m.requires_grad_(False)
    return m


def _to_basicsr(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Our keys -> BasicSR's (SpyNet convs at even Sequential indices, no ``.conv``)."""
    pattern = re.compile(r"^(spynet\.basic_module\.\d+\.basic_module\.)(\d+)\.conv\.(weight|bias)$")
    out = {}
    for k, v in sd.items():
        m = pattern.match(k)
        out[f"{m.group(1)}{2 * int(m.group(2))}.{m.group(3)}" if m else k] = v
    return out


def _to_mmedit(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    ren = {
        "backward_trunk.": "backward_resblocks.",
        "forward_trunk.": "forward_resblocks.",
        "upconv1.": "upsample1.upsample_conv.",
        "upconv2.": "upsample2.upsample_conv.",
    }
    out = {}
    for k, v in sd.items():
        for a, b in ren.items():
            if k.startswith(a):
                k = b + k[len(a) :]
        out["generator." + k] = v
    return out


def test_parameter_counts_and_config() -> None:
    full = basicvsr()
    assert sum(p.numel() for p in full.parameters()) == 6_291_311 == get_entry("basicvsr").card["params"]
    assert sum(p.numel() for p in spynet().parameters()) == 1_440_300 == get_entry("spynet").card["params"]
    assert full.config == {"num_feat": 64, "num_block": 30}
    assert set(basicvsr(**full.config).state_dict()) == set(full.state_dict())


@pytest.mark.parametrize(("t", "h", "w"), [(2, 12, 17), (1, 9, 8)])
def test_shapes_any_size(tiny: BasicVSR, t: int, h: int, w: int) -> None:
    out = tiny(torch.rand(2, t, 3, h, w))
    assert out.shape == (2, t, 3, 4 * h, 4 * w)
    assert float(out.min()) >= 0 and float(out.max()) <= 1


def test_determinism_and_float64(tiny: BasicVSR) -> None:
    x = torch.rand(1, 2, 3, 10, 12)
    assert torch.equal(tiny(x), tiny(x))
    m64 = basicvsr(**TINY).double().eval()
    assert m64(x.double()).dtype == torch.float64


def test_batch_items_independent(tiny: BasicVSR) -> None:
    x = torch.rand(2, 2, 3, 10, 12)
    torch.testing.assert_close(tiny(x)[1:], tiny(x[1:]), rtol=1e-4, atol=1e-5)


def test_zero_network_is_bilinear_upsampling() -> None:
    m = basicvsr(**TINY).eval()
    for p in m.parameters():
        torch.nn.init.zeros_(p)
    x = torch.rand(1, 2, 3, 8, 8)
    ref = torch.nn.functional.interpolate(x[0], scale_factor=4, mode="bilinear", align_corners=False)
    torch.testing.assert_close(m(x, clamp=False)[0], ref)


def test_backward_reaches_every_parameter() -> None:
    torch.manual_seed(0)
    m = basicvsr(**TINY)
    m(torch.rand(1, 2, 3, 16, 16), clamp=False).square().mean().backward()
    missing = [n for n, p in m.named_parameters() if p.grad is None or not bool(p.grad.abs().sum() > 0)]
    assert not missing


def test_convert_basicsr_and_mmedit_layouts() -> None:
    torch.manual_seed(2)
    src = basicvsr(**TINY).state_dict()
    for authors in (_to_basicsr(src), _to_mmedit(_to_basicsr(src)), _to_mmedit(src)):
        assert set(basicvsr_state_dict(authors)) == set(src)
        m = convert_basicvsr(authors)
        assert m.config == TINY
        assert all(torch.equal(m.state_dict()[k], v) for k, v in src.items())
    assert "spynet.basic_module.3.basic_module.8.weight" in _to_basicsr(src)
    assert isinstance(stvsr.convert_checkpoint("basicvsr", _to_basicsr(src)), BasicVSR)


def test_convert_is_strict() -> None:
    src = _to_basicsr(basicvsr(**TINY).state_dict())
    with pytest.raises(CheckpointError, match="unexpected"):
        convert_basicvsr(dict(src, **{"extra.weight": torch.zeros(1)}))
    with pytest.raises(CheckpointError, match="missing"):
        convert_basicvsr({k: v for k, v in src.items() if k != "conv_hr.bias"})
    with pytest.raises(ValueError, match="odd|even"):
        convert_basicvsr(dict(src, **{"spynet.basic_module.0.basic_module.1.weight": torch.zeros(1)}))
    with pytest.raises(ValueError, match="BasicVSR"):
        convert_basicvsr({"foo": torch.zeros(1)})


def test_convert_spynet_from_basicvsr_or_alone() -> None:
    torch.manual_seed(3)
    src = _to_basicsr(basicvsr(**TINY).state_dict())
    from_full = convert_spynet(src)
    alone = {k[len("spynet.") :]: v for k, v in src.items() if k.startswith("spynet.")}
    from_alone = convert_spynet(alone)
    assert isinstance(from_full, SpyNetFlow)
    for k, v in from_full.state_dict().items():
        assert torch.equal(v, from_alone.state_dict()[k])
    with pytest.raises(CheckpointError):
        convert_spynet(dict(alone, **{"extra": torch.zeros(1)}))


def test_spynet_entry_contract() -> None:
    m = spynet().eval()
    flow = m(torch.rand(1, 3, 20, 24), torch.rand(1, 3, 20, 24))
    assert flow.shape == (1, 2, 20, 24)
    assert m.config == {}
    with pytest.raises(ValueError, match="no options"):
        spynet(foo=1)


def test_errors(tiny: BasicVSR) -> None:
    with pytest.raises(ValueError, match="scale must be 4"):
        tiny(torch.rand(1, 2, 3, 8, 8), scale=2)
    with pytest.raises(ValueError, match="5-D"):
        tiny(torch.rand(2, 3, 8, 8))
    with pytest.raises(ValueError, match="3 channels"):
        tiny(torch.rand(1, 2, 4, 8, 8))
    with pytest.raises(ValueError, match="num_block"):
        BasicVSR(num_block=0)
