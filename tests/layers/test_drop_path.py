"""DropPath (stochastic depth): identity in eval, per-sample drop with expectation-preserving scale."""

from __future__ import annotations

import pytest
import torch

from stvsr.layers.blocks import DropPath


def test_eval_is_identity_and_train_drops_whole_samples() -> None:
    x = torch.randn(512, 3, 4, 4)
    m = DropPath(0.25)
    assert torch.equal(m.eval()(x), x)
    torch.manual_seed(0)
    y = m.train()(x)
    kept = (y.flatten(1) != 0).any(dim=1)
    torch.testing.assert_close(y[kept], x[kept] / 0.75)  # survivors scaled by 1 / keep
    assert (y[~kept] == 0).all()
    assert 0.15 < (~kept).float().mean().item() < 0.35


def test_bad_probability() -> None:
    with pytest.raises(ValueError, match="drop path probability"):
        DropPath(1.0)


def test_building_msitf_does_not_import_timm() -> None:
    import subprocess
    import sys

    code = "import sys, stvsr; stvsr.model_card('msitf'); from stvsr.models.msitf import MSITF; MSITF(); print('timm' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out.endswith("False")
