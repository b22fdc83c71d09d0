"""``chainrule graph``: draw a scalar expression with every value and gradient."""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import graphviz

from autograd import Value
from autograd.expression import Expression, ExpressionError, parse
from autograd.viz import GraphTooLargeError, draw_dot

from .common import Command, CommandError, positive_int
from .output import StagedFiles, output_format, stage_drawing, stage_page

DESCRIPTION = """\
Draw a scalar expression as a graph, with every value and gradient.

The expression is parsed, never run as Python: numbers, variable names, + - * / **,
unary minus, parentheses and the engine's functions (exp log sqrt tanh sigmoid relu
leaky_relu softplus sin cos abs).  Give every variable a value with --set.  The
command prints the result and d result / d variable for each variable, and writes the
drawing (the format follows the file name: .svg .png .pdf, or .dot for the DOT source).
"""

EXAMPLE = """\
example:
  chainrule graph "tanh(x*w + b)" --set x=0.5 w=-1.2 b=0.3 --out neuron.svg --html
  chainrule graph "tanh(x*w + b)" --set x=0.5 w=-1.2 b=0.3 --out neuron.svg --quiz
"""


def add_arguments(graph: argparse.ArgumentParser) -> None:
    graph.add_argument("expression", nargs="?",
                       help='the expression, quoted: "tanh(x*w + b)"')
    graph.add_argument("--set", dest="assignments", metavar="NAME=VALUE", nargs="+",
                       action="extend", default=[],
                       help="values of the variables, e.g. --set x=0.5 w=-1.2 b=0.3")
    graph.add_argument("--out", type=Path, default=Path("graph.svg"), metavar="FILE",
                       help="where to write the drawing (default: graph.svg)")
    graph.add_argument("--max-nodes", type=positive_int, default=400, metavar="N",
                       help="refuse to draw graphs with more nodes than this (default: 400)")
    graph.add_argument("--html", action="store_true",
                       help="also write the step-through page of the forward and backward "
                            "pass, next to FILE with the suffix .html")
    graph.add_argument("--quiz", action="store_true",
                       help="write the step-through page as a quiz (implies --html): the "
                            "gradients are hidden and the reader types each one")


def take_expression_from(args: argparse.Namespace, extras: list[str]) -> bool:
    """`chainrule graph "-x*2"`: argparse takes an expression that starts with a minus for
    an unknown option; take it back as the expression.  False when `extras` is anything
    else (a mistake)."""
    if (args.expression is None and len(extras) == 1
            and extras[0].startswith("-") and not extras[0].startswith("--")):
        args.expression = extras[0]
        return True
    return False


def parse_assignments(assignments: Sequence[str]) -> dict[str, float]:
    """``['x=0.5', 'w=-1.2']`` -> ``{'x': 0.5, 'w': -1.2}``, with one-line errors."""
    values: dict[str, float] = {}
    for item in assignments:
        name, sep, text = item.partition("=")
        name, text = name.strip(), text.strip()
        if not sep or not name:
            raise CommandError(f"--set {item!r}: expected NAME=VALUE, as in x=0.5")
        if not name.isidentifier():
            raise CommandError(f"--set {item!r}: {name!r} is not a variable name")
        if name in values:
            raise CommandError(f"--set {item!r}: {name!r} is set twice")
        try:
            values[name] = float(text)
        except ValueError:
            raise CommandError(f"--set {item!r}: {text!r} is not a number") from None
        if math.isinf(values[name]) and "inf" not in text.lower():
            # float('1e400') is inf; as in an expression, a number that overflows is refused.
            raise CommandError(f"--set {item!r}: {text} is too large for a float")
    return values


def evaluate(args: argparse.Namespace, command: str
             ) -> tuple[Expression, dict[str, Value], Value]:
    """The expression of ``args.expression`` (or the one --set swallowed), evaluated on
    the values of ``args.assignments``: (expression, a labelled leaf per variable, result).
    Every mistake is one line naming the column or the --set item."""
    assignments = list(args.assignments)
    text: str | None = args.expression
    if text is None:
        # `graph --set x=1 "x*2"`: --set swallowed the expression; take it back.
        texts = [a for a in assignments if "=" not in a]
        if len(texts) != 1:
            raise CommandError(f"the expression is missing, as in: chainrule {command} "
                               '"tanh(x*w + b)" --set x=0.5 w=-1.2 b=0.3', usage=True)
        assignments.remove(texts[0])
        text = texts[0]
    values = parse_assignments(assignments)
    try:
        expression = parse(text)
        leaves = {name: Value(values[name], label=name)
                  for name in expression.variables if name in values}
        # Unset and unused names are reported by evaluate, with their column.
        result = expression.evaluate({**values, **leaves})
    except ExpressionError as error:
        hint = ""
        if error.variable is not None and error.variable not in values:
            hint = f"; give it a value with --set {error.variable}=VALUE"
        elif error.variable is not None:
            hint = f"; remove {error.variable}=... from --set"
        raise CommandError(f"{error}{hint}") from None
    return expression, leaves, result


def format_number(x: float) -> str:
    return f"{x:.6g}" if math.isfinite(x) else str(x)


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Parse, evaluate and differentiate the expression, print the numbers, draw the graph."""
    path: Path = args.out
    out_format = output_format(path)
    if not path.parent.is_dir():
        raise CommandError(f"--out {str(path)!r}: the folder {str(path.parent)!r} "
                           "does not exist")
    expression, leaves, result = evaluate(args, "graph")
    result.backward()
    # A graph too large to draw fails here, before any output or file.
    drawing = _drawing(result, args.max_nodes)
    with StagedFiles() as files:  # the drawing and the page, both or neither
        page = stage_page(files, result, path.with_suffix(".html"), args.max_nodes,
                          quiz=args.quiz) if args.html or args.quiz else None

        print(f"{expression.text.strip()} = {format_number(result.data)}", file=out)
        for name in expression.variables:
            print(f"  d/d{name} = {format_number(leaves[name].grad)}", file=out)

        written = [stage_drawing(files, drawing, path, out_format)]
        if page is not None:
            written.append(page)
        files.commit()
    for written_path in written:
        print(f"wrote {written_path}", file=out)
    return 0


def _drawing(root: Value, max_nodes: int) -> graphviz.Digraph:
    """The drawing of `root`, or a one-line error when it has too many nodes."""
    try:
        return draw_dot(root, max_nodes=max_nodes)
    except GraphTooLargeError:
        raise CommandError(f"the graph has more than --max-nodes {max_nodes} nodes, too many "
                           "to draw readably; give a larger --max-nodes to draw it anyway"
                           ) from None


COMMAND = Command("graph", help="draw an expression with its gradients",
                  description=DESCRIPTION, epilog=EXAMPLE,
                  add_arguments=add_arguments, run=run, take_extras=take_expression_from)
