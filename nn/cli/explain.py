"""``chainrule explain``: the chain-rule derivation of d expression / d variable."""

from __future__ import annotations

import argparse
from typing import TextIO

from autograd.explain import explain

from .common import Command, CommandError, bounded_int
from .graph import evaluate, take_expression_from

DESCRIPTION = """\
Write out the chain rule for d expression / d variable, every factor with its number.

The expression is parsed as for 'chainrule graph', never run as Python.  Its operations
have no labels, so the derivation has one factor per operation, each named by its
operation and operands; where the variable reaches the result along several paths it is
the sum of the branches.  The last number is what backpropagation gives.
"""

EXAMPLE = """\
example:
  chainrule explain "tanh(x*w + b)" --wrt w --set x=0.5 w=-1.2 b=0.3
  chainrule explain "x*x + sin(x)" --wrt x --set x=2 --format latex
"""

FORMATS = ("text", "markdown", "latex")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("expression", nargs="?",
                        help='the expression, quoted: "tanh(x*w + b)"')
    parser.add_argument("--wrt", required=True, metavar="NAME",
                        help="the variable to differentiate with respect to")
    parser.add_argument("--set", dest="assignments", metavar="NAME=VALUE", nargs="+",
                        action="extend", default=[],
                        help="values of the variables, e.g. --set x=0.5 w=-1.2 b=0.3")
    parser.add_argument("--format", choices=FORMATS, default="text",
                        help="plain text (default), Markdown with mathematics, or LaTeX")
    parser.add_argument("--digits", type=bounded_int(1, 17), default=4, metavar="N",
                        help="significant digits of every number (1 to 17, default 4)")


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Parse and evaluate the expression, then print the derivation."""
    expression, leaves, result = evaluate(args, "explain")
    if args.wrt not in leaves:
        known = ", ".join(expression.variables) or "none"
        raise CommandError(f"--wrt {args.wrt!r}: not a variable of the expression "
                           f"(its variables: {known})")
    derivation = explain(result, leaves[args.wrt], digits=args.digits)
    if args.format == "markdown":
        text = derivation.markdown().rstrip("\n")
    elif args.format == "latex":
        text = derivation.latex()
    else:
        text = str(derivation)
    print(text, file=out)
    return 0


COMMAND = Command("explain", help="write out the chain rule for one gradient",
                  description=DESCRIPTION, epilog=EXAMPLE,
                  add_arguments=add_arguments, run=run, take_extras=take_expression_from)
