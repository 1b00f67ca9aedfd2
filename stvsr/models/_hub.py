"""The saved-folder format, in one place: writing (``save_pretrained``), reading (``config.json``
and the weights file) and the README model card.

A folder holds ``config.json`` (registry name, the model's ``config``, stvsr version, sha256 of
the weights, the card), ``model.safetensors`` (the state_dict, with the registry name and config in
its metadata) and ``README.md`` (a Hugging Face model card), ready for
``huggingface_hub.upload_folder``. ``stvsr.load(folder)`` / ``"hf-hub:org/repo"`` read it back
through :func:`read_folder` (the zoo fetches Hub folders and builds the model from the registry).

This module sits on the models floor, below the zoo, so that :meth:`StvsrModel.save_pretrained`
can be a thin call into it; it imports the registry and the capabilities, never a model file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from stvsr._version import __version__
from stvsr.models._capabilities import Capabilities, capabilities_of
from stvsr.models._registry import get_entry

__all__ = [
    "CONFIG_NAME",
    "FOLDER_FORMAT",
    "README_NAME",
    "WEIGHTS_NAME",
    "SavedFolder",
    "atomic_write_bytes",
    "file_sha256",
    "load_safetensors",
    "read_config",
    "read_folder",
    "render_model_card",
    "safetensors_metadata",
    "save_pretrained",
]

# layout of a save_pretrained folder
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
README_NAME = "README.md"
FOLDER_FORMAT = 1


# --- files -------------------------------------------------------------------------------------


def file_sha256(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _json_safe(value: Any) -> Any:
    """``value`` if JSON can hold it, recursively; drops what it cannot (callables, tensors)."""
    try:
        json.dumps(value, allow_nan=False)
        return value
    except (TypeError, ValueError):
        pass
    if isinstance(value, Mapping):
        out = {str(k): _json_safe(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not _DROP}
    if isinstance(value, (list, tuple)):
        return [v for v in (_json_safe(x) for x in value) if v is not _DROP]
    return _DROP


_DROP = object()


def load_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """Read a safetensors file on the CPU; a file that does not parse raises naming it."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise ValueError(f"{path} is not a readable safetensors file ({exc}); it may be truncated") from exc


def safetensors_metadata(path: Path) -> dict[str, str]:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError) as exc:
        raise ValueError(f"{path} is not a readable safetensors file ({exc}); it may be truncated") from exc



# --- writing -----------------------------------------------------------------------------------------


