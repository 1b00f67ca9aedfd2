"""Per-pair times (``times=[(t, ...) for each pair]``): the same frames as the uniform call, for less work."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from stvsr._validate import check_pair_times, is_per_pair
from stvsr.models._capabilities import Capabilities
from stvsr.models._windowed import call_model, key_positions, output_index, time_counts
from stvsr.models.baselines import bicubic_blend, bicubic_repeat
from stvsr.models.msmr import msmr_arb, msmr_fix
from stvsr.models.rife import Rife
from stvsr.models.two_stage import rife_basicvsr

PAIRS = [(0.25, 0.75), (), (0.5,), (0.25, 0.5, 0.75)]  # 5 key frames; a pair with none
UNION = (0.25, 0.5, 0.75)
MSMR = {"mid_channels": 16, "num_blocks": 1, "feat_blocks": 1, "sa_every": 1, "up_channels": 8}
TWO_STAGE = {"vfi": {"widths": [8, 8, 8, 8]}, "vsr": {"num_feat": 8, "num_block": 1}}


def _clip(t: int = 5, h: int = 12, w: int = 16) -> torch.Tensor:
    return torch.rand(1, t, 3, h, w, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def _select(uniform: torch.Tensor, pairs=PAIRS, union=UNION) -> torch.Tensor:
    """The frames of a uniform-times output that a per-pair call returns, in its order."""
    k = len(union)
    idx = []
    for j, ts in enumerate(pairs):
        idx.append(output_index(j, k))
        idx += [output_index(j, k, 1 + union.index(t)) for t in ts]
    idx.append(output_index(len(pairs), k))
    return uniform[:, idx]


def _build(name: str) -> nn.Module:
    torch.manual_seed(0)
    builders = {
        "msmr_fix": lambda: msmr_fix(**MSMR),
        "msmr_arb": lambda: msmr_arb(**MSMR),
        "rife_basicvsr/vsr_first": lambda: rife_basicvsr(**TWO_STAGE, order="vsr_first"),
        "rife": lambda: Rife(widths=[8, 8, 8, 8]),
        "bicubic_blend": bicubic_blend,
        "bicubic_repeat": bicubic_repeat,
    }
    return builders[name]().double().eval()


@pytest.mark.parametrize("name", ["msmr_fix", "msmr_arb", "rife_basicvsr/vsr_first", "rife", "bicubic_blend",
                                  "bicubic_repeat"])
def test_per_pair_equals_the_uniform_frames(name: str) -> None:
    model = _build(name)
    assert model.capabilities.per_pair_times
    lr = _clip()
    scale = 1.0 if name == "rife" else 2.0
    with torch.no_grad():
        uniform = model(lr, scale=scale, times=UNION)
        per_pair = model(lr, scale=scale, times=PAIRS)
    assert per_pair.shape[1] == 5 + sum(map(len, PAIRS))
    torch.testing.assert_close(per_pair, _select(uniform), rtol=0, atol=1e-10)


def test_rife_basicvsr_vfi_first_runs_basicvsr_once_over_the_frames_made() -> None:
    """vfi_first: RIFE makes only the asked frames; BasicVSR's recurrence then sees exactly those."""
    model = rife_basicvsr(**TWO_STAGE, order="vfi_first").double().eval()
    lr = _clip()
    with torch.no_grad():
        dense = _select(model.vfi(lr, times=UNION))
        torch.testing.assert_close(model.vfi(lr, times=PAIRS), dense, rtol=0, atol=1e-12)
        expected = model.vsr(dense, clamp=False).clamp(0, 1)
        torch.testing.assert_close(model(lr, times=PAIRS), expected, rtol=0, atol=1e-10)
        # the same times at every pair, given per pair, is the flat call
        torch.testing.assert_close(model(lr, times=[(0.5,)] * 4), model(lr, times=(0.5,)), rtol=0, atol=0)


def test_key_positions_and_counts() -> None:
    assert key_positions([]) == [0]
    assert key_positions([1, 1]) == [0, 2, 4] == [output_index(j, 1) for j in range(3)]
    assert key_positions([2, 0, 1]) == [0, 3, 4, 6]
    assert time_counts((0.5,), 4) == (1, 1, 1)
    assert time_counts(((0.5,), (), (0.25, 0.75)), 4) == (1, 0, 2)


def test_check_pair_times() -> None:
    assert check_pair_times(0.5, 2) == ((0.5,), (0.5,))
    assert check_pair_times([0.25, 0.75], 1) == ((0.25, 0.75),)
    assert check_pair_times([[0.5], []], 2) == ((0.5,), ())
    assert check_pair_times(torch.tensor([[0.5], [0.25]]), 2) == ((0.5,), (0.25,))
    assert is_per_pair([(0.5,)]) and not is_per_pair((0.5,)) and not is_per_pair(())


@pytest.mark.parametrize(
    ("times", "error", "match"),
    [
        ([(0.5,)] * 3, ValueError, r"times holds 3 per-pair sequence\(s\).*T - 1 = 4"),
        ([(0.5,), (), (1.5,), ()], ValueError, r"times\[2\] must lie in \(0, 1\)"),
        ([(0.5,), 0.5, (), ()], TypeError, "mixes numbers and sequences"),
        ([0.5, (0.5,)], TypeError, "mixes numbers and sequences"),
        (["ab", (), (), ()], TypeError, r"times\[0\] must be a float or a sequence"),
    ],
)
@pytest.mark.parametrize("name", ["msmr_arb", "rife_basicvsr/vsr_first", "bicubic_blend"])
def test_bad_per_pair_times_are_refused(name: str, times, error: type[Exception], match: str) -> None:
    model = _build(name)
    with pytest.raises(error, match=match):
        model(_clip(), times=times)


class _FlatOnly(nn.Module):
    def forward(self, lr: torch.Tensor, scale=4.0, times=(0.5,)) -> torch.Tensor:  # pragma: no cover - refused
        raise AssertionError("not called")


def test_call_model_refuses_per_pair_times_for_a_flat_model() -> None:
    with pytest.raises(ValueError, match="one flat sequence of times"):
        call_model(_FlatOnly(), Capabilities(task="stvsr"), _clip().float(), [(0.5,)] * 4, (12, 16))


def test_call_model_counts_per_pair_frames() -> None:
    model = _build("bicubic_blend").float()
    caps = model.capabilities
    y = call_model(model, caps, _clip().float(), PAIRS, (24, 32))
    assert y.shape == (1, 5 + 6, 3, 24, 32)

    class Short(nn.Module):
        capabilities = Capabilities(task="stvsr", per_pair_times=True)

        def forward(self, lr: torch.Tensor, scale=4.0, times=(0.5,)) -> torch.Tensor:
            return torch.zeros(1, 5, 3, 24, 32)

    with pytest.raises(ValueError, match=r"times \[\[0.25, 0.75\], \[\], \[0.5\], \[0.25, 0.5, 0.75\]\] per pair"):
        call_model(Short(), Short.capabilities, _clip().float(), PAIRS, (24, 32))
