"""What every command shares: exit statuses, the one-line error, the one handler of
errors and interrupts, the parser, the record of a command, and the option types that
check a number when the arguments are parsed."""

from __future__ import annotations

import argparse
import os
import select
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn, TextIO

PROG = "chainrule"

# Exit statuses: 0 done, 1 the work itself failed (a check failed, a file could not be
# written, Graphviz is missing), 2 a mistake on the command line or in an expression.
SUCCESS = 0
FAILURE = 1
USAGE_ERROR = 2
# 128 + the signal's number, as a shell reports a program that the signal stopped.
INTERRUPTED = 130  # Ctrl-C (SIGINT)
BROKEN_PIPE = 141  # the reader of the output went away (SIGPIPE): `chainrule check | head`


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
    # The checks that need several options at once (a `CommandError` for the first one
    # broken), run as soon as the arguments are parsed, before any work.
    check_arguments: Callable[[argparse.Namespace], None] | None = None
    # Arguments argparse did not recognise, offered back to the command: True when it
    # took them (graph's "-x*2", which argparse reads as an unknown option).
    take_extras: Callable[[argparse.Namespace, list[str]], bool] | None = None


def handle_errors(name: str, work: Callable[[], int]) -> int:
    """Run `work` and return its exit status, the one place where every command's errors
    and interrupts end: a `CommandError` is one line on stderr, ``name: error: ...``
    (`name` is ``chainrule`` or ``chainrule COMMAND``); Ctrl-C is ``chainrule: interrupted``
    and status 130, without a traceback; argparse's exit for --help and --version keeps
    its status."""
    try:
        return work()
    except CommandError as error:
        hint = f" (see '{name} --help')" if error.usage else ""
        print(f"{name}: error: {error}{hint}", file=sys.stderr)
        return error.status
    except SystemExit as stop:  # --help and --version end through argparse's exit()
        return stop.code if isinstance(stop.code, int) else 0
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError as error:
        if not _stdout_is_gone():  # another pipe (to Graphviz's dot, say): a failure
            print(f"{name}: error: {error}", file=sys.stderr)
            return FAILURE
        return BROKEN_PIPE


def _stdout_is_gone() -> bool:
    """True when stdout is a pipe that nobody reads any more; stdout then points at
    nothing, so that the interpreter's last flush cannot fail again on the way out."""
    try:
        fd = sys.stdout.fileno()
        poller = select.poll()  # a pipe without a reader polls as an error
        poller.register(fd, select.POLLOUT)
        gone = any(events & select.POLLERR for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # stdout is no real file (a test's)
        return False
    if gone:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)
    return gone


def positive_int(text: str) -> int:
    """An option's whole number of at least 1 (argparse names the option)."""
    return bounded_int(1)(text)


def bounded_int(low: int, high: int | None = None) -> Callable[[str], int]:
    """The type of an option that takes a whole number from `low` to `high` (no upper
    bound when None), refused when the arguments are parsed."""
    def whole_number_in_range(text: str) -> int:
        value = whole_number(text)
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"must be at most {high}, got {value}")
        return value

    return whole_number_in_range


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
