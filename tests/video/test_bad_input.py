"""Bad input for the video CLI and API (issue 17): no hang, no wrong result reported as
success, and errors a user can act on (one line naming the option and what is expected)."""

from __future__ import annotations

import argparse
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from stvsr.video import Upscaler, upscale_video
from stvsr.video.io import VideoError, VideoWriter, probe, read_frames
from stvsr.video.timegrid import MAX_FRAMES_PER_INTERVAL, StreamPlanner, plan, target_fps
from tests.video.clips import make_clip
from tests.video.test_cli import run


def parse_upscale(*args: str) -> argparse.Namespace:
    from stvsr.video.commands import upscale_arguments

    p = argparse.ArgumentParser(prog="stvsr upscale", exit_on_error=False)
    upscale_arguments(p)
    return p.parse_args(["in.mp4", "out.mp4", *args])


# -- hangs: absurd output rates are refused before anything is planned ------------------------------


@pytest.mark.parametrize("fps", [1e9, "x1e6", "x2000", 5000])
def test_absurd_rates_are_refused(fps: float | str) -> None:
    with pytest.raises(ValueError, match="limit|too large"):
        target_fps(fps, Fraction(25))


def test_cli_refuses_absurd_rates_while_parsing(capsys: pytest.CaptureFixture[str]) -> None:
    for fps in ("1e9", "x1e6"):
        with pytest.raises((SystemExit, argparse.ArgumentError)):
            parse_upscale("--fps", fps)


def test_planner_refuses_huge_gaps_before_building_them() -> None:
    # an hour between two frames of a variable-frame-rate file at 60 fps: 216000 frames in one interval
    with pytest.raises(ValueError, match="input frames 0 and 1 are 3600.000 s apart"):
        plan([0.0, 3600.0], Fraction(60))
    planner = StreamPlanner(Fraction(60))
    planner.push(0.0)
    with pytest.raises(ValueError, match=f"the limit is {MAX_FRAMES_PER_INTERVAL}"):
        planner.push(3600.0)
    assert len(plan([0.0, 1.0], Fraction(MAX_FRAMES_PER_INTERVAL))) == MAX_FRAMES_PER_INTERVAL + 1  # the limit itself


# -- wrong results reported as success ------------------------------------------------------------


def test_16bit_png_folder_keeps_its_values(tmp_path: Path) -> None:
    folder = tmp_path / "grey16"
    folder.mkdir()
    for k in range(2):
        Image.fromarray(np.full((8, 12), 20000 + 1000 * k, np.uint16)).save(folder / f"{k:03d}.png")
    rgb48 = tmp_path / "rgb48"
    rgb48.mkdir()
    values = np.stack([np.full((8, 12), v, np.uint16) for v in (1000, 30000, 65535)], -1)
    with av.open(str(rgb48 / "000.png"), "w", format="image2") as c:
        s = c.add_stream("png", rate=1)
        s.width, s.height, s.pix_fmt = 12, 8, "rgb48be"
        for p in [*s.encode(av.VideoFrame.from_ndarray(values, format="rgb48le")), *s.encode()]:
            c.mux(p)
    info = probe(folder)
    assert info.bit_depth == 16 and (info.width, info.height) == (12, 8)
    grey = [f.image for f in read_frames(folder)]
    assert grey[0].shape == (3, 8, 12)
    torch.testing.assert_close(grey[0], torch.full((3, 8, 12), 20000 / 65535), atol=1e-6, rtol=0)
    torch.testing.assert_close(grey[1], torch.full((3, 8, 12), 21000 / 65535), atol=1e-6, rtol=0)
    (colour,) = [f.image for f in read_frames(rgb48)]
    torch.testing.assert_close(colour[:, 0, 0], torch.tensor([1000, 30000, 65535]) / 65535, atol=1e-6, rtol=0)


