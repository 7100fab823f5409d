"""The ``printprep`` command line.

The CLI is a thin layer: each area of the project registers its own subcommands from a
module here (``mesh``, ``slicing``, ``casting``, ``service``, ``printers``), and every
handler calls the same library functions the REST API and the web page call.

Exit codes (documented in the README): 0 success / printable, 1 defects found or the
operation finished with problems, 2 unreadable input or bad usage.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from printprep import __version__
from printprep.errors import PrintprepError

#: Modules under printprep.cli that each define ``register(subparsers)``.
AREAS = ("mesh", "slicing", "casting", "service", "printers", "warmup")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="printprep",
        description="Print preparation and printer control for lost-wax jewelry casting.",
    )
    parser.add_argument("--version", action="version", version=f"printprep {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for area in AREAS:
        module = importlib.import_module(f"printprep.cli.{area}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.handler(args) or 0)
    except PrintprepError as exc:
        print(f"printprep: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("printprep: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (``printprep check --json f | head``): not an error of ours.
        # Point stdout at devnull so the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
