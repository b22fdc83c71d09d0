"""``chainrule demo``: train a small network on a built-in dataset and draw what
backpropagation did."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import numpy as np

import autograd
import nn
from autograd import Value
from autograd.viz import GraphTooLargeError, draw_dot
from nn.losses import get_loss
from nn.reference import ReferenceNetwork
from nn.serialize import SerializationError

from .common import FAILURE, Command, CommandError, bounded_int, seed
from .output import cannot_write, stage_drawing, stage_page, write_alone

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# Two classes, learnt with binary cross-entropy; the spiral has SPIRAL_CLASSES arms.
TWO_CLASS_DATASETS: dict[str, Callable[..., tuple[np.ndarray, np.ndarray]]] = {
    "moons": nn.moons, "circles": nn.circles, "xor": nn.xor}
DATASET_NAMES = (*TWO_CLASS_DATASETS, "spiral")
DEMO_POINTS = {"moons": 100, "circles": 100, "xor": 100, "spiral": 150}
SPIRAL_CLASSES = 3
DEMO_LR = 0.02
DEMO_BATCH = 25
DEMO_L2 = 1e-4
# Limits, checked when the arguments are parsed: beyond them the demo would run for hours
# or run out of memory (--hidden 100000,100000 is 10**10 weights), and the drawing by
# layer would have too many boxes.
MAX_EPOCHS = 100_000
MAX_HIDDEN_LAYERS = 20
MAX_PARAMETERS = 100_000

DESCRIPTION = """\
Train a small network on a built-in dataset and show what backpropagation did.

Trains an MLP with Adam (minibatches of 25, binary cross-entropy on logits, or softmax
cross-entropy for the three-class spiral, L2 1e-4), showing its progress on one line
(a handful of lines when the output is not a terminal), then writes into --out.
Two-class datasets train through autograd.compile (the same numbers as the eager
engine, at NumPy speed) unless --no-compile is given.

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

EXAMPLE = "example:\n  chainrule demo --dataset circles --hidden 8,8 --epochs 50"


def layer_sizes(text: str) -> list[int]:
    """'16,16' -> [16, 16] for --hidden."""
    parts = [p.strip() for p in text.split(",")]
    try:
        sizes = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected layer sizes separated by commas, as in 16,16; got {text!r}") from None
    if not sizes or any(n < 1 for n in sizes):
        raise argparse.ArgumentTypeError(f"every layer needs at least 1 neuron, got {text!r}")
    if len(sizes) > MAX_HIDDEN_LAYERS:
        raise argparse.ArgumentTypeError(f"at most {MAX_HIDDEN_LAYERS} hidden layers, got "
                                         f"{len(sizes)} in {text!r}")
    return sizes


def parameter_count(sizes: list[int]) -> int:
    """Weights and biases of a fully connected network with these layer sizes (inputs
    first): each layer has (inputs + 1) x neurons."""
    return sum((n_in + 1) * n_out for n_in, n_out in zip(sizes, sizes[1:]))


def check_arguments(args: argparse.Namespace) -> None:
    """Refuse a network too large to train and draw, before anything is built."""
    parameters = parameter_count([2, *args.hidden, _outputs(args.dataset)])
    if parameters > MAX_PARAMETERS:
        hidden = ",".join(str(n) for n in args.hidden)
        raise CommandError(f"--hidden {hidden}: the network would have {parameters} "
                           f"parameters, more than the {MAX_PARAMETERS} the demo allows")


def _outputs(dataset: str) -> int:
    return SPIRAL_CLASSES if dataset == "spiral" else 1


