"""CVRS checkpoints and registry entries: the authors' state_dicts -> :class:`~stvsr.models.cvrs.CVRS`.

The authors ship no config: every value (channels, blocks, kernels, the up-sampler variant,
Swin depths, heads and windows, the IMSM's couplings) is read from the tensor shapes
(:func:`infer_cvrs_config`). :mod:`stvsr.models.cvrs` holds the architecture only.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from stvsr.layers.swin3d import relative_position_index_3d
from stvsr.models._base import CheckpointError, load_state_dict_strict, unwrap_state_dict
from stvsr.models._registry import register_model
from stvsr.models.cvrs import CVRS, IMSM, CVRSConfig

__all__ = [
    "convert_cvrs",
    "convert_cvrs_imsm",
    "convert_cvrs_rescaler",
    "cvrs",
    "cvrs_imsm",
    "cvrs_rescaler",
    "cvrs_state_dict_from_folder",
    "infer_cvrs_config",
]


# ----------------------------------------------------------------------------- converters


def _indices(sd: Mapping[str, torch.Tensor], pattern: str) -> list[int]:
    rx = re.compile(pattern)
    return sorted({int(m.group(1)) for k in sd if (m := rx.match(k))})


def _need(sd: Mapping[str, torch.Tensor], key: str, what: str) -> torch.Tensor:
    if key not in sd:
        raise CheckpointError(f"{what}: key {key!r} not found (got e.g. {sorted(sd)[:5]})")
    return sd[key]


def _infer_down(sd: Mapping[str, torch.Tensor], prefix: str) -> tuple[int, int, tuple[int, int, int]]:
    w = _need(sd, f"{prefix}first_block.0.weight", "down-sampler")
    blocks = len(_indices(sd, re.escape(prefix) + r"feat_extractor\.(\d+)\."))
    kt, kh, kw = (int(k) for k in w.shape[2:])
    return int(w.shape[0]), blocks, (kt, kh, kw)


def _infer_window(sd: Mapping[str, torch.Tensor], prefix: str) -> tuple[int, int, int]:
    index = _need(sd, f"{prefix}attn.relative_position_index", "Swin layer")
    rows = int(_need(sd, f"{prefix}attn.relative_position_bias_table", "Swin layer").shape[0])
    n = int(index.shape[0])
    for wd in range(1, n + 1):
        for wh in range(1, n + 1):
            if n % (wd * wh):
                continue
            ww = n // (wd * wh)
            if (2 * wd - 1) * (2 * wh - 1) * (2 * ww - 1) != rows:
                continue
            if torch.equal(relative_position_index_3d((wd, wh, ww)), index.long().cpu()):
                return wd, wh, ww
    raise CheckpointError(f"{prefix}attn.relative_position_index ({n} tokens, {rows} table rows) fits no 3D window")


def infer_cvrs_config(
    rescaler: Mapping[str, torch.Tensor] | None, inverter: Mapping[str, torch.Tensor] | None = None
) -> CVRSConfig:
    """Read every config value from the shapes of the authors' state_dicts (research notes 2.4).

    ``rescaler``: keys ``downet.*``/``upnet.*`` (``RescalerNet`` or ``Rescaler_MixNet``);
    ``inverter``: keys ``downsample.*``/``inv_block.*`` (``IND_inv3D``) or None.
    """
    if rescaler is None:
        raise CheckpointError("a CVRS config needs the rescaler state_dict")
    m, nd, k = _infer_down(rescaler, "downet.")
    first = _need(rescaler, "upnet.first_block.0.weight", "up-sampler")
    in_ch = int(first.shape[1])
    f = int(_need(rescaler, "upnet.head.short_cut.0.depthwise.weight", "up-sampler head").shape[0])
    kw: dict[str, Any] = {
        "down_channels": m,
        "down_blocks": nd,
        "down_kernel": k,
        "in_channels": in_ch,
        "fuse_channels": f,
    }
    if any(key.startswith("upnet.dense3d_backbone.") for key in rescaler):
        kw.update(
            up_variant="dense",
            up_channels=4 * int(first.shape[0]),
            up_blocks=len(_indices(rescaler, r"upnet\.dense3d_backbone\.(\d+)\.")),
            depths=(),
            num_heads=(),
        )
    elif any(key.startswith("upnet.layers.") for key in rescaler):
        dim = int(_need(rescaler, "upnet.fuse_channel_out.0.weight", "Mix up-sampler").shape[1])
        use_shuffle = int(first.shape[0]) * 4 == dim and int(first.shape[0]) != dim
        layer_ids = _indices(rescaler, r"upnet\.layers\.(\d+)\.")
        stages = [i for i in layer_ids if i % 2 == 1]
        depths = tuple(len(_indices(rescaler, rf"upnet\.layers\.{i}\.blocks\.(\d+)\.")) for i in stages)
        heads = tuple(
            int(rescaler[f"upnet.layers.{i}.blocks.0.attn.relative_position_bias_table"].shape[1]) for i in stages
        )
        window = _infer_window(rescaler, f"upnet.layers.{stages[0]}.blocks.0.") if stages else (3, 7, 7)
        kw.update(
            up_variant="mix",
            up_channels=dim,
            use_shuffle=use_shuffle,
            use_shortcut=any(key.startswith("upnet.fuse_channel_in.") for key in rescaler),
            up_blocks=len(_indices(rescaler, r"upnet\.layers\.0\.(\d+)\.conv1\.")),
            depths=depths,
            num_heads=heads,
            window_size=window,
        )
    else:
        raise CheckpointError(
            "rescaler state_dict has neither upnet.dense3d_backbone.* (RescalerNet) "
            "nor upnet.layers.* (Rescaler_MixNet)"
        )
    kw["imsm_blocks"] = None
    if inverter is not None:
        b, im, ind, ik = _infer_imsm(inverter)
        kw.update(imsm_blocks=b, imsm_down_channels=im, imsm_down_blocks=ind, imsm_down_kernel=ik)
    return CVRSConfig(**kw)


def _infer_imsm(sd: Mapping[str, torch.Tensor]) -> tuple[int, int, int, tuple[int, int, int]]:
    ops = _indices(sd, r"inv_block\.operations\.(\d+)\.")
    if not ops or len(ops) % 2:
        raise CheckpointError(f"inverter state_dict: parameterised inv_block.operations {ops} are not 2 x block_num")
    m, nd, k = _infer_down(sd, "downsample.")
    return len(ops) // 2, m, nd, k


def _split_cvrs(sd: Mapping[str, Any]) -> tuple[dict[str, torch.Tensor] | None, dict[str, torch.Tensor] | None]:
    if "rescaler" in sd or "inverter" in sd:
        res = unwrap_state_dict(sd["rescaler"]) if sd.get("rescaler") is not None else None
        inv = unwrap_state_dict(sd["inverter"]) if sd.get("inverter") is not None else None
        return res, inv
    flat = unwrap_state_dict(sd)
    res = {k.removeprefix("rescaler."): v for k, v in flat.items() if not k.startswith("inverter.")}
    inv = {k.removeprefix("inverter."): v for k, v in flat.items() if k.startswith("inverter.")}
    return (res or None), (inv or None)


def _load(cfg: CVRSConfig, rescaler: Mapping[str, torch.Tensor], inverter: Mapping[str, torch.Tensor] | None) -> CVRS:
    model = CVRS(**asdict(cfg))
    merged = dict(rescaler)
    if inverter is not None:
        merged.update({f"inverter.{k}": v for k, v in inverter.items()})
    load_state_dict_strict(model, merged, what="CVRS checkpoint")
    return model.eval()


def convert_cvrs(state: Mapping[str, Any]) -> CVRS:
    """Build a full CVRS (rescaler + IMSM) from the authors' two checkpoints, config inferred from shapes.

    ``state`` is either ``{"rescaler": sd, "inverter": sd}`` (each the content of the authors'
    ``rescaler/model.pth`` and ``inverter/model.pth``, optionally still wrapped in ``{"params": ...}``),
    or one flat state_dict whose keys carry the prefixes ``rescaler.`` / ``inverter.``
    (the ``rescaler.`` prefix may be left out: this is the stvsr state_dict of :class:`CVRS`).
    :func:`cvrs_state_dict_from_folder` reads an authors' weight folder into the first form.
    Works for RescalerNet (Tx2_Sx1, Contin) and Rescaler_MixNet (other Tx/Sx) settings.
    """
    rescaler, inverter = _split_cvrs(state)
    if rescaler is None or inverter is None:
        missing = "rescaler" if rescaler is None else "inverter"
        raise CheckpointError(
            f"'cvrs' needs both the rescaler and the inverter state_dicts; {missing} is missing "
            "(use 'cvrs_rescaler' or 'cvrs_imsm' for one part)"
        )
    return _load(infer_cvrs_config(rescaler, inverter), rescaler, inverter)


def convert_cvrs_rescaler(state: Mapping[str, Any]) -> CVRS:
    """A rescaler-only CVRS (no IMSM; use ``encode``/``decode``) from the authors' ``rescaler/model.pth``."""
    rescaler, inverter = _split_cvrs(state)
    if rescaler is None:
        raise CheckpointError("'cvrs_rescaler' needs the rescaler state_dict (keys downet.*, upnet.*)")
    if inverter:
        raise CheckpointError("'cvrs_rescaler' got inverter keys too; use 'cvrs' for rescaler + inverter")
    return _load(infer_cvrs_config(rescaler, None), rescaler, None)


