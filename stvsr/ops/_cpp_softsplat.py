"""The C++/OpenMP CPU kernel behind ``stvsr.ops.softsplat``: built on first use, cached, optional.

``csrc/softsplat_cpu.cpp`` (shipped inside the package) fuses the weighting, the bilinear forward
splat and the normalisation of every ``softsplat`` mode into one op, plus its hand-written
backward.  It is compiled with ``torch.utils.cpp_extension.load`` the first time a CPU
``softsplat`` runs (about half a minute, once), into ``$TORCH_EXTENSIONS_DIR`` when set, else
PyTorch's per-user cache (``~/.cache/torch_extensions``); later processes load the cached build.
The build directory is named after a hash of the source, so two stvsr versions never overwrite
each other's build.

Without a C++ compiler or ``ninja``, when the build fails (a warning says why, once), or with the
environment variable ``STVSR_NO_EXT=1``, :func:`kernel` returns ``None`` and ``softsplat`` keeps
its pure-PyTorch path, which gives the same results up to float rounding.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import shutil
import threading
import warnings
from pathlib import Path
from typing import Any

import torch

__all__ = ["MODES", "SOURCE", "disabled", "kernel"]

SOURCE = Path(__file__).resolve().parent / "csrc" / "softsplat_cpu.cpp"
MODES = {"sum": 0, "avg": 1, "linear": 2, "soft": 3}  # the kernel's mode numbers

_log = logging.getLogger(__name__)
_lock = threading.Lock()


def disabled() -> bool:
    """True when ``STVSR_NO_EXT`` is set to a true value (1, true, yes, on): use pure PyTorch."""
    return os.environ.get("STVSR_NO_EXT", "").strip().lower() in ("1", "true", "yes", "on")


def _compiler_missing() -> str | None:
    """Why the extension cannot be built here, or None when a compiler and ninja exist."""
    compiler = os.environ.get("CXX", "c++")
    if shutil.which(compiler) is None:
        return f"no C++ compiler ({compiler!r} not found)"
    if shutil.which("ninja") is None:
        try:
            import ninja  # noqa: F401  # the pip package puts the binary on its own path
        except ImportError:
            return "ninja is not installed (pip install ninja)"
    return None


@functools.lru_cache(maxsize=1)
def _build() -> Any | None:
    """Compile (or load the cached build of) the extension; its ``torch.ops`` namespace or None."""
    why = _compiler_missing()
    if why is not None:
        _log.info("stvsr: softsplat C++ kernel unavailable (%s); using the PyTorch path", why)
        return None
    source = SOURCE.read_bytes()
    name = "stvsr_softsplat_cpu_" + hashlib.sha256(source).hexdigest()[:12]
    try:
        from torch.utils import cpp_extension  # imported late: it is slow and logs about CUDA

        _log.info("stvsr: building the softsplat C++ kernel (once; cached by torch.utils.cpp_extension)")
        cpp_extension.load(
            name=name,
            sources=[str(SOURCE)],
            # -fopenmp turns at::parallel_for's pragmas into threads (torch itself uses libgomp)
            extra_cflags=["-O3", "-fopenmp"],
            extra_ldflags=["-fopenmp"],
            is_python_module=False,
            verbose=False,
        )
        ops = torch.ops.stvsr_softsplat
        ops.forward  # noqa: B018  # raises if the library did not register its ops
    except Exception as err:  # a failed build must never break softsplat: fall back, say why once
        warnings.warn(
            f"stvsr: could not build the softsplat C++ kernel ({type(err).__name__}: {err}); "
            "using the slower PyTorch path (set STVSR_NO_EXT=1 to silence this)",
            RuntimeWarning,
            stacklevel=3,
        )
        return None
    return ops


def kernel() -> Any | None:
    """The compiled ops (``torch.ops.stvsr_softsplat``), building them on first use; None if unavailable.

    ``forward(input, flow, metric, mode, eps) -> (out, den)`` and
    ``backward(grad, input, flow, metric, out, den, mode, eps, need_input, need_flow, need_metric)
    -> (d input, d flow, d metric)``, float32/float64 contiguous CPU tensors; see the C++ source.
    ``STVSR_NO_EXT=1`` is read on every call, so it can be switched at run time.
    """
    if disabled():
        return None
    with _lock:  # one build per process even when several threads splat at once
        return _build()
