"""``stvsr evaluate``: score models on a dataset under a named protocol (see :mod:`stvsr.eval.protocols`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stvsr._cli_types import int_at_least

__all__ = ["evaluate_arguments", "evaluate_command"]


def evaluate_arguments(p: argparse.ArgumentParser) -> None:
    from stvsr.eval.protocols import PROTOCOLS

    p.add_argument("models", nargs="+", help="registry names or save_pretrained folders (see `stvsr models`)")
    p.add_argument("--protocol", "-p", required=True, choices=list(PROTOCOLS), help="evaluation protocol")
    p.add_argument("--data", "-d", required=True,
                   help="video file, PNG frame folder, folder of clips, or Vimeo-90K septuplet tree")
    p.add_argument("--list", dest="list_file", default=None, help="septuplet list file (e.g. sep_testlist.txt)")
    p.add_argument("--window", type=int_at_least("--window", 2, " (key frames per model call)"), default=None,
                   help="key frames per model call, >= 2 (default: protocol/model)")
    p.add_argument("--max-frames", type=int, default=None, help="use only the first frames of each clip (quick runs)")
    p.add_argument("--no-baselines", action="store_true", help="do not add bicubic_repeat / bicubic_blend")
    p.add_argument("--random-weights", action="store_true", help="do not load pretrained weights (smoke tests)")
    p.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"],
                   help="autocast precision (default: float32)")
    p.add_argument("--out", "-o", default=None, help="folder for results.csv / results.json (and plots, crops)")
    p.add_argument("--plots", action="store_true", help="per-frame PSNR plots in OUT/plots (needs matplotlib)")
    p.add_argument("--crops", action="store_true", help="side-by-side centre crops in OUT/crops")
    p.add_argument("--quiet", "-q", action="store_true", help="no per-clip progress lines")


def _check_out_folder(out: Path) -> None:
    """Create ``--out`` (a folder) and make sure it takes files, or raise a one-line error."""
    import tempfile

    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file; give a folder for results.csv / results.json")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        raise ValueError(f"--out {out}: cannot write there ({exc.strerror or exc})") from exc


def evaluate_command(args: argparse.Namespace) -> int:
    import torch

    from stvsr.eval.run import evaluate

    if (args.plots or args.crops) and not args.out:
        raise ValueError("--plots/--crops need --out")
    out = Path(args.out) if args.out else None
    if out is not None:
        _check_out_folder(out)  # now, not after an evaluation that may take hours
    report = evaluate(
        args.models,
        args.protocol,
        args.data,
        baselines=not args.no_baselines,
        pretrained=not args.random_weights,
        window=args.window,
        max_frames=args.max_frames,
        list_file=args.list_file,
        device=args.device,
        dtype=getattr(torch, args.dtype),
        plot_dir=out / "plots" if out and args.plots else None,
        crops_dir=out / "crops" if out and args.crops else None,
        log=None if args.quiet else (lambda s: print(s, file=sys.stderr, flush=True)),
    )
    print(report.table())
    if out:
        report.save_csv(out / "results.csv")
        report.save_json(out / "results.json")
        print(f"wrote {out / 'results.csv'} and {out / 'results.json'}")
    return 0
