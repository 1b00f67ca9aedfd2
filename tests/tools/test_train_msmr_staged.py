"""The staged MsMr training tool and the GPU recipe, run end to end on tiny synthetic clips (CPU)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

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
    val = write_folder(root / "val", moving_clip(n=9, h=40, w=56, seed=3))  # 9: stage 3's grid
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
          "--out", str(out), "--dry-run", "--s3-minutes", "1"])
    _check_outputs(out, "arb", {"s0-start", "s0", "s1", "s3", "s2-ema-final"})
    log = (out / "log.txt").read_text()
    assert "function-preserving init" in log and "frame carried in feature channels" in log
    assert "stage0 fit image path" in log and "stage1 cache 1" in log and "stage3 cache 1" in log
    s3 = [h for h in json.loads((out / "history.json").read_text()) if h["stage"] == "s3"]
    assert all({"grid_mean", "grid_min"} <= set(h) for h in s3)

    # a later session: continue the head stage from that export (no stage 0, no stage 2)
    again = tmp_path / "again"
    _run([sys.executable, "tools/train_msmr_staged.py", "--variant", "arb", "--data", str(train), "--val", str(val),
          "--out", str(again), "--dry-run", "--init-from", str(out / "final.safetensors"), "--init-stage", "s1",
          "--s2-steps", "0"])
    stages = [h["stage"] for h in json.loads((again / "history.json").read_text())]
    assert stages[0] == "init" and "s1" in stages and not {"s0", "s0-start", "s2-ema-final"} & set(stages)
    assert "into stage s1" in (again / "log.txt").read_text() and (again / "final.safetensors").exists()


def _staged_tool() -> Any:
    spec = importlib.util.spec_from_file_location("train_msmr_staged", ROOT / "tools" / "train_msmr_staged.py")
    mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


@pytest.mark.parametrize("times", [(0.5,), (0.25, 0.75)])
def test_insert_cache_reproduces_the_models_intermediate_frames(clips: tuple[Path, Path], times: tuple[float, ...]) -> None:
    """Stage 3 trains on cached inputs of ``insert``: its prediction must be the model's own frames."""
    from stvsr.train.data import ClipBank, DataConfig, make_batch

    tool = _staged_tool()
    train, _ = clips
    torch.manual_seed(0)
    model = MsMr(variant="arb", num_blocks=2).eval()
    for p in model.insert.parameters():  # a trained-looking insert, not the zero-initialised one
        p.data.add_(0.01 * torch.randn_like(p))
    bank = ClipBank((str(train),), max_side=72)
    cfg = DataConfig(paths=(str(train),), keys=3, degradation="bi", scale=2.0, time="fixed", lr_crop=16)
    cache = tool.insert_cache(model, bank, cfg, 1, seed=5, batch_size=2, device=None, bf16=True)  # as `full`
    batch = make_batch(bank, cfg, seed=5, step=0, batch_size=2)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        full = model(batch.lr, scale=batch.scale, times=times, clamp=False).float()
        groups, scale = cache[0]
        # the cache was recorded at the batch's own times (0.5); re-stamp to exercise asymmetric t
        assert [g[6] for g in groups] == list(batch.times)
        regrouped = [(*groups[0][:6], t, groups[0][7]) for t in times]
        pred, target = tool.insert_predict(model, (regrouped, scale))
    k, n, b = len(times), batch.lr.shape[1], batch.lr.shape[0]
    want = torch.cat([full[:, p * (k + 1) + 1 + q] for q in range(k) for p in range(n - 1)])
    assert pred.shape == want.shape == (k * (n - 1) * b, *full.shape[-3:])
    # same ops on the same bf16 inputs (pairs stacked on the batch dim): equal but for the batch's kernels
    torch.testing.assert_close(pred.float(), want, atol=1e-4, rtol=0)
    if k == 2:  # and the stamps are not interchangeable
        assert (pred[: (n - 1) * b].float() - want[(n - 1) * b :]).abs().max() > 1e-4
    gt = (batch.gt * 255).round().to(torch.uint8)
    assert torch.equal(target[: (n - 1) * b], torch.cat([gt[:, p * 2 + 1] for p in range(n - 1)]))


def test_gpu_recipe_dry_run_on_cpu(clips: tuple[Path, Path], tmp_path: Path) -> None:
    train, val = clips
    _run(["bash", "tools/gpu_recipe.sh", "fix"],
         env={"DRY_RUN": "1", "OUT": str(tmp_path), "DATA": str(train), "VAL": str(val), "TMPDIR": str(tmp_path)})
    _check_outputs(tmp_path / "msmr_fix", "fix", {"init", "s2-ema-final"})


def test_gpu_recipe_rejects_unknown_variant(tmp_path: Path) -> None:
    res = subprocess.run(["bash", "tools/gpu_recipe.sh", "xyz"], cwd=ROOT, env={**os.environ, "OUT": str(tmp_path)},
                         capture_output=True, text=True)
    assert res.returncode == 2 and "variant must be fix, arb, safa, msitf or fmu" in res.stderr


def test_gpu_recipe_safa_restarts_from_the_shipped_weights(clips: tuple[Path, Path], tmp_path: Path) -> None:
    """safa runs the floor loop from the committed file (--init-from): its step-0 figure is that file's."""
    train, val = clips
    _run(["bash", "tools/gpu_recipe.sh", "safa"],
         env={"DRY_RUN": "1", "OUT": str(tmp_path), "DATA": str(train), "VAL": str(val), "TMPDIR": str(tmp_path)})
    log = (tmp_path / "safa" / "log.txt").read_text()
    assert "warm restart from weights/stvsr_weights/safa.stvsr.safetensors" in log
    assert "function-preserving" not in log
    assert (tmp_path / "safa" / "final.safetensors").is_file()
