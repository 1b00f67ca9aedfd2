from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file

import stvsr
from stvsr.models.cvrs import CVRS, IMSM, CVRSConfig, cvrs_frames_for_fps, cvrs_time_grid, quantize_8bit
from stvsr.models.cvrs_checkpoints import cvrs_state_dict_from_folder, infer_cvrs_config
from stvsr.zoo._catalog import get_entry
from tests.conformance.fixtures import build_state_dict

FIX = Path(__file__).resolve().parents[1] / "data" / "conformance"

TINY = {
    "down_channels": 4,
    "down_blocks": 1,
    "down_kernel": (3, 3, 3),
    "up_variant": "mix",
    "up_channels": 8,
    "up_blocks": 1,
    "fuse_channels": 2,
    "depths": (1,),
    "num_heads": (2,),
    "window_size": (2, 2, 2),
    "imsm_blocks": 1,
}
TINY_DENSE = {**TINY, "up_variant": "dense", "depths": (), "num_heads": ()}


def _tiny(**kw) -> CVRS:
    torch.manual_seed(0)
    return CVRS(**{**TINY, **kw}).eval()


def _clip(b=1, t=3, h=8, w=8, seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, t, 3, h, w, generator=g)


# ----------------------------------------------------------------------------- API and shapes


@pytest.mark.parametrize("cfg", [TINY, TINY_DENSE])
def test_shapes_and_stego_convention(cfg) -> None:
    model = _tiny(**cfg)
    hr = _clip(2, 3, 8, 12)
    with torch.no_grad():
        stego = model.downscale(hr, (2, 4, 8))
        assert stego.shape == (2, 2, 3, 4, 8)
        assert torch.equal(stego, torch.round(stego * 255) / 255) and stego.min() >= 0 and stego.max() <= 1
        levels = model.downscale(hr, (2, 4, 8), as_uint8=True)
        assert levels.dtype == torch.uint8 and torch.equal(levels.float() / 255, stego)
        out_f = model.upscale(stego, (5, 10, 14))
        out_u = model.upscale(levels, (5, 10, 14))
        assert out_f.shape == (2, 5, 3, 10, 14) and torch.equal(out_f, out_u)
        assert out_f.min() >= 0 and out_f.max() <= 1
        stego2, out = model.resample(hr, (2, 4, 8), return_stego=True)
        assert torch.equal(stego2, stego) and out.shape == hr.shape
        assert torch.equal(model(hr, (2, 4, 8)), out)


def test_truncate_and_round_quantisation() -> None:
    x = torch.tensor([0.0, 0.5 / 255, 1.6 / 255, 254.7 / 255, 1.2, -0.3])
    assert torch.equal(quantize_8bit(x, "round") * 255, torch.tensor([0.0, 0.0, 2.0, 255.0, 255.0, 0.0]))
    assert torch.equal(torch.round(quantize_8bit(x, "truncate") * 255), torch.tensor([0.0, 0, 1, 254, 255, 0]))
    y = torch.rand(5, requires_grad=True)
    quantize_8bit(y).sum().backward()
    assert torch.equal(y.grad, torch.ones(5))  # straight-through
    with pytest.raises(ValueError, match="quantize"):
        quantize_8bit(x, "floor")


def test_determinism() -> None:
    model = _tiny()
    hr = _clip()
    with torch.no_grad():
        assert torch.equal(model.resample(hr, (2, 4, 4)), model.resample(hr, (2, 4, 4)))


@pytest.mark.parametrize("cfg", [TINY, TINY_DENSE])
def test_backward_reaches_every_parameter(cfg) -> None:
    model = _tiny(**cfg).train()
    hr = _clip(1, 3, 8, 8)
    stego = model.downscale(hr, (2, 4, 4))
    out = model.upscale(stego, (3, 8, 8), clamp=False)
    (out - hr).square().mean().backward()
    # documented as unused by the pipeline: upnet.relu, and the IMSM's downsample copy
    unused = {n for n, _ in model.named_parameters() if n.startswith(("upnet.relu", "inverter.downsample."))}
    for name, p in model.named_parameters():
        if name not in unused:
            assert p.grad is not None and p.grad.abs().sum() > 0, name
    model.inverter.encode(hr, (2, 4, 4)).sum().backward()
    for name, p in model.inverter.downsample.named_parameters():
        assert p.grad is not None, name


