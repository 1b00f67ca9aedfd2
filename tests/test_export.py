"""``stvsr.export``: torch.export and ONNX (checked with onnxruntime) of the default model and msmr_arb."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from stvsr import export
from stvsr.models.msmr import msmr_arb
from stvsr.models.two_stage import rife_basicvsr

TINY = {
    "rife_basicvsr": lambda: rife_basicvsr(vfi={"widths": [8, 8, 8, 8]}, vsr={"num_feat": 8, "num_block": 1}),
    "msmr_arb": lambda: msmr_arb(mid_channels=16, num_blocks=1, feat_blocks=1, sa_every=1, up_channels=8),
}
CALL = {"frames": 2, "size": (24, 32), "scale": 2.0, "times": (0.5,)}
ONNX = all(importlib.util.find_spec(m) is not None for m in ("onnx", "onnxscript", "onnxruntime"))


def _tiny(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return TINY[name]().eval()


@pytest.mark.parametrize("name", sorted(TINY))
def test_torch_export_matches_eager(name: str) -> None:
    model = _tiny(name)
    program = export.export_program(model, **CALL)
    lr = export.example_input(CALL["frames"], CALL["size"], seed=3)
    with torch.no_grad():
        ref = export.FixedCall(model, CALL["scale"], CALL["times"])(lr)
        got = program.module()(lr)
    assert got.shape == ref.shape == (1, 3, 3, 48, 64)
    torch.testing.assert_close(got, ref, rtol=0, atol=1e-5)


@pytest.mark.skipif(not ONNX, reason="onnx, onnxscript and onnxruntime are needed (pip install stvsr[export])")
@pytest.mark.parametrize("name", sorted(TINY))
def test_onnx_matches_pytorch_in_onnxruntime(name: str, tmp_path: Path) -> None:
    model = _tiny(name)
    path = export.to_onnx(model, tmp_path / f"{name}.onnx", **CALL)
    assert path.stat().st_size > 0
    assert export.check_onnx(path, model, **CALL) < 1e-4


@pytest.mark.parametrize("boost", [1.0, 40.0])
def test_rife_large_motion_fallback_is_traced_faithfully(boost: float, monkeypatch: pytest.MonkeyPatch) -> None:
    """Traced, the fallback computes both estimates and selects: the same result as the eager branch."""
    from stvsr.models.rife import Rife

    torch.manual_seed(0)
    rife = Rife(widths=[8, 8, 8, 8]).eval()
    with torch.no_grad():  # boosted block 1: its flow update exceeds 32 px, the fallback runs
        for p in rife.ifnet.block1.parameters():
            p.mul_(boost)
    lr = export.example_input(2, (32, 32), seed=2)
    tests: list[bool] = []
    refine = rife.ifnet._refine

    def spy(*args):  # type: ignore[no-untyped-def]
        out = refine(*args)
        if out[2] is not None:
            tests.append(bool(out[2]))
        return out

    monkeypatch.setattr(rife.ifnet, "_refine", spy)
    with torch.no_grad():
        ref = rife(lr, times=(0.5,))
    assert tests == [boost > 1]
    monkeypatch.undo()
    program = export.export_program(rife, frames=2, size=(32, 32), scale=1.0, times=(0.5,))
    with torch.no_grad():
        torch.testing.assert_close(program.module()(lr), ref, rtol=0, atol=1e-5)


def test_bad_arguments() -> None:
    with pytest.raises(TypeError, match="registry name or an nn.Module"):
        export.export_program(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="frames must be a positive integer"):
        export.example_input(0)
