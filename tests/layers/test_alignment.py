from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from stvsr.layers.alignment import (
    DCNPack,
    FlowGuidedDeformAlignment,
    ModulatedDeformConv2d,
    ModulatedDeformConv2dPack,
    PCDAlignment,
)
from stvsr.ops import deform_conv2d


def _nparams(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def _randomise(module: torch.nn.Module, seed: int = 0, scale: float = 0.1) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * scale)


def test_modulated_deform_conv_module_calls_op():
    layer = ModulatedDeformConv2d(4, 6, 3, padding=1, groups=2, deform_groups=2).double()
    _randomise(layer)
    x = torch.randn(2, 4, 5, 6, dtype=torch.float64)
    off = torch.randn(2, layer.offset_channels, 5, 6, dtype=torch.float64)
    mask = torch.rand(2, 18, 5, 6, dtype=torch.float64)
    out = layer(x, off, mask)
    assert out.shape == (2, 6, 5, 6)
    torch.testing.assert_close(out, deform_conv2d(x, off, layer.weight, layer.bias, 1, 1, 1, mask))
    assert set(layer.state_dict()) == {"weight", "bias"}
    assert layer.weight.shape == (6, 2, 3, 3)


def test_module_init_and_bias_free():
    layer = ModulatedDeformConv2d(8, 4, (3, 1), bias=False)
    assert layer.bias is None and set(layer.state_dict()) == {"weight"}
    fresh = ModulatedDeformConv2d(8, 4, 3)
    assert torch.all(fresh.bias == 0)
    assert fresh.weight.abs().max() <= 1 / (8 * 9) ** 0.5


def test_dcnpack_keys_shapes_and_msmr_param_count():
    pack = DCNPack(64, 64, 3, padding=1, deform_groups=8)
    shapes = {k: tuple(v.shape) for k, v in pack.state_dict().items()}
    assert shapes == {
        "weight": (64, 64, 3, 3),
        "bias": (64,),
        "conv_offset.weight": (216, 64, 3, 3),
        "conv_offset.bias": (216,),
    }
    assert _nparams(pack) == 64 * 64 * 9 + 64 + 216 * 64 * 9 + 216 == 161_560
    assert ModulatedDeformConv2dPack is DCNPack


def test_dcnpack_zero_init_is_half_conv():
    # zero conv_offset: offsets 0 and mask sigmoid(0) = 1/2 -> a plain conv with half the weight
    pack = DCNPack(4, 6, 3, padding=1, deform_groups=2).double()
    torch.nn.init.normal_(pack.bias)
    x = torch.randn(2, 4, 7, 5, dtype=torch.float64)
    ref = F.conv2d(x, pack.weight, None, 1, 1) * 0.5 + pack.bias.view(1, -1, 1, 1)
    torch.testing.assert_close(pack(x), ref)
    feat = torch.randn(2, 4, 7, 5, dtype=torch.float64)
    torch.testing.assert_close(pack(x, feat), ref)


def test_dcnpack_offset_layout_and_max_offset():
    pack = DCNPack(4, 4, 3, padding=1, deform_groups=2, offset_in_channels=3, max_offset=10.0).double()
    _randomise(pack, scale=1.0)
    x = torch.randn(1, 4, 6, 6, dtype=torch.float64)
    feat = torch.randn(1, 3, 6, 6, dtype=torch.float64)
    raw = pack.conv_offset(feat)
    o1, o2, m = raw.chunk(3, dim=1)
    offset = 10.0 * torch.tanh(torch.cat((o1, o2), 1))
    ref = deform_conv2d(x, offset, pack.weight, pack.bias, 1, 1, 1, torch.sigmoid(m))
    torch.testing.assert_close(pack(x, feat), ref)
    off, mask = pack.offsets_and_mask(feat)
    assert off.abs().max() <= 10.0 and off.shape == (1, 36, 6, 6) and mask.shape == (1, 18, 6, 6)
    unbounded = DCNPack(4, 4, 3, padding=1, deform_groups=2, offset_in_channels=3).double()
    unbounded.load_state_dict(pack.state_dict())
    torch.testing.assert_close(
        unbounded(x, feat), deform_conv2d(x, torch.cat((o1, o2), 1), pack.weight, pack.bias, 1, 1, 1, torch.sigmoid(m))
    )


def test_flow_guided_param_count_and_keys():
    align = FlowGuidedDeformAlignment(128, 64, 3, padding=1, deform_groups=16, max_residue_magnitude=10)
    assert _nparams(align) == 471_856
    shapes = {k: tuple(v.shape) for k, v in align.state_dict().items()}
    assert shapes["weight"] == (64, 128, 3, 3)
    assert shapes["conv_offset.0.weight"] == (64, 130, 3, 3)
    assert shapes["conv_offset.6.weight"] == (432, 64, 3, 3)
    assert set(shapes) == {"weight", "bias"} | {f"conv_offset.{i}.{p}" for i in (0, 2, 4, 6) for p in ("weight", "bias")}


