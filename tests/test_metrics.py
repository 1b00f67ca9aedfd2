"""PSNR / SSIM against hand-computed values and a direct float64 implementation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from stvsr.metrics import gaussian_window, psnr, rgb_to_y, ssim


def test_psnr_constant_error() -> None:
    target = torch.zeros(3, 8, 9)
    pred = torch.full((3, 8, 9), 10 / 255)
    expected = 10 * math.log10(255**2 / 100)  # every pixel off by 10 levels: MSE = 100
    assert float(psnr(pred, target)) == pytest.approx(expected, abs=1e-12)
    u8 = np.zeros((8, 9, 3), np.uint8)
    assert psnr(u8 + 10, u8) == pytest.approx(expected, abs=1e-12)
    assert isinstance(psnr(u8 + 10, u8), float)


def test_psnr_identical_is_inf() -> None:
    x = torch.rand(2, 3, 5, 5)
    assert torch.isinf(psnr(x, x)).all()
    u8 = np.random.default_rng(0).integers(0, 256, (5, 5, 3), dtype=np.uint8)
    assert math.isinf(psnr(u8, u8))


def test_y_of_known_colours() -> None:
    colours = torch.tensor([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [1.0, 1.0, 1.0], [0, 0, 0], [0.5, 0.25, 0.75]])
    img = colours.t().reshape(1, 3, 1, 6).double()
    y = rgb_to_y(img).flatten() * 255
    expected = [16 + 65.481, 16 + 128.553, 16 + 24.966, 235.0, 16.0, 16 + 65.481 * 0.5 + 128.553 * 0.25 + 24.966 * 0.75]
    assert y.tolist() == pytest.approx(expected, abs=1e-10)
    u8 = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255], [0, 0, 0]]], np.uint8)
    assert rgb_to_y(u8)[0].tolist() == pytest.approx(expected[:5], abs=1e-10)
    assert rgb_to_y(torch.rand(2, 3, 4, 5)).shape == (2, 1, 4, 5)


def test_psnr_y_channel_constant_offset() -> None:
    target = torch.zeros(3, 6, 6)
    pred = torch.full((3, 6, 6), 10 / 255)
    dy = 10 * (65.481 + 128.553 + 24.966) / 255  # Y moves by 219/255 of an RGB offset
    assert float(psnr(pred, target, y_channel=True)) == pytest.approx(10 * math.log10(255**2 / dy**2), abs=1e-9)


def _basicsr_y(img_rgb_u8: np.ndarray) -> np.ndarray:
    """BasicSR's to_y_channel on the BGR image, step by step in float32."""
    bgr = img_rgb_u8[..., ::-1].astype(np.float32) / 255.0
    y = (np.dot(bgr, np.array([24.966, 128.553, 65.481], np.float32)) + 16.0) / 255.0
    return y.astype(np.float32) * 255.0


def test_psnr_y_matches_basicsr_float32_path() -> None:
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (16, 17, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-9, 10, a.shape), 0, 255).astype(np.uint8)
    ya, yb = _basicsr_y(a).astype(np.float64), _basicsr_y(b).astype(np.float64)
    ref = 10 * np.log10(255**2 / np.mean((ya - yb) ** 2))
    assert psnr(a, b, y_channel=True) == pytest.approx(ref, abs=1e-4)


def test_quantize_and_batch_shapes() -> None:
    target = torch.randint(0, 255, (2, 4, 3, 12, 12)).float() / 255  # on the 8-bit grid
    pred = target + 0.4 / 255  # under half a level: rounds back to target
    assert psnr(pred, target).shape == (2, 4)
    assert torch.isinf(psnr(pred, target)).all()
    assert torch.isfinite(psnr(pred, target, quantize=False)).all()
    # float32 and float64 inputs give the same 8-bit scores
    t32 = torch.rand(3, 12, 12)
    p32 = (t32 + 0.05 * torch.randn(3, 12, 12)).clamp(0, 1)
    assert float(psnr(p32, t32)) == float(psnr(p32.double(), t32.double()))
    assert float(ssim(p32, t32)) == pytest.approx(float(ssim(p32.double(), t32.double())), abs=1e-15)


