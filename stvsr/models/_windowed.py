"""The one windowing engine: key frames in, the requested output frames out, in bounded memory.

``stvsr upscale`` (:class:`stvsr.video.Upscaler`), ``stvsr evaluate``
(:func:`stvsr.eval.protocols.run_clip`) and :func:`windowed_forward` all run models
through this module, so what the evaluation scores is what users get.

Model call (:func:`call_model`, the one dispatcher). Every model with the stvsr forward
contract returns ``(B, T + (T-1)*K, C, H, W)`` for ``T`` key frames and ``K`` times,
ordered ``[key0, t1..tK, key1, t1..tK, ..., key_{T-1}]`` (:func:`output_index` decodes
it). Video SR models (task ``vsr``) are called as ``model(lr)`` and return ``T`` frames;
arbitrary-scale models are asked for the exact output size (``scale = (H/h, W/w)``);
fixed-scale models run at their own scale and the result is resampled to the output size
with MATLAB-style bicubic (an interpolation of their output, not a super-resolution at
that size).

Windows (:class:`WindowScheduler`). Window ``m`` holds key frames ``[s_m, s_m + W)``
with ``s_m = m * (W - overlap)``; the last window is moved back to end on the last key
frame. Window ``m`` owns the key frames, and the frames between them and the next key,
in ``[s_m + overlap // 2, s_{m+1} + overlap // 2)`` (the first window from 0, the last
one to the end), so every output frame comes from exactly one window and, with
``overlap >= 2``, never from a window's outermost key frame unless it is the clip's.
``overlap >= 1``: the interval between two windows needs both its key frames. A clip
shorter than the window is one shorter window (a model taking an exact number of frames
gets the last frame repeated). A window is run once ``s_m + W`` key frames exist, and
the frames no later window can need are released, so memory depends on the window and
the frame size, not on the clip length.

Times (:func:`times_for`). Arbitrary-time models get exactly the ``t`` values a window's
frames need; fixed-time models get their own times, and each requested ``t`` is served by
the nearest of those or of the two key frames (:attr:`WindowedStream.inexact` says so).
A model taking one list of times for all pairs is asked, at every pair, for every ``t``
the window's frames need. A model with ``capabilities.per_pair_times`` is asked, at each
pair of the window, for the times of the output's time grid at that pair only
(``times = [(t, ...) for each pair]``, output ``[key0, pair 0's times, key1, ...]``,
decoded by :func:`key_positions`), so a non-integer frame-rate ratio costs what it
produces; where every pair of a window needs the same times the call is the flat one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from stvsr._validate import check_pair_times, check_times, is_per_pair
from stvsr.models._capabilities import Capabilities, capabilities_of
from stvsr.ops.resize import imresize

__all__ = [
    "DEFAULT_WINDOW",
    "Request",
    "Window",
    "WindowScheduler",
    "Times",
    "WindowedStream",
    "call_model",
    "default_overlap",
    "default_window",
    "iter_windowed",
    "key_positions",
    "output_index",
    "plan_windows",
    "time_counts",
    "times_for",
    "window_plan",
    "windowed_forward",
]


class Request(Protocol):
    """An output frame asked of the engine: between key frames ``i`` and ``i + 1`` at ``t`` in [0, 1)
    (``t == 0``: key frame ``i`` itself). :class:`stvsr.video.timegrid.Sample` is one."""

    @property
    def i(self) -> int: ...

    @property
    def t(self) -> float: ...


@dataclass(frozen=True)
class _Slot:
    i: int
    t: float


#: the ``times`` of one model call: one flat tuple for every pair, or one tuple per consecutive pair
Times = tuple[float, ...] | tuple[tuple[float, ...], ...]


# ------------------------------------------------------------------------------------- decoding
def key_positions(counts: Sequence[int]) -> list[int]:
    """Positions of the ``len(counts) + 1`` key frames in an output ordered ``[key0, pair 0's times, key1, ...]``
    when pair ``j`` has ``counts[j]`` times (``[0, 2, 4]`` for ``counts = (1, 1)``)."""
    out, pos = [0], 0
    for c in counts:
        pos += 1 + c
        out.append(pos)
    return out


def time_counts(times: Times, frames: int) -> tuple[int, ...]:
    """How many times each of the ``frames - 1`` pairs of a call with ``times`` (flat or per pair) gets."""
    return tuple(len(p) for p in check_pair_times(times, max(frames - 1, 0)))


def output_index(j: int, k: int, slot: int = 0) -> int:
    """Position in a model's output of slot ``slot`` after key frame ``j`` (of the window).

    The output order is ``[key0, t1..tK, key1, ...]`` with ``K = k`` times per interval:
    ``slot = 0`` is key ``j``, ``slot = s`` (1..k) its ``s``-th time, ``slot = k + 1`` key ``j + 1``.
    """
    return j * (k + 1) + slot


# ------------------------------------------------------------------------------------- dispatch
def call_model(
    model: Callable[..., torch.Tensor],
    caps: Capabilities,
    lr: torch.Tensor,
    times: Sequence[float] | Sequence[Sequence[float]],
    out_hw: tuple[int, int],
) -> torch.Tensor:
    """``lr`` ``(B, T, 3, h, w)`` -> ``(B, T + (T-1)K, 3, H, W)`` float in [0, 1] at ``out_hw`` (module docs).

    ``times`` is flat (the same for every pair) or, for a model with ``per_pair_times``, one
    sequence per pair (``T + sum of their lengths`` frames come back).

    Raises:
        ValueError: the model returned another number of frames, (arbitrary-scale models)
            another size than asked for, or NaN / infinite values.
    """
    b, t, _, h, w = lr.shape
    name = type(model).__name__
    pairs = check_pair_times(times, max(t - 1, 0))
    per_pair = is_per_pair(times)
    if per_pair and not caps.per_pair_times:
        raise ValueError(f"{name} takes one flat sequence of times for all pairs, got one per pair")
    if caps.task == "vsr":
        y = model(lr)
        expect = t
    else:
        scale = (out_hw[0] / h, out_hw[1] / w) if caps.arbitrary_scale else caps.native_scale
        y = model(lr, scale=scale, times=pairs if per_pair else check_times(times))  # type: ignore[arg-type]
        expect = t + sum(len(p) for p in pairs)
    if not isinstance(y, torch.Tensor) or y.dim() != 5 or y.shape[1] != expect:
        asked = f"times {[list(p) for p in pairs]} per pair" if per_pair else f"{len(pairs[0]) if pairs else 0} time(s)"
        raise ValueError(
            f"{name} returned {tuple(getattr(y, 'shape', ()))} for {t} key frames and {asked}: "
            f"expected {expect} frames ordered [key, t1..tK, key, ...]"
        )
    y = y.float()
    if not bool(torch.isfinite(y).all()):  # NaN would become black frames after clamping and 8-bit rounding
        raise ValueError("the model produced NaN or infinite values (corrupt weights? with float16 try float32)")
    if tuple(y.shape[-2:]) != tuple(out_hw):
        if caps.arbitrary_scale:
            raise ValueError(f"{name} returned frames of {tuple(y.shape[-2:])}; it was asked for {tuple(out_hw)}")
        y = imresize(y.flatten(0, 1), size=out_hw).unflatten(0, (b, expect))
    return y.clamp(0, 1)


def times_for(caps: Capabilities, needed: Iterable[float]) -> tuple[tuple[float, ...], dict[float, float | None]]:
    """The ``times`` to ask for and how each needed ``t`` (> 0) maps onto them.

    The mapping gives the model time serving ``t``, or 0.0 / 1.0 for the key frame before /
    after (a fixed-time model's nearest frame).
    """
    want = sorted({float(t) for t in needed if t > 0})
    if caps.task == "vsr":
        return (), {t: (0.0 if t < 0.5 else 1.0) for t in want}
    if caps.arbitrary_time:
        return (tuple(want) or (0.5,)), {t: t for t in want}
    fixed = tuple(caps.times or ())
    mapping: dict[float, float | None] = {}
    for t in want:
        cands = [(abs(t - f), f) for f in fixed] + [(t, 0.0), (1 - t, 1.0)]
        mapping[t] = min(cands)[1]
    return fixed, mapping


# ------------------------------------------------------------------------------------- windows
#: key frames per model call when nobody says otherwise (``stvsr upscale`` and the evaluation)
DEFAULT_WINDOW = 7


def default_window(caps: Capabilities) -> int:
    """The window of a model: its exact frame count (pair models: 2), else :data:`DEFAULT_WINDOW`."""
    return caps.input_frames or DEFAULT_WINDOW


def default_overlap(window: int) -> int:
    """Key frames shared by neighbouring windows: 1 for pairs, else 2 (no frame from a window's edge)."""
    return 1 if window == 2 else 2


@dataclass(frozen=True)
class Window:
    """Key frames ``[start, end)`` go in; the frames of keys ``[own_from, own_to)`` come out."""

    start: int
    end: int
    own_from: int
    own_to: int


class WindowScheduler:
    """The window rule (module docs), for a stream of key frames of unknown length.

    ``ready(n)`` returns the windows that can run once ``n`` key frames exist (never the
    last one); ``last(n)`` the final window; ``keep_from`` the first key frame a later
    window may still need.
    """

    def __init__(self, window: int, overlap: int) -> None:
        if isinstance(window, bool) or not isinstance(window, int) or window < 2:
            raise ValueError(f"window must be an int >= 2 (key frames per call), got {window!r}")
        if isinstance(overlap, bool) or not isinstance(overlap, int) or not 1 <= overlap < window:
            raise ValueError(
                f"overlap must be an int in [1, window) (the interval between two windows needs both its key "
                f"frames), got {overlap!r} for window {window}"
            )
        self.window, self.overlap = window, overlap
        self.step, self.half = window - overlap, overlap // 2
        self.m = 0  # next window
        self.owned_from = 0  # first key frame not yet emitted
        self.keep_from = 0

    def ready(self, n: int) -> list[Window]:
        out = []
        while self.m * self.step + self.window < n:  # window m is complete and not the last one
            start = self.m * self.step
            owned_to = start + self.step + self.half
            out.append(Window(start, start + self.window, self.owned_from, owned_to))
            self.owned_from = owned_to
            self.m += 1
            # the last window may start before the next regular one: keep what it could need
            self.keep_from = min(self.m * self.step, n - self.window)
        return out

    def last(self, n: int) -> Window:
        start = max(0, min(self.m * self.step, n - self.window))
        return Window(start, min(start + self.window, n), self.owned_from, n)


def window_plan(num_frames: int, window: int, overlap: int) -> list[Window]:
    """Every window over ``num_frames`` key frames, as the stream runs them."""
    sched = WindowScheduler(window, overlap)
    return [*sched.ready(num_frames), sched.last(num_frames)]


def plan_windows(num_frames: int, window: int, overlap: int) -> list[tuple[int, int]]:
    """The ``[(start, end), ...]`` key-frame windows (``end`` exclusive) covering ``num_frames``."""
    return [(w.start, w.end) for w in window_plan(num_frames, window, overlap)]


# ------------------------------------------------------------------------------------- streaming
class WindowedStream:
    """Push key frames (with the frames requested between each and the next), get output frames.

    Args:
        run: ``run(lr (B, T, 3, h, w), times) -> (B, T + (T-1)K, 3, H, W)``: the model call
            (usually :func:`call_model` inside ``torch.no_grad`` / autocast / tiling); ``times``
            is one tuple per pair (:data:`Times`) where the window's pairs need different times
            and ``caps.per_pair_times`` allows it.
        caps: the model's capabilities (times, exact frame count).
        window, overlap: see the module docs.

    :meth:`push` and :meth:`finish` yield ``(request, frame (B, 3, H, W))`` in request order.
    """

    def __init__(
        self,
        run: Callable[[torch.Tensor, Times], torch.Tensor],
        caps: Capabilities,
        window: int,
        overlap: int,
    ) -> None:
        self.run, self.caps = run, caps
        self.sched = WindowScheduler(window, overlap)
        self.buffer: dict[int, torch.Tensor] = {}  # key index -> (B, 3, h, w)
        self.pending: list[Any] = []
        self.grid: dict[int, set[float]] = {}  # key index -> the t > 0 requested after it (owned or not)
        self.n = 0
        self.windows = 0
        self.inexact: list[float] = []  # requested t a fixed-time model served with another frame

    def push(self, frame: torch.Tensor, requests: Sequence[Any] = ()) -> Iterator[tuple[Any, torch.Tensor]]:
        """Add key frame ``n`` (``(B, 3, h, w)``) and the requests that became known with it."""
        self.buffer[self.n] = frame
        self._add(requests)
        self.n += 1
        for win in self.sched.ready(self.n):
            yield from self._run_window(win)
            for i in [i for i in self.buffer if i < self.sched.keep_from]:
                del self.buffer[i]
            for i in [i for i in self.grid if i < self.sched.keep_from]:
                del self.grid[i]

    def _add(self, requests: Sequence[Any]) -> None:
        self.pending += list(requests)
        for r in requests:
            if r.t > 0:
                self.grid.setdefault(r.i, set()).add(float(r.t))

    def finish(self, requests: Sequence[Any] = ()) -> Iterator[tuple[Any, torch.Tensor]]:
        """Run the last window (at least 2 key frames, or 1 for a video SR model)."""
        self._add(requests)
        if self.n < (1 if self.caps.task == "vsr" else 2):
            raise ValueError(f"the video has {self.n} frame(s); at least 2 are needed")
        yield from self._run_window(self.sched.last(self.n))

    def _run_window(self, win: Window) -> Iterator[tuple[Any, torch.Tensor]]:
        last = self.n - 1
        if self.caps.input_frames is None:
            idx = list(range(win.start, win.end))
        else:  # an exact frame count: repeat the last frame of a clip that is too short
            idx = [min(i, last) for i in range(win.start, win.start + self.caps.input_frames)]
        lr = torch.stack([self.buffer[i] for i in idx], dim=1)
        own = [r for r in self.pending if win.own_from <= r.i < win.own_to]
        times, mapping = times_for(self.caps, (r.t for r in own))
        self.inexact += [t for t, m in mapping.items() if m != t]
        pairs, asked = self._pair_times(win.start, len(idx) - 1)
        if len(set(pairs)) > 1:  # pairs need different times; uniform requests keep the flat call
            y = self.run(lr, pairs)
            mapping.update(asked)
        else:
            y = self.run(lr, times)
            pairs = (times,) * (len(idx) - 1)
        self.windows += 1
        keys = key_positions([len(p) for p in pairs])
        for r in own:
            j = r.i - win.start
            m = mapping.get(r.t) if r.t > 0 else 0.0
            if m is None or m == 0.0:
                pos = keys[j]
            elif m == 1.0:
                pos = keys[j + 1]
            else:
                pos = keys[j] + 1 + pairs[j].index(m)
            yield r, y[:, pos]
        self.pending = [r for r in self.pending if r.i >= win.own_to]

    def _pair_times(self, start: int, n_pairs: int) -> tuple[tuple[tuple[float, ...], ...], dict[float, float | None]]:
        """Per pair of the window from key ``start``: the model times its requested ``t`` map onto,
        and that mapping; every pair gets the same (empty) times for a model without ``per_pair_times``."""
        if not self.caps.per_pair_times or self.caps.task == "vsr":
            return ((),) * n_pairs, {}
        grid = [self.grid.get(start + j, set()) for j in range(n_pairs)]
        _, mapping = times_for(self.caps, (t for g in grid for t in g))
        pairs = tuple(
            tuple(sorted({m for t in g if (m := mapping[t]) is not None and 0.0 < m < 1.0})) for g in grid
        )
        return pairs, mapping


def iter_windowed(
    model: Callable[..., torch.Tensor], lr: torch.Tensor, window: int, overlap: int = 2, **kwargs: Any
) -> Iterator[torch.Tensor]:
    """Yield the output frames ``(B, C, H, W)`` of ``model`` over ``lr (B, T, C, h, w)`` in order.

    Args:
        model: a clip model with the stvsr forward contract.
        lr: the whole low-resolution clip (it may live on the CPU; each window is moved by the model call).
        window: key frames per model call (>= 2).
        overlap: key frames shared by consecutive windows (``1 <= overlap < window``).
        **kwargs: passed to every call (``scale=``, ``times=`` (default ``(0.5,)``), ...).
    """
    if not isinstance(lr, torch.Tensor) or lr.dim() != 5:
        raise ValueError(f"lr must be a (B, T, C, h, w) tensor, got {getattr(lr, 'shape', type(lr))}")
    n = lr.shape[1]
    if n < 2:
        raise ValueError(f"lr must have at least 2 frames, got {n}")
    times = tuple(float(t) for t in kwargs.pop("times", (0.5,)))
    # every window gets the caller's times and scale: the same call the caller would make
    caps = Capabilities(task="stvsr", times=times, input_frames=capabilities_of(model).input_frames)

    def run(x: torch.Tensor, ts: Times) -> torch.Tensor:
        return model(x, times=ts, **kwargs)

    stream = WindowedStream(run, caps, window, overlap)
    for i in range(n):
        slots = [_Slot(i, 0.0)] + ([_Slot(i, t) for t in times] if i + 1 < n else [])
        for _, frame in stream.push(lr[:, i], slots):
            yield frame
    for _, frame in stream.finish():
        yield frame


def windowed_forward(
    model: Callable[..., torch.Tensor], lr: torch.Tensor, window: int, overlap: int = 2, **kwargs: Any
) -> torch.Tensor:
    """``(B, T + (T-1)*K, C, H, W)``: :func:`iter_windowed` stacked along dim 1."""
    return torch.stack(list(iter_windowed(model, lr, window, overlap, **kwargs)), dim=1)

