from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from stvsr.train.config import load_config
from stvsr.train.loop import EMA, cosine_lambda, train
from tests.eval.clips import moving_clip, write_folder

ROOT = Path(__file__).resolve().parents[2]


def _cfg(tmp_path: Path, out: str, **extra):
    data = tmp_path / "clips"
    if not data.exists():
        write_folder(data / "a", moving_clip(9, 24, 24, seed=1))
        write_folder(data / "b", moving_clip(9, 24, 24, seed=2))
    tree = {
        "model": {"name": "tests.train.tiny_model:tiny", "overrides": {"channels": 2}},
        "data": {"paths": [str(data)], "crop": 16, "keys": 2, "scale": "arbitrary", "time": "arbitrary",
                 "max_interval": 3},
        "loss": {"charbonnier": 1.0, "ternary": 0.1},
        "optim": {"lr": 1e-2, "warmup_steps": 1},
        "steps": 4, "batch_size": 2, "seed": 5, "ema_decay": 0.9, "out_dir": str(tmp_path / out),
        "checkpoint_every": 2, "log_every": 1, "progress": False,
    }
    tree.update(extra)
    return load_config(tree)


def test_config_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown key"):
        load_config({"modle": {}})
    with pytest.raises(ValueError, match="unknown key"):
        load_config({"data": {"crops": 3}})
    cfg = load_config({"steps": 3}, ["data.crop=48", "optim.betas=[0.9, 0.9]"])
    assert cfg.data.crop == 48 and cfg.optim.betas == (0.9, 0.9)


def test_schedule_and_ema():
    assert cosine_lambda(0, 10, 2, 1e-3, 1e-5) == 0.5
    assert cosine_lambda(2, 10, 2, 1e-3, 1e-5) == pytest.approx(1.0)
    assert cosine_lambda(10, 10, 2, 1e-3, 1e-5) == pytest.approx(1e-2)
    m = torch.nn.Linear(1, 1)
    ema = EMA(m, 0.5)
    before = m.weight.detach().clone()
    with torch.no_grad():
        m.weight.add_(2)
    ema.update(m)
    torch.testing.assert_close(ema.shadow["weight"], before + 1)


def test_exact_resume_matches_uninterrupted_run(tmp_path):
    straight = train(_cfg(tmp_path, "a"))
    first = train(_cfg(tmp_path, "b"), max_steps=2)
    second = train(_cfg(tmp_path, "b"), resume=True)
    assert first["step"] == 2 and second["step"] == 4
    assert straight["losses"] == first["losses"] + second["losses"]  # bit-identical
    a = torch.load(tmp_path / "a" / "checkpoints" / "last.pt", weights_only=False)
    b = torch.load(tmp_path / "b" / "checkpoints" / "last.pt", weights_only=False)
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
        assert torch.equal(a["ema"][k], b["ema"][k]), k
    assert b["sampler"] == {"seed": 5, "step": 4}
    log = (tmp_path / "b" / "metrics.csv").read_text().splitlines()
    assert log[0].startswith("step,loss") and len(log) == 1 + 4
    assert (tmp_path / "a" / "final.pt").exists() or (tmp_path / "a" / "final").exists()


def test_validation_runs_with_a_protocol(tmp_path):
    val = tmp_path / "val"
    write_folder(val / "c", moving_clip(5, 16, 16, seed=3))
    cfg = _cfg(tmp_path, "v", steps=2, val={"protocol": "vid4-bi-4x2x", "data": str(val), "every": 2})
    train(cfg)
    log = (tmp_path / "v" / "metrics.csv").read_text().splitlines()
    assert log[-1].split(",")[-2] != ""  # val_psnr of the last step


def test_torchrun_two_cpu_processes(tmp_path):
    cfg = _cfg(tmp_path, "ddp", steps=2)
    path = tmp_path / "cfg.json"
    import json

    path.write_text(json.dumps(cfg.to_dict()))
    torchrun = Path(sys.executable).with_name("torchrun")
    cmd = [str(torchrun), "--nproc_per_node", "2", "--standalone", "-m", "stvsr.train",
           str(path)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "world 2" in proc.stdout
    ck = torch.load(tmp_path / "ddp" / "checkpoints" / "last.pt", weights_only=False)
    assert ck["world_size"] == 2 and ck["step"] == 2


def test_fmu_and_cvrs_objectives_train(tmp_path):
    fmu = _cfg(tmp_path, "fmu", steps=1, objective="fmu",
               model={"name": "tests.train.tiny_model:tiny_fmu"},
               data={"paths": [str(tmp_path / "clips")], "crop": 16, "keys": 4, "time": "fixed"})
    r = train(fmu)
    assert r["step"] == 1 and r["losses"][0] > 0
    log = (tmp_path / "fmu" / "metrics.csv").read_text().splitlines()
    assert "lr_interp" in log[0] and log[1].split(",")[5] != ""
    cvrs = _cfg(tmp_path, "cvrs", steps=1, objective="cvrs", ema_decay=None,
                model={"name": "cvrs", "overrides": {"down_channels": 4, "down_blocks": 1, "up_variant": "dense",
                                                     "up_channels": 4, "up_blocks": 1, "fuse_channels": 4,
                                                     "imsm_blocks": 1}},
                data={"paths": [str(tmp_path / "clips")], "crop": 16, "keys": 2, "time": "fixed"})
    r = train(cvrs)
    assert r["step"] == 1 and r["losses"][0] > 0
    with pytest.raises(ValueError, match="keys: 4"):
        load_config({"objective": "fmu", "data": {"keys": 2}})
