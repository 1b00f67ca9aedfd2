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
    m = rife_basicvsr(**TINY, order="vfi_first").eval()  # the tests below spell out vsr_first
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


def _stage_inputs(model: RifeBasicVSR, lr: torch.Tensor, **kwargs: object) -> dict[str, list[tuple[int, ...]]]:
    """Shapes of the videos each stage was called with during one ``model(lr, **kwargs)``."""
    seen: dict[str, list[tuple[int, ...]]] = {"vfi": [], "vsr": []}
    hooks = [
        getattr(model, name).register_forward_pre_hook(lambda _m, args, name=name: seen[name].append(tuple(args[0].shape)))
        for name in seen
    ]
    try:
        model(lr, **kwargs)
    finally:
        for h in hooks:
            h.remove()
    return seen


@pytest.mark.parametrize("times", [(0.5,), (0.25, 0.75)])
def test_order_changes_what_each_stage_sees(tiny: RifeBasicVSR, times: tuple[float, ...]) -> None:
    lr = torch.rand(1, 4, 3, 10, 12)
    dense = 4 + 3 * len(times)
    # vfi_first: RIFE at LR on the keys, BasicVSR on all 2N-1 (N + (N-1)K) frames
    assert _stage_inputs(tiny, lr, times=times) == {"vfi": [(1, 4, 3, 10, 12)], "vsr": [(1, dense, 3, 10, 12)]}
    m = rife_basicvsr(**TINY, order="vsr_first").eval()
    m.load_state_dict(tiny.state_dict())
    # vsr_first: BasicVSR on the N keys only, RIFE on the x4 keys
    assert _stage_inputs(m, lr, times=times) == {"vfi": [(1, 4, 3, 40, 48)], "vsr": [(1, 4, 3, 10, 12)]}
    assert m(lr, times=times).shape == tiny(lr, times=times).shape == (1, dense, 3, 40, 48)


def test_vsr_first_is_the_reverse_composition(tiny: RifeBasicVSR) -> None:
    m = rife_basicvsr(**TINY, order="vsr_first").eval()
    m.load_state_dict(tiny.state_dict())
    lr = torch.rand(1, 3, 3, 10, 12)
    with torch.no_grad():
        out = m(lr, times=(0.5,), clamp=False)
        keys = tiny.vsr(lr, clamp=False)
        expected = tiny.vfi(keys.clamp(0, 1), times=(0.5,))
        expected[:, ::2] = keys  # keys straight from BasicVSR (unclamped), RIFE only adds the new frames
        torch.testing.assert_close(out, expected)
        assert torch.equal(out, m(lr, times=(0.5,), clamp=False))  # deterministic
        assert not torch.allclose(out, tiny(lr, times=(0.5,), clamp=False))  # a different composition
        assert m(lr[:, :1]).shape == (1, 1, 3, 40, 48)  # one frame: BasicVSR only
        assert m(lr, scale=2).shape == (1, 5, 3, 20, 24)


@pytest.mark.parametrize("order", ["vfi_first", "vsr_first"])
def test_tta_averages_flipped_passes_per_stage(tiny: RifeBasicVSR, order: str) -> None:
    lr = torch.rand(1, 3, 3, 10, 12)
    plain = rife_basicvsr(**TINY, order=order).eval()
    plain.load_state_dict(tiny.state_dict())
    outs = {}
    for tta, passes in ((True, 2), ("flips", 4)):
        m = rife_basicvsr(**TINY, order=order, tta=tta).eval()
        m.load_state_dict(tiny.state_dict())
        assert m.config["tta"] == ("hflip" if tta is True else tta)
        seen = _stage_inputs(m, lr, times=(0.5,))
        assert len(seen["vfi"]) == len(seen["vsr"]) == passes
        with torch.no_grad():
            outs[tta] = m(lr, times=(0.5,))
            assert torch.equal(outs[tta], m(lr, times=(0.5,)))
        assert outs[tta].shape == (1, 5, 3, 40, 48)
    with torch.no_grad():
        if order == "vfi_first":
            # hflip by hand: each stage averaged with its mirrored pass before the next stage runs
            def mirror_avg(stage, x):  # type: ignore[no-untyped-def]
                return (stage(x) + stage(x.flip(-1)).flip(-1)) / 2

            dense = mirror_avg(lambda v: tiny.vfi(v, times=(0.5,)), lr)
            expected = mirror_avg(lambda v: tiny.vsr(v, clamp=False), dense).clamp(0, 1)
            torch.testing.assert_close(outs[True], expected)
        assert not torch.allclose(outs[True], plain(lr, times=(0.5,)))
        assert not torch.allclose(outs[True], outs["flips"])


def test_order_and_tta_config_round_trip_and_errors() -> None:
    m = rife_basicvsr(**TINY, order="vsr_first", tta="flips")
    assert (m.config["order"], m.config["tta"]) == ("vsr_first", "flips")
    again = rife_basicvsr(**m.config)
    assert (again.order, again.tta) == ("vsr_first", "flips")
    assert rife_basicvsr(**TINY).config["order"] == "vsr_first"  # the default since whole-Vid4 26.46 vs 25.48
    with pytest.raises(ValueError, match="order"):
        RifeBasicVSR(**TINY, order="both")
    with pytest.raises(ValueError, match="tta"):
        RifeBasicVSR(**TINY, tta="rot90")