def test_png_folder_with_mixed_sizes(tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    Image.new("RGB", (16, 16)).save(folder / "a.png")
    Image.new("RGB", (16, 12)).save(folder / "b.png")
    with pytest.raises(VideoError, match=r"b.png is 16x12 but a.png is 16x16: all frames .* same size"):
        list(read_frames(folder))
    r = run("upscale", str(folder), str(tmp_path / "o.mp4"), "--model", "bicubic_blend", "--quiet")
    assert r.returncode == 1 and "same size" in r.stderr and not (tmp_path / "o.mp4").exists()


def test_truncated_mkv_is_an_error(tmp_path: Path) -> None:
    full = make_clip(tmp_path / "full.mkv", n=16, fps=25, size=(32, 32))
    data = full.read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    assert len(list(read_frames(full))) == 16  # the whole file passes the check
    with pytest.raises(VideoError, match="truncated or corrupt: its container declares 0.640 s"):
        list(read_frames(cut))
    r = run("upscale", str(cut), str(tmp_path / "o.mp4"), "--model", "bicubic_blend", "--quiet")
    assert r.returncode == 1 and "truncated" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.mkv", "full.mkv"]


def test_dropped_frames_are_not_truncation(tmp_path: Path) -> None:
    """An AVI that skips frames (null index entries, like opencv's tree.avi) declares more frames than
    it decodes but spans its whole duration: it reads completely, with its real timestamps."""
    path = tmp_path / "dropped.avi"
    tb = Fraction(1, 15)
    with av.open(str(path), "w") as c:
        s = c.add_stream("mpeg4", rate=15)
        s.width, s.height, s.pix_fmt, s.time_base = 32, 32, "yuv420p", tb
        for i in range(10):
            f = av.VideoFrame.from_ndarray(np.full((32, 32, 3), 20 * i, np.uint8), format="rgb24")
            f.pts, f.time_base = 3 * i, tb  # every third frame of a 15 fps stream
            for pkt in s.encode(f):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    with av.open(str(path)) as c:
        assert c.streams.video[0].frames > 10  # the container counts the dropped frames
    frames = list(read_frames(path))
    assert len(frames) == 10
    assert [round(fr.time, 3) for fr in frames] == [round(0.2 * i, 3) for i in range(10)]


class NaNModel(nn.Module):
    """A model whose weights went bad: every output value is NaN."""

    def forward(self, lr: torch.Tensor, scale: tuple[float, float] = (1.0, 1.0), times: tuple[float, ...] = ()):
        b, t, c, h, w = lr.shape
        n = t + (t - 1) * len(times)
        return torch.full((b, n, c, round(h * scale[0]), round(w * scale[1])), float("nan"))


def test_nan_model_output_is_an_error_not_a_black_video(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in.mp4", n=3, size=(16, 16))
    with pytest.raises(ValueError, match="NaN"):
        upscale_video(src, tmp_path / "out.mp4", model=NaNModel(), scale=2, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]
    with pytest.raises(VideoError, match="NaN or infinite"):  # the writer refuses such frames too
        with VideoWriter(tmp_path / "w.mp4", 25, 16, 16) as w:
            w.write(torch.full((3, 16, 16), float("nan")))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def test_inputs_outside_0_1_are_refused() -> None:
    import stvsr

    model = stvsr.load("bicubic_blend")
    lr = torch.rand(1, 2, 3, 8, 8)
    with pytest.raises(ValueError, match=r"lr must hold values in \[0, 1\].*divide by 255"):
        model(lr * 255, scale=2.0, times=(0.5,))
    with pytest.raises(ValueError, match=r"lr must hold values in \[0, 1\]"):
        model(lr * 2 - 1, scale=2.0, times=(0.5,))  # [-1, 1] convention
    assert model(lr.clamp(0, 1), scale=2.0, times=(0.5,)).shape == (1, 3, 3, 16, 16)
    ups = Upscaler("bicubic_blend", scale=2, progress=False)
    with pytest.raises(ValueError, match="divide by 255"):
        list(ups.process([torch.rand(3, 8, 8) * 255 for _ in range(3)], fps_in=25))


@pytest.mark.parametrize("window", [0, 1, -3, 2.5])
def test_window_below_2_is_an_error_not_the_default(window: object) -> None:
    with pytest.raises(ValueError, match="window must be an integer >= 2"):
        Upscaler("bicubic_blend", window=window, progress=False)  # type: ignore[arg-type]
    if isinstance(window, int):
        with pytest.raises((SystemExit, argparse.ArgumentError)):
            parse_upscale("--window", str(window))
    assert Upscaler("bicubic_blend", window=3, progress=False).window == 3


# -- unclear errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--input-fps", "0"], "--input-fps must be a positive frame rate"),
        (["--window", "0"], "--window must be an integer >= 2"),
        (["--fps", "abc"], "--fps must be a positive rate such as 60, 23.976 or 30000/1001"),
        (["--fps", "x1e6"], "too large"),
        (["--fps", "1e9"], "the limit is 1000"),
        (["--device", "tpu"], "--device must be cpu, cuda, cuda:N or mps, got 'tpu'"),
    ],
)
def test_cli_usage_errors_name_the_option(tmp_path: Path, args: list[str], message: str) -> None:
    src = make_clip(tmp_path / "in.mp4", n=2, size=(16, 16))
    r = run("upscale", str(src), str(tmp_path / "o.mp4"), *args)
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ("o.webm", "cannot write '.webm' files (o.webm): give a video path ending in .mp4, .mkv, .mov, .avi"),
        ("o.gif", "or a folder path without a suffix"),
        ("in.mp4/o.mp4", "in.mp4 is a file, not a folder"),
        ("file.txt/sub/o.mp4", "file.txt is a file, not a folder"),
        ("missing/o.mp4", "output folder"),
        ("", "the output path is empty"),
    ],
)
def test_cli_output_path_errors(tmp_path: Path, output: str, message: str) -> None:
    make_clip(tmp_path / "in.mp4", n=2, size=(16, 16))
    (tmp_path / "file.txt").write_text("x")
    r = run("upscale", "in.mp4", output, "--model", "bicubic_blend", "--quiet", cwd=tmp_path)
    assert r.returncode == 1 and message in r.stderr, r.stderr
    assert "Errno" not in r.stderr and "Could not determine" not in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt", "in.mp4"]


