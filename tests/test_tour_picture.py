"""The tour's picture (docs/images/tour_network.svg) shows the gradients computed by hand.

The reference is the plain-Python backward pass of the tour's section 4 (deltas, no
engine); the picture must also be what docs/make_tour_pictures.py draws today.
"""

from __future__ import annotations

import importlib.util
import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PICTURE = ROOT / "docs" / "images" / "tour_network.svg"
SVG = "{http://www.w3.org/2000/svg}"


def hand_gradients() -> dict[str, float]:
    def s(z: float) -> float:
        return 1.0 / (1.0 + math.exp(-z))

    i1, i2, t1, t2 = 0.05, 0.10, 0.01, 0.99
    w1, w2, w3, w4, w5, w6, w7, w8 = 0.15, 0.20, 0.25, 0.30, 0.40, 0.45, 0.50, 0.55
    b1, b2 = 0.35, 0.60
    h1, h2 = s(w1 * i1 + w2 * i2 + b1), s(w3 * i1 + w4 * i2 + b1)
    o1, o2 = s(w5 * h1 + w6 * h2 + b2), s(w7 * h1 + w8 * h2 + b2)
    d1, d2 = (o1 - t1) * o1 * (1 - o1), (o2 - t2) * o2 * (1 - o2)
    e1 = (d1 * w5 + d2 * w7) * h1 * (1 - h1)
    e2 = (d1 * w6 + d2 * w8) * h2 * (1 - h2)
    return {"w1": e1 * i1, "w2": e1 * i2, "w3": e2 * i1, "w4": e2 * i2,
            "w5": d1 * h1, "w6": d1 * h2, "w7": d2 * h1, "w8": d2 * h2,
            "b1": e1 + e2, "b2": d1 + d2, "h1": d1 * w5 + d2 * w7, "o2": o2 - t2,
            "E": 1.0}


def node_texts(svg_text: str) -> dict[str, list[str]]:
    """Texts of every labelled node: {label: [label, 'data ...', 'grad ...']}."""
    root = ET.fromstring(svg_text)
    found = {}
    for group in root.iter(f"{SVG}g"):
        if group.get("class") == "node":
            texts = ["".join(t.itertext()) for t in group.iter(f"{SVG}text")]
            if len(texts) == 3:
                found[texts[0]] = texts
    return found


def load_script():
    spec = importlib.util.spec_from_file_location("make_tour_pictures",
                                                  ROOT / "docs" / "make_tour_pictures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_picture_shows_the_hand_computed_gradients():
    nodes = node_texts(PICTURE.read_text(encoding="utf-8"))
    for label, expected in hand_gradients().items():
        shown = float(re.fullmatch(r"grad (\S+)", nodes[label][2])[1])
        # The drawing prints four decimals, or four significant digits for small numbers.
        assert abs(shown - expected) <= 5e-5 + 5e-4 * abs(expected), (label, shown, expected)


def test_the_picture_is_up_to_date():
    fresh = node_texts(load_script().tour_picture().pipe(format="svg", encoding="utf-8"))
    assert fresh == node_texts(PICTURE.read_text(encoding="utf-8"))
