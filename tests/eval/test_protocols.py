from __future__ import annotations

from fractions import Fraction

import pytest
import torch

from stvsr.eval.protocols import PROTOCOLS, degrade, get_protocol, mod_crop, plan, prepare, run_clip, unsupported
from stvsr.models._capabilities import PLAIN_MODULE, Capabilities
from stvsr.models.baselines import BicubicBaseline
from stvsr.ops import bd_degrade, imresize


def test_vid4_bi_even_frames_in_every_produced_frame_scored():
    p = plan(get_protocol("vid4-bi-4x2x"), 34)  # Vid4 city has 34 frames
    assert p.keys == tuple(range(0, 33, 2))
    assert p.times == (0.5,)
    assert (p.window, p.overlap) == (7, 2)  # the stvsr upscale default, not the whole clip
    assert p.windows == ((0, 7), (5, 12), (10, 17))
    # frame 33 has no right key: as MsMr's test_vid4.py, a pass over the odd frames ending on it
    assert p.tail_keys == tuple(range(21, 34, 2)) and p.tail == (33,)
    assert p.scored == tuple(range(34))
    odd = plan(get_protocol("vid4-bi-4x2x"), 41)
    assert odd.scored == tuple(range(41)) and odd.tail == ()


def test_vid4_bd_windows_share_one_key_and_cover_every_frame_once():
    p = plan(get_protocol("vid4-bd-4x2x"), 15)  # 8 keys, windows of 4 sharing 2 (the engine's rule)
    assert p.windows == ((0, 4), (2, 6), (4, 8))
    assert p.scored == tuple(range(15))


def test_vimeo_septuplet_rules():
    p = plan(get_protocol("vimeo-sept-4x2x"), 7)
    assert p.keys == (0, 2, 4, 6)  # im1, im3, im5, im7
    assert p.scored == tuple(range(7))
    assert len(p.windows) == 1


def test_continuous_grid_and_rate_conversion_cell():
    grid = PROTOCOLS["continuous"]
    assert len(grid.expand()) == 6 * 5
    cell = get_protocol("continuous/s2.5_30->24fps")
    assert cell.time == Fraction(4, 5) and cell.scale == 2.5
    p = plan(cell, 21, window=None)
    assert p.keys == (0, 4, 8, 12, 16, 20)
    assert p.times == (0.25, 0.5, 0.75)
    assert p.scored == (0, 5, 10, 15, 20)
    x3 = plan(get_protocol("continuous/s4_x3"), 10, window=None)
    assert x3.keys == (0, 3, 6, 9) and x3.scored == tuple(range(10))
    with pytest.raises(ValueError, match="grid"):
        plan(grid, 10)


def test_vsr_and_vfi_rules():
    v = plan(get_protocol("vsr-bi-4x"), 5)
    assert v.keys == tuple(range(5)) and v.times == () and v.scored == tuple(range(5))
    f = plan(get_protocol("vfi-2x"), 8)  # the last frame would be a copy of an input: not scored
    assert f.scored == (1, 3, 5) and f.windows == ((0, 2), (1, 3), (2, 4)) and f.tail == ()
    clip = plan(get_protocol("vsr-bi-4x"), 9)
    assert clip.windows == ((0, 9),)  # "clip": the whole clip in one call
    with pytest.raises(ValueError, match="at least 3 frames"):
        plan(get_protocol("vid4-bi-4x2x"), 2)


def test_degradations_and_mod_crop():
    hr = torch.rand(3, 3, 36, 44, dtype=torch.float64)
    lr = degrade(hr, get_protocol("vid4-bi-4x2x"))
    assert lr.shape == (3, 3, 9, 11)
    ref = (imresize(hr, scale=0.25).clamp(0, 1) * 255).round() / 255
    torch.testing.assert_close(lr, ref)
    assert torch.equal(lr, (lr * 255).round() / 255)  # 8-bit values
    bd = degrade(hr, get_protocol("vid4-bd-4x2x"), quantize=False)
    torch.testing.assert_close(bd, bd_degrade(hr, scale=4))
    assert mod_crop(torch.zeros(1, 3, 35, 43), 4).shape[-2:] == (32, 40)
    assert mod_crop(torch.zeros(1, 3, 31, 31), 2.5).shape[-2:] == (30, 30)  # h = 12, round(2.5 * 12)
    _, gt, lr2 = prepare(get_protocol("continuous/s2.5_x2"), torch.rand(5, 3, 31, 31))
    assert gt.shape[-2:] == (30, 30) and lr2.shape == (3, 3, 12, 12)
    assert degrade(hr, get_protocol("vfi-2x")).shape == hr.shape
    bd_vsr = get_protocol("vsr-bd-4x")
    assert plan(bd_vsr, 4).scored == (0, 1, 2, 3)
    torch.testing.assert_close(degrade(hr, bd_vsr, quantize=False), bd_degrade(hr, scale=4))


