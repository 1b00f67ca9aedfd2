"""MsMr's bicubic-like floor: the LR frame carried in three feature channels (stvsr.train.warmstart)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from stvsr.models.msmr import MsMr
from stvsr.train.warmstart import (
    carry_image_msmr,
    least_used_channels,
    preserve_function_msmr,
    upsampler_image_path,
)

C, K = 16, [2, 7, 11]


def _basicvsr_state(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for d in ("backward", "forward"):
        sd[f"{d}_trunk.main.0.weight"] = torch.randn(C, 3 + C, 3, 3, generator=g) * 0.1
        sd[f"{d}_trunk.main.0.bias"] = torch.randn(C, generator=g) * 0.1
        for i in range(2):
            for j in (1, 2):
                sd[f"{d}_trunk.main.2.{i}.conv{j}.weight"] = torch.randn(C, C, 3, 3, generator=g) * 0.1
    return sd


@pytest.fixture(params=["fix", "arb"])
def model(request: pytest.FixtureRequest) -> MsMr:
    torch.manual_seed(0)
    m = MsMr(variant=request.param, mid_channels=C, num_blocks=2, feat_blocks=2, sa_every=2, up_channels=8).eval()
    preserve_function_msmr(m)
    assert carry_image_msmr(m, _basicvsr_state(), K) == [
        "lr_feat_extract", "deform_align", "backward_resblocks", "forward_resblocks"]
    return m


def _upsampler_inputs(model: MsMr, lr: torch.Tensor, **kw: object) -> list[torch.Tensor]:
    seen: list[torch.Tensor] = []
    hook = model.arb_upample.register_forward_hook(lambda m, a, o: seen.append(a[0]))
    with torch.no_grad():
        model(lr, **kw)
    hook.remove()
    return seen


def test_frame_reaches_the_upsampler(model: MsMr) -> None:
    torch.manual_seed(1)
    lr = torch.rand(1, 3, 3, 12, 16)
    seen = _upsampler_inputs(model, lr, scale=2.0, times=(0.5,))
    assert len(seen) == 5  # key, mid, key, mid, key
    for i, key in enumerate(seen[::2]):
        torch.testing.assert_close(key[0, K], lr[0, i], atol=0, rtol=0)
    # mids: the mean of the two splatted key frames; with zero motion each splats onto itself
    model.spy.forward = lambda a, b: a.new_zeros(a.shape[0], 2, *a.shape[-2:])  # type: ignore[method-assign]
    static = lr[:, :1].expand(-1, 3, -1, -1, -1).contiguous()
    seen = _upsampler_inputs(model, static, scale=2.0, times=(0.5,))
    torch.testing.assert_close(seen[1][0, K], static[0, 0], atol=1e-5, rtol=1e-5)


def test_trunk_input_conv_is_basicvsrs(model: MsMr) -> None:
    """``W * [frame in K, aligned elsewhere]`` = BasicVSR's conv on ``cat[frame, aligned with K dropped]``."""
    torch.manual_seed(2)
    sd = _basicvsr_state()
    frame, aligned = torch.rand(1, 3, 10, 10), torch.randn(1, C, 10, 10)
    x = aligned.clone()
    x[:, K] = frame
    trunk = model.backward_resblocks
    first = trunk.conv1 if hasattr(trunk, "conv1") else trunk.main[0]
    dropped = aligned.clone()
    dropped[:, K] = 0
    ref = F.conv2d(torch.cat([frame, dropped], 1), sd["backward_trunk.main.0.weight"], sd["backward_trunk.main.0.bias"],
                   padding=1)
    out = first(x)
    rest = [i for i in range(C) if i not in K]
    torch.testing.assert_close(out[:, rest], ref[:, rest], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out[:, K], frame)  # and K copies the frame through


def test_output_is_the_interpolated_frame(model: MsMr) -> None:
    """After :func:`upsampler_image_path` only the carried frame reaches the output."""
    masks = upsampler_image_path(model, K, noise=0.0)
    assert masks and all(m.sum() > 0 for m in masks.values())
    torch.manual_seed(3)
    feat = torch.randn(2, C, 8, 8)
    only = torch.zeros_like(feat)
    only[:, K] = feat[:, K].abs()
    feat[:, K] = only[:, K]
    up = model.arb_upample
    torch.testing.assert_close(up(feat, 2.0, 2.0, (16, 16)), up(only, 2.0, 2.0, (16, 16)), atol=1e-5, rtol=1e-5)
    # the start is a (nearest-neighbour based) interpolation: a constant frame stays constant inside
    flat = torch.zeros(1, C, 8, 8)
    flat[:, K] = 0.4
    out = up(flat, 2.0, 2.0, (16, 16))
    torch.testing.assert_close(out[..., 4:-4, 4:-4], torch.full_like(out[..., 4:-4, 4:-4], 0.4), atol=1e-4, rtol=0)


def test_masks_cover_only_the_frame_path(model: MsMr) -> None:
    masks = upsampler_image_path(model, K)
    red = masks["arb_upample.reduce.weight"]
    assert red[:, :3].sum() == 3 * 3 * 9 and red[:, 3:].sum() == 0


def test_least_used_channels() -> None:
    sd = _basicvsr_state()
    for key, w in sd.items():  # channels 4 and 9 are never read or written
        if key.endswith("main.0.weight"):
            w[:, 3 + 4] = 0
            w[:, 3 + 9] = 0
        elif "conv1" in key:
            w[:, [4, 9]] = 0
        elif "conv2" in key:
            w[[4, 9]] = 0
    picked = least_used_channels(sd, 3)
    assert len(picked) == 3 and picked == sorted(picked) and {4, 9} <= set(picked)


def test_rejects_bad_channels(model: MsMr) -> None:
    with pytest.raises(ValueError, match="channels"):
        carry_image_msmr(model, _basicvsr_state(), [1, 1, 2])