def test_cli_input_fps_zero_on_a_png_folder_and_fractions(tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    for k in range(3):
        Image.new("RGB", (8, 8), (40 * k, 0, 0)).save(folder / f"{k}.png")
    r = run("upscale", str(folder), str(tmp_path / "a.mp4"), "--input-fps", "0", "--model", "bicubic_blend")
    assert r.returncode == 2 and "division" not in r.stderr
    with pytest.raises(VideoError, match="folder_fps"):
        probe(folder, folder_fps=0)
    r = run("upscale", str(folder), str(tmp_path / "b.mp4"), "--input-fps", "24000/1001", "--fps", "30000/1001",
            "--model", "bicubic_blend", "--scale", "2", "--quiet")
    assert r.returncode == 0, r.stderr
    assert probe(tmp_path / "b.mp4").fps == Fraction(30000, 1001)


def test_cli_resampler_model_gets_cli_advice(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in.mp4", n=2, size=(16, 16))
    r = run("upscale", str(src), str(tmp_path / "o.mp4"), "--model", "cvrs", "--quiet")
    assert r.returncode == 1 and "--model cvrs is a resampler model" in r.stderr
    assert "stvsr models --task stvsr" in r.stderr and "methods" not in r.stderr


def test_many_inputs_with_unwritable_suffixes_become_mp4(tmp_path: Path) -> None:
    clips = tmp_path / "clips"
    clips.mkdir()
    make_clip(clips / "a.mkv", n=2, size=(16, 16), codec="ffv1", pix_fmt="bgr0")
    (clips / "b.ts").write_bytes(make_clip(tmp_path / "b.mp4", n=2, size=(16, 16)).read_bytes())
    r = run("upscale", str(clips), str(tmp_path / "out"), "--model", "bicubic_blend", "--quiet")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.mkv", "b.mp4"]


def test_cli_unreadable_input_without_errno_numbers(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_text("hello")
    r = run("upscale", str(junk), str(tmp_path / "o.mp4"), "--model", "bicubic_blend", "--quiet")
    assert r.returncode == 1 and "cannot read" in r.stderr and "Invalid data found" in r.stderr
    assert "Errno" not in r.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cli_cuda_without_a_gpu_is_a_usage_error(tmp_path: Path) -> None:
    r = run("upscale", "in.mp4", "o.mp4", "--device", "cuda", cwd=tmp_path)
    assert r.returncode == 2 and "no CUDA device is available here" in r.stderr
