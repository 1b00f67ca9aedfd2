from __future__ import annotations

import math

import pytest
import torch

from stvsr.models._base import CheckpointError, load_state_dict_strict
from stvsr.models._windowed import iter_windowed, plan_windows, windowed_forward
from stvsr.models.msmr import MsMr, MsMrConfig, convert_msmr_arb, convert_msmr_fix, msmr_arb, msmr_fix
from stvsr.zoo._catalog import get_entry

SMALL = {"mid_channels": 16, "num_blocks": 2, "feat_blocks": 1, "sa_every": 1, "up_channels": 8}
BUILDERS = {"fix": msmr_fix, "arb": msmr_arb}


@pytest.fixture(scope="module", params=["fix", "arb"])
def small(request: pytest.FixtureRequest) -> MsMr:
    torch.manual_seed(0)
    return BUILDERS[request.param](**SMALL).eval()


def clip(t: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(1, t, 3, h, w, generator=torch.Generator().manual_seed(seed))


# ----------------------------------------------------------------------------- full configurations
@pytest.mark.parametrize("name,params,entries", [("fix", 13_193_720, 655), ("arb", 17_066_146, 1294)])
def test_parameter_counts(name: str, params: int, entries: int) -> None:
    model = BUILDERS[name]()
    assert sum(p.numel() for p in model.parameters()) == params
    assert len(model.state_dict()) == entries
    assert get_entry(f"msmr_{name}").card["params"] == params


@pytest.mark.parametrize("name", ["fix", "arb"])
def test_full_config_small_forward(name: str) -> None:
    torch.manual_seed(0)
    model = BUILDERS[name]().eval()
    with torch.no_grad():
        out = model(clip(2, 8, 12), scale=2.0, times=(0.5,))
    assert out.shape == (1, 3, 3, 16, 24)
    assert bool(((out >= 0) & (out <= 1)).all())


# ----------------------------------------------------------------------------- shapes
@pytest.mark.parametrize("scale", [1.0, 1.5, 2.0, 3.3, 4.0, (2.5, 3.3)])
def test_scales(small: MsMr, scale: float | tuple[float, float]) -> None:
    sh, sw = scale if isinstance(scale, tuple) else (scale, scale)
    with torch.no_grad():
        out = small(clip(2, 12, 16), scale=scale)
    assert out.shape == (1, 3, 3, round(sh * 12), round(sw * 16))


@pytest.mark.parametrize("times", [(0.5,), (0.25, 0.5, 0.75), (0.1,)])
@pytest.mark.parametrize("t", [2, 3, 7])
def test_times_and_lengths(small: MsMr, times: tuple[float, ...], t: int) -> None:
    if t == 7 and len(times) == 3 and small.variant == "fix":
        pytest.skip("one long case per variant is enough")
    with torch.no_grad():
        out = small(clip(t, 8, 8), scale=2.0, times=times)
    assert out.shape == (1, t + (t - 1) * len(times), 3, 16, 16)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("scale", [4.0, 3.3, (2.5, 3.3)])
def test_odd_sizes_are_cropped(small: MsMr, scale: float | tuple[float, float]) -> None:
    sh, sw = scale if isinstance(scale, tuple) else (scale, scale)
    with torch.no_grad():
        out = small(clip(2, 37, 29), scale=scale)
    assert out.shape == (1, 3, 3, round(sh * 37), round(sw * 29))


def test_tiny_frames(small: MsMr) -> None:
    with torch.no_grad():
        out = small(clip(2, 3, 2), scale=2.0)
    assert out.shape == (1, 3, 3, 6, 4)


def test_authors_compat_size_and_no_clamp(small: MsMr) -> None:
    lr = clip(2, 30, 30)
    with torch.no_grad():
        compat = small(lr, scale=1.8, authors_compat=True)
        default = small(lr, scale=1.8)
    # padded to 32, round(1.8 * 32) = 58 (even), not cropped to round(1.8 * 30) = 54
    assert compat.shape[-2:] == (58, 58) and default.shape[-2:] == (54, 54)
    torch.testing.assert_close(default, compat[..., :54, :54].clamp(0, 1))
    with torch.no_grad():
        unclamped = small(lr, scale=1.8, clamp=False)
    torch.testing.assert_close(unclamped, compat[..., :54, :54])
    with torch.no_grad():
        odd = small(clip(2, 12, 12), scale=2.25, authors_compat=True)  # round(27) -> 26
    assert odd.shape[-2:] == (26, 26)


def test_authors_compat_attribute_and_config() -> None:
    model = msmr_arb(**SMALL, authors_compat=True).eval()
    assert model.config["authors_compat"] is True
    rebuilt = MsMr(**model.config)
    assert rebuilt.authors_compat is True and rebuilt.variant == "arb"
    from_cfg = MsMr(MsMrConfig(**model.config), num_blocks=3)  # a config, keywords replacing its fields
    assert from_cfg.config == {**model.config, "num_blocks": 3}
    assert MsMr().config["authors_compat"] is False
    with pytest.raises(TypeError, match="bogus"):
        MsMr(bogus=1)


def test_palindromic_clips(small: MsMr) -> None:
    a, b = clip(1, 8, 8, 1), clip(1, 8, 8, 2)
    with torch.no_grad():
        two = small(torch.cat([a, a], dim=1))
        four = small(torch.cat([a, b, b, a], dim=1))
    assert two.shape[1] == 3 and four.shape[1] == 7
    assert torch.isfinite(two).all() and torch.isfinite(four).all()


def test_batch_is_independent(small: MsMr) -> None:
    lr = torch.cat([clip(2, 8, 8, 3), clip(2, 8, 8, 4)], dim=0)
    with torch.no_grad():
        both = small(lr, scale=2.0)
        one = small(lr[1:], scale=2.0)
    torch.testing.assert_close(both[1:], one, atol=1e-5, rtol=1e-5)


def test_deterministic(small: MsMr) -> None:
    lr = clip(3, 8, 12)
    with torch.no_grad():
        assert torch.equal(small(lr, scale=2.5, times=(0.3,)), small(lr, scale=2.5, times=(0.3,)))


@pytest.mark.parametrize("name", ["fix", "arb"])
def test_backward_reaches_every_parameter(name: str) -> None:
    torch.manual_seed(0)
    # eval(): in train mode a conv bias right before a BatchNorm (the SA mask branch) has an
    # exactly-zero gradient, since the batch mean removes it; eval() uses running statistics
    model = BUILDERS[name](**SMALL).eval()
    with torch.no_grad():  # zero-initialised offset heads would block gradients to the convs before them
        for p in model.parameters():
            if not bool(p.any()):
                p.normal_(0.0, 1e-3)
    out = model(clip(2, 8, 8), scale=2.0, times=(0.5,))
    out.square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not bool(p.grad.abs().sum() > 0)]
    assert not missing, missing


