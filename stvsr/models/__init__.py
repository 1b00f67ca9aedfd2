"""Published STVSR systems, one file each (config, specific blocks, model, registration).

Importing this package imports every model module in this folder (files whose
name does not start with ``_``), which registers each configuration in
:mod:`stvsr.models._registry`, and re-exports the names in each module's ``__all__``
(``stvsr.models.MsMr``, ``stvsr.models.CVRS``, ...).
"""

from __future__ import annotations

import importlib
import pkgutil

from stvsr.models._base import CheckpointError, StvsrModel, load_state_dict_strict

__all__ = ["CheckpointError", "StvsrModel", "load_state_dict_strict"]

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if _info.name.startswith("_"):
        continue
    _module = importlib.import_module(f"{__name__}.{_info.name}")
    for _name in getattr(_module, "__all__", ()):
        globals()[_name] = getattr(_module, _name)
        __all__.append(_name)