def save_pretrained(model: nn.Module, folder: str | os.PathLike[str], *, name: str | None = None) -> Path:
    """Write a model's folder (:meth:`stvsr.models.StvsrModel.save_pretrained`; any registry-built module
    with ``config``): ``config.json``, ``model.safetensors`` and the ``README.md`` card, each written
    to a temporary file and renamed."""
    from safetensors.torch import save as save_safetensors

    name = name or getattr(model, "registry_name", None)
    if not name:
        raise ValueError(
            f"save_pretrained needs the registry name of this {type(model).__name__}: build it with "
            "stvsr.load(name, ...) or pass name='...'"
        )
    entry = get_entry(name)
    config = getattr(model, "config", None)
    if not isinstance(config, Mapping):
        raise TypeError(f"{type(model).__name__}.config must be a dict of constructor arguments to save it")
    try:
        config_json = json.dumps(dict(config), sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{type(model).__name__}.config is not JSON-serialisable: {exc}") from exc
    tag = getattr(model, "weights_tag", None)
    tag = tag if tag in entry.weights else None
    caps = capabilities_of(model)  # the model's own (its config may differ from the entry's default)
    card = {**entry.tag_card(tag), **caps.card_fields()}

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    # clone: safetensors refuses tensors that share storage (tied weights, views)
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    metadata = {
        "format": "pt",
        "stvsr_registry_name": name,
        "stvsr_config": config_json,
        "stvsr_version": __version__,
    }
    data = save_safetensors(tensors, metadata=metadata)
    atomic_write_bytes(out / WEIGHTS_NAME, data)
    digest = hashlib.sha256(data).hexdigest()
    doc = {
        "library_name": "stvsr",
        "stvsr_version": __version__,
        "format_version": FOLDER_FORMAT,
        "registry_name": name,
        "tag": tag,
        "architecture": type(model).__name__,
        "config": json.loads(config_json),
        "weights": {"filename": WEIGHTS_NAME, "sha256": digest},
        "card": _json_safe(card),
    }
    atomic_write_bytes(out / CONFIG_NAME, (json.dumps(doc, indent=2) + "\n").encode())
    readme = render_model_card(name, card, caps, tag=tag, version=__version__)
    atomic_write_bytes(out / README_NAME, readme.encode())
    return out


# --- reading --------------------------------------------------------------------------------------


def read_config(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path} is not a readable JSON config: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("library_name") != "stvsr" or "registry_name" not in doc:
        raise ValueError(f"{path} is not an stvsr config.json (written by model.save_pretrained)")
    if int(doc.get("format_version", 1)) > FOLDER_FORMAT:
        raise ValueError(
            f"{path} was written by stvsr {doc.get('stvsr_version')} in folder format "
            f"{doc.get('format_version')}; this stvsr reads format {FOLDER_FORMAT}: upgrade stvsr"
        )
    return doc


@dataclass(frozen=True)
class SavedFolder:
    """What a folder's ``config.json`` records (:func:`read_folder`)."""

    doc: dict[str, Any]  # the whole config.json
    registry_name: str
    config: dict[str, Any]  # the model's constructor arguments
    tag: str | None  # the registry weight variant it was saved from, if any
    weights: Path  # the weights file (may be missing: the folder of an architecture only)
    sha256: str | None  # the weights' sha256 recorded in config.json


def read_folder(folder: Path) -> SavedFolder:
    """Read the ``config.json`` of a folder written by :func:`save_pretrained` (raises naming what is wrong)."""
    config_path = folder / CONFIG_NAME
    if not config_path.is_file():
        raise ValueError(
            f"{folder} is not a model folder written by save_pretrained (no {CONFIG_NAME}); for an authors' "
            "checkpoint use stvsr.load(NAME, weights=PATH) or `stvsr convert`"
        )
    doc = read_config(config_path)
    info = doc.get("weights", {})
    return SavedFolder(
        doc=doc,
        registry_name=str(doc["registry_name"]),
        config=dict(doc.get("config", {})),
        tag=doc.get("tag"),
        weights=folder / str(info.get("filename", WEIGHTS_NAME)),
        sha256=str(info["sha256"]) if info.get("sha256") else None,
    )


# --- the README card ---------------------------------------------------------------------------------


def _fmt(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return f"x{int(value)}"
    if isinstance(value, float):
        return f"x{value:g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value) + "]"
    return "-" if value is None else str(value)


#: a model card's fields in display order with their labels: the README of a saved folder and the
#: docs' model pages (``docs/hooks/stvsr_docs.py``) both render from it
CARD_FIELDS: tuple[tuple[str, str], ...] = (
    ("Paper", "paper"),
    ("Original code", "authors_repo"),
    ("Licence of the original code", "licence"),
    ("Task", "task"),
    ("Space scale", "space_scale"),
    ("Time stamps", "time"),
    ("Input frames", "input_frames"),
    ("Colour order", "colour"),
    ("Parameters", "params"),
    ("Conformance fixtures", "conformance"),
    ("Authors' files for the converter", "converter_inputs"),
    ("Weights", "weights_note"),
    ("Provenance", "provenance"),
    ("Training data", "training_data"),
)
# the README shows the paper in its own line and leaves out what only the docs need
_NOT_IN_README = frozenset({"paper", "conformance", "converter_inputs", "weights_note"})


def render_model_card(
    name: str, card: Mapping[str, Any], capabilities: Capabilities, *, tag: str | None = None, version: str = ""
) -> str:
    """A Hugging Face ``README.md`` (YAML front matter + sections) from a registry card and the capabilities."""
    caps = capabilities.card_fields()
    full = f"{name}.{tag}" if tag else name
    lic = str(card.get("licence") or "other")
    hf_licence = lic.lower() if re.match(r"^[A-Za-z0-9.\-]+$", lic) else "other"
    lines = ["---", "library_name: stvsr", f"license: {hf_licence}", "tags:", "- stvsr", "- video-super-resolution"]
    lines.append(f"- {capabilities.task}")
    lines += ["---", "", f"# {full}", ""]
    if card.get("summary"):
        lines += [str(card["summary"]), ""]
    lines += ["## Model details", ""]
    paper = card.get("paper")
    if isinstance(paper, Mapping):
        lines.append(f"- **Paper:** {paper.get('title', '?')} ({paper.get('venue', '?')}, {paper.get('year', '?')})")
    elif paper:
        lines.append(f"- **Paper:** {paper}")
    for label, key in CARD_FIELDS:
        if key in _NOT_IN_README:
            continue
        value = caps[key] if key in caps else card.get(key)
        if value is None:
            continue
        if key == "params" and isinstance(value, int):
            text = f"{value:,}"
        elif key in ("space_scale", "time"):
            text = _fmt(value)
        else:
            text = str(value)
        lines.append(f"- **{label}:** {text}")
    metrics = card.get("metrics") or []
    if metrics:
        lines += ["", "## Metrics", "", "| dataset | PSNR | SSIM | protocol |", "|---|---|---|---|"]
        for m in metrics:
            lines.append(
                f"| {m.get('dataset', '')} | {m.get('psnr', '')} | {m.get('ssim', '')} | {m.get('protocol', '')} |"
            )
    lines += [
        "",
        "## Usage",
        "",
        "```python",
        "import stvsr",
        "",
        f'model = stvsr.load("{full}")  # from the stvsr registry',
        'model = stvsr.load("hf-hub:<org>/<repo>")  # this folder on the Hub, or stvsr.load("<this folder>")',
        "```",
        "",
    ]
    if version:
        lines += [f"Saved with stvsr {version}.", ""]
    return "\n".join(lines)
