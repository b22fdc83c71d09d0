"""What every command shares: exit statuses, the one-line error, the parser, the record of a
command, and the option types that check a number when the arguments are parsed."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn, TextIO

PROG = "chainrule"

# Exit statuses: 0 done, 1 the work itself failed (a check failed, a file could not be
# written, Graphviz is missing), 2 a mistake on the command line or in an expression.
SUCCESS = 0
FAILURE = 1
USAGE_ERROR = 2


class CommandError(Exception):
    """A problem to report on one line; ``status`` is the exit status."""

    def __init__(self, message: str, status: int = USAGE_ERROR, usage: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.usage = usage  # a mistake in the options: point at --help


class Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line on stderr, not the usage text."""

    def error(self, message: str) -> NoReturn:
        raise CommandError(message, usage=True)


@dataclass(frozen=True)
class Command:
    """One sub-command: its name and texts for ``--help``, the options it adds to its
    parser, and the function that runs it (printing to `out`, returning the exit status)."""

    name: str
    help: str
    description: str
    epilog: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, TextIO], int]
    # Arguments argparse did not recognise, offered back to the command: True when it
    # took them (graph's "-x*2", which argparse reads as an unknown option).
    take_extras: Callable[[argparse.Namespace, list[str]], bool] | None = None


def positive_int(text: str) -> int:
    """An option's whole number of at least 1 (argparse names the option)."""
    value = whole_number(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def seed(text: str) -> int:
    """A seed: a whole number, 0 or more."""
    value = whole_number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
