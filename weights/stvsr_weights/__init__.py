"""Weight files of the stvsr model zoo that do not fit the core wheel's 100 MB budget.

Nothing here is imported by stvsr: ``stvsr.zoo._weights.companion_dir`` finds this folder with
``importlib.util.find_spec`` and reads the ``.safetensors`` files beside this module, each checked
against the sha256 in stvsr's registry before use. ``ATTRIBUTION.md`` says where each file
comes from and under which licence.
"""

from pathlib import Path

WEIGHTS_DIR = Path(__file__).resolve().parent

__all__ = ["WEIGHTS_DIR"]
