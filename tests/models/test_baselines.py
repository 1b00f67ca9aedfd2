"""Parameter-free baselines: bicubic space upscaling with frame repeat / linear blend in time."""

from __future__ import annotations

import pytest
import torch

import stvsr
from stvsr.models.baselines import BicubicBaseline, upscale_frames
from stvsr.ops import imresize


def _clip(t: int = 3, h: int = 6, w: int = 7, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.rand(2, t, 3, h, w, generator=torch.Generator().manual_seed(0), dtype=dtype)


@pytest.mark.parametrize("name", ["bicubic_repeat", "bicubic_blend"])
@pytest.mark.parametrize(
    ("scale", "times", "size"),
    [(4.0, (0.5,), (24, 28)), ((2.0, 3.0), (0.25, 0.5, 0.75), (12, 21)), (1.5, (), (9, 10)), (2.5, 0.3, (15, 18))],
)
def test_shapes_and_keys(name: str, scale: float, times: tuple[float, ...], size: tuple[int, int]) -> None:
    lr = _clip()
    model = stvsr.load(name)
    out = model(lr, scale=scale, times=times)
    k = 1 if isinstance(times, float) else len(times)
    assert out.shape == (2, 3 + 2 * k, 3, *size)
    keys = out[:, :: k + 1]
    assert torch.equal(keys, upscale_frames(lr, *((scale, scale) if isinstance(scale, float) else scale)).clamp(0, 1))
    assert out.min() >= 0 and out.max() <= 1


def test_integer_scale_is_matlab_bicubic() -> None:
    lr = _clip(t=2, dtype=torch.float64)
    out = BicubicBaseline(clamp=False)(lr, scale=4, times=(0.5,))
    assert torch.equal(out[:, 0], imresize(lr[:, 0], scale=4))


def test_repeat_picks_nearest_frame() -> None:
    lr = _clip(t=2)
    out = stvsr.load("bicubic_repeat")(lr, scale=2, times=(0.2, 0.5, 0.51))
    up = upscale_frames(lr, 2, 2).clamp(0, 1)
    assert torch.equal(out[:, 1], up[:, 0]) and torch.equal(out[:, 2], up[:, 0])  # t <= 0.5: earlier
    assert torch.equal(out[:, 3], up[:, 1]) and torch.equal(out[:, 4], up[:, 1])


def test_blend_is_linear_in_time() -> None:
    lr = _clip(t=3, dtype=torch.float64)
    out = BicubicBaseline("blend", clamp=False)(lr, scale=2, times=(0.25, 0.75))
    up = upscale_frames(lr, 2, 2)
    torch.testing.assert_close(out[:, 1], 0.75 * up[:, 0] + 0.25 * up[:, 1], rtol=0, atol=1e-12)
    torch.testing.assert_close(out[:, 5], 0.25 * up[:, 1] + 0.75 * up[:, 2], rtol=0, atol=1e-12)
    assert out.dtype == torch.float64


def test_single_frame_and_determinism_and_gradient() -> None:
    lr = _clip(t=1).requires_grad_(True)
    model = stvsr.load("bicubic_blend")
    out = model(lr, scale=2)
    assert out.shape == (2, 1, 3, 12, 14)
    assert torch.equal(out, model(lr, scale=2))
    model(_clip(t=2).requires_grad_(True), scale=2).sum().backward()
    out.sum().backward()
    assert lr.grad is not None and torch.isfinite(lr.grad).all()
    assert sum(p.numel() for p in model.parameters()) == 0
    assert stvsr.model_card("bicubic_blend")["params"] == 0


def test_errors() -> None:
    model = BicubicBaseline()
    with pytest.raises(ValueError, match="mode"):
        BicubicBaseline("cubic")
    with pytest.raises(ValueError, match="lr"):
        model(torch.rand(1, 2, 3, 4))
    with pytest.raises(ValueError, match="scale"):
        model(_clip(), scale=-1)
    with pytest.raises(ValueError, match="times"):
        model(_clip(), times=(1.5,))
    with pytest.raises(TypeError, match="lr"):
        model(torch.zeros(1, 2, 3, 4, 4, dtype=torch.int64))
