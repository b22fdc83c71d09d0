"""Draw the picture of docs/nn.md into docs/images/moons_boundary.svg: the decision
boundary of the two-moons example.

Run from the repository root:  python docs/make_nn_pictures.py  (or: make docs-images)
Needs matplotlib (the ``plot`` extra).  The model is trained exactly as in docs/nn.md's
example (seed 0, 100 SGD steps), so the picture shows the model the page's code builds.
The SVG carries no date and a fixed hash salt, so running this again gives the same file.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import nn  # noqa: E402

IMAGES = Path(__file__).resolve().parent / "images"


def moons_model() -> tuple[nn.MLP, np.ndarray, np.ndarray]:
    """docs/nn.md's example: a 2-16-16-1 MLP trained on 100 moons with the hinge loss."""
    X, y = nn.moons(100, noise=0.1, seed=0, labels=(-1, 1))
    model = nn.MLP(2, [16, 16, 1], seed=0)
    optimizer = nn.SGD(model.parameters(), lr=nn.LinearDecay(1.0, 0.1, 100))
    nn.fit(model, X, y, loss="hinge", l2=1e-4, optimizer=optimizer, epochs=100,
           verbose=False)
    return model, X, y


def boundary_figure(model: nn.MLP, X: np.ndarray, y: np.ndarray):
    xs = np.linspace(-1.5, 2.5, 161)
    ys = np.linspace(-1.0, 1.5, 101)
    gx, gy = np.meshgrid(xs, ys)
    scores = nn.predict(model, np.column_stack([gx.ravel(), gy.ravel()])).reshape(gx.shape)
    figure, axes = plt.subplots(figsize=(6, 4))
    axes.contourf(gx, gy, scores > 0, levels=[-0.5, 0.5, 1.5], colors=["#f4b6b6", "#b6cdf4"])
    axes.contour(gx, gy, scores, levels=[0.0], colors="k", linewidths=1.2)
    for label, colour, marker in ((-1, "#c0392b", "o"), (1, "#1f4e9c", "s")):
        chosen = y == label
        axes.scatter(X[chosen, 0], X[chosen, 1], c=colour, marker=marker, s=22,
                     edgecolors="k", linewidths=0.5, label=f"label {label:+d}")
    axes.set_title("Two moons, 2-16-16-1 MLP after 100 steps: score > 0 is blue")
    axes.set_xlabel("x0")
    axes.set_ylabel("x1")
    axes.legend(loc="lower left", fontsize=8)
    figure.tight_layout()
    return figure


def main() -> int:
    IMAGES.mkdir(exist_ok=True)
    plt.rcParams["svg.hashsalt"] = "chainrule"
    model, X, y = moons_model()
    figure = boundary_figure(model, X, y)
    figure.savefig(IMAGES / "moons_boundary.svg", metadata={"Date": None})
    plt.close(figure)
    print("wrote docs/images/moons_boundary.svg")
    return 0


if __name__ == "__main__":
    sys.exit(main())
