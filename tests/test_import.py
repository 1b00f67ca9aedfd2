"""``import stvsr`` is cheap: no torch, huggingface_hub or av, no network; the public names resolve lazily."""

from __future__ import annotations

import subprocess
import sys

import pytest

import stvsr

HEAVY = ("torch", "huggingface_hub", "av", "safetensors", "numpy", "timm")


def _python(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=120, check=False)


def test_import_imports_nothing_heavy() -> None:
    code = (
        "import sys, stvsr, stvsr.cli\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "assert not any(m.startswith('stvsr.models') or m.startswith('stvsr.zoo') for m in sys.modules)\n"
    )
    res = _python("-c", code)
    assert res.returncode == 0, res.stderr


def test_importtime_lists_no_heavy_module() -> None:
    res = _python("-X", "importtime", "-c", "import stvsr")
    assert res.returncode == 0, res.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in res.stderr.splitlines() if line.startswith("import time:")}
    assert "stvsr" in imported
    top_level = {name.split(".")[0] for name in imported}
    assert not top_level & {"torch", "huggingface_hub", "av"}, sorted(top_level)


def test_import_without_network() -> None:
    # any socket use during import fails loudly
    code = (
        "import socket\n"
        "def refuse(*a, **k):\n"
        "    raise AssertionError('network access during import')\n"
        "socket.socket.connect = refuse\n"
        "socket.create_connection = refuse\n"
        "socket.getaddrinfo = refuse\n"
        "import stvsr\n"
        "dir(stvsr)\n"
    )
    res = _python("-c", code)
    assert res.returncode == 0, res.stderr


def test_lazy_public_names() -> None:
    from stvsr.zoo._api import list_models, load, model_card

    assert stvsr.load is load and stvsr.list_models is list_models and stvsr.model_card is model_card
    assert callable(stvsr.convert_checkpoint)
    assert {"load", "list_models", "model_card", "convert_checkpoint", "metrics", "cli"} <= set(dir(stvsr))
    assert stvsr.metrics.psnr is not None
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        stvsr.nope  # noqa: B018
    import stvsr.zoo as zoo

    assert set(zoo.__all__) == set(zoo._LAZY)
    for name in zoo.__all__:
        assert getattr(zoo, name) is not None