def convert_cvrs_imsm(state: Mapping[str, Any]) -> IMSM:
    """The IMSM alone (:class:`IMSM`) from the authors' ``inverter/model.pth`` (keys ``downsample.*``, ``inv_block.*``)."""
    sd = (
        unwrap_state_dict(state["inverter"]) if "inverter" in state and isinstance(state["inverter"], Mapping) else unwrap_state_dict(state)
    )
    b, m, nd, k = _infer_imsm(sd)
    model = IMSM(b, m, nd, k)
    load_state_dict_strict(model, sd, what="CVRS inverter checkpoint")
    return model.eval()


def cvrs_state_dict_from_folder(path: str | os.PathLike[str]) -> dict[str, dict[str, torch.Tensor]]:
    """Read an authors' weight folder (``<path>/rescaler/model.pth`` and ``<path>/inverter/model.pth``,
    e.g. ``archived/Tx2_Sx4_vimeo``) into ``{"rescaler": sd, "inverter": sd}`` for :func:`convert_cvrs`.

    Files are read with ``torch.load(weights_only=True)``; an absent inverter gives only ``"rescaler"``.
    """
    root = Path(path)
    out: dict[str, dict[str, torch.Tensor]] = {}
    for part in ("rescaler", "inverter"):
        f = root / part / "model.pth"
        if f.is_file():
            out[part] = unwrap_state_dict(torch.load(f, map_location="cpu", weights_only=True))
    if "rescaler" not in out:
        raise FileNotFoundError(f"no rescaler/model.pth under {root}")
    return out


