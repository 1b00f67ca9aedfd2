"""The compute device when the caller says ``auto`` (the CLI's and ``upscale_video``'s default).

No torch import at module level: the CLI imports this while building its parser.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["AUTO", "auto_device", "auto_dtype", "cpu_has_native_bf16", "resolve_device", "warn_if_emulated_bf16"]

#: the device name that means "the best one available here"
AUTO = "auto"


def _mps_available(torch: Any) -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def auto_device() -> torch.device:
    """The best available device: CUDA, then Apple's MPS, then the CPU."""
    import torch

    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available(torch):
        return torch.device("mps")
    return torch.device("cpu")


def cpu_has_native_bf16(cpuinfo: str | None = None) -> bool:
    """True where the CPU has bfloat16 dot-product instructions (x86 ``avx512_bf16`` or ``amx_bf16``).

    Read from ``/proc/cpuinfo`` (Linux); elsewhere, or where it cannot be read, False. ``cpuinfo``
    replaces the file's text (tests). Without these instructions bfloat16 is emulated and slower.
    """
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
                cpuinfo = f.read()
        except OSError:
            return False
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == "flags":
            return bool({"avx512_bf16", "amx_bf16"} & set(value.split()))
    return False


def warn_if_emulated_bf16(device: torch.device | str) -> bool:
    """Warn (and return True) when bfloat16 autocast is asked for on a CPU without native bf16.

    There every bf16 conv is emulated: a training step ran ~5x slower than in float32 on an
    AVX2-only EPYC (``docs/training.md``), so ``--bf16`` is only worth it where
    :func:`cpu_has_native_bf16` holds.
    """
    import warnings

    import torch

    if torch.device(device).type != "cpu" or cpu_has_native_bf16():
        return False
    warnings.warn(
        "bf16 autocast on a CPU without native bf16 instructions (avx512_bf16 / amx_bf16) is emulated "
        "and several times slower than float32: drop --bf16 on this machine",
        RuntimeWarning,
        stacklevel=2,
    )
    return True


def auto_dtype(device: torch.device) -> torch.dtype:
    """The compute precision for ``dtype="auto"`` (the CLI's and ``upscale_video``'s default).

    bfloat16 autocast on a CPU with native bf16 instructions: measured on such a CPU (AVX512-BF16,
    walk of Vid4, 7 frames) within 0.01 dB of float32 for ``rife_basicvsr``, ``msmr_fix`` and
    ``basicvsr`` at about half the time (``docs/performance.md``); float32 everywhere else (GPUs
    included, where the accuracy of the half types has not been measured by this project), or
    wherever the environment sets ``STVSR_AUTO_BF16=0``.
    """
    import os

    import torch

    # STVSR_AUTO_BF16=0 keeps float32 (reproducible figures across machines; the test suite sets it)
    if device.type == "cpu" and os.environ.get("STVSR_AUTO_BF16", "1") != "0" and cpu_has_native_bf16():
        return torch.bfloat16
    return torch.float32


def resolve_device(device: str | torch.device | None, name: str = "device") -> torch.device:
    """``None`` or ``"auto"`` -> :func:`auto_device`; anything else must exist here.

    Raises:
        ValueError: not a device name, or a CUDA / MPS device this machine does not have
            (the message names ``name``, e.g. ``--device``).
    """
    import torch

    if device is None or (isinstance(device, str) and device.strip().lower() == AUTO):
        return auto_device()
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError, TypeError) as exc:
        raise ValueError(
            f"{name} must be cpu, cuda, cuda:N or mps, got {device!r} (auto, the default, picks the best available)"
        ) from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"{name} {device}: no CUDA device is available here (use auto or cpu)")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"{name} {device}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    if dev.type == "mps" and not _mps_available(torch):
        raise ValueError(f"{name} {device}: MPS (Apple GPU) is not available here (use auto or cpu)")
    return dev
