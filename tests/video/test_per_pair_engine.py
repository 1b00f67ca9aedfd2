"""The engine with a per-pair-times model: each pair is asked only for its own times, frames and owners unchanged."""

from __future__ import annotations

from fractions import Fraction

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from stvsr._validate import check_pair_times, is_per_pair
from stvsr.models._capabilities import Capabilities
from stvsr.models._windowed import WindowedStream, window_plan
from stvsr.video import Upscaler
from stvsr.video.timegrid import plan
from tests.video.test_pipeline import Blend, const_frames


class PairBlend(nn.Module):
    """:class:`Blend` taking per-pair times; records every call's per-pair times."""

    capabilities = Capabilities(task="stvsr", per_pair_times=True)

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[int, tuple[tuple[float, ...], ...], bool]] = []

    def forward(self, lr: torch.Tensor, scale=4.0, times=(0.5,)) -> torch.Tensor:
        b, t, c, h, w = lr.shape
        pairs = check_pair_times(times, t - 1)
        self.calls.append((t, pairs, is_per_pair(times)))
        up = F.interpolate(lr.flatten(0, 1), scale_factor=scale, mode="bilinear", align_corners=False)
        up = up.reshape(b, t, c, *up.shape[-2:])
        out = []
        for i in range(t):
            out.append(up[:, i])
            if i + 1 < t:
                out += [(1 - s) * up[:, i] + s * up[:, i + 1] for s in pairs[i]]
        return torch.stack(out, 1)


CASES = [(30, 25, 60), (24, 24, 60), (30, 30, 24), (13, 25, Fraction(50, 1)), (9, 25, 60)]


@pytest.mark.parametrize(("n", "fps_in", "fps_out"), CASES)
@pytest.mark.parametrize(("window", "overlap"), [(2, 1), (7, 2), (5, 4)])
def test_per_pair_frames_match_the_plan_and_the_flat_model(n: int, fps_in: int, fps_out, window: int,
                                                           overlap: int) -> None:
    kw = {"scale": 2.0, "fps": fps_out, "window": window, "overlap": overlap, "progress": False,
          "cut_threshold": None}
    pair, flat = PairBlend(), Blend()
    outs = list(Upscaler(pair, **kw).process(const_frames(n), fps_in=fps_in))
    ref = list(Upscaler(flat, **kw).process(const_frames(n), fps_in=fps_in))
    samples = plan([k / fps_in for k in range(n)], Fraction(fps_out))
    assert len(outs) == len(ref) == len(samples)
    for frame, same, s in zip(outs, ref, samples):
        torch.testing.assert_close(frame, torch.full_like(frame, (s.i + s.t) / 100.0), atol=1e-6, rtol=0)
        torch.testing.assert_close(frame, same, atol=1e-6, rtol=0)
    # the same windows (frames per call, number of calls): ownership is the engine's, not the times'
    assert [t for t, _, _ in pair.calls] == [t for t, _ in flat.calls]
    # every pair is asked for the times the output needs there, never more
    grid: dict[int, set[float]] = {}
    for s in samples:
        if s.t > 0:
            grid.setdefault(s.i, set()).add(round(s.t, 9))
    starts = [w.start for w in window_plan(n, window, overlap)]
    for (t, pairs, per_pair), start in zip(pair.calls, starts):
        wanted = [grid.get(start + j, set()) for j in range(t - 1)]
        if per_pair:
            assert [{round(x, 9) for x in p} for p in pairs] == wanted
        else:  # a window whose pairs all want the same times: the flat call of before
            assert all(w == wanted[0] for w in wanted)
    asked = sum(len(p) for _, pairs, _ in pair.calls for p in pairs)
    flat_asked = sum((t - 1) * len(ts) for t, ts in flat.calls)
    assert asked <= flat_asked


def test_uniform_rates_keep_the_flat_call() -> None:
    pair, flat = PairBlend(), Blend()
    kw = {"scale": 1.0, "fps": "x2", "window": 5, "overlap": 2, "progress": False, "cut_threshold": None}
    list(Upscaler(pair, **kw).process(const_frames(20), fps_in=25))
    list(Upscaler(flat, **kw).process(const_frames(20), fps_in=25))
    assert not any(per_pair for _, _, per_pair in pair.calls)
    assert [(t, p[0]) for t, p, _ in pair.calls] == flat.calls


@pytest.mark.parametrize("per_pair", [True, False])
def test_window_ownership_is_unchanged(per_pair: bool) -> None:
    """Each request comes out once, in order, from the window that owns its key frame."""

    class Req:
        def __init__(self, i: int, t: float) -> None:
            self.i, self.t = i, t

    calls: list[tuple[int, ...]] = []

    def run(lr: torch.Tensor, times) -> torch.Tensor:
        t = lr.shape[1]
        pairs = check_pair_times(times, t - 1)
        calls.append(tuple(map(len, pairs)))
        k = len(calls) - 1  # frame value: which call made it
        return torch.full((1, t + sum(map(len, pairs)), 3, 1, 1), float(k))

    caps = Capabilities(task="stvsr", per_pair_times=per_pair)
    stream = WindowedStream(run, caps, window=6, overlap=2)
    n = 23
    ts = {i: [0.0] + [(0.1 * (1 + (i * 7 + m) % 9)) for m in range(i % 3 if i < n - 1 else 0)] for i in range(n)}
    got = []
    for i in range(n):
        got += list(stream.push(torch.zeros(1, 3, 1, 1), [Req(i, t) for t in ts[i]]))
    got += list(stream.finish())
    reqs = [(r.i, r.t) for r, _ in got]
    assert reqs == [(i, t) for i in range(n) for t in ts[i]]
    plan_ = window_plan(n, 6, 2)
    for r, frame in got:
        win = plan_[int(frame.flatten()[0])]
        assert win.own_from <= r.i < win.own_to
