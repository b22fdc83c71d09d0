"""Draw the picture of docs/tour.md into docs/images/ (SVG: the graph is wide, so it
should scale).

Run from the repository root:  python docs/make_tour_pictures.py  (or: make docs-images)
The 2-2-2 sigmoid network of the tour's section 4, after ``E.backward()``: every weight's
box shows the gradient the tour computes by hand.  tests/test_tour_picture.py checks the
committed picture against those hand-computed numbers.
"""

from __future__ import annotations

import sys
from pathlib import Path

import graphviz

from autograd import Value, draw_dot

IMAGES = Path(__file__).resolve().parent / "images"

# The worked example's numbers (inputs, targets, weights w1..w8, biases b1 and b2).
INPUTS = {"i1": 0.05, "i2": 0.10}
TARGETS = (0.01, 0.99)
PARAMETERS = {"w1": 0.15, "w2": 0.20, "w3": 0.25, "w4": 0.30, "w5": 0.40, "w6": 0.45,
              "w7": 0.50, "w8": 0.55, "b1": 0.35, "b2": 0.60}


def tour_network() -> tuple[Value, dict[str, Value]]:
    """E of the 2-2-2 network, after backward, and its labelled Values by name."""
    v = {name: Value(x, label=name) for name, x in {**INPUTS, **PARAMETERS}.items()}
    v["h1"] = (v["w1"] * v["i1"] + v["w2"] * v["i2"] + v["b1"]).sigmoid()
    v["h2"] = (v["w3"] * v["i1"] + v["w4"] * v["i2"] + v["b1"]).sigmoid()
    v["o1"] = (v["w5"] * v["h1"] + v["w6"] * v["h2"] + v["b2"]).sigmoid()
    v["o2"] = (v["w7"] * v["h1"] + v["w8"] * v["h2"] + v["b2"]).sigmoid()
    t1, t2 = TARGETS
    error = 0.5 * (t1 - v["o1"]) ** 2 + 0.5 * (t2 - v["o2"]) ** 2
    for name in ("h1", "h2", "o1", "o2"):
        v[name].label = name
    error.label = "E"
    error.backward()
    return error, v


def tour_picture() -> graphviz.Digraph:
    error, _ = tour_network()
    return draw_dot(error, title="The tour's 2-2-2 network after E.backward(): "
                                 "every box holds its value and dE/d(value)")


def main() -> int:
    IMAGES.mkdir(exist_ok=True)
    graph = tour_picture()
    (IMAGES / "tour_network.svg").write_text(graph.pipe(format="svg", encoding="utf-8"),
                                             encoding="utf-8")
    print("wrote docs/images/tour_network.svg")
    return 0


if __name__ == "__main__":
    sys.exit(main())
