"""Function-preserving warm start of MsMr (stvsr.train.warmstart.preserve_function_msmr)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from stvsr.layers.scale_aware import SAAdapt
from stvsr.models.msmr import MsMr
from stvsr.ops.warp import backward_warp
from stvsr.train.warmstart import preserve_function_msmr


def _lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.1)


@pytest.fixture(params=["fix", "arb"])
def model(request: pytest.FixtureRequest) -> MsMr:
    torch.manual_seed(0)
    m = MsMr(variant=request.param, mid_channels=16, num_blocks=4, feat_blocks=2, sa_every=2, up_channels=8).eval()
    touched = preserve_function_msmr(m)
    assert touched == ["deform_align", "atten_fuse", "insert", "forward_resblocks_insert"]
    return m


def test_alignment_is_the_flow_warp(model: MsMr) -> None:
    torch.manual_seed(1)
    prop, nbr = torch.randn(2, 16, 12, 20), torch.randn(2, 16, 12, 20)
    flow = torch.randn(2, 2, 12, 20) * 3
    cond = torch.cat([backward_warp(prop, flow), nbr], dim=1)
    out = model.deform_align(torch.cat([prop, nbr], dim=1), cond, flow)
    torch.testing.assert_close(out, backward_warp(prop, flow), atol=1e-5, rtol=1e-5)


def test_fusion_passes_feature_plus_aligned(model: MsMr) -> None:
    torch.manual_seed(2)
    back, feat, aligned = (torch.randn(1, 16, 8, 8) for _ in range(3))
    out = model.atten_fuse(torch.stack([back, feat, aligned], dim=2))
    if model.variant == "arb":
        expected = _lrelu(feat + aligned)
    else:  # the fixed model's fusion sees LReLU(X) (authors' in-place activation)
        expected = _lrelu(_lrelu(feat) + _lrelu(aligned))
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(out, _lrelu(back + aligned))  # the backward branch starts unused


def test_insert_trunk_and_adapters_are_identities(model: MsMr) -> None:
    torch.manual_seed(3)
    x = torch.randn(1, 16, 8, 8)
    trunk = model.forward_resblocks_insert
    out = trunk(x, 3.0, 3.0) if model.variant == "arb" else trunk(x)
    torch.testing.assert_close(out, _lrelu(x))
    adapters = [m for m in model.modules() if isinstance(m, SAAdapt)]
    assert adapters
    for a in adapters:
        y = torch.randn(1, a.adapt.in_channels, 8, 8)
        torch.testing.assert_close(a(y, 2.5, 2.5), y)


def test_insert_is_the_mean_of_splatted_features(model: MsMr) -> None:
    torch.manual_seed(4)
    img = torch.rand(1, 3, 8, 12)
    feat = torch.randn(1, 16, 8, 12)
    zero = [torch.zeros(1, 2, 8 // k, 12 // k) for k in (1, 2, 4)]
    # zero motion, equal key frames: every splat is the identity, the mean is the (activated) feature
    out = model.insert(img, img, feat, feat, zero, zero, 0.5)
    torch.testing.assert_close(out, _lrelu(feat), atol=1e-5, rtol=1e-5)


def test_trainable_after_init(model: MsMr) -> None:
    # zeroed branches must still receive gradients (they are zero, not cut)
    lr = torch.rand(1, 3, 3, 8, 8)
    out = model(lr, scale=2.0, times=(0.5,), clamp=False)
    out.mean().backward()
    for name in ("atten_fuse.att.feat_fusion.0.weight", "insert.blend.weight", "insert.mask_l1.weight",
                 "deform_align.conv_offset.6.weight"):
        grad = dict(model.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum() > 0, name
