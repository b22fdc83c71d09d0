"""Drawings for the whiteboard (issue 13 item 4): a neuron expanded into its products and
sum, parameters in reading order, colour by the sign of the gradient, a large-type style
and a drawing fitted to a page.

The peer for the expanded neuron is the same neuron written out with the engine's own
`*` and `+` (the lecture's way): its products and sums, computed and backpropagated by
the engine, must be the numbers the expanded drawing shows.
"""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET

import pytest

import nn
from autograd import Value, draw_dot, topological_order
from autograd.viz import NEGATIVE_FILLS, PAGES, POSITIVE_FILLS

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="needs Graphviz dot")


def lecture_neuron() -> tuple[Value, nn.Neuron, list[Value]]:
    neuron = nn.Neuron(3, "tanh", seed=4)
    xs = [Value(v, label=f"x{i}") for i, v in enumerate((2.0, -1.0, 0.5))]
    out = neuron(xs)
    out.backward()
    return out, neuron, xs


def node_labels(source: str) -> dict[str, str]:
    """Node id -> its label's text (tags dropped), from DOT source."""
    found = re.findall(r"^\t+(\w+) \[label=<(.*?)> ", source, flags=re.M)
    return {node: re.sub(r"<[^>]+>", " ", label) for node, label in found}


def numbers(text: str) -> tuple[float, float]:
    data = re.search(r"data (\S+)", text)
    grad = re.search(r"grad (\S+)", text)
    assert data and grad, text
    return float(data.group(1)), float(grad.group(1))


def test_an_expanded_neuron_shows_the_lectures_products_and_sum():
    out, neuron, xs = lecture_neuron()
    source = draw_dot(out, expand="neurons").source
    labels = node_labels(source)
    ops = sorted(text.strip() for node, text in labels.items() if node.startswith("o"))
    assert ops == ["*", "*", "*", "+", "tanh"]
    assert "dot" not in ops

    # The peer: the neuron written out with the engine's * and +, the lecture's way.
    ws = [Value(w.data) for w in neuron.w]
    xs2 = [Value(x.data) for x in xs]
    b = Value(neuron.b.data)
    terms = [w * x for w, x in zip(ws, xs2)]
    n = terms[0] + terms[1] + terms[2] + b
    o = n.tanh()
    o.backward()
    for k, term in enumerate(terms):
        name = f"w{k}·x{k}"
        text = next(t for t in labels.values() if name in t)
        data, grad = numbers(text)
        assert data == pytest.approx(term.data, abs=5e-5)
        assert grad == pytest.approx(term.grad, abs=5e-5)
    # The parents' gradients are the engine's either way (same numbers on the boxes).
    assert [w.grad for w in neuron.w] == pytest.approx([w.grad for w in ws], rel=1e-12)


def test_expanded_edges_carry_the_fused_edges_flows():
    out, _, _ = lecture_neuron()
    fused = draw_dot(out).source
    expanded = draw_dot(out, expand="neurons").source

    def tooltips(source: str) -> dict[str, str]:
        return dict(re.findall(r'id=(e\d+_\d+) [^\]]*tooltip="([^"]+)"', source))

    fused_tips, expanded_tips = tooltips(fused), tooltips(expanded)
    # Every parent's edge keeps its id and the gradient it sends back.
    assert set(fused_tips) <= set(expanded_tips)
    for edge, tip in fused_tips.items():
        assert expanded_tips[edge] == tip, edge


def test_expand_is_refused_with_collapse_and_checked():
    out, _, _ = lecture_neuron()
    with pytest.raises(ValueError, match="draw_dot: expand='neurons' draws inside"):
        draw_dot(out, expand="neurons", collapse="neuron")
    with pytest.raises(ValueError, match="draw_dot: expand must be None or 'neurons', got 'dot'"):
        draw_dot(out, expand="dot")


def test_expanded_nodes_count_against_max_nodes():
    out, _, _ = lecture_neuron()
    # Fused: 7 leaves (x0..x2, w0..w2, b) + a box and an ellipse for dot and for tanh = 11.
    # Expanded: a '*' and a product box per term, 3 x 2 more = 17.
    assert draw_dot(out, max_nodes=11)
    with pytest.raises(ValueError, match="the graph has 17 nodes to draw, more than max_nodes=16"):
        draw_dot(out, expand="neurons", max_nodes=16)
    assert draw_dot(out, expand="neurons", max_nodes=17)


@needs_dot
def test_parameters_are_drawn_in_index_order():
    out, _, _ = lecture_neuron()
    for expand in (None, "neurons"):
        graph = draw_dot(out, expand=expand)
        plain = graph.pipe(format="plain", encoding="utf-8")
        labels = node_labels(graph.source)
        height = {}
        for line in plain.splitlines():
            part = line.split()
            if part[0] == "node" and part[1] in labels:
                name = labels[part[1]].split()[0]
                if re.fullmatch(r"w\d|b|x\d", name):
                    height[name] = float(part[3])
        weights = sorted((n for n in height if n[0] == "w"), key=lambda n: -height[n])
        assert weights == ["w0", "w1", "w2"], (expand, height)
        inputs = sorted((n for n in height if n[0] == "x"), key=lambda n: -height[n])
        assert inputs == ["x0", "x1", "x2"], (expand, height)
        if expand is None:
            assert height["b"] < height["w2"]  # the bias last, below the weights


