"""``stvsr.load``, ``stvsr.list_models`` and ``stvsr.model_card``."""

from __future__ import annotations

import fnmatch
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from stvsr._validate import check_dtype
from stvsr.models._base import CONFIG_NAME, FOLDER_FORMAT, WEIGHTS_NAME, load_state_dict_strict
from stvsr.zoo._catalog import ModelEntry, entries, get_entry
from stvsr.zoo._names import ModelSpec, parse_name, split_options
from stvsr.zoo._weights import (
    NoPretrainedWeightsError,
    WeightsNotFoundError,
    hub_cache_display,
    hub_download,
    load_safetensors,
    no_weights_message,
    registry_state,
    safetensors_metadata,
    verify_sha256,
)

__all__ = ["list_models", "load", "model_card"]

_AUTHORS_SUFFIXES = (".pth", ".pt", ".pkl", ".ckpt", ".bin", ".tar")


def load(
    name: str | os.PathLike[str],
    pretrained: bool = True,
    *,
    weights: str | os.PathLike[str] | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype | str | None = None,
    revision: str | None = None,
    **overrides: Any,
) -> nn.Module:
    """Build a model, load its weights, and return it in eval mode.

    Args:
        name: a registry name (``"msmr_arb"``: its default weights), a weight variant
            (``"basicvsr.vimeo_bi"``), ``"hf-hub:org/repo[@revision]"`` (a folder written
            by ``save_pretrained`` on the Hugging Face Hub), or a local ``save_pretrained``
            folder or ``.safetensors`` file (``"local:PATH"``, or a bare path that cannot be
            mistaken for a registry name). ``stvsr.list_models()`` lists the registry.
            A registry name may carry builder options, ``"rife_basicvsr(order=vsr_first)"``
            (the spelling evaluation results record; same as ``order="vsr_first"`` below).
        pretrained: load weights. ``False`` gives a randomly initialised model (for a
            registry name) or the architecture of a folder without its weights.
        weights: registry names only: an explicit weights file used instead of the
            registered ones: a ``.safetensors`` state_dict of the stvsr model (or of the
            authors' model, detected and converted), an authors' ``.pth``/``.pkl``
            (read with ``weights_only=True`` and converted), or a ``save_pretrained``
            folder. Checked by strict key/shape matching (it is your file, so the
            registry's sha256 does not apply).
        device: where to put the model (default: CPU).
        dtype: floating dtype of the parameters (``torch.float16``, ``"bfloat16"``, ...).
        revision: Hugging Face revision (branch, tag or commit) overriding the pinned
            or ``@revision`` one.
        **overrides: builder arguments (e.g. runtime options) applied over the recorded
            configuration; ones that change parameter shapes make loading fail.

    Returns:
        The ``nn.Module`` in eval mode. Registry models carry ``registry_name`` and,
        when weights were loaded from the registry, ``weights_tag``.

    Raises:
        ValueError: unknown name (with close matches), no weights registered for
            ``pretrained=True``, weights that do not fit (every bad key listed).
        stvsr.zoo.WeightsNotFoundError: no copy of the weights found (the message says
            which file to place where); stvsr.zoo.WeightsChecksumError: a file with the
            wrong sha256.
    """
    torch_dtype = _as_dtype(dtype)
    if isinstance(name, str):
        name, options = split_options(name)
        clash = sorted(set(options) & set(overrides))
        if clash:
            raise ValueError(f"{', '.join(clash)} given both in the name and as keyword arguments; give each once")
        overrides = {**options, **overrides}
    spec = parse_name(name)
    if spec.kind == "registry":
        model = _load_registry(spec, pretrained, weights, revision, overrides)
    else:
        if weights is not None:
            raise ValueError(f"weights= only applies to registry names, not to {spec.display!r}")
        if spec.kind == "hub":
            folder = _fetch_hub_folder(spec, revision, pretrained)
            model = _load_folder(folder, pretrained, overrides, what=spec.display)
        else:
            assert spec.path is not None
            model = _load_path(spec.path, pretrained, overrides)
    model.eval()
    if device is not None or torch_dtype is not None:
        model.to(device=device, dtype=torch_dtype)
    return model


def _as_dtype(dtype: torch.dtype | str | None) -> torch.dtype | None:
    return None if dtype is None else check_dtype(dtype, "dtype")


# --- registry names ---------------------------------------------------------------------------


def _load_registry(
    spec: ModelSpec, pretrained: bool, weights: Any, revision: str | None, overrides: dict[str, Any]
) -> nn.Module:
    assert spec.name is not None
    entry = get_entry(spec.name)
    tag = spec.tag
    if not pretrained:
        if weights is not None:
            raise ValueError("weights= was given with pretrained=False; drop one of them")
        config = entry.weights[tag].config if tag else {}
        return entry.build(**{**config, **overrides})
    if weights is not None:
        return _load_explicit(entry, tag, Path(weights).expanduser(), overrides)
    if entry.weights_free and tag is None:
        return entry.build(**overrides)
    tag = tag or entry.default_tag
    if tag is None:
        raise NoPretrainedWeightsError(no_weights_message(entry))
    source = entry.weights[tag]
    state, where = registry_state(entry, tag, revision=revision)
    if source.layout == "authors":
        model = _convert(entry, state, overrides, what=where)
    else:
        model = entry.build(**{**source.config, **overrides})
        load_state_dict_strict(model, state, what=f"weights {where}")
    model.weights_tag = tag  # type: ignore[assignment]
    return model


