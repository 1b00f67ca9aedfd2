from __future__ import annotations

import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from stvsr.layers.implicit3d import (
    ImplicitModulation3D,
    cell_centre_positions,
    corner_weights_3d,
    make_coord_1d,
    make_coord_3d,
    plan_tiles,
)


def _naive_corners(q: float, n: int) -> dict[int, tuple[int, float]]:
    """Per-axis corner choice by plain arithmetic: the input cell containing the shifted, clamped query."""
    out = {}
    for v in (-1, 1):
        qs = min(max(q + v / n + 1e-6, -1 + 1e-6), 1 - 1e-6)
        i = min(int((qs + 1) * n / 2), n - 1)
        centre = -1 + (2 * i + 1) / n
        out[v] = (i, (q - centre) * n)
    return out


@pytest.mark.parametrize(("n_in", "n_out"), [((3, 4, 5), (5, 7, 3)), ((2, 3, 3), (4, 6, 7)), ((4, 5, 2), (2, 3, 4))])
def test_corner_weights_match_float64_loops(n_in, n_out) -> None:
    q = [make_coord_1d(n, dtype=torch.float64) for n in n_out]
    indices, rels, weights = corner_weights_3d(q, n_in)
    for t, y, x in itertools.product(*(range(n) for n in n_out)):
        per_axis = [_naive_corners(float(q[a][p]), n_in[a]) for a, p in enumerate((t, y, x))]
        vols, picks = [], []
        for vt, vy, vx in itertools.product((-1, 1), repeat=3):
            (it, rt), (iy, ry), (ix, rx) = per_axis[0][vt], per_axis[1][vy], per_axis[2][vx]
            picks.append(((it, iy, ix), (rt, ry, rx)))
            vols.append(abs(rt * ry * rx) + 1e-9)
        total = sum(vols)
        for j, (idx, rel) in enumerate(picks):
            assert tuple(int(indices[j][a][p]) for a, p in enumerate((t, y, x))) == idx
            for a, p in enumerate((t, y, x)):
                assert float(rels[j][a][p]) == pytest.approx(rel[a], abs=1e-12)
            assert float(weights[j][t, y, x]) == pytest.approx(vols[7 - j] / total, abs=1e-12)


def test_weights_interpolate_linearly_at_cell_centres() -> None:
    # interior queries: sum_j w_j * centre_j == q, i.e. trilinear interpolation at the cell-centred time
    n_in, n_out = (4, 5, 6), (7, 9, 11)
    q = [make_coord_1d(n, dtype=torch.float64) for n in n_out]
    indices, _, weights = corner_weights_3d(q, n_in)
    pos = torch.zeros(n_out, dtype=torch.float64)
    for j in range(8):
        pos += weights[j] * indices[j][0].double()[:, None, None]
    expect = torch.tensor(cell_centre_positions(n_in[0], n_out[0]), dtype=torch.float64)
    inside = (expect >= 0) & (expect <= n_in[0] - 1)
    assert torch.allclose(pos[inside, 0, 0], expect[inside], atol=1e-7)
    assert torch.allclose(sum(weights), torch.ones(n_out, dtype=torch.float64))


def test_cell_centre_positions() -> None:
    assert cell_centre_positions(7, 4) == pytest.approx([0.375, 2.125, 3.875, 5.625])
    assert cell_centre_positions(4, 5) == pytest.approx([-0.1, 0.7, 1.5, 2.3, 3.1])
    assert cell_centre_positions(4, 7)[0] == pytest.approx(-3 / 14)


def test_make_coord_3d_layout() -> None:
    g = make_coord_3d((2, 3, 4), dtype=torch.float64)
    assert g.shape == (2, 3, 4, 3)
    assert torch.allclose(g[1, 2, 3], torch.tensor([0.5, 2 / 3, 0.75], dtype=torch.float64), atol=1e-15)


def _module(c: int = 3, dtype: torch.dtype = torch.float64) -> ImplicitModulation3D:
    torch.manual_seed(0)
    m = ImplicitModulation3D(c, hidden=16).to(dtype)
    return m


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(("n_in", "size"), [((3, 4, 5), (5, 9, 7)), ((4, 8, 8), (2, 4, 4)), ((2, 3, 3), (6, 17, 10))])
def test_chunked_equals_unchunked(dtype, n_in, size) -> None:
    m = _module(dtype=dtype)
    feat = torch.rand(2, 3, *n_in, dtype=dtype)
    per_voxel = 2 * m.bytes_per_voxel(feat.element_size())
    # equal up to float summation order inside the convolutions
    tol = 1e-14 if dtype == torch.float64 else 2e-6
    with torch.no_grad():
        full = m(feat, size, max_chunk_bytes=None)
        for budget in (per_voxel * min(40, math.prod(size) // 4), per_voxel * math.prod(size) // 3):
            assert plan_tiles(size, per_voxel, budget) != size
            tiled = m(feat, size, max_chunk_bytes=budget)
            assert (tiled - full).abs().max() <= tol, budget


@settings(max_examples=30, deadline=None)
@given(
    size=st.tuples(st.integers(1, 40), st.integers(1, 200), st.integers(1, 200)),
    per_voxel=st.integers(100, 10_000),
    budget=st.integers(10_000, 10_000_000),
)
def test_plan_tiles_respects_budget(size, per_voxel, budget) -> None:
    tile = plan_tiles(size, per_voxel, budget)
    assert all(1 <= t <= s for t, s in zip(tile, size, strict=True))
    ext = [min(t + 2, s) for t, s in zip(tile, size, strict=True)]
    if tile != (1, 1, 1):
        assert ext[0] * ext[1] * ext[2] * per_voxel <= budget


def test_shapes_and_gradcheck() -> None:
    m = _module(c=2)
    out = m(torch.rand(1, 2, 2, 3, 3, dtype=torch.float64), (3, 4, 5))
    assert out.shape == (1, 3, 3, 4, 5)
    feat = torch.rand(1, 2, 1, 2, 2, dtype=torch.float64, requires_grad=True)
    budget = m.bytes_per_voxel(8) * 20  # row tiles
    assert plan_tiles((2, 5, 3), m.bytes_per_voxel(8), budget)[1] < 5
    assert torch.autograd.gradcheck(lambda f: m(f, (2, 5, 3), max_chunk_bytes=budget), (feat,))


def test_same_size_is_exact_and_float32_close_to_float64() -> None:
    m64 = _module()
    feat = torch.rand(1, 3, 3, 5, 6, dtype=torch.float64)
    ref = m64(feat, (3, 5, 6))
    out32 = m64.float()(feat.float(), (3, 5, 6))
    assert (out32.double() - ref).abs().max() < 1e-5


def test_errors() -> None:
    m = _module()
    with pytest.raises(ValueError, match="channels before time"):
        m(torch.rand(1, 4, 2, 3, 3, dtype=torch.float64), (2, 3, 3))
    with pytest.raises(ValueError, match="positive"):
        m(torch.rand(1, 3, 2, 3, 3, dtype=torch.float64), (0, 3, 3))


def test_large_feature_path_equals_unchunked() -> None:
    # a budget below the feature's own size: banded shortcut and gathers from a channels-first view
    m = _module()
    feat = torch.rand(1, 3, 4, 16, 16, dtype=torch.float64)
    with torch.no_grad():
        full = m(feat, (2, 4, 4), max_chunk_bytes=None)
        small = m(feat, (2, 4, 4), max_chunk_bytes=10_000)
    assert feat.numel() * 8 > 10_000
    assert (small - full).abs().max() <= 1e-14
