"""What a model can be asked for: one frozen, typed object attached to every stvsr model.

Every :class:`stvsr.models.StvsrModel` answers ``model.capabilities`` from its own
configuration, so a model built directly (``MsMr(variant="fix")``) knows as much
as one loaded from the registry. The video pipeline, the evaluation, the model
cards, ``stvsr models`` and the documentation read this object and nothing else.

A plain ``nn.Module`` that follows the stvsr forward contract
(``model(lr (B, T, 3, h, w), scale=..., times=...)``) has no ``capabilities``;
:func:`capabilities_of` then assumes :data:`PLAIN_MODULE` (any scale, any time),
which is the contract such a module promises.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from stvsr._validate import check_positive_int

__all__ = ["PLAIN_MODULE", "TASKS", "Capabilities", "capabilities_of"]

#: what a model does: space-time SR, video SR (space only), frame interpolation (time only),
#: a resampler (downscale and upscale, CVRS) and optical flow
TASKS = ("stvsr", "vsr", "vfi", "resampler", "flow")
_COLOURS = ("RGB", "BGR")


def _floats(values: Iterable[Any], what: str) -> tuple[float, ...]:
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValueError(f"Capabilities.{what} must hold finite numbers, got {v!r}")
        out.append(float(v))
    return tuple(out)


@dataclass(frozen=True)
class Capabilities:
    """What a model accepts and returns.

    Attributes:
        task: one of :data:`TASKS`.
        space_scales: the space factors the model is made for; ``None`` = any factor
            (arbitrary scale), ``(4.0,)`` = x4 only, ``()`` = no space scaling (flow).
            Frame interpolation is ``(1.0,)``.
        times: the time stamps ``t`` in (0, 1) it synthesises between two key frames;
            ``None`` = any ``t``, ``(0.5,)`` = the middle frame only, ``()`` = none (video SR).
        input_frames: exact frames per call (pair models: 2); ``None`` = any ``T >= min_frames``.
        min_frames: fewest frames per call when ``input_frames`` is None.
        trained_frames: clip length the model was trained with (a good window), if known.
        colour: channel order at the API (stvsr models take and return RGB).
        weights_colour: channel order the authors' weights expect; a model whose weights
            are BGR flips channels inside, so callers always pass RGB.
        resampled_from: for a model that accepts any space factor (``space_scales=None``) but
            learned only this one (``rife_basicvsr``: x4), other factors being its output resized;
            None for a continuous-scale model (``msmr_arb``) and for fixed-scale models.
        per_pair_times: ``forward`` also takes ``times`` as one sequence per consecutive pair of
            frames (``times=[(0.4,), (), (0.2, 0.8)]``, output ``[key0, pair 0's times, key1, ...]``),
            computing the per-window work once; the windowing engine then asks every pair only
            for the times its output frames need.
    """

    task: str
    space_scales: tuple[float, ...] | None = None
    times: tuple[float, ...] | None = None
    input_frames: int | None = None
    min_frames: int = 2
    trained_frames: int | None = None
    colour: str = "RGB"
    weights_colour: str = "RGB"
    resampled_from: float | None = None
    per_pair_times: bool = False

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"Capabilities.task must be one of {TASKS}, got {self.task!r}")
        if self.space_scales is not None:
            scales = _floats(self.space_scales, "space_scales")
            if any(s <= 0 for s in scales):
                raise ValueError(f"Capabilities.space_scales must be positive, got {scales}")
            object.__setattr__(self, "space_scales", scales)
        if self.times is not None:
            times = _floats(self.times, "times")
            if any(not 0 < t < 1 for t in times):
                raise ValueError(f"Capabilities.times must lie in (0, 1), got {times}")
            object.__setattr__(self, "times", times)
        for what in ("input_frames", "trained_frames", "min_frames"):
            if getattr(self, what) is not None or what == "min_frames":
                check_positive_int(getattr(self, what), f"Capabilities.{what}")
        if self.resampled_from is not None:
            (learned,) = _floats((self.resampled_from,), "resampled_from")
            if self.space_scales is not None or learned <= 0:
                raise ValueError(
                    "Capabilities.resampled_from is the learned factor of an any-scale model (space_scales=None), "
                    f"a positive number; got {self.resampled_from!r} with space_scales={self.space_scales}"
                )
            object.__setattr__(self, "resampled_from", learned)
        if not isinstance(self.per_pair_times, bool):
            raise ValueError(f"Capabilities.per_pair_times must be a bool, got {self.per_pair_times!r}")
        for what in ("colour", "weights_colour"):
            if getattr(self, what) not in _COLOURS:
                raise ValueError(f"Capabilities.{what} must be one of {_COLOURS}, got {getattr(self, what)!r}")

    @classmethod
    def from_model(cls, model: Any) -> Capabilities:
        """The capabilities of ``model`` (see :func:`capabilities_of`)."""
        return capabilities_of(model)

    # -- questions callers ask ------------------------------------------------------------------
    @property
    def arbitrary_scale(self) -> bool:
        return self.space_scales is None

    @property
    def arbitrary_time(self) -> bool:
        return self.times is None

    @property
    def native_scale(self) -> float | None:
        """The model's own space factor (the first fixed one); None for arbitrary scale or none."""
        return self.space_scales[0] if self.space_scales else None

    def supports_scale(self, scale: float) -> bool:
        if self.space_scales is None:
            return True
        return any(math.isclose(scale, s) for s in self.space_scales)

    def supports_times(self, times: Sequence[float]) -> bool:
        if self.times is None:
            return True
        own = {round(t, 6) for t in self.times}
        return all(round(float(t), 6) in own for t in times)

    # -- the card view ---------------------------------------------------------------------------
    def card_fields(self) -> dict[str, Any]:
        """The card's ``task``, ``space_scale``, ``time``, ``input_frames`` and ``colour`` (JSON-ready)."""
        if self.space_scales is None:
            space: Any = "arbitrary"
        elif not self.space_scales:
            space = None
        elif len(self.space_scales) == 1:
            space = self.space_scales[0]
        else:
            space = list(self.space_scales)
        time: Any = "arbitrary" if self.times is None else (list(self.times) or None)
        frames: Any = self.input_frames
        if frames is None:
            frames = f"T>={self.min_frames}" + (f" (trained with {self.trained_frames})" if self.trained_frames else "")
        colour = self.colour
        if self.weights_colour != self.colour:
            colour += f" at the API; the authors' weights are {self.weights_colour} (converted inside)"
        return {"task": self.task, "space_scale": space, "time": time, "input_frames": frames, "colour": colour}


#: what a plain ``nn.Module`` following the stvsr forward contract is taken to accept
PLAIN_MODULE = Capabilities(task="stvsr")


def capabilities_of(model: Any) -> Capabilities:
    """``model.capabilities`` or, for a plain module without them, :data:`PLAIN_MODULE`."""
    caps = getattr(model, "capabilities", None)
    if caps is None:
        return PLAIN_MODULE
    if not isinstance(caps, Capabilities):
        raise TypeError(f"{type(model).__name__}.capabilities must be a Capabilities, got {type(caps).__name__}")
    return caps
