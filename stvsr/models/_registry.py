"""The model registry: dictionaries that the model files write into (timm style).

Registration is a dict write and nothing else: this module imports no model.
``stvsr/models/__init__.py`` imports every model file, so importing anything from
``stvsr.models`` (this module included) registers every model. The zoo registers
the weight variants (``stvsr/zoo/provenance/``) and reads the registry through
:mod:`stvsr.zoo._catalog`; a model file never imports the zoo. An entry holds the
builder, the converter for the authors' checkpoints, the model card and the weight
sources. What a model can do (task, scales, times, frames, colour) is not written
on the card: it is the model's :class:`~stvsr.models._capabilities.Capabilities`,
which :meth:`ModelEntry.tag_card` adds to the card it returns.

Registering a model (in ``stvsr/models/<system>.py``)::

    from stvsr.models._registry import register_model

    @register_model("basicvsr", converter=convert_basicvsr, card={...})
    def basicvsr(**overrides) -> BasicVSR:
        return BasicVSR(**{**DEFAULTS, **overrides})

Registering its weights (in ``stvsr/zoo/provenance/<system>.py``, imported by
``stvsr/zoo/provenance/__init__.py``)::

    from stvsr.models._registry import WeightSource, register_weights

    register_weights(
        "basicvsr", "vimeo_bi",
        WeightSource(
            filename="basicvsr.vimeo_bi.safetensors",
            sha256="<64 hex digits of the file>",
            packaged="basicvsr.vimeo_bi.safetensors",     # under stvsr/zoo/weights/, if shipped
            hf_repo="org/repo", hf_revision="<40-hex commit>",  # if on the Hugging Face Hub
            card={"training_data": "Vimeo-90K (BI)", "metrics": [...]},
        ),
        default=True,
    )

Contracts
---------
* **Builder**: ``builder(**overrides) -> nn.Module``. ``builder()`` gives the
  published configuration. The model's ``config`` attribute (see
  :class:`stvsr.models.StvsrModel`) must be accepted back as overrides:
  ``builder(**model.config)`` rebuilds an equivalent model (same state_dict keys
  and shapes). That is how ``save_pretrained`` folders are loaded. If that does
  not hold for a model, pass ``from_config=callable(config_dict) -> nn.Module``.
* **Converter**: ``converter(state_dict) -> nn.Module`` takes the authors'
  state_dict (``Mapping[str, Tensor]``, wrappers such as ``{"params": ...}``
  already removed) and returns the loaded model. A converter that needs several
  authors' files declares them in ``card["converter_inputs"]`` (an ordered
  ``{input_name: description}``, e.g. ``{"rescaler": "rescaler/model.pth",
  "inverter": "inverter/model.pth"}``); ``stvsr.convert_checkpoint`` and
  ``stvsr convert`` then call it with ``{input_name: state_dict}`` (one authors'
  state_dict per declared input, read with ``weights_only=True``).
* **Weights** (:class:`WeightSource`): stvsr-format safetensors, i.e. the
  state_dict of ``builder(**source.config)`` (``layout="stvsr"``), or the authors'
  state_dict stored as safetensors, passed through the converter
  (``layout="authors"``). ``sha256`` is the full hex digest of the file; every
  file is checked against it before use. A variant is addressed as ``name.tag``;
  ``register_weights(..., default=True)`` makes it what a bare ``name`` loads.

Card fields
-----------
Required on every entry (checked by ``tests/models/test_registry.py``):
``paper`` ({"title", "venue", "year"} or None for our own baselines),
``authors_repo``, ``licence`` (of the original code), ``params`` (int, exact),
``conformance`` (fixture folder or None), ``summary`` (one sentence).
:meth:`ModelEntry.tag_card` adds ``task``, ``space_scale``, ``time``,
``input_frames`` and ``colour`` from the model's capabilities.

Optional: ``training_data``; ``metrics`` (a list of ``{"dataset", "psnr", "ssim",
"protocol"}`` where ``protocol`` says how they were computed, e.g. "Y (BT.601),
crop 0, all frames, basicsr"); ``provenance`` (where the weights came from and how
they were converted); ``converter_inputs`` (above); ``weights_free`` (True for
parameter-free models: ``stvsr.load(name)`` builds them, nothing is loaded);
``test_config`` (builder overrides giving a tiny model for the registry test);
``test_input`` (how the registry test calls the model: ``{"inputs": {"lr": [B, T,
C, h, w], ...}, "kwargs": {...}, "method": None, "output_shape": [...] or None}``:
each input is a random tensor in [0, 1] of that shape, passed positionally in
order, ``kwargs`` by keyword, ``method`` names a method to call instead of
``forward``). Without ``test_input``, task "stvsr" is called as
``model(lr (1, 2, 3, 16, 16), scale=s, times=(0.5,))`` and "vsr" as
``model(lr (1, 3, 3, 16, 16))``; other tasks must declare ``test_input``.
Per-weight fields (metrics, training data, provenance) go in ``WeightSource.card``
and override the entry's card for that ``name.tag``.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from stvsr.models._capabilities import TASKS, Capabilities, capabilities_of

__all__ = [
    "REQUIRED_CARD_FIELDS",
    "TASKS",
    "ModelEntry",
    "WeightSource",
    "entries",
    "entry_names",
    "get_entry",
    "register_model",
    "register_weights",
]

Builder = Callable[..., nn.Module]
Converter = Callable[[Mapping[str, torch.Tensor]], nn.Module]
FromConfig = Callable[[Mapping[str, Any]], nn.Module]

REQUIRED_CARD_FIELDS = ("paper", "authors_repo", "licence", "params", "conformance", "summary")
#: card fields that come from the model's capabilities and must not be written on a card
CAPABILITY_FIELDS = ("task", "space_scale", "time", "input_frames", "colour")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_\-]*$")


@dataclass
class WeightSource:
    """Where the weights of one tagged variant (``name.tag``) live, and their checksum.

    The zoo looks for ``filename`` in this order: an explicit ``weights=`` path,
    ``$STVSR_HOME/weights/<filename>``, the Hugging Face Hub (``hf_repo`` at the
    pinned ``hf_revision``), then ``stvsr/zoo/weights/<packaged>``.
    """

    filename: str  # e.g. "msmr_arb.vimeo.safetensors"
    sha256: str  # full lowercase hex digest of the file
    hf_repo: str | None = None  # "org/repo" on the Hugging Face Hub
    hf_revision: str | None = None  # pinned commit of hf_repo
    packaged: str | None = None  # path relative to stvsr/zoo/weights/ when shipped with the package
    card: dict[str, Any] = field(default_factory=dict)  # per-variant card fields (metrics, data, ...)
    config: dict[str, Any] = field(default_factory=dict)  # builder overrides these weights need
    layout: str = "stvsr"  # "stvsr": state_dict of the stvsr model; "authors": goes through the converter
    # when no copy of ``filename`` is found: assemble the state_dict from other registered weights,
    # each part ``(model_prefix, "name.tag", source_prefix)`` taking the tensors of ``name.tag`` whose
    # key starts with ``source_prefix`` and renaming that prefix to ``model_prefix`` (so a composite
    # model, or a sub-network of a shipped model, costs no second copy of the same tensors)
    parts: tuple[tuple[str, str, str], ...] = ()
    # how to make ``filename`` when it is not shipped (a command line, shown in the not-found error)
    recipe: str | None = None

    def __post_init__(self) -> None:
        self.sha256 = self.sha256.lower()
        if not _SHA256.match(self.sha256):
            raise ValueError(f"WeightSource.sha256 must be 64 hex digits, got {self.sha256!r}")
        if not self.filename.endswith(".safetensors"):
            raise ValueError(f"WeightSource.filename must be a .safetensors file, got {self.filename!r}")
        if self.layout not in ("stvsr", "authors"):
            raise ValueError(f"WeightSource.layout must be 'stvsr' or 'authors', got {self.layout!r}")
        self.parts = tuple(tuple(p) for p in self.parts)  # type: ignore[misc]
        for part in self.parts:
            if len(part) != 3 or not all(isinstance(x, str) for x in part) or "." not in part[1]:
                raise ValueError(
                    f"WeightSource.parts entries must be (model_prefix, 'name.tag', source_prefix), got {part!r}"
                )


@dataclass
class ModelEntry:
    name: str
    builder: Builder
    converter: Converter | None = None
    card: dict[str, Any] = field(default_factory=dict)
    weights: dict[str, WeightSource] = field(default_factory=dict)  # tag -> source
    default_tag: str | None = None
    from_config: FromConfig | None = None
    _capabilities: dict[str | None, Capabilities] = field(default_factory=dict, repr=False)

    @property
    def weights_free(self) -> bool:
        """True for parameter-free models: there is nothing to load."""
        return bool(self.card.get("weights_free", False))

    def build(self, **overrides: Any) -> nn.Module:
        model = self.builder(**overrides)
        model.registry_name = self.name  # type: ignore[assignment]
        return model

    def build_from_config(self, config: Mapping[str, Any]) -> nn.Module:
        """Rebuild the model recorded by ``model.config`` (see the module docs)."""
        model = self.from_config(config) if self.from_config is not None else self.builder(**dict(config))
        model.registry_name = self.name  # type: ignore[assignment]
        return model

    def capabilities(self, tag: str | None = None) -> Capabilities:
        """The capabilities of the model this entry builds (for weight variant ``tag``: with its config).

        The model is built once, on the ``meta`` device where it can be (no memory, no
        initialisation cost), and asked; the answer is cached.
        """
        if tag not in self._capabilities:
            config = self.weights[tag].config if tag is not None else {}
            try:
                with torch.device("meta"):
                    model = self.builder(**config)
            except (NotImplementedError, RuntimeError):  # a builder that reads tensor values (.tolist())
                model = self.builder(**config)
            self._capabilities[tag] = capabilities_of(model)
        return self._capabilities[tag]

    def tag_card(self, tag: str | None) -> dict[str, Any]:
        """The entry's card updated with the fields of weight variant ``tag`` and the capabilities."""
        card = dict(self.card)
        if tag is not None:
            card.update(self.weights[tag].card)
        card.update(self.capabilities(tag).card_fields())
        return card


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(
    name: str,
    *,
    converter: Converter | None = None,
    card: Mapping[str, Any] | None = None,
    from_config: FromConfig | None = None,
) -> Callable[[Builder], Builder]:
    """Decorator registering ``builder(**overrides) -> nn.Module`` under ``name``.

    ``name`` is lower case (letters, digits, ``_``, ``-``); a dot separates a weight
    tag (``name.tag``), so names carry none.
    """
    if not _NAME.match(name):
        raise ValueError(f"model name must match {_NAME.pattern} (no dots: they separate tags), got {name!r}")

    def wrap(builder: Builder) -> Builder:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        written = sorted(set(card or {}) & set(CAPABILITY_FIELDS))
        if written:
            raise ValueError(f"card of {name!r} sets {written}: they come from the model's capabilities")
        _REGISTRY[name] = ModelEntry(
            name=name, builder=builder, converter=converter, card=dict(card or {}), from_config=from_config
        )
        return builder

    return wrap


