"""`stvsr evaluate` on bad input (issue 17): --out checked before the run, SSIM NaN explained."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pytest

from stvsr.eval import evaluate
from stvsr.eval.commands import evaluate_arguments, evaluate_command
from tests.eval.clips import moving_clip, write_folder


def parse(*args: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    evaluate_arguments(p)
    return p.parse_args(list(args))


def test_out_file_fails_before_the_evaluation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import stvsr.eval.run

    def must_not_run(*args: object, **kwargs: object) -> None:
        raise AssertionError("the evaluation ran although --out cannot be written")

    monkeypatch.setattr(stvsr.eval.run, "evaluate", must_not_run)
    out = tmp_path / "results.txt"
    out.write_text("not a folder")
    args = parse("bicubic_repeat", "-p", "vid4-bd-4x2x", "-d", str(tmp_path), "-o", str(out))
    with pytest.raises(ValueError, match="--out .*results.txt is a file; give a folder"):
        evaluate_command(args)
    args = parse("bicubic_repeat", "-p", "vid4-bd-4x2x", "-d", str(tmp_path), "-o", str(out / "sub"))
    with pytest.raises(ValueError, match="cannot write there"):
        evaluate_command(args)
    assert out.read_text() == "not a folder"


def test_window_below_2_is_a_usage_error() -> None:
    with pytest.raises(SystemExit):
        parse("bicubic_repeat", "-p", "vid4-bd-4x2x", "-d", "x", "--window", "0")


def test_ssim_nan_on_tiny_clips_has_a_note(tmp_path: Path) -> None:
    write_folder(tmp_path / "clips" / "tiny", moving_clip(5, 8, 8))
    report = evaluate(["bicubic_repeat"], "vid4-bi-4x2x", tmp_path / "clips", baselines=False)
    (row,) = report.rows
    assert row.psnr is not None and math.isfinite(row.psnr)
    assert row.ssim is not None and math.isnan(row.ssim)
    assert "11x11" in row.note
    (over,) = report.overall()
    assert "11x11" in over["note"]
    table = report.table()
    assert table.count("SSIM is NaN") == 2
