"""bfloat16 on the CPU for every registered model (tiny configs): both ways of asking for it.

* ``stvsr upscale/evaluate --dtype bfloat16`` (and ``Upscaler(dtype=...)``) run the float32 model
  under ``torch.autocast("cpu", dtype=torch.bfloat16)``;
* ``stvsr.load(name, dtype=torch.bfloat16)`` converts the weights: the model then takes and
  returns bfloat16 tensors.

Each must give a finite result close to the float32 one.  The bound is a PSNR between the two
outputs (images in [0, 1]; random tiny weights, so some models amplify rounding more than
trained ones would): bf16 keeps 8 bits of mantissa, ~2e-3 relative, so garbage (a wrong cast,
a dropped branch, zeros) falls far below it while rounding stays far above.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch

from tests.models.test_registry import NAMES, _call_of, _tensors, _tiny

MIN_PSNR_DB = 30.0


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = (a.double() - b.double()).square().mean().item()
    return math.inf if mse == 0 else 10.0 * math.log10(1.0 / mse)


def _setup(name: str) -> tuple[torch.nn.Module, Any, list[torch.Tensor], dict[str, Any]]:
    call = _call_of(name)
    if call is None:
        pytest.skip(f"{name}: no default call for its task")
    model = _tiny(name)
    g = torch.Generator().manual_seed(0)
    inputs = [torch.rand(*shape, generator=g) for shape in call.get("inputs", {}).values()]
    return model, call, inputs, call.get("kwargs", {})


def _first(model: torch.nn.Module, call: dict[str, Any], inputs: list[torch.Tensor], kwargs: dict) -> torch.Tensor:
    fn = getattr(model, call["method"]) if call.get("method") else model
    with torch.no_grad():
        tensors = _tensors(fn(*inputs, **kwargs))
    assert tensors
    return tensors[0]


@pytest.mark.parametrize("name", NAMES)
def test_autocast_bf16_close_to_fp32(name: str) -> None:
    model, call, inputs, kwargs = _setup(name)
    ref = _first(model, call, inputs, kwargs)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = _first(model, call, inputs, kwargs)
    assert out.shape == ref.shape
    assert bool(torch.isfinite(out).all()), f"{name}: non-finite output in bf16"
    assert _psnr(out, ref) > MIN_PSNR_DB, f"{name}: bf16 autocast {_psnr(out, ref):.1f} dB from fp32"


@pytest.mark.parametrize("name", NAMES)
def test_bf16_weights_and_input_close_to_fp32(name: str) -> None:
    model, call, inputs, kwargs = _setup(name)
    ref = _first(model, call, inputs, kwargs)
    model = model.to(torch.bfloat16)  # what stvsr.load(name, dtype=torch.bfloat16) gives
    out = _first(model, call, [t.to(torch.bfloat16) for t in inputs], kwargs)
    assert out.dtype == torch.bfloat16, f"{name}: bf16 model returned {out.dtype}"
    assert out.shape == ref.shape
    assert bool(torch.isfinite(out).all()), f"{name}: non-finite output in bf16"
    assert _psnr(out, ref) > MIN_PSNR_DB, f"{name}: bf16 weights {_psnr(out, ref):.1f} dB from fp32"
