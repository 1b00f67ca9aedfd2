"""Record ``stvsr evaluate`` results for the documentation.

    python tools/zoo_results.py RESULTS.json [RESULTS.json ...] [--out docs/results]
        [--anchor "basicvsr.vimeo_bd=Vid4 (BD x4), published" ...]

Each ``results.json`` written by ``stvsr evaluate --out DIR`` is copied to
``docs/results/<protocol>__<models>.json`` without its per-frame lists (the figures per clip
and overall, the protocol's exact rules, weights sha256 and stvsr version stay). The docs
hook renders them with ``<!-- stvsr:results -->`` (``docs/results.md``).

Results of the same protocol and models run clip by clip (``stvsr evaluate -d vid4/city.mkv``
..., to keep each run short or its memory small) are merged into one summary: the clips are
concatenated and the overall figures recomputed from the per-frame scores by
:meth:`stvsr.eval.EvalReport.overall`; the runs must agree on the protocol, its rules, the
weights and the stvsr version.

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


def merge(docs: list[dict]) -> dict:
    """One ``results.json`` document from per-clip runs of the same protocol and models."""
    if len(docs) == 1:
        return docs[0]
    from stvsr.eval.protocols import get_protocol
    from stvsr.eval.run import ClipScore, EvalReport

    first = docs[0]
    for d in docs[1:]:
        for key in ("stvsr_version", "protocol", "rules", "window"):
            if d.get(key) != first.get(key):
                raise SystemExit(f"cannot merge runs that differ in {key!r}")
        if {m: _identity(r) for m, r in d["models"].items()} != {m: _identity(r) for m, r in first["models"].items()}:
            raise SystemExit("cannot merge runs that differ in 'models'")
    models = {m: _identity(r) | _costs([d["models"][m] for d in docs]) for m, r in first["models"].items()}
    clips = sorted((c for d in docs for c in d["clips"]), key=lambda c: (c["model"], c["cell"], c["clip"]))
    names = [(c["model"], c["clip"]) for c in clips]
    if len(set(names)) != len(names):
        raise SystemExit("cannot merge: a clip appears in several runs")
    rows = [ClipScore(c["model"], c["cell"], c["clip"], c["psnr"], c["ssim"],
                      [(f["index"], f["key"], f["psnr"], f["ssim"]) for f in c["frames"]], c["note"], c["seconds"])
            for c in clips]
    report = EvalReport(get_protocol(first["protocol"]["name"]), rows, models, "", first["window"],
                        first["stvsr_version"])
    return first | {"dataset": ", ".join(sorted({d["dataset"] for d in docs})), "overall": report.overall(),
                    "clips": clips, "models": models}


# what a run measures about a model, beside what identifies it (weights, options)
_RUN_COSTS = ("cpu_seconds", "frames_scored", "peak_rss_mib")


def _identity(record: dict) -> dict:
    return {k: v for k, v in record.items() if k not in _RUN_COSTS}


def _costs(records: list[dict]) -> dict:
    """Per-clip runs merged: CPU seconds and frames add up, the peak memory is the largest run's."""
    if not all(k in r for r in records for k in _RUN_COSTS):
        return {}
    rss = [r["peak_rss_mib"] for r in records if r["peak_rss_mib"] is not None]
    return {"cpu_seconds": sum(r["cpu_seconds"] for r in records), "frames_scored": sum(r["frames_scored"] for r in records),
            "peak_rss_mib": max(rss) if rss else None}


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
    groups: dict[tuple[str, tuple[str, ...]], list[dict]] = {}
    for path in args.results:
        doc = json.loads(path.read_text())
        groups.setdefault((doc["protocol"]["name"], tuple(doc["models"])), []).append(doc)
    for docs in groups.values():
        doc = merge(docs)
        models = [m for m in doc["models"] if m not in ("bicubic_repeat", "bicubic_blend")] or list(doc["models"])
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{doc['protocol']['name']}__{'+'.join(models)}")
        dest = args.out / f"{name}.json"
        out = slim(doc)
        mine = {m: a for m, a in published.items() if m in doc["models"]}
        if mine:
            out["published"] = mine
        dest.write_text(json.dumps(out, indent=1) + "\n")
        print(f"{len(docs)} run(s) of {doc['protocol']['name']} -> {dest}")


if __name__ == "__main__":
    main()
