"""Feedback while a job runs: what runs, how long it should take, and progress inside model calls.

A model call on a window of key frames can take a minute on a CPU, so counting output
frames only when a window is finished makes the bar look hung. :class:`CallProgress`
reports progress *inside* a call instead: it counts the finished forwards of the model's
leaf modules (convolutions, linear layers, ...), each weighted by an estimate of its
multiply-adds (output elements x weights per output channel). The sequence of leaf calls
of one model call is recorded once per call shape on a small crop of the input (a
*calibration* call on 16x16 LR pixels: 7 s for ``rife_basicvsr`` on one thread of a loaded
2-core VM, far less than the real call), so during the real call the k-th finished
leaf means a known fraction of the call's work. After the first real call of a shape the
profile is replaced by the measured time at which each leaf finished, so later calls (all
windows but the first) report the fraction of *time*, whatever the layers' speeds.

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

__all__ = ["MEASURED", "CallProgress", "Measured", "estimate_seconds", "format_seconds"]


@dataclass(frozen=True)
class Measured:
    """Seconds per output megapixel (``frames x W x H / 1e6``) of one model on one kind of device."""

    seconds_per_mpix: float
    where: str  # the machine and settings of the measurement, printed with the estimate


_LOADED_VM = "on 1 thread of a 2-core VM shared with other jobs (load ~10); idle machines with more cores are faster"

#: ``(registry name, device type) -> Measured``, from ``benchmarks/per_frame.py`` (the demo job:
#: 160x90 -> 640x360, x2 fps, window 7, float32, 31 output frames of 0.2304 megapixels each).
#: Single runs under a varying load: take them as +-50%. The docs' table (Getting started) shows them.
MEASURED: dict[tuple[str, str], Measured] = {
    # the whole demo job: 517.5 s for 31 frames (16.7 s per frame)
    ("rife_basicvsr", "cpu"): Measured(72.4, _LOADED_VM),
    # one 7-frame window (135.2 s), times the demo's 3 windows: 13.1 s per frame
    ("msmr_arb", "cpu"): Measured(56.8, _LOADED_VM),
    # one 7-frame window (236.6 s), times the demo's 3 windows: 22.9 s per frame
    ("msmr_fix", "cpu"): Measured(99.4, _LOADED_VM),
    # the whole demo job: 7.8 s for 31 frames
    ("bicubic_blend", "cpu"): Measured(1.1, _LOADED_VM),
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
    """Fraction of the current model call done, from hooks on the model's leaf modules (module docs).

    Use :meth:`attach` / :meth:`detach` around a job, :meth:`calibrate` once per call shape
    before the real call (``key`` names the shape), and :meth:`start` before each real call;
    ``on_fraction(f)`` is then called with ``f`` in [0, 1) as the call proceeds, at most
    every ``interval`` seconds.

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
        if self._profile is None:
            return
        self._k += 1
        now = time.monotonic()
        self._stamps.append(now)
        if now - self._last >= self.interval:
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
        try:
            call()
        except Exception:  # a model refusing the small crop: progress per call is still correct
            self.failed.add(key)
            return False
        finally:
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
        """The next leaf calls belong to a real call of shape ``key`` (no profile: no updates)."""
        self._profile, self._k, self._last = self.profiles.get(key), 0, time.monotonic()
        self._key, self._started, self._stamps = key, self._last, []

    def stop(self, finished: bool = True) -> None:
        """The real call ended; a ``finished`` one with the profile's leaf count becomes the time profile."""
        profile, self._profile = self._profile, None
        span = time.monotonic() - self._started
        if finished and profile is not None and len(self._stamps) == len(profile) and span > 0:
            self.profiles[self._key] = [min((t - self._started) / span, 0.999) for t in self._stamps]
        self._stamps = []
