"""Resuming an interrupted `stvsr upscale` job (issue 19 item 9): the part folder, its manifest, --resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from stvsr.video import resume, upscale_video
from stvsr.video.io import VideoError, VideoWriter, join_segments, read_frames, segment_suffix
from tests.video.clips import make_clip
from tests.video.test_cli import run
from tests.video.test_overwrite import snapshot
from tests.video.test_pipeline import Blend

OPTS = {"scale": 2.0, "fps": "x2", "window": 3, "progress": False}


class Failing(Blend):
    """Blend that counts its calls and raises ``KeyboardInterrupt`` (or an error) at call ``fail_at``."""

    def __init__(self, fail_at: int | None = None, error: type[BaseException] = KeyboardInterrupt) -> None:
        super().__init__()
        self.fail_at, self.error = fail_at, error

    def forward(self, lr: torch.Tensor, scale=4.0, times=(0.5,)) -> torch.Tensor:
        if self.fail_at is not None and len(self.calls) == self.fail_at:
            raise self.error("stop")
        return super().forward(lr, scale, times)


@pytest.fixture(autouse=True)
def small_segments(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resume, "SEGMENT_WINDOWS", 1)  # a segment per window: tiny clips get several


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return make_clip(tmp_path / "in.mp4", n=12, size=(16, 16))


def decoded(path: Path) -> list[tuple[float, torch.Tensor]]:
    return [(f.time, f.image) for f in read_frames(path)]


@pytest.mark.parametrize(("suffix", "kw"), [(".mkv", {"lossless": True}), (".mp4", {}), ("", {})])
def test_interrupted_job_resumes_to_the_uninterrupted_output(clip: Path, suffix: str, kw: dict) -> None:
    whole = Blend()
    ref = clip.parent / f"ref{suffix}"
    upscale_video(clip, ref, model=whole, **OPTS, **kw)
    windows = len(whole.calls)
    assert windows >= 4

    out = clip.parent / f"out{suffix}"
    first = Failing(fail_at=2)
    with pytest.raises(KeyboardInterrupt):
        upscale_video(clip, out, model=first, **OPTS, **kw)
    part = resume.part_folder(out)
    assert not out.exists() and part.is_dir()
    manifest = json.loads((part / resume.MANIFEST).read_text())
    assert [s["windows"] for s in manifest["segments"]] == [1, 1]
    assert manifest["input"] == str(clip) and manifest["window"] == 3 and manifest["stvsr"]
    assert not [p for p in part.iterdir() if p.name.startswith(".")]  # the unfinished segment was dropped

    second = Failing()
    summary = upscale_video(clip, out, model=second, resume=True, **OPTS, **kw)
    assert len(second.calls) == windows - 2  # the two windows written before were not run again
    assert not part.exists() and out.exists()
    got, want = decoded(out), decoded(ref)
    assert summary.frames_out == len(want) == len(got)
    assert [t for t, _ in got] == pytest.approx([t for t, _ in want], abs=1e-6)
    if suffix != ".mp4":  # lossless: exactly the uninterrupted run's frames
        assert all(torch.equal(a, b) for (_, a), (_, b) in zip(got, want))
    else:  # H.264 with B-frames: segments joined by packet copy decode as well as one encode
        assert max(float((a - b).abs().mean()) for (_, a), (_, b) in zip(got, want)) < 0.02


def test_an_error_keeps_the_part_folder_and_says_how_to_resume(clip: Path, capsys: pytest.CaptureFixture) -> None:
    out = clip.parent / "out.mkv"
    with pytest.raises(RuntimeError):
        upscale_video(clip, out, model=Failing(fail_at=3, error=RuntimeError), lossless=True, **OPTS)
    err = capsys.readouterr().err
    assert "--resume" in err and str(resume.part_folder(out)) in err
    assert not out.exists()


def test_a_failure_before_any_segment_leaves_nothing(clip: Path) -> None:
    before = snapshot(clip.parent)
    with pytest.raises(KeyboardInterrupt):
        upscale_video(clip, clip.parent / "out.mkv", model=Failing(fail_at=0), lossless=True, **OPTS)
    assert snapshot(clip.parent) == before


def test_mismatched_options_on_resume_name_the_field(clip: Path) -> None:
    out = clip.parent / "out.mkv"
    with pytest.raises(KeyboardInterrupt):
        upscale_video(clip, out, model=Failing(fail_at=2), lossless=True, **OPTS)
    before = snapshot(clip.parent)
    model = Failing()
    with pytest.raises(VideoError, match=r"differs in .*window \(then 3, now 4\)"):
        upscale_video(clip, out, model=model, lossless=True, resume=True, **{**OPTS, "window": 4})
    with pytest.raises(VideoError, match=r"differs in .*size \(then \[32, 32\], now \[48, 48\]\)"):
        upscale_video(clip, out, model=model, lossless=True, resume=True, **{**OPTS, "scale": 3.0})
    assert model.calls == [] and snapshot(clip.parent) == before  # nothing ran, nothing changed


def test_part_folder_without_resume_is_an_error_and_overwrite_replaces_it(clip: Path) -> None:
    out = clip.parent / "out.mkv"
    with pytest.raises(KeyboardInterrupt):
        upscale_video(clip, out, model=Failing(fail_at=2), lossless=True, **OPTS)
    before = snapshot(clip.parent)
    r = run("upscale", str(clip), str(out), "--model", "bicubic_blend", "--lossless", "--quiet")
    assert r.returncode == 1 and "--resume" in r.stderr and "stvsr-part" in r.stderr, r.stderr
    assert snapshot(clip.parent) == before
    # --overwrite: the stale folder is stvsr's own (its manifest says so), so it is replaced
    r = run("upscale", str(clip), str(out), "--model", "bicubic_blend", "--lossless", "--quiet", "--overwrite")
    assert r.returncode == 0, r.stderr
    assert out.is_file() and not resume.part_folder(out).exists()


def test_overwrite_never_deletes_a_folder_stvsr_did_not_write(clip: Path) -> None:
    out = clip.parent / "out.mkv"
    part = resume.part_folder(out)
    part.mkdir()
    (part / "notes.txt").write_text("mine")
    with pytest.raises(VideoError, match="not stvsr's part folder"):
        upscale_video(clip, out, model=Blend(), lossless=True, overwrite=True, **OPTS)
    assert (part / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize(("suffix", "codec", "kw"), [
    (".mkv", "h264", {}), (".mov", "prores", {}), (".mkv", "hevc", {"bit_depth": 10}), (".avi", "h264", {"lossless": True}),
])
def test_segments_join_by_packet_copy(tmp_path: Path, suffix: str, codec: str, kw: dict) -> None:
    """Each segment decodes alone; the joined file decodes to the same frames at renumbered times."""
    from tests.video.clips import square_frame

    ext = segment_suffix(tmp_path / f"x{suffix}", codec, kw.get("lossless", False))
    segs, k = [], 0
    for i, n in enumerate((7, 5, 9)):
        w = VideoWriter(tmp_path / f"seg_{i}{ext}", 30, 32, 24, codec=codec, **kw)
        for _ in range(n):
            w.write(square_frame(k, 24, 32))
            k += 1
        segs.append(w.close())
    joined = list(read_frames(join_segments(segs, tmp_path / f"joined{suffix}", fps=30, width=32, height=24,
                                            codec=codec, **kw)))
    parts = [f.image for s in segs for f in read_frames(s)]
    assert len(joined) == k == len(parts)
    assert all(torch.equal(a.image, b) for a, b in zip(joined, parts))
    assert [f.time for f in joined] == pytest.approx([j / 30 for j in range(k)], abs=2e-3)


def test_resume_flag_in_help() -> None:
    r = run("upscale", "--help")
    assert "--resume" in r.stdout and "stvsr-part" in r.stdout