def test_unsupported_protocols_from_capabilities():
    fix = Capabilities(task="stvsr", space_scales=(4.0,), times=(0.5,))
    assert unsupported(fix, get_protocol("vid4-bi-4x2x")) is None
    assert "fixed space" in unsupported(fix, get_protocol("continuous/s2_x2"))
    assert "fixed times" in unsupported(fix, get_protocol("continuous/s4_x3"))
    vsr = Capabilities(task="vsr", space_scales=(4.0,), times=())
    assert unsupported(vsr, get_protocol("vsr-bi-4x")) is None
    assert unsupported(vsr, get_protocol("vid4-bi-4x2x"))
    vfi = Capabilities(task="vfi", space_scales=(1.0,), input_frames=2)
    assert unsupported(vfi, get_protocol("vfi-2x")) is None
    assert unsupported(Capabilities(task="resampler"), get_protocol("vfi-2x"))
    # a model built directly answers for itself: MsMr's fixed variant is x4 / t = 0.5 only
    from stvsr.models.msmr import MsMr

    assert "fixed space" in unsupported(MsMr(variant="fix", num_blocks=1, feat_blocks=1).capabilities,
                                        get_protocol("continuous/s2_x2"))


def test_run_clip_blend_is_exact_on_a_linear_flat_clip():
    # spatially flat frames whose value changes linearly in time: bicubic and blending are exact
    vals = torch.arange(9, dtype=torch.float32) * 20 / 255
    frames = vals.view(9, 1, 1, 1).expand(9, 3, 16, 16).contiguous()
    res = run_clip(BicubicBaseline("blend"), get_protocol("vid4-bi-4x2x"), frames)
    assert [r[0] for r in res["frames"]] == list(range(9))
    assert [r[1] for r in res["frames"]] == [i % 2 == 0 for i in range(9)]
    assert all(r[2] == float("inf") and r[3] == pytest.approx(1.0) for r in res["frames"])
    rep = run_clip(BicubicBaseline("repeat"), get_protocol("vid4-bi-4x2x"), frames, window=3)
    assert all(r[2] == float("inf") for r in rep["frames"] if r[1])
    assert all(r[2] < 100 for r in rep["frames"] if not r[1])


def test_run_clip_rejects_unsupported_and_wrong_outputs():
    spec = Capabilities(task="stvsr", space_scales=(4.0,), times=(0.5,))
    with pytest.raises(ValueError, match="fixed space scale"):
        run_clip(BicubicBaseline(), get_protocol("continuous/s2_x2"), torch.rand(5, 3, 16, 16), spec=spec)

    class Wrong(torch.nn.Module):
        def forward(self, lr, scale, times):
            return lr

    with pytest.raises(ValueError, match="expected 5 frames"):
        run_clip(Wrong(), get_protocol("vid4-bi-4x2x"), torch.rand(5, 3, 16, 16), spec=PLAIN_MODULE)


def test_run_clip_scores_what_the_upscaler_makes_and_every_frame_of_an_even_clip():
    from stvsr.video import Upscaler

    torch.manual_seed(0)
    frames = torch.rand(10, 3, 16, 16)
    proto = get_protocol("vid4-bi-4x2x")
    res = run_clip(BicubicBaseline("blend"), proto, frames, window=3, keep_outputs=True)
    assert [r[0] for r in res["frames"]] == list(range(10))  # frame 9 too (after the last key, 8)
    p, _, lr = prepare(proto, frames, 3)
    assert (p.window, p.overlap) == (3, 2) and p.tail_keys == (5, 7, 9)
    ups = Upscaler(BicubicBaseline("blend"), scale=4.0, fps=2, window=3, overlap=2, cut_threshold=None, progress=False)
    made = list(ups.process(iter(lr), fps_in=1))
    assert len(made) == 9 and ups.windows == len(p.windows) == 3
    for g in range(9):  # bit for bit what `stvsr upscale`'s engine makes from the same key frames
        assert torch.equal(res["outputs"][g], made[g])
    tail = list(Upscaler(BicubicBaseline("blend"), scale=4.0, fps=2, window=3, overlap=2, cut_threshold=None,
                         progress=False).process(iter(degrade(prepare(proto, frames, 3)[1][[5, 7, 9]], proto)), fps_in=1))
    assert torch.equal(res["outputs"][9], tail[-1])
    assert res["windows"] == 3 + 1 and res["n_inputs"] == 5 + 3


def test_run_clip_calls_the_model_on_bounded_windows_of_a_long_clip():
    # a 61-frame clip under vid4-bi-4x2x: 31 keys, but never more than the 7-key window per call
    calls: list[int] = []

    class Recording(BicubicBaseline):
        def forward(self, lr, scale=4.0, times=(0.5,), **kw):
            calls.append(lr.shape[1])
            return super().forward(lr, scale=scale, times=times, **kw)

    frames = torch.rand(61, 3, 8, 8)
    res = run_clip(Recording("blend"), get_protocol("vid4-bi-4x2x"), frames)
    assert [r[0] for r in res["frames"]] == list(range(61))
    assert max(calls) == 7 and len(calls) == res["windows"] == len(plan(get_protocol("vid4-bi-4x2x"), 61).windows)
