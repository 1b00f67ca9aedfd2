"""rife_basicvsr given float16 / bfloat16 / float64 input (issue 17): a clear error naming the argument."""

from __future__ import annotations

import pytest
import torch

import stvsr


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_rife_basicvsr_input_dtype_mismatch_is_named(dtype: torch.dtype) -> None:
    model = stvsr.load("rife_basicvsr", pretrained=False, vfi={"widths": [8, 8, 8, 8]},
                       vsr={"num_feat": 8, "num_block": 1})
    lr = torch.rand(1, 2, 3, 16, 16)
    try:
        out = model(lr.to(dtype), scale=2.0, times=(0.5,))
    except TypeError as exc:  # refused: the message names the argument and the way out
        assert f"lr has dtype {dtype}" in str(exc) and "torch.autocast" in str(exc)
        assert "c10::" not in str(exc)
    else:  # accepted (the model casts): then it must be a real result
        assert out.shape == (1, 3, 3, 32, 32) and bool(torch.isfinite(out).all())