def test_float64(small: MsMr) -> None:
    model = msmr_arb(**SMALL).eval().double()
    with torch.no_grad():
        out = model(clip(2, 8, 8).double(), scale=1.5)
    assert out.dtype == torch.float64


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "kwargs,lr,exc,match",
    [
        ({}, clip(1, 8, 8), ValueError, "at least 2 frames"),
        ({"scale": 0.0}, clip(2, 8, 8), ValueError, "scale"),
        ({"scale": -2.0}, clip(2, 8, 8), ValueError, "scale"),
        ({"times": (1.0,)}, clip(2, 8, 8), ValueError, "times"),
        ({"times": (0.0,)}, clip(2, 8, 8), ValueError, "times"),
        ({}, torch.rand(1, 2, 4, 8, 8), ValueError, "3 channels"),
        ({}, torch.rand(2, 3, 8, 8), ValueError, "5-D"),
        ({}, clip(2, 8, 8).index_put_((torch.tensor(0),), torch.tensor(float("nan"))), ValueError, "NaN"),
        ({}, torch.ones(1, 2, 3, 8, 8, dtype=torch.int64), TypeError, "floating"),
    ],
)
def test_clear_errors(small: MsMr, kwargs: dict, lr: torch.Tensor, exc: type, match: str) -> None:
    with pytest.raises(exc, match=match):
        small(lr, **kwargs)


