from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from stvsr.layers.depth_to_space import (
    ArbitraryDepthToSpace,
    CascadeDepthToSpace,
    OffsetResampler,
    block_taps,
    exact_resampling,
    fold_shuffle,
    ratio_grid,
    sample_grid,
    subpixel_coordinates,
)


def test_ratio_grid_integer_ratio_matches_half_pixel_resize() -> None:
    # pixel-centre mapping (j + .5)/r - .5 is what align_corners=False bilinear resizing does
    x = torch.randn(1, 2, 5, 6, dtype=torch.float64)
    grid = ratio_grid((10, 12), 2.0, 2.0, (5, 6))
    got = sample_grid(x, grid)
    want = F.interpolate(x, size=(10, 12), mode="bilinear", align_corners=False)
    inner = (slice(None), slice(None), slice(1, -1), slice(1, -1))  # borders: zeros vs clamping
    torch.testing.assert_close(got[inner], want[inner])


def test_ratio_grid_identity_at_ratio_one() -> None:
    x = torch.randn(2, 3, 4, 7, dtype=torch.float64)
    torch.testing.assert_close(sample_grid(x, ratio_grid((4, 7), 1.0, 1.0, (4, 7))), x)


def test_subpixel_coordinates() -> None:
    c = subpixel_coordinates((5, 4), 2.0, 1.0)
    assert c.shape == (1, 4, 5, 4)
    assert torch.allclose(c[0, 0], torch.ones(5, 4, dtype=torch.float64))
    assert torch.allclose(c[0, 1], torch.full((5, 4), 0.5, dtype=torch.float64))
    # rows: (i + .5)/2 = .25, .75, 1.25, ... -> frac - .5 = -.25, .25, -.25, ...
    assert torch.allclose(c[0, 2, :, 0], torch.tensor([-0.25, 0.25, -0.25, 0.25, -0.25], dtype=torch.float64))
    # ratio 1: (j + .5) is never an integer; +0.001 keeps exact halves on the lower cell
    assert torch.allclose(c[0, 3, 0], torch.zeros(4, dtype=torch.float64))


def test_offset_resampler_zero_offset_is_plain_grid() -> None:
    m = OffsetResampler(8).double()
    torch.nn.init.zeros_(m.offset.weight)
    torch.nn.init.zeros_(m.offset.bias)
    like = torch.zeros(1, dtype=torch.float64)
    g = m.grid((8, 10), 1.5, 1.7, (12, 17), like)
    torch.testing.assert_close(g, ratio_grid((12, 17), 1.5, 1.7, (8, 10)))


def test_offset_resampler_resizes_the_mlp_grid() -> None:
    m = OffsetResampler(8).double()
    like = torch.zeros(1, dtype=torch.float64)
    g = m.grid((8, 10), 1.5, 1.7, (12, 16), like, mlp_size=(12, 17))
    assert g.shape == (1, 12, 16, 2)


@pytest.mark.parametrize("cls", [CascadeDepthToSpace, ArbitraryDepthToSpace])
@pytest.mark.parametrize("scale,size", [((4.0, 4.0), (24, 28)), ((2.5, 3.3), (15, 20)), ((1.0, 1.0), (6, 7)),
                                        ((1.5, 1.5), (9, 10)), ((3.3, 2.0), (20, 14))])
def test_upsamplers_non_integer_sizes(cls: type, scale: tuple[float, float], size: tuple[int, int]) -> None:
    torch.manual_seed(0)
    m = cls(16, 8).eval()
    x = torch.randn(2, 16, 6, 7)
    y = m(x, scale[0], scale[1], size)
    assert y.shape == (2, 3, *size) and torch.isfinite(y).all()


def test_cascade_is_cascaded_and_arbitrary_is_parallel() -> None:
    c = CascadeDepthToSpace(16, 8)
    a = ArbitraryDepthToSpace(16, 8)
    assert c.cascade_ps_result.ps_x8.upsample_conv.weight.shape == (32, 8, 3, 3)
    assert a.cascade_ps_result.ps_x8.upsample_conv.weight.shape == (8 * 64, 16, 3, 3)
    assert "sa_up.offset.weight" in a.state_dict() and "spacial_adaptive_conv.weight_pool" in c.state_dict()


def test_grids_are_reusable_across_frames() -> None:
    torch.manual_seed(0)
    m = ArbitraryDepthToSpace(16, 8).eval()
    x = torch.randn(3, 16, 6, 7)
    grids = m.grids((6, 7), 2.5, 2.5, (15, 18), x)
    torch.testing.assert_close(m(x, 2.5, 2.5, (15, 18), grids), m(x, 2.5, 2.5, (15, 18)))


