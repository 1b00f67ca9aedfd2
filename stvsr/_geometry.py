"""Where a space scale becomes an output size: the one rule every model, the pipeline and the
evaluation use, so that a size never turns into a scale and back with another rounding."""

from __future__ import annotations

from collections.abc import Sequence


def scaled_size(h: int, w: int, scale: float | Sequence[float]) -> tuple[int, int]:
    """``(H, W) = (round(scale_h * h), round(scale_w * w))``, each at least 1.

    Args:
        h, w: input height and width in pixels.
        scale: one factor or ``(scale_h, scale_w)`` (already validated by the caller).

    Python's ``round`` (halves to even) is the rule: ``13 * 2.5 = 32.5 -> 32``.
    """
    if isinstance(scale, (int, float)):
        sh = sw = float(scale)
    else:
        sh, sw = (float(s) for s in scale)
    return max(1, round(sh * h)), max(1, round(sw * w))
