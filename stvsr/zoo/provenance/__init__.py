"""Where the zoo's weights come from: one module per system registers its weight variants
(file name, sha256, where to find or how to build the file, provenance, training record,
figures) with :func:`stvsr.models._registry.register_weights`.

Model files hold architecture only; importing this package (the zoo does, through
:mod:`stvsr.zoo._catalog`) attaches the weights to the registered models.
"""

from __future__ import annotations

import stvsr.models  # noqa: F401  (registers every model first)
from stvsr.zoo.provenance import basicvsr, fmu, msitf, msmr, rife, rife_basicvsr, safa  # noqa: F401
