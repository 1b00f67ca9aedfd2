"""MSITF's start from its trilinear base (preserve_function_msitf) and the shared floor loop through tools/train_msitf.py."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import stvsr
from stvsr.models.msitf import MSITF
from stvsr.train.warmstart import preserve_function_msitf
from tests.train.floor_tool import check_dry_run, check_resume_and_report


def _small() -> MSITF:
    torch.manual_seed(0)
    return MSITF(nf=16, groups=2, front_rbs=1, swin_depths=[1], swin_heads=[2], attn_heads=2,
                 authors_compat=True).eval()


def _trilinear(lr: torch.Tensor) -> torch.Tensor:
    b, n, c, h, w = lr.shape
    base = F.interpolate(lr.transpose(1, 2), size=(2 * n - 1, 4 * h, 4 * w), mode="trilinear", align_corners=False)
    return base.transpose(1, 2)


def test_msitf_starts_as_its_trilinear_base() -> None:
    model = _small()
    lr = torch.rand(1, 3, 3, 16, 24, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert (model(lr, clamp=False) - _trilinear(lr)).abs().max() > 1e-3  # the check can fail
        assert "trilinear" in preserve_function_msitf(model, readout=0.0)
        torch.testing.assert_close(model(lr, clamp=False), _trilinear(lr), rtol=0, atol=1e-6)


def test_msitf_default_start_is_near_the_base() -> None:
    """The default readout (0.1) keeps the output within a few thousandths of the base."""
    model, ref = _small(), _small()
    lr = torch.rand(1, 3, 3, 16, 24, generator=torch.Generator().manual_seed(1))
    preserve_function_msitf(model)
    with torch.no_grad():
        base = _trilinear(lr)
        far = (ref(lr, clamp=False) - base).abs().mean()
        near = (model(lr, clamp=False) - base).abs().mean()
    torch.testing.assert_close(near, far * 0.1, rtol=1e-4, atol=1e-7)  # the readout is linear in conv_last
    assert near < 0.01


@pytest.mark.parametrize("readout", [0.0, 0.1])
def test_msitf_start_gradients(readout: float) -> None:
    """At readout 0 only conv_last gets a gradient on the first step (the saddle); at 0.1 every layer does."""
    model = _small().train()
    preserve_function_msitf(model, readout=readout)
    lr = torch.rand(1, 2, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    gt = torch.rand(1, 3, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for step in range(2):
        opt.zero_grad()
        (model(lr, clamp=False) - gt).abs().mean().backward()
        assert model.conv_last.weight.grad.abs().sum() > 0
        hr = model.HRconv.weight.grad
        if step == 0 and readout == 0:
            assert hr is None or hr.abs().sum() == 0
        else:
            assert hr.abs().sum() > 0
        opt.step()


def test_msitf_start_rejects_bad_arguments() -> None:
    with pytest.raises(TypeError, match="MSITF"):
        preserve_function_msitf(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="readout"):
        preserve_function_msitf(_small(), readout=2.0)


def test_train_msitf_dry_run(tmp_path: Path) -> None:
    state = check_dry_run("train_msitf.py", tmp_path, "--bf16")
    model = stvsr.load("msitf", pretrained=False)
    model.load_state_dict({k: v.float() for k, v in state.items()})  # strict: the registry's MSITF
    scores = check_resume_and_report("train_msitf.py", tmp_path)
    assert set(scores) == {"weights", "x4x2", "x4x2_baseline"}  # no t-grid: MSITF renders midpoints only
