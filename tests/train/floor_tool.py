"""Running a training tool of the floor loop (tools/train_safa.py, tools/train_msitf.py) on tiny clips."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
