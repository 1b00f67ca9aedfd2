"""Keep freed memory in the process instead of handing it back to the OS (glibc ``mallopt``).

With its default settings glibc serves every block above a dynamic threshold (128 KiB up to
32 MiB) with its own ``mmap`` and trims the top of the heap whenever more than 128 KiB is free.
A video model allocates and frees activations of tens of MiB on every call, so each call maps
fresh pages and takes a minor page fault (the kernel zeroing the page) for every 4 KiB it
touches: on a two-core machine a 3x3 conv ran at half speed, and models 30-45 % slower, than
with the thresholds raised (``shared/research/originals_cpu.md``).  :func:`tune_malloc` raises
both thresholds, which is what ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_`` do,
from inside the process: freed blocks stay in the heap and are reused without faults.

The cost is memory: what was freed stays mapped, so the peak resident size can be higher
(the research note measured MsMr 2.0 instead of 1.5 GiB).  The ``stvsr`` command line and the
training entry points call it; library users can call it themselves.  It does nothing on a
C library other than glibc (macOS, Windows, musl), when the user set the glibc variables
or ``GLIBC_TUNABLES`` themselves, or with ``STVSR_NO_MALLOC_TUNE=1``.
"""

from __future__ import annotations

import ctypes
import os
import threading
from typing import Any

__all__ = ["tune_malloc"]

# mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

MMAP_THRESHOLD = 1 << 30  # 1 GiB: blocks below it come from the heap (and are reused)
TRIM_THRESHOLD = 2**31 - 1  # ~2 GiB (mallopt takes an int): free heap top kept up to this much

_USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")

_lock = threading.Lock()
_result: bool | None = None  # None: not called yet


def _glibc() -> Any | None:
    """The process's C library through ctypes when it is glibc, else None."""
    try:
        libc = ctypes.CDLL(None)  # the symbols already loaded into this process
    except (OSError, TypeError):  # Windows has no "current process" handle through CDLL(None)
        return None
    if not hasattr(libc, "gnu_get_libc_version") or not hasattr(libc, "mallopt"):
        return None  # musl, macOS, ...: another allocator, other knobs
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    libc.mallopt.restype = ctypes.c_int
    return libc


def tune_malloc() -> bool:
    """Raise glibc's mmap and trim thresholds for this process; True when they are now raised.

    Idempotent and thread-safe: only the first call acts, later calls return its result.
    Returns False (and changes nothing) off glibc, when ``MALLOC_MMAP_THRESHOLD_``,
    ``MALLOC_TRIM_THRESHOLD_`` or ``GLIBC_TUNABLES`` is set (the user's settings win), or
    when ``STVSR_NO_MALLOC_TUNE`` is 1/true/yes/on.
    """
    global _result
    with _lock:
        if _result is None:
            _result = _apply()
        return _result


def _apply() -> bool:
    if os.environ.get("STVSR_NO_MALLOC_TUNE", "").strip().lower() in ("1", "true", "yes", "on"):
        return False
    if any(name in os.environ for name in _USER_SETTINGS):
        return False
    libc = _glibc()
    if libc is None:
        return False
    # setting the mmap threshold also turns off glibc's dynamic adjustment of both thresholds
    ok = libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    return bool(libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 and ok)
