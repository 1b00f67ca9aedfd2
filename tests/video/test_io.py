from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from stvsr.video.io import VideoError, VideoWriter, probe, read_frames
from tests.video.clips import make_clip, square_frame


def test_probe_and_read_roundtrip(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "a.mp4", n=6, fps=24, size=(48, 64))
    info = probe(clip)
    assert (info.width, info.height, info.fps) == (64, 48, 24)
    assert info.frames == 6 and not info.has_audio
    frames = list(read_frames(clip))
    assert [round(f.time, 6) for f in frames] == [round(k / 24, 6) for k in range(6)]
    img = frames[3].image
    assert img.shape == (3, 48, 64) and img.dtype == torch.float32
    # yuv444 crf 0 is near-lossless after the RGB->YUV->RGB conversion
    ref = torch.from_numpy(square_frame(3, 48, 64)).permute(2, 0, 1).float() / 255
    assert (img - ref).abs().mean() < 0.01


def test_odd_size_and_10bit(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "odd.mkv", n=3, size=(37, 29), pix_fmt="yuv444p10le")
    info = probe(clip)
    assert (info.width, info.height) == (29, 37)
    assert info.bit_depth == 10
    frames = list(read_frames(clip))
    assert len(frames) == 3 and frames[0].image.shape == (3, 37, 29)
    # decoded through 16-bit RGB: values are not restricted to the 8-bit grid
    vals = frames[0].image.flatten() * 255
    assert ((vals - vals.round()).abs() > 1e-3).any()
    ref = torch.from_numpy(square_frame(0, 37, 29)).permute(2, 0, 1).float() / 255
    assert (frames[0].image - ref).abs().mean() < 0.03


def test_variable_frame_rate_timestamps(tmp_path: Path) -> None:
    tb = Fraction(1, 1000)
    pts = [0, 40, 60, 160, 200]
    clip = make_clip(tmp_path / "vfr.mkv", n=5, fps=25, pts=pts, time_base=tb)
    got = [round(f.time, 3) for f in read_frames(clip)]
    assert got == [p / 1000 for p in pts]


def test_writer_h264_timestamps_and_audio(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "src.mkv", n=12, fps=24, audio=True)
    assert probe(src).has_audio
    dst = tmp_path / "out.mkv"
    with VideoWriter(dst, Fraction(60000, 1001), 64, 48, audio_from=src, src=src) as w:
        for k in range(10):
            w.write(torch.from_numpy(square_frame(k, 48, 64)).permute(2, 0, 1).float() / 255)
    info = probe(dst)
    assert info.fps == Fraction(60000, 1001) and info.has_audio
    times = [f.time for f in read_frames(dst)]
    assert len(times) == 10
    np.testing.assert_allclose(times, [k * 1001 / 60000 for k in range(10)], atol=1.5e-3)


@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])
def test_lossless_is_exact(tmp_path: Path, suffix: str) -> None:
    dst = tmp_path / f"l{suffix}"
    frames = [square_frame(k, 31, 45) for k in range(3)]
    with VideoWriter(dst, 30, 45, 31, lossless=True) as w:
        for f in frames:
            w.write(f)
    back = [(f.image * 255).round().to(torch.uint8).permute(1, 2, 0).numpy() for f in read_frames(dst)]
    assert len(back) == 3
    for a, b in zip(frames, back):
        np.testing.assert_array_equal(a, b)


def test_png_folder_roundtrip(tmp_path: Path) -> None:
    dst = tmp_path / "frames"
    with VideoWriter(dst, 25, 20, 10) as w:
        for k in range(4):
            w.write(square_frame(k, 10, 20))
    assert sorted(p.name for p in dst.iterdir()) == [f"{k:06d}.png" for k in range(4)]
    frames = list(read_frames(dst, folder_fps=25))
    assert len(frames) == 4 and frames[1].time == pytest.approx(0.04)
    np.testing.assert_array_equal((frames[2].image * 255).round().byte().permute(1, 2, 0).numpy(), square_frame(2, 10, 20))
    assert probe(dst).frames == 4


def test_interrupted_write_leaves_nothing(tmp_path: Path) -> None:
    dst = tmp_path / "crash.mp4"
    with pytest.raises(RuntimeError), VideoWriter(dst, 24, 64, 48) as w:
        w.write(square_frame(0, 48, 64))
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_refuses_overwrite_and_input(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in.mp4", n=2)
    before = src.read_bytes()
    with pytest.raises(VideoError, match="input"):
        VideoWriter(src, 24, 64, 48, src=src, overwrite=True)
    other = tmp_path / "other.mp4"
    other.write_bytes(b"keep")
    with pytest.raises(VideoError, match="exists"):
        VideoWriter(other, 24, 64, 48)
    assert other.read_bytes() == b"keep" and src.read_bytes() == before
    with VideoWriter(other, 24, 64, 48, overwrite=True) as w:
        w.write(square_frame(0, 48, 64))
    assert probe(other).frames == 1


def test_bad_inputs(tmp_path: Path) -> None:
    with pytest.raises(VideoError, match="not found"):
        probe(tmp_path / "missing.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 1000)
    with pytest.raises(VideoError, match="cannot read"):
        probe(junk)
    wav = tmp_path / "sound.wav"
    with av.open(str(wav), "w") as out:
        s = out.add_stream("pcm_s16le", rate=8000)
        s.layout = "mono"
        af = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        af.sample_rate = 8000
        for p in s.encode(af):
            out.mux(p)
        for p in s.encode():
            out.mux(p)
    with pytest.raises(VideoError, match="no video stream"):
        probe(wav)
    with pytest.raises(VideoError, match="frame must be"):
        with VideoWriter(tmp_path / "x.mp4", 24, 64, 48) as w:
            w.write(np.zeros((10, 10, 3), np.uint8))