def add_arguments(demo: argparse.ArgumentParser) -> None:
    demo.add_argument("--dataset", choices=DATASET_NAMES, default="moons",
                      help="which dataset to learn (default: moons)")
    demo.add_argument("--hidden", type=layer_sizes, default=[16, 16], metavar="SIZES",
                      help="hidden layer sizes, separated by commas (default: 16,16; at "
                           f"most {MAX_HIDDEN_LAYERS} layers and {MAX_PARAMETERS} "
                           "parameters in all)")
    demo.add_argument("--epochs", type=bounded_int(1, MAX_EPOCHS), default=100, metavar="N",
                      help=f"passes over the data (default: 100, at most {MAX_EPOCHS})")
    demo.add_argument("--seed", type=seed, default=0, metavar="S",
                      help="seed for the data, the weights and the shuffling (default: 0)")
    demo.add_argument("--out", type=Path, default=Path("chainrule-demo"), metavar="DIR",
                      help="folder for the files (default: chainrule-demo)")
    demo.add_argument("--no-compile", dest="compiled", action="store_false",
                      help="train with the eager engine even where autograd.compile applies "
                           "(same numbers, about ten times slower)")


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Train, then write the drawings, the page, the weights and the plots."""
    out_dir: Path = args.out
    if out_dir.exists() and not out_dir.is_dir():
        raise CommandError(f"--out {str(out_dir)!r} is a file, not a folder")
    # Made before training, so that a folder that cannot be made fails at once; removed
    # again when the demo fails or is interrupted before writing anything into it.
    created = [p for p in (out_dir, *out_dir.parents) if not p.exists()]
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CommandError(f"cannot create {out_dir}: {error.strerror or error}",
                           FAILURE) from None
    try:
        return _train_and_write(args, out_dir, out)
    except BaseException:
        for folder in created:  # the deepest first; rmdir removes only an empty folder
            try:
                folder.rmdir()
            except OSError:
                break
        raise


def _train_and_write(args: argparse.Namespace, out_dir: Path, out: TextIO) -> int:
    n = DEMO_POINTS[args.dataset]
    outputs = _outputs(args.dataset)
    if args.dataset == "spiral":
        X, y = nn.spiral(n, classes=SPIRAL_CLASSES, seed=args.seed)
        loss = "cross_entropy"
    else:
        X, y = TWO_CLASS_DATASETS[args.dataset](n, seed=args.seed)
        loss = "bce"
    model = nn.MLP(2, [*args.hidden, outputs], seed=args.seed)
    # autograd.compile runs one-output models with these losses over a whole batch with
    # NumPy (same numbers); softmax cross-entropy's graph depends on the data, so the
    # spiral trains eagerly.
    compiled = args.compiled and outputs == 1
    sizes = "-".join(str(k) for k in model.sizes)
    print(f"Training an MLP {sizes} ({model.num_parameters()} parameters) on {n} points of "
          f"'{args.dataset}' for {args.epochs} epochs: Adam, learning rate {DEMO_LR}, "
          f"minibatches of {DEMO_BATCH}, {loss} loss, L2 {DEMO_L2}, "
          f"{'compiled with autograd.compile' if compiled else 'eager engine'}.",
          file=out, flush=True)
    history = nn.fit(model, X, y, loss=loss, epochs=args.epochs, batch_size=DEMO_BATCH,
                     optimizer=nn.Adam(model.parameters(), lr=DEMO_LR), l2=DEMO_L2,
                     seed=args.seed, file=out, compiled=compiled)
    accuracy = history.accuracy[-1]
    shown = "n/a" if accuracy is None else f"{100 * accuracy:.1f}%"
    print(f"Finished after {history.epochs} epochs: loss {history.loss[-1]:.4f}, "
          f"training accuracy {shown}.", file=out)

    written = [_save_model(model, out_dir / "model.npz")]
    hardest = _hardest_example(model, X, y, loss)
    written.append(_draw_example(model, X[hardest], y[hardest], loss, hardest,
                                 out_dir / "gradient-flow.svg", out))
    written.append(_neuron_page(model, X[hardest], out_dir / "neuron.html"))
    try:
        import matplotlib
    except ImportError:
        print("matplotlib is not installed, so no plots: pip install 'chainrule[plot]' "
              "(make demo does this).", file=out)
    else:
        matplotlib.use("Agg")  # files only, never a window
        written.append(_plot_boundary(model, X, y, args.dataset,
                                      out_dir / "decision-boundary.png"))
        written.append(_plot_loss(history, out_dir / "loss.png"))
    print(f"Wrote {len(written)} files:", file=out)
    for path in written:
        # The two files to look at first, and how: both need nothing but a browser.
        hint = "   (open it in a browser)" if path.suffix in (".svg", ".html") else ""
        print(f"  {path}{hint}", file=out)
    return 0


def _save_model(model: nn.MLP, path: Path) -> Path:
    try:
        model.save(str(path))
    except OSError as error:
        raise cannot_write(path, error) from None
    except SerializationError as error:  # save's own one line for a file it cannot write
        raise CommandError(str(error), FAILURE) from None
    return path


def _inputs(x: np.ndarray) -> list[Value]:
    """One example's inputs as leaves labelled x0, x1 for the drawings: numbered from 0
    like the weights w0, w1 that multiply them."""
    return [Value(float(v), label=f"x{i}") for i, v in enumerate(x)]


def _example_loss(model: nn.MLP, x: np.ndarray, target: object, loss: str) -> Value:
    """The loss of one example."""
    output = model(_inputs(x))
    # One example: a batch of one output (a Value, or a list of logits for several classes).
    value = get_loss(loss)([output], [target])
    value.label = "loss"
    return value


def _hardest_example(model: nn.MLP, X: np.ndarray, y: np.ndarray, loss: str) -> int:
    """Index of the training example with the largest loss: the most to learn from."""
    with autograd.no_grad():
        losses = [_example_loss(model, x, t, loss).data for x, t in zip(X, y)]
    return max(range(len(losses)), key=losses.__getitem__)


def _draw_example(model: nn.MLP, x: np.ndarray, target: object, loss: str, index: int,
                  path: Path, out: TextIO) -> Path:
    root = _example_loss(model, x, target, loss)
    model.zero_grad()
    root.backward()
    title = f"loss of training example {index} (the hardest), one box per "
    try:
        drawing = draw_dot(root, collapse="neuron", title=title + "neuron")
    except GraphTooLargeError:
        # Too many neurons to draw one box each (--hidden 400, say): one box per layer.
        print(f"{path.name}: too many neurons for one box each, so one box per layer.",
              file=out)
        drawing = draw_dot(root, collapse="layer", title=title + "layer")
    return write_alone(lambda files: stage_drawing(files, drawing, path))


def _neuron_page(model: nn.MLP, x: np.ndarray, path: Path) -> Path:
    """The step-through page of the first neuron of the first layer that `x` activates.

    A ReLU neuron switched off by the example would send back zeros only, so the page
    shows the first one whose weights get a gradient (the first neuron if none does).
    """
    chosen: Value | None = None
    last: Value | None = None
    for neuron in model.layers[0].neurons:
        last = neuron(_inputs(x))  # tagged with the neuron's path, as its parameters are
        last.label = "out"
        model.zero_grad()
        last.backward()
        if chosen is None:
            chosen = last
        if any(w.grad != 0.0 for w in neuron.w):
            chosen = last
            break
    assert chosen is not None  # a layer has at least one neuron
    if chosen is not last:  # no neuron is active: back to the first one's gradients
        model.zero_grad()
        chosen.backward()
    page_root: Value = chosen
    return write_alone(lambda files: stage_page(files, page_root, path))


def _plot_boundary(model: nn.MLP, X: np.ndarray, y: np.ndarray, dataset: str,
                   path: Path) -> Path:
    """Class regions on a grid, computed from the weight matrices with NumPy."""
    import matplotlib.pyplot as plt

    reference = ReferenceNetwork.from_model(model)
    low, high = X.min(axis=0) - 0.5, X.max(axis=0) + 0.5
    xs = np.linspace(low[0], high[0], 200)
    ys = np.linspace(low[1], high[1], 200)
    gx, gy = np.meshgrid(xs, ys)
    scores = reference.predict(np.column_stack([gx.ravel(), gy.ravel()]))
    regions = (np.argmax(scores, axis=1) if scores.shape[1] > 1
               else (scores[:, 0] > 0).astype(int))
    figure, axes = plt.subplots(figsize=(5, 5))
    axes.contourf(gx, gy, regions.reshape(gx.shape), alpha=0.3, cmap="coolwarm")
    axes.scatter(X[:, 0], X[:, 1], c=y, cmap="coolwarm", edgecolors="k", s=25)
    axes.set_title(f"{dataset}: decision boundary")
    figure.tight_layout()
    return _save_figure(figure, path)


def _plot_loss(history: nn.History, path: Path) -> Path:
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(5, 3.5))
    epochs = range(1, len(history.loss) + 1)
    axes.plot(epochs, history.loss, label="training loss")
    axes.set_xlabel("epoch")
    axes.set_ylabel("loss")
    axes.set_yscale("log")
    axes.legend()
    figure.tight_layout()
    return _save_figure(figure, path)


def _save_figure(figure: Figure, path: Path) -> Path:
    import matplotlib.pyplot as plt

    def save(temporary: Path) -> None:  # the format from the target's name, not the temporary's
        figure.savefig(temporary, dpi=100, format=path.suffix[1:])

    try:
        return write_alone(lambda files: files.stage(path, save))
    finally:
        plt.close(figure)


COMMAND = Command("demo", help="train a network and draw its gradients (the main job)",
                  description=DESCRIPTION, epilog=EXAMPLE,
                  add_arguments=add_arguments, run=run, check_arguments=check_arguments)
