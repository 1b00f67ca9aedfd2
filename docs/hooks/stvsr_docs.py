"""MkDocs hook: the generated parts of the documentation, read from the code at build time.

Markers in the Markdown pages are replaced before the page is converted:

* ``<!-- stvsr:zoo -->``: the model zoo table (every registered model, from ``stvsr.zoo._catalog``);
* ``<!-- stvsr:weights -->``: every registered weight variant with its checksum and figures;
* ``<!-- stvsr:card NAME -->``: the card of one registry entry and its weight variants;
* ``<!-- stvsr:protocols -->``: the evaluation protocols of ``stvsr.eval.protocols``;
* ``<!-- stvsr:conformance FOLDER ... -->``: the recorded cases of conformance fixture folders;
* ``<!-- stvsr:results -->``: the evaluation results recorded in ``docs/results/*.json``
  (written by ``tools/zoo_results.py`` from ``stvsr evaluate --out`` folders);
* ``<!-- stvsr:api-modules PACKAGE -->``: one mkdocstrings ``:::`` block per public module of
  ``PACKAGE`` (``stvsr.models``, ``stvsr.layers``, ...), so new files appear without editing the docs.

Nothing is copied by hand: a model registered tomorrow appears in the table of the next build.
Run as a script to print a table for other uses::

    python docs/hooks/stvsr_docs.py zoo        # or: weights, protocols, card msmr_arb
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stvsr.models._hub import CARD_FIELDS  # one table for saved-folder READMEs and these pages

MARKER = re.compile(r"<!--\s*stvsr:([a-z\-]+)\s*([^>]*?)\s*-->")
DOCS = Path(__file__).resolve().parents[1]
# roles of the reST docstrings that Markdown shows literally (":func:`x`" -> "`x`")
ROLE = re.compile(r":(?:func|class|mod|meth|data|attr|exc|obj|py:\w+):(<code>)")


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _scale(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"x{value:g}"
    return str(value)


def _time(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, (list, tuple)):
        return "t = " + ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    return str(value)


def _paper(paper: Any) -> str:
    if isinstance(paper, Mapping):
        return f"{paper.get('title', '?')} ({paper.get('venue', '?')} {paper.get('year', '')})".strip()
    return "-" if not paper else str(paper)


def _page_of(entry: Any) -> str | None:
    """The model page documenting an entry: ``models/<module>.md`` when it exists."""
    module = getattr(entry.builder, "__module__", "") or ""
    stem = module.rsplit(".", 1)[-1]
    if module.startswith("stvsr.models.") and (DOCS / "models" / f"{stem}.md").exists():
        return f"{stem}.md"
    return None


def _where(s: Any) -> str:
    """Where a weight variant comes from, for the tables."""
    out = []
    if s.packaged:
        out.append("shipped in the wheel")
    if s.parts:
        out.append("assembled from shipped " + " + ".join(f"`{ref}`" for _, ref, _ in s.parts))
    if s.hf_repo:
        out.append(f"Hub `{s.hf_repo}`")
    if not out and s.recipe:
        out.append(f"built on demand: `{s.recipe}`")
    return ", ".join(out) or "-"


def _entries() -> list[Any]:
    from stvsr.zoo._catalog import entry_names, get_entry

    return [get_entry(n) for n in entry_names()]


def zoo_table(link_prefix: str = "") -> str:
    """Markdown table of every registered model (``link_prefix`` is the path to ``models/``)."""
    rows = [
        "| name | task | space | time | input frames | parameters | weights | conformance | paper |",
        "|---|---|---|---|---|--:|---|---|---|",
    ]
    for e in _entries():
        c = e.tag_card(None)  # task, space_scale, time, input_frames, colour: from the capabilities
        page = _page_of(e)
        name = f"[`{e.name}`]({link_prefix}{page})" if page else f"`{e.name}`"
        if c.get("weights_free"):
            weights = "none needed"
        elif e.weights:
            weights = ", ".join(
                (f"**{t}**" if t == e.default_tag else t) + (" (shipped)" if s.packaged or s.parts else "")
                for t, s in sorted(e.weights.items())
            )
        else:
            weights = "convert the authors'" if e.converter else "-"
        params = c.get("params")
        rows.append(
            "| "
            + " | ".join(
                _cell(x)
                for x in (
                    name,
                    c.get("task", "-"),
                    _scale(c.get("space_scale")),
                    _time(c.get("time")),
                    c.get("input_frames", "-"),
                    f"{params:,}" if isinstance(params, int) else "-",
                    weights,
                    c.get("conformance") or "-",
                    _paper(c.get("paper")),
                )
            )
            + " |"
        )
    return "\n".join(rows) + "\n"


def _metrics_rows(metrics: list[Mapping[str, Any]]) -> list[str]:
    rows = ["| dataset | PSNR | SSIM | protocol |", "|---|--:|--:|---|"]
    for m in metrics:
        rows.append(
            "| " + " | ".join(_cell(m.get(k, "")) for k in ("dataset", "psnr", "ssim", "protocol")) + " |"
        )
    return rows


def weights_table() -> str:
    rows = [
        "| variant | file | sha256 | where | training data |",
        "|---|---|---|---|---|",
    ]
    figures: list[str] = []
    for e in _entries():
        for tag, s in sorted(e.weights.items()):
            card = e.tag_card(tag)
            where = _where(s)
            default = " (default)" if tag == e.default_tag else ""
            rows.append(
                f"| `{e.name}.{tag}`{default} | `{s.filename}` | `{s.sha256[:16]}…` | {_cell(where or '-')} | "
                f"{_cell(card.get('training_data', '-'))} |"
            )
            if card.get("metrics"):
                figures += ["", f"**`{e.name}.{tag}`**", "", *_metrics_rows(card["metrics"])]
    if figures:
        rows += ["", "### Figures recorded on the cards", *figures]
    return "\n".join(rows) + "\n"


def card_table(name: str) -> str:
    from stvsr.zoo._catalog import get_entry

    e = get_entry(name)
    c = e.tag_card(None)  # task, space_scale, time, input_frames, colour: from the capabilities
    rows = [f"**`{name}`**: {_cell(c.get('summary', ''))}", "", "| | |", "|---|---|"]
    for label, key in CARD_FIELDS:
        v = c.get(key)
        if v is None or v == "":
            continue
        if key == "paper":
            v = _paper(v)
        elif key == "space_scale":
            v = _scale(v)
        elif key == "time":
            v = _time(v)
        elif key == "params" and isinstance(v, int):
            v = f"{v:,}"
        elif key == "converter_inputs" and isinstance(v, Mapping):
            v = ", ".join(f"`{k}`: {d}" for k, d in v.items())
        rows.append(f"| {label} | {_cell(v)} |")
    convert = f'`stvsr.convert_checkpoint("{name}", path)`' if e.converter else "none"
    rows.append(f"| Converter | {convert} |")
    if c.get("weights_free"):
        rows.append("| Pretrained weights | none needed (parameter-free) |")
    elif not e.weights:
        rows.append("| Pretrained weights | none registered: convert the authors' checkpoint |")
    for tag, s in sorted(e.weights.items()):
        tc = e.tag_card(tag)
        where = _where(s)
        default = ", default" if tag == e.default_tag else ""
        rows.append(
            f"| Weights `{name}.{tag}`{default} | `{s.filename}` ({where}; sha256 `{s.sha256[:16]}…`)"
            + (f"; trained on {_cell(tc['training_data'])}" if tc.get("training_data") and tag in e.weights else "")
            + " |"
        )
    out = rows
    variants: list[str | None] = [*sorted(e.weights)] or [None]
    for variant in variants:
        metrics = e.tag_card(variant).get("metrics") if variant else c.get("metrics")
        if metrics:
            label = f"{name}.{variant}" if variant else name
            out += ["", f"Figures for `{label}`:", "", *_metrics_rows(metrics)]
    return "\n".join(out) + "\n"


def protocols_table() -> str:
    from stvsr.eval.protocols import PROTOCOLS

    rows = [
        "| protocol | summary | degradation | space | time | channel | crop | window | scored |",
        "|---|---|---|---|---|---|--:|---|---|",
    ]
    notes = []
    for name, p in PROTOCOLS.items():
        cells = f" ({len(p.cells)} cells)" if p.cells else ""
        rows.append(
            "| "
            + " | ".join(
                _cell(x)
                for x in (
                    f"`{name}`",
                    p.summary + cells,
                    p.degradation,
                    "grid" if p.cells else f"x{p.scale:g}",
                    "grid" if p.cells else str(p.time),
                    "Y (BT.601)" if p.y_channel else "RGB",
                    p.crop_border,
                    p.window if p.window is not None else "whole clip",
                    p.score,
                )
            )
            + " |"
        )
        if p.notes:
            notes.append(f"- **`{name}`**: {p.notes}")
    return "\n".join(rows) + "\n\n" + "\n".join(notes) + "\n"


def _short(value: Any, limit: int = 110) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def conformance_table(folders: str) -> str:
    """The recorded cases of conformance fixture folders (``tests/data/conformance/<folder>``)."""
    import json

    root = DOCS.parent / "tests" / "data" / "conformance"
    rows = [
        "| fixture | case | what the authors' code computed | tolerance (atol, float32) | original's own float32 noise |",
        "|---|---|---|--:|--:|",
    ]
    for folder in [f.strip() for f in folders.replace(",", " ").split() if f.strip()]:
        cases = sorted(p for p in (root / folder).glob("*.json") if p.name != "spec.json")
        if not cases:
            raise ValueError(f"no conformance cases in {root / folder}")
        for path in cases:
            meta = json.loads(path.read_text())
            what = meta.get("description")
            if not what:
                call = meta.get("call", {})
                if "T" in call and "input_hw" in call:  # MsMr-style: describe the clip and the call
                    h, w = call["input_hw"]
                    what = (f"{call['T']} LR frames {h}x{w}, scale {call.get('scale_h')} x {call.get('scale_w')}, "
                            f"times {call.get('time_step')}")
                else:
                    what = call.get("equivalent") or call.get("method") or ""
            atol = meta.get("atol")
            noise = meta.get("fp32_max_abs_err")
            rows.append(
                f"| `{folder}` | `{path.stem}` | {_cell(_short(what))} | "
                f"{'-' if atol is None else f'{atol:.2g}'} | {'-' if noise is None else f'{noise:.2g}'} |"
            )
    return "\n".join(rows) + "\n"


def api_modules(package: str) -> str:
    """One ``::: module`` block per public module of ``package`` (files not starting with ``_``)."""
    pkg = importlib.import_module(package)
    blocks = []
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        if info.name.startswith("_") or info.name in ("cli", "commands", "__main__"):
            continue
        full = f"{package}.{info.name}"
        if info.ispkg:
            blocks.append(api_modules(full))
            continue
        blocks.append(f"## `{full}`\n\n::: {full}\n    options:\n      heading_level: 3\n      show_root_heading: false\n")
    return "\n".join(blocks)


RESULTS_DIR = Path(__file__).resolve().parents[1] / "results"


def results_tables() -> str:
    """One table per protocol from the recorded ``stvsr evaluate`` summaries: overall figures
    (mean over scored frames and mean of clip means), the published figure where the summary
    records one (``tools/zoo_results.py --anchor``) and the per-clip PSNR."""
    by_protocol: dict[str, list[dict[str, Any]]] = {}
    for f in sorted(RESULTS_DIR.glob("*.json")):
        doc = json.loads(f.read_text())
        by_protocol.setdefault(doc["protocol"]["name"], []).append(doc)
    out: list[str] = []
    for name in sorted(by_protocol):
        docs = by_protocol[name]
        clips = sorted({c["clip"] for d in docs for c in d["clips"]})
        chan = "Y" if docs[0]["protocol"].get("y_channel", True) else "RGB"
        out += [
            f"### `{name}`",
            "",
            f"{docs[0]['protocol'].get('summary', '')}. PSNR / SSIM on {chan}; frames: scored frames; "
            "*clip mean*: the mean of the per-clip means (the figure most papers print); *published*: "
            "the paper's figure (PSNR / SSIM) from the model card.",
            "",
            "| model | weights sha256 | frames | PSNR | SSIM | clip-mean PSNR | clip-mean SSIM | published | "
            + " | ".join(clips) + " |",
            "|---|---|--:|--:|--:|--:|--:|--:|" + "--:|" * len(clips),
        ]
        rows = []
        for d in docs:
            for o in d["overall"]:
                if not o["clips"]:
                    continue
                per = {c["clip"]: c["psnr"] for c in d["clips"] if c["model"] == o["model"] and c["cell"] == o["cell"]}
                sha = d["models"].get(o["model"], {}).get("weights_sha256") or "-"
                pub = d.get("published", {}).get(o["model"])
                anchor = f"{pub['psnr']:.2f} / {pub['ssim']:.4f}" if pub else "-"
                rows.append((o["psnr_clip_mean"], (
                    f"| `{o['model']}` | `{sha[:12]}` | {o['frames']} | {o['psnr']:.2f} | {o['ssim']:.4f} | "
                    f"{o['psnr_clip_mean']:.2f} | {o['ssim_clip_mean']:.4f} | {anchor} | "
                    + " | ".join(f"{per[c]:.2f}" if per.get(c) is not None else "-" for c in clips) + " |"
                )))
        seen = set()
        for _, row in sorted(rows, key=lambda r: -r[0]):
            if row not in seen:  # baselines recorded by several runs appear once
                seen.add(row)
                out.append(row)
        versions = sorted({d["stvsr_version"] for d in docs})
        out += ["", f"Recorded with stvsr {', '.join(versions)}.", ""]
    return "\n".join(out) if out else "No results recorded yet."


def expand(markdown: str) -> str:
    def sub(m: re.Match[str]) -> str:
        kind, arg = m.group(1), m.group(2).strip()
        if kind == "zoo":
            return zoo_table(arg)
        if kind == "weights":
            return weights_table()
        if kind == "card":
            return card_table(arg)
        if kind == "conformance":
            return conformance_table(arg)
        if kind == "protocols":
            return protocols_table()
        if kind == "api-modules":
            return api_modules(arg)
        if kind == "results":
            return results_tables()
        raise ValueError(f"unknown stvsr docs marker {m.group(0)!r}")

    return MARKER.sub(sub, markdown)


# --- MkDocs hook events ------------------------------------------------------------------------


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    return expand(markdown)


def on_page_content(html: str, page: Any, config: Any, files: Any) -> str:
    return ROLE.sub(r"\1", html)


if __name__ == "__main__":
    kind = sys.argv[1] if len(sys.argv) > 1 else "zoo"
    arg = " ".join(sys.argv[2:])
    print(expand(f"<!-- stvsr:{kind} {arg} -->"))