# ----------------------------------------------------------------------------- registry

_PAPER = {
    "title": "Continuous Space-Time Video Resampling with Invertible Motion Steganography",
    "venue": "CVPR",
    "year": 2025,
}
# a tiny Mix configuration for the registry test (forward, backward, save_pretrained round trip)
_TINY: dict[str, Any] = {
    "down_channels": 4, "down_blocks": 1, "down_kernel": [3, 3, 3], "up_variant": "mix", "up_channels": 8,
    "up_blocks": 1, "fuse_channels": 2, "depths": [1], "num_heads": [2], "window_size": [2, 2, 2],
}
_CARD = {
    "paper": _PAPER,
    "authors_repo": "https://github.com/hahazh/CSTVR",
    "licence": "none (no licence file in the authors' repository)",
}


@register_model(
    "cvrs",
    converter=convert_cvrs,
    card={
        **_CARD,
        "test_config": {**_TINY, "imsm_blocks": 1},
        # float stego, no clamp: the registry's backward test reaches both the down- and the up-sampler
        "test_input": {
            "inputs": {"hr": [1, 3, 3, 8, 8]}, "kwargs": {"size": [2, 4, 4], "quantize": None, "clamp": False},
            "output_shape": [1, 3, 3, 8, 8],
        },
        "params": 16_543_250,
        "conformance": "cvrs_rescaler, cvrs_mix, cvrs_mix_plain, cvrs_imsm",
        # the authors ship two files; `stvsr convert cvrs FOLDER` finds them at these paths
        "converter_inputs": {"rescaler": "rescaler/model.pth", "inverter": "inverter/model.pth"},
        "summary": "Learned space-time down-sampler + invertible motion steganography (8-bit stego video) + "
        "continuous up-sampler; params of the default x2/x4 Mix config (real ones follow the checkpoint).",
    },
)
def cvrs(**overrides: Any) -> CVRS:
    """Full CVRS (Mix up-sampler, IMSM with 8 couplings per level); keyword overrides as :class:`CVRSConfig`."""
    return CVRS(**overrides)


@register_model(
    "cvrs_rescaler",
    converter=convert_cvrs_rescaler,
    card={
        **_CARD,
        "test_config": _TINY,
        "test_input": {
            "inputs": {"latent": [1, 2, 3, 4, 4]}, "kwargs": {"size": [3, 8, 8]}, "method": "decode",
            "output_shape": [1, 3, 3, 8, 8],
        },
        "params": 5_515_795,
        "conformance": "cvrs_rescaler, cvrs_mix, cvrs_mix_plain",
        "summary": "CVRS rescaler only (down-sampler + up-sampler, dense or Mix, no IMSM): encode/decode latents.",
    },
)
def cvrs_rescaler(**overrides: Any) -> CVRS:
    """CVRS without the IMSM (``imsm_blocks=None``)."""
    return CVRS(**{"imsm_blocks": None, **overrides})


@register_model(
    "cvrs_imsm",
    converter=convert_cvrs_imsm,
    card={
        **_CARD,
        "test_config": {"block_num": 1, "down_channels": 4, "down_blocks": 1},
        "test_input": {"inputs": {"latent": [1, 2, 3, 8, 8]}, "output_shape": [1, 2, 3, 8, 8]},
        "params": 11_027_455,
        "conformance": "cvrs_imsm",
        "summary": "CVRS's Invertible Motion Steganography Module alone: latent video <-> same-size stego video.",
    },
)
def cvrs_imsm(**overrides: Any) -> IMSM:
    """The IMSM alone (:class:`IMSM`); keyword overrides as its constructor."""
    return IMSM(**overrides)
