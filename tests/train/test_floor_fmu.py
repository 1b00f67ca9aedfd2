"""FMU's start from a linear upsampler and a linear blend (preserve_function_fmu, fit_subpixel_taps), its exact
warps, and the shared floor loop through tools/train_fmu.py."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import stvsr
from stvsr.models.fmu import FMU, fmu_backwarp
from stvsr.train.warmstart import fit_subpixel_taps, preserve_function_fmu
from tests.train.floor_tool import check_dry_run, check_resume_and_report


def _small(**kw: object) -> FMU:
    torch.manual_seed(0)
    return FMU(rsdn_channels=16, rsdn_blocks=2, grid_channels=[8, 16, 24], exact_warp=True, **kw).eval()


def _taps(seed: int = 0) -> torch.Tensor:
    taps = torch.rand(16, 3, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return taps / taps.sum(dim=(1, 2), keepdim=True)


def _upsample(lr: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
    """``(..., 3, h, w)`` -> ``(..., 3, 4h, 4w)``: the depth-to-space filter of ``taps`` (zero padding)."""
    h, w = lr.shape[-2:]
    out = F.pixel_shuffle(F.conv2d(lr.reshape(-1, 1, h, w), taps.view(16, 1, 3, 3).to(lr), padding=1), 4)
    return out.reshape(*lr.shape[:-2], 4 * h, 4 * w)


def test_fit_subpixel_taps_recovers_a_known_filter() -> None:
    taps = _taps()
    lr = torch.rand(2, 3, 14, 18, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    fitted = fit_subpixel_taps(lr, _upsample(lr, taps), 4)
    assert fitted.dtype == torch.float64 and fitted.shape == (16, 3, 3)
    torch.testing.assert_close(fitted, taps, rtol=0, atol=1e-10)


def test_fit_subpixel_taps_of_bicubic_degradation_sums_to_one() -> None:
    """On real downscaling the fitted taps are an interpolator: flat fields stay flat."""
    from stvsr.ops.resize import imresize

    g = torch.Generator().manual_seed(2)
    hr = F.avg_pool2d(torch.rand(2, 3, 256, 256, generator=g), 5, 1, 2)  # smooth content
    lr = imresize(hr, size=(64, 64))
    taps = fit_subpixel_taps(lr, hr, 4)
    torch.testing.assert_close(taps.sum(dim=(1, 2)), torch.ones(16, dtype=torch.float64), rtol=0, atol=0.02)
    # the centre tap dominates and the filter is symmetric under flipping the sub-pixel grid
    assert (taps[:, 1, 1] > 0.6).all()
    flipped = taps.view(4, 4, 3, 3).flip(0, 1, 2, 3).reshape(16, 3, 3)
    torch.testing.assert_close(taps, flipped, rtol=0, atol=0.05)


@pytest.mark.parametrize(("lr", "hr", "size", "match"), [
    ((2, 3, 8, 8), (2, 3, 16, 16), 3, "hr"),
    ((3, 8, 8), (3, 32, 32), 3, "lr"),
    ((2, 3, 8, 8), (2, 3, 32, 32), 4, "size"),
])
def test_fit_subpixel_taps_rejects_bad_shapes(lr: tuple[int, ...], hr: tuple[int, ...], size: int, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        fit_subpixel_taps(torch.rand(lr), torch.rand(hr), 4, size)


@pytest.mark.parametrize("t", [0.5, 0.25])
def test_fmu_starts_as_upsampler_and_blend(t: float) -> None:
    model, taps = _small(), _taps(3)
    lr = torch.rand(1, 4, 3, 16, 20, generator=torch.Generator().manual_seed(4))
    keys = _upsample(lr, taps)
    blend = (1 - t) * keys[:, 1] + t * keys[:, 2]
    with torch.no_grad():
        before = model.forward_window(lr, t)
        assert (before.hr_keyframes - keys).abs().mean() > 1e-2  # the check can fail
        assert "taps" in preserve_function_fmu(model, taps.float(), readout=0.0)
        out = model.forward_window(lr, t)
    torch.testing.assert_close(out.hr_keyframes, keys, rtol=0, atol=2e-5)
    torch.testing.assert_close(out.hr_interp[:, 0], blend, rtol=0, atol=2e-5)
    torch.testing.assert_close(out.lr_interp[:, 0], (1 - t) * lr[:, 1] + t * lr[:, 2], rtol=0, atol=2e-6)


def test_fmu_default_start_is_near_and_every_part_learns() -> None:
    """readout 0.1: within a few thousandths of the floor, and the first step reaches RSDN, PWC-Net and the nets."""
    model, taps = _small().train(), _taps(5)
    preserve_function_fmu(model, taps.float())
    lr = torch.rand(1, 4, 3, 16, 16, generator=torch.Generator().manual_seed(6))
    out = model.forward_window(lr, 0.5)
    keys = _upsample(lr, taps)
    assert (out.hr_keyframes - keys).abs().mean() < 0.01
    flows = model.flownet(lr[:, 1], lr[:, 0])
    assert flows.abs().max() == 0
    loss = (out.hr_keyframes - keys.roll(1, -1)).abs().mean() + out.hr_interp.abs().mean() + (flows - 1).abs().mean()
    loss.backward()
    for name in ("vsrnet.neuro.conv_d.weight", "vsrnet.neuro.SD1.conv_d1.weight", "vsrnet.conv.weight",
                 "flownet.moduleTwo.moduleSix.0.weight", "flownet.moduleRefiner.moduleMain.12.weight",
                 "masknet.conv3.weight", "synthnet.Lout.block.3.weight"):
        grad = model.get_parameter(name).grad
        assert grad is not None and grad.abs().sum() > 0, name


def test_fmu_start_rejects_bad_taps() -> None:
    with pytest.raises(ValueError, match="taps"):
        preserve_function_fmu(_small(), torch.rand(9, 3, 3))
    with pytest.raises(ValueError, match="taps"):
        preserve_function_fmu(_small(), torch.rand(16, 5, 5))


def test_exact_warp_is_the_identity_at_zero_flow() -> None:
    img = torch.rand(1, 3, 12, 20, generator=torch.Generator().manual_seed(7))
    zero = torch.zeros(1, 2, 12, 20)
    torch.testing.assert_close(fmu_backwarp(img, zero, exact=True), img, rtol=0, atol=1e-6)
    # the authors' conventions are not: a zoom by (W - 1)/W, or half a pixel
    assert (fmu_backwarp(img, zero, align_corners=True) - img).abs().max() > 0.05
    assert (fmu_backwarp(img, zero, align_corners=False) - img).abs().max() > 0.05
    shift = torch.zeros(1, 2, 12, 20)
    shift[:, 0] = 1.0
    torch.testing.assert_close(fmu_backwarp(img, shift, exact=True)[..., :-1], img[..., 1:], rtol=0, atol=1e-6)


def test_exact_warp_config() -> None:
    model = _small()
    assert model.config["exact_warp"] is True
    assert FMU(**model.config).exact_warp
    with pytest.raises(ValueError, match="authors_compat and exact_warp"):
        FMU(authors_compat=True, exact_warp=True)
    # the published configuration keeps the authors' warps
    assert stvsr.load("fmu", pretrained=False).config["exact_warp"] is False


def test_train_fmu_dry_run(tmp_path: Path) -> None:
    out = tmp_path / "run"
    state = check_dry_run("train_fmu.py", tmp_path, "--bf16")
    log = (out / "log.txt").read_text()
    assert "fitted 3x3 x4 taps" in log and " flow " in log
    model = stvsr.load("fmu", pretrained=False, exact_warp=True)
    model.load_state_dict({k: v.float() for k, v in state.items()})  # strict: the registry's FMU
    assert set(check_resume_and_report("train_fmu.py", tmp_path)) == {"weights", "x4x2", "x4x2_baseline"}
