"""Documentation checks: the building-block pages' examples run, and the generated parts build.

* Every ```python block of ``docs/blocks/*.md`` and ``docs/concepts/*.md`` is executed (the
  pages promise that their examples run as written). Blocks of one page share a namespace,
  in order. Snippets that are not meant to run as they stand (fragments, CUDA-only, global
  settings) are fenced as ```py instead, which renders the same.
* The docs hook's generated tables (model zoo, weights, cards, protocols, conformance) render
  for everything registered, so ``mkdocs build`` cannot fail on a newly registered model.
* Every notebook in ``examples/`` is valid nbformat, has no stored outputs, and explains each
  ``skip-execution`` cell in a markdown cell.
"""

from __future__ import annotations

import importlib.util
import json
import re
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
RUNNABLE_PAGES = sorted([*(DOCS / "blocks").glob("*.md"), *(DOCS / "concepts").glob("*.md")])


def _code_blocks(page: Path) -> list[str]:
    return BLOCK.findall(page.read_text())


@pytest.mark.parametrize("page", [p for p in RUNNABLE_PAGES if _code_blocks(p)], ids=lambda p: p.stem)
def test_page_examples_run(page: Path) -> None:
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    for i, code in enumerate(_code_blocks(page)):
        try:
            exec(compile(code, f"{page.relative_to(ROOT)}[block {i}]", "exec"), namespace)
        except Exception as exc:  # pragma: no cover - the message names the page and block
            raise AssertionError(f"{page.relative_to(ROOT)}, python block {i} failed: {exc!r}") from exc


def _hook():
    spec = importlib.util.spec_from_file_location("stvsr_docs_hook", DOCS / "hooks" / "stvsr_docs.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_tables_cover_the_registry() -> None:
    import stvsr

    hook = _hook()
    table = hook.expand("<!-- stvsr:zoo -->")
    for name in stvsr.list_models():
        assert f"`{name}`" in table, name
        card = hook.expand(f"<!-- stvsr:card {name} -->")
        assert f"`{name}`" in card
    assert "| variant |" in hook.expand("<!-- stvsr:weights -->")
    from stvsr.eval.protocols import PROTOCOLS

    protocols = hook.expand("<!-- stvsr:protocols -->")
    for name in PROTOCOLS:
        assert f"`{name}`" in protocols


def test_recorded_results_render_and_cover_the_zoo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every shipped (or assembled) zoo variant with an image task has a recorded Vid4 result."""
    import stvsr
    from stvsr.zoo._catalog import get_entry

    hook = _hook()
    docs = [json.loads(f.read_text()) for f in sorted((DOCS / "results").glob("*.json"))]
    recorded = {m for d in docs for m in d["models"]}
    for name in stvsr.list_models():
        entry = get_entry(name)
        if entry.card.get("task") not in ("stvsr", "vsr", "vfi"):
            continue
        for tag, source in entry.weights.items():
            if not (source.packaged or source.parts):
                continue  # built on demand (basicvsr.reds): recorded when built
            assert f"{name}.{tag}" in recorded or (tag == entry.default_tag and name in recorded), f"{name}.{tag}"
    text = hook.expand("<!-- stvsr:results -->")
    for d in docs:
        assert f"`{d['protocol']['name']}`" in text
        for model in d["models"]:
            assert f"`{model}`" in text
    monkeypatch.setattr(hook, "RESULTS_DIR", tmp_path)
    assert hook.expand("<!-- stvsr:results -->") == "No results recorded yet."


def test_every_conformance_folder_is_documented() -> None:
    hook = _hook()
    folders = sorted(p.name for p in (ROOT / "tests" / "data" / "conformance").iterdir() if p.is_dir())
    pages = "\n".join(p.read_text() for p in (DOCS / "models").glob("*.md"))
    documented = set()
    for marker in re.findall(r"<!--\s*stvsr:conformance ([^>]*?)\s*-->", pages):
        documented.update(marker.split())
        assert hook.expand(f"<!-- stvsr:conformance {marker} -->").count("\n") > 2
    missing = set(folders) - documented
    if missing:  # a new fixture folder should get a line on its model page; not a reason to block CI
        warnings.warn(f"conformance fixture folders not shown on any docs page: {sorted(missing)}", stacklevel=1)


def test_unknown_marker_fails() -> None:
    with pytest.raises(ValueError, match="unknown stvsr docs marker"):
        _hook().expand("<!-- stvsr:nonsense -->")


NOTEBOOKS = sorted((ROOT / "examples").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_clean(path: Path) -> None:
    nb = json.loads(path.read_text())
    assert nb.get("nbformat") == 4
    cells = nb["cells"]
    assert cells and cells[0]["cell_type"] == "markdown", "a notebook starts with a title cell"
    for i, cell in enumerate(cells):
        if cell["cell_type"] != "code":
            continue
        assert not cell.get("outputs") and cell.get("execution_count") is None, f"cell {i} has stored outputs"
        if "skip-execution" in cell.get("metadata", {}).get("tags", []):
            before = "".join(cells[i - 1]["source"]) if i > 0 and cells[i - 1]["cell_type"] == "markdown" else ""
            assert "skip" in before.lower(), f"cell {i} is tagged skip-execution without a markdown cell saying why"
