"""stvsr.ops.degradation: BD against a MATLAB transcription and hand-computed values, BI, quantisation."""

from __future__ import annotations

import math

import pytest
import torch

from stvsr.ops import bd_degrade, bi_degrade, degrade, imresize, quantize_8bit
from stvsr.ops.degradation import bd_matrix, describe_degradation, gaussian_kernel1d


def matlab_bd_naive(img: torch.Tensor, scale: int, sigma: float, k: int, first: int) -> torch.Tensor:
    """``imfilter(img, fspecial('gaussian', k, sigma), 'replicate')`` then ``img(first:scale:end, ...)``
    (``first`` 1-based), one output pixel at a time with the full 2-D kernel, in float64."""
    h, w = img.shape
    half = (k - 1) / 2
    kern = [[math.exp(-((a - half) ** 2 + (b - half) ** 2) / (2 * sigma * sigma)) for b in range(k)] for a in range(k)]
    total = sum(map(sum, kern))
    c = (k + 1) // 2  # MATLAB's kernel centre, 1-based
    rows = range(first, h + 1, scale)[: h // scale]
    cols = range(first, w + 1, scale)[: w // scale]
    out = torch.zeros(len(rows), len(cols), dtype=torch.float64)
    for i, r in enumerate(rows):
        for j, q in enumerate(cols):
            acc = 0.0
            for a in range(1, k + 1):
                for b in range(1, k + 1):
                    y = min(max(r + a - c, 1), h)  # 'replicate'
                    x = min(max(q + b - c, 1), w)
                    acc += kern[a - 1][b - 1] * float(img[y - 1, x - 1])
            out[i, j] = acc / total
    return out


@pytest.mark.parametrize(
    ("scale", "sigma", "k", "offset", "shape"),
    [(4, 1.6, None, None, (22, 27)), (2, 0.8, 5, 0, (9, 11)), (3, 1.2, 8, 2, (13, 10)), (4, 1.6, 13, 3, (16, 20))],
)
def test_bd_matches_matlab_transcription(scale, sigma, k, offset, shape) -> None:
    img = torch.rand(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(scale))
    kk = math.ceil(3 * sigma) * 2 + 2 if k is None else k
    first = (max(scale // 2 - 1, 0) if offset is None else offset) + 1
    want = matlab_bd_naive(img, scale, sigma, kk, first)
    got = bd_degrade(img[None, None], scale, sigma, k, offset)[0, 0]
    assert got.shape == (shape[0] // scale, shape[1] // scale)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-13)


def test_default_is_basicvsr_bd_12_taps_phase_1() -> None:
    assert gaussian_kernel1d(1.6, 12).shape == (12,)
    m = bd_matrix(24)  # x4, sigma 1.6: kernel ceil(4.8) * 2 + 2 = 12, first sample 0-based row 1
    assert m.shape == (6, 24)
    assert describe_degradation("bd", 4.0)["kernel_size"] == 12 and describe_degradation("bd", 4.0)["offset"] == 1


def test_bd_phase_hand_computed() -> None:
    # a ramp v[r] = r: away from the border the symmetric blur returns its centre, which MATLAB's even
    # 12-tap kernel puts at row + 0.5; sampling rows 1, 5, 9, ... (MATLAB's 2:4:end) gives 4 i + 1.5,
    # the centre of HR rows 4i .. 4i+3 (DUF's duf_downsample would give 4 i)
    ramp = torch.arange(64, dtype=torch.float64)[:, None].expand(64, 8)
    lr = bd_degrade(ramp[None], scale=4)[0]
    assert lr.shape == (16, 2)
    for i in range(1, 15):  # rows whose 12 taps (4i - 4 .. 4i + 7) stay inside the image
        assert lr[i, 0].item() == pytest.approx(4 * i + 1.5, abs=1e-12)
    # an impulse at HR row 6: LR row 1 (HR row 5, taps rows 0..11) weighs it with the tap at x = +0.5,
    # LR row 2 (HR row 9, taps rows 4..15) with the tap at x = -3.5; LR row 0 (taps -4..7) with x = +4.5
    imp = torch.zeros(24, 4, dtype=torch.float64)
    imp[6] = 1.0
    norm = sum(math.exp(-((j + 0.5) ** 2) / (2 * 1.6**2)) for j in range(-6, 6))
    col = bd_degrade(imp[None], scale=4)[0, :, 0]
    assert col[0].item() == pytest.approx(math.exp(-(4.5**2) / 5.12) / norm, abs=1e-14)
    assert col[1].item() == pytest.approx(math.exp(-(0.5**2) / 5.12) / norm, abs=1e-14)
    assert col[2].item() == pytest.approx(math.exp(-(3.5**2) / 5.12) / norm, abs=1e-14)
    assert col[3:].abs().max().item() == 0.0  # LR rows 3+ read HR rows 8 and below


def test_bd_replicate_border_and_constants() -> None:
    x = torch.full((1, 3, 32, 36), 0.4, dtype=torch.float64)
    torch.testing.assert_close(bd_degrade(x), torch.full((1, 3, 8, 9), 0.4, dtype=torch.float64))
    # replicate: taps beyond the top edge read row 0, so LR row 0 of a ramp is the clamped mean
    ramp = torch.arange(16, dtype=torch.float64)[:, None].expand(16, 4)
    g = gaussian_kernel1d(1.6, 12)
    want = sum(g[j].item() * min(max(1 + j - 5, 0), 15) for j in range(12))
    assert bd_degrade(ramp[None])[0, 0, 0].item() == pytest.approx(want, abs=1e-13)
    # sizes that are not multiples of the scale keep floor(H / s) samples
    assert bd_degrade(torch.rand(2, 1, 4, 35, 18)).shape == (2, 1, 4, 8, 4)


def test_bd_dtypes_and_gradcheck() -> None:
    x = torch.rand(2, 3, 20, 24, dtype=torch.float64)
    ref = bd_degrade(x)
    torch.testing.assert_close(bd_degrade(x.float()).double(), ref, rtol=0, atol=1e-6)
    xg = torch.rand(1, 9, 10, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: bd_degrade(t, scale=3, sigma=1.2), (xg,))
    assert torch.autograd.gradcheck(lambda t: bi_degrade(t, 2.5), (xg,))


def test_bd_errors_name_the_argument() -> None:
    x = torch.rand(1, 16, 16)
    for kwargs, word in [({"scale": 0}, "scale"), ({"scale": 2.0}, "scale"), ({"sigma": -1.0}, "sigma"),
                         ({"kernel_size": 0}, "kernel_size"), ({"offset": 4}, "offset")]:
        with pytest.raises(ValueError, match=word):
            bd_degrade(x, **kwargs)
    with pytest.raises(ValueError, match="too small"):
        bd_degrade(torch.rand(1, 3, 16))
    with pytest.raises(TypeError, match="x"):
        bd_degrade(torch.zeros(8, 8, dtype=torch.uint8))


def test_quantize_rounds_halves_up_like_matlab() -> None:
    x = torch.tensor([(k + 0.5) / 255 for k in range(6)] + [-0.2, 1.3], dtype=torch.float64)
    want = torch.tensor([1, 2, 3, 4, 5, 6, 0, 255], dtype=torch.float64) / 255
    torch.testing.assert_close(quantize_8bit(x), want, rtol=0, atol=0)  # torch.round would give 0, 2, 2, 4, ...


def test_degrade_dispatch() -> None:
    hr = torch.rand(3, 3, 36, 44, dtype=torch.float64)
    torch.testing.assert_close(degrade(hr, "bi", 4), quantize_8bit(imresize(hr, scale=0.25)), rtol=0, atol=0)
    torch.testing.assert_close(degrade(hr, "bd", 4.0, quantize=False), bd_degrade(hr, 4).clamp(0, 1))
    lr = degrade(hr, "bd", 4)
    assert lr.shape == (3, 3, 9, 11) and torch.equal(lr, torch.round(lr * 255) / 255)
    assert degrade(hr, "bi", 2.5).shape[-2:] == (14, 18)  # round(36 / 2.5), round(44 / 2.5)
    assert degrade(hr, "bi", 2.5, size=(15, 17)).shape[-2:] == (15, 17)
    torch.testing.assert_close(degrade(hr, "none", 4), quantize_8bit(hr))
    with pytest.raises(ValueError, match="kind"):
        degrade(hr, "bicubic", 4)
    with pytest.raises(ValueError, match="integer scale"):
        degrade(hr, "bd", 2.5)


def test_training_and_evaluation_use_the_same_degradation() -> None:
    from stvsr.eval.protocols import degrade as protocol_degrade
    from stvsr.eval.protocols import get_protocol
    from stvsr.train.data import DataConfig, _degrade

    hr = torch.rand(2, 3, 32, 40)
    for kind, proto in (("bi", "vsr-bi-4x"), ("bd", "vsr-bd-4x")):
        train_lr = _degrade(hr, 4.0, (8, 10), DataConfig(degradation=kind))
        eval_lr = protocol_degrade(hr, get_protocol(proto))
        assert torch.equal(train_lr, eval_lr) and torch.equal(eval_lr, degrade(hr, kind, 4))
