"""`stvsr upscale`, `stvsr info`, `stvsr demo` through a real subprocess: exit codes and messages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from stvsr.video.io import probe
from tests.video.clips import make_clip


def stvsr(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """A real `python -m stvsr` process (the console entry point as users run it)."""
    return subprocess.run([sys.executable, "-m", "stvsr", *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`stvsr.cli.main` in this process (fast), with the same stdout/stderr/exit-code contract."""
    import contextlib
    import io
    import os

    from stvsr.cli import main

    out, err = io.StringIO(), io.StringIO()
    old = os.getcwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
    finally:
        os.chdir(old)
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


def test_upscale_file_and_summary(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in.mp4", n=6, fps=24, size=(16, 24))
    r = stvsr("upscale", str(src), str(tmp_path / "out.mp4"), "--model", "bicubic_blend", "--scale", "2", "--fps", "x2", "--quiet")
    assert r.returncode == 0, r.stderr
    assert "6 -> 11 frames" in r.stdout and "24x16 -> 48x32" in r.stdout
    info = probe(tmp_path / "out.mp4")
    assert (info.width, info.height, info.fps, info.frames) == (48, 32, 48, 11)
    # the output exists now: refused without --overwrite, one line, no traceback
    r = stvsr("upscale", str(src), str(tmp_path / "out.mp4"), "--model", "bicubic_blend", "--quiet")
    assert r.returncode != 0 and "exists" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_many_inputs_continue_after_failure(tmp_path: Path) -> None:
    clips = tmp_path / "clips"
    clips.mkdir()
    make_clip(clips / "a.mp4", n=4, size=(16, 16))
    make_clip(clips / "b.mp4", n=4, size=(16, 16))
    (clips / "broken.mp4").write_bytes(b"not a video")
    out = tmp_path / "out"
    r = run("upscale", str(clips), str(out), "--model", "bicubic_blend", "--scale", "2", "--quiet")
    assert r.returncode == 1, r.stderr
    assert "broken.mp4" in r.stderr and "2 of 3 videos done, 1 failed" in r.stdout
    assert sorted(p.name for p in out.iterdir()) == ["a.mp4", "b.mp4"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["upscale", "missing.mp4", "o.mp4"], "not found"),
        (["upscale", "IN", "o.mp4", "--scale", "0"], "scale"),
        (["upscale", "IN", "o.mp4", "--scale", "100"], "at most"),
        (["upscale", "IN", "o.mp4", "--fps", "-5"], "fps"),
        (["upscale", "IN", "o.mp4", "--model", "msmr_abr"], "msmr_arb"),
        (["info", "missing.mkv"], "not found"),
    ],
)
def test_errors_are_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    src = make_clip(tmp_path / "in.mp4", n=3, size=(16, 16))
    args = [str(src) if a == "IN" else a for a in args]
    r = run(*args, cwd=tmp_path)
    assert r.returncode != 0
    assert message in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


def test_empty_and_corrupt_videos(tmp_path: Path) -> None:
    one = make_clip(tmp_path / "one.mp4", n=1, size=(16, 16))
    r = run("upscale", str(one), str(tmp_path / "o.mp4"), "--model", "bicubic_blend", "--quiet")
    assert r.returncode != 0 and "at least 2" in r.stderr
    bad = tmp_path / "bad.mkv"
    bad.write_bytes(b"\x1a\x45\xdf\xa3" + b"\x00" * 64)
    r = run("info", str(bad))
    assert r.returncode != 0 and "cannot read" in r.stderr
    assert not (tmp_path / "o.mp4").exists()


def test_info(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in.mkv", n=5, fps=30, size=(18, 22), audio=True)
    r = run("info", str(src))
    assert r.returncode == 0
    assert "22x18" in r.stdout and "30.000 fps" in r.stdout and "audio aac" in r.stdout


def test_debug_shows_traceback(tmp_path: Path) -> None:
    r = run("upscale", "missing.mp4", "o.mp4", "--debug", cwd=tmp_path)
    assert r.returncode != 0 and "Traceback" in r.stderr
