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
from typing import NoReturn

from printprep import __version__
from printprep.cli import memory
from printprep.errors import PrintprepError

#: Modules under printprep.cli that each define ``register(subparsers)``.
AREAS = ("mesh", "slicing", "casting", "service", "printers", "warmup")

#: Command -> the area module that registers it (tests/test_mesh_cli.py holds this table
#: to what the areas register). ``printprep repair ...`` imports and builds only the
#: mesh area's parser: importing every area (profiles, TOML, the service's helpers) cost
#: about 0.13 s of each command's start-up.
COMMANDS: dict[str, str] = {
    "check": "mesh", "repair": "mesh",
    "slice": "slicing", "layers": "slicing", "profiles": "slicing",
    "prepare": "casting",
    "serve": "service", "worker": "service", "token": "service", "submit": "service", "jobs": "service",
    "printers": "printers",
    "warm-up": "warmup",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``printprep`` parser: every area's commands, or, when ``command`` is one of
    :data:`COMMANDS`, only the commands of its area (parsing that command, its ``--help``
    and its errors are the same either way; the list of commands is not)."""
    parser = argparse.ArgumentParser(
        prog="printprep",
        description="Print preparation and printer control for lost-wax jewelry casting.",
    )
    parser.add_argument("--version", action="version", version=f"printprep {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    areas = (COMMANDS[command],) if command in COMMANDS else AREAS
    for area in areas:
        module = importlib.import_module(f"printprep.cli.{area}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``printprep`` command and return its exit code. ``argv`` None: the
    process's own arguments; a batch command then runs with glibc's allocator set for it
    (:mod:`printprep.cli.memory`) and a mesh command ends the process itself when done
    (:func:`_exit_now`)."""
    own_process = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    # the first word names the command unless it is an option (--help, --version, ...):
    # the top-level parser has no option that takes a value
    command = argv[0] if argv else None
    if own_process and COMMANDS.get(command or "") in memory.BATCH_AREAS:
        memory.keep_freed_memory()
    parser = build_parser(command)
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return 2
    code = _run(args)
    if own_process and COMMANDS.get(command or "") in FAST_EXIT_AREAS and "coverage" not in sys.modules:
        _exit_now(code)
    return code


#: Areas whose commands end their process as soon as their work is done and their output
#: flushed (:func:`_exit_now`): they leave nothing for the interpreter to finish.
FAST_EXIT_AREAS = ("mesh",)


def _run(args: argparse.Namespace) -> int:
    """Run the parsed command's handler; its exit code, errors printed on stderr."""
    try:
        return int(args.handler(args) or 0)
    except PrintprepError as exc:
        print(f"printprep: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("printprep: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _quiet_stdout()
        return 1


def _quiet_stdout() -> None:
    """The reader went away (``printprep check --json f | head``): not an error of ours.
    Point stdout at devnull so that a later flush does not raise again."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _exit_now(code: int) -> NoReturn:
    """Flush stdout and stderr and end the process with ``code`` at once (``os._exit``).

    A process that loaded numba spends 0.25-0.45 s in the interpreter's own finalization
    after its work is done (clearing numba's typing and target registries, whatever the
    mesh size; 0.02 s without numba). The mesh commands write their files with ``with``
    blocks, start no programs and leave no temporary files, so nothing is lost by skipping
    it; atexit handlers do not run (coverage measurement keeps the normal exit).
    """
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _quiet_stdout()
        code = code or 1
    except OSError as exc:  # a full disk, a device that refuses: the output is incomplete
        _quiet_stdout()
        print(f"printprep: cannot write the output: {exc.strerror or exc}", file=sys.stderr)
        code = code or 1
    try:
        sys.stderr.flush()
    except OSError:
        pass
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
