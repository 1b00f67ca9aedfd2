"""SAFA's baseline start (stvsr.train.warmstart.preserve_function_safa) and its training tool (tools/train_safa.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
import torch

from stvsr.models.safa import SAFA, cv2_cubic_upsample
from stvsr.train.validation import blend_keys
from stvsr.train.warmstart import preserve_function_safa
from tests.train.floor_tool import check_dry_run, run_tool

ROOT = Path(__file__).resolve().parents[2]
TIMES = (0.04, 0.25, 0.5, 0.75, 0.96)


def _small(**kw: Any) -> SAFA:
    torch.manual_seed(0)
    return SAFA(channels=32, num_blocks=2, block_depth=1, recon_blocks=2, authors_compat=True, **kw).eval()


def _baseline(lr: torch.Tensor, times: tuple[float, ...]) -> torch.Tensor:
    """cv2-bicubic keys and linear blends, ``[key0, t.., key1, ...]``."""
    return blend_keys(cv2_cubic_upsample(lr.flatten(0, 1), 4, u8=True).unflatten(0, lr.shape[:2]).clamp(0, 1), times)


@pytest.mark.parametrize("bgr", [True, False])
def test_safa_starts_as_upsampled_keys_and_linear_blend(bgr: bool) -> None:
    model = _small(bgr_weights=bgr)
    lr = torch.rand(2, 3, 3, 16, 24, generator=torch.Generator().manual_seed(1))
    chans = preserve_function_safa(model, knots=20)
    assert chans == list(range(32 - 22, 32))
    with torch.no_grad():
        out = model(lr, times=TIMES)
    want = _baseline(lr, TIMES)
    err = (out - want).abs().amax(dim=(0, 2, 3, 4))
    # keys: mask 0.99988; stamps: the fitted logit's mask error (~1e-3) times |I0 - I1| <= 1
    assert err[:: len(TIMES) + 1].max() < 3e-4
    assert err.max() < 2.5e-3


def test_safa_untouched_is_far_from_the_baseline() -> None:
    """The check above can fail: a random SAFA is nowhere near the blend."""
    model = _small()
    lr = torch.rand(1, 2, 3, 16, 24, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert (model(lr, times=(0.25,)) - _baseline(lr, (0.25,))).abs().max() > 0.05


def test_safa_start_mask_follows_time_not_space() -> None:
    """The time hinges are constant in space: the mask is the same at every pixel, for every gate branch."""
    model = _small()
    preserve_function_safa(model, knots=20)
    img0 = torch.zeros(1, 3, 32, 48)
    img1 = torch.ones(1, 3, 32, 48)
    f0, f1 = model.features(torch.cat([img0, img1])).chunk(2)
    for t in (0.25, 0.6):
        with torch.no_grad():
            frame = model.render(img0, img1, f0, f1, torch.tensor([t]))
        assert torch.allclose(frame, torch.full_like(frame, t), atol=2e-3)


def test_safa_start_rejects_too_many_knots() -> None:
    with pytest.raises(ValueError, match="knots"):
        preserve_function_safa(_small(), knots=31)


def _tool() -> Any:
    spec = importlib.util.spec_from_file_location("train_safa", ROOT / "tools" / "train_safa.py")
    mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


def test_flow_tap_returns_the_flow_each_render_warped_with() -> None:
    tool = _tool()
    model = _small()
    preserve_function_safa(model, knots=20)
    with torch.no_grad():  # a trained-looking flow head: nonzero flows
        model.block.convflow[0].weight.normal_(0, 0.05)
    tap = tool.FlowTap(model)
    lr = torch.rand(1, 2, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        model(lr, times=(0.3,))
        flows = tap.flows()
        assert len(flows) == 3 and flows[0].shape == (1, 6, 64, 64)
        assert flows[1].abs().max() > 0.1
        # render's output (zero residual) is exactly the mask blend of the frames warped by the tapped flow
        from stvsr.ops import backward_warp

        hr = model.upsample(lr.flip(2)[0])
        f = flows[1]
        mask = torch.sigmoid(f[:, 4:5])
        blend = backward_warp(hr[:1], f[:, :2], padding_mode="border") * mask + backward_warp(
            hr[1:], f[:, 2:4], padding_mode="border") * (1 - mask)
        out = model(lr, times=(0.3,))[:, 1].flip(1)
    assert torch.allclose(out, blend.clamp(0, 1), atol=1e-5)
    tap.flows()
    tap.close()
    with torch.no_grad():
        model(lr, times=(0.3,))
    assert tap.calls == []


def test_train_safa_dry_run(tmp_path: Path) -> None:
    out = tmp_path / "run"
    state = check_dry_run("train_safa.py", tmp_path, "--bf16")
    assert "distil" in (out / "log.txt").read_text()
    SAFA(authors_compat=True).load_state_dict({k: v.float() for k, v in state.items()})  # strict
    # resumable: a second call continues from last.pt
    res = run_tool("train_safa.py", tmp_path, "--resume")
    assert res.returncode == 0, res.stderr[-3000:]
    assert "resumed" in (out / "log.txt").read_text()
