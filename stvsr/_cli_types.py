"""Argument types shared by the command-line subcommands (argparse ``type=`` callables).

Light on purpose (no torch): ``stvsr --help`` builds parsers without importing the heavy stack.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

__all__ = ["int_at_least"]


def int_at_least(option: str, minimum: int, meaning: str = "") -> Callable[[str], int]:
    """An argparse type accepting integers ``>= minimum``; the error names ``option`` and the value."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
            raise argparse.ArgumentTypeError(f"{option} must be {what}{meaning}, got {text!r}")
        return value

    return parse