def register_weights(name: str, tag: str, source: WeightSource, *, default: bool = False) -> None:
    """Attach weight variant ``name.tag``; ``default=True`` makes a bare ``name`` load it.

    The first variant registered is the default until another claims it.
    """
    if not _NAME.match(tag):
        raise ValueError(f"weight tag must match {_NAME.pattern}, got {tag!r}")
    entry = get_entry(name)
    if tag in entry.weights:
        raise ValueError(f"weights {name}.{tag} are registered twice")
    entry.weights[tag] = source
    if default or entry.default_tag is None:
        entry.default_tag = tag


def get_entry(name: str) -> ModelEntry:
    """The entry registered as ``name``; unknown names raise with close matches."""
    if name not in _REGISTRY:
        import difflib

        close = difflib.get_close_matches(name, list(_REGISTRY), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(f"unknown model {name!r}{hint} (`stvsr models` lists them; from Python: stvsr.list_models())")
    return _REGISTRY[name]


def entries() -> Mapping[str, ModelEntry]:
    """Every registered entry by name (a read-only view)."""
    from types import MappingProxyType

    return MappingProxyType(_REGISTRY)


def entry_names(pattern: str = "*") -> list[str]:
    """Registered names matching the shell-style ``pattern``, sorted."""
    return sorted(n for n in _REGISTRY if fnmatch.fnmatchcase(n, pattern))
