"""The ``chainrule`` command: ``chainrule graph``, ``chainrule demo`` and ``chainrule check``.

It lives in `nn` (not `autograd`) because the demo trains networks, and `autograd` never
imports `nn`.  Every command takes ``--help``.  A user mistake prints one line on stderr,
``chainrule <command>: error: ...``, and exits with status 2; no traceback.

Exit status: 0 success, 1 the work itself failed (a check failed, a file could not be
written, Graphviz is missing), 2 a mistake on the command line or in an expression.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from autograd import Value
from autograd.expression import ExpressionError, parse

PROG = "chainrule"
USAGE_ERROR = 2
FAILURE = 1

# Output formats that `dot` renders; '.dot' and '.gv' write the DOT source itself.
RENDERED_FORMATS = ("svg", "png", "pdf")
SOURCE_SUFFIXES = (".dot", ".gv")


class CommandError(Exception):
    """A problem to report on one line; ``status`` is the exit status."""

    def __init__(self, message: str, status: int = USAGE_ERROR, usage: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.usage = usage  # a mistake in the options: point at --help


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line on stderr, not the usage text."""

    def error(self, message: str) -> NoReturn:
        raise CommandError(message, usage=True)


# --------------------------------------------------------------------------------------
# chainrule graph
# --------------------------------------------------------------------------------------

GRAPH_DESCRIPTION = """\
Draw a scalar expression as a graph, with every value and gradient.

The expression is parsed, never run as Python: numbers, variable names, + - * / **,
unary minus, parentheses and the engine's functions (exp log sqrt tanh sigmoid relu
leaky_relu softplus sin cos abs).  Give every variable a value with --set.  The
command prints the result and d result / d variable for each variable, and writes the
drawing (the format follows the file name: .svg .png .pdf, or .dot for the DOT source).
"""

GRAPH_EXAMPLE = """\
example:
  chainrule graph "tanh(x*w + b)" --set x=0.5 w=-1.2 b=0.3 --out neuron.svg --html
"""


