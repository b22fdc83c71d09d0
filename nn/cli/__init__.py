"""The ``chainrule`` command: ``chainrule graph``, ``explain``, ``demo`` and ``check``.

The top floor of the project: it imports `autograd` and `nn`, and nothing in them imports
it.  One module per command (`graph`, `explain`, `demo`, `check`), each a `Command` record that adds
its options to one argparse parser with sub-commands; `common` holds what they share
(exit statuses, the one handler of errors and Ctrl-C, option types with limits) and
`output` the writing of drawings and files.

Every command takes ``--help``.  A user mistake prints one line on stderr,
``chainrule <command>: error: ...``, and exits with status 2; no traceback.

Exit status: 0 success, 1 the work itself failed (a check failed, a file could not be
written, Graphviz is missing), 2 a mistake on the command line or in an expression,
130 interrupted by Ctrl-C.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TextIO

from autograd import __version__

from . import check, demo, explain, graph
from .common import PROG, Command, CommandError, Parser, handle_errors

__all__ = ["main", "build_parser", "COMMANDS"]

DESCRIPTION = "chainrule: a scalar reverse-mode autograd engine you can see."

# In the order --help lists them.
COMMANDS: dict[str, Command] = {c.name: c for c in (demo.COMMAND, graph.COMMAND,
                                                    explain.COMMAND, check.COMMAND)}


def build_parser() -> argparse.ArgumentParser:
    """The parser of the whole command line, with one sub-parser per command."""
    parser = Parser(prog=PROG, description=DESCRIPTION,
                    formatter_class=argparse.RawDescriptionHelpFormatter,
                    epilog="Run 'chainrule COMMAND --help' for the options of a command.")
    parser.add_argument("--version", action="version", version=f"chainrule {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    commands.required = True
    for command in COMMANDS.values():
        sub = commands.add_parser(command.name, help=command.help,
                                  description=command.description, epilog=command.epilog,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
        command.add_arguments(sub)
    return parser


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    """Run the command line; return the exit status (for ``sys.exit``).

    `argv` defaults to ``sys.argv[1:]``; what a command prints goes to `out` (stdout by
    default), errors to stderr.
    """
    arguments = list(sys.argv[1:] if argv is None else argv)
    name = next((f"{PROG} {a}" for a in arguments if a in COMMANDS), PROG)
    return handle_errors(name, lambda: _run(arguments, sys.stdout if out is None else out))


def _run(arguments: list[str], out: TextIO) -> int:
    args, extras = build_parser().parse_known_args(arguments)
    command = COMMANDS[args.command]
    if extras and not (command.take_extras and command.take_extras(args, extras)):
        raise CommandError(f"unrecognized arguments: {' '.join(extras)}", usage=True)
    if command.check_arguments:
        command.check_arguments(args)
    return command.run(args, out)