def test_tensor_and_numpy_agree() -> None:
    rng = np.random.default_rng(2)
    a = rng.integers(0, 256, (2, 14, 13, 3), dtype=np.uint8)
    b = rng.integers(0, 256, (2, 14, 13, 3), dtype=np.uint8)
    ta = torch.from_numpy(a).permute(0, 3, 1, 2).double() / 255
    tb = torch.from_numpy(b).permute(0, 3, 1, 2).double() / 255
    for y in (False, True):
        np.testing.assert_allclose(psnr(a, b, y_channel=y), psnr(ta, tb, y_channel=y).numpy(), atol=1e-12)
        np.testing.assert_allclose(ssim(a, b, y_channel=y), ssim(ta, tb, y_channel=y).numpy(), atol=1e-12)


def test_crop_border() -> None:
    target = torch.rand(3, 10, 10)
    pred = target.clone()
    pred[:, :2] = 1 - pred[:, :2]
    pred[:, :, -2:] = 0.0
    assert torch.isinf(psnr(pred, target, crop_border=2))
    assert torch.isfinite(psnr(pred, target, crop_border=1))
    with pytest.raises(ValueError, match="crop_border"):
        psnr(pred, target, crop_border=5)


def test_ssim_identical_is_one() -> None:
    x = torch.rand(2, 3, 16, 20)
    np.testing.assert_allclose(ssim(x, x).numpy(), 1.0, atol=1e-12)
    u8 = np.random.default_rng(3).integers(0, 256, (11, 11, 3), dtype=np.uint8)
    assert ssim(u8, u8, y_channel=True) == pytest.approx(1.0, abs=1e-12)


def _ssim_direct(a: np.ndarray, b: np.ndarray) -> float:
    """Per-window Gaussian-weighted SSIM with explicit loops (float64, one channel, [0, 255])."""
    g = np.exp(-((np.arange(11) - 5.0) ** 2) / (2 * 1.5**2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    vals = []
    for i in range(a.shape[0] - 10):
        for j in range(a.shape[1] - 10):
            pa, pb = a[i : i + 11, j : j + 11], b[i : i + 11, j : j + 11]
            ma, mb = (w * pa).sum(), (w * pb).sum()
            va, vb = (w * (pa - ma) ** 2).sum(), (w * (pb - mb) ** 2).sum()
            cov = (w * (pa - ma) * (pb - mb)).sum()
            vals.append(((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma**2 + mb**2 + c1) * (va + vb + c2)))
    return float(np.mean(vals))


def test_ssim_matches_direct_formula() -> None:
    rng = np.random.default_rng(4)
    a = rng.integers(0, 256, (13, 14, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-40, 41, a.shape), 0, 255).astype(np.uint8)
    direct = np.mean([_ssim_direct(a[..., c].astype(np.float64), b[..., c].astype(np.float64)) for c in range(3)])
    assert ssim(a, b) == pytest.approx(direct, abs=1e-12)
    ya, yb = rgb_to_y(a), rgb_to_y(b)
    assert ssim(a, b, y_channel=True) == pytest.approx(_ssim_direct(ya, yb), abs=1e-12)


def test_gaussian_window() -> None:
    w = gaussian_window()
    assert w.shape == (11, 11) and float(w.sum()) == pytest.approx(1.0, abs=1e-15)
    assert torch.equal(w, w.t()) and int(w.argmax()) == 60


def test_errors() -> None:
    x = torch.rand(3, 12, 12)
    with pytest.raises(ValueError, match="same shape"):
        psnr(x, x[:, :11])
    with pytest.raises(ValueError, match="3 \\(RGB\\) channels"):
        psnr(x[:1], x[:1], y_channel=True)
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim(x[:, :10], x[:, :10])
    with pytest.raises(TypeError, match="both"):
        psnr(x, x.numpy())
    with pytest.raises(TypeError, match="floating"):
        psnr((x * 255).to(torch.uint8), (x * 255).to(torch.uint8))
    with pytest.raises(ValueError, match="crop_border"):
        psnr(x, x, crop_border=-1)


@given(st.integers(0, 2**31 - 1), st.booleans())
def test_symmetry_and_bounds(seed: int, y: bool) -> None:
    g = torch.Generator().manual_seed(seed)
    a, b = torch.rand(3, 12, 12, generator=g), torch.rand(3, 12, 12, generator=g)
    assert float(psnr(a, b, y_channel=y)) == pytest.approx(float(psnr(b, a, y_channel=y)), abs=1e-9)
    s = float(ssim(a, b, y_channel=y))
    assert s == pytest.approx(float(ssim(b, a, y_channel=y)), abs=1e-12)
    assert -1.0 <= s <= 1.0
