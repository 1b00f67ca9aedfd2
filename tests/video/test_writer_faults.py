"""Fault injection for the video writer (issue 17): after every fault the input is intact,
the destination is as it was, and no partial or hidden temporary file is left.

Faults: a full disk (a patched write raising ``OSError(ENOSPC)``), a read-only target, an
output that appears mid-run, two writers of the same output, and SIGINT / SIGTERM sent to a
real ``stvsr upscale`` process in the middle of a run.
"""

from __future__ import annotations

import errno
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from stvsr.video import io as vio
from stvsr.video.io import VideoError, VideoWriter
from tests.video.clips import make_clip, square_frame
from tests.video.test_cli import run
from tests.video.test_overwrite import snapshot

H, W = 10, 20


def frames(n: int) -> list[np.ndarray]:
    return [square_frame(k, H, W) for k in range(n)]


def enospc(*args: object, **kwargs: object) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


# -- disk full -----------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ""])
def test_disk_full_while_writing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str) -> None:
    dst = tmp_path / f"out{suffix}"
    calls = {"n": 0}

    def full_after_two(*args: object, **kwargs: object) -> None:
        calls["n"] += 1
        if calls["n"] > 2:
            enospc()
        return original(*args, **kwargs)

    if suffix:  # video: the muxer's writes
        original = VideoWriter._mux
        monkeypatch.setattr(VideoWriter, "_mux", full_after_two)
    else:  # PNG frames: the image writes
        from PIL import Image

        original = Image.Image.save
        monkeypatch.setattr(Image.Image, "save", full_after_two)
    w = VideoWriter(dst, 25, W, H, lossless=suffix == ".mkv")
    with pytest.raises(VideoError, match="No space left on device.*nothing was written"):
        for f in frames(40):  # the encoder may hold packets back: the error can come at close
            w.write(f)
        w.close()
    assert list(tmp_path.iterdir()) == []


def test_disk_full_through_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = make_clip(tmp_path / "in.mp4", n=4, size=(16, 16))
    before = snapshot(tmp_path)
    monkeypatch.setattr(VideoWriter, "_mux", enospc)
    r = run("upscale", str(src), str(tmp_path / "out.mp4"), "--model", "bicubic_blend", "--scale", "2", "--quiet")
    assert r.returncode == 1 and "No space left on device" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert snapshot(tmp_path) == before


def test_disk_full_at_the_final_rename_keeps_the_old_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dst = tmp_path / "out.mp4"
    dst.write_bytes(b"previous result")
    monkeypatch.setattr(vio.os, "replace", enospc)
    with pytest.raises(VideoError, match="No space left"):
        with VideoWriter(dst, 25, W, H, overwrite=True) as w:
            w.write(frames(1)[0])
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"] and dst.read_bytes() == b"previous result"


# -- read-only target -----------------------------------------------------------------------------


def test_read_only_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = make_clip(tmp_path / "in.mp4", n=3, size=(16, 16))
    ro = tmp_path / "ro"
    ro.mkdir()
    # root ignores permission bits: simulate the refusal the file system would give
    monkeypatch.setattr(vio.os, "access", lambda path, mode: not str(path).startswith(str(ro)))
    before = snapshot(tmp_path)
    r = run("upscale", str(src), str(ro / "out.mp4"), "--model", "bicubic_blend", "--quiet")
    assert r.returncode == 1 and "no permission to write into" in r.stderr and "Traceback" not in r.stderr
    assert snapshot(tmp_path) == before
    monkeypatch.undo()

    def erofs(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EROFS, "Read-only file system")

    for name in ("mkstemp", "mkdtemp"):  # the folder turns read-only after the checks
        monkeypatch.setattr(vio.tempfile, name, erofs)
    for out in ("out.mp4", "frames"):
        with pytest.raises(VideoError, match="Read-only file system"):
            VideoWriter(ro / out, 25, W, H)
    monkeypatch.undo()
    monkeypatch.setattr(vio, "_rename_noreplace", erofs)  # read-only at the final rename
    with pytest.raises(VideoError, match="Read-only file system"):
        with VideoWriter(ro / "out.mp4", 25, W, H) as w:
            w.write(frames(1)[0])
    assert snapshot(tmp_path) == before


# -- the output appears mid-run, two writers --------------------------------------------------------