def test_flow_guided_zero_init_is_flow_warp_then_half_conv():
    align = FlowGuidedDeformAlignment(4, 4, deform_groups=2).double()
    x = torch.randn(1, 4, 6, 7, dtype=torch.float64)
    extra = torch.randn(1, 8, 6, 7, dtype=torch.float64)
    flow = torch.zeros(1, 2, 6, 7, dtype=torch.float64)
    flow[:, 0] = 1.0  # x displacement
    flow[:, 1] = -2.0  # y displacement
    out = align(x, extra, flow)
    # sampling at (y - 2, x + 1) == conv of the input shifted by the flow, zero filled
    padded = F.pad(x, (5, 5, 5, 5))  # 1 for the conv padding + 4 for the shift
    shifted = padded[:, :, 4 - 2: 4 - 2 + 8, 4 + 1: 4 + 1 + 9]
    ref = F.conv2d(shifted, align.weight) * 0.5 + align.bias.view(1, -1, 1, 1)
    torch.testing.assert_close(out, ref)


def test_flow_guided_formula():
    align = FlowGuidedDeformAlignment(4, 2, deform_groups=2, max_residue_magnitude=3.0).double()
    _randomise(align, seed=3, scale=0.3)
    x = torch.randn(2, 4, 5, 6, dtype=torch.float64)
    extra = torch.randn(2, 4, 5, 6, dtype=torch.float64)
    flow = torch.randn(2, 2, 5, 6, dtype=torch.float64) * 2
    raw = align.conv_offset(torch.cat((extra, flow), 1))
    o1, o2, m = raw.chunk(3, 1)
    offset = 3.0 * torch.tanh(torch.cat((o1, o2), 1)) + flow.flip(1).repeat(1, 18, 1, 1)
    ref = deform_conv2d(x, offset, align.weight, align.bias, 1, 1, 1, torch.sigmoid(m))
    torch.testing.assert_close(align(x, extra, flow), ref)
    with pytest.raises(ValueError, match="flow"):
        align(x, extra, flow[:, :1])
    with pytest.raises(ValueError, match="extra_feat"):
        align(x, extra[:, :3], flow)


def _pyramid(b, c, h, w, gen, levels=3):
    feats = [torch.randn(b, c, h, w, generator=gen, dtype=torch.float64)]
    for _ in range(levels - 1):
        feats.append(F.avg_pool2d(feats[-1], 2, ceil_mode=True))
    return feats


def test_pcd_shapes_keys_params():
    pcd = PCDAlignment(num_feat=8, deform_groups=2).double()
    gen = torch.Generator().manual_seed(0)
    out = pcd(_pyramid(2, 8, 12, 10, gen), _pyramid(2, 8, 12, 10, gen))
    assert out.shape == (2, 8, 12, 10)
    keys = set(pcd.state_dict())
    for key in ("offset_conv1.l3.weight", "offset_conv2.l3.weight", "offset_conv3.l2.weight", "feat_conv.l1.weight",
                "dcn_pack.l1.conv_offset.weight", "cas_offset_conv1.weight", "cas_dcnpack.weight"):
        assert key in keys
    assert "offset_conv3.l3.weight" not in keys and "feat_conv.l3.weight" not in keys
    # EDVR default width: 64 channels, 8 groups
    c = 64
    conv = lambda ci, co: ci * co * 9 + co  # noqa: E731
    dcn = conv(c, c) + conv(c, 216)
    expected = 3 * conv(2 * c, c) + conv(c, c) + 2 * conv(2 * c, c) + 2 * conv(c, c) + 2 * conv(2 * c, c) + 3 * dcn
    expected += conv(2 * c, c) + conv(c, c) + dcn
    assert _nparams(PCDAlignment(64, 8)) == expected


def test_pcd_odd_sizes_and_errors():
    pcd = PCDAlignment(num_feat=4, deform_groups=1, num_levels=2)
    gen = torch.Generator().manual_seed(1)
    nbr = [t.float() for t in _pyramid(1, 4, 7, 9, gen, levels=2)]
    ref = [t.float() for t in _pyramid(1, 4, 7, 9, gen, levels=2)]
    assert pcd(nbr, ref).shape == (1, 4, 7, 9)
    with pytest.raises(ValueError, match="levels"):
        pcd(nbr[:1], ref)


