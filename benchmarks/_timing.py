"""Tiny timing helpers for ``benchmarks/ops.py``.

Candidates and their baseline are timed *interleaved* (one call of each per round) so that
a busy or throttled machine slows both alike and their ratio stays meaningful.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence

import torch


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_interleaved(
    fns: Sequence[Callable[[], object]], device: torch.device, repeats: int = 10, warmup: int = 2
) -> list[list[float]]:
    """Call every function ``warmup`` times, then ``repeats`` rounds of one call each; seconds per call."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    _sync(device)
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            _sync(device)
            start = time.perf_counter()
            fn()
            _sync(device)
            times[i].append(time.perf_counter() - start)
    return times


def median_ms(samples: Sequence[float]) -> float:
    return 1e3 * statistics.median(samples)
