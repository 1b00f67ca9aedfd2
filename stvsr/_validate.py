"""Argument checks shared by the public API.

Every check raises ``ValueError`` or ``TypeError`` with a message that names the
argument and says what was expected, so that bad input fails loudly at the public
boundary instead of producing a silently wrong result deep inside a model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def check_tensor(x: object, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    return x


def check_float(x: torch.Tensor, name: str) -> None:
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} must have a floating dtype (float16/bfloat16/float32/float64), got {x.dtype}")


def check_rank(x: torch.Tensor, name: str, rank: int, layout: str) -> None:
    if x.dim() != rank:
        raise ValueError(f"{name} must be a {rank}-D tensor of layout ({layout}), got shape {tuple(x.shape)}")


def tracing() -> bool:
    """True while ``torch.export`` / ``torch.compile`` / the TorchScript tracer trace a call: value checks
    (NaN, range), which need the data, are skipped then; shape and type checks still run."""
    return bool(torch.compiler.is_compiling() or torch.compiler.is_exporting() or torch.jit.is_tracing())


def check_finite(x: torch.Tensor, name: str) -> None:
    if tracing():
        return
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or infinite values")


#: how far outside [0, 1] model inputs may stray (bicubic overshoot of a degraded frame) before
#: they are refused as another value convention (0..255, [-1, 1])
RANGE_SLACK = 0.25


def check_range(x: torch.Tensor, name: str, lo: float = 0.0, hi: float = 1.0, slack: float = RANGE_SLACK) -> None:
    """Refuse values outside ``[lo - slack, hi + slack]`` (e.g. 0..255 images given as [0, 1] ones)."""
    if x.numel() == 0 or tracing():
        return
    vmin, vmax = (float(v) for v in torch.aminmax(x.detach()))
    if vmin < lo - slack or vmax > hi + slack:
        hint = " (8-bit values? divide by 255)" if vmax > 2 else ""
        raise ValueError(f"{name} must hold values in [{lo:g}, {hi:g}], got values from {vmin:g} to {vmax:g}{hint}")


def check_video(
    x: object,
    name: str = "lr",
    *,
    channels: int | None = 3,
    min_frames: int = 1,
    finite: bool = True,
    value_range: tuple[float, float] | None = (0.0, 1.0),
) -> torch.Tensor:
    """Check a video tensor of layout (B, T, C, H, W) with a floating dtype.

    ``value_range``: the values' expected range (RGB in [0, 1] by default; within
    :data:`RANGE_SLACK`), None to skip the check.
    """
    t = check_tensor(x, name)
    check_rank(t, name, 5, "B, T, C, H, W")
    check_float(t, name)
    if channels is not None and t.shape[2] != channels:
        raise ValueError(f"{name} must have {channels} channels in dim 2 (B, T, C, H, W), got shape {tuple(t.shape)}")
    if t.shape[1] < min_frames:
        raise ValueError(f"{name} must have at least {min_frames} frames in dim 1, got {t.shape[1]}")
    if t.shape[-1] < 1 or t.shape[-2] < 1:
        raise ValueError(f"{name} has an empty spatial size {tuple(t.shape[-2:])}")
    if finite:
        check_finite(t, name)
    if value_range is not None:
        check_range(t, name, *value_range)
    return t


def check_scale(scale: float | Sequence[float], name: str = "scale", *, max_scale: float = 64.0) -> tuple[float, float]:
    """Normalise a space scale to ``(scale_h, scale_w)``, both finite and in (0, max_scale]."""
    if isinstance(scale, (int, float)) and not isinstance(scale, bool):
        pair: tuple[float, ...] = (float(scale), float(scale))
    elif isinstance(scale, Sequence) and not isinstance(scale, str) and len(scale) == 2:
        pair = (float(scale[0]), float(scale[1]))
    else:
        raise TypeError(f"{name} must be a positive number or a pair (scale_h, scale_w), got {scale!r}")
    for s in pair:
        if not math.isfinite(s) or s <= 0:
            raise ValueError(f"{name} must be > 0 and finite, got {scale!r}")
        if s > max_scale:
            raise ValueError(f"{name} must be at most {max_scale}, got {scale!r}")
    return pair[0], pair[1]


def check_times(times: float | Sequence[float], name: str = "times", *, closed: bool = False) -> tuple[float, ...]:
    """Normalise time stamps to a tuple of floats in (0, 1) (or [0, 1] when ``closed``)."""
    if isinstance(times, (int, float)) and not isinstance(times, bool):
        seq: tuple[float, ...] = (float(times),)
    elif isinstance(times, Sequence) and not isinstance(times, str):
        seq = tuple(float(t) for t in times)
    elif isinstance(times, torch.Tensor):
        seq = tuple(float(t) for t in times.flatten().tolist())
    else:
        raise TypeError(f"{name} must be a float or a sequence of floats, got {times!r}")
    for t in seq:
        ok = (0.0 <= t <= 1.0) if closed else (0.0 < t < 1.0)
        if not math.isfinite(t) or not ok:
            interval = "[0, 1]" if closed else "(0, 1)"
            raise ValueError(f"{name} must lie in {interval}, got {t!r}")
    return seq


def is_per_pair(times: object) -> bool:
    """True when ``times`` holds one sequence per pair of frames (a sequence of sequences, a 2-D tensor)."""
    if isinstance(times, torch.Tensor):
        return times.dim() == 2
    if isinstance(times, Sequence) and not isinstance(times, str) and len(times) > 0:
        return not isinstance(times[0], (int, float))  # a bool is an int: check_times refuses it
    return False


def check_pair_times(
    times: float | Sequence[float] | Sequence[Sequence[float]] | torch.Tensor, pairs: int, name: str = "times"
) -> tuple[tuple[float, ...], ...]:
    """The times of each of ``pairs`` consecutive frame pairs, each a tuple of floats in (0, 1).

    ``times`` is either one float / flat sequence, the same for every pair (``(0.5,)``), or
    one sequence per pair (``[(0.25,), (), (0.5, 0.75)]``, or a ``(pairs, K)`` tensor), whose
    length must be ``pairs`` (``T - 1`` for ``T`` frames).
    """
    if not is_per_pair(times):
        if isinstance(times, Sequence) and any(isinstance(t, (Sequence, torch.Tensor)) for t in times):
            raise TypeError(f"{name} mixes numbers and sequences: give one flat sequence or one sequence per pair")
        flat = check_times(times, name)  # type: ignore[arg-type]
        return (flat,) * pairs
    rows = list(times)  # type: ignore[arg-type]
    if len(rows) != pairs:
        raise ValueError(
            f"{name} holds {len(rows)} per-pair sequence(s); it must hold one per consecutive pair of frames "
            f"(T - 1 = {pairs}), or be one flat sequence for every pair"
        )
    for j, row in enumerate(rows):
        if isinstance(row, (int, float)) or (isinstance(row, torch.Tensor) and row.dim() == 0):
            raise TypeError(f"{name} mixes numbers and sequences (item {j} is {row!r}): give one sequence per pair")
    return tuple(check_times(row, f"{name}[{j}]") for j, row in enumerate(rows))


def check_positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


#: names accepted for floating dtypes wherever a dtype is given as text (``"bf16"``, ``"torch.half"``)
DTYPE_NAMES: dict[str, torch.dtype] = {
    "float32": torch.float32, "fp32": torch.float32, "float": torch.float32,
    "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
    "float16": torch.float16, "fp16": torch.float16, "half": torch.float16,
    "float64": torch.float64, "fp64": torch.float64, "double": torch.float64,
}


def check_dtype(
    value: object, name: str = "dtype", *, allowed: Sequence[torch.dtype] = FLOAT_DTYPES
) -> torch.dtype:
    """A floating ``torch.dtype`` from a dtype or one of :data:`DTYPE_NAMES` (``torch.`` prefix allowed)."""
    if isinstance(value, str):
        key = value.removeprefix("torch.")
        if key not in DTYPE_NAMES:
            raise ValueError(f"{name} must be one of {sorted(DTYPE_NAMES)}, got {value!r}")
        value = DTYPE_NAMES[key]
    if not isinstance(value, torch.dtype) or value not in allowed:
        names = ", ".join(str(d).removeprefix("torch.") for d in allowed)
        raise ValueError(f"{name} must be a floating torch dtype ({names}), got {value!r}")
    return value
