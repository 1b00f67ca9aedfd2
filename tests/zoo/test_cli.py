"""``stvsr.zoo.cli`` (models table, checkpoint conversion) and the ``stvsr`` command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

import stvsr
from stvsr.cli import main
from stvsr.zoo.cli import convert_command, models_table
from tests.zoo.conftest import TOY, TOY_BARE, TOY_PAIR, ToyWeights, toy_input


def _authors_pth(toy: ToyWeights, path: Path) -> Path:
    torch.save({f"module.{k}": v for k, v in toy.model.state_dict().items()}, path)
    return path


def test_models_table(toy: ToyWeights) -> None:
    table = models_table("zz_*")
    lines = table.splitlines()
    assert lines[0].split() == ["name", "task", "scale", "time", "params", "weights"]
    assert set(lines[1]) <= {"-", " "}
    rows = {line.split()[0]: line for line in lines[2:]}
    assert set(rows) == {TOY, TOY_BARE, TOY_PAIR}
    assert rows[TOY].split()[1:] == ["stvsr", "x2", "t=0.5", "0", "a*"]
    assert rows[TOY_BARE].split()[-1] == "-"
    assert "(none needed)" in models_table("bicubic_blend")
    assert "no model matches" in models_table("no_such_*")
    assert "zz_toy_bare" not in models_table("zz_*", pretrained=True)


def test_convert_command(toy: ToyWeights, zoo_env: dict[str, Path]) -> None:
    pth = _authors_pth(toy, zoo_env["tmp"] / "authors.pth")
    out = convert_command(TOY_BARE, pth, zoo_env["tmp"] / "conv")
    assert (out / "model.safetensors").is_file() and (out / "README.md").is_file()
    with torch.no_grad():
        assert torch.equal(stvsr.load(out)(toy_input()), toy.model(toy_input()))
    with pytest.raises(FileExistsError, match="overwrite"):
        convert_command(TOY_BARE, pth, out)
    assert convert_command(TOY_BARE, [pth], out, overwrite=True) == out
    with pytest.raises(ValueError, match="one authors' checkpoint"):
        convert_command(TOY_BARE, [pth, pth], zoo_env["tmp"] / "two")
    with pytest.raises(FileNotFoundError):
        convert_command(TOY_BARE, zoo_env["tmp"] / "missing.pth", zoo_env["tmp"] / "x")


def test_convert_command_several_inputs(toy: ToyWeights, zoo_env: dict[str, Path]) -> None:
    sd = toy.model.state_dict()
    first, second = zoo_env["tmp"] / "first.pth", zoo_env["tmp"] / "second.pth"
    torch.save({k: v for k, v in sd.items() if k.startswith("inp.")}, first)
    torch.save({"params": {k: v for k, v in sd.items() if not k.startswith("inp.")}}, second)
    ref = toy.model(toy_input()).detach()
    for i, src in enumerate(([first, second], {"second": second, "first": first}, [f"second={second}", str(first)])):
        out = convert_command(TOY_PAIR, src, zoo_env["tmp"] / f"pair{i}")
        assert torch.equal(stvsr.load(out)(toy_input()).detach(), ref)
    with pytest.raises(ValueError, match=r"first \(first.pth \(inp.\*\)\), second"):
        convert_command(TOY_PAIR, [first], zoo_env["tmp"] / "bad")
    with pytest.raises(ValueError, match="needs the authors' files"):
        stvsr.convert_checkpoint(TOY_PAIR, {"first": first, "third": second})


def test_main_in_process(toy: ToyWeights, zoo_env: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    pth = _authors_pth(toy, zoo_env["tmp"] / "authors.pth")
    out = zoo_env["tmp"] / "cli_out"
    assert main(["convert", TOY_BARE, str(pth), "-o", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out and (out / "config.json").is_file()
    assert main(["convert", TOY_BARE, str(pth), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("stvsr convert: error: ") and "overwrite" in err and err.count("\n") == 1
    assert main(["convert", TOY_BARE, str(pth), "-o", str(out), "--overwrite"]) == 0
    assert main(["models", "zz_toy*"]) == 0
    assert TOY_PAIR in capsys.readouterr().out
    assert main([]) == 2
    assert main(["nonsense"]) == 2
    assert main(["--version"]) == 0
    assert stvsr.__version__ in capsys.readouterr().out


# two subprocesses only: each imports torch and every model file (seconds on a loaded CPU)
def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stvsr.cli", *args], capture_output=True, text=True, timeout=300, check=False
    )


def test_subprocess_models_and_errors(tmp_path: Path) -> None:
    res = _run("models", "bicubic*")
    assert res.returncode == 0, res.stderr
    assert "bicubic_blend" in res.stdout and "bicubic_repeat" in res.stdout
    missing = str(tmp_path / "missing.pth")
    res = _run("convert", "bicubic_blend", missing, "-o", str(tmp_path / "o"))
    assert res.returncode == 1
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr
    assert res.stderr.startswith("stvsr convert: error: ")


def test_debug_shows_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--debug", "convert", "no_such_model", "x.pth", "-o", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "no_such_model" in err
    assert main(["convert", "no_such_model", "x.pth", "-o", str(tmp_path / "o"), "--debug"]) == 1
    assert "Traceback" in capsys.readouterr().err