@pytest.mark.parametrize("appears", ["file", "empty folder"])
@pytest.mark.parametrize("out", ["out.mp4", "frames"])
def test_output_appearing_mid_run_is_left_alone(tmp_path: Path, appears: str, out: str) -> None:
    dst = tmp_path / out
    w = VideoWriter(dst, 25, W, H)
    for f in frames(3):
        w.write(f)
    if appears == "file":
        dst.write_bytes(b"someone else's")
    else:
        dst.mkdir()
    before = snapshot(tmp_path)
    hidden = [k for k in before if k.startswith(".")]
    with pytest.raises(VideoError, match="appeared while stvsr was writing"):
        w.close()
    after = snapshot(tmp_path)
    assert {k: v for k, v in before.items() if k not in hidden and not k.startswith(hidden[0] + "/")} == after
    assert not any(k.startswith(".") for k in after)


def test_output_appearing_during_a_cli_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = make_clip(tmp_path / "in.mp4", n=4, size=(16, 16))
    dst = tmp_path / "out.mp4"
    original = VideoWriter.write

    def write_then_someone_else_writes(self: VideoWriter, image: object) -> None:
        original(self, image)  # type: ignore[arg-type]
        if not dst.exists():
            dst.write_bytes(b"the other job's result")

    monkeypatch.setattr(VideoWriter, "write", write_then_someone_else_writes)
    r = run("upscale", str(src), str(dst), "--model", "bicubic_blend", "--scale", "2", "--quiet")
    assert r.returncode == 1 and "appeared while stvsr was writing" in r.stderr
    assert dst.read_bytes() == b"the other job's result"
    # the finished frames stay in stvsr's part folder: --resume --overwrite would only join them
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "out.mp4", "out.mp4.stvsr-part"]
    assert "--resume" in r.stderr
    # with --overwrite the appeared regular file is replaced (it is what --overwrite may replace)
    dst.unlink()
    r = run("upscale", str(src), str(dst), "--model", "bicubic_blend", "--scale", "2", "--quiet", "--overwrite")
    assert r.returncode == 0, r.stderr
    assert dst.read_bytes() != b"the other job's result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "out.mp4"]


@pytest.mark.parametrize("out", ["out.mkv", "frames"])
def test_two_writers_of_the_same_output(tmp_path: Path, out: str) -> None:
    dst = tmp_path / out
    first = VideoWriter(dst, 25, W, H, lossless=True)
    second = VideoWriter(dst, 25, W, H, lossless=True)
    for f in frames(3):
        first.write(f)
        second.write(255 - f)
    first.close()
    result = {k: v for k, v in snapshot(tmp_path).items() if not k.startswith(".")}  # minus the second's temp
    with pytest.raises(VideoError, match="appeared while stvsr was writing"):
        second.close()
    assert snapshot(tmp_path) == result  # the first job's output, untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == [out]


# -- signals --------------------------------------------------------------------------------------

# a real `stvsr` process whose frames are written slowly, so that a signal lands mid-run
_SLOW_CLI = """
import sys, time
from stvsr.video.io import VideoWriter
original = VideoWriter.write
def slow_write(self, image):
    time.sleep(0.05)
    original(self, image)
VideoWriter.write = slow_write
from stvsr.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize(("sig", "code", "word", "out"), [(signal.SIGINT, 130, "interrupted", "out.mp4"),
                                                          (signal.SIGTERM, 143, "terminated", "frames")])
def test_signal_mid_run_leaves_nothing(tmp_path: Path, sig: signal.Signals, code: int, word: str, out: str) -> None:
    src = make_clip(tmp_path / "in.mp4", n=12, size=(16, 16))
    before = snapshot(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-c", _SLOW_CLI, "upscale", str(src), str(tmp_path / out), "--model", "bicubic_blend",
         "--scale", "2", "--fps", "x2", "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2],
        # pytest-xdist workers ignore SIGINT and children inherit that: Python then installs no
        # KeyboardInterrupt handler and the job runs to the end (exit 0); restore the default
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 120
        # the temporary output (or the part folder holding the first segment's) exists
        while not any(p.name.startswith(".") or p.name.endswith(".stvsr-part") for p in tmp_path.iterdir()):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the run never started writing"
            time.sleep(0.01)
        time.sleep(0.2)  # a few frames in
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, err
    assert word in err and "Traceback" not in err
    assert snapshot(tmp_path) == before  # the input intact, no output, no hidden temporary file
