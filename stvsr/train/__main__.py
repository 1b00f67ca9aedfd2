"""``python -m stvsr.train CONFIG [--set key=value] [--resume]`` (works under ``torchrun``)."""

from __future__ import annotations

import argparse
import sys

from stvsr.train.commands import train_arguments, train_command


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stvsr.train", description="Train an stvsr model.")
    train_arguments(parser)
    return train_command(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
