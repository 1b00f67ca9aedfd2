"""Feedback while a job runs: what runs, how long it should take, progress inside model calls, the ETA.

A model call on a window of key frames can take a minute on a CPU, so counting output
frames only when a window is finished makes the bar look hung. :class:`CallProgress`
reports progress *inside* a call instead, from three sources, best first:

1. the measured time profile of an earlier call of the same shape (all windows but the
   first): the time at which each of the model's leaf modules (convolutions, linear
   layers, ...) finished, so the k-th finished leaf means a known fraction of the time;
2. the steps the model announces itself (:mod:`stvsr._progress`: optical flows,
   propagation steps, output frames, weighted by their multiply-adds) for models with
   ``announces_steps`` (``rife_basicvsr``, ``basicvsr``, ``rife``): the first call moves
   from its first step on, with no calibration run;
3. for other models, the leaf calls of a *calibration* call on a 16x16 crop of the input,
   each weighted by an estimate of its multiply-adds, recorded once per call shape (run on
   one thread: on a loaded machine thousands of tiny multi-threaded ops are slow).

:class:`EtaMeter` turns the progress into a remaining time from the measured seconds per
model call, leaving out the first (warm-up) call once a later one gives a rate.
:data:`MEASURED` holds seconds per output megapixel measured for the main models; the
job's duration is estimated from it before anything runs (:func:`estimate_seconds`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

__all__ = ["MEASURED", "CallProgress", "EtaMeter", "Measured", "estimate_seconds", "format_seconds"]

#: the clock of progress and ETA (monotonic seconds; tests replace it)
clock: Callable[[], float] = time.monotonic


@dataclass(frozen=True)
class Measured:
    """Seconds per output megapixel (``frames x W x H / 1e6``) of one model on one kind of device."""

    seconds_per_mpix: float
    where: str  # the machine and settings of the measurement, printed with the estimate


_BF16_VM = ("on 1 thread of a 2-core AMD EPYC VM with AVX512-BF16, bfloat16 autocast (the CPU default there), "
            "another job on the other core; CPUs without bf16 take about twice as long, idle machines with more "
            "cores less")

#: ``(registry name, device type) -> Measured``: the defaults of ``stvsr upscale`` (``--dtype auto``,
#: ``rife_basicvsr`` in ``vsr_first`` order), one thread. Single runs: take them as +-30%. The docs'
#: table (Getting started) shows them.
MEASURED: dict[tuple[str, str], Measured] = {
    # stvsr demo (160x90 -> 640x360, x2 fps, 31 frames of 0.2304 MP): 28.6 s, 0.92 s per frame
    ("rife_basicvsr", "cpu"): Measured(4.0, _BF16_VM),
    # whole Vid4 x4/x2 (171 frames, 63.9 MP): 835 s
    ("msmr_fix", "cpu"): Measured(13.1, _BF16_VM),
    # whole Vid4 x4/x2 (171 frames, 63.9 MP): 698 s
    ("msmr_arb", "cpu"): Measured(10.9, _BF16_VM),
    # the whole demo job: 7.8 s for 31 frames (fp32: the baseline has no autocast work)
    ("bicubic_blend", "cpu"): Measured(1.1, _BF16_VM),
}


def estimate_seconds(model: str, device_type: str, frames_out: int, size_out: tuple[int, int]) -> tuple[float, str] | None:
    """``(seconds, where it was measured)`` for ``frames_out`` frames of ``size_out = (W, H)``, or None.

    None when ``model`` (a registry name without its weight tag) has no measurement on
    ``device_type`` (``"cpu"``, ``"cuda"``, ``"mps"``).
    """
    m = MEASURED.get((model.partition(".")[0], device_type))
    if m is None or frames_out <= 0:
        return None
    return m.seconds_per_mpix * frames_out * size_out[0] * size_out[1] / 1e6, m.where


def format_seconds(seconds: float) -> str:
    """``42 s``, ``3.5 min`` or ``1.2 h``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _leaf_cost(module: nn.Module, output: Any) -> float:
    """Multiply-adds of one leaf forward (convolution, linear: output x weights per output channel)."""
    out = output[0] if isinstance(output, (tuple, list)) and output else output
    if not isinstance(out, torch.Tensor):
        return 1.0
    weight = getattr(module, "weight", None)
    per_output = weight[0].numel() if isinstance(weight, torch.Tensor) and weight.dim() >= 2 else 1
    return float(out.numel() * per_output)


