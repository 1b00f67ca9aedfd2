"""Clips from still photographs (stvsr.train.synthetic_motion)."""

from __future__ import annotations

import pytest
import torch

from stvsr.train.synthetic_motion import synthesize_clip


@pytest.fixture(scope="module")
def photo() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    # smooth structure plus texture, like a photograph
    base = torch.nn.functional.interpolate(torch.rand(1, 3, 12, 16, generator=g), size=(180, 240), mode="bicubic")
    return (base[0] * 0.8 + 0.2 * torch.rand(3, 180, 240, generator=g)).clamp(0, 1)


def test_shape_dtype_determinism(photo: torch.Tensor) -> None:
    a = synthesize_clip(photo, 6, (48, 64), seed=3)
    b = synthesize_clip(photo, 6, (48, 64), seed=3)
    c = synthesize_clip(photo, 6, (48, 64), seed=4)
    assert a.shape == (6, 3, 48, 64) and a.dtype == torch.uint8
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_frames_move_smoothly(photo: torch.Tensor) -> None:
    clip = synthesize_clip(photo, 8, (48, 64), seed=1).float()
    steps = (clip[1:] - clip[:-1]).abs().mean(dim=(1, 2, 3))
    assert (steps > 0.2).all()  # every frame moves
    far = (clip[-1] - clip[0]).abs().mean()
    assert far > steps.mean()  # motion accumulates over the clip rather than jittering in place


def test_object_motion_changes_only_part_of_the_frame(photo: torch.Tensor) -> None:
    with_obj = synthesize_clip(photo, 4, (48, 64), seed=2)
    without = synthesize_clip(photo, 4, (48, 64), seed=2, object_motion=False)
    diff = (with_obj.float() - without.float()).abs().amax(dim=1) > 2  # (T, H, W)
    frac = diff.float().mean().item()
    assert 0.01 < frac < 0.5


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"frames": 1}, "frames must be an int >= 2"),
        ({"size": (160, 220)}, "too small"),
        ({"oversample": 1.0}, "oversample must be >= 1.25"),
    ],
)
def test_bad_arguments(photo: torch.Tensor, kwargs: dict, match: str) -> None:
    args = {"frames": 4, "size": (48, 64), **kwargs}
    with pytest.raises(ValueError, match=match):
        synthesize_clip(photo, **args)


def test_bad_image() -> None:
    with pytest.raises(ValueError, match="image must be a float"):
        synthesize_clip(torch.zeros(180, 240, 3), 4, (48, 64))
