"""Parse the ``name`` argument of ``stvsr.load`` into a registry entry, a Hub repo or a path."""

from __future__ import annotations

import ast
import difflib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from stvsr.zoo._catalog import entries

HUB_PREFIX = "hf-hub:"
LOCAL_PREFIXES = ("local:", "local-dir:")
# suffixes that make a string look like a weights file rather than a registry name
WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".pkl", ".ckpt", ".bin", ".tar")
_REPO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*/[A-Za-z0-9][A-Za-z0-9_.\-]*$")


@dataclass(frozen=True)
class ModelSpec:
    """What a ``name`` refers to: ``kind`` "registry" (``name``, ``tag``), "hub" (``repo``,
    ``revision``) or "local" (``path``)."""

    kind: Literal["registry", "hub", "local"]
    name: str | None = None
    tag: str | None = None
    repo: str | None = None
    revision: str | None = None
    path: Path | None = None

    @property
    def display(self) -> str:
        if self.kind == "registry":
            return f"{self.name}.{self.tag}" if self.tag else str(self.name)
        if self.kind == "hub":
            return f"{HUB_PREFIX}{self.repo}" + (f"@{self.revision}" if self.revision else "")
        return str(self.path)


def _looks_like_model_path(p: Path) -> bool:
    # a folder only counts when it holds a save_pretrained layout, so a folder that merely
    # shares a model's name (e.g. a clone of the authors' repo) never shadows the registry
    if p.is_dir():
        return (p / "config.json").is_file() or (p / "model.safetensors").is_file()
    return p.is_file()


def _registry_candidates() -> list[str]:
    registry = entries()
    names = list(registry)
    names += [f"{n}.{t}" for n, e in registry.items() for t in e.weights]
    return names


def unknown_name_error(name: str) -> ValueError:
    close = difflib.get_close_matches(name, _registry_candidates(), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return ValueError(f"unknown model {name!r}{hint} (`stvsr models` lists them; from Python: stvsr.list_models())")


_OPTIONS = re.compile(r"^(?P<base>[A-Za-z0-9_.\-]+)\((?P<args>.*)\)$", re.S)


def split_options(name: str) -> tuple[str, dict[str, object]]:
    """``"rife_basicvsr(order=vsr_first, tta='hflip')"`` -> ``("rife_basicvsr", {"order": ..., ...})``.

    The spelling that :func:`stvsr.eval` records for a model built with overrides, so that a
    results file names something ``stvsr.load`` / the CLI accept again. Values are Python
    literals; a bare word is a string. Only registry names take options: anything else
    (a path that happens to contain parentheses) comes back unchanged with no options.
    """
    m = _OPTIONS.match(name.strip())
    if m is None:
        return name, {}
    base = m["base"]
    if base not in entries() and base.partition(".")[0] not in entries():
        return name, {}
    try:
        call = ast.parse(f"_({m['args']})", mode="eval").body
    except SyntaxError as exc:
        raise ValueError(f"model options in {name!r} must read 'key=value, ...': {exc.msg}") from None
    assert isinstance(call, ast.Call)
    if call.args or any(k.arg is None for k in call.keywords):
        raise ValueError(f"model options in {name!r} must all be 'key=value' (got a positional or ** argument)")
    options: dict[str, object] = {}
    for k in call.keywords:
        assert k.arg is not None
        if isinstance(k.value, ast.Name):
            options[k.arg] = k.value.id
            continue
        try:
            options[k.arg] = ast.literal_eval(k.value)
        except ValueError:
            raise ValueError(
                f"model option {k.arg!r} in {name!r} must be a literal (number, string, bool, tuple), "
                f"got {ast.unparse(k.value)!r}"
            ) from None
    return base, options


def parse_name(name: str | os.PathLike[str]) -> ModelSpec:
    """Resolve ``name`` (see :func:`stvsr.load`) without loading anything.

    Raises:
        ValueError: unknown registry name or tag (with close matches), a malformed
            ``hf-hub:`` name, or a string that is both a registry name and a model path.
        FileNotFoundError: an explicit ``local:`` path, or a string that can only be a
            path, that does not exist.
    """
    if isinstance(name, os.PathLike):
        path = Path(name).expanduser()
        if not path.exists():
            raise FileNotFoundError(f"no such model file or folder: {path}")
        return ModelSpec("local", path=path)
    if not isinstance(name, str):
        raise TypeError(f"name must be a str or a path, got {type(name).__name__}")
    if not name:
        raise ValueError("name must not be empty (stvsr.list_models() lists the registry)")
    name = split_options(name)[0]  # "entry(key=value)": the options are the builder's business
    if name.startswith(HUB_PREFIX):
        rest = name[len(HUB_PREFIX) :]
        repo, _, revision = rest.partition("@")
        if not _REPO.match(repo) or (_ and not revision):
            raise ValueError(f"expected 'hf-hub:org/repo' or 'hf-hub:org/repo@revision', got {name!r}")
        return ModelSpec("hub", repo=repo, revision=revision or None)
    for prefix in LOCAL_PREFIXES:
        if name.startswith(prefix):
            path = Path(name[len(prefix) :]).expanduser()
            if not path.exists():
                raise FileNotFoundError(f"no such model file or folder: {path} (from {name!r})")
            return ModelSpec("local", path=path)

    known = entries()
    registry: ModelSpec | None = None
    if name in known:
        registry = ModelSpec("registry", name=name)
    else:
        base, dot, tag = name.partition(".")
        if dot and base in known:
            entry = known[base]
            if tag not in entry.weights and not Path(name).expanduser().exists():
                tags = ", ".join(sorted(entry.weights)) or "none"
                close = difflib.get_close_matches(tag, list(entry.weights), n=1, cutoff=0.5)
                hint = f"; did you mean '{base}.{close[0]}'?" if close else ""
                raise ValueError(f"model {base!r} has no weights tagged {tag!r}{hint} (tags: {tags})")
            if tag in entry.weights:
                registry = ModelSpec("registry", name=base, tag=tag)

    path = Path(name).expanduser()
    is_path = _looks_like_model_path(path)
    if registry is not None and is_path:
        raise ValueError(
            f"{name!r} is both a registered model and the model path {path.resolve()}; write "
            f"'local:{name}' to load the path, or rename/move it to load the registry model"
        )
    if registry is not None:
        return registry
    if is_path or path.exists():
        return ModelSpec("local", path=path)
    if "/" in name or os.sep in name or name.lower().endswith(WEIGHT_SUFFIXES):
        hub = f"; for a Hugging Face repo write 'hf-hub:{name}'" if _REPO.match(name) else ""
        raise FileNotFoundError(f"no such model file or folder: {path} (and {name!r} is no registry name){hub}")
    raise unknown_name_error(name)
