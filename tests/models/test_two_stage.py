"""rife_basicvsr (RIFE -> BasicVSR -> resampling): the stvsr contract, composition, errors."""

from __future__ import annotations

import pytest
import torch

from stvsr.models.two_stage import RifeBasicVSR, rife_basicvsr
from stvsr.ops import imresize
from stvsr.zoo._catalog import get_entry

TINY = {"vfi": {"widths": [8, 8, 8, 8]}, "vsr": {"num_feat": 8, "num_block": 1}}


@pytest.fixture(scope="module")
def tiny() -> RifeBasicVSR:
    torch.manual_seed(0)
    m = rife_basicvsr(**TINY).eval()
    m.requires_grad_(False)
    return m


def test_parameter_count_and_config() -> None:
    full = rife_basicvsr()
    n = sum(p.numel() for p in full.parameters())
    assert n == 11_452_291 == get_entry("rife_basicvsr").card["params"]
    assert n == sum(p.numel() for p in full.vfi.parameters()) + sum(p.numel() for p in full.vsr.parameters())
    assert full.config["resampler"] == "imresize"
    assert set(rife_basicvsr(**full.config).state_dict()) == set(full.state_dict())
    assert all(k.startswith(("vfi.", "vsr.")) for k in full.state_dict())


@pytest.mark.parametrize(
    ("scale", "times", "size"),
    [(4.0, (0.5,), (40, 48)), (2.0, (0.25, 0.75), (20, 24)), (3.3, (0.5,), (33, 40)), ((2.0, 5.0), (0.5,), (20, 60))],
)
def test_contract_shapes(tiny: RifeBasicVSR, scale: object, times: tuple[float, ...], size: tuple[int, int]) -> None:
    lr = torch.rand(1, 2, 3, 10, 12)
    out = tiny(lr, scale=scale, times=times)
    assert out.shape == (1, 2 + len(times), 3, *size)
    assert float(out.min()) >= 0 and float(out.max()) <= 1


def test_x4_is_the_composition(tiny: RifeBasicVSR) -> None:
    lr = torch.rand(1, 3, 3, 10, 12)
    out = tiny(lr, scale=4, times=(0.5,))
    assert torch.equal(out, tiny(lr, scale=4, times=(0.5,)))
    dense = tiny.vfi(lr, times=(0.5,))
    torch.testing.assert_close(out, tiny.vsr(dense))
    # other scales resample the unclamped x4 result with MATLAB bicubic
    x2 = tiny(lr, scale=2, times=(0.5,))
    torch.testing.assert_close(x2, imresize(tiny.vsr(dense, clamp=False), size=(20, 24)).clamp(0, 1))


def test_bicubic_resampler_and_single_frame() -> None:
    torch.manual_seed(0)
    m = rife_basicvsr(**TINY, resampler="bicubic").eval()
    lr = torch.rand(1, 2, 3, 8, 8)
    with torch.no_grad():
        assert m(lr, scale=3).shape == (1, 3, 3, 24, 24)
        assert m(lr[:, :1], scale=4).shape == (1, 1, 3, 32, 32)


def test_backward_reaches_every_parameter() -> None:
    torch.manual_seed(0)
    m = rife_basicvsr(vfi={"widths": [8, 8, 8, 8], "large_motion_fallback": False}, vsr=TINY["vsr"])
    m(torch.rand(1, 2, 3, 16, 16), scale=4, times=(0.5,), clamp=False).mean().backward()
    assert [n for n, p in m.named_parameters() if p.grad is None] == []


def test_errors(tiny: RifeBasicVSR) -> None:
    lr = torch.rand(1, 2, 3, 8, 8)
    with pytest.raises(ValueError, match="scale"):
        tiny(lr, scale=0)
    with pytest.raises(ValueError, match="times"):
        tiny(lr, times=(1.0,))
    with pytest.raises(ValueError, match="5-D"):
        tiny(lr[0])
    with pytest.raises(ValueError, match="resampler"):
        RifeBasicVSR(resampler="nearest")