def test_bad_config() -> None:
    with pytest.raises(ValueError, match="variant"):
        MsMr(variant="x4")
    with pytest.raises(ValueError, match="mid_channels"):
        MsMr(mid_channels=24)


# ----------------------------------------------------------------------------- checkpoints
@pytest.mark.parametrize("name,convert", [("fix", convert_msmr_fix), ("arb", convert_msmr_arb)])
def test_converter_round_trip_and_strictness(name: str, convert) -> None:
    torch.manual_seed(0)
    state = BUILDERS[name]().state_dict()
    model = convert(state)
    assert not model.training
    loaded = model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state.items())
    bad = dict(state)
    bad["extra.weight"] = torch.zeros(1)
    del bad["insert.metric.paramScale"]
    with pytest.raises(CheckpointError, match="insert.metric.paramScale"):
        convert(bad)


def _authors_layout(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """stvsr's keys -> the authors' flat PCD keys (``insert.L3_offset_conv1_1.conv.weight``, ...)."""
    import re

    branch = {"pcd_ab": "1", "pcd_ba": "2"}
    names = {"offset_conv1": "offset_conv1", "offset_conv2": "offset_conv2", "offset_conv3": "offset_conv3",
             "dcn_pack": "dcnpack", "feat_conv": "fea_conv"}
    out = {}
    for key, value in state.items():
        m = re.fullmatch(r"insert\.(pcd_ab|pcd_ba)\.(\w+)\.l(\d)\.(.+)", key)
        if m is None:
            out[key] = value
            continue
        wrap = "" if m[2] == "dcn_pack" else "conv."
        out[f"insert.L{m[3]}_{names[m[2]]}_{branch[m[1]]}.{wrap}{m[4]}"] = value
    return out


@pytest.mark.parametrize("name", ["fix", "arb"])
def test_authors_pcd_keys_load_everywhere(name: str) -> None:
    # the authors' layout (also that of the weight files stvsr 0.1.0 wrote) loads through the converter,
    # the strict loader and torch's load_state_dict alike
    torch.manual_seed(0)
    state = BUILDERS[name](**SMALL).state_dict()
    old = _authors_layout(state)
    assert "insert.L3_offset_conv1_1.conv.weight" in old and "insert.L1_dcnpack_2.conv_offset.bias" in old
    assert len(old) == len(state)
    torch.manual_seed(1)
    fresh = BUILDERS[name](**SMALL)
    fresh.load_state_dict(old)
    assert all(torch.equal(fresh.state_dict()[k], v) for k, v in state.items())
    torch.manual_seed(2)
    strict = BUILDERS[name](**SMALL)
    load_state_dict_strict(strict, old)
    assert all(torch.equal(strict.state_dict()[k], v) for k, v in state.items())


@pytest.mark.parametrize("name", ["msmr_fix", "msmr_arb"])
def test_cards(name: str) -> None:
    card = get_entry(name).tag_card(None)  # the card with the capabilities' fields
    for field in ("paper", "authors_repo", "licence", "task", "space_scale", "time", "input_frames", "colour",
                  "params", "conformance", "summary"):
        assert field in card
    assert card["conformance"] == name and card["task"] == "stvsr"


def test_capabilities_of_directly_built_models() -> None:
    # built without the registry, each variant still says what it is trained for
    fix = MsMr(variant="fix", num_blocks=1, feat_blocks=1).capabilities
    arb = MsMr(variant="arb", num_blocks=1, feat_blocks=1).capabilities
    assert fix.space_scales == (4.0,) and fix.times == (0.5,) and not fix.supports_scale(2.0)
    assert arb.arbitrary_scale and arb.arbitrary_time and arb.supports_scale(2.5)


# ----------------------------------------------------------------------------- windowed driver
def _lerp_model(lr: torch.Tensor, times: tuple[float, ...] = (0.5,)) -> torch.Tensor:
    """Stateless stand-in: key frames unchanged, intermediates linear blends."""
    frames = []
    for i in range(lr.shape[1]):
        if i:
            frames += [(1 - t) * lr[:, i - 1] + t * lr[:, i] for t in times]
        frames.append(lr[:, i])
    return torch.stack(frames, dim=1)


def test_plan_windows() -> None:
    assert plan_windows(5, 8, 2) == [(0, 5)]
    assert plan_windows(10, 4, 1) == [(0, 4), (3, 7), (6, 10)]
    assert plan_windows(11, 4, 1) == [(0, 4), (3, 7), (6, 10), (7, 11)]
    assert plan_windows(6, 3, 1) == [(0, 3), (2, 5), (3, 6)]
    with pytest.raises(ValueError, match="window"):
        plan_windows(6, 1, 0)
    with pytest.raises(ValueError, match="overlap"):
        plan_windows(6, 3, 3)
    with pytest.raises(ValueError, match="both its key"):  # an interval needs both key frames in one window
        plan_windows(6, 3, 0)


@pytest.mark.parametrize("t,window,overlap", [(9, 4, 1), (10, 3, 1), (11, 5, 2), (7, 7, 2), (13, 6, 3)])
def test_windowed_order_with_stateless_model(t: int, window: int, overlap: int) -> None:
    lr = torch.arange(t, dtype=torch.float64).view(1, t, 1, 1, 1).expand(1, t, 3, 2, 2).contiguous()
    times = (0.25, 0.75)
    got = windowed_forward(_lerp_model, lr, window, overlap, times=times)
    torch.testing.assert_close(got, _lerp_model(lr, times))


def test_windowed_equals_whole_clip_when_window_covers_it(small: MsMr) -> None:
    lr = clip(4, 8, 8)
    with torch.no_grad():
        whole = small(lr, scale=2.0, times=(0.5,))
        win = windowed_forward(small, lr, window=4, overlap=2, scale=2.0, times=(0.5,))
    assert torch.equal(whole, win)


def test_windowed_msmr_shapes_and_border_choice(small: MsMr) -> None:
    lr = clip(6, 8, 8)
    kwargs = {"scale": 1.5, "times": (0.3, 0.6)}
    with torch.no_grad():
        out = windowed_forward(small, lr, window=4, overlap=2, **kwargs)
        first = small(lr[:, 0:4], **kwargs)  # windows (0, 4), (2, 6)
        second = small(lr[:, 2:6], **kwargs)
    assert out.shape == (1, 6 + 5 * 2, 3, 12, 12)
    # key 2 (position 2): distance 1 in both windows -> earlier window; key 3 -> second window
    torch.testing.assert_close(out[:, 6], first[:, 6])
    torch.testing.assert_close(out[:, 9], second[:, 3])
    # interval (2, 3) at 2.5: distance 0.5 in the first, 0.5 in the second -> first window
    torch.testing.assert_close(out[:, 7:9], first[:, 7:9])
    assert len(list(iter_windowed(small, lr, 4, 2, **kwargs))) == out.shape[1]


def test_windowed_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        windowed_forward(_lerp_model, torch.rand(1, 1, 3, 2, 2), 4)
    with pytest.raises(ValueError, match="B, T, C"):
        windowed_forward(_lerp_model, torch.rand(1, 3, 2, 2), 4)


def test_reduced_config_is_small() -> None:
    n = sum(p.numel() for p in msmr_arb(**SMALL).parameters())
    assert n < 4_000_000 and math.isfinite(n)
