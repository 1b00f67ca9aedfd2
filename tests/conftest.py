from __future__ import annotations

import os

import pytest
import torch
from hypothesis import HealthCheck, settings

from tests.base import DTYPES

settings.register_profile(
    "default", deadline=None, max_examples=25, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("ci", deadline=None, max_examples=15, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else "default")

# One intra-op thread per test process: pytest-xdist already runs one process per core, and
# small convolutions get slower, not faster, with more threads than free cores.
torch.set_num_threads(1)
# dtype="auto" (the CLI's default) is bfloat16 on CPUs with bf16 instructions: the suite compares the
# pipeline with float32 model calls, so it pins auto to float32 (subprocesses inherit it); the tests
# of auto itself override it
os.environ["STVSR_AUTO_BF16"] = "0"


@pytest.fixture(params=DTYPES, ids=lambda d: str(d).removeprefix("torch."))
def dtype(request: pytest.FixtureRequest) -> torch.dtype:
    """Every floating dtype an op supports (tests/base.py holds their tolerances)."""
    return request.param


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=pytest.mark.cuda)])
def device(request: pytest.FixtureRequest) -> torch.device:
    """The CPU, and the GPU where there is one (the ``cuda`` mark skips it elsewhere)."""
    return torch.device(request.param)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)
