"""``chainrule check`` under its older name: ``python -m nn.check`` and ``nn.check.main``.

The command lives in `nn.cli.check`; this module only forwards to it, so it sits on the
command line's floor with it (nothing in `autograd` or `nn` imports either).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

from nn.cli import main as _chainrule
from nn.cli.check import NETWORKS, NetworkCase, check_networks, check_operations

__all__ = ["main", "NETWORKS", "NetworkCase", "check_networks", "check_operations"]


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """``chainrule check`` with these arguments (``sys.argv[1:]`` by default): the tables
    go to `out` (stdout), errors to stderr; returns the exit status."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    return _chainrule(["check", *arguments], out=out)


if __name__ == "__main__":
    sys.exit(main())