def _add_graph_parser(commands: argparse._SubParsersAction) -> None:
    graph = commands.add_parser(
        "graph", help="draw an expression with its gradients",
        description=GRAPH_DESCRIPTION, epilog=GRAPH_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    graph.add_argument("expression", nargs="?",
                       help='the expression, quoted: "tanh(x*w + b)"')
    graph.add_argument("--set", dest="assignments", metavar="NAME=VALUE", nargs="+",
                       action="extend", default=[],
                       help="values of the variables, e.g. --set x=0.5 w=-1.2 b=0.3")
    graph.add_argument("--out", type=Path, default=Path("graph.svg"), metavar="FILE",
                       help="where to write the drawing (default: graph.svg)")
    graph.add_argument("--max-nodes", type=_positive_int, default=400, metavar="N",
                       help="refuse to draw graphs with more nodes than this (default: 400)")
    graph.add_argument("--html", action="store_true",
                       help="also write the step-through page of the forward and backward "
                            "pass, next to FILE with the suffix .html")
    graph.set_defaults(run=run_graph)


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


def _output_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in SOURCE_SUFFIXES:
        return "dot"
    if suffix[1:] in RENDERED_FORMATS:
        return suffix[1:]
    raise CommandError(f"--out {str(path)!r}: cannot tell the format from the suffix "
                       f"{suffix or '(none)'!r}; use .svg, .png, .pdf or .dot")


def _format_number(x: float) -> str:
    return f"{x:.6g}" if math.isfinite(x) else str(x)


def run_graph(args: argparse.Namespace) -> int:
    """Parse, evaluate and differentiate the expression, print the numbers, draw the graph."""
    out_format = _output_format(args.out)
    if not args.out.parent.is_dir():
        raise CommandError(f"--out {str(args.out)!r}: the folder {str(args.out.parent)!r} "
                           "does not exist")
    assignments = list(args.assignments)
    if args.expression is None:
        # `graph --set x=1 "x*2"`: --set swallowed the expression; take it back.
        texts = [a for a in assignments if "=" not in a]
        if len(texts) != 1:
            raise CommandError("the expression is missing, as in: chainrule graph "
                               '"tanh(x*w + b)" --set x=0.5 w=-1.2 b=0.3', usage=True)
        assignments.remove(texts[0])
        args.expression = texts[0]
    values = parse_assignments(assignments)
    try:
        expression = parse(args.expression)
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
    result.backward()
    # A graph too large to draw fails here, before any output or file.
    drawing = _drawing(result, args.max_nodes)
    page = _write_html(result, args.out.with_suffix(".html"), args.max_nodes) \
        if args.html else None

    print(f"{expression.text.strip()} = {_format_number(result.data)}")
    for name in expression.variables:
        print(f"  d/d{name} = {_format_number(leaves[name].grad)}")

    written = [_render(drawing, args.out, out_format)]
    if page is not None:
        written.append(page)
    for path in written:
        print(f"wrote {path}")
    return 0


def _drawing(root: Value, max_nodes: int) -> Any:
    """The drawing of `root`, or a one-line error when it has too many nodes."""
    from autograd.viz import GraphTooLargeError, draw_dot

    try:
        return draw_dot(root, max_nodes=max_nodes)
    except GraphTooLargeError:
        raise CommandError(f"the graph has more than --max-nodes {max_nodes} nodes, too many "
                           "to draw readably; give a larger --max-nodes to draw it anyway"
                           ) from None


def _render(drawing: Any, path: Path, out_format: str = "svg") -> Path:
    """Render a `graphviz.Digraph` into `path`; the DOT source survives a missing `dot`."""
    import graphviz

    if out_format == "dot":
        _write(path, drawing.source.encode("utf-8"))
        return path
    try:
        data = drawing.pipe(format=out_format, quiet=True)  # dot's stderr: in our message
    except (graphviz.ExecutableNotFound, graphviz.CalledProcessError) as error:
        source = path.with_suffix(".dot")
        _write(source, drawing.source.encode("utf-8"))
        raise _graphviz_error(error, f"; the DOT source is in {source}") from None
    _write(path, data)
    return path


def _graphviz_error(error: Exception, kept: str = "") -> CommandError:
    """The one line (status 1) for a `dot` that is missing or failed; `kept` says what was
    written instead."""
    import graphviz

    if isinstance(error, graphviz.ExecutableNotFound):
        return CommandError("the Graphviz program 'dot' is missing, so nothing could be drawn: "
                            f"install it (on Debian: sudo apt-get install graphviz){kept}",
                            FAILURE)
    assert isinstance(error, graphviz.CalledProcessError)
    stderr = error.stderr or b""
    if isinstance(stderr, bytes):
        stderr = stderr.decode("utf-8", "replace")
    said = stderr.strip().splitlines()
    return CommandError(f"Graphviz's dot failed (exit status {error.returncode}"
                        f"{': ' + said[0] if said else ''}){kept}", FAILURE)


def _write_html(root: Value, path: Path, max_nodes: int = 150) -> Path:
    import graphviz

    from autograd.viz import GraphTooLargeError, export_html

    try:
        export_html(root, path, max_nodes=max_nodes)
    except GraphTooLargeError:
        raise CommandError(f"the graph has more than --max-nodes {max_nodes} nodes, too many "
                           "for the step-through page; give a larger --max-nodes to write it "
                           "anyway") from None
    except (graphviz.ExecutableNotFound, graphviz.CalledProcessError) as error:
        raise _graphviz_error(error) from None  # the page needs dot's drawing
    except OSError as error:
        raise CommandError(f"cannot write {path}: {error.strerror or error}", FAILURE) from None
    return path


def _write(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as error:
        raise CommandError(f"cannot write {path}: {error.strerror or error}", FAILURE) from None


# --------------------------------------------------------------------------------------
# chainrule demo
# --------------------------------------------------------------------------------------

DATASET_NAMES = ("moons", "circles", "xor", "spiral")
DEMO_POINTS = {"moons": 100, "circles": 100, "xor": 100, "spiral": 150}
SPIRAL_CLASSES = 3
DEMO_LR = 0.02
DEMO_BATCH = 25
DEMO_L2 = 1e-4

DEMO_DESCRIPTION = """\
Train a small network on a built-in dataset and show what backpropagation did.

Trains an MLP with Adam (minibatches of 25, binary cross-entropy on logits, or softmax
cross-entropy for the three-class spiral, L2 1e-4), printing a progress bar and one line
per epoch, then writes into --out.  Two-class datasets train through autograd.compile
(the same numbers as the eager engine, at NumPy speed) unless --no-compile is given.

Files:

  gradient-flow.svg     the loss of the hardest training example, drawn through the
                        trained network, one box per neuron (per layer when there
                        are too many neurons to draw), coloured by gradient
  neuron.html           a step-through page of the forward and backward pass, for
                        that example, of the first neuron of the first layer that it
                        switches on (open it in a browser)
  model.npz             the trained weights (nn.load_model reads them back)
  decision-boundary.png and loss.png, where matplotlib is installed
"""


def _layer_sizes(text: str) -> list[int]:
    """'16,16' -> [16, 16] for --hidden."""
    parts = [p.strip() for p in text.split(",")]
    try:
        sizes = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected layer sizes separated by commas, as in 16,16; got {text!r}") from None
    if not sizes or any(n < 1 for n in sizes):
        raise argparse.ArgumentTypeError(f"every layer needs at least 1 neuron, got {text!r}")
    return sizes


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _add_demo_parser(commands: argparse._SubParsersAction) -> None:
    demo = commands.add_parser(
        "demo", help="train a network and draw its gradients (the main job)",
        description=DEMO_DESCRIPTION,
        epilog="example:\n  chainrule demo --dataset circles --hidden 8,8 --epochs 50",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    demo.add_argument("--dataset", choices=DATASET_NAMES, default="moons",
                      help="which dataset to learn (default: moons)")
    demo.add_argument("--hidden", type=_layer_sizes, default=[16, 16], metavar="SIZES",
                      help="hidden layer sizes, separated by commas (default: 16,16)")
    demo.add_argument("--epochs", type=_positive_int, default=100, metavar="N",
                      help="passes over the data (default: 100)")
    demo.add_argument("--seed", type=_seed, default=0, metavar="S",
                      help="seed for the data, the weights and the shuffling (default: 0)")
    demo.add_argument("--out", type=Path, default=Path("chainrule-demo"), metavar="DIR",
                      help="folder for the files (default: chainrule-demo)")
    demo.add_argument("--no-compile", dest="compiled", action="store_false",
                      help="train with the eager engine even where autograd.compile applies "
                           "(same numbers, about ten times slower)")
    demo.set_defaults(run=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    """Train, then write the drawings, the page, the weights and the plots."""
    import numpy as np

    import nn

    out_dir: Path = args.out
    if out_dir.exists() and not out_dir.is_dir():
        raise CommandError(f"--out {str(out_dir)!r} is a file, not a folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CommandError(f"cannot create {out_dir}: {error.strerror or error}",
                           FAILURE) from None

    n = DEMO_POINTS[args.dataset]
    if args.dataset == "spiral":
        X, y = nn.spiral(n, classes=SPIRAL_CLASSES, seed=args.seed)
        loss, outputs = "cross_entropy", SPIRAL_CLASSES
    else:
        X, y = nn.data.DATASETS[args.dataset](n, seed=args.seed)
        loss, outputs = "bce", 1
    model = nn.MLP(2, [*args.hidden, outputs], seed=args.seed)
    # autograd.compile runs one-output models with these losses over a whole batch with
    # NumPy (same numbers); softmax cross-entropy's graph depends on the data, so the
    # spiral trains eagerly.
    compiled = args.compiled and outputs == 1
    sizes = "-".join(str(k) for k in model.sizes)
    print(f"Training an MLP {sizes} ({model.num_parameters()} parameters) on {n} points of "
          f"'{args.dataset}' for {args.epochs} epochs: Adam, learning rate {DEMO_LR}, "
          f"minibatches of {DEMO_BATCH}, {loss} loss, L2 {DEMO_L2}, "
          f"{'compiled with autograd.compile' if compiled else 'eager engine'}.", flush=True)
    history = nn.fit(model, X, y, loss=loss, epochs=args.epochs, batch_size=DEMO_BATCH,
                     optimizer=nn.Adam(model.parameters(), lr=DEMO_LR), l2=DEMO_L2,
                     seed=args.seed, file=sys.stdout, compiled=compiled)
    accuracy = history.accuracy[-1]
    print(f"Finished after {history.epochs} epochs: loss {history.loss[-1]:.4f}, "
          f"training accuracy {100 * accuracy:.1f}%.")

    written = [_save_model(model, out_dir / "model.npz")]
    hardest = _hardest_example(model, X, y, loss)
    written.append(_draw_example(model, X[hardest], y[hardest], loss, hardest,
                                 out_dir / "gradient-flow.svg"))
    written.append(_neuron_page(model, X[hardest], out_dir / "neuron.html"))
    try:
        import matplotlib
    except ImportError:
        print("matplotlib is not installed, so no plots: pip install 'chainrule[plot]' "
              "(make demo does this).")
    else:
        matplotlib.use("Agg")  # files only, never a window
        written.append(_plot_boundary(model, X, y, args.dataset,
                                      out_dir / "decision-boundary.png", np))
        written.append(_plot_loss(history, out_dir / "loss.png"))
    print(f"Wrote {len(written)} files:")
    for path in written:
        print(f"  {path}")
    return 0


def _save_model(model: object, path: Path) -> Path:
    from nn.serialize import SerializationError

    try:
        model.save(str(path))  # type: ignore[attr-defined]
    except OSError as error:
        raise CommandError(f"cannot write {path}: {error.strerror or error}", FAILURE) from None
    except SerializationError as error:  # save's own one line for a file it cannot write
        raise CommandError(str(error), FAILURE) from None
    return path


def _example_loss(model: object, x: object, target: object, loss: str) -> Value:
    """The loss of one example, its inputs labelled x1, x2 for the drawing."""
    from nn.losses import get_loss

    inputs = [Value(float(v), label=f"x{i + 1}") for i, v in enumerate(x)]  # type: ignore
    output = model(inputs)  # type: ignore[operator]
    # One example: a batch of one output (a Value, or a list of logits for several classes).
    value = get_loss(loss)([output], [target])
    value.label = "loss"
    return value


def _hardest_example(model: object, X: object, y: object, loss: str) -> int:
    """Index of the training example with the largest loss: the most to learn from."""
    import autograd

    with autograd.no_grad():
        losses = [_example_loss(model, x, t, loss).data for x, t in zip(X, y)]  # type: ignore
    return max(range(len(losses)), key=losses.__getitem__)


def _draw_example(model: object, x: object, target: object, loss: str, index: int,
                  path: Path) -> Path:
    from autograd.viz import GraphTooLargeError, draw_dot

    root = _example_loss(model, x, target, loss)
    model.zero_grad()  # type: ignore[attr-defined]
    root.backward()
    title = f"loss of training example {index} (the hardest), one box per "
    try:
        drawing = draw_dot(root, collapse="neuron", title=title + "neuron")
    except GraphTooLargeError:
        # Too many neurons to draw one box each (--hidden 400, say): one box per layer.
        print(f"{path.name}: too many neurons for one box each, so one box per layer.")
        drawing = draw_dot(root, collapse="layer", title=title + "layer")
    return _render(drawing, path)


def _neuron_page(model: object, x: object, path: Path) -> Path:
    """The step-through page of the first neuron of the first layer that `x` activates.

    A ReLU neuron switched off by the example would send back zeros only, so the page
    shows the first one whose weights get a gradient (the first neuron if none does).
    """
    chosen = None
    for neuron in model.layers[0].neurons:  # type: ignore[attr-defined]
        inputs = [Value(float(v), label=f"x{i + 1}") for i, v in enumerate(x)]  # type: ignore
        out = neuron(inputs)  # tagged with the neuron's path, as its parameters are
        out.label = "out"
        model.zero_grad()  # type: ignore[attr-defined]
        out.backward()
        if chosen is None:
            chosen = out
        if any(w.grad != 0.0 for w in neuron.w):
            chosen = out
            break
    if chosen is not out:  # no neuron is active: back to the first one's gradients
        model.zero_grad()  # type: ignore[attr-defined]
        chosen.backward()
    return _write_html(chosen, path)


def _plot_boundary(model: object, X: object, y: object, dataset: str, path: Path,
                   np: object) -> Path:
    """Class regions on a grid, computed from the weight matrices with NumPy."""
    import matplotlib.pyplot as plt

    from nn.reference import ReferenceNetwork

    X, y = np.asarray(X), np.asarray(y)  # type: ignore[attr-defined]
    reference = ReferenceNetwork.from_model(model)
    low, high = X.min(axis=0) - 0.5, X.max(axis=0) + 0.5
    xs = np.linspace(low[0], high[0], 200)  # type: ignore[attr-defined]
    ys = np.linspace(low[1], high[1], 200)  # type: ignore[attr-defined]
    gx, gy = np.meshgrid(xs, ys)  # type: ignore[attr-defined]
    scores = reference.predict(np.column_stack([gx.ravel(), gy.ravel()]))  # type: ignore
    regions = (np.argmax(scores, axis=1) if scores.shape[1] > 1  # type: ignore
               else (scores[:, 0] > 0).astype(int))
    figure, axes = plt.subplots(figsize=(5, 5))
    axes.contourf(gx, gy, regions.reshape(gx.shape), alpha=0.3, cmap="coolwarm")
    axes.scatter(X[:, 0], X[:, 1], c=y, cmap="coolwarm", edgecolors="k", s=25)
    axes.set_title(f"{dataset}: decision boundary")
    figure.tight_layout()
    return _save_figure(figure, path)


def _plot_loss(history: object, path: Path) -> Path:
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(5, 3.5))
    epochs = range(1, len(history.loss) + 1)  # type: ignore[attr-defined]
    axes.plot(epochs, history.loss, label="training loss")  # type: ignore[attr-defined]
    axes.set_xlabel("epoch")
    axes.set_ylabel("loss")
    axes.set_yscale("log")
    axes.legend()
    figure.tight_layout()
    return _save_figure(figure, path)


def _save_figure(figure: object, path: Path) -> Path:
    import matplotlib.pyplot as plt

    try:
        figure.savefig(path, dpi=100)  # type: ignore[attr-defined]
    except OSError as error:
        raise CommandError(f"cannot write {path}: {error.strerror or error}", FAILURE) from None
    finally:
        plt.close(figure)  # type: ignore[arg-type]
    return path


# --------------------------------------------------------------------------------------
# The command line itself
# --------------------------------------------------------------------------------------

DESCRIPTION = "chainrule: a scalar reverse-mode autograd engine you can see."


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description=DESCRIPTION,
                     formatter_class=argparse.RawDescriptionHelpFormatter,
                     epilog="Run 'chainrule COMMAND --help' for the options of a command.")
    from autograd import __version__

    parser.add_argument("--version", action="version", version=f"chainrule {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    _add_demo_parser(commands)
    _add_graph_parser(commands)
    # `check` parses its own options (nn.check.main); listed here for --help.
    commands.add_parser("check", add_help=False,
                        help="check every derivative against finite differences")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (for ``sys.exit``)."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["check"]:
        from nn.check import main as check_main

        return check_main(arguments[1:])
    parser = build_parser()
    try:
        args, extras = parser.parse_known_args(arguments)
        if extras:
            _take_expression_from(args, extras)
        return int(args.run(args))
    except CommandError as error:
        names = _command_names(parser)
        command = next((f"{PROG} {a}" for a in arguments if a in names), PROG)
        hint = f" (see '{command} --help')" if error.usage else ""
        print(f"{command}: error: {error}{hint}", file=sys.stderr)
        return error.status
    except SystemExit as stop:  # --help and --version end through argparse's exit()
        return stop.code if isinstance(stop.code, int) else 0
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


def _take_expression_from(args: argparse.Namespace, extras: list[str]) -> None:
    """`chainrule graph "-x*2"`: argparse takes an expression that starts with a minus for
    an unknown option; take it back as the expression.  Any other extra is a mistake."""
    if (args.command == "graph" and args.expression is None and len(extras) == 1
            and extras[0].startswith("-") and not extras[0].startswith("--")):
        args.expression = extras[0]
        return
    raise CommandError(f"unrecognized arguments: {' '.join(extras)}", usage=True)


def _command_names(parser: argparse.ArgumentParser) -> set[str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    return set()


if __name__ == "__main__":
    sys.exit(main())
