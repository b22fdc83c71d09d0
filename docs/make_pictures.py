"""Draw the pictures of docs/drawing.md into docs/images/ (SVG and PNG).

Run from the repository root:  python docs/make_pictures.py
Every picture is computed here from a seeded model, so running it again gives the same
files.  tests/test_viz_pictures.py builds the same graphs and checks what they show.
"""

from __future__ import annotations

import sys
from pathlib import Path

import graphviz

import nn
from autograd import Value, draw_dot

IMAGES = Path(__file__).resolve().parent / "images"
PNG_DPI = "144"  # twice the screen resolution, so the PNGs stay sharp on wide screens
DEEP = [4] * 8 + [1]  # eight hidden layers of four neurons, one output
DEEP_INPUT = [0.5, -1.0, 0.8]


def neuron_picture() -> graphviz.Digraph:
    """One tanh neuron with three inputs, after a backward pass from its output."""
    neuron = nn.Neuron(3, activation="tanh", seed=1)
    xs = [Value(x, label=f"x{i}") for i, x in enumerate([0.6, -0.4, 0.9])]
    out = neuron(xs)
    out.label = "out"
    out.backward()
    return draw_dot(out, title="One neuron: out = tanh(w · x + b)")


def mlp_picture() -> graphviz.Digraph:
    """A 3-6-1 tanh network's squared error on one example, one box per neuron."""
    model = nn.MLP(3, [6, 1], activation="tanh", seed=0)
    xs = [Value(x, label=f"x{i}") for i, x in enumerate([0.5, -1.5, 2.0])]
    loss = (model(xs) - 1.0) ** 2
    loss.label = "loss"
    loss.backward()
    return draw_dot(loss, collapse="neuron",
                    title="MLP 3-6-1 (tanh), one box per neuron: loss = (y - 1)^2")


DEEP_NETS = {"sigmoid": ("xavier", 0), "relu": ("he", 2)}  # activation: (init, seed)


def deep_net(activation: str) -> tuple[nn.MLP, Value]:
    """A deep net and its squared error on one example, after backward.

    sigmoid gets Xavier initialisation and ReLU gets He initialisation: each activation
    with the initialisation usually paired with it.
    """
    init, seed = DEEP_NETS[activation]
    model = nn.MLP(3, DEEP, activation=activation, init=init, seed=seed)
    xs = [Value(x, label=f"x{i}") for i, x in enumerate(DEEP_INPUT)]
    loss = (model(xs) - 1.0) ** 2
    loss.label = "loss"
    loss.backward()
    return model, loss


def vanishing_picture() -> graphviz.Digraph:
    """The two deep nets one above the other, one box per layer, on one colour scale."""
    losses = {name: deep_net(name)[1] for name in DEEP_NETS}
    # One scale for both drawings: the largest |grad| of either, so colours compare.
    scale = max(abs(v.grad) for loss in losses.values() for v in _values(loss))
    picture = graphviz.Digraph("vanishing", graph_attr={
        "rankdir": "TB", "bgcolor": "white", "fontname": "Helvetica", "labelloc": "t",
        "labeljust": "l", "nodesep": "0.2", "ranksep": "0.3"})
    legend = draw_dot(losses["sigmoid"], collapse="layer", scale=scale)
    picture.attr(label=legend.graph_attr["label"])
    titles = {
        "sigmoid": "sigmoid: the gradient fades layer by layer",
        "relu": "ReLU: the gradient reaches the first layer",
    }
    for name, loss in losses.items():
        part = draw_dot(loss, "svg", "TB", collapse="layer", scale=scale, legend=False,
                        title=titles[name], prefix=f"{name}_")
        part.name = f"cluster_{name}"
        part.graph_attr.update(style="rounded", color="#c8c8c2", penwidth="1")
        picture.subgraph(part)
    return picture


def _values(loss: Value) -> list[Value]:
    from autograd import topological_order

    return topological_order(loss)


def main() -> int:
    IMAGES.mkdir(exist_ok=True)
    pictures = {"neuron": neuron_picture(), "mlp_by_neuron": mlp_picture(),
                "vanishing": vanishing_picture()}
    for name, graph in pictures.items():
        (IMAGES / f"{name}.svg").write_text(graph.pipe(format="svg", encoding="utf-8"),
                                            encoding="utf-8")
        sharp = graph.copy()
        sharp.attr(dpi=PNG_DPI)
        (IMAGES / f"{name}.png").write_bytes(sharp.pipe(format="png"))
        print(f"wrote docs/images/{name}.svg and docs/images/{name}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
