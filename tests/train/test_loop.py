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
    ema = EMA(m, 0.5, warmup=False)
    before = m.weight.detach().clone()
    with torch.no_grad():
        m.weight.add_(2)
    ema.update(m)
    torch.testing.assert_close(ema.shadow["weight"], before + 1)


def test_ema_warmup_forgets_the_initial_weights():
    m = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        m.weight.fill_(0.0)
    ema, plain = EMA(m, 0.998), EMA(m, 0.998, warmup=False)
    assert ema.current_decay() == pytest.approx(2 / 11)
    with torch.no_grad():
        m.weight.fill_(1.0)  # the trained value, held for 1,200 steps
    keep = 1.0
    for n in range(1, 1201):
        keep *= min(0.998, (1 + n) / (10 + n))
        ema.update(m)
        plain.update(m)
    # the share of the initial weights left in the average
    assert keep < 1e-20 and 1 - float(ema.shadow["weight"]) < 1e-6  # float32 resolution
    assert 1 - float(plain.shadow["weight"]) == pytest.approx(0.998**1200, rel=1e-4)
    restored = EMA(m, 0.998)
    restored.load_state_dict(ema.state_dict())
    assert restored.updates == 1200 and restored.current_decay() == ema.current_decay()


def test_lr_mult_and_freeze_steps(tmp_path):
    from stvsr.train.loop import param_groups
    from tests.train.tiny_model import tiny

    m = tiny()
    groups = param_groups(m, {"conv1": 0.0, "conv2.bias": 0.5}, {"conv2": 2})
    assert not m.conv1.weight.requires_grad and not m.conv1.bias.requires_grad
    by = {(g["mult"], g["freeze"]): g["names"] for g in groups}
    assert by == {(1.0, 2): ["conv2.weight"], (0.5, 2): ["conv2.bias"]}
    with pytest.raises(ValueError, match="starts with 'nope'"):
        param_groups(tiny(), {"nope": 0.1}, {})
    with pytest.raises(ValueError, match=">= 0"):
        param_groups(tiny(), {"conv1": -1.0}, {})
    # in a run: conv1 never moves, conv2 holds still for 2 steps then trains
    start = tiny().state_dict()
    for steps, conv2_moved in ((2, False), (3, True)):
        cfg = _cfg(tmp_path, f"frz{steps}", steps=steps, ema_decay=None,
                   model={"name": "tests.train.tiny_model:tiny", "overrides": {"channels": 4}})
        cfg.optim.lr_mult, cfg.optim.freeze_steps = {"conv1": 0.0}, {"conv2": 2}
        cfg.optim.warmup_steps = 0
        torch.manual_seed(cfg.seed)
        train(cfg)
        final = torch.load(tmp_path / f"frz{steps}" / "checkpoints" / "last.pt", weights_only=False)["model"]
        torch.manual_seed(cfg.seed)
        init = tiny().state_dict()
        assert torch.equal(final["conv1.weight"], init["conv1.weight"])
        assert torch.equal(final["conv2.weight"], init["conv2.weight"]) != conv2_moved
    assert start.keys() == final.keys()


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


def test_stvsr_objective_trains_on_the_unclamped_output():
    from stvsr.train.config import LossConfig
    from stvsr.train.data import Batch
    from stvsr.train.objectives import StvsrObjective

    class Overshoot(torch.nn.Module):
        """Outputs 2 * w (far above 1): clamped, the loss would have no gradient."""

        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(()))

        def forward(self, lr, scale=4.0, times=(0.5,), clamp=True):
            out = (2 * self.w).expand(1, 3, 3, 4, 4)
            return out.clamp(0, 1) if clamp else out

    batch = Batch(torch.zeros(1, 2, 3, 1, 1), torch.full((1, 3, 3, 4, 4), 0.5), (4.0, 4.0), (0.5,))
    model = Overshoot()
    StvsrObjective(model, LossConfig())(batch)["charbonnier"].backward()
    assert model.w.grad is not None and model.w.grad.item() > 0.5
