"""The zoo's pieces of the ``stvsr`` command line: the models table and checkpoint conversion."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from stvsr.zoo._api import list_models
from stvsr.zoo._catalog import get_entry

__all__ = ["MODELS_LEGEND", "convert_command", "models_table", "parse_sources"]

_HEADER = ("name", "task", "scale", "time", "params", "weights")


def _scale(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"x{value:g}"
    if isinstance(value, (list, tuple)):
        return ",".join(_scale(v) for v in value)
    return str(value)


def _time(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, (list, tuple)):
        return "t=" + ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    return str(value)


def _params(value: Any) -> str:
    if not isinstance(value, int) or isinstance(value, bool):
        return "?"
    if value == 0:
        return "0"
    if value < 1_000_000:
        return f"{value / 1e3:.1f}K"
    return f"{value / 1e6:.2f}M"


#: what the marks of :func:`models_table` mean (printed under the table by ``stvsr models``)
MODELS_LEGEND = """\
scale   x4: the factor the model was trained for (stvsr upscale resizes its output for other sizes);
        arbitrary: a continuous-scale model, trained for any factor;
        x4+resize: accepts any factor, but learned only x4: other factors resize the x4 output (bicubic);
        x1: same size (frame interpolation); -: no space factor (flow)
time    t=0.5: the only in-between instant the model makes (others use the nearest frame);
        arbitrary: any t between two frames; -: none (space only)
weights *: the default weights (stvsr.load("basicvsr") loads basicvsr.vimeo_bi);
        -: no weights registered (random initialisation: convert the authors' checkpoint with
        `stvsr convert`, or train); (none needed): a parameter-free baseline
params  0: interpolation only (bicubic baselines), nothing learned"""


def models_table(pattern: str = "*", *, pretrained: bool | None = None, task: str | None = None) -> str:
    """A plain-text table of the registry: name, task, scale, time, params and weight tags.

    The default tag is marked ``*``; parameter-free models show ``(none needed)``;
    :data:`MODELS_LEGEND` explains every mark.
    ``pattern``, ``pretrained`` and ``task`` filter as in :func:`stvsr.list_models`.
    """
    names = sorted({n.partition(".")[0] for n in list_models(pattern, pretrained, task=task)})
    rows = [_HEADER]
    for name in names:
        entry = get_entry(name)
        card = entry.tag_card(None)  # the card with task, space_scale and time from the capabilities
        if entry.weights_free:
            tags = "(none needed)"
        elif entry.weights:
            tags = ", ".join(t + ("*" if t == entry.default_tag else "") for t in sorted(entry.weights))
        else:
            tags = "-"
        caps = entry.capabilities(None)
        learned = caps.resampled_from
        rows.append(
            (
                name,
                str(card.get("task", "?")),
                f"x{learned:g}+resize" if learned else _scale(card.get("space_scale")),
                _time(card.get("time")),
                _params(card.get("params")),
                tags,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(_HEADER))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if len(rows) == 1:
        lines.append(f"(no model matches {pattern!r})")
    return "\n".join(lines)


PathLike = str | os.PathLike[str]


def parse_sources(name: str, src: PathLike | Sequence[PathLike] | Mapping[str, PathLike]) -> Any:
    """Normalise the authors' file(s) for ``name``: one path, or, when the entry's card
    declares ``converter_inputs``, a ``{input_name: path}`` mapping. ``"input=path"``
    strings name their input explicitly; plain paths go in the declared order."""
    entry = get_entry(name)
    inputs = list(entry.card.get("converter_inputs") or {})
    if isinstance(src, Mapping):
        return {str(k): Path(v) for k, v in src.items()}
    items = [src] if isinstance(src, (str, os.PathLike)) else list(src)
    if not inputs:
        if len(items) != 1:
            raise ValueError(f"model {name!r} converts one authors' checkpoint file, got {len(items)}")
        return Path(items[0])
    named: dict[str, Path] = {}
    positional: list[Path] = []
    for item in items:
        text = os.fspath(item)
        key, eq, value = text.partition("=")
        if eq and key in inputs and not Path(text).exists():
            named[key] = Path(value)
        else:
            positional.append(Path(text))
    rest = [k for k in inputs if k not in named]
    if len(positional) != len(rest):
        want = ", ".join(f"{k} ({v})" for k, v in entry.card["converter_inputs"].items())
        raise ValueError(f"model {name!r} needs the authors' files {want}; got {len(items)} path(s)")
    named.update(zip(rest, positional))
    return {k: named[k] for k in inputs}


def convert_command(
    name: str,
    src: PathLike | Sequence[PathLike] | Mapping[str, PathLike],
    out_folder: PathLike,
    overwrite: bool = False,
) -> Path:
    """Convert the authors' checkpoint(s) of ``name`` into a ``save_pretrained`` folder.

    Args:
        name: registry name with a converter (``stvsr.list_models()``).
        src: the authors' ``.pth``/``.pkl``; for models needing several files (their card's
            ``converter_inputs``), the paths in the declared order, ``"input=path"`` strings,
            or a mapping ``{input_name: path}``.
        out_folder: written with ``config.json``, ``model.safetensors`` and ``README.md``;
            ``stvsr.load(out_folder)`` reads it back.
        overwrite: replace the files of an existing non-empty folder.

    Returns:
        The output folder.
    """
    from stvsr.models._hub import save_pretrained
    from stvsr.zoo.convert import convert_checkpoint

    out = Path(out_folder).expanduser()
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"output {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"output folder {out} is not empty; pass overwrite=True (--overwrite) to replace it")
    sources = parse_sources(name, src)
    model = convert_checkpoint(name, sources)
    return save_pretrained(model, out, name=name)
