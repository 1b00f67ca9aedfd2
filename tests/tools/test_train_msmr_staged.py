"""The staged MsMr training tool and the GPU recipe, run end to end on tiny synthetic clips (CPU)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from stvsr.models.msmr import MsMr
from tests.eval.clips import moving_clip, write_folder

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("clips")
    write_folder(root / "train" / "a", moving_clip(n=9, h=72, w=72, seed=1))
    write_folder(root / "train" / "b", moving_clip(n=9, h=72, w=72, seed=2))
    val = write_folder(root / "val", moving_clip(n=8, h=40, w=56, seed=3))
    return root / "train", val


def _run(cmd: list[str], env: dict[str, str] | None = None) -> str:
    full = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), **(env or {})}
    res = subprocess.run(cmd, cwd=ROOT, env=full, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return res.stdout


def _check_outputs(out: Path, variant: str, stages: set[str]) -> None:
    history = json.loads((out / "history.json").read_text())
    assert stages <= {h["stage"] for h in history}
    assert all(set(h) >= {"all", "key", "mid"} for h in history)
    state = load_file(str(out / "final.safetensors"))
    assert {v.dtype for v in state.values() if v.is_floating_point()} == {torch.float16}
    model = MsMr(variant=variant)
    model.load_state_dict({k: v.float() for k, v in state.items()})  # strict: every key, every shape


def test_staged_training_dry_run_runs_every_stage(clips: tuple[Path, Path], tmp_path: Path) -> None:
    train, val = clips
    out = tmp_path / "run"
    _run([sys.executable, "tools/train_msmr_staged.py", "--variant", "arb", "--data", str(train), "--val", str(val),
          "--out", str(out), "--dry-run"])
    _check_outputs(out, "arb", {"s0-start", "s0", "s1", "s2-ema-final"})
    log = (out / "log.txt").read_text()
    assert "function-preserving init" in log and "frame carried in feature channels" in log
    assert "stage0 fit image path" in log and "stage1 cache 1" in log


def test_gpu_recipe_dry_run_on_cpu(clips: tuple[Path, Path], tmp_path: Path) -> None:
    train, val = clips
    _run(["bash", "tools/gpu_recipe.sh", "fix"],
         env={"DRY_RUN": "1", "OUT": str(tmp_path), "DATA": str(train), "VAL": str(val), "TMPDIR": str(tmp_path)})
    _check_outputs(tmp_path / "msmr_fix", "fix", {"init", "s2-ema-final"})


def test_gpu_recipe_rejects_unknown_variant(tmp_path: Path) -> None:
    res = subprocess.run(["bash", "tools/gpu_recipe.sh", "xyz"], cwd=ROOT, env={**os.environ, "OUT": str(tmp_path)},
                         capture_output=True, text=True)
    assert res.returncode == 2 and "variant must be fix or arb" in res.stderr
