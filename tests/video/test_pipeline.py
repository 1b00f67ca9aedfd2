"""The streaming pipeline: frame selection, windows, tiling, memory bound, files in and out."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from stvsr.models._capabilities import Capabilities
from stvsr.video import Upscaler, upscale_video
from stvsr.video.io import VideoError, probe, read_frames
from stvsr.video.timegrid import plan
from tests.video.clips import make_clip


class Blend(nn.Module):
    """A parameter-free stvsr-contract model: bilinear space, linear blend in time."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[int, tuple[float, ...]]] = []

    def forward(self, lr: torch.Tensor, scale=4.0, times=(0.5,)) -> torch.Tensor:
        b, t, c, h, w = lr.shape
        sh, sw = (scale, scale) if isinstance(scale, (int, float)) else scale
        self.calls.append((t, tuple(times)))
        up = F.interpolate(lr.flatten(0, 1), size=(round(sh * h), round(sw * w)), mode="bilinear", align_corners=False)
        up = up.reshape(b, t, c, *up.shape[-2:])
        out = []
        for i in range(t):
            out.append(up[:, i])
            if i + 1 < t:
                out += [(1 - s) * up[:, i] + s * up[:, i + 1] for s in times]
        return torch.stack(out, 1)


def const_frames(n: int, h: int = 6, w: int = 8) -> list[torch.Tensor]:
    return [torch.full((3, h, w), k / 100.0) for k in range(n)]


@pytest.mark.parametrize(("n", "fps_in", "fps_out"), [(30, 30, 24), (24, 24, 60), (10, 25, "x2"), (9, 25, None), (5, 24, 30)])
@pytest.mark.parametrize(("window", "overlap"), [(2, 1), (3, 1), (7, 2), (5, 4)])
def test_frame_selection_matches_plan(n: int, fps_in: int, fps_out, window: int, overlap: int) -> None:
    ups = Upscaler(Blend(), scale=2.0, fps=fps_out, window=window, overlap=overlap, progress=False, cut_threshold=None)
    outs = list(ups.process(const_frames(n), fps_in=fps_in))
    target = Fraction(fps_in) * 2 if fps_out == "x2" else Fraction(fps_out or fps_in)
    samples = plan([k / fps_in for k in range(n)], target)
    assert len(outs) == len(samples)
    for frame, s in zip(outs, samples):
        assert frame.shape == (3, 12, 16)
        torch.testing.assert_close(frame, torch.full_like(frame, (s.i + s.t) / 100.0), atol=1e-6, rtol=0)


def test_windows_ask_only_needed_times() -> None:
    model = Blend()
    list(Upscaler(model, fps=24, window=4, overlap=2, progress=False).process(const_frames(12), fps_in=30))
    for t, times in model.calls:
        assert 2 <= t <= 4
        assert all(0 < x < 1 for x in times)
    assert {x for _, ts in model.calls for x in ts} <= {0.25, 0.5, 0.75}


def test_fixed_time_model_uses_nearest(monkeypatch: pytest.MonkeyPatch) -> None:
    ups = Upscaler(Blend(), scale=1.0, fps=24, progress=False, cut_threshold=None)
    ups.caps = Capabilities(task="stvsr", times=(0.5,))
    with pytest.warns(UserWarning, match="nearest"):
        outs = list(ups.process(const_frames(10), fps_in=30))
    samples = plan([k / 30 for k in range(10)], Fraction(24))
    for frame, s in zip(outs, samples):
        nearest = min([0.0, 0.5, 1.0], key=lambda f: (abs(s.t - f), f))
        assert frame.mean().item() == pytest.approx((s.i + nearest) / 100.0, abs=1e-6)


def test_scene_cut_never_blends() -> None:
    frames = [torch.full((3, 8, 8), 0.1)] * 4 + [torch.full((3, 8, 8), 0.9)] * 4
    ups = Upscaler(Blend(), scale=1.0, fps="x2", progress=False)
    outs = [f.mean().item() for f in ups.process(frames, fps_in=25)]
    assert len(outs) == 15
    assert all(v == pytest.approx(0.1) or v == pytest.approx(0.9) for v in outs)
    assert ups.cuts == 1


