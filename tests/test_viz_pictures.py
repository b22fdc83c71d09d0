"""The documentation's pictures (docs/make_pictures.py) show what they claim to show."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
from vizhelpers import fills, render_svg, svg_groups, texts

from autograd import topological_order, viz
from nn.reference import ReferenceNetwork

SCRIPT = Path(__file__).resolve().parents[1] / "docs" / "make_pictures.py"


@pytest.fixture(scope="module")
def pictures():
    spec = importlib.util.spec_from_file_location("make_pictures", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def reference_layer_max(model, inputs) -> list[float]:
    """Largest |d loss / d parameter| per layer, from the NumPy matrix-form reference.

    loss = (y - 1)^2 on one example is the reference's 'mse' with one output.
    """
    grad_w, grad_b = ReferenceNetwork.from_model(model).gradients([inputs], [[1.0]], loss="mse")
    return [max(np.abs(w).max(), np.abs(b).max()) for w, b in zip(grad_w, grad_b)]


def test_sigmoid_gradient_vanishes_layer_by_layer_and_relu_does_not(pictures):
    sigmoid = reference_layer_max(pictures.deep_net("sigmoid")[0], pictures.DEEP_INPUT)
    relu = reference_layer_max(pictures.deep_net("relu")[0], pictures.DEEP_INPUT)
    # Sigmoid: each layer's largest gradient is smaller than the next layer's, and the
    # first layer's is more than 10^5 times below the last layer's.
    assert all(a < b for a, b in zip(sigmoid, sigmoid[1:]))
    assert sigmoid[0] < 1e-5 * sigmoid[-1]
    # ReLU: every layer keeps a gradient within 10x of the largest.
    assert min(relu) > 0.1 * max(relu)


def test_vanishing_picture_colours_each_layer_by_its_gradient(pictures):
    svg = render_svg(pictures.vanishing_picture())
    nets = {name: pictures.deep_net(name) for name in pictures.DEEP_NETS}
    largest = {name: reference_layer_max(model, pictures.DEEP_INPUT)
               for name, (model, _) in nets.items()}
    nodes = svg_groups(svg, "node")
    # The shared colour scale: the largest |grad| of any Value of either graph.
    scale = max(abs(v.grad) for _, loss in nets.values() for v in topological_order(loss))
    shades = {}
    for name in nets:
        shades[name] = []
        for i, expected in enumerate(largest[name]):
            box = next(g for k, g in nodes.items()
                       if k.startswith(f"{name}_g") and texts(g)[0] == f"layers.{i}")
            shown_max = float(texts(box)[-1].split()[2])
            assert shown_max == pytest.approx(expected, rel=1e-3, abs=5e-5)
            shade = viz.SCALE_FILLS.index(fills(box)[0])
            # The colour is the decade of the layer's largest |grad| below the shared scale.
            assert shade == min(math.floor(-math.log10(expected / scale)), 5)
            shades[name].append(shade)
    assert shades["sigmoid"][0] >= 4 and shades["sigmoid"][-1] == 0
    assert shades["sigmoid"] == sorted(shades["sigmoid"], reverse=True)
    assert set(shades["relu"]) == {0}


def test_neuron_and_mlp_pictures(pictures):
    neuron = svg_groups(render_svg(pictures.neuron_picture()), "node")
    # 3 inputs, 3 weights and a bias, w.x + b, its tanh: 9 Values and 2 operations.
    assert len(neuron) == 11
    assert sorted(texts(g)[0] for g in neuron.values() if len(texts(g)) == 3
                  and texts(g)[0][0] in "wb") == ["b", "w0", "w1", "w2"]
    mlp = svg_groups(render_svg(pictures.mlp_picture()), "node")
    assert len([k for k in mlp if k.startswith("g")]) == 6 + 1


def test_script_writes_svg_and_png(pictures, tmp_path, monkeypatch):
    monkeypatch.setattr(pictures, "IMAGES", tmp_path)
    assert pictures.main() == 0
    for name in ("neuron", "mlp_by_neuron", "vanishing"):
        assert (tmp_path / f"{name}.svg").read_text(encoding="utf-8").lstrip().startswith("<?xml")
        assert (tmp_path / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