def _convert(entry: ModelEntry, state: Mapping[str, torch.Tensor], overrides: dict[str, Any], what: str) -> nn.Module:
    if entry.converter is None:
        raise ValueError(f"{what} holds authors' weights but model {entry.name!r} has no converter")
    if overrides:
        raise ValueError(
            f"overrides {sorted(overrides)} cannot be applied to a converted authors' checkpoint "
            "(its configuration is read from the checkpoint)"
        )
    model = entry.converter(state)
    model.registry_name = entry.name  # type: ignore[assignment]
    return model


def _load_explicit(entry: ModelEntry, tag: str | None, path: Path, overrides: dict[str, Any]) -> nn.Module:
    if not path.exists():
        raise FileNotFoundError(f"weights file not found: {path}")
    if path.is_dir():
        model = _load_folder(path, True, overrides, what=str(path))
        if getattr(model, "registry_name", None) != entry.name:
            raise ValueError(f"{path} holds a {model.registry_name!r} model, not {entry.name!r}")
        return model
    if path.suffix.lower() in _AUTHORS_SUFFIXES:
        from stvsr.zoo.convert import load_authors_checkpoint

        return _convert(entry, load_authors_checkpoint(path), overrides, what=str(path))
    if path.suffix.lower() != ".safetensors":
        raise ValueError(f"weights must be a .safetensors file, an authors' .pth/.pkl or a folder, got {path}")
    meta = safetensors_metadata(path)
    state = load_safetensors(path)
    if "stvsr_config" in meta:
        config = json.loads(meta["stvsr_config"])
    else:
        known = tag or entry.default_tag
        config = dict(entry.weights[known].config) if known else {}
    model = entry.build_from_config({**config, **overrides})
    try:
        load_state_dict_strict(model, state, what=f"weights {path}")
    except ValueError as stvsr_error:
        if entry.converter is None or "stvsr_config" in meta:
            raise
        try:  # not our layout: maybe the authors' state_dict saved as safetensors
            return _convert(entry, state, overrides, what=str(path))
        except Exception:
            raise stvsr_error from None
    return model


# --- folders written by save_pretrained (local or on the Hub) ----------------------------------


def _fetch_hub_folder(spec: ModelSpec, revision: str | None, pretrained: bool) -> Path:
    assert spec.repo is not None
    rev = revision or spec.revision
    config_path, why = hub_download(spec.repo, CONFIG_NAME, rev)
    if config_path is None:
        raise _hub_missing(spec.repo, rev, CONFIG_NAME, why)
    if pretrained:
        doc = _read_config(config_path)
        filename = str(doc.get("weights", {}).get("filename", WEIGHTS_NAME))
        weights_path, why = hub_download(spec.repo, filename, rev)
        if weights_path is None:
            raise _hub_missing(spec.repo, rev, filename, why)
    return config_path.parent


def _hub_missing(repo: str, revision: str | None, filename: str, why: str) -> FileNotFoundError:
    rev = f" --revision {revision}" if revision else ""
    return WeightsNotFoundError(
        f"hf-hub:{repo}{'@' + revision if revision else ''}: {filename} not available ({why}). On a connected "
        f"machine run `hf download {repo}{rev}` with the same HF cache ({hub_cache_display()}), or download the "
        f"repository folder and stvsr.load('local:FOLDER')"
    )


def _read_config(path: Path) -> dict[str, Any]:
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


def _entry_for(doc: Mapping[str, Any], what: str) -> ModelEntry:
    try:
        return get_entry(str(doc["registry_name"]))
    except ValueError as exc:
        raise ValueError(
            f"{what} needs model {doc['registry_name']!r} (saved by stvsr {doc.get('stvsr_version')}): {exc}"
        ) from None


def _load_folder(folder: Path, pretrained: bool, overrides: dict[str, Any], *, what: str) -> nn.Module:
    config_path = folder / CONFIG_NAME
    if not config_path.is_file():
        raise ValueError(
            f"{folder} is not a model folder written by save_pretrained (no {CONFIG_NAME}); for an authors' "
            "checkpoint use stvsr.load(NAME, weights=PATH) or `stvsr convert`"
        )
    doc = _read_config(config_path)
    entry = _entry_for(doc, what)
    model = entry.build_from_config({**doc.get("config", {}), **overrides})
    tag = doc.get("tag")
    if not pretrained:
        return model
    info = doc.get("weights", {})
    weights_path = folder / str(info.get("filename", WEIGHTS_NAME))
    if not weights_path.is_file():
        raise FileNotFoundError(f"{what}: weights file {weights_path} is missing")
    if info.get("sha256"):
        verify_sha256(weights_path, str(info["sha256"]), f"{what} in its {CONFIG_NAME}")
    load_state_dict_strict(model, load_safetensors(weights_path), what=f"weights {weights_path}")
    model.weights_tag = tag  # type: ignore[assignment]
    return model