def test_colour_by_sign_uses_a_diverging_palette():
    out, neuron, xs = lecture_neuron()
    source = draw_dot(out, color_by="sign").source
    for value in [*neuron.w, neuron.b, *xs]:
        assert value.grad != 0.0
        fills = NEGATIVE_FILLS if value.grad < 0 else POSITIVE_FILLS
        line = next(line for line in source.splitlines()
                    if f"<B>{value.label}</B>" in line)
        fill = re.search(r'fillcolor="(#[0-9a-f]{6})"', line).group(1)
        assert fill in fills, (value.label, value.grad, fill)
    assert {"−", "+"} <= set(re.findall(r">([−+])\d", source))  # the legend's two sides
    # The default stays the magnitude scale: no diverging colour anywhere.
    plain = draw_dot(out).source
    assert not any(colour in plain for colour in NEGATIVE_FILLS + POSITIVE_FILLS)
    with pytest.raises(ValueError, match="color_by must be 'magnitude' or 'sign'"):
        draw_dot(out, color_by="hue")


def test_signs_of_edges_follow_the_gradient_sent_back():
    x = Value(2.0, label="x")
    y = Value(-3.0, label="y")
    out = x * y  # d/dx = y < 0, d/dy = x > 0
    out.backward()
    source = draw_dot(out, color_by="sign").source
    to_x = re.search(r"v\d+ -> o\d+ \[color=\"(#\w+)\" id=e\d+_0", source).group(1)
    to_y = re.search(r"v\d+ -> o\d+ \[color=\"(#\w+)\" id=e\d+_1", source).group(1)
    assert to_x == NEGATIVE_FILLS[0] and to_y == POSITIVE_FILLS[0]


def test_slides_double_every_type_size():
    out, _, _ = lecture_neuron()
    screen = draw_dot(out, expand="neurons")
    slides = draw_dot(out, expand="neurons", style="slides")
    assert float(slides.node_attr["fontsize"]) == 2 * float(screen.node_attr["fontsize"])
    sizes = [float(s) for s in re.findall(r"fontsize=([\d.]+)", slides.source)]
    assert min(sizes) >= 20
    with pytest.raises(ValueError, match="style must be 'screen' or 'slides'"):
        draw_dot(out, style="poster")


def lecture_mlp_loss() -> Value:
    model = nn.MLP(3, [4, 4, 1], all_layers="tanh", seed=1)
    xs = [Value(v, label=f"x{i}") for i, v in enumerate((2.0, 3.0, -1.0))]
    loss = (model(xs) - 1.0) ** 2
    loss.backward()
    return loss


def svg_points(svg: str) -> tuple[float, float]:
    root = ET.fromstring(svg[svg.index("<svg"):])
    return (float(root.get("width").removesuffix("pt")),
            float(root.get("height").removesuffix("pt")))


@needs_dot
@pytest.mark.parametrize("page", ["A4", "slide", (6.0, 4.0)])
def test_a_large_drawing_fits_the_page(page):
    loss = lecture_mlp_loss()
    natural = svg_points(draw_dot(loss).pipe(format="svg", encoding="utf-8"))
    fitted = svg_points(draw_dot(loss, page=page).pipe(format="svg", encoding="utf-8"))
    w, h = PAGES[page] if isinstance(page, str) else page
    long_side, short_side = 72 * max(w, h), 72 * min(w, h)
    assert max(fitted) <= long_side + 1 and min(fitted) <= short_side + 1
    assert max(natural) > long_side  # it did not fit before


def test_page_is_checked():
    out, _, _ = lecture_neuron()
    with pytest.raises(ValueError, match="draw_dot: page must be None, 'A4'"):
        draw_dot(out, page="A3")
    with pytest.raises(ValueError, match="draw_dot: page must be None"):
        draw_dot(out, page=(0, 5))


def test_the_layer_skips_a_rank_into_the_next_layer():
    # Edges into another cluster have minlen=2, so that a layer's parameters never share
    # a rank with the previous layer's outputs (what made the drawing a staircase).
    source = draw_dot(lecture_mlp_loss()).source
    crossing = re.findall(r"v\d+ -> o\d+ \[[^\]]*minlen=2", source)
    assert len(crossing) >= 3 * 4 + 4 * 4 + 4  # inputs, layer 0 -> 1, layer 1 -> 2


def test_collapsed_drawings_skip_no_rank():
    # Between collapsed boxes a longer edge only loops round (seen in the demo's
    # gradient-flow.svg): there edges keep dot's default length.
    source = draw_dot(lecture_mlp_loss(), collapse="neuron").source
    assert "minlen" not in source


@needs_dot
def test_every_neuron_of_an_expanded_network_lists_its_weights_in_order():
    loss = lecture_mlp_loss()
    order = topological_order(loss)
    graph = draw_dot(loss, expand="neurons")
    height = {}
    for line in graph.pipe(format="plain", encoding="utf-8").splitlines():
        part = line.split()
        if part[0] == "node" and re.fullmatch(r"v\d+", part[1]):
            height[order[int(part[1][1:])]] = float(part[3])
    by_scope: dict[str, list] = {}
    for value in order:
        if value.is_leaf and value.label.startswith("w") and value.scope:
            by_scope.setdefault(value.scope, []).append(value)
    assert len(by_scope) == 9  # 4 + 4 + 1 neurons
    for scope, weights in by_scope.items():
        top_down = sorted(weights, key=lambda w: -height[w])
        assert [w.label for w in top_down] == sorted(w.label for w in weights), scope
