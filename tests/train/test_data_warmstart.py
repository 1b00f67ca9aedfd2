from __future__ import annotations

import pytest
import torch

import stvsr
from stvsr.train.data import ClipBank, DataConfig, batch_params, make_batch
from stvsr.train.warmstart import RULES, rules_for, warm_start
from tests.eval.clips import moving_clip, write_folder


@pytest.fixture(scope="module")
def bank(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    write_folder(root / "a", moving_clip(12, 40, 40, seed=1))
    write_folder(root / "b", moving_clip(9, 36, 44, seed=2))
    return ClipBank([root])


def test_fixed_batches_shapes_and_determinism(bank):
    cfg = DataConfig(crop=32, keys=3, scale=4.0, time="fixed")
    b = make_batch(bank, cfg, seed=3, step=5, batch_size=2)
    assert b.lr.shape == (2, 3, 3, 8, 8) and b.gt.shape == (2, 5, 3, 32, 32)
    assert b.times == (0.5,) and b.scale == (4.0, 4.0)
    assert torch.equal(b.lr, (b.lr * 255).round() / 255)
    again = make_batch(bank, cfg, seed=3, step=5, batch_size=2)
    assert torch.equal(b.lr, again.lr) and torch.equal(b.gt, again.gt)
    other = make_batch(bank, cfg, seed=3, step=6, batch_size=2)
    assert not torch.equal(b.gt, other.gt)
    rank1 = make_batch(bank, cfg, seed=3, step=5, rank=1, batch_size=2)
    assert not torch.equal(b.gt, rank1.gt)


def test_no_augment_keys_are_degraded_targets(bank):
    cfg = DataConfig(crop=32, keys=2, time="fixed", augment=False, quantize_lr=False)
    b = make_batch(bank, cfg, seed=0, step=0)
    from stvsr.ops.resize import imresize

    torch.testing.assert_close(b.lr[0], imresize(b.gt[0, [0, 2]], scale=0.25).clamp(0, 1))


def test_arbitrary_scales_and_times(bank):
    cfg = DataConfig(crop=30, keys=2, scale="arbitrary", time="arbitrary", max_interval=5, max_times=3)
    for step in range(12):
        s, a, js = batch_params(cfg, 0, step)
        assert 1.0 <= s <= 4.0 and 2 <= a <= 5 and 1 <= len(js) <= min(3, a - 1)
        b = make_batch(bank, cfg, seed=0, step=step)
        h = b.lr.shape[-1]
        assert b.gt.shape[-1] == round(s * h) and b.gt.shape[1] == 2 + len(js)
        assert all(0 < t < 1 for t in b.times)
    bd = make_batch(bank, DataConfig(crop=32, keys=2, degradation="bd"), seed=0, step=0)
    assert bd.lr.shape[-1] == 8
    with pytest.raises(ValueError, match="no clip"):
        make_batch(bank, DataConfig(crop=32, keys=30), seed=0, step=0)


def test_lr_crop_fixes_the_lr_side(bank):
    cfg = DataConfig(lr_crop=8, keys=2, scale="arbitrary", scale_min=1.0, scale_max=4.0, time="fixed")
    sides = set()
    for step in range(10):
        s, _, _ = batch_params(cfg, 0, step)
        b = make_batch(bank, cfg, seed=0, step=step)
        assert b.lr.shape[-2:] == (8, 8) and b.gt.shape[-1] == round(s * 8)
        sides.add(b.gt.shape[-1])
    assert len(sides) > 1  # the HR side follows the scale
    with pytest.raises(ValueError, match="lr_crop"):
        make_batch(bank, DataConfig(lr_crop=0, keys=2), seed=0, step=0)


def _meta(name: str, **kw):
    with torch.device("meta"):
        return stvsr.load(name, pretrained=False, **kw)


def test_warm_start_real_shapes_msmr_from_basicvsr():
    for variant in ("msmr_fix", "msmr_arb"):
        report = warm_start(_meta(variant), _meta("basicvsr"), rules_for(variant, "basicvsr"))
        # SpyNet 62 tensors, 3 trunks x 30 blocks x 4 tensors, 3 input conv weights (sliced) + 3 biases
        assert report.tensors == 62 + 3 * 30 * 4 + 6, report.summary()
        assert not report.shape_mismatch
    assert report.copied["backward_resblocks.conv1.weight"] == "backward_trunk.main.0.weightin[3:]"
    spy = warm_start(_meta("msmr_fix"), _meta("spynet"), rules_for("msmr_fix", "spynet"))
    assert spy.tensors == 62
    safa = warm_start(_meta("safa"), _meta("rife_hdv3"), rules_for("safa", "rife_hdv3"))
    assert safa.tensors == 0 and safa.shape_mismatch  # documented: no RIFE block matches SAFA's shapes
    rb = warm_start(_meta("rife_basicvsr"), _meta("basicvsr"), rules_for("rife_basicvsr", "basicvsr"))
    assert rb.tensors == 316
    with pytest.raises(ValueError, match="no warm-start rules"):
        rules_for("msmr_fix", "fmu")
    assert ("msmr_fix", "basicvsr") in RULES


def test_warm_start_copies_values_tiny():
    from stvsr.models.basicvsr import BasicVSR
    from stvsr.models.msmr import MsMr

    torch.manual_seed(0)
    src = BasicVSR(num_feat=16, num_block=3)
    dst = MsMr(variant="fix", mid_channels=16, num_blocks=2, feat_blocks=1)
    report = warm_start(dst, src, rules_for("msmr_fix", "basicvsr"))
    sd, ss = dst.state_dict(), src.state_dict()
    torch.testing.assert_close(sd["spy.basic_module.3.basic_module.2.conv.weight"],
                               ss["spynet.basic_module.3.basic_module.2.conv.weight"])
    torch.testing.assert_close(sd["forward_resblocks.main.2.1.conv2.weight"], ss["forward_trunk.main.2.1.conv2.weight"])
    torch.testing.assert_close(sd["backward_resblocks.main.0.weight"], ss["backward_trunk.main.0.weight"][:, 3:])
    assert report.tensors == 62 + 3 * 2 * 4 + 6
    with pytest.raises(ValueError, match="shape"):
        warm_start(MsMr(variant="fix", mid_channels=32, num_blocks=1, feat_blocks=1), src,
                   rules_for("msmr_fix", "basicvsr"), strict=True)


def test_clip_bank_cached_builds_once_then_reads(tmp_path):
    root = tmp_path / "clips"
    write_folder(root / "a", moving_clip(n=4, h=24, w=32, seed=1))
    write_folder(root / "b", moving_clip(n=5, h=24, w=32, seed=2))
    cache = tmp_path / "bank.pt"
    built = ClipBank.cached([str(root)], cache)
    assert cache.exists() and not list(tmp_path.glob(".*.tmp"))
    write_folder(root / "c", moving_clip(n=3, h=24, w=32, seed=3))  # not read: the cache answers
    read = ClipBank.cached([str(root)], cache)
    assert read.names == built.names and len(read) == 2
    assert all(torch.equal(x, y) for x, y in zip(read.clips, built.clips, strict=True))
    assert read.clips[0].dtype == torch.uint8


def test_clip_bank_cached_in_a_folder_is_named_after_the_footage(tmp_path):
    root = tmp_path / "clips"
    write_folder(root / "a", moving_clip(n=4, h=24, w=32, seed=1))
    runs = tmp_path / "runs"
    runs.mkdir()
    built = ClipBank.cached([str(root)], runs)
    assert (runs / "bank_clips.pt").is_file()
    assert ClipBank.cached([str(root)], runs / "bank_clips.pt").names == built.names