@pytest.mark.parametrize("cls", [CascadeDepthToSpace, ArbitraryDepthToSpace])
def test_gradients_reach_every_parameter(cls: type) -> None:
    torch.manual_seed(0)
    m = cls(16, 8).train()
    x = torch.randn(2, 16, 6, 6, requires_grad=True)
    m(x, 2.3, 2.7, (14, 16)).square().mean().backward()
    missing = [n for n, p in m.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing and x.grad is not None


def test_gradcheck_sample_grid() -> None:
    x = torch.randn(1, 2, 4, 5, dtype=torch.float64, requires_grad=True)
    grid = ratio_grid((5, 7), 1.3, 1.4, (4, 5))
    assert torch.autograd.gradcheck(lambda t: sample_grid(t, grid), (x,))


def test_bfloat16_close_to_float32() -> None:
    torch.manual_seed(0)
    m = ArbitraryDepthToSpace(16, 8).eval()
    x = torch.randn(1, 16, 6, 7)
    with torch.no_grad():
        ref = m(x, 2.5, 3.3, (15, 23))
        got = m.to(torch.bfloat16)(x.bfloat16(), 2.5, 3.3, (15, 23))
    assert got.dtype == torch.bfloat16
    assert (got.float() - ref).abs().max() < 0.1 * max(1.0, float(ref.abs().max()))


def _cascade_by_grids(m: CascadeDepthToSpace, x: torch.Tensor, scale: float, size: tuple[int, int]) -> torch.Tensor:
    """The cascade as written: three shuffled maps, each bilinearly sampled by its grid."""
    h, w = x.shape[-2:]
    b = m.cascade_ps_result
    x2 = b.ps_x2(m.spacial_adaptive_conv(x, scale, scale))
    x4 = b.ps_x4(x2)
    maps = [
        sample_grid(mp, ratio_grid(size, scale / r, scale / r, (r * h, r * w)))
        for r, mp in ((2, x2), (4, x4), (8, b.ps_x8(x4)))
    ]
    return m._fuse(maps, scale, scale)


@pytest.mark.parametrize("scale,size", [(4.0, (24, 28)), (4.0, (23, 27)), (2.0, (12, 14)), (1.0, (6, 7)), (3.0, (18, 21))])
def test_cascade_shortcuts_equal_the_grid_path_float64(scale: float, size: tuple[int, int]) -> None:
    """Crops and 2x2 pooling (and the x8 shuffle folded into one conv) where the grids hit pixels or
    block centres: the same values as sampling every map, in float64, with gradients."""
    torch.manual_seed(0)
    m = CascadeDepthToSpace(16, 8).double()
    x = torch.randn(2, 16, 6, 7, dtype=torch.float64, requires_grad=True)
    got = m(x, scale, scale, size)
    ref = _cascade_by_grids(m, x, scale, size)
    torch.testing.assert_close(got, ref, rtol=0, atol=1e-11)
    g_got = torch.autograd.grad(got.square().sum(), [x, *m.parameters()])
    g_ref = torch.autograd.grad(ref.square().sum(), [x, *m.parameters()])
    for a, b in zip(g_got, g_ref):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)


def test_exact_resampling_cases() -> None:
    assert [exact_resampling(r, (4.0, 4.0), (r * 6, r * 7), (24, 28)) for r in (2, 4, 8)] == ["grid", "same", "pool2"]
    assert [exact_resampling(r, (2.0, 2.0), (r * 6, r * 7), (12, 14)) for r in (2, 4, 8)] == ["same", "pool2", "grid"]
    assert exact_resampling(8, (4.0, 3.0), (48, 56), (24, 21)) == "grid"  # one axis off
    assert exact_resampling(4, (4.0, 4.0), (24, 28), (24, 30)) == "grid"  # would read past the map
    assert exact_resampling(8, (4.0, 4.0), (48, 56), (25, 28)) == "grid"


# ----------------------------------------------------------------------------- arbitrary upsampler: folded branches
def _arbitrary_with_offset(dx: float, dy: float, seed: int = 0) -> ArbitraryDepthToSpace:
    """A float64 upsampler whose learned offset is the constant ``(dx, dy)`` (input pixels of each branch)."""
    torch.manual_seed(seed)
    m = ArbitraryDepthToSpace(16, 8).double().eval()
    with torch.no_grad():
        m.sa_up.offset.weight.zero_()
        m.sa_up.offset.bias.copy_(torch.tensor([dx, dy], dtype=torch.float64))
    return m


def _arbitrary_by_grids(m: ArbitraryDepthToSpace, x: torch.Tensor, sh: float, sw: float, size: tuple[int, int]) -> torch.Tensor:
    """The arbitrary upsampler as written: three shuffled maps, each sampled by its learned grid."""
    grids = m.grids((x.shape[-2], x.shape[-1]), sh, sw, size, x)
    feat = m.spacial_adaptive_conv(x, sh, sw)
    b = m.cascade_ps_result
    maps = [sample_grid(getattr(b, f"ps_x{r}")(feat), g) for r, g in zip((2, 4, 8), grids)]
    return m._fuse(maps, sh, sw)