def test_memory_is_bounded_by_window() -> None:
    consumed = []

    def source():
        for k, f in enumerate(const_frames(40)):
            consumed.append(k)
            yield f

    ups = Upscaler(Blend(), scale=1.0, fps="x2", window=5, overlap=2, progress=False, cut_threshold=None)
    for k, _ in enumerate(ups.process(source(), fps_in=25)):
        needed = k // 2 + 1  # output k needs input frames up to k // 2 + 1
        assert len(consumed) <= needed + 5 + 1


def test_tiled_matches_untiled() -> None:
    torch.manual_seed(0)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 40), torch.linspace(0, 1, 52), indexing="ij")
    frames = [torch.stack([torch.sin(3 * xx + k), torch.cos(2 * yy), xx * yy]) * 0.4 + 0.5 for k in range(4)]
    kw = dict(scale=2.5, fps="x2", progress=False, cut_threshold=None)
    whole = list(Upscaler(Blend(), **kw).process(frames, fps_in=25))
    tiled = list(Upscaler(Blend(), tile=16, tile_overlap=6, **kw).process(frames, fps_in=25))
    assert len(whole) == len(tiled) == 7
    diff = torch.stack(whole) - torch.stack(tiled)
    assert diff.abs().mean() < 2e-3 and diff.abs().max() < 0.05


def test_errors() -> None:
    with pytest.raises(ValueError, match="scale"):
        Upscaler(Blend(), scale=0)
    with pytest.raises(ValueError, match="scale or size"):
        Upscaler(Blend(), scale=2, size=(10, 10))
    with pytest.raises(ValueError, match="overlap"):
        Upscaler(Blend(), window=4, overlap=4)
    with pytest.raises(ValueError, match="dtype"):
        Upscaler(Blend(), dtype="int8")
    with pytest.raises(ValueError, match="limit"):
        Upscaler(Blend(), scale=64.0).output_size(1080, 1920)
    with pytest.raises(ValueError, match="at least 2"):
        list(Upscaler(Blend(), progress=False).process(const_frames(1), fps_in=25))
    with pytest.raises(ValueError, match="fps"):
        Upscaler(Blend(), fps=-3)
    with pytest.raises(ValueError, match="fps"):
        Upscaler(Blend(), fps="x0")


def test_upscale_video_end_to_end(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in.mkv", n=8, fps=24, size=(24, 32), audio=True)
    dst = tmp_path / "out.mp4"
    summary = upscale_video(src, dst, model=Blend(), scale=2.0, fps=60, progress=False)
    info = probe(dst)
    assert (info.width, info.height) == (64, 48)
    assert info.fps == 60 and info.has_audio
    times = [f.time for f in read_frames(dst)]
    assert len(times) == summary.frames_out == len(plan([k / 24 for k in range(8)], Fraction(60)))
    assert times == pytest.approx([k / 60 for k in range(len(times))], abs=2e-3)
    assert summary.frames_in == 8 and summary.size_out == (64, 48)
    # refuses to overwrite, and never writes to the input
    with pytest.raises(VideoError, match="exists"):
        upscale_video(src, dst, model=Blend(), progress=False)
    with pytest.raises(VideoError, match="input"):
        upscale_video(src, src, model=Blend(), progress=False, overwrite=True)
    # size instead of scale, PNG folder output, x1 in time (pure SR)
    frames_dir = tmp_path / "frames"
    s2 = upscale_video(src, frames_dir, model=Blend(), size=(40, 30), progress=False)
    assert s2.frames_out == 8 and len(list(frames_dir.glob("*.png"))) == 8


def test_failed_job_leaves_no_file(tmp_path: Path) -> None:
    class Boom(Blend):
        def forward(self, lr, scale=4.0, times=(0.5,)):
            if len(self.calls) >= 1:
                raise RuntimeError("model failed")
            return super().forward(lr, scale, times)

    src = make_clip(tmp_path / "in.mp4", n=12, fps=24, size=(16, 16))
    with pytest.raises(RuntimeError, match="model failed"):
        upscale_video(src, tmp_path / "out.mp4", model=Boom(), window=3, overlap=1, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def test_one_frame_video_is_refused(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "one.mp4", n=1, size=(16, 16))
    with pytest.raises(VideoError, match="at least 2"):
        upscale_video(src, tmp_path / "o.mp4", model=Blend(), progress=False)
    assert not (tmp_path / "o.mp4").exists()
