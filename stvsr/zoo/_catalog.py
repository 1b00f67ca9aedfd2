"""The zoo's registry: every model registered (``stvsr.models``) and every weight variant attached
(``stvsr.zoo.provenance``). Everything above the models floor reads registry entries from here."""

from __future__ import annotations

import stvsr.zoo.provenance  # noqa: F401  (imports the models, then registers their weights)
from stvsr.models._capabilities import Capabilities
from stvsr.models._hub import render_model_card
from stvsr.models._registry import (
    REQUIRED_CARD_FIELDS,
    TASKS,
    ModelEntry,
    WeightSource,
    entries,
    entry_names,
    get_entry,
)

__all__ = [
    "REQUIRED_CARD_FIELDS",
    "TASKS",
    "Capabilities",
    "ModelEntry",
    "WeightSource",
    "entries",
    "entry_names",
    "get_entry",
    "render_model_card",
]
