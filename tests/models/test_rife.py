"""RIFE HDv3 model: both call forms, padding, conversion (strict key mapping), errors."""

from __future__ import annotations

import pytest
import torch

import stvsr
from stvsr.models._base import CheckpointError
from stvsr.models.rife import Rife, convert_rife_hdv3, rife_hdv3, rife_state_dict
from stvsr.zoo._catalog import get_entry

TINY = [8, 8, 8, 8]


@pytest.fixture(scope="module")
def model() -> Rife:
    torch.manual_seed(0)
    m = rife_hdv3(widths=TINY).eval()
    m.requires_grad_(False)
    return m


def _authors_sd(widths: list[int] = TINY) -> dict[str, torch.Tensor]:
    """A state_dict in the authors' flownet.pkl layout (module. prefix, teacher, refine nets)."""
    torch.manual_seed(1)
    sd = {"module." + k[len("ifnet.") :]: v.clone() for k, v in Rife(widths=widths).state_dict().items()}
    sd["module.block_tea.lastconv.bias"] = torch.zeros(5)
    sd["module.contextnet.conv1.conv1.0.weight"] = torch.zeros(16, 3, 3, 3)
    sd["module.unet.conv.bias"] = torch.zeros(3)
    return sd


def test_parameter_count_and_registry() -> None:
    full = rife_hdv3()
    assert sum(p.numel() for p in full.parameters()) == 5_160_980
    assert get_entry("rife_hdv3").card["params"] == 5_160_980
    assert full.config == {"widths": [192, 128, 96, 64], "flow_scale": 1.0, "large_motion_fallback": True}
    assert set(rife_hdv3(**full.config).state_dict()) == set(full.state_dict())


def test_pair_form_any_size(model: Rife) -> None:
    a, b = torch.rand(2, 3, 37, 50), torch.rand(2, 3, 37, 50)
    out = model(a, b, 0.4)
    assert out.shape == (2, 3, 37, 50)
    assert float(out.min()) >= 0 and float(out.max()) <= 1
    assert torch.equal(out, model(a, b, 0.4))
    per_item = model(a, b, torch.tensor([0.4, 0.4]))
    torch.testing.assert_close(per_item, out)


def test_video_form_order_and_keys(model: Rife) -> None:
    lr = torch.rand(1, 3, 3, 20, 24)
    out = model(lr, times=(0.25, 0.5, 0.75))
    assert out.shape == (1, 3 + 2 * 3, 3, 20, 24)
    assert torch.equal(out[:, 0], lr[:, 0]) and torch.equal(out[:, 4], lr[:, 1]) and torch.equal(out[:, 8], lr[:, 2])
    torch.testing.assert_close(out[:, 6], model(lr[:, 1], lr[:, 2], 0.5))
    assert model(lr, scale=1.0).shape == (1, 5, 3, 20, 24)


def test_float64(model: Rife) -> None:
    m64 = rife_hdv3(widths=TINY).double().eval()
    out = m64(torch.rand(1, 3, 16, 16, dtype=torch.float64), torch.rand(1, 3, 16, 16, dtype=torch.float64), 0.5)
    assert out.dtype == torch.float64


def test_backward_reaches_every_parameter() -> None:
    torch.manual_seed(0)
    m = Rife(widths=TINY, large_motion_fallback=False)
    m(torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16), 0.5, clamp=False).mean().backward()
    assert all(p.grad is not None for p in m.parameters())


def test_conversion_strict_mapping() -> None:
    sd = _authors_sd()
    m = convert_rife_hdv3(sd)
    mapped = rife_state_dict(sd)
    assert set(mapped) == set(m.state_dict())
    assert all(torch.equal(m.state_dict()[k], v) for k, v in mapped.items())
    # exactly the teacher and refinement keys are dropped
    assert len(sd) - len(mapped) == 3
    via_api = stvsr.convert_checkpoint("rife_hdv3", sd)
    assert isinstance(via_api, Rife)


def test_conversion_rejects_bad_keys() -> None:
    sd = _authors_sd()
    extra = dict(sd, **{"module.block0.extra.weight": torch.zeros(1)})
    with pytest.raises(CheckpointError, match="unexpected"):
        convert_rife_hdv3(extra)
    missing = {k: v for k, v in sd.items() if not k.startswith("module.block3.lastconv")}
    with pytest.raises(CheckpointError, match="missing"):
        convert_rife_hdv3(missing)
    with pytest.raises(ValueError, match="RIFE"):
        convert_rife_hdv3({"foo": torch.zeros(1)})


def test_errors(model: Rife) -> None:
    a = torch.rand(1, 3, 16, 16)
    with pytest.raises(TypeError, match="frame1"):
        model(a)
    with pytest.raises(ValueError, match="same shape"):
        model(a, torch.rand(1, 3, 16, 17))
    with pytest.raises(ValueError, match="t"):
        model(a, a, 1.5)
    with pytest.raises(TypeError, match="t must be"):
        model(a, a, (0.5, 0.6))
    with pytest.raises(ValueError, match="scale"):
        model(torch.rand(1, 2, 3, 16, 16), scale=2)
    with pytest.raises(ValueError, match="at least 2 frames"):
        model(torch.rand(1, 1, 3, 16, 16))
    with pytest.raises(ValueError, match="times"):
        model(torch.rand(1, 2, 3, 16, 16), times=(0.0,))
    with pytest.raises(ValueError, match="flow_scale"):
        Rife(flow_scale=0.3)
