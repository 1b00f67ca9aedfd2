from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stvsr.video.timegrid import StreamPlanner, as_fraction, output_times, plan, target_fps


def times(n: int, fps: float) -> list[float]:
    return [k / fps for k in range(n)]


@pytest.mark.parametrize(
    ("n", "fps_in", "fps_out", "expected"),
    [(30, 30, 24, 24), (24, 24, 60, 58), (10, 25, 50, 19), (10, 25, 25, 10), (31, 30, 24, 25), (5, 24, 30, 6)],
)
def test_frame_counts(n: int, fps_in: float, fps_out: float, expected: int) -> None:
    assert len(plan(times(n, fps_in), as_fraction(fps_out))) == expected


def test_x2_is_key_then_half() -> None:
    samples = plan(times(4, 25), Fraction(50))
    assert [(s.i, s.t) for s in samples] == [(0, 0.0), (0, 0.5), (1, 0.0), (1, 0.5), (2, 0.0), (2, 0.5), (3, 0.0)]
    assert [round(s.time, 9) for s in samples] == [round(k / 50, 9) for k in range(7)]


def test_30_to_24_fractions() -> None:
    samples = plan(times(30, 30), Fraction(24))
    # output k at k/24 s = 1.25 k input frames
    for s in samples:
        pos = s.index * 30 / 24
        assert s.i == int(pos + 1e-9)
        assert s.t == pytest.approx(pos - int(pos + 1e-9), abs=1e-9)


def test_ntsc_rates_and_multiplier() -> None:
    assert as_fraction(29.97) == Fraction(30000, 1001)
    assert as_fraction(59.94) == Fraction(60000, 1001)
    assert as_fraction(23.976) == Fraction(24000, 1001)
    assert as_fraction(24) == 24
    assert target_fps("x2", Fraction(25)) == 50
    assert target_fps("x2.5", Fraction(24)) == 60
    assert target_fps(None, Fraction(30)) == 30
    samples = plan(times(25, 25), as_fraction(59.94))
    assert len(samples) == int(24 / 25 * 60000 / 1001) + 1


def test_variable_frame_rate_uses_real_times() -> None:
    in_t = [0.0, 0.1, 0.15, 0.4]
    samples = plan(in_t, Fraction(20))  # every 0.05 s
    assert [(s.i, round(s.t, 6)) for s in samples] == [
        (0, 0.0), (0, 0.5), (1, 0.0), (2, 0.0), (2, 0.2), (2, 0.4), (2, 0.6), (2, 0.8), (3, 0.0)
    ]


def test_cuts_repeat_nearest_frame() -> None:
    samples = plan(times(3, 10), Fraction(40), cuts={0})
    between = [s for s in samples if 0 < s.time < 0.1]
    assert [(s.i, s.t) for s in between] == [(0, 0.0), (1, 0.0), (1, 0.0)]
    assert all(s.t in (0.0, 0.25, 0.5, 0.75) for s in samples)


@given(n=st.integers(2, 40), fin=st.sampled_from([24, 25, 30, 50, 60]), fout=st.sampled_from([12, 24, 25, 30, 48, 60]))
def test_samples_are_consistent(n: int, fin: int, fout: int) -> None:
    in_t = times(n, fin)
    samples = plan(in_t, Fraction(fout))
    assert samples[0].i == 0 and samples[0].t == 0.0
    for s in samples:
        assert 0 <= s.t < 1
        assert 0 <= s.i < n
        rebuilt = in_t[s.i] + s.t * (in_t[s.i + 1] - in_t[s.i]) if s.t else in_t[s.i]
        assert rebuilt == pytest.approx(s.time, abs=1e-9)
    assert samples[-1].time <= in_t[-1] + 1e-9
    assert len(samples) == len(output_times(in_t, Fraction(fout)))


def test_errors() -> None:
    with pytest.raises(ValueError, match="fps"):
        as_fraction(0)
    with pytest.raises(ValueError, match="fps"):
        as_fraction(-24)
    with pytest.raises(ValueError, match="fps"):
        as_fraction("abc")
    with pytest.raises(TypeError, match="fps"):
        as_fraction(None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="increasing"):
        plan([0.0, 0.1, 0.1], Fraction(10))


@given(
    n=st.integers(1, 30),
    fin=st.sampled_from([24, 25, 30, 60]),
    fout=st.sampled_from([10, 24, 25, 30, 50, 60]),
    cuts=st.sets(st.integers(0, 28), max_size=4),
)
def test_stream_planner_equals_plan(n: int, fin: int, fout: int, cuts: set[int]) -> None:
    in_t = times(n, fin)
    cuts = {c for c in cuts if c < n - 1}
    planner = StreamPlanner(Fraction(fout))
    streamed = []
    for k, t in enumerate(in_t):
        streamed += planner.push(t, cut=(k - 1) in cuts)
    streamed += planner.finish()
    assert streamed == plan(in_t, Fraction(fout), cuts=cuts)
