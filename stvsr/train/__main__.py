"""``python -m stvsr.train CONFIG [--set key=value] [--resume]`` (works under ``torchrun``)."""

from __future__ import annotations

import argparse
import sys

from stvsr._malloc import tune_malloc
from stvsr.train.commands import train_arguments, train_command


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stvsr.train", description="Train an stvsr model.")
    train_arguments(parser)
    args = parser.parse_args(argv)
    tune_malloc()  # glibc: keep freed activations in the heap instead of faulting them back in per step
    return train_command(args)


if __name__ == "__main__":
    sys.exit(main())