def test_memory_budget_tiles_give_same_result() -> None:
    model = _tiny().double()
    hr = _clip(1, 3, 16, 12).double()
    with torch.no_grad():
        full = model.resample(hr, (2, 8, 4), (4, 20, 18), max_chunk_bytes=None)
        tiled = model.resample(hr, (2, 8, 4), (4, 20, 18), max_chunk_bytes=300_000)
    assert (full - tiled).abs().max() < 1e-12
    # the down-sampler's trunk runs on row bands with a halo under a budget
    x = hr.transpose(1, 2)
    with torch.no_grad():
        assert (model.downet.features(x, None) - model.downet.features(x, 2000)).abs().max() < 1e-12
    model.max_chunk_bytes = 12345
    assert model.upnet.head.max_chunk_bytes == 12345 == model.inverter.downsample.down_head.max_chunk_bytes


# ----------------------------------------------------------------------------- time grid


def test_time_grid_and_fps() -> None:
    assert cvrs_time_grid(7, 4) == pytest.approx([0.375, 2.125, 3.875, 5.625])
    assert cvrs_time_grid(4, 5) == pytest.approx([-0.1, 0.7, 1.5, 2.3, 3.1])
    # 30 -> 24 and 24 -> 30 for clips of several lengths
    assert [cvrs_frames_for_fps(n, 30, 24) for n in (1, 3, 5, 7, 10, 15)] == [1, 2, 4, 6, 8, 12]
    assert [cvrs_frames_for_fps(n, 24, 30) for n in (1, 3, 4, 7, 8, 12)] == [1, 4, 5, 9, 10, 15]
    assert cvrs_frames_for_fps(5, 29.97, 23.976) == 4
    for bad in ((0, 30, 24), (5, 0, 24), (5, 30, float("nan"))):
        with pytest.raises(ValueError):
            cvrs_frames_for_fps(*bad)
    with pytest.raises(ValueError, match="n_out"):
        cvrs_time_grid(4, 0)


@pytest.mark.parametrize(("n", "fps_in", "fps_out"), [(5, 30, 24), (10, 30, 24), (4, 24, 30), (7, 24, 30)])
def test_rate_change_frame_counts(n, fps_in, fps_out) -> None:
    model = _tiny()
    n_out = cvrs_frames_for_fps(n, fps_in, fps_out)
    with torch.no_grad():
        stego = model.downscale(_clip(1, n, 8, 8), (n, 4, 4))
        assert model.upscale(stego, (n_out, 8, 8)).shape[1] == n_out


# ----------------------------------------------------------------------------- errors


def test_errors() -> None:
    model = _tiny()
    hr = _clip()
    with pytest.raises(ValueError, match="multiples of 4"):
        model.downscale(hr, (2, 6, 4))
    with pytest.raises(ValueError, match="multiples of 4"):
        model.upscale(torch.rand(1, 2, 3, 6, 8), (2, 8, 8))
    with pytest.raises(ValueError, match="positive"):
        model.downscale(hr, (0, 4, 4))
    with pytest.raises(TypeError, match="three ints"):
        model.upscale(torch.rand(1, 2, 3, 4, 4), (2, 8))
    with pytest.raises(ValueError, match=r"looks like \(B, C, T, H, W\)"):
        model.downscale(_clip(1, 4).transpose(1, 2), (2, 4, 4))
    with pytest.raises(ValueError, match="5-D"):
        model.downscale(hr[0], (2, 4, 4))
    with pytest.raises(ValueError, match="as_uint8"):
        model.downscale(hr, (2, 4, 4), quantize=None, as_uint8=True)
    with pytest.raises(ValueError, match="even"):
        _tiny(imsm_blocks=None).decode(torch.rand(1, 2, 3, 5, 6), (2, 8, 8))
    with pytest.raises(RuntimeError, match="no IMSM"):
        _tiny(imsm_blocks=None).downscale(hr, (2, 4, 4))
    with pytest.raises(ValueError, match="up_variant"):
        CVRSConfig(up_variant="swin")
    with pytest.raises(ValueError, match="max_chunk_bytes"):
        model.max_chunk_bytes = 0


