"""``stvsr._malloc.tune_malloc``: raises glibc's thresholds once, does nothing elsewhere."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from stvsr import _malloc


class FakeLibc:
    """Records mallopt calls; ``glibc=False`` models a C library without gnu_get_libc_version."""

    def __init__(self, glibc: bool = True, result: int = 1) -> None:
        self.calls: list[tuple[int, int]] = []
        self.result = result
        if glibc:
            self.gnu_get_libc_version = lambda: b"2.36"

    def mallopt(self, param: int, value: int) -> int:
        self.calls.append((param, value))
        return self.result


@pytest.fixture
def fresh(monkeypatch):
    """A module state as if tune_malloc had never been called, without the user's settings."""
    monkeypatch.setattr(_malloc, "_result", None)
    for name in (*_malloc._USER_SETTINGS, "STVSR_NO_MALLOC_TUNE"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_raises_both_thresholds_once(fresh):
    libc = FakeLibc()
    fresh.setattr(_malloc, "_glibc", lambda: libc)
    assert _malloc.tune_malloc() is True
    assert sorted(libc.calls) == sorted(
        [(_malloc._M_MMAP_THRESHOLD, _malloc.MMAP_THRESHOLD), (_malloc._M_TRIM_THRESHOLD, _malloc.TRIM_THRESHOLD)]
    )
    assert _malloc.tune_malloc() is True  # idempotent: no second round of mallopt calls
    assert len(libc.calls) == 2


def test_no_op_without_glibc(fresh):
    fresh.setattr(_malloc, "_glibc", lambda: None)
    assert _malloc.tune_malloc() is False


def test_non_glibc_library_is_not_touched(fresh):
    libc = FakeLibc(glibc=False)
    fresh.setattr(_malloc.ctypes, "CDLL", lambda name: libc)
    assert _malloc._glibc() is None
    assert _malloc.tune_malloc() is False and libc.calls == []


def test_no_process_handle_means_no_op(fresh):
    def no_handle(name):
        raise TypeError("no CDLL(None) on this platform")

    fresh.setattr(_malloc.ctypes, "CDLL", no_handle)
    assert _malloc.tune_malloc() is False


@pytest.mark.parametrize("name", [*_malloc._USER_SETTINGS, "STVSR_NO_MALLOC_TUNE"])
def test_user_settings_and_opt_out_win(fresh, name):
    libc = FakeLibc()
    fresh.setattr(_malloc, "_glibc", lambda: libc)
    fresh.setenv(name, "1")
    assert _malloc.tune_malloc() is False and libc.calls == []


def test_refused_mallopt_reports_false(fresh):
    fresh.setattr(_malloc, "_glibc", lambda: FakeLibc(result=0))
    assert _malloc.tune_malloc() is False


_FAULTS = r"""
import resource, sys
import torch
if sys.argv[1] == "tuned":
    from stvsr._malloc import tune_malloc
    assert tune_malloc()
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
conv = torch.nn.Conv2d(32, 32, 3, padding=1)
x = torch.rand(1, 32, 128, 160)  # 2.6 MB activations: mmapped and unmapped per call by default
with torch.no_grad():
    for _ in range(3):
        conv(x).relu_()
    start = faults()
    for _ in range(4):
        conv(x).relu_()
print((faults() - start) / 4)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux") or _malloc._glibc() is None, reason="needs glibc")
def test_freed_blocks_are_reused_without_page_faults():
    # behaviour, not time: with default glibc every call of a conv faults its output's pages
    # back in (about 640 4-KiB pages); once tuned, freed blocks are reused from the heap
    env = {k: v for k, v in os.environ.items() if k not in (*_malloc._USER_SETTINGS, "STVSR_NO_MALLOC_TUNE")}

    def faults(setting: str) -> float:
        cmd = [sys.executable, "-c", _FAULTS, setting]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
        return float(out.stdout.strip().splitlines()[-1])

    default, tuned = faults("default"), faults("tuned")
    # ~640 alone; fewer under parallel load (475 in one CI run on an EPYC), hence a loose floor
    assert default > 200
    assert tuned < default / 20


def test_cli_and_training_entry_points_call_it():
    # the one-line calls: stvsr.cli.main and python -m stvsr.train
    import inspect

    import stvsr.cli
    import stvsr.train.__main__ as train_main

    assert "tune_malloc()" in inspect.getsource(stvsr.cli.main)
    assert "tune_malloc()" in inspect.getsource(train_main.main)
