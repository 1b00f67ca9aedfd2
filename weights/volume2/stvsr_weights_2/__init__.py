"""The second volume of stvsr's companion weights (see ``stvsr_weights``, the first, and ``ATTRIBUTION.md``).

stvsr finds this folder with ``importlib.util.find_spec`` (``stvsr.zoo._weights.companion_dirs``) without
importing it, and checks every file against its registry's sha256.
"""

from pathlib import Path

WEIGHTS_DIR = Path(__file__).resolve().parent
