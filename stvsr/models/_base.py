"""What every stvsr model shares: a JSON-serialisable ``config``, ``save_pretrained``
(a Hugging Face-compatible folder) and strict loading of the authors' state_dicts
with an error that lists every mismatch."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from stvsr._version import __version__
from stvsr.models._capabilities import Capabilities, capabilities_of

# layout of a save_pretrained folder (read back by stvsr.load(folder) / "hf-hub:org/repo")
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
README_NAME = "README.md"
FOLDER_FORMAT = 1


class StvsrModel(nn.Module):
    """Base class of stvsr models.

    Subclasses store their constructor arguments in ``self.config`` (a dict of
    JSON-serialisable values) so that the zoo can save and rebuild them.
    """

    config: dict[str, Any]
    registry_name: str | None = None  # set by the registry / stvsr.load
    weights_tag: str | None = None  # the weight variant loaded (``name.tag``), if any
    #: True where ``forward`` announces its steps (:func:`stvsr._progress.steps`): progress bars then
    #: move from the first step of the first call, without a calibration run
    announces_steps: bool = False

    @property
    def capabilities(self) -> Capabilities:
        """What this model accepts (task, space scales, times, input frames, colour order).

        Every subclass answers from its own configuration, so a model built directly knows
        as much as one loaded from the registry.
        """
        raise NotImplementedError(f"{type(self).__name__} must define the `capabilities` property")

    def save_pretrained(self, folder: str | os.PathLike[str], *, name: str | None = None) -> Path:
        """Write a Hugging Face-compatible folder that ``stvsr.load(folder)`` reads back.

        The folder holds ``config.json`` (registry name, ``self.config``, stvsr
        version, sha256 of the weights, model card), ``model.safetensors`` (the
        state_dict) and ``README.md`` (a model card generated from the registry
        card), ready for ``huggingface_hub.upload_folder``. Each file is written to
        a temporary file and renamed, so an interrupted save leaves no half file.

        Args:
            folder: created if missing; existing files of this layout are replaced.
            name: registry name to record; defaults to ``self.registry_name`` (set when
                the model was built through the registry, ``stvsr.load`` or
                ``stvsr.convert_checkpoint``).

        Returns:
            The folder path.
        """
        return save_pretrained(self, folder, name=name)


class CheckpointError(ValueError):
    """A state_dict does not fit a model: lists missing, unexpected and mismatched keys."""


#: keys under which training frameworks wrap a state_dict (BasicSR / mmedit / Lightning / plain)
STATE_DICT_WRAPPERS = ("params", "params_ema", "state_dict", "model")


def unwrap_state_dict(obj: Any, *, what: str = "checkpoint") -> dict[str, torch.Tensor]:
    """The state_dict inside an authors' checkpoint: ``obj`` itself, or ``obj[w]`` for the first
    wrapper ``w`` of :data:`STATE_DICT_WRAPPERS` it has; DataParallel's ``module.`` prefix is removed.

    Raises:
        CheckpointError: what is left is not a mapping of names to tensors.
    """
    if isinstance(obj, Mapping):
        for wrapper in STATE_DICT_WRAPPERS:
            if wrapper in obj and isinstance(obj[wrapper], Mapping):
                obj = obj[wrapper]
                break
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{what} does not hold a state_dict (a mapping of names to tensors)")
    return {str(k).removeprefix("module."): v for k, v in obj.items()}


def load_state_dict_strict(
    model: nn.Module, state_dict: Mapping[str, torch.Tensor], *, what: str = "checkpoint"
) -> None:
    """Load ``state_dict`` into ``model`` requiring the exact key set and shapes.

    Raises :class:`CheckpointError` naming every missing, unexpected and
    shape-mismatched key (first 20 of each) instead of torch's partial message.
    """
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    mismatched = [
        f"{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state_dict and tuple(state_dict[k].shape) != tuple(own[k].shape)
    ]
    if missing or unexpected or mismatched:
        parts = []
        for label, items in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", mismatched)):
            if items:
                more = f" ... and {len(items) - 20} more" if len(items) > 20 else ""
                parts.append(f"{len(items)} {label}: " + ", ".join(items[:20]) + more)
        raise CheckpointError(f"{what} does not fit {type(model).__name__}: " + "; ".join(parts))
    with torch.no_grad():
        for k, v in own.items():
            v.copy_(state_dict[k].to(v.dtype))


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


def save_pretrained(model: nn.Module, folder: str | os.PathLike[str], *, name: str | None = None) -> Path:
    """Function form of :meth:`StvsrModel.save_pretrained` (any registry-built module with ``config``)."""
    from safetensors.torch import save as save_safetensors

    from stvsr.models._registry import get_entry, render_model_card

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
