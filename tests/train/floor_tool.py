"""Running a training tool of the floor loop (tools/train_safa.py, tools/train_msitf.py) on tiny clips."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from tests.eval.clips import moving_clip, write_folder

ROOT = Path(__file__).resolve().parents[2]


def run_tool(tool: str, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """``tools/<tool> --data <9 frames 48x48> --val <8 frames 40x56> --out tmp_path/run --dry-run *extra``."""
    train, val = tmp_path / "train" / "a", tmp_path / "val"
    if not train.exists():
        write_folder(train, moving_clip(n=9, h=48, w=48, seed=1))
        write_folder(val, moving_clip(n=8, h=40, w=56, seed=3))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, f"tools/{tool}", "--data", str(train.parent), "--val", str(val), "--out",
           str(tmp_path / "run"), "--dry-run", *extra]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def check_dry_run(tool: str, tmp_path: Path, *extra: str) -> dict[str, torch.Tensor]:
    """Run ``tool`` (:func:`run_tool`); it must succeed, validate at the start, every step and the end, and write
    float16 weights, which are returned."""
    res = run_tool(tool, tmp_path, *extra)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    out = tmp_path / "run"
    history = json.loads((out / "history.json").read_text())
    assert [h["stage"] for h in history] == ["init", "ema", "ema", "ema-final"]
    state = load_file(str(out / "final.safetensors"))
    assert {v.dtype for v in state.values() if v.is_floating_point()} == {torch.float16}
    return state


def check_resume_and_report(tool: str, tmp_path: Path) -> dict[str, object]:
    """After :func:`check_dry_run`: ``--resume`` must continue ``last.pt`` and ``--report`` score the written weights;
    returns the report's JSON."""
    out = tmp_path / "run"
    res = run_tool(tool, tmp_path, "--resume")
    assert res.returncode == 0, res.stderr[-3000:]
    assert "resumed" in (out / "log.txt").read_text()
    report = run_tool(tool, tmp_path, "--report", str(out / "final.safetensors"))
    assert report.returncode == 0, report.stderr[-3000:]
    scores: dict[str, object] = json.loads(report.stdout)
    return scores
