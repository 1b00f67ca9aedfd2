"""MSITF: shapes, determinism, gradients, errors, converter and the regenerated Swin constants."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import stvsr
from stvsr.models import CheckpointError
from stvsr.models.msitf import (
    MSITF,
    MSITFConfig,
    _relative_coords_table,
    _relative_position_index,
    _shift_mask,
    convert_msitf,
)

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "conformance" / "msitf"
TINY = {
    "nf": 8,
    "groups": 2,
    "front_rbs": 1,
    "swin_depths": [2],
    "swin_heads": [2],
    "window_size": 4,
    "attn_heads": 2,
}


def _tiny(**kw: object) -> MSITF:
    torch.manual_seed(0)
    model = MSITF(**{**TINY, **kw})
    with torch.no_grad():  # the DCN offset heads start at zero; give them real offsets
        for name, p in model.named_parameters():
            if "conv_offset" in name:
                p.normal_(0, 0.05)
    return model.eval()


def test_param_count_and_card() -> None:
    model = MSITF()
    assert sum(p.numel() for p in model.parameters()) == 5_585_611
    assert len(model.state_dict()) == 432 - 30  # the 30 Swin constants are recomputed, not stored
    card = stvsr.model_card("msitf")
    assert card["params"] == 5_585_611 and card["conformance"] == "msitf" and card["time"] == [0.5]


@pytest.mark.parametrize(("b", "n", "hw"), [(1, 4, (4, 8)), (2, 2, (5, 7)), (1, 3, (6, 3))])
def test_shapes(b: int, n: int, hw: tuple[int, int]) -> None:
    model = _tiny()
    lr = torch.rand(b, n, 3, *hw)
    with torch.no_grad():
        out = model(lr)
        raw = model.network(lr)
    assert out.shape == raw.shape == (b, 2 * n - 1, 3, 4 * hw[0], 4 * hw[1])
    torch.testing.assert_close(out, raw.clamp(0, 1), atol=0, rtol=0)


def test_deterministic_and_batch_consistent() -> None:
    model = _tiny()
    lr = torch.rand(2, 2, 3, 4, 4)
    with torch.no_grad():
        a = model(lr, clamp=False)
        b = model(lr, clamp=False)
        single = model(lr[1:], clamp=False)
    assert torch.equal(a, b)
    torch.testing.assert_close(a[1:], single, atol=1e-5, rtol=0)


def test_authors_quirk_flag_changes_the_interpolation() -> None:
    model = _tiny(authors_compat=True)
    fixed = _tiny()  # the class default, like every stvsr model: authors_compat=False
    assert fixed.config["authors_compat"] is False
    fixed.load_state_dict(model.state_dict())
    lr = torch.rand(1, 2, 3, 4, 4)
    with torch.no_grad():
        assert not torch.allclose(model.network(lr), fixed.network(lr))


def test_backward_reaches_every_parameter() -> None:
    model = _tiny().train()
    lr = torch.rand(1, 2, 3, 4, 4)
    model(lr, clamp=False).square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not bool(p.grad.abs().sum() > 0)]
    assert not missing, missing


def test_float64() -> None:
    model = _tiny().double()
    assert model(torch.rand(1, 2, 3, 4, 4, dtype=torch.float64)).dtype == torch.float64


def test_swin_constants_match_the_authors_buffers() -> None:
    stored = load_file(str(FIXTURES / "buffers.safetensors"))
    prefix = "recon_trunk.layers.0.residual_group.blocks.1."
    torch.testing.assert_close(
        _relative_coords_table(8), stored[prefix + "attn.relative_coords_table"].float(), atol=0, rtol=0
    )
    assert torch.equal(_relative_position_index(8), stored[prefix + "attn.relative_position_index"].long())
    mask = _shift_mask(32, 32, 8, 4, torch.zeros(()))
    assert torch.equal(mask, stored[prefix + "attn_mask"].float())


def test_config_roundtrip_and_converter() -> None:
    model = _tiny()
    rebuilt = MSITF(**model.config)
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {k: v.shape for k, v in model.state_dict().items()}
    sd = {f"module.{k}": v for k, v in model.state_dict().items()}
    sd["module.recon_trunk.layers.0.residual_group.blocks.1.attn_mask"] = torch.zeros(4, 16, 16)
    loaded = convert_msitf(sd, **TINY)
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in model.state_dict().items())
    # the registry entry and the converter reproduce the authors' code
    assert loaded.config["authors_compat"] is True and stvsr.load("msitf", pretrained=False).config["authors_compat"]
    assert MSITF(MSITFConfig(**TINY), groups=4).config == {**model.config, "groups": 4}
    del sd["module.fusion.weight"]
    with pytest.raises(CheckpointError, match=r"fusion\.weight"):
        convert_msitf(sd, **TINY)


def test_clear_errors() -> None:
    model = _tiny()
    lr = torch.rand(1, 2, 3, 4, 4)
    with pytest.raises(ValueError, match="scale=4"):
        model(lr, scale=2.0)
    with pytest.raises(ValueError, match="midpoints"):
        model(lr, times=(0.25, 0.5))
    with pytest.raises(ValueError, match="at least 2 frames"):
        model(lr[:, :1])
    with pytest.raises(ValueError, match="3 channels"):
        model(torch.rand(1, 2, 1, 4, 4))
    with pytest.raises(ValueError, match="groups"):
        MSITF(**{**TINY, "groups": 3})
    with pytest.raises(ValueError, match="swin_heads"):
        MSITF(**{**TINY, "swin_heads": [3]})