def _load_path(path: Path, pretrained: bool, overrides: dict[str, Any]) -> nn.Module:
    if path.is_dir():
        return _load_folder(path, pretrained, overrides, what=str(path))
    suffix = path.suffix.lower()
    if suffix == ".json" and path.name == CONFIG_NAME:
        return _load_folder(path.parent, pretrained, overrides, what=str(path.parent))
    if suffix in _AUTHORS_SUFFIXES:
        raise ValueError(
            f"{path} is an authors' checkpoint: its architecture cannot be guessed; use "
            f"stvsr.load(NAME, weights={str(path)!r}) or `stvsr convert NAME {path} -o FOLDER`"
        )
    if suffix != ".safetensors":
        raise ValueError(f"cannot load {path}: expected a save_pretrained folder or a .safetensors file")
    meta = safetensors_metadata(path)
    if "stvsr_registry_name" in meta:
        entry = _entry_for({"registry_name": meta["stvsr_registry_name"]}, str(path))
        config = json.loads(meta.get("stvsr_config", "{}"))
    elif (path.parent / CONFIG_NAME).is_file():
        doc = _read_config(path.parent / CONFIG_NAME)
        entry, config = _entry_for(doc, str(path)), doc.get("config", {})
    else:
        raise ValueError(
            f"{path} records no stvsr architecture (no metadata, no {CONFIG_NAME} beside it); "
            f"use stvsr.load(NAME, weights={str(path)!r})"
        )
    model = entry.build_from_config({**config, **overrides})
    if pretrained:
        load_state_dict_strict(model, load_safetensors(path), what=f"weights {path}")
    return model


# --- listing and cards --------------------------------------------------------------------------


def _patterns(pattern: str | Iterable[str]) -> list[str]:
    return [pattern] if isinstance(pattern, str) else list(pattern)


def list_models(
    pattern: str | Iterable[str] = "*", pretrained: bool | None = None, *, task: str | None = None
) -> list[str]:
    """Registry names matching fnmatch ``pattern`` (or any of several patterns).

    Args:
        pattern: e.g. ``"msmr*"``, ``"*basicvsr*"``, ``["rife*", "*vsr"]``.
        pretrained: None lists every entry; True lists what loads with weights:
            ``name.tag`` for each weight variant (the pattern may match the bare name
            or ``name.tag``) plus parameter-free entries by bare name; False lists
            entries without weights (architectures only).
        task: keep entries whose capabilities' ``task`` equals this ("stvsr", "vsr", ...).
    """
    pats = _patterns(pattern)

    def match(*candidates: str) -> bool:
        return any(fnmatch.fnmatchcase(c, p) for c in candidates for p in pats)

    out: list[str] = []
    registry = entries()
    for name in sorted(registry):
        entry = registry[name]
        if task is not None and entry.capabilities().task != task:
            continue
        if pretrained is None:
            if match(name):
                out.append(name)
        elif pretrained:
            if entry.weights_free and match(name):
                out.append(name)
            out += [f"{name}.{t}" for t in sorted(entry.weights) if match(name, f"{name}.{t}")]
        elif not entry.weights and not entry.weights_free and match(name):
            out.append(name)
    return out


def model_card(name: str | os.PathLike[str]) -> dict[str, Any]:
    """The card of a model: paper, licence, task, scales, params, metrics with their protocol, ...

    For a registry name the entry's card is merged with its weight variant's (the
    default one for a bare name) and gains ``name``, ``tag``, ``tags`` and
    ``weights`` (filename, sha256, Hub repo/revision, packaged path). For a
    ``save_pretrained`` folder or ``hf-hub:`` repo it is the card recorded in its
    ``config.json``.
    """
    spec = parse_name(name)
    if spec.kind == "registry":
        assert spec.name is not None
        entry = get_entry(spec.name)
        tag = spec.tag or entry.default_tag
        card = entry.tag_card(tag)
        card.update(name=entry.name, tag=tag, tags=sorted(entry.weights), weights_free=entry.weights_free)
        if tag is not None:
            src = entry.weights[tag]
            card["weights"] = {
                "filename": src.filename,
                "sha256": src.sha256,
                "hf_repo": src.hf_repo,
                "hf_revision": src.hf_revision,
                "packaged": src.packaged,
                "layout": src.layout,
                "parts": [list(x) for x in src.parts],
                "recipe": src.recipe,
            }
        return card
    if spec.kind == "hub":
        folder = _fetch_hub_folder(spec, None, pretrained=False)
    else:
        assert spec.path is not None
        folder = spec.path if spec.path.is_dir() else spec.path.parent
    doc = _read_config(folder / CONFIG_NAME)
    card = dict(doc.get("card") or {})
    card.update(name=doc["registry_name"], tag=doc.get("tag"), source=spec.display, weights=doc.get("weights"))
    return card
