"""The companion distribution ``stvsr-weights``: found offline, sha256-checked, said when missing."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

import stvsr
from stvsr.zoo import _weights
from stvsr.zoo._catalog import get_entry

ROOT = Path(__file__).resolve().parents[2]


def test_source_checkout_finds_the_companion_folder() -> None:
    folder = _weights.companion_dir()
    assert folder is not None and (folder / "__init__.py").is_file()
    assert _weights.packaged_path("msmr_arb.stvsr.safetensors") == folder / "msmr_arb.stvsr.safetensors"


def test_installed_companion_is_found_by_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = tmp_path / "site" / "stvsr_weights"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.delitem(sys.modules, "stvsr_weights", raising=False)
    assert _weights.companion_dir() == pkg
    assert "stvsr_weights" not in sys.modules  # found, not imported


def test_load_reads_the_companion_and_checks_its_sha256(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STVSR_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    source = get_entry("msmr_fix").weights["stvsr"]
    real = _weights.packaged_path(str(source.packaged))
    assert real is not None
    # a companion whose file was tampered with: refused, naming the file
    fake = tmp_path / "stvsr_weights"
    fake.mkdir()
    data = bytearray(real.read_bytes())
    data[-1] ^= 1
    (fake / str(source.packaged)).write_bytes(bytes(data))
    assert hashlib.sha256(bytes(data)).hexdigest() != source.sha256
    monkeypatch.setattr(_weights, "companion_dir", lambda: fake)
    with pytest.raises(_weights.WeightsChecksumError, match="msmr_fix"):
        stvsr.load("msmr_fix")


def test_missing_companion_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STVSR_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(_weights, "companion_dir", lambda: None)
    with pytest.raises(_weights.WeightsNotFoundError, match="pip install stvsr-weights"):
        stvsr.load("msmr_arb")


def test_core_package_no_longer_ships_the_trained_weights() -> None:
    core = ROOT / "stvsr" / "zoo" / "weights"
    assert not list(core.glob("msmr_*.safetensors"))
    total = sum(p.stat().st_size for p in core.glob("*.safetensors"))
    assert total < 100e6


def test_companion_version_follows_stvsr() -> None:
    import tomllib

    meta = tomllib.loads((ROOT / "weights" / "pyproject.toml").read_text())["project"]
    core = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert meta["name"] == "stvsr-weights" and meta["version"] == stvsr.__version__
    assert f"stvsr-weights=={meta['version']}" in core["optional-dependencies"]["weights"]
