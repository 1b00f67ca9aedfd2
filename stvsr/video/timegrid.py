"""Output time grids: which input frames and which ``t`` make each output frame.

A video's frames sit at (possibly irregular) timestamps ``in_times`` in seconds.
For a target frame rate the output frames sit on the regular grid
``t0 + k / fps_out`` for every ``k`` whose time does not pass the last input frame
(the output spans the input's first to last timestamp: never extrapolated), so

- x2 of N frames gives 2N - 1 frames, x1 gives N, 30 -> 24 fps of 30 frames gives 24;
- variable-frame-rate input is handled through its real timestamps.

Each output frame is then a *key* frame (it coincides with an input frame, within
``1e-6`` of the gap) or lies at fraction ``t`` in (0, 1) between input frames
``i`` and ``i + 1``. Across a scene cut no frame is interpolated: the nearest
input frame is repeated instead.

Limits. An output rate above :data:`MAX_OUTPUT_FPS`, or more than
:data:`MAX_FRAMES_PER_INTERVAL` output frames between two input frames (an ``x1e6``
multiplier, ``fps=1e9``, or a variable-frame-rate file with an hours-long gap), is
refused with a ``ValueError`` before anything is built: such a plan would take
unbounded time and memory. Samples are produced lazily, one input interval at a time.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction

#: gaps closer than this (as a fraction of the input interval) snap to the key frame
SNAP = 1e-6
#: highest output frame rate accepted (frames per second)
MAX_OUTPUT_FPS = 1000
#: most output frames between two consecutive input frames (x1024 slow motion)
MAX_FRAMES_PER_INTERVAL = 1024


def as_fraction(rate: float | Fraction | str, name: str = "fps") -> Fraction:
    """A positive frame rate as an exact fraction (29.97 -> 30000/1001, 59.94 -> 60000/1001)."""
    if isinstance(rate, str):
        try:
            rate = Fraction(rate)
        except (ValueError, ZeroDivisionError) as exc:
            raise ValueError(f"{name} must be a positive number, got {rate!r}") from exc
    if isinstance(rate, bool) or not isinstance(rate, (int, float, Fraction)):
        raise TypeError(f"{name} must be a positive number, got {rate!r}")
    if not math.isfinite(float(rate)) or rate <= 0:
        raise ValueError(f"{name} must be positive and finite, got {rate!r}")
    # NTSC rates written in decimals (29.97, 59.94, 23.976) mean the /1001 family
    for base in (24, 25, 30, 48, 50, 60, 120, 240):
        ntsc = Fraction(base * 1000, 1001)
        if abs(float(rate) - float(ntsc)) < 5e-3:
            return ntsc
    frac = Fraction(rate).limit_denominator(1001)
    # a rate measured from millisecond timestamps (24.0003) means the nearby simple one
    simple = Fraction(rate).limit_denominator(16)
    return simple if abs(float(simple) - float(rate)) < 1e-3 * float(rate) else frac


def target_fps(fps: float | str | Fraction | None, fps_in: Fraction) -> Fraction:
    """Resolve a requested rate: ``None`` keeps ``fps_in``, ``"x2"``/``"x2.5"`` multiply it.

    Raises:
        ValueError: a rate that is not positive and finite, above :data:`MAX_OUTPUT_FPS`,
            or a multiplier above :data:`MAX_FRAMES_PER_INTERVAL`.
    """
    if fps is None:
        return fps_in
    if isinstance(fps, str) and fps.lower().startswith("x"):
        factor = as_fraction(fps[1:], "fps multiplier")
        if factor > MAX_FRAMES_PER_INTERVAL:
            raise ValueError(
                f"fps multiplier {fps!r} is too large: at most x{MAX_FRAMES_PER_INTERVAL} output frames per input frame"
            )
        out = fps_in * factor
    else:
        out = as_fraction(fps)
    if out > MAX_OUTPUT_FPS:
        raise ValueError(f"fps {fps!r} gives {float(out):g} frames per second; the limit is {MAX_OUTPUT_FPS}")
    return out


def _check_interval(a: float, b: float, i: int, fps_out: Fraction) -> None:
    n = (b - a) * float(fps_out)
    if n > MAX_FRAMES_PER_INTERVAL:
        raise ValueError(
            f"input frames {i} and {i + 1} are {b - a:.3f} s apart: at {float(fps_out):g} fps that needs {n:.0f} output "
            f"frames between them (the limit is {MAX_FRAMES_PER_INTERVAL}); lower the output rate, or re-encode the "
            "input at a constant frame rate (e.g. ffmpeg -i IN -vf fps=25 OUT)"
        )


@dataclass(frozen=True)
class Sample:
    """One output frame: at ``time`` seconds, made from input frames ``i`` and ``i + 1`` at ``t``.

    ``t == 0`` means input frame ``i`` itself (a key frame).
    """

    index: int
    time: float
    i: int
    t: float

    @property
    def is_key(self) -> bool:
        return self.t == 0.0


def output_times(in_times: Sequence[float], fps_out: Fraction) -> list[float]:
    """Regular output timestamps from the first to the last input timestamp (inclusive)."""
    return list(_iter_output_times(in_times, fps_out))


def _iter_output_times(in_times: Sequence[float], fps_out: Fraction) -> Iterator[float]:
    if len(in_times) == 0:
        return
    t0, t_last = float(in_times[0]), float(in_times[-1])
    step = 1.0 / float(fps_out)
    # tolerance: a grid point within a millionth of a frame of the last input still counts
    n = int(math.floor((t_last - t0) / step + SNAP)) + 1
    for k in range(n):
        yield t0 + k / float(fps_out)


def plan(in_times: Sequence[float], fps_out: Fraction, cuts: Iterable[int] = ()) -> list[Sample]:
    """Map every output timestamp to ``(i, t)`` on the input timeline.

    Args:
        in_times: strictly increasing input timestamps in seconds.
        fps_out: output frame rate.
        cuts: indices ``i`` such that a scene cut lies between input frames ``i`` and ``i + 1``.

    Returns:
        One :class:`Sample` per output frame, in time order.

    Raises:
        ValueError: times not increasing, or more than :data:`MAX_FRAMES_PER_INTERVAL`
            output frames between two input frames (checked before any sample is built).
    """
    return list(iter_plan(in_times, fps_out, cuts))


def iter_plan(in_times: Sequence[float], fps_out: Fraction, cuts: Iterable[int] = ()) -> Iterator[Sample]:
    """:func:`plan` as a generator (the samples are built as they are consumed)."""
    times = [float(t) for t in in_times]
    for i, (a, b) in enumerate(zip(times, times[1:])):
        if not b > a:
            raise ValueError(f"in_times must be strictly increasing, got {a} then {b}")
        _check_interval(a, b, i, fps_out)
    # one rule: the whole-list plan is the stream plan fed every timestamp
    cut_set = set(cuts)
    planner = StreamPlanner(fps_out)
    for j, ts in enumerate(times):
        yield from planner.push(ts, cut=j - 1 in cut_set)
    yield from planner.finish()


class StreamPlanner:
    """:func:`plan` for a stream: feed input timestamps one by one, get samples as soon as known.

    ``push(time)`` returns the samples whose output time lies at or before ``time``
    (they only need input frames up to the one just pushed); ``push(time, cut=True)``
    says a scene cut lies between the previous frame and this one. ``finish()``
    returns the rest. The concatenation equals :func:`plan` on the whole list. A push
    that would need more than :data:`MAX_FRAMES_PER_INTERVAL` samples raises ``ValueError``.
    """

    def __init__(self, fps_out: Fraction) -> None:
        self.step = 1.0 / float(fps_out)
        self.fps_out = fps_out
        self.times: list[float] = []
        self.cuts: set[int] = set()
        self.k = 0

    def _time(self, k: int) -> float:
        return self.times[0] + k / float(self.fps_out)

    def push(self, time: float, cut: bool = False) -> list[Sample]:
        if self.times and not time > self.times[-1]:
            raise ValueError(f"frame times must be strictly increasing, got {self.times[-1]} then {time}")
        self.times.append(float(time))
        n = len(self.times)
        if n >= 2 and cut:
            self.cuts.add(n - 2)
        if n < 2:
            return []
        i = n - 2
        a, b = self.times[i], self.times[i + 1]
        _check_interval(a, b, i, self.fps_out)  # bounded work and memory per pushed frame
        out: list[Sample] = []
        # samples strictly before frame i+1 (within the snap) belong to pair i
        while self._time(self.k) < b - SNAP * (b - a):
            ts = self._time(self.k)
            t = round((ts - a) / (b - a), 9)
            if t < SNAP:
                t = 0.0
            if t > 0.0 and i in self.cuts:
                out.append(Sample(self.k, ts, i if t < 0.5 else i + 1, 0.0))
            else:
                out.append(Sample(self.k, ts, i, t))
            self.k += 1
        return out

    def finish(self) -> list[Sample]:
        if not self.times:
            return []
        last = len(self.times) - 1
        out = []
        while self._time(self.k) <= self.times[-1] + SNAP * self.step:
            out.append(Sample(self.k, self._time(self.k), last, 0.0))
            self.k += 1
        return out
