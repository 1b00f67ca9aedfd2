"""Export a model at a fixed input size: ``torch.export`` programs and ONNX files.

An exported graph has no Python left in it, so everything a call decides at run time is fixed
at export: the number of input frames, their size, the space scale and the times. ::

    import stvsr.export
    path = stvsr.export.to_onnx("rife_basicvsr", "rb.onnx", frames=3, size=(64, 64), scale=4, times=(0.5,))
    err = stvsr.export.check_onnx(path, "rife_basicvsr", frames=3, size=(64, 64), scale=4, times=(0.5,))

The ONNX file takes ``lr`` ``(1, frames, 3, h, w)`` float32 RGB in [0, 1] and returns
``(1, frames + (frames - 1) K, 3, H, W)`` in the usual ``[key, t1..tK, key, ...]`` order.
``pip install stvsr[export]`` installs ``onnx``, ``onnxscript`` and ``onnxruntime``.

While a call is traced, the models skip their value checks (NaN, range) and pick traceable
paths with the same results: ``softsplat`` uses its ``scatter_add`` composition instead of the
C++ kernel, and RIFE's large-motion fallback (a second flow estimate at half resolution when the
first finds motion over 32 px) computes both estimates and selects with ``torch.where``, so the
graph holds both branches (its cost: about a quarter more RIFE work).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from stvsr._validate import check_positive_int, check_scale, check_times

__all__ = ["FixedCall", "check_onnx", "export_program", "to_onnx"]


class FixedCall(nn.Module):
    """``model(lr, scale=scale, times=times)`` as a one-argument module (what an exported graph runs)."""

    def __init__(self, model: nn.Module, scale: float | tuple[float, float] = 4.0,
                 times: Sequence[float] = (0.5,)) -> None:
        super().__init__()
        self.model = model
        self.scale = check_scale(scale)
        self.times = check_times(times)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        return self.model(lr, scale=self.scale, times=self.times)


def _module(model: str | nn.Module) -> nn.Module:
    if isinstance(model, str):
        from stvsr.zoo import load

        return load(model)
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a registry name or an nn.Module, got {type(model).__name__}")
    return model


def example_input(frames: int = 3, size: tuple[int, int] = (64, 64), seed: int = 0) -> torch.Tensor:
    """A ``(1, frames, 3, h, w)`` float32 clip in [0, 1] (``size`` is ``(h, w)``)."""
    check_positive_int(frames, "frames")
    h, w = (check_positive_int(int(v), "size") for v in size)
    return torch.rand(1, frames, 3, h, w, generator=torch.Generator().manual_seed(seed))


def export_program(
    model: str | nn.Module,
    *,
    frames: int = 3,
    size: tuple[int, int] = (64, 64),
    scale: float | tuple[float, float] = 4.0,
    times: Sequence[float] = (0.5,),
) -> torch.export.ExportedProgram:
    """``torch.export`` of ``model`` (a registry name or a module, put in eval mode) at a fixed call."""
    call = FixedCall(_module(model), scale, times).eval()
    with torch.no_grad():
        return torch.export.export(call, (example_input(frames, size),))


def to_onnx(
    model: str | nn.Module,
    path: str | os.PathLike[str],
    *,
    frames: int = 3,
    size: tuple[int, int] = (64, 64),
    scale: float | tuple[float, float] = 4.0,
    times: Sequence[float] = (0.5,),
    opset: int = 18,
) -> Path:
    """Write ``model`` as an ONNX file for ``lr (1, frames, 3, *size)`` (module docs); returns the path.

    Raises:
        ImportError: ``onnx`` / ``onnxscript`` are missing (``pip install stvsr[export]``).
    """
    for needed in ("onnx", "onnxscript"):
        try:
            __import__(needed)
        except ImportError as exc:
            raise ImportError(f"ONNX export needs {needed}: pip install stvsr[export]") from exc
    program = export_program(model, frames=frames, size=size, scale=scale, times=times)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx_program = torch.onnx.export(program, (), dynamo=True, opset_version=opset, external_data=False)
    assert onnx_program is not None
    onnx_program.save(str(out))
    return out


def onnx_session(path: str | os.PathLike[str], threads: int | None = None) -> Any:
    """An ``onnxruntime`` CPU session for ``path`` (``threads``: intra-op threads, None for its default)."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise ImportError("running ONNX files needs onnxruntime: pip install stvsr[export]") from exc
    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def check_onnx(
    path: str | os.PathLike[str],
    model: str | nn.Module,
    *,
    frames: int = 3,
    size: tuple[int, int] = (64, 64),
    scale: float | tuple[float, float] = 4.0,
    times: Sequence[float] = (0.5,),
    seed: int = 1,
) -> float:
    """Largest absolute difference between ``onnxruntime`` on ``path`` and the PyTorch model on one clip."""
    lr = example_input(frames, size, seed)
    session = onnx_session(path)
    (got,) = session.run(None, {session.get_inputs()[0].name: lr.numpy()})
    with torch.no_grad():
        ref = FixedCall(_module(model), scale, times).eval()(lr)
    return float((torch.from_numpy(got) - ref).abs().max())
