"""A tiny toy model registered for the zoo tests only, and an isolated environment.

Every test here runs with ``STVSR_HOME``, ``HF_HUB_CACHE`` and the packaged-weights
folder pointing into a temporary directory and with ``HF_HUB_OFFLINE=1``, so no
test can touch the network or the user's caches.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from stvsr.models._base import StvsrModel, load_state_dict_strict
from stvsr.models._capabilities import Capabilities
from stvsr.models._registry import _REGISTRY, WeightSource, register_model, register_weights

TOY = "zz_toy"
TOY_BARE = "zz_toy_bare"  # registered without weights
TOY_PAIR = "zz_toy_pair"  # converter needing two authors' files
REPO = "stvsr-test/zz-toy"
REV = "0123456789abcdef0123456789abcdef01234567"
TOY_CARD: dict[str, Any] = {
    "paper": None,
    "authors_repo": None,
    "licence": "Apache-2.0",
    "params": 0,
    "conformance": None,
    "summary": "Toy model of the zoo tests.",
}


class Toy(StvsrModel):
    """3x3 conv on each frame, nearest x2 in space, blend at t=0.5: ``(B, T, 3, h, w) -> (B, 2T-1, 3, 2h, 2w)``."""

    def __init__(self, channels: int = 4, bias: bool = True) -> None:
        super().__init__()
        self.config = {"channels": channels, "bias": bias}
        self.inp = nn.Conv2d(3, channels, 3, padding=1, bias=bias)
        self.out = nn.Conv2d(channels, 3, 3, padding=1, bias=bias)
        self.register_buffer("gain", torch.ones(1))

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(task="stvsr", space_scales=(2.0,), times=(0.5,))

    def forward(self, lr: torch.Tensor, scale: float = 2.0, times: tuple[float, ...] = (0.5,)) -> torch.Tensor:
        b, t = lr.shape[:2]
        x = self.out(torch.relu(self.inp(lr.flatten(0, 1)))) * self.gain
        x = nn.functional.interpolate(x, scale_factor=2, mode="nearest").unflatten(0, (b, t))
        frames = []
        for i in range(t):
            frames.append(x[:, i])
            if i + 1 < t:
                frames.append(0.5 * (x[:, i] + x[:, i + 1]))
        return torch.stack(frames, 1)


def convert_toy(state: Mapping[str, torch.Tensor]) -> Toy:
    """Authors' layout: every key prefixed ``module.`` (DataParallel)."""
    sd = {k.removeprefix("module."): v for k, v in state.items()}
    model = Toy(channels=sd["inp.weight"].shape[0], bias="inp.bias" in sd)
    load_state_dict_strict(model, sd)
    return model


def convert_pair(state: Mapping[str, Any]) -> Toy:
    """Two authors' files: ``{"first": {inp.*}, "second": {out.*, gain}}``."""
    sd = {**state["first"], **state["second"]}
    model = Toy(channels=sd["inp.weight"].shape[0])
    load_state_dict_strict(model, sd)
    return model


@dataclass
class ToyWeights:
    model: Toy  # the model whose state_dict the file holds
    file: Path  # a correct copy of the weights file (outside every search location)
    sha256: str
    filename: str


def make_toy(seed: int = 0, channels: int = 4) -> Toy:
    torch.manual_seed(seed)
    model = Toy(channels=channels)
    with torch.no_grad():
        model.gain.fill_(1.5)
    return model.eval()


@pytest.fixture
def zoo_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    home, cache, packaged = tmp_path / "home", tmp_path / "hf", tmp_path / "packaged"
    for p in (home, cache, packaged):
        p.mkdir()
    monkeypatch.setenv("STVSR_HOME", str(home))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("stvsr.zoo._weights.PACKAGED_DIR", packaged)
    monkeypatch.setattr("stvsr.zoo._weights.companion_dirs", lambda: [])  # only what the test lays out
    return {"home": home, "cache": cache, "packaged": packaged, "tmp": tmp_path}


@pytest.fixture
def toy(zoo_env: dict[str, Path]) -> Iterator[ToyWeights]:
    """Registers ``zz_toy`` (weights ``zz_toy.a``, default, on the Hub at REV and packaged),
    ``zz_toy_bare`` (no weights) and ``zz_toy_pair`` (two-file converter)."""
    import stvsr.models  # noqa: F401  (populate the real registry first)

    model = make_toy()
    filename = "zz_toy.a.safetensors"
    file = zoo_env["tmp"] / "src" / filename
    file.parent.mkdir()
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(file))
    sha = hashlib.sha256(file.read_bytes()).hexdigest()
    register_model(TOY, converter=convert_toy, card=TOY_CARD)(Toy)
    register_weights(
        TOY,
        "a",
        WeightSource(
            filename=filename,
            sha256=sha,
            hf_repo=REPO,
            hf_revision=REV,
            packaged=filename,
            card={"training_data": "none", "metrics": [{"dataset": "toy", "psnr": 1.0, "protocol": "none"}]},
        ),
        default=True,
    )
    register_model(TOY_BARE, converter=convert_toy, card=TOY_CARD)(Toy)
    register_model(
        TOY_PAIR,
        converter=convert_pair,
        card={**TOY_CARD, "converter_inputs": {"first": "first.pth (inp.*)", "second": "second.pth (out.*, gain)"}},
    )(Toy)
    try:
        yield ToyWeights(model=model, file=file, sha256=sha, filename=filename)
    finally:
        for name in (TOY, TOY_BARE, TOY_PAIR):
            _REGISTRY.pop(name, None)


def hub_snapshot(
    cache: Path, repo: str, revision: str, files: Mapping[str, bytes], *, ref: str | None = "main"
) -> Path:
    """Write the Hugging Face cache layout ``models--org--name/{blobs,snapshots/<rev>,refs/<ref>}``."""
    root = cache / ("models--" + repo.replace("/", "--"))
    snap = root / "snapshots" / revision
    (root / "blobs").mkdir(parents=True, exist_ok=True)
    snap.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        blob = root / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        target = snap / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(Path("..", "..", *([".."] * name.count("/")), "blobs", blob.name))
    if ref is not None:
        (root / "refs").mkdir(exist_ok=True)
        (root / "refs" / ref).write_text(revision)
    return snap


def toy_input(seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, 3, 6, 5, generator=g)
