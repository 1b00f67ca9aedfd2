"""Rebuild the authors' state_dicts from conformance specs and load the cases.

Implements the spec format of ``conformance/FORMAT.md``: every state_dict entry
is drawn from NumPy's PCG64 seeded with ``[seed, index]`` in float64, shaped and
scaled by its init kind, then cast to the entry's dtype (or copied from the
spec's stored-buffers file). The rebuild is checked against each case's digest.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file

DEFAULT_DIR = Path(__file__).resolve().parents[1] / "data" / "conformance"


def conformance_dir() -> Path:
    return Path(os.environ.get("STVSR_CONFORMANCE_DIR", str(DEFAULT_DIR)))


def _draw(kind: str, shape: tuple[int, ...], rng: np.random.Generator, gain: float, scale: float) -> np.ndarray:
    z = rng.standard_normal(shape)
    if kind == "fan_in":
        fan_in = math.prod(shape[1:]) if len(shape) > 1 else 1
        return z * (gain * scale / math.sqrt(fan_in))
    if kind == "small":
        return z * (0.02 * scale)
    if kind == "norm_weight":
        return 1.0 + 0.1 * z
    if kind == "bn_mean":
        return 0.1 * z
    if kind == "bn_var":
        return 1.0 + 0.1 * np.abs(z)
    if kind.startswith("const:"):
        return float(kind.partition(":")[2]) + 0.02 * scale * z
    if kind == "zero":
        return np.zeros(shape)
    raise ValueError(f"unknown init kind {kind!r}")


@functools.lru_cache(maxsize=4)
def build_state_dict(spec_path: Path) -> dict[str, torch.Tensor]:
    """The authors'-format state_dict described by ``spec_path`` (cached; do not mutate)."""
    spec = json.loads(spec_path.read_text())
    stored = load_file(str(spec_path.parent / spec["stored"])) if spec.get("stored") else {}
    seed, gain = int(spec["seed"]), float(spec.get("gain", 1.0))
    state: dict[str, torch.Tensor] = {}
    for index, entry in enumerate(spec["entries"]):
        key, dtype = entry["key"], getattr(torch, entry.get("dtype", "float32"))
        if entry["init"] == "stored":
            state[key] = stored[key].to(dtype)
            continue
        rng = np.random.default_rng([seed, index])
        values = _draw(entry["init"], tuple(entry["shape"]), rng, gain, float(entry.get("scale", 1.0)))
        state[key] = torch.from_numpy(values).to(dtype)
    return state


def digest(state: dict[str, torch.Tensor]) -> str:
    """sha256 over sorted keys, shapes, dtypes and raw bytes (the fixtures' identity)."""
    h = hashlib.sha256()
    for key in sorted(state):
        t = state[key].detach().contiguous().cpu()
        h.update(key.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(str(t.dtype).encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


@functools.lru_cache(maxsize=16)
def _digest_of(spec_path: Path) -> str:
    return digest(build_state_dict(spec_path))


@dataclass
class Case:
    """One recorded call of an authors' model."""

    system: str  # fixture folder name, e.g. "msmr_fix"
    name: str  # case file stem
    folder: Path
    meta: dict[str, Any]
    tensors: dict[str, torch.Tensor] = field(repr=False)

    @property
    def spec_path(self) -> Path:
        return self.folder / self.meta.get("spec", "spec.json")

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The authors' state_dict for this case, verified against the case's digest."""
        got = _digest_of(self.spec_path)
        want = self.meta["digest"]
        if got != want:
            raise AssertionError(f"{self.system}/{self.name}: rebuilt weights digest {got} != recorded {want}")
        return {k: v.clone() for k, v in build_state_dict(self.spec_path).items()}

    def atol(self, output: str) -> float:
        spec = self.meta.get("outputs", {}).get(output, {})
        return float(spec.get("atol", self.meta["atol"]))


def discover(root: Path | None = None) -> list[Case]:
    root = conformance_dir() if root is None else root
    if not root.is_dir():
        raise FileNotFoundError(f"STVSR_CONFORMANCE_DIR={root} is not a folder")
    cases = []
    for folder in sorted(p for p in root.iterdir() if (p / "spec.json").is_file()):
        for path in sorted(folder.glob("*.json")):
            if path.name == "spec.json":
                continue
            meta = json.loads(path.read_text())
            tensors_file = folder / meta.get("tensors_file", f"{path.stem}.safetensors")
            cases.append(Case(folder.name, path.stem, folder, meta, load_file(str(tensors_file))))
    return cases
