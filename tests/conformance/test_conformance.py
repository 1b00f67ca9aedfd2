"""Conformance: stvsr's models against outputs recorded from the authors' code.

One pytest case per recorded case file under ``$STVSR_CONFORMANCE_DIR`` (default:
the project's copy in ``tests/data/conformance``). For fixture folder ``<system>``
the runner module ``tests/conformance/runners/<system>.py`` rebuilds nothing
itself: it gets the case (with the digest-checked authors' state_dict), converts
the weights with ``stvsr.convert_checkpoint``, performs the recorded call and
returns every recorded output, in the recorded layout and colour order.

A runner may define ``compare(case, outputs)`` to replace the default check,
which compares every output listed in the case with its ``atol`` (outside the
case's degenerate mask where it has one) and recorded decisions exactly.
A fixture folder without a runner is a failure, never a skip.
"""

from __future__ import annotations

import importlib
import json

import pytest
import torch

from tests.conformance.fixtures import Case, conformance_dir, discover


def _case_ids() -> list[str]:
    root = conformance_dir()
    ids = []
    for folder in sorted(p for p in root.iterdir() if (p / "spec.json").is_file()):
        ids += [f"{folder.name}/{p.stem}" for p in sorted(folder.glob("*.json")) if p.name != "spec.json"]
    return ids


_CASES = _case_ids()


def test_fixtures_found() -> None:
    assert _CASES, f"no conformance cases under {conformance_dir()}"


def _mask_for(case: Case) -> torch.Tensor | None:
    deg = case.meta.get("degenerate")
    if isinstance(deg, dict) and deg.get("mask_tensor"):
        name = str(deg["mask_tensor"]).split()[0]
        return case.tensors[name].bool()
    return None


def default_compare(case: Case, outputs: dict[str, torch.Tensor]) -> None:
    mask = _mask_for(case)
    for name in case.meta["outputs"]:
        assert name in outputs, f"runner for {case.system} returned no {name!r} (got {sorted(outputs)})"
        want = case.tensors[name].double()
        got = outputs[name].detach().double().cpu()
        assert got.shape == want.shape, f"{name}: shape {tuple(got.shape)} != recorded {tuple(want.shape)}"
        diff = (got - want).abs()
        if mask is not None and mask.dim() == diff.dim():
            diff = diff.masked_fill(mask.expand_as(diff), 0.0)
        atol = case.atol(name)
        worst = float(diff.max()) if diff.numel() else 0.0
        assert worst <= atol, f"{case.system}/{case.name} {name}: max |diff| {worst:.3g} > atol {atol:.3g}"


@pytest.mark.parametrize("case_id", _CASES)
def test_conformance(case_id: str) -> None:
    system, stem = case_id.split("/")
    folder = conformance_dir() / system
    (case,) = [c for c in discover_one(folder, stem)]
    try:
        runner = importlib.import_module(f"tests.conformance.runners.{system}")
    except ModuleNotFoundError as exc:
        if exc.name == f"tests.conformance.runners.{system}":
            pytest.fail(f"no conformance runner for fixture folder {system!r} (tests/conformance/runners/{system}.py)")
        raise
    torch.manual_seed(0)
    with torch.no_grad():
        outputs = runner.run(case)
    getattr(runner, "compare", default_compare)(case, outputs)


def discover_one(folder, stem) -> list[Case]:
    from safetensors.torch import load_file

    meta = json.loads((folder / f"{stem}.json").read_text())
    tensors = load_file(str(folder / meta.get("tensors_file", f"{stem}.safetensors")))
    return [Case(folder.name, stem, folder, meta, tensors)]


__all__ = ["default_compare", "discover"]
