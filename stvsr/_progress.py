"""Progress *inside* a model call, announced by the model itself (floor 0: no torch).

A model call on a window of frames can take minutes on a CPU. A model whose ``forward``
runs in steps (one optical flow, one propagation step, one output frame, ...) announces
them, so that whoever runs it sees the call advance from its first step on, with no
calibration run::

    plan = steps(flows=(2 * (t - 1), 1.0), backward=(t, 1.4), forward=(t, 3.0))
    for i in ...:
        ...
        plan.step("flows")

Each stage is ``(steps, cost of one step)`` in any unit; the fraction of the call done is
the cost of the finished steps over the total. A model calling another model that has a
plan of its own gives it the range of one of its steps with :meth:`Plan.span`::

    with plan.span("interpolate", n_pairs):   # the inner plan subdivides these steps
        dense = self.vfi(lr, times=ts)

A plan opened inside another plan without a span is silent (its steps are already part of
the outer step being run). Nobody listening (the default): :func:`steps` returns a no-op
plan, so models pay a context-variable look-up per call and nothing else.
:func:`listen` is used by :class:`stvsr.video.progress.CallProgress`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar

__all__ = ["Plan", "listen", "steps"]


class _Listener:
    def __init__(self, report: Callable[[float], None]) -> None:
        self.report = report
        self.ranges: list[tuple[float, float]] = [(0.0, 1.0)]  # the range the next plan maps onto
        self.open = 0  # plans open now
        self.last = 0.0

    def emit(self, fraction: float) -> None:
        fraction = min(fraction, 0.999)  # never "done" before the call returns
        if fraction > self.last + 1e-9:  # a nested plan's end and its span's step meet up to rounding
            self.last = fraction
            self.report(fraction)


_LISTENER: ContextVar[_Listener | None] = ContextVar("stvsr_call_progress", default=None)


class Plan:
    """The weighted steps of one model call (module docs); a no-op when nobody listens."""

    def __init__(self, stages: dict[str, tuple[int, float]], listener: _Listener | None = None) -> None:
        self._listener = listener
        self._lo, self._hi = listener.ranges[-1] if listener is not None else (0.0, 1.0)
        total = sum(max(0, int(n)) * float(w) for n, w in stages.values())
        self._unit: dict[str, float] = {}
        self._start: dict[str, float] = {}
        self._limit: dict[str, int] = {}
        run = 0.0
        for name, (n, w) in stages.items():
            self._start[name] = run
            self._unit[name] = float(w) / total if total > 0 else 0.0
            self._limit[name] = max(0, int(n))
            run += self._unit[name] * self._limit[name]
        self._done = dict.fromkeys(stages, 0)

    def _at(self, stage: str) -> float:
        return self._lo + (self._hi - self._lo) * (self._start[stage] + self._unit[stage] * self._done[stage])

    def step(self, stage: str, n: int = 1) -> None:
        """``n`` more steps of ``stage`` are finished."""
        if self._listener is None or stage not in self._done:
            return
        self._done[stage] = min(self._done[stage] + n, self._limit[stage])
        self._listener.emit(self._at(stage))

    @contextlib.contextmanager
    def span(self, stage: str, n: int = 1) -> Iterator[None]:
        """The next ``n`` steps of ``stage`` run inside: a plan opened there subdivides them."""
        listener = self._listener
        if listener is None or stage not in self._done:
            yield
            return
        lo = self._at(stage)
        hi = lo + (self._hi - self._lo) * self._unit[stage] * min(n, self._limit[stage] - self._done[stage])
        listener.ranges.append((lo, hi))
        try:
            yield
        finally:
            listener.ranges.pop()
        self.step(stage, n)

    def close(self) -> None:
        if self._listener is not None:
            self._listener.open -= 1
            self._listener = None

    def __enter__(self) -> Plan:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_SILENT = Plan({})


def steps(**stages: tuple[int, float]) -> Plan:
    """Open the plan of this call: ``name=(steps, cost of one step)``, in the order they run.

    Use it as a context manager (``with steps(...) as plan:``) so that it closes when the
    call ends; outside a :func:`listen` block, or inside another plan but not in one of its
    :meth:`Plan.span` blocks, it is silent.
    """
    listener = _LISTENER.get()
    if listener is None or len(listener.ranges) != listener.open + 1:
        return _SILENT
    listener.open += 1
    return Plan(stages, listener)


@contextlib.contextmanager
def listen(report: Callable[[float], None]) -> Iterator[None]:
    """Call ``report(fraction)`` (increasing, in [0, 1)) as the plans of model calls made inside advance."""
    token = _LISTENER.set(_Listener(report))
    try:
        yield
    finally:
        _LISTENER.reset(token)
