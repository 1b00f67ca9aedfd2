"""The compute device when the caller says ``auto`` (the CLI's and ``upscale_video``'s default).

No torch import at module level: the CLI imports this while building its parser.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["AUTO", "auto_device", "resolve_device"]

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
