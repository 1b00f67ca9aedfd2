"""Every registered model: a complete card, capabilities that agree with the built model, builds
with ``pretrained=False``, runs a tiny forward and backward (finite gradients), survives a
``save_pretrained`` round trip; every shipped weights file matches its sha256.

Models make this fast by declaring ``card["test_config"]`` (builder overrides for a tiny
model) and, for tasks other than "stvsr"/"vsr", ``card["test_input"]`` (see
``stvsr/models/_registry.py``).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import stvsr
from stvsr.models._base import StvsrModel
from stvsr.models._capabilities import Capabilities
from stvsr.models._registry import CAPABILITY_FIELDS
from stvsr.zoo._catalog import REQUIRED_CARD_FIELDS, TASKS, entry_names, get_entry
from stvsr.zoo._weights import cached_sha256, packaged_path

NAMES = entry_names()
WEIGHTS = [f"{n}.{t}" for n in NAMES for t in sorted(get_entry(n).weights)]


def _tiny(name: str) -> nn.Module:
    card = get_entry(name).card
    return stvsr.load(name, pretrained=False, **card.get("test_config", {}))


def _call_of(name: str) -> dict[str, Any] | None:
    card = get_entry(name).tag_card(None)  # with task, space_scale and time from the capabilities
    return card.get("test_input") or _default_call(card)


def _default_call(card: Mapping[str, Any]) -> dict[str, Any] | None:
    """The call of the registry test for tasks with a public contract, or None."""
    scale = card.get("space_scale")
    s = float(scale) if isinstance(scale, (int, float)) else 2.0
    hw = [round(16 * s), round(16 * s)]
    if card.get("task") == "stvsr":
        time = card.get("time")
        times = tuple(time) if isinstance(time, (list, tuple)) else (0.5,)
        out_t = 2 + len(times)
        return {
            "inputs": {"lr": [1, 2, 3, 16, 16]},
            "kwargs": {"scale": s, "times": times},
            "output_shape": [1, out_t, 3, *hw],
        }
    if card.get("task") == "vsr":
        return {"inputs": {"lr": [1, 3, 3, 16, 16]}, "kwargs": {}, "output_shape": [1, 3, 3, *hw]}
    return None


def _tensors(out: Any) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, Mapping):
        return [t for v in out.values() for t in _tensors(v)]
    if isinstance(out, (list, tuple)):
        return [t for v in out for t in _tensors(v)]
    return []


@pytest.mark.parametrize("name", NAMES)
def test_card(name: str) -> None:
    entry = get_entry(name)
    card = entry.card
    missing = [f for f in REQUIRED_CARD_FIELDS if f not in card]
    assert not missing, f"{name}: card lacks {missing}"
    assert not set(card) & set(CAPABILITY_FIELDS), f"{name}: capabilities are written on the card"
    caps = entry.capabilities()
    assert isinstance(caps, Capabilities) and caps.task in TASKS
    merged = entry.tag_card(None)
    assert {k: merged[k] for k in CAPABILITY_FIELDS} == caps.card_fields()
    assert isinstance(card["params"], int) and card["params"] >= 0
    space, time = merged["space_scale"], merged["time"]
    assert space is None or space == "arbitrary" or isinstance(space, float)
    assert time is None or time == "arbitrary" or isinstance(time, (list, tuple))
    assert isinstance(card["summary"], str) and card["summary"]
    assert isinstance(card.get("test_config", {}), dict)
    assert isinstance(card.get("converter_inputs", {}), dict)
    if entry.weights_free:
        assert not entry.weights and card["params"] == 0
    if entry.weights:
        assert entry.default_tag in entry.weights
    json.dumps({k: v for k, v in card.items()}, default=str)  # the card can be written to config.json


@pytest.mark.parametrize("name", NAMES)
def test_capabilities_of_a_model_built_directly(name: str) -> None:
    # the registry's answer is the model's own: a model built without the registry knows as much
    entry = get_entry(name)
    model = entry.builder()
    assert model.capabilities == entry.capabilities()
    assert hash(model.capabilities) == hash(entry.capabilities())  # frozen: usable as a key


@pytest.mark.parametrize("name", NAMES)
def test_builds_and_runs_tiny_forward(name: str) -> None:
    call = _call_of(name)
    if call is None:
        pytest.skip(f"task {get_entry(name).capabilities().task!r} has no default call and no test_input")
    model = _tiny(name)
    assert isinstance(model, nn.Module) and not model.training
    assert model.registry_name == name
    g = torch.Generator().manual_seed(0)
    inputs = [torch.rand(*shape, generator=g) for shape in call.get("inputs", {}).values()]
    fn = getattr(model, call["method"]) if call.get("method") else model
    with torch.no_grad():
        out = fn(*inputs, **call.get("kwargs", {}))
    tensors = _tensors(out)
    assert tensors, f"{name} returned no tensor"
    for t in tensors:
        if t.is_floating_point():
            assert bool(torch.isfinite(t).all()), f"{name}: non-finite output"
    if call.get("output_shape") is not None:
        assert list(tensors[0].shape) == list(call["output_shape"])


@pytest.mark.parametrize("name", NAMES)
def test_tiny_backward_gives_finite_gradients(name: str) -> None:
    """Forward and backward through every trainable registered model (tiny config, eval mode:
    train-mode BatchNorm would zero some gradients); every gradient is finite and some are nonzero."""
    call = _call_of(name)
    if call is None:
        pytest.skip(f"task {get_entry(name).capabilities().task!r} has no default call and no test_input")
    model = _tiny(name)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        pytest.skip(f"{name} has no parameters")
    g = torch.Generator().manual_seed(1)
    inputs = [torch.rand(*shape, generator=g) for shape in call.get("inputs", {}).values()]
    fn = getattr(model, call["method"]) if call.get("method") else model
    kwargs = dict(call.get("kwargs", {}))
    if "clamp" in inspect.signature(fn).parameters:
        kwargs["clamp"] = False  # a clamp has zero gradient wherever an output overshoots
    out = [t for t in _tensors(fn(*inputs, **kwargs)) if t.is_floating_point() and t.requires_grad]
    assert out, f"{name}: no output carries a gradient"
    sum(t.float().square().mean() for t in out).backward()
    grads = [p.grad for p in params if p.grad is not None]
    assert grads, f"{name}: no parameter received a gradient"
    assert all(bool(torch.isfinite(gr).all()) for gr in grads), f"{name}: non-finite gradient"
    assert any(bool(gr.abs().sum() > 0) for gr in grads), f"{name}: every gradient is zero"


@pytest.mark.parametrize("name", NAMES)
def test_save_pretrained_round_trip(name: str, tmp_path: Path) -> None:
    model = _tiny(name)
    if not isinstance(model, StvsrModel):
        pytest.skip(f"{type(model).__name__} is not an StvsrModel (no config to save)")
    folder = model.save_pretrained(tmp_path / name)
    loaded = stvsr.load(folder)
    assert type(loaded) is type(model) and loaded.config == json.loads(json.dumps(model.config))
    ours, theirs = model.state_dict(), loaded.state_dict()
    assert list(ours) == list(theirs)
    for k in ours:
        assert torch.equal(ours[k], theirs[k]), f"{name}: {k} differs after the round trip"


@pytest.mark.parametrize("weights", WEIGHTS)
def test_shipped_weights_match_registry(weights: str) -> None:
    name, _, tag = weights.partition(".")
    source = get_entry(name).weights[tag]
    assert source.filename.endswith(".safetensors") and len(source.sha256) == 64
    assert source.hf_repo is None or source.hf_revision, f"{weights}: a Hub repo needs a pinned revision"
    if source.packaged is None:
        if source.parts:  # assembled from shipped parts, each sha256-checked
            assert stvsr.load(weights).weights_tag == tag
            return
        # whatever is not shipped must say how to get it
        assert source.recipe or source.hf_repo, f"{weights}: neither shipped nor obtainable"
        pytest.skip(f"{weights} is not shipped with the package")
    path = packaged_path(source.packaged)
    if path is None:
        pytest.skip(f"{source.packaged} is in neither the package nor the stvsr-weights companion here")
    assert cached_sha256(path) == source.sha256, f"{path}: sha256 differs from the registry"
    model = stvsr.load(weights)  # strict: every key and shape of the file fits the default build
    assert model.weights_tag == tag
