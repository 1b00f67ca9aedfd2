"""What every stvsr model shares: a JSON-serialisable ``config``, ``save_pretrained`` (a Hugging
Face-compatible folder; the format lives in :mod:`stvsr.models._hub`), the checkpoint key filter
and strict loading of state_dicts with an error that lists every mismatch."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from stvsr.models import _hub
from stvsr.models._capabilities import Capabilities


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

    def __init__(self) -> None:
        super().__init__()
        # torch's own load_state_dict (training resumes, EMA, tools) maps keys like the zoo does
        self._register_load_state_dict_pre_hook(_filter_on_load, with_module=True)

    def filter_state_dict(self, state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Map other key layouts of this model's checkpoints onto its module names (timm's ``checkpoint_filter_fn``).

        Every load goes through it (:func:`load_state_dict_strict`, hence converters, ``stvsr.load``
        and saved folders, and ``load_state_dict``), so module names stay clean while the authors'
        layout and the files written by earlier stvsr versions keep loading. Keys already in this
        model's layout must pass unchanged. The default changes nothing.
        """
        return dict(state_dict)

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
        return _hub.save_pretrained(self, folder, name=name)


def _has_filter(module: nn.Module) -> bool:
    return isinstance(module, StvsrModel) and type(module).filter_state_dict is not StvsrModel.filter_state_dict


def _apply_filter(module: StvsrModel, state_dict: dict[str, torch.Tensor], prefix: str) -> None:
    """Replace the keys of ``state_dict`` under ``prefix`` by ``module.filter_state_dict`` of them (in place)."""
    own = {k[len(prefix):]: state_dict.pop(k) for k in [k for k in state_dict if k.startswith(prefix)]}
    state_dict.update({prefix + k: v for k, v in module.filter_state_dict(own).items()})


def _filter_on_load(module: nn.Module, state_dict: dict[str, torch.Tensor], prefix: str, *_: Any) -> None:
    if _has_filter(module):
        assert isinstance(module, StvsrModel)
        _apply_filter(module, state_dict, prefix)


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

    The keys first go through ``filter_state_dict`` of every :class:`StvsrModel` in ``model``
    (the authors' or an earlier stvsr layout mapped onto the module names).

    Raises :class:`CheckpointError` naming every missing, unexpected and
    shape-mismatched key (first 20 of each) instead of torch's partial message.
    """
    filters = [(name, m) for name, m in model.named_modules() if _has_filter(m)]
    if filters:
        state_dict = dict(state_dict)
        for name, m in filters:
            assert isinstance(m, StvsrModel)
            _apply_filter(m, state_dict, f"{name}." if name else "")
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