# ----------------------------------------------------------------------------- IMSM


@settings(max_examples=6, deadline=None)
@given(t=st.integers(1, 3), h4=st.integers(1, 3), w4=st.integers(1, 3), seed=st.integers(0, 1000))
def test_imsm_round_trip_without_quantisation(t, h4, w4, seed) -> None:
    torch.manual_seed(seed)
    imsm = IMSM(1, 4, 1).eval()
    latent = torch.rand(1, t, 3, 4 * h4, 4 * w4)
    with torch.no_grad():
        back = imsm.reveal(imsm.hide(latent, clamp=False), clamp=False)
    assert (back - latent).abs().max() < 1e-5


def test_imsm_8bit_latent_error_on_fixture_weights() -> None:
    imsm = stvsr.convert_checkpoint("cvrs_imsm", build_state_dict(FIX / "cvrs_imsm" / "spec.json"))
    latent = load_file(str(FIX / "cvrs_imsm" / "fwd_4x16x24.safetensors"))["latent"].float().transpose(1, 2)
    with torch.no_grad():
        raw = imsm.hide(latent, clamp=False)
        assert (imsm.reveal(raw, clamp=False) - latent).abs().max() < 1e-5
        stego = imsm.hide(latent)
        err = {m: (imsm.reveal(quantize_8bit(stego, m)) - latent).abs() for m in ("round", "truncate")}
    # measured: round max 0.19 / mean 1.9e-3; truncate (authors' scripts) max 0.19 / mean 2.8e-3 (max: the clamp)
    assert err["round"].mean() < err["truncate"].mean() < 5e-3


# ----------------------------------------------------------------------------- converters, configs, params


def _case(system: str, stem: str) -> dict:
    return json.loads((FIX / system / f"{stem}.json").read_text())


@pytest.mark.parametrize(
    ("system", "stem", "expect"),
    [
        (
            "cvrs_rescaler",
            "up_4to7_32x32",
            {
                "up_variant": "dense",
                "down_channels": 32,
                "up_channels": 64,
                "up_blocks": 3,
                "fuse_channels": 40,
                "down_blocks": 2,
            },
        ),
        (
            "cvrs_mix",
            "up_4to7_s4",
            {
                "up_variant": "mix",
                "down_kernel": (3, 5, 5),
                "up_channels": 32,
                "num_heads": (4, 2),
                "depths": (2, 2),
                "window_size": (3, 7, 7),
                "use_shuffle": True,
                "use_shortcut": True,
                "fuse_channels": 16,
            },
        ),
        (
            "cvrs_mix_plain",
            "up_3to5_s2",
            {
                "up_variant": "mix",
                "up_channels": 24,
                "num_heads": (3,),
                "window_size": (2, 4, 4),
                "use_shuffle": False,
                "use_shortcut": False,
                "fuse_channels": 8,
                "up_blocks": 1,
            },
        ),
    ],
)
def test_rescaler_configs_inferred_and_param_counts(system, stem, expect) -> None:
    sd = build_state_dict(FIX / system / "spec.json")
    cfg = infer_cvrs_config(sd)
    for k, v in expect.items():
        assert getattr(cfg, k) == v, k
    model = stvsr.convert_checkpoint("cvrs_rescaler", sd)
    assert sum(p.numel() for p in model.parameters()) == _case(system, stem)["model"]["param_count"]
    assert len(model.state_dict()) == _case(system, stem)["model"]["state_dict_keys"]
    assert CVRS(**model.config).config == model.config


