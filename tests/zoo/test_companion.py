"""The companion distributions ``stvsr-weights`` and ``stvsr-weights-2``: found offline, sha256-checked, said
when missing."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

import stvsr
from stvsr.zoo import _weights
from stvsr.zoo._catalog import get_entry

ROOT = Path(__file__).resolve().parents[2]


def test_source_checkout_finds_the_companion_folders() -> None:
    folders = _weights.companion_dirs()
    assert [f.name for f in folders] == ["stvsr_weights", "stvsr_weights_2"]
    assert all((f / "__init__.py").is_file() and (f / "ATTRIBUTION.md").is_file() for f in folders)
    assert _weights.packaged_path("msmr_arb.stvsr.safetensors") == folders[0] / "msmr_arb.stvsr.safetensors"


def test_installed_companions_are_found_by_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pkgs = [tmp_path / "site" / "stvsr_weights", tmp_path / "site" / "stvsr_weights_2"]
    for pkg in pkgs:
        pkg.mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        monkeypatch.delitem(sys.modules, pkg.name, raising=False)
    (pkgs[1] / "x.safetensors").write_bytes(b"0")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    assert _weights.companion_dirs() == pkgs
    assert _weights.packaged_path("x.safetensors") == pkgs[1] / "x.safetensors"  # any volume
    assert _weights.packaged_path("y.safetensors") is None
    assert not {"stvsr_weights", "stvsr_weights_2"} & set(sys.modules)  # found, not imported


def test_every_companion_file_lies_in_one_volume_under_100_mb() -> None:
    seen: dict[str, str] = {}
    for folder in _weights.companion_dirs():
        files = list(folder.glob("*.safetensors"))
        assert sum(f.stat().st_size for f in files) < 100e6, folder
        for f in files:
            assert f.name not in seen, f"{f.name} in {seen.get(f.name)} and {folder.name}"
            seen[f.name] = folder.name


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
    monkeypatch.setattr(_weights, "companion_dirs", lambda: [fake])
    with pytest.raises(_weights.WeightsChecksumError, match="msmr_fix"):
        stvsr.load("msmr_fix")


def test_missing_companion_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STVSR_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(_weights, "companion_dirs", lambda: [])
    with pytest.raises(_weights.WeightsNotFoundError, match="pip install stvsr-weights stvsr-weights-2"):
        stvsr.load("msmr_arb")


def test_core_package_no_longer_ships_the_trained_weights() -> None:
    core = ROOT / "stvsr" / "zoo" / "weights"
    assert not list(core.glob("msmr_*.safetensors"))
    total = sum(p.stat().st_size for p in core.glob("*.safetensors"))
    assert total < 100e6


@pytest.mark.parametrize(("folder", "dist"), [("weights", "stvsr-weights"), ("weights/volume2", "stvsr-weights-2")])
def test_companion_version_follows_stvsr(folder: str, dist: str) -> None:
    import tomllib

    meta = tomllib.loads((ROOT / folder / "pyproject.toml").read_text())["project"]
    core = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert meta["name"] == dist and meta["version"] == stvsr.__version__
    assert f"{dist}=={meta['version']}" in core["optional-dependencies"]["weights"]
    assert _weights.COMPANIONS[dist] == ROOT / folder / dist.replace("-", "_")