class CallProgress:
    """Fraction of the current model call done (module docs: time profile, announced steps, calibration).

    Use :meth:`attach` / :meth:`detach` around a job, :meth:`start` before each real call
    (``key`` names the call's shape) and :meth:`stop` after it; ``on_fraction(f)`` is then
    called with ``f`` in [0, 1) as the call proceeds (from leaf modules at most every
    ``interval`` seconds). Models that do not announce their steps need :meth:`calibrate`
    once per call shape before their first real call (:attr:`needs_calibration`).

    Args:
        model: the module whose leaves are counted.
        on_fraction: receives the fraction of the current call's work done.
        interval: least seconds between two ``on_fraction`` calls.
    """

    def __init__(self, model: nn.Module, on_fraction: Callable[[float], None], interval: float = 0.5) -> None:
        self.model, self.on_fraction, self.interval = model, on_fraction, interval
        self.profiles: dict[Any, list[float]] = {}  # call shape -> cumulative fraction after each leaf call
        self.failed: set[Any] = set()  # call shapes whose calibration failed (not tried again)
        self._handles: list[Any] = []
        self._recording: list[float] | None = None
        self._profile: list[float] | None = None
        self._k = 0
        self._last = 0.0
        self._key: Any = None
        self._started = 0.0
        self._stamps: list[float] = []  # when each leaf of the current call finished
        self._listening: Any = None  # the announced-steps listener of the current call
        self.announces = bool(getattr(model, "announces_steps", False))

    def needs_calibration(self, key: Any) -> bool:
        """Whether a call of shape ``key`` has no source of progress yet but a calibration run."""
        return not self.announces and key not in self.profiles and key not in self.failed

    def attach(self) -> None:
        if not self._handles:
            leaves = [m for m in self.model.modules() if next(m.children(), None) is None]
            self._handles = [m.register_forward_hook(self._hook) for m in leaves]

    def detach(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []
        self._profile = self._recording = None

    def _hook(self, module: nn.Module, inputs: Any, output: Any) -> None:
        if self._recording is not None:
            self._recording.append(_leaf_cost(module, output))
            return
        if self._key is None:
            return
        self._k += 1
        now = clock()
        self._stamps.append(now)
        if self._profile is not None and now - self._last >= self.interval:
            self._last = now
            self.on_fraction(self._profile[min(self._k, len(self._profile)) - 1])

    def calibrate(self, key: Any, call: Callable[[], Any]) -> bool:
        """Record the leaf calls of ``call()`` (a small stand-in for the real call) as the profile of ``key``.

        Returns False (and keeps no profile) when the stand-in fails or runs no leaf module:
        the job then reports progress once per model call only.
        """
        if key in self.profiles or key in self.failed:
            return key in self.profiles
        self._recording = []
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # tiny ops: one thread is faster, and far faster on a loaded machine
        try:
            call()
        except Exception:  # a model refusing the small crop: progress per call is still correct
            self.failed.add(key)
            return False
        finally:
            torch.set_num_threads(threads)
            costs, self._recording = self._recording, None
        total = sum(costs)
        if not costs or total <= 0:
            self.failed.add(key)
            return False
        run, cumulative = 0.0, []
        for c in costs:
            run += c
            cumulative.append(min(run / total, 0.999))  # never "done" before the call returns
        self.profiles[key] = cumulative
        return True

    def start(self, key: Any) -> None:
        """The next leaf calls belong to a real call of shape ``key``."""
        from stvsr._progress import listen

        self._profile, self._k, self._last = self.profiles.get(key), 0, clock()
        self._key, self._started, self._stamps = key, self._last, []
        if self._profile is None and self.announces:  # no measured profile yet: the model's own steps
            self._listening = listen(self.on_fraction)
            self._listening.__enter__()

    def stop(self, finished: bool = True) -> None:
        """The real call ended; a ``finished`` one becomes the time profile of its shape."""
        if self._listening is not None:
            self._listening.__exit__(None, None, None)
            self._listening = None
        self._profile = None
        span = clock() - self._started
        if finished and self._stamps and span > 0:
            self.profiles[self._key] = [min((t - self._started) / span, 0.999) for t in self._stamps]
        self._stamps, self._key = [], None


class EtaMeter:
    """Remaining seconds of a job of ``total`` model calls, from the measured seconds per call.

    The first call is the warm-up (memory allocation, kernel selection, lazy loading: up
    to several times slower): its time is used only until a later call gives a rate. The
    call running now counts with its progress fraction once that passes ``min_fraction``
    (``first_fraction`` for the first call, whose fraction comes from announced steps or
    a calibration rather than a measured profile), so the ETA never rests on the first
    moments of a call. Before any rate, ``prior`` (seconds per call, e.g. from
    :data:`MEASURED`) is used when given.

    Call :meth:`begin` / :meth:`end` around each model call, :meth:`partial` with the
    fraction of the current call done, and :meth:`exclude` for seconds inside a call that
    later calls will not spend (a calibration run).
    """

    def __init__(
        self, total: float | None, *, prior: float | None = None, min_fraction: float = 0.1,
        first_fraction: float = 0.25,
    ) -> None:
        self.total, self.prior = total, prior
        self.min_fraction, self.first_fraction = min_fraction, first_fraction
        self.durations: list[float] = []
        self._t0: float | None = None
        self._excluded = 0.0
        self._f = 0.0
        self._elapsed = 0.0  # of the current call, when its fraction was last given

    def begin(self) -> None:
        self._t0, self._excluded, self._f, self._elapsed = clock(), 0.0, 0.0, 0.0

    def exclude(self, seconds: float) -> None:
        self._excluded += seconds

    def partial(self, fraction: float) -> None:
        if self._t0 is not None and fraction > self._f:
            self._f = min(fraction, 1.0)
            self._elapsed = clock() - self._t0 - self._excluded

    def end(self) -> None:
        if self._t0 is not None:
            self.durations.append(max(0.0, clock() - self._t0 - self._excluded))
        self._t0, self._f = None, 0.0

    @property
    def done(self) -> float:
        """Model calls done, the current one's fraction included."""
        return len(self.durations) + (self._f if self._t0 is not None else 0.0)

    def seconds_per_call(self) -> float | None:
        """The measured rate (module docs), or ``prior`` before any measurement, or None."""
        later = self.durations[1:]  # the warm-up call left out
        current = self._t0 is not None and self._f >= (self.min_fraction if self.durations else self.first_fraction)
        seconds = sum(later) + (self._elapsed if current else 0.0)
        calls = len(later) + (self._f if current else 0.0)
        if calls > 0:
            return seconds / calls
        if self.durations:
            return self.durations[0]
        return self.prior

    def remaining(self) -> float | None:
        """Seconds left, or None when neither the total nor a rate is known."""
        rate = self.seconds_per_call()
        if rate is None or self.total is None:
            return None
        return rate * max(0.0, self.total - self.done)
