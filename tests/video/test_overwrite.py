"""What `--overwrite` may replace (issue 17, data loss): only what stvsr itself writes.

A regular file, or a folder holding nothing but stvsr frames (``NNNNNN.png``); never a
folder with other content, the input or a folder containing it, or a non-regular file.
Every case runs on a temporary folder and checks that nothing else was touched.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stvsr.video.io import VideoError, VideoWriter, read_frames
from tests.video.clips import make_clip, square_frame
from tests.video.test_cli import run


def snapshot(folder: Path) -> dict[str, bytes | str]:
    """Every entry under ``folder`` (hidden ones too): file bytes, or the kind of a non-regular entry."""
    out: dict[str, bytes | str] = {}
    for p in sorted(folder.rglob("*")):
        rel = str(p.relative_to(folder))
        if p.is_symlink():
            out[rel] = f"symlink -> {os.readlink(p)}"
        elif p.is_dir():
            out[rel] = "dir"
        elif p.is_file():
            out[rel] = p.read_bytes()
        else:
            out[rel] = "special"
    return out


def write_png_output(dst: Path, n: int, *, overwrite: bool) -> None:
    with VideoWriter(dst, 25, 20, 10, overwrite=overwrite) as w:
        for k in range(n):
            w.write(square_frame(k, 10, 20))


def test_folder_with_other_content_is_never_replaced(tmp_path: Path) -> None:
    dst = tmp_path / "frames"
    write_png_output(dst, 3, overwrite=False)
    (dst / "notes.txt").write_text("mine")
    before = snapshot(tmp_path)
    with pytest.raises(VideoError, match="not replaced, even with --overwrite.*notes.txt"):
        write_png_output(dst, 2, overwrite=True)
    assert snapshot(tmp_path) == before
    # a sub-folder is "other content" too
    (dst / "notes.txt").unlink()
    (dst / "sub").mkdir()
    with pytest.raises(VideoError, match="other things"):
        VideoWriter(dst, 25, 20, 10, overwrite=True)
    assert (dst / "sub").is_dir() and len(list(dst.glob("*.png"))) == 3


def test_folder_of_stvsr_frames_is_replaced_exactly(tmp_path: Path) -> None:
    dst = tmp_path / "frames"
    write_png_output(dst, 5, overwrite=False)
    write_png_output(dst, 2, overwrite=True)  # fewer frames: the old 000002..000004 must go
    assert sorted(p.name for p in dst.iterdir()) == ["000000.png", "000001.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames"]  # no hidden leftovers
    empty = tmp_path / "empty"
    empty.mkdir()
    write_png_output(empty, 1, overwrite=True)
    assert [p.name for p in empty.iterdir()] == ["000000.png"]


def test_a_file_is_replaced_by_a_frame_folder_and_back(tmp_path: Path) -> None:
    dst = tmp_path / "out"
    dst.write_bytes(b"old")
    write_png_output(dst, 2, overwrite=True)
    assert dst.is_dir() and len(list(dst.iterdir())) == 2
    video = tmp_path / "out.mkv"
    video.mkdir()  # an (empty) folder named like a video: replaceable, it holds no other content
    with VideoWriter(video, 25, 20, 10, overwrite=True, lossless=True) as w:
        w.write(square_frame(0, 10, 20))
    assert video.is_file() and len(list(read_frames(video))) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "out.mkv"]


@pytest.mark.parametrize("kind", ["fifo", "symlink"])
def test_non_regular_files_are_never_replaced(tmp_path: Path, kind: str) -> None:
    target = tmp_path / "precious.mp4"
    target.write_bytes(b"precious")
    dst = tmp_path / "out.mp4"
    if kind == "fifo":
        os.mkfifo(dst)
    else:
        dst.symlink_to(target)
    before = snapshot(tmp_path)
    with pytest.raises(VideoError, match="not replaced, even with --overwrite"):
        VideoWriter(dst, 25, 20, 10, overwrite=True)
    assert snapshot(tmp_path) == before


def test_cli_never_deletes_the_input_folder(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    src = make_clip(work / "clip.mp4", n=3, size=(16, 16))
    (work / "other.txt").write_text("keep")
    before = snapshot(tmp_path)
    for out in (str(work), "."):  # the input's own folder, and the current folder
        r = run("upscale", str(src), out, "--model", "bicubic_blend", "--scale", "2", "--overwrite", "--quiet",
                cwd=work)
        assert r.returncode == 1 and "Traceback" not in r.stderr
        assert "contains the input" in r.stderr, r.stderr
        assert snapshot(tmp_path) == before
    # a folder holding nothing but frames, but containing the current folder: not replaced either
    frames = tmp_path / "frames"
    frames.mkdir()
    other = make_clip(tmp_path / "x.mp4", n=2, size=(16, 16))
    r = run("upscale", str(other), str(frames), "--model", "bicubic_blend", "--overwrite", "--quiet", cwd=frames)
    assert r.returncode == 1 and "current folder" in r.stderr and frames.is_dir()


def test_cli_input_equal_to_output_is_refused_even_with_overwrite(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "clip.mp4", n=3, size=(16, 16))
    before = src.read_bytes()
    r = run("upscale", str(src), str(src), "--model", "bicubic_blend", "--overwrite", "--quiet")
    assert r.returncode == 1 and "is the input" in r.stderr
    assert src.read_bytes() == before


def test_overwrite_is_documented_exactly() -> None:
    """`stvsr upscale --help` and the getting-started guide say what --overwrite may replace."""
    import argparse

    from stvsr.video.commands import upscale_arguments

    p = argparse.ArgumentParser(prog="stvsr upscale")
    upscale_arguments(p)
    text = " ".join(p.format_help().split())
    for words in ("only a regular file or a folder holding nothing but the frames stvsr writes",
                  "never a folder with other content", "the input or a folder containing it",
                  "non-regular file"):
        assert words in text, words
    guide = " ".join((Path(__file__).resolve().parents[2] / "docs" / "getting-started.md").read_text().split())
    for words in ("`--overwrite` replaces only what stvsr itself writes: a regular file, or a folder holding "
                  "nothing but the frames stvsr writes",
                  "It never replaces a folder with other content, the input or a folder containing it, or a "
                  "non-regular file"):
        assert words in guide, words
