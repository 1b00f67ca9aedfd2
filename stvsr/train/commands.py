"""``stvsr train CONFIG`` (also ``python -m stvsr.train CONFIG``; under ``torchrun`` for several processes)."""

from __future__ import annotations

import argparse

__all__ = ["train_arguments", "train_command"]


def train_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="training config (YAML or JSON; see configs/ and stvsr.train.config)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one config value, e.g. --set steps=10 --set data.crop=64 (repeatable)")
    p.add_argument("--resume", action="store_true", help="continue from OUT_DIR/checkpoints/last.pt if present")
    p.add_argument("--max-steps", type=int, default=None,
                   help="stop after this step (the LR schedule still spans `steps`)")


def train_command(args: argparse.Namespace) -> int:
    import torch.distributed as dist

    from stvsr.train.config import load_config
    from stvsr.train.loop import train

    cfg = load_config(args.config, args.overrides)
    try:
        result = train(cfg, resume=args.resume, max_steps=args.max_steps)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    if result["losses"]:
        print(f"[stvsr.train] step {result['step']}: last loss {result['losses'][-1]:.6g} -> {result['out_dir']}")
    return 0
