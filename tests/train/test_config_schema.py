"""The training config is validated as a whole against its schema before anything runs (issue 17):
each error names the key, the value and what is expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from stvsr.train.config import TrainConfig, load_config, validate_config


@pytest.mark.parametrize(
    ("tree", "message"),
    [
        ({"steps": 2.5}, "config key steps: expected an integer, got 2.5"),
        ({"steps": True}, "config key steps: expected an integer, got True"),
        ({"steps": 0}, "config key steps: expected >= 1, got 0"),
        ({"loss": {"ternary": -0.1}}, "config key loss.ternary: expected >= 0, got -0.1"),
        ({"loss": {"charbonnier": "1"}}, None),  # numeric text is a number (PyYAML reads 1e-3 as text)
        ({"data": {"paths": "/data/train"}}, "config key data.paths: expected a list of strings, got '/data/train'"),
        ({"data": {"paths": [1, 2]}}, "config key data.paths: expected a list of strings"),
        ({"data": {"crop": "64"}}, "config key data.crop: expected an integer, got '64'"),
        ({"data": {"scale": "x4"}}, "config key data.scale: expected a number > 0 or 'arbitrary', got 'x4'"),
        ({"data": {"time": "half"}}, "config key data.time: expected one of 'fixed', 'arbitrary', 'none'"),
        ({"data": {"scale_min": 3.0, "scale_max": 2.0}}, "data.scale_min / data.scale_max: expected min <= max"),
        ({"optim": {"lr": -1e-4}}, "config key optim.lr: expected > 0"),
        ({"optim": {"betas": [0.9]}}, "config key optim.betas: expected a list of 2 numbers, got [0.9]"),
        ({"optim": {"lr_mult": {"spy": -1}}}, "config key optim.lr_mult: expected multipliers >= 0"),
        ({"optim": {"name": "sgd"}}, "config key optim.name: expected one of 'adamw', 'adam', got 'sgd'"),
        ({"val": {"window": 1}}, "config key val.window: expected >= 2, got 1"),
        ({"ema_decay": 1.5}, "config key ema_decay: expected in [0, 1), got 1.5"),
        ({"device": "gpu"}, "config key device: expected 'auto' or a torch device"),
        ({"model": "msmr_fix"}, "config key model: expected a mapping, got 'msmr_fix'"),
        ({"warm_start": [{"pretrained": True}]}, "config key warm_start: expected a list of rules with a 'from' key"),
        ({"objective": "gan"}, "config key objective: expected one of 'stvsr', 'fmu', 'cvrs', got 'gan'"),
    ],
)
def test_config_errors_name_key_value_and_expectation(tree: dict, message: str | None) -> None:
    if message is None:
        assert load_config(tree).loss.charbonnier == 1.0
        return
    with pytest.raises(ValueError) as info:
        load_config(tree)
    assert message in str(info.value)


def test_set_overrides_are_validated_too(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("steps: 10\ndata: {paths: [clips], crop: 32}\n")
    assert load_config(cfg, ["data.crop=48"]).data.crop == 48
    with pytest.raises(ValueError, match="config key data.crop: expected an integer, got 48.5"):
        load_config(cfg, ["data.crop=48.5"])
    with pytest.raises(ValueError, match="config key data.paths: expected a list of strings"):
        load_config(cfg, ["data.paths=/abs/path"])


def test_configs_built_in_python_are_validated_before_training(tmp_path: Path) -> None:
    from stvsr.train.loop import train

    cfg = TrainConfig()
    cfg.data.paths = "/"  # type: ignore[assignment]  # would be read letter by letter, walking "/"
    cfg.out_dir = str(tmp_path / "run")
    with pytest.raises(ValueError, match="data.paths"):
        train(cfg)
    assert not (tmp_path / "run").exists()  # refused before anything was created
    cfg.data.paths = [tmp_path / "clips"]  # Path objects are fine
    cfg.steps = 3
    assert validate_config(cfg) is cfg


def test_shipped_configs_pass() -> None:
    for f in sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml")):
        load_config(f)
