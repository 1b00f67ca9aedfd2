"""``benchmarks/revisions.py``: the same workloads over two revisions' packages, interleaved."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(), reason="needs a git checkout")
def test_revisions_compares_one_case_and_a_pipeline_job(tmp_path: Path) -> None:
    out = tmp_path / "rows.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run(
        [sys.executable, "benchmarks/revisions.py", "--base", "HEAD", "--quick", "--only", "msmr_fix_4x16x20",
         "--dtype", "float32", "--rounds", "1", "--pipeline", "16x24:4", "--json", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    rows = json.loads(out.read_text())["rows"]
    assert [(r["case"], r["dtype"]) for r in rows] == [("msmr_fix_4x16x20_s4_t2", "float32"),
                                                        ("bicubic_blend_16x24_4fr_x4_x2", "float32")]
    assert all(r["base_s"] > 0 and r["new_s"] > 0 and r["ratio"] == r["new_s"] / r["base_s"] for r in rows)
    assert "geometric mean" in res.stdout
    worktrees = subprocess.run(["git", "-C", str(ROOT), "worktree", "list"], capture_output=True, text=True).stdout
    assert "stvsr-base-" not in worktrees  # the temporary checkout is gone


def test_revisions_rejects_bad_rounds() -> None:
    res = subprocess.run([sys.executable, "benchmarks/revisions.py", "--base", "HEAD", "--rounds", "0"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "--rounds" in res.stderr
