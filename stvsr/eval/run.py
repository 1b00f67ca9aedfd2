"""Run protocols on datasets for several models and report the results.

:func:`evaluate` scores every model (plus the two parameter-free baselines,
``bicubic_repeat`` and ``bicubic_blend``, unless ``baselines=False``) on every clip
under a protocol (every cell of a grid protocol) and returns an :class:`EvalReport`:
per-clip and overall tables, CSV/JSON files recording the exact protocol rules
(the protocol, its degradation and the metric), each model's weights and the stvsr
version, and optionally per-frame PSNR plots (matplotlib, when installed) and
side-by-side crops (PNG).

Weights are identified by ``weights_sha256``: for registry weights
(``basicvsr.vimeo_bd``) the sha256 of the weights *file* the registry records (the file
``stvsr.load`` verified before loading it), the figure a reader can check against
``stvsr models`` / the model card; ``None`` for other models. ``state_sha256`` is the
evaluator's own hash of the loaded ``state_dict`` (:func:`weights_sha256`) and identifies
any module, registry or not.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from stvsr.eval.datasets import ClipSource, open_dataset
from stvsr.eval.protocols import Protocol, get_protocol, run_clip, unsupported
from stvsr.models._capabilities import capabilities_of

__all__ = ["BASELINES", "METRIC_RULES", "ClipScore", "EvalReport", "evaluate", "model_record", "weights_sha256"]

BASELINES = ("bicubic_repeat", "bicubic_blend")

#: how scores are computed (recorded with every result)
METRIC_RULES = (
    "outputs clamped to [0, 1] and rounded to 8-bit; PSNR (peak 1) / SSIM (Gaussian 11x11, sigma 1.5) per "
    "scored frame on the protocol's channel (Y: BT.601 studio-range luma of the 8-bit RGB, not rounded) after "
    "dropping crop_border pixels per side; overall = mean over all scored frames (psnr, ssim) and mean of the "
    "per-clip means (psnr_clip_mean, ssim_clip_mean; the BasicVSR / MMEditing convention)"
)


def weights_sha256(model: nn.Module) -> str:
    """sha256 of a model's weights: every state_dict entry's name, dtype, shape and bytes, in key order.

    It identifies the weights themselves whatever file they came from (parameter-free
    models hash the empty state_dict).
    """
    h = hashlib.sha256()
    for k, v in sorted(model.state_dict().items()):
        t = v.detach().cpu().contiguous().reshape(-1)  # 0-dim buffers (BatchNorm counters) cannot be viewed
        h.update(f"{k}|{t.dtype}|{tuple(t.shape)}\n".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def peak_rss_mib() -> float | None:
    """The process's peak resident memory so far in MiB (None where ``resource`` is missing, e.g. Windows).

    Process-wide and monotone: with several models in one run, a model's figure includes the peaks
    of the models scored before it (score one model per run to measure each alone)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return round(kib / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


def model_record(model: nn.Module, registry_weights: bool = False) -> dict[str, Any]:
    """What identifies an evaluated model: registry name and tag, the registry's weights file and
    its sha256 (None unless ``registry_weights``: the model was loaded by registry name, so its
    weights are that sha256-checked file), the ``state_dict`` hash and the parameter count."""
    name, tag = getattr(model, "registry_name", None), getattr(model, "weights_tag", None)
    file_sha, filename = None, None
    if registry_weights and name and tag:
        from stvsr.zoo import model_card

        weights = model_card(f"{name}.{tag}").get("weights") or {}
        file_sha, filename = weights.get("sha256"), weights.get("filename")
    return {
        "weights_sha256": file_sha,
        "weights_file": filename,
        "state_sha256": weights_sha256(model),
        "params": sum(p.numel() for p in model.parameters()),
        "registry_name": name,
        "weights_tag": tag,
    }


@dataclass
class ClipScore:
    """One (model, protocol cell, clip) result; ``psnr``/``ssim`` are None where the model cannot run it."""

    model: str
    cell: str
    clip: str
    psnr: float | None
    ssim: float | None
    frames: list[tuple[int, bool, float, float]] = field(default_factory=list)
    note: str = ""
    seconds: float = 0.0


#: the note of a score whose SSIM is NaN: the 11x11 SSIM window does not fit in the scored frames
SSIM_TOO_SMALL = "SSIM is NaN: the frames are smaller than SSIM's 11x11 window (after crop_border)"


def _mean(values: Sequence[float]) -> float:
    vals = [v for v in values if not math.isnan(v)]
    return sum(vals) / len(vals) if vals else math.nan


@dataclass
class EvalReport:
    """Results of :func:`evaluate` (see the module docs)."""

    protocol: Protocol
    rows: list[ClipScore]
    models: dict[str, dict[str, Any]]
    dataset: str
    window: int | None = None
    version: str = ""

    def overall(self) -> list[dict[str, Any]]:
        """Per (model, cell): mean over all scored frames and mean of the per-clip means."""
        out = []
        keys = list(dict.fromkeys((r.model, r.cell) for r in self.rows))
        for model, cell in keys:
            rows = [r for r in self.rows if r.model == model and r.cell == cell]
            ok = [r for r in rows if r.psnr is not None]
            if not ok:
                out.append({"model": model, "cell": cell, "clips": 0, "frames": 0, "note": rows[0].note})
                continue
            frames = [f for r in ok for f in r.frames]
            out.append(
                {
                    "model": model,
                    "cell": cell,
                    "clips": len(ok),
                    "frames": len(frames),
                    "psnr": _mean([f[2] for f in frames]),
                    "ssim": _mean([f[3] for f in frames]),
                    "psnr_clip_mean": _mean([r.psnr for r in ok if r.psnr is not None]),
                    "ssim_clip_mean": _mean([r.ssim for r in ok if r.ssim is not None]),
                    "note": SSIM_TOO_SMALL if math.isnan(_mean([f[3] for f in frames])) else "",
                }
            )
        return out

    def table(self) -> str:
        """Plain-text table: per clip, then overall, one line per (model, cell)."""
        chan = "Y" if self.protocol.expand()[0].y_channel else "RGB"
        lines = [
            f"protocol {self.protocol.name} ({self.protocol.summary}); dataset {self.dataset}; "
            f"window {self.window or 'protocol default'}; stvsr {self.version}",
        ]
        for name, info in self.models.items():
            sha = info.get("weights_sha256")
            ident = f"weights file sha256 {sha[:16]}..." if sha else f"state sha256 {info['state_sha256'][:16]}..."
            lines.append(f"  {name}: {ident}, params {info['params']}")
        head = f"{'model':<22} {'cell':<18} {'clip':<16} {'frames':>6} {'PSNR-' + chan:>9} {'SSIM-' + chan:>8}"
        lines += ["", head, "-" * len(head)]
        for r in self.rows:
            if r.psnr is None:
                lines.append(f"{r.model:<22} {r.cell:<18} {r.clip:<16} {'':>6} {'n/a':>9} {'':>8}  {r.note}")
            else:
                lines.append(
                    f"{r.model:<22} {r.cell:<18} {r.clip:<16} {len(r.frames):>6} {r.psnr:>9.4f} {r.ssim:>8.4f}"
                    + (f"  {r.note}" if r.note else "")
                )
        lines += ["", "overall (mean over all scored frames | mean of clip means)", head.replace("clip  ", "clips "),
                  "-" * len(head)]
        for o in self.overall():
            if not o["clips"]:
                lines.append(f"{o['model']:<22} {o['cell']:<18} {'':<16} {'':>6} {'n/a':>9} {'':>8}  {o['note']}")
                continue
            lines.append(
                f"{o['model']:<22} {o['cell']:<18} {o['clips']:<16} {o['frames']:>6} {o['psnr']:>9.4f} "
                f"{o['ssim']:>8.4f} | {o['psnr_clip_mean']:.4f} {o['ssim_clip_mean']:.4f}"
                + (f"  {o['note']}" if o["note"] else "")
            )
        return "\n".join(lines)

    def rules(self) -> dict[str, Any]:
        """The degradation of every protocol cell and the metric rules (see :data:`METRIC_RULES`)."""
        from stvsr.ops.degradation import describe_degradation

        cells = self.protocol.expand()
        deg = {c.label: describe_degradation(c.degradation, c.scale) for c in cells}
        return {
            "degradation": next(iter(deg.values())) if len(cells) == 1 else deg,
            "metric": METRIC_RULES,
            "channel": "Y (BT.601)" if cells[0].y_channel else "RGB",
            "crop_border": cells[0].crop_border,
            "mod_crop": "GT cropped bottom/right to round(s * floor(H / s)) before degrading and scoring",
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "stvsr_version": self.version,
            "protocol": self.protocol.describe(),
            "rules": self.rules(),
            "dataset": self.dataset,
            "window": self.window,
            "models": self.models,
            "overall": self.overall(),
            "clips": [
                {
                    "model": r.model,
                    "cell": r.cell,
                    "clip": r.clip,
                    "psnr": r.psnr,
                    "ssim": r.ssim,
                    "note": r.note,
                    "seconds": round(r.seconds, 3),
                    "frames": [{"index": i, "key": k, "psnr": p, "ssim": s} for i, k, p, s in r.frames],
                }
                for r in self.rows
            ],
        }

    def save_json(self, path: str | os.PathLike[str]) -> Path:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(self.to_dict(), indent=1, allow_nan=True) + "\n")
        return p

    def save_csv(self, path: str | os.PathLike[str]) -> Path:
        """One row per (model, cell, clip) plus ``<overall>`` rows; a ``#`` header records the provenance."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        with p.open("w", newline="") as f:
            f.write(f"# stvsr {self.version}; protocol {json.dumps(self.protocol.describe())}\n")
            for name, info in self.models.items():
                f.write(f"# model {name}: weights_sha256 {info['weights_sha256']}, "
                        f"state_sha256 {info['state_sha256']}\n")
            w = csv.writer(f)
            w.writerow(["model", "weights_sha256", "protocol", "cell", "clip", "frames", "psnr", "ssim", "note"])
            for r in self.rows:
                sha = self.models.get(r.model, {}).get("weights_sha256") or ""
                w.writerow([r.model, sha, self.protocol.name, r.cell, r.clip, len(r.frames),
                            "" if r.psnr is None else f"{r.psnr:.6f}", "" if r.ssim is None else f"{r.ssim:.6f}",
                            r.note])
            for o in self.overall():
                sha = self.models.get(o["model"], {}).get("weights_sha256") or ""
                w.writerow([o["model"], sha, self.protocol.name, o["cell"], "<overall>", o["frames"],
                            f"{o['psnr']:.6f}" if o["clips"] else "", f"{o['ssim']:.6f}" if o["clips"] else "",
                            o["note"]])
        return p


def _load(model: str | nn.Module, pretrained: bool) -> tuple[str, nn.Module]:
    if isinstance(model, nn.Module):
        return getattr(model, "registry_name", None) or type(model).__name__, model
    from stvsr.zoo import load

    m = load(model, pretrained=pretrained)
    return str(model), m


def _plot(path: Path, clip: str, cell: str, curves: dict[str, list[tuple[int, bool, float, float]]]) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(8, 3))
    for name, rows in curves.items():
        ax.plot([r[0] for r in rows], [r[2] for r in rows], label=name, lw=1)
    ax.set_xlabel("frame")
    ax.set_ylabel("PSNR (dB)")
    ax.set_title(f"{clip} {cell}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def _crop_strip(path: Path, images: dict[str, torch.Tensor], size: int = 128) -> None:
    """Side-by-side centre crops (``size`` px) of the same frame, labelled left to right in dict order."""
    from PIL import Image

    from stvsr.video.io import to_uint8

    tiles = []
    for img in images.values():
        h, w = img.shape[-2:]
        y0, x0 = max(0, (h - size) // 2), max(0, (w - size) // 2)
        tiles.append(to_uint8(img[:, y0 : y0 + size, x0 : x0 + size]))
    hh = max(t.shape[0] for t in tiles)
    canvas = Image.new("RGB", (sum(t.shape[1] + 4 for t in tiles), hh), (255, 255, 255))
    x = 0
    for t in tiles:
        canvas.paste(Image.fromarray(t), (x, 0))
        x += t.shape[1] + 4
    canvas.save(path)
    path.with_suffix(".txt").write_text("left to right: " + ", ".join(images) + "\n")


def evaluate(
    models: Sequence[str | nn.Module],
    protocol: str | Protocol,
    dataset: str | os.PathLike[str] | Sequence[ClipSource],
    *,
    baselines: bool = True,
    pretrained: bool = True,
    window: int | None = None,
    max_frames: int | None = None,
    list_file: str | os.PathLike[str] | None = None,
    device: str | torch.device = "cpu",
    dtype: torch.dtype | None = None,
    plot_dir: str | os.PathLike[str] | None = None,
    crops_dir: str | os.PathLike[str] | None = None,
    log: Callable[[str], None] | None = None,
) -> EvalReport:
    """Score ``models`` (and the baselines) on ``dataset`` under ``protocol``.

    Args:
        models: registry names / ``save_pretrained`` folders (loaded with ``stvsr.load``) or modules.
        protocol: a name from :data:`stvsr.eval.protocols.PROTOCOLS` or a :class:`Protocol`.
        dataset: a path understood by :func:`stvsr.eval.datasets.open_dataset` or clip sources.
        baselines: also score ``bicubic_repeat`` and ``bicubic_blend`` (not added twice).
        pretrained: load registry models with their weights.
        window: key frames per model call (default: per protocol / model card; see protocols).
        max_frames: read only the first frames of each clip (quick checks; changes the protocol).
        list_file: septuplet list (Vimeo-90K ``sep_testlist.txt``).
        device, dtype: where and in which precision (bf16/fp16 autocast) the models run.
        plot_dir: write per-frame PSNR plots (``<clip>_<cell>.png``) when matplotlib is installed.
        crops_dir: write side-by-side centre crops (GT, then each model) of each clip's middle scored frame.
        log: called with one progress line per clip and model.
    """
    from stvsr._version import __version__

    proto = get_protocol(protocol)
    sources = list(dataset) if not isinstance(dataset, (str, os.PathLike)) else open_dataset(dataset, list_file=list_file)
    names = list(models)
    if baselines:
        names += [b for b in BASELINES if b not in [m if isinstance(m, str) else "" for m in names]]
    loaded = [_load(m, pretrained) for m in names]
    info: dict[str, dict[str, Any]] = {}
    from stvsr.zoo import parse_name, split_options

    for (name, m), requested in zip(loaded, names):
        m.eval().to(device)
        # a registry name loaded with pretrained weights: the registry's sha256-checked file
        from_registry = pretrained and isinstance(requested, str) and parse_name(requested).kind == "registry"
        info[name] = model_record(m, registry_weights=from_registry)
        if isinstance(requested, str):
            info[name]["options"] = split_options(requested)[1]
        info[name].update(dtype=str(dtype or torch.float32).removeprefix("torch."), device=str(device),
                          cpu_seconds=0.0, frames_scored=0, peak_rss_mib=None)
    rows: list[ClipScore] = []
    for src in sources:
        clip = src.load(max_frames)
        for cell in proto.expand():
            curves: dict[str, list[tuple[int, bool, float, float]]] = {}
            crops: dict[str, torch.Tensor] = {}
            for name, m in loaded:
                caps = capabilities_of(m)
                reason = unsupported(caps, cell)
                if reason:
                    rows.append(ClipScore(name, cell.label, clip.name, None, None, note=reason))
                    continue
                t0, c0 = time.perf_counter(), time.process_time()
                res = run_clip(m, cell, clip.frames, window=window, spec=caps, device=device, dtype=dtype,
                               keep_outputs=crops_dir is not None)
                dt = time.perf_counter() - t0
                fr = res["frames"]
                info[name]["cpu_seconds"] += time.process_time() - c0
                info[name]["frames_scored"] += len(fr)
                info[name]["peak_rss_mib"] = peak_rss_mib()
                score = ClipScore(name, cell.label, clip.name, _mean([f[2] for f in fr]), _mean([f[3] for f in fr]),
                                  fr, seconds=dt)
                if score.ssim is not None and math.isnan(score.ssim):
                    score.note = SSIM_TOO_SMALL
                rows.append(score)
                curves[name] = fr
                if crops_dir is not None:
                    mid = fr[len(fr) // 2][0]
                    if not crops:
                        crops["GT"] = res["gt"][mid]
                    crops[name] = res["outputs"][mid]
                if log:
                    log(f"{name} {cell.label} {clip.name}: {len(fr)} frames, PSNR {score.psnr:.4f} "
                        f"SSIM {score.ssim:.4f} ({dt:.1f} s)" + (f"; {score.note}" if score.note else ""))
            tag = f"{clip.name.replace('/', '_')}_{cell.label.replace(' ', '_').replace('>', '')}"
            if plot_dir is not None and curves:
                Path(plot_dir).mkdir(parents=True, exist_ok=True)
                _plot(Path(plot_dir) / f"{tag}.png", clip.name, cell.label, curves)
            if crops_dir is not None and crops:
                Path(crops_dir).mkdir(parents=True, exist_ok=True)
                _crop_strip(Path(crops_dir) / f"{tag}.png", crops)
    label = str(dataset) if isinstance(dataset, (str, os.PathLike)) else f"{len(sources)} clips"
    return EvalReport(proto, rows, info, label, window, __version__)
