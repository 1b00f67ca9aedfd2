"""SAFA: shapes, determinism, gradients, errors, converter, and the authors' pre-upsampling."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import stvsr
from stvsr.models import CheckpointError
from stvsr.models.safa import SAFA, convert_safa, cv2_cubic_upsample

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "conformance" / "safa"
TINY = {"channels": 8, "num_blocks": 2, "block_depth": 1, "recon_blocks": 1, "pad_multiple": 8}


def _tiny(**kw: object) -> SAFA:
    torch.manual_seed(0)
    model = SAFA(**{**TINY, **kw})
    with torch.no_grad():  # betas start at 0 (identity Resblocks); make every path matter
        for name, p in model.named_parameters():
            if name.endswith("beta"):
                p.fill_(0.3)
    return model.eval()


def test_param_count_and_card() -> None:
    model = SAFA()
    assert sum(p.numel() for p in model.parameters()) == 4_941_442
    assert len(model.state_dict()) == 275
    card = stvsr.model_card("safa")
    assert card["params"] == 4_941_442 and card["conformance"] == "safa" and card["task"] == "stvsr"


@pytest.mark.parametrize(
    ("t", "hw", "times"),
    [(2, (4, 6), (0.5,)), (3, (5, 3), (0.25, 0.75)), (2, (9, 6), (0.1,))],
)
def test_shapes_and_range(t: int, hw: tuple[int, int], times: tuple[float, ...]) -> None:
    model = _tiny(pad_multiple=8 if hw[0] % 2 else 32)  # 20x12 -> 24x16, 36x24 -> 40x24, 16x24 -> 32x32
    lr = torch.rand(1, t, 3, *hw)
    with torch.no_grad():
        out = model(lr, scale=4.0, times=times)
    assert out.shape == (1, t + (t - 1) * len(times), 3, 4 * hw[0], 4 * hw[1])
    assert out.dtype == lr.dtype
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0


def test_deterministic_and_batch_consistent() -> None:
    model = _tiny()
    lr = torch.rand(2, 2, 3, 4, 4)
    with torch.no_grad():
        a = model(lr)
        b = model(lr)
        single = model(lr[1:])
    assert torch.equal(a, b)
    torch.testing.assert_close(a[1:], single, atol=1e-5, rtol=0)


def test_sampling_gate_is_reproducible_with_a_generator() -> None:
    model = _tiny(gate="sample", pad_multiple=8)
    lr = torch.rand(1, 2, 3, 4, 4)
    with torch.no_grad():
        a = model(lr, generator=torch.Generator().manual_seed(3))
        b = model(lr, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_forward_matches_inference_on_upsampled_bgr() -> None:
    model = _tiny(pad_multiple=8)
    lr = torch.rand(1, 2, 3, 4, 6)
    with torch.no_grad():
        video = model(lr, times=(0.3,))
        x = model.upsample(lr.flip(2)).flatten(1, 2)  # (1, 6, 24, 40) BGR
        frames = model.inference(x, 0.3)
    assert isinstance(frames, list) and len(frames) == 3
    torch.testing.assert_close(video, torch.stack(frames, 1).flip(2), atol=1e-6, rtol=0)


def test_inference_time_forms() -> None:
    model = _tiny()
    x = torch.rand(2, 6, 16, 16)
    with torch.no_grad():
        assert len(model.inference(x, [0.2, 0.4, 0.9])) == 3
        per_sample = model.inference(x, torch.tensor([0.25, 0.75]).view(2, 1, 1, 1))
        frames, gates = model.inference(x, 0.25, return_gates=True)
    assert len(per_sample) == 3 and len(gates) == 3 * TINY["num_blocks"]
    torch.testing.assert_close(per_sample[1][:1], frames[1][:1], atol=1e-6, rtol=0)
    probs, bits = gates[0]
    assert probs.shape == bits.shape == (2, 2)
    assert torch.equal(bits, (probs > 0.5).to(bits.dtype))


def test_backward_reaches_every_parameter() -> None:
    model = _tiny(pad_multiple=8).train()
    lr = torch.rand(2, 2, 3, 4, 4)
    model(lr, times=(0.4,)).mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not bool(p.grad.abs().sum() > 0)]
    assert not missing, missing
    bn = model.block.convimg.cnn0[1]
    assert not bn.training and bool(bn.num_batches_tracked == 0)  # frozen like the authors


def test_float64() -> None:
    model = _tiny(pad_multiple=8).double()
    out = model(torch.rand(1, 2, 3, 4, 4, dtype=torch.float64))
    assert out.dtype == torch.float64


def test_cv2_upsample_matches_the_fixture() -> None:
    # the authors' x is cv2.resize(uint8, fx=4, INTER_CUBIC) / 255: reproduced bit for bit
    for path in sorted(FIXTURES.glob("*.safetensors")):
        tensors = load_file(str(path))
        if "lr_u8" not in tensors:
            continue
        lr = tensors["lr_u8"].double() / 255
        x = cv2_cubic_upsample(lr, 4).flatten(1, 2)
        assert torch.equal(x, tensors["x"])


def test_cv2_upsample_rounds_ties_up_and_saturates() -> None:
    lr = torch.tensor([[0.0, 1.0, 1.0, 0.0]], dtype=torch.float64).repeat(4, 1) * (101 / 255)
    y = cv2_cubic_upsample(lr, 4) * 255
    assert torch.equal(y, y.round()) and float(y.min()) >= 0 and float(y.max()) <= 255
    plain = cv2_cubic_upsample(lr, 4, u8=False)
    assert float(plain.min()) < 0  # the a = -0.75 kernel overshoots; the uint8 path saturates it


def test_config_roundtrip_and_converter() -> None:
    model = _tiny()
    rebuilt = SAFA(**model.config)
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {k: v.shape for k, v in model.state_dict().items()}
    prefixed = {f"module.{k}": v for k, v in model.state_dict().items()}
    loaded = convert_safa(prefixed, **TINY)
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in model.state_dict().items())
    del prefixed["module.lastconv.0.0.weight"]
    with pytest.raises(CheckpointError, match=r"lastconv\.0\.0\.weight"):
        convert_safa(prefixed, **TINY)


def test_authors_compat_default_registry_and_old_name() -> None:
    from stvsr.models.safa import SAFAConfig, safa

    assert SAFA(**TINY).config["authors_compat"] is False  # the class default of every stvsr model
    assert safa(**TINY).config["authors_compat"] is True  # the registry entry reproduces the authors
    assert convert_safa(_tiny(authors_compat=True).state_dict(), **TINY).config["authors_compat"] is True
    assert safa(**TINY, authors_u8=False).config["authors_compat"] is False  # a stvsr 0.1.0 config
    assert SAFA(SAFAConfig(**TINY), gate="sample").config == {**SAFA(**TINY).config, "gate": "sample"}


def test_clear_errors() -> None:
    model = _tiny()
    lr = torch.rand(1, 2, 3, 8, 8)
    with pytest.raises(ValueError, match="scale=4"):
        model(lr, scale=2.0)
    with pytest.raises(ValueError, match="at least 2 frames"):
        model(lr[:, :1])
    with pytest.raises(ValueError, match="times"):
        model(lr, times=(1.5,))
    with pytest.raises(ValueError, match="3 channels"):
        model(torch.rand(1, 2, 4, 8, 8))
    with pytest.raises(ValueError, match="divisible by 8"):
        model.inference(torch.rand(1, 6, 12, 16), 0.5)
    with pytest.raises(ValueError, match="6 channels"):
        model.inference(torch.rand(1, 3, 16, 16), 0.5)
    with pytest.raises(ValueError, match="B = 1"):
        model.inference(torch.rand(1, 6, 16, 16), torch.tensor([0.1, 0.2]))
    with pytest.raises(ValueError, match="gate"):
        SAFA(**TINY, gate="random")
    with pytest.raises(ValueError, match="pad_multiple"):
        SAFA(**{**TINY, "pad_multiple": 12})
    with pytest.raises(ValueError, match="pad_multiple"):
        SAFA(**{**TINY, "pad_multiple": 0})
    with pytest.raises(ValueError, match="channels"):
        SAFA(channels=7)
