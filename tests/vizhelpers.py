"""Helpers shared by the drawing tests: SVG parsing and small tagged networks."""

from __future__ import annotations

import random
import re
import xml.etree.ElementTree as ET

import autograd
from autograd import Value

SVG = "{http://www.w3.org/2000/svg}"


def render_svg(graph) -> ET.Element:
    """Run dot and parse its SVG."""
    return ET.fromstring(graph.pipe(format="svg"))


def svg_groups(svg: ET.Element, cls: str) -> dict[str, ET.Element]:
    """SVG <g> elements of a class ('node', 'edge', 'cluster') by their id."""
    return {g.get("id"): g for g in svg.iter(f"{SVG}g") if g.get("class") == cls}


def texts(group: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in group.iter(f"{SVG}text")]


def line(group: ET.Element, prefix: str) -> str:
    """The text line of a node that starts with `prefix` ('data ' or 'grad ')."""
    found = [t for t in texts(group) if t.startswith(prefix)]
    assert len(found) == 1, (prefix, texts(group))
    return found[0][len(prefix):]


def fills(group: ET.Element) -> list[str]:
    """Fill colours of a node's shapes (not its text, not unfilled outlines)."""
    out = []
    for tag in ("polygon", "path", "ellipse"):
        for shape in group.iter(f"{SVG}{tag}"):
            fill = shape.get("fill")
            if fill and fill != "none":
                out.append(fill)
    return out


def strokes(group: ET.Element) -> list[ET.Element]:
    return [s for tag in ("polygon", "path", "ellipse") for s in group.iter(f"{SVG}{tag}")]


def bbox(group: ET.Element) -> tuple[float, float, float, float]:
    """Bounding box of every polygon/path point in a group (x0, y0, x1, y1)."""
    xs: list[float] = []
    ys: list[float] = []
    for shape in strokes(group):
        raw = shape.get("points") or shape.get("d") or ""
        numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", raw)]
        xs += numbers[0::2]
        ys += numbers[1::2]
    return min(xs), min(ys), max(xs), max(ys)


def tagged_mlp(sizes: list[int], activation: str = "tanh", seed: int = 0,
               inputs: tuple[float, ...] = (0.5, -1.5)) -> tuple[Value, list[Value]]:
    """A small network made of scoped `autograd.dot` neurons, as `nn` tags them.

    Scopes are 'layers.L.neurons.J'; weights 'w0', 'w1', ... and bias 'b' are labelled
    leaves, so the drawing classes them as parameters.  Returns (loss, inputs).
    """
    rng = random.Random(seed)
    xs = [Value(x, label=f"x{i}") for i, x in enumerate(inputs)]
    layer_in: list[Value] = xs
    for li, width in enumerate(sizes):
        outs = []
        with autograd.scope(f"layers.{li}"):
            for j in range(width):
                with autograd.scope(f"neurons.{j}"):
                    w = [Value(rng.uniform(-1, 1), label=f"w{k}") for k in range(len(layer_in))]
                    b = Value(rng.uniform(-0.1, 0.1), label="b")
                    z = autograd.dot(w, layer_in, b)
                    outs.append(getattr(z, activation)())
        layer_in = outs
    loss = (layer_in[0] - 1.0) ** 2
    loss.label = "loss"
    return loss, xs