@pytest.mark.parametrize(
    "factory, call",
    [
        (lambda: DCNPack(4, 4, 3, padding=1, deform_groups=2, offset_in_channels=6, max_offset=5.0),
         lambda m, g: m(torch.randn(1, 4, 5, 5, generator=g), torch.randn(1, 6, 5, 5, generator=g))),
        (lambda: FlowGuidedDeformAlignment(8, 4, deform_groups=2),
         lambda m, g: m(torch.randn(1, 8, 5, 5, generator=g), torch.randn(1, 8, 5, 5, generator=g),
                        torch.randn(1, 2, 5, 5, generator=g))),
        (lambda: PCDAlignment(4, 2),
         lambda m, g: m(_pyramid(1, 4, 8, 8, g), _pyramid(1, 4, 8, 8, g))),
    ],
)
def test_gradients_reach_every_parameter(factory, call):
    module = factory()
    _randomise(module, seed=5, scale=0.2)
    gen = torch.Generator().manual_seed(7)
    out = call(module.double(), gen) if isinstance(module, PCDAlignment) else call(module, gen)
    out.square().sum().backward()
    for name, p in module.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_constructor_errors():
    with pytest.raises(ValueError, match="deform_groups"):
        ModulatedDeformConv2d(6, 4, 3, deform_groups=4)
    with pytest.raises(ValueError, match="groups"):
        ModulatedDeformConv2d(6, 4, 3, groups=4)
    with pytest.raises(TypeError, match="kernel_size"):
        ModulatedDeformConv2d(6, 4, "3")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_offset"):
        DCNPack(4, 4, 3, max_offset=-1.0)
    with pytest.raises(ValueError, match="max_residue_magnitude"):
        FlowGuidedDeformAlignment(max_residue_magnitude=0)
    with pytest.raises(ValueError, match="in_channels"):
        DCNPack(0, 4, 3)


def _reference_pcd(pcd: PCDAlignment, nbr, ref, *, mean: bool, double: bool):
    """The non-cascading PCD written out level by level, as MSITF's and MsMr's authors wrote it."""

    def lrelu(x):
        return F.leaky_relu(x, 0.1)

    def act(x):
        return lrelu(lrelu(x)) if double else lrelu(x)

    def up(x):
        return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)

    def src(i):
        return (nbr[i] + ref[i]) / 2 if mean else nbr[i]

    off = act(pcd.offset_conv1["l3"](torch.cat((nbr[2], ref[2]), 1)))
    off = act(pcd.offset_conv2["l3"](off))
    fea = lrelu(pcd.dcn_pack["l3"](src(2), off))
    for lv, i in (("l2", 1), ("l1", 0)):
        o = act(pcd.offset_conv1[lv](torch.cat((nbr[i], ref[i]), 1)))
        o = act(pcd.offset_conv2[lv](torch.cat((o, up(off) * 2), 1)))
        off = act(pcd.offset_conv3[lv](o))
        fea = pcd.feat_conv[lv](torch.cat((pcd.dcn_pack[lv](src(i), off), up(fea)), 1))
        if lv == "l2":
            fea = act(fea)
    return fea


@pytest.mark.parametrize(("mean", "double", "max_offset"), [(False, False, 10.0), (True, False, 10.0), (False, True, None)])
def test_pcd_variants_match_reference_float64(mean: bool, double: bool, max_offset: float | None) -> None:
    # MSITF (authors_compat: deform nbr; else the mean) and MsMr (doubled LeakyReLUs), no cascade
    pcd = PCDAlignment(
        4, 2, 3, max_offset, cascade=False, deform_input="mean" if mean else "nbr", double_lrelu=double
    ).double()
    _randomise(pcd, seed=11, scale=0.3)
    gen = torch.Generator().manual_seed(12)
    nbr, ref = _pyramid(2, 4, 8, 12, gen), _pyramid(2, 4, 8, 12, gen)
    assert not any(k.startswith("cas_") for k in pcd.state_dict())
    torch.testing.assert_close(pcd(nbr, ref), _reference_pcd(pcd, nbr, ref, mean=mean, double=double), rtol=0, atol=1e-12)


@pytest.mark.parametrize("cascade", [True, False])
def test_pcd_gradcheck(cascade: bool) -> None:
    pcd = PCDAlignment(2, 1, 2, cascade=cascade, double_lrelu=not cascade).double()
    _randomise(pcd, seed=13, scale=0.3)
    gen = torch.Generator().manual_seed(14)
    nbr, ref = _pyramid(1, 2, 4, 4, gen, levels=2), _pyramid(1, 2, 4, 4, gen, levels=2)
    nbr = [t.requires_grad_() for t in nbr]
    assert torch.autograd.gradcheck(lambda a, b: pcd([a, b], ref), tuple(nbr))


def test_split_flat_pcd_key() -> None:
    from stvsr.layers.alignment import split_flat_pcd_key

    assert split_flat_pcd_key("insert.L3_offset_conv1_2.conv.weight") == ("insert", "2", "offset_conv1.l3.weight")
    assert split_flat_pcd_key("a.pcd_align.L1_dcnpack_1.conv_offset.bias") == (
        "a.pcd_align", "1", "dcn_pack.l1.conv_offset.bias"
    )
    assert split_flat_pcd_key("L2_fea_conv_1.weight") == ("", "1", "feat_conv.l2.weight")
    assert split_flat_pcd_key("insert.fea_L2_conv1.0.weight") is None
    with pytest.raises(ValueError, match="deform_input"):
        PCDAlignment(4, 2, deform_input="ref")