@settings(max_examples=25, deadline=None)
@given(
    dx=st.floats(-0.7, 0.7), dy=st.floats(-0.7, 0.7),
    sh=st.sampled_from([1.0, 2.0, 3.0, 4.0, 2.5]), sw=st.sampled_from([2.0, 3.0, 4.0, 3.5]),
    h=st.integers(3, 7), w=st.integers(3, 7), even=st.booleans(),
)
def test_arbitrary_folded_branches_equal_the_grid_path_float64(
    dx: float, dy: float, sh: float, sw: float, h: int, w: int, even: bool
) -> None:
    """Whatever the offsets, scales and sizes: folded or sampled, the same values in float64."""
    m = _arbitrary_with_offset(dx, dy)
    size = (round(sh * h), round(sw * w))
    if even:  # what MsMr asks for
        size = (size[0] + size[0] % 2, size[1] + size[1] % 2)
    x = torch.randn(2, 16, h, w, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(m(x, sh, sw, size), _arbitrary_by_grids(m, x, sh, sw, size), rtol=0, atol=1e-10)


def test_arbitrary_fold_applies_where_taps_stay_in_the_pixel() -> None:
    # x4: the x8 branch reads positions 2j + .5 + d, in its own 8x8 block for |d| < .5; the x4 branch
    # reads j + d, a neighbouring block for any d != 0
    x = torch.randn(1, 16, 5, 6, dtype=torch.float64)
    m = _arbitrary_with_offset(0.3, -0.2).requires_grad_(False)
    grids = m.grids((5, 6), 4.0, 4.0, (20, 24), x)
    taps = [block_taps(g, r, (4.0, 4.0), (r * 5, r * 6)) for r, g in zip((2, 4, 8), grids)]
    assert taps[0] is None and taps[1] is None and taps[2] is not None
    assert taps[2].shape == (16, 64)
    torch.testing.assert_close(taps[2].sum(1), torch.ones(16, dtype=torch.float64))
    # output phase (0, 0) reads y = .5 - .2 = .3, x = .5 + .3 = .8 of its block: rows 0-1, columns 0-1
    row = taps[2][0].view(8, 8)
    expected = torch.tensor([[0.7 * 0.2, 0.7 * 0.8], [0.3 * 0.2, 0.3 * 0.8]], dtype=torch.float64)
    torch.testing.assert_close(row[:2, :2], expected)
    assert row[2:].abs().sum() == 0 and row[:, 2:].abs().sum() == 0
    # at x2 the x4 and x8 branches fold; a tap past the block (d = .6 at x4 reads column 7 + .1) does not
    grids2 = m.grids((5, 6), 2.0, 2.0, (10, 12), x)
    assert [block_taps(g, r, (2.0, 2.0), (r * 5, r * 6)) is not None for r, g in zip((2, 4, 8), grids2)] == [False, True, True]
    far = _arbitrary_with_offset(0.6, 0.0).requires_grad_(False)
    assert block_taps(far.grids((5, 6), 4.0, 4.0, (20, 24), x)[2], 8, (4.0, 4.0), (40, 48)) is None
    # the forward takes the fold: the x8 branch's conv (64 -> 2,048 in MsMr) never runs at x4
    calls: list[int] = []
    m.cascade_ps_result.ps_x8.register_forward_hook(lambda *a: calls.append(8))
    m.cascade_ps_result.ps_x4.register_forward_hook(lambda *a: calls.append(4))
    m(x, 4.0, 4.0, (20, 24))
    assert calls == [4]


def test_arbitrary_fold_refuses_non_periodic_grids_and_grids_that_train() -> None:
    x = torch.randn(1, 16, 5, 6, dtype=torch.float64)
    m = _arbitrary_with_offset(0.1, 0.1)
    with torch.no_grad():
        grid = m.grids((5, 6), 4.0, 4.0, (20, 24), x)[2]
    assert block_taps(grid, 8, (4.0, 4.0), (40, 48)) is not None
    bumped = grid.clone()
    bumped[0, 13, 9, 0] += 0.01  # one output pixel's position moved: the positions no longer repeat
    assert block_taps(bumped, 8, (4.0, 4.0), (40, 48)) is None
    assert block_taps(grid.clone().requires_grad_(), 8, (4.0, 4.0), (40, 48)) is None
    assert block_taps(grid, 8, (4.0, 3.5), (40, 48)) is None  # non-integer scale
    assert m.grids((5, 6), 4.0, 4.0, (20, 24), x)[2].requires_grad  # with autograd on: the grid path
    # training: the offset MLP gets its gradient through the x8 branch as before
    m.train()
    m(x, 4.0, 4.0, (20, 24)).square().sum().backward()
    assert m.sa_up.offset.bias.grad is not None and m.sa_up.offset.bias.grad.abs().sum() > 0


def test_fold_shuffle_gradcheck() -> None:
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 2 * 16, 3, padding=1).double()
    taps = torch.softmax(torch.randn(4, 16, dtype=torch.float64), 1)  # x4 shuffle, x2 output phases
    x = torch.randn(1, 3, 3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda t, w, b: fold_shuffle(t, _with(conv, w, b), 4, taps, (2.0, 2.0), (6, 7)),
        (x, conv.weight.detach().clone().requires_grad_(), conv.bias.detach().clone().requires_grad_()),
    )


def _with(conv: torch.nn.Conv2d, weight: torch.Tensor, bias: torch.Tensor) -> torch.nn.Conv2d:
    clone = torch.nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, padding=conv.padding).double()
    del clone.weight, clone.bias
    clone.weight, clone.bias = weight, bias  # type: ignore[assignment]
    return clone
