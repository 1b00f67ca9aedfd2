"""Record ``stvsr evaluate`` results for the documentation.

    python tools/zoo_results.py RESULTS.json [RESULTS.json ...] [--out docs/results]

Each ``results.json`` written by ``stvsr evaluate --out DIR`` is copied to
``docs/results/<protocol>__<models>.json`` without its per-frame lists (the figures per clip
and overall, the protocol's exact rules, weights sha256 and stvsr version stay). The docs
hook renders them with ``<!-- stvsr:results -->`` (``docs/results.md``).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def slim(doc: dict) -> dict:
    out = dict(doc)
    out["clips"] = [{k: v for k, v in c.items() if k != "frames"} | {"frames": len(c["frames"])}
                    for c in doc["clips"]]
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "results")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for path in args.results:
        doc = json.loads(path.read_text())
        models = [m for m in doc["models"] if m not in ("bicubic_repeat", "bicubic_blend")] or list(doc["models"])
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{doc['protocol']['name']}__{'+'.join(models)}")
        dest = args.out / f"{name}.json"
        dest.write_text(json.dumps(slim(doc), indent=1) + "\n")
        print(f"{path} -> {dest}")


if __name__ == "__main__":
    main()
