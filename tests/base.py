"""What the tests share (kornia's ``testing/base.py`` idea): the dtypes an op must support and one
table of tolerances for comparing an op in a dtype with its float64 reference.

Use the ``dtype`` and ``device`` fixtures of ``tests/conftest.py`` to run a test over every
supported dtype and every available device, and :func:`assert_close_to_reference` to compare.
"""

from __future__ import annotations

import torch

#: the floating dtypes every op supports
DTYPES = (torch.float64, torch.float32, torch.bfloat16, torch.float16)

#: absolute tolerance against a float64 reference, for values of order 1 (inputs in [0, 1]):
#: float64 agrees to rounding noise; float32 to ~100 ulp; bfloat16 (8-bit mantissa) and float16
#: (11-bit) to a few of their ulp after a short chain of operations
ATOL = {torch.float64: 1e-10, torch.float32: 1e-5, torch.bfloat16: 5e-2, torch.float16: 5e-3}


def tolerance(dtype: torch.dtype, scale: float = 1.0) -> dict[str, float]:
    """``assert_close`` keyword arguments for ``dtype``: ``rtol=0`` and ``atol = ATOL[dtype] * scale``.

    ``scale`` widens the table for ops that amplify rounding (e.g. 10 for a separable resize,
    whose two passes each round in ``dtype``).
    """
    return {"rtol": 0.0, "atol": ATOL[dtype] * scale}


def assert_close_to_reference(got: torch.Tensor, ref: torch.Tensor, *, scale: float = 1.0) -> None:
    """``got`` (any dtype) against a float64 ``ref`` within :func:`tolerance` of ``got.dtype``."""
    torch.testing.assert_close(got.double().cpu(), ref.double().cpu(), **tolerance(got.dtype, scale))
