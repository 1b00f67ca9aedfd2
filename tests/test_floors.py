"""The package's floors: every ``stvsr`` module imports only from its own floor or the ones below,
and no set of modules imports itself round (docs/architecture.md draws the floors).

Floors, bottom to top::

    0  stvsr._version, stvsr._validate, stvsr._geometry, stvsr._formats
    1  stvsr.ops, stvsr.metrics
    2  stvsr.layers
    3  stvsr.models (with the registry and the capabilities)
    4  stvsr.zoo (weights, provenance, hub, converters)
    5  stvsr.video, stvsr.eval, stvsr.train
    6  stvsr.cli, stvsr.__main__, ``*.commands``, the top-level ``stvsr`` package (its public façade)

Every import counts, those inside functions too (a lazy import is still a dependency). The
implicit import of a parent package (``import stvsr.models.x`` runs ``stvsr/models/__init__.py``)
is not an edge: it is how Python finds the module, not something the module uses.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "stvsr"

FLOORS: tuple[tuple[str, int], ...] = (  # longest matching prefix wins
    ("stvsr._version", 0),
    ("stvsr._validate", 0),
    ("stvsr._geometry", 0),
    ("stvsr._formats", 0),
    ("stvsr._malloc", 0),
    ("stvsr._device", 0),
    ("stvsr._cli_types", 0),
    ("stvsr._progress", 0),
    ("stvsr.ops", 1),
    ("stvsr.metrics", 1),
    ("stvsr.layers", 2),
    ("stvsr.models", 3),
    ("stvsr.zoo", 4),
    ("stvsr.zoo.cli", 6),
    ("stvsr.video", 5),
    ("stvsr.video.commands", 6),
    ("stvsr.eval", 5),
    ("stvsr.eval.commands", 6),
    ("stvsr.train", 5),
    ("stvsr.export", 5),
    ("stvsr.train.commands", 6),
    ("stvsr.train.__main__", 6),
    ("stvsr.cli", 6),
    ("stvsr.__main__", 6),
)
PACKAGE_FLOOR = 6  # ``stvsr`` itself: the public façade (a new top-level module must be listed above)


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def floor_of(module: str) -> int:
    if module == "stvsr":
        return PACKAGE_FLOOR
    best, floor = -1, None
    for prefix, f in FLOORS:
        if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
            best, floor = len(prefix), f
    assert floor is not None, f"{module} is on no floor: add it to FLOORS"
    return floor


def import_graph(root: Path = ROOT) -> dict[str, set[tuple[str, int]]]:
    """``module -> {(imported stvsr module, line)}`` from the source (ast), every import statement."""
    paths = {module_name(p, root): p for p in root.rglob("*.py")}

    def known(name: str) -> str:
        while name and name not in paths:  # ``from stvsr.x import name``: name may be a module or an attribute
            name = name.rpartition(".")[0]
        return name

    graph: dict[str, set[tuple[str, int]]] = {}
    for mod, path in paths.items():
        edges: set[tuple[str, int]] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    pkg = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
                    for _ in range(node.level - 1):
                        pkg = pkg.rpartition(".")[0]
                    base = f"{pkg}.{base}" if base else pkg
                targets = [f"{base}.{a.name}" for a in node.names]
            else:
                continue
            for t in targets:
                if t == "stvsr" or t.startswith("stvsr."):
                    target = known(t)
                    if target and target != mod:
                        edges.add((target, node.lineno))
        graph[mod] = edges
    return graph


def upward_imports(graph: dict[str, set[tuple[str, int]]]) -> list[str]:
    return sorted(
        f"{mod}:{line} imports {target} (floor {floor_of(mod)} -> {floor_of(target)})"
        for mod, edges in graph.items()
        for target, line in edges
        if floor_of(target) > floor_of(mod)
    )


def cycles(graph: dict[str, set[tuple[str, int]]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    adj = {m: sorted({t for t, _ in e}) for m, e in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in adj.get(v, []):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(adj):
        if v not in index:
            visit(v)
    return out


def test_every_module_is_on_a_floor() -> None:
    for mod in import_graph():
        floor_of(mod)


def test_no_upward_import() -> None:
    bad = upward_imports(import_graph())
    assert not bad, "imports from a higher floor:\n" + "\n".join(bad)


def test_no_import_cycle() -> None:
    found = cycles(import_graph())
    assert not found, f"import cycles: {found}"


def test_the_scan_sees_violations(tmp_path: Path) -> None:
    # a model file importing the zoo, and two modules importing each other, are both caught
    pkg = tmp_path / "stvsr"
    (pkg / "models").mkdir(parents=True)
    (pkg / "zoo").mkdir()
    for f in ("__init__.py", "models/__init__.py", "zoo/__init__.py"):
        (pkg / f).write_text("")
    (pkg / "models" / "a.py").write_text("def f():\n    from stvsr.zoo import b\n")
    (pkg / "zoo" / "b.py").write_text("from stvsr.zoo.c import x\n")
    (pkg / "zoo" / "c.py").write_text("from . import b\nx = 1\n")
    graph = import_graph(pkg)
    assert upward_imports(graph) == ["stvsr.models.a:2 imports stvsr.zoo.b (floor 3 -> 4)"]
    assert cycles(graph) == [["stvsr.zoo.b", "stvsr.zoo.c"]]


@pytest.mark.parametrize("module", ["stvsr.models._base", "stvsr.zoo._weights"])
def test_no_module_below_the_top_imports_the_package_facade(module: str) -> None:
    targets = {t for t, _ in import_graph()[module]}
    assert "stvsr" not in targets
