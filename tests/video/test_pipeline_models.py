"""Every registered model the pipeline can drive runs through it (random weights, tiny clip)."""

from __future__ import annotations

import warnings
from fractions import Fraction

import pytest
import torch

import stvsr
from stvsr.video import Upscaler
from stvsr.video.timegrid import plan

DRIVABLE = [n for n in stvsr.list_models() if stvsr.model_card(n).get("task") in ("stvsr", "vsr", "vfi")]


@pytest.mark.parametrize("name", DRIVABLE)
def test_model_through_pipeline(name: str) -> None:
    card = stvsr.model_card(name)
    torch.manual_seed(0)
    model = stvsr.load(name, pretrained=False, **card.get("test_config", {}))
    frames = [torch.rand(3, 20, 24) for _ in range(4)]
    window = None if isinstance(card.get("input_frames"), int) else 3
    ups = Upscaler(model, scale=2.0, fps=Fraction(75, 2), window=window, progress=False, cut_threshold=None)
    # 25 -> 37.5 fps needs t = 1/3 and 2/3: models without arbitrary time say they use the nearest frame
    if card.get("time") == "arbitrary":
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            out = list(ups.process(frames, fps_in=25))
    else:
        with pytest.warns(UserWarning, match="nearest"):
            out = list(ups.process(frames, fps_in=25))
    assert len(out) == len(plan([k / 25 for k in range(4)], Fraction(75, 2)))
    for f in out:
        assert f.shape == (3, 40, 48)
        assert torch.isfinite(f).all() and f.min() >= 0 and f.max() <= 1

