"""Record ``stvsr evaluate`` results for the documentation.

    python tools/zoo_results.py RESULTS.json [RESULTS.json ...] [--out docs/results]
        [--anchor "basicvsr.vimeo_bd=Vid4 (BD x4), published" ...]

Each ``results.json`` written by ``stvsr evaluate --out DIR`` is copied to
``docs/results/<protocol>__<models>.json`` without its per-frame lists (the figures per clip
and overall, the protocol's exact rules, weights sha256 and stvsr version stay). The docs
hook renders them with ``<!-- stvsr:results -->`` (``docs/results.md``).

``--anchor MODEL=DATASET`` copies the published figure of ``MODEL`` from its model card (the
``metrics`` entry whose ``dataset`` is ``DATASET``) into the summary's ``published`` block, so
the table shows it beside the measured one; the card stays the only place the number is typed.
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


def anchors(specs: list[str]) -> dict[str, dict]:
    """``MODEL=DATASET`` -> ``{MODEL: {"dataset", "psnr", "ssim", "protocol"}}`` from the model cards."""
    import stvsr

    out: dict[str, dict] = {}
    for spec in specs:
        model, sep, dataset = spec.partition("=")
        if not sep:
            raise SystemExit(f"--anchor must be MODEL=DATASET, got {spec!r}")
        rows = [m for m in stvsr.model_card(model).get("metrics", []) if m.get("dataset") == dataset]
        if len(rows) != 1:
            raise SystemExit(f"{model}: the card has {len(rows)} metrics entries for dataset {dataset!r}")
        out[model] = {k: rows[0].get(k) for k in ("dataset", "psnr", "ssim", "protocol")}
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "results")
    ap.add_argument("--anchor", action="append", default=[], metavar="MODEL=DATASET",
                    help="record MODEL's published figure from its card's metrics entry DATASET")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    published = anchors(args.anchor)
    for path in args.results:
        doc = json.loads(path.read_text())
        models = [m for m in doc["models"] if m not in ("bicubic_repeat", "bicubic_blend")] or list(doc["models"])
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{doc['protocol']['name']}__{'+'.join(models)}")
        dest = args.out / f"{name}.json"
        out = slim(doc)
        mine = {m: a for m, a in published.items() if m in doc["models"]}
        if mine:
            out["published"] = mine
        dest.write_text(json.dumps(out, indent=1) + "\n")
        print(f"{path} -> {dest}")


if __name__ == "__main__":
    main()