def test_imsm_param_count_and_full_converter_forms(tmp_path) -> None:
    inv = build_state_dict(FIX / "cvrs_imsm" / "spec.json")
    res = build_state_dict(FIX / "cvrs_rescaler" / "spec.json")
    imsm = stvsr.convert_checkpoint("cvrs_imsm", inv)
    assert sum(p.numel() for p in imsm.parameters()) == _case("cvrs_imsm", "fwd_4x16x24")["model"]["param_count"]
    assert imsm.config["block_num"] == 2
    full = stvsr.convert_checkpoint("cvrs", {"rescaler": {"params": res}, "inverter": inv})
    assert full.config["imsm_blocks"] == 2 and full.config["imsm_down_channels"] == 32
    flat = {**{f"rescaler.{k}": v for k, v in res.items()}, **{f"inverter.{k}": v for k, v in inv.items()}}
    again = stvsr.convert_checkpoint("cvrs", flat)
    own = stvsr.convert_checkpoint("cvrs", full.state_dict())
    for m in (again, own):
        assert all(torch.equal(a, b) for a, b in zip(m.state_dict().values(), full.state_dict().values(), strict=True))
    for part, sd in (("rescaler", res), ("inverter", inv)):
        (tmp_path / part).mkdir()
        torch.save({"params": sd}, tmp_path / part / "model.pth")
    folder = cvrs_state_dict_from_folder(tmp_path)
    assert stvsr.convert_checkpoint("cvrs", folder).config == full.config
    with pytest.raises(ValueError, match="inverter is missing"):
        stvsr.convert_checkpoint("cvrs", res)
    with pytest.raises(ValueError, match="inverter keys"):
        stvsr.convert_checkpoint("cvrs_rescaler", flat)
    with pytest.raises(ValueError, match="does not fit"):
        stvsr.convert_checkpoint("cvrs_rescaler", {k: v for k, v in res.items() if "fc1" not in k})


def test_float64_matches_degenerate_case_everywhere() -> None:
    sd = build_state_dict(FIX / "cvrs_rescaler" / "spec.json")
    model = stvsr.convert_checkpoint("cvrs_rescaler", sd).double()
    t = load_file(str(FIX / "cvrs_rescaler" / "up_3x_degenerate.safetensors"))
    with torch.no_grad():
        out = model.decode(t["latent"].double().transpose(1, 2), (3, 24, 36), clamp=False).transpose(1, 2)
    assert (out - t["out_preclamp"]).abs().max() < 1e-5


def test_registry_cards_and_default_param_counts() -> None:
    for name in ("cvrs", "cvrs_rescaler", "cvrs_imsm"):
        entry = get_entry(name)
        model = entry.build()
        assert sum(p.numel() for p in model.parameters()) == entry.card["params"], name
        for key in (
            "paper",
            "authors_repo",
            "licence",
            "task",
            "space_scale",
            "time",
            "input_frames",
            "colour",
            "conformance",
            "summary",
        ):
            assert key in entry.tag_card(None), (name, key)
        assert entry.capabilities().task == "resampler"


def test_convert_from_authors_release_folder(tmp_path) -> None:
    """`convert_checkpoint("cvrs", folder)` reads folder/{rescaler,inverter}/model.pth like the release."""
    import stvsr
    from tests.conformance.fixtures import build_state_dict, conformance_dir

    rescaler = build_state_dict(conformance_dir() / "cvrs_mix" / "spec.json")
    inverter = build_state_dict(conformance_dir() / "cvrs_imsm" / "spec.json")
    for part, sd in (("rescaler", rescaler), ("inverter", inverter)):
        (tmp_path / part).mkdir()
        torch.save({"params": dict(sd)}, tmp_path / part / "model.pth")
    model = stvsr.convert_checkpoint("cvrs", tmp_path)
    n_expected = sum(v.numel() for v in rescaler.values()) + sum(v.numel() for v in inverter.values())
    n_model = sum(v.numel() for v in model.state_dict().values())
    assert n_model == n_expected
