"""draw_dot: what the rendered SVG shows, checked against hand-computed numbers."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import graphviz
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from vizhelpers import (
    SVG,
    bbox,
    fills,
    line,
    render_svg,
    strokes,
    svg_groups,
    tagged_mlp,
    texts,
)

import autograd
from autograd import Value, draw_dot, viz

GOLDEN = Path(__file__).parent / "golden"


def micrograd_expression() -> dict[str, Value]:
    """The expression of micrograd's README drawing: L = (a*b + c) * f."""
    a = Value(2.0, label="a")
    b = Value(-3.0, label="b")
    c = Value(10.0, label="c")
    e = a * b
    e.label = "e"
    d = e + c
    d.label = "d"
    f = Value(-2.0, label="f")
    L = d * f
    L.label = "L"
    return {"a": a, "b": b, "c": c, "e": e, "d": d, "f": f, "L": L}


# By hand: e = -6, d = 4, L = -8; dL/dd = f = -2, dL/df = d = 4, dL/de = dL/dc = -2,
# dL/da = -2 * b = 6, dL/db = -2 * a = -4.
HAND = {"a": (2.0, 6.0), "b": (-3.0, -4.0), "c": (10.0, -2.0), "e": (-6.0, -2.0),
        "d": (4.0, -2.0), "f": (-2.0, 4.0), "L": (-8.0, 1.0)}


def node_by_label(svg, label: str):
    for g in svg_groups(svg, "node").values():
        if texts(g) and texts(g)[0] == label:
            return g
    raise AssertionError(f"no node labelled {label!r}")


def test_svg_shows_every_value_and_operation_with_hand_computed_numbers():
    vals = micrograd_expression()
    vals["L"].backward()
    svg = render_svg(draw_dot(vals["L"]))
    nodes = svg_groups(svg, "node")
    assert len([k for k in nodes if k.startswith("v")]) == 7
    assert sorted(texts(nodes[k])[0] for k in nodes if k.startswith("o")) == ["*", "*", "+"]
    assert len(nodes) == 10
    for name, (data, grad) in HAND.items():
        g = node_by_label(svg, name)
        assert float(line(g, "data ")) == pytest.approx(data, abs=5e-5)
        assert float(line(g, "grad ")) == pytest.approx(grad, abs=5e-5)
    # micrograd's drawing has 9 edges: two into each operation, one out of each.
    assert len(svg_groups(svg, "edge")) == 9


def test_before_backward_the_drawing_says_so_instead_of_zeros():
    vals = micrograd_expression()
    svg = render_svg(draw_dot(vals["L"]))
    every_text = [t for g in svg.iter(f"{SVG}g") for t in texts(g)]
    assert any("No backward pass yet" in t for t in every_text)
    for name in HAND:
        g = node_by_label(svg, name)
        assert line(g, "grad ") == "—"
        assert fills(g) == [viz.PENDING_FILL]


def sigmoid_slope(x: float) -> float:
    s = 1.0 / (1.0 + np.exp(-np.float64(x)))
    return float(s * (1.0 - s))


def test_colours_follow_decades_and_mark_vanishing_nan_and_infinite_gradients():
    big = Value(1.0, label="big")  # grad 1: the largest
    tenth = Value(3.0, label="tenth")  # multiplies a 0.05: grad 0.05, decade 1
    small = Value(-20.0, label="small")  # sigmoid'(-20) ~ 2e-9: vanishing
    zero = Value(0.0, label="zero")  # sqrt'(0) = inf, times 0 upstream: NaN
    root_of = Value(0.0, label="root_of")  # sqrt'(0) = inf: infinite gradient
    out = big + tenth * 0.05 + small.sigmoid() + zero.sqrt() * 0.0 + root_of.sqrt()
    out.backward()
    svg = render_svg(draw_dot(out))

    assert float(line(node_by_label(svg, "tenth"), "grad ")) == pytest.approx(0.05)
    assert fills(node_by_label(svg, "big")) == [viz.SCALE_FILLS[0]]
    assert fills(node_by_label(svg, "tenth")) == [viz.SCALE_FILLS[1]]

    vanishing = node_by_label(svg, "small")
    assert sigmoid_slope(-20.0) < 1e-6  # the reference: far below the largest |grad| (1)
    assert float(line(vanishing, "grad ")) == pytest.approx(sigmoid_slope(-20.0), rel=1e-3)
    assert fills(vanishing) == [viz.VANISHING_FILL]
    assert all(s.get("stroke-dasharray") for s in strokes(vanishing))

    nan_node = node_by_label(svg, "zero")
    assert line(nan_node, "grad ") == "NaN"
    assert fills(nan_node) == [viz.NAN_FILL]
    inf_node = node_by_label(svg, "root_of")
    assert line(inf_node, "grad ") == "inf"
    assert fills(inf_node) == [viz.INF_FILL]
    assert len({viz.VANISHING_FILL, viz.NAN_FILL, viz.INF_FILL, *viz.SCALE_FILLS}) == 9


def test_edge_width_follows_upstream_grad_times_local_derivative():
    a = Value(1.0, label="a")
    b = Value(0.002, label="b")
    out = a * b
    out.backward()
    svg = render_svg(draw_dot(out))
    edges = svg_groups(svg, "edge")

    def width(edge_id: str) -> float:
        return float(edges[edge_id].find(f".//{SVG}path").get("stroke-width", "1"))

    # Into a: 1 (upstream) x b = 0.002, two decades below the largest flow (1): width 2.5.
    # Into b: 1 x a = 1, the largest: width 3.5.  Out of the product: 1, width 3.5.
    assert width("e2_0") == 2.5
    assert width("e2_1") == 3.5
    assert width("e2") == 3.5


def test_shapes_tell_inputs_parameters_intermediates_and_output_apart():
    with autograd.scope("neuron"):
        w = Value(0.5, label="w")  # scoped and labelled: a parameter
    x = Value(2.0, label="x")  # no scope: an input
    out = (w * x).tanh()
    out.label = "out"
    out.backward()
    svg = render_svg(draw_dot(out))
    param = node_by_label(svg, "w")
    assert len(param.findall(f".//{SVG}polygon")) == 2  # double border
    inp = node_by_label(svg, "x")
    assert len(inp.findall(f".//{SVG}polygon")) == 1
    assert inp.findall(f".//{SVG}path") == []  # sharp corners
    output = node_by_label(svg, "out")
    assert output.find(f".//{SVG}path").get("stroke-width") == "2.5"
    assert viz.node_kind(w, out) == "parameter"
    assert viz.node_kind(x, out) == "input"
    assert viz.node_kind(out.parents[0], out) == "intermediate"
    assert viz.node_kind(out, out) == "output"


def test_golden_dot_source_for_micrograd_expression():
    vals = micrograd_expression()
    vals["L"].backward()
    expected = (GOLDEN / "micrograd_expression.dot").read_text(encoding="utf-8")
    assert draw_dot(vals["L"]).source == expected


def test_same_graph_gives_the_same_source_and_ids_do_not_come_from_memory():
    first = micrograd_expression()
    second = micrograd_expression()
    first["L"].backward()
    second["L"].backward()
    source = draw_dot(first["L"]).source
    assert source == draw_dot(second["L"]).source
    node_ids = re.findall(r"^\s*(\w+) \[", source, flags=re.M)
    assert set(node_ids) >= {"v0", "v1", "v2", "o2", "v6", "o6"}
    assert all(re.fullmatch(r"[vog]\d+|node|edge|graph", n) for n in node_ids)


SCOPES_EQUAL_BUT_FOR_ZEROS = """
import autograd
from autograd import Value, scope
leaves = []
for name in ("n01", "n1", "n001"):
    with scope(name):
        leaves.append(Value(2.0, "w"))
y = leaves[0] * leaves[1] * leaves[2]
y.backward()
print(autograd.draw_dot(y).source)
"""


def test_the_source_does_not_depend_on_the_process_string_hash():
    # Scopes 'n01' and 'n1' sort alike by number; their clusters came in the order of a
    # set, which changes with PYTHONHASHSEED from one Python process to the next.
    sources = set()
    for hash_seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        done = subprocess.run([sys.executable, "-c", SCOPES_EQUAL_BUT_FOR_ZEROS], env=env,
                              capture_output=True, text=True, check=True)
        sources.add(done.stdout)
    assert len(sources) == 1
    labels = re.findall(r"label=<(n0*1)>", sources.pop())
    assert labels == ["n001", "n01", "n1"]


def test_clusters_nest_by_scope_for_a_tagged_network():
    loss, _ = tagged_mlp([3, 2, 1])
    loss.backward()
    svg = render_svg(draw_dot(loss))
    clusters = svg_groups(svg, "cluster")
    assert len(clusters) == 3 + 3 + 2 + 1  # three layers, six neurons
    boxes = [(texts(c)[0], bbox(c)) for c in clusters.values()]
    order = autograd.topological_order(loss)
    for i, v in enumerate(order):
        if not v.scope:
            continue
        node = svg_groups(svg, "node")[f"v{i}"]
        x0, y0, x1, y1 = bbox(node)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        around = [(label, b) for label, b in boxes
                  if b[0] <= cx <= b[2] and b[1] <= cy <= b[3]]
        around.sort(key=lambda item: -(item[1][2] - item[1][0]) * (item[1][3] - item[1][1]))
        assert ".".join(label for label, _ in around) == v.scope


def test_collapse_by_neuron_and_by_layer_summarises_parameter_gradients():
    loss, xs = tagged_mlp([3, 2, 1])
    loss.backward()
    order = autograd.topological_order(loss)
    params: dict[str, list[Value]] = {}
    for v in order:
        if viz.node_kind(v, loss) == "parameter":
            params.setdefault(v.scope, []).append(v)

    svg = render_svg(draw_dot(loss, collapse="neuron"))
    nodes = svg_groups(svg, "node")
    boxes = {k: g for k, g in nodes.items() if k.startswith("g")}
    assert len(boxes) == 6
    # Outside the neurons: the 2 inputs, the constant 1, y - 1, its square: 5 Values, 2 ops.
    assert len(nodes) == 6 + 5 + 2
    clusters = svg_groups(svg, "cluster")
    assert sorted(texts(c)[0] for c in clusters.values()) == ["layers.0", "layers.1", "layers.2"]
    seen = set()
    for g in boxes.values():
        title, _out, count, summary = texts(g)
        layer = next(texts(c)[0] for c in clusters.values()
                     if _inside(bbox(g), bbox(c)))
        scope = f"{layer}.{title}"
        seen.add(scope)
        sizes = np.abs(np.array([p.grad for p in params[scope]]))
        assert count == f"{len(sizes)} parameters"
        match = re.fullmatch(r"\|grad\| max (\S+) · mean (\S+)", summary)
        assert match, summary
        assert float(match[1]) == pytest.approx(sizes.max(), abs=5e-5)
        assert float(match[2]) == pytest.approx(sizes.mean(), abs=5e-5)
    assert seen == set(params)

    by_layer = svg_groups(render_svg(draw_dot(loss, collapse="layer")), "node")
    assert sorted(texts(g)[0] for k, g in by_layer.items() if k.startswith("g")) == [
        "layers.0", "layers.1", "layers.2"]


def _inside(inner, outer) -> bool:
    return (outer[0] <= inner[0] and inner[2] <= outer[2]
            and outer[1] <= inner[1] and inner[3] <= outer[3])


def test_collapse_that_matches_nothing_names_the_scopes_it_found():
    loss, _ = tagged_mlp([2, 1])
    with pytest.raises(ValueError, match=r"collapse='block'.*layers\.0"):
        draw_dot(loss, collapse="block")


def test_too_large_graph_is_refused_before_dot_runs(monkeypatch):
    def no_dot(*args, **kwargs):
        raise AssertionError("dot must not run for a refused graph")

    monkeypatch.setattr(graphviz.backend.execute, "run_check", no_dot)
    x = Value(0.1, label="x")
    y = x
    for _ in range(300):
        y = (y * 1.01).tanh()
    # 1 input, then per step: the constant 1.01, two Values and their two operations.
    with pytest.raises(viz.GraphTooLargeError, match=r"1501 nodes.*max_nodes=400.*collapse="):
        draw_dot(y)
    with pytest.raises(viz.GraphTooLargeError, match="max_nodes=50"):
        draw_dot(y, max_nodes=50)
    assert "v900 [" in draw_dot(y, max_nodes=2000).source


def _boxes_in_order(svg, axis: int) -> list[list[str]]:
    """Names of input and neuron/layer boxes, rank by rank, top to bottom (axis 1) or
    left to right (axis 0)."""
    ranks: dict[str, list[tuple[float, str]]] = {}
    for group in svg_groups(svg, "node").values():
        name = texts(group)[0]
        if not name.startswith(("x", "neurons.", "layers.")):
            continue
        x0, y0, x1, y1 = bbox(group)
        centre = ((x0 + x1) / 2, (y0 + y1) / 2)
        # the boxes of one rank share their centre across the drawing's direction
        ranks.setdefault(f"{name[0]}{round(centre[1 - axis])}", []).append((centre[axis], name))
    return [[name for _, name in sorted(boxes)] for boxes in ranks.values()]


def test_collapsed_networks_draw_inputs_and_neurons_in_order():
    # Without help dot rotated the demo's 16-neuron layers (8..15 above 0..7) and put the
    # inputs x2, x0, x1: a reader looks for x0 and neurons.0 at the top.
    import nn

    model = nn.MLP(3, [6, 16, 1], activation="tanh", seed=0)
    inputs = [Value(v, label=f"x{i}") for i, v in enumerate((0.5, -1.5, 2.0))]
    loss = (model(inputs) - 1.0) ** 2
    loss.backward()
    columns = _boxes_in_order(render_svg(draw_dot(loss, collapse="neuron")), axis=1)
    assert ["x0", "x1", "x2"] in columns, columns
    assert [f"neurons.{j}" for j in range(6)] in columns, columns
    assert [f"neurons.{j}" for j in range(16)] in columns, columns
    # Top to bottom, one box per layer (the vanishing-gradient picture): inputs in order.
    rows = _boxes_in_order(render_svg(draw_dot(loss, "svg", "TB", collapse="layer")), axis=0)
    assert ["x0", "x1", "x2"] in rows, rows


def test_too_large_suggests_only_a_coarser_view_than_the_one_asked_for():
    # An MLP with 12 neurons in one layer: 12 boxes collapsed by neuron, 1 by layer.
    import nn

    model = nn.MLP(2, [12, 1], seed=0)
    loss = (model([0.5, -0.5]) - 1.0) ** 2
    end = "a drawing that size is unreadable and slow to lay out. "
    with pytest.raises(viz.GraphTooLargeError) as info:
        draw_dot(loss, max_nodes=10)
    assert str(info.value).endswith(
        end + "Try collapse='neuron' or collapse='layer' (one box per neuron or layer of a "
        "network), or pass a larger max_nodes.")
    with pytest.raises(viz.GraphTooLargeError) as info:
        draw_dot(loss, collapse="neuron", max_nodes=10)
    assert str(info.value).endswith(
        end + "Try collapse='layer' (one box per layer), or pass a larger max_nodes.")
    with pytest.raises(viz.GraphTooLargeError) as info:
        draw_dot(loss, collapse="layer", max_nodes=3)
    assert str(info.value).endswith(end + "Pass a larger max_nodes.")


def test_user_labels_are_escaped_and_come_back_intact():
    nasty = 'a<b>&"c"\'|{x}\\'
    a = Value(1.5, label=nasty)
    with autograd.scope("we<ird>&"):
        w = Value(2.0, label="w|{}")
    out = a * w
    out.backward()
    g = draw_dot(out)
    assert nasty not in g.source
    svg = render_svg(g)
    labels = [texts(n)[0] for n in svg_groups(svg, "node").values()]
    assert nasty in labels
    assert "w|{}" in labels
    assert [texts(c)[0] for c in svg_groups(svg, "cluster").values()] == ["we<ird>&"]


def test_missing_dot_says_how_to_install_it_and_source_still_works(monkeypatch, tmp_path):
    vals = micrograd_expression()
    vals["L"].backward()
    g = draw_dot(vals["L"])
    monkeypatch.setitem(os.environ, "PATH", str(tmp_path))  # an empty directory: no dot
    with pytest.raises(viz.GraphvizNotFoundError, match="apt-get install graphviz") as info:
        g.pipe()
    assert isinstance(info.value, graphviz.ExecutableNotFound)
    with pytest.raises(viz.GraphvizNotFoundError, match="brew install graphviz"):
        g.render(tmp_path / "drawing")
    assert "v6 [label=<<B>L</B>" in g.source


def test_jupyter_mimebundle_holds_the_svg():
    vals = micrograd_expression()
    vals["L"].backward()
    bundle = draw_dot(vals["L"])._repr_mimebundle_()
    svg = bundle["image/svg+xml"]
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert "grad 6.0000" in svg


def test_bad_arguments_name_the_function_and_the_value():
    x = Value(1.0)
    with pytest.raises(TypeError, match="draw_dot: root must be a Value, got float"):
        draw_dot(1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="draw_dot: rankdir .* got 'XY'"):
        draw_dot(x, rankdir="XY")
    with pytest.raises(ValueError, match="draw_dot: max_nodes .* got 0"):
        draw_dot(x, max_nodes=0)
    with pytest.raises(ValueError, match="draw_dot: scale .* got -1"):
        draw_dot(x, scale=-1)


def test_common_scale_makes_two_drawings_comparable():
    s = Value(1.0, label="s")
    y = s * 0.002
    y.backward()
    own = render_svg(draw_dot(y))
    shared = render_svg(draw_dot(y, scale=100.0))
    # |grad| of s is 0.002.  Against the graph's own largest |grad| (1, of y and of the
    # constant) that is decade 2; against a shared scale of 100 it is decade 4.
    assert fills(node_by_label(own, "s")) == [viz.SCALE_FILLS[2]]
    assert fills(node_by_label(shared, "s")) == [viz.SCALE_FILLS[4]]


def test_a_real_nn_mlp_is_grouped_by_layer_and_neuron():
    import nn

    model = nn.MLP(2, [4, 3, 1], activation="tanh", seed=3)
    loss = (model([0.3, -0.8]) - 0.5) ** 2
    model.zero_grad()
    loss.backward()
    svg = render_svg(draw_dot(loss))
    cluster_labels = sorted(texts(c)[0] for c in svg_groups(svg, "cluster").values())
    assert cluster_labels == sorted(["layers.0", "layers.1", "layers.2"]
                                    + [f"neurons.{j}" for j in range(4)]
                                    + [f"neurons.{j}" for j in range(3)] + ["neurons.0"])
    nodes = svg_groups(svg, "node")
    order = autograd.topological_order(loss)
    # Every parameter of the model is drawn as a parameter with its engine gradient.
    drawn_params = [v for v in order if viz.node_kind(v, loss) == "parameter"]
    assert set(drawn_params) == set(model.parameters())
    for p in drawn_params:
        g = nodes[f"v{order.index(p)}"]
        assert len(g.findall(f".//{SVG}polygon")) == 2
        assert float(line(g, "grad ")) == pytest.approx(p.grad, abs=5e-5)

    collapsed = svg_groups(render_svg(draw_dot(loss, collapse="neuron")), "node")
    assert len([k for k in collapsed if k.startswith("g")]) == 4 + 3 + 1
    by_layer = svg_groups(render_svg(draw_dot(loss, collapse="layer")), "node")
    summaries = {texts(g)[0]: texts(g)[2:] for k, g in by_layer.items() if k.startswith("g")}
    for i, layer in enumerate(model.layers):
        sizes = np.abs([p.grad for p in layer.parameters()])
        assert summaries[f"layers.{i}"] == [
            f"{sizes.size} parameters",
            f"|grad| max {sizes.max():.4f} · mean {sizes.mean():.4f}"]


def test_a_single_leaf_draws_as_the_output_with_its_seed_gradient():
    x = Value(4.0, label="x")
    x.backward(2.5)  # d x / d x = 1, times the seed 2.5
    svg = render_svg(draw_dot(x))
    nodes = svg_groups(svg, "node")
    assert list(nodes) == ["v0"]
    assert float(line(nodes["v0"], "grad ")) == 2.5
    assert svg_groups(svg, "edge") == {}


def test_reused_value_draws_one_edge_per_use():
    a = Value(3.0, label="a")
    b = a + a  # two edges from a, d b / d a = 2
    b.label = "b"
    b.backward()
    svg = render_svg(draw_dot(b))
    assert sorted(svg_groups(svg, "edge")) == ["e1", "e1_0", "e1_1"]
    assert float(line(node_by_label(svg, "a"), "grad ")) == 2.0


LABEL_CHARS = st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp"))


@settings(max_examples=40, deadline=None)
@given(label=st.text(alphabet=LABEL_CHARS, min_size=1, max_size=12))
@example(label="]")  # dot refused a label text that is just ']' (a syntax error)
@example(label="]]")
def test_any_printable_label_comes_back_exactly(label):
    a = Value(1.0, label=label)
    with autograd.scope(label):
        w = Value(2.0, label=label)
    out = a * w
    out.backward()
    svg = render_svg(draw_dot(out))
    # Value nodes only (ids v...): an operation node's text ('*') may equal the label.
    labels = [texts(g)[0] for key, g in svg_groups(svg, "node").items() if key.startswith("v")]
    assert labels.count(label) == 2
    # Dots in a scope nest clusters; joined again, the cluster titles give the scope back.
    assert ".".join(texts(c)[0] for c in svg_groups(svg, "cluster").values()) == label


UNARY = ["tanh", "sigmoid", "exp", "sin", "relu"]


@settings(max_examples=25, deadline=None)
@given(data=st.lists(st.floats(-2.0, 2.0), min_size=2, max_size=4),
       steps=st.lists(st.tuples(st.sampled_from(["+", "*", *UNARY]), st.integers(0, 99),
                                st.integers(0, 99)), min_size=1, max_size=12))
def test_random_graphs_draw_every_value_and_operation_with_its_numbers(data, steps):
    pool = [Value(x, label=f"x{i}") for i, x in enumerate(data)]
    for op, i, j in steps:
        a, b = pool[i % len(pool)], pool[j % len(pool)]
        pool.append(a + b if op == "+" else a * b if op == "*" else getattr(a, op)())
    root = pool[-1]
    root.backward()
    order = autograd.topological_order(root)
    svg = render_svg(draw_dot(root))
    nodes = svg_groups(svg, "node")
    assert len(nodes) == len(order) + sum(1 for v in order if not v.is_leaf)
    assert len(svg_groups(svg, "edge")) == sum(len(v.parents) + 1 for v in order
                                               if not v.is_leaf)
    for i, v in enumerate(order):
        for prefix, number in (("data ", v.data), ("grad ", v.grad)):
            shown = float(line(nodes[f"v{i}"], prefix))
            # Four decimals (or four significant digits) round by at most half a unit in
            # the last place: 0.03125 may show as 0.0312, exactly 5e-5 away.
            assert shown == pytest.approx(number, rel=1e-3, abs=5e-5 * (1 + 1e-9))


def test_scope_levels_pair_numbers_with_names_and_never_make_an_empty_level():
    assert viz.scope_levels("") == []
    assert viz.scope_levels("neuron") == ["neuron"]
    assert viz.scope_levels("layers.0.neurons.1") == ["layers.0", "layers.0.neurons.1"]
    assert viz.scope_levels("layer.neurons.3") == ["layer", "layer.neurons.3"]
    assert viz.scope_levels("m.layers.10") == ["m", "m.layers.10"]
    assert viz.scope_levels(".") == ["."]
    assert viz.scope_levels(".a..b") == [".a.", ".a..b"]  # empty parts stay with the level before


def test_deeply_nested_scopes_build_without_recursion():
    import contextlib

    with contextlib.ExitStack() as stack:
        for k in range(1100):  # deeper than the default recursion limit
            stack.enter_context(autograd.scope(f"s{k}"))
        w = Value(1.0, label="w")
    out = w * 2.0
    out.backward()
    source = draw_dot(out).source
    assert source.count("subgraph cluster_") == 1100
    assert source.count("label=<s1099>") == 1


def test_a_subnormal_gradient_is_drawn_as_vanishing():
    # 5e-324 * 0.25 underflows to 0 when compared with the largest gradient.
    a, b = Value(2.0, label="a"), Value(5e-324, label="b")
    out = a * b
    out.backward()
    assert viz._bin(b.grad, 4.0) == 0  # b's gradient is a = 2, within 10x of 4
    assert viz._bin(a.grad, 4.0) == "vanishing"  # a's gradient is b = 5e-324
    render_svg(draw_dot(out))


def test_scopes_with_unicode_digits_sort_and_draw():
    # '²' counts as a digit for str.isdigit but is not a number for int().
    assert viz._natural("n²") == [(1, "n²")]
    assert viz._natural("layers.10") == [(1, "layers."), (0, 10)]
    assert sorted(["n.10", "n.2", "n.²"], key=viz._natural) == ["n.2", "n.10", "n.²"]
    with autograd.scope("n²"):
        w = Value(2.0, label="w²")
    out = w * 3.0
    out.backward()
    svg = render_svg(draw_dot(out))
    assert [texts(c)[0] for c in svg_groups(svg, "cluster").values()] == ["n²"]


@pytest.mark.parametrize("label", ["\\N", "\\G", "a\\lb", "\\\\", "\\E\\T\\H"])
def test_backslash_escapes_of_dot_are_shown_literally(label):
    # dot replaces \N, \G, \E, \T, \H and \l inside labels unless the backslash is escaped.
    w = Value(2.0, label=label)
    out = w * 3.0
    out.backward()
    svg = render_svg(draw_dot(out))
    labels = [texts(g)[0] for key, g in svg_groups(svg, "node").items() if key.startswith("v")]
    assert labels.count(label) == 1


# ------------------------------------------------------------------ what grey means, said

def caption_texts(svg) -> list[str]:
    """The caption's text lines (title, legend cells, key), drawn by the graph itself."""
    (graph,) = svg_groups(svg, "graph").values()
    return ["".join(t.itertext()) for t in graph.findall(f"{SVG}text")]


def relu_neuron_loss(w: float) -> tuple[Value, Value, Value]:
    """loss = (relu(w * 2 + 0.5) - 1)^2 with w and b a neuron's parameters."""
    x = Value(2.0, label="x")
    with autograd.scope("neuron"):
        weight = Value(w, label="w")
        bias = Value(0.5, label="b")
        out = (weight * x + bias).relu()
    loss = (out - 1.0) ** 2
    loss.backward()
    return loss, weight, bias


def test_a_relu_switched_off_says_why_its_box_is_grey():
    # w = -1: z = -1.5 < 0, so out = 0 and relu's slope is 0.  By hand: d loss / d out =
    # 2 (0 - 1) = -2, yet d loss / dw = d loss / db = -2 * 0 = 0 exactly.
    loss, weight, bias = relu_neuron_loss(-1.0)
    assert (weight.grad, bias.grad) == (0.0, 0.0)
    (box,) = (g for k, g in svg_groups(render_svg(draw_dot(loss, collapse="neuron")),
                                       "node").items() if k.startswith("g"))
    assert texts(box) == ["neuron", "out 0.0000 · grad -2.0000", "relu: slope 0, passes back 0",
                          "2 parameters", "|grad| max 0.0000 · mean 0.0000"]
    assert fills(box) == [viz.VANISHING_FILL]


def test_a_relu_switched_on_keeps_its_colour_and_no_note():
    # w = 1: z = 2.5, out = 2.5; d loss / d out = 2 (2.5 - 1) = 3, dw = 3 * x = 6, db = 3.
    loss, weight, bias = relu_neuron_loss(1.0)
    assert (weight.grad, bias.grad) == (6.0, 3.0)
    svg = render_svg(draw_dot(loss, collapse="neuron"))
    (box,) = (g for k, g in svg_groups(svg, "node").items() if k.startswith("g"))
    assert texts(box) == ["neuron", "out 2.5000 · grad 3.0000", "2 parameters",
                          "|grad| max 6.0000 · mean 4.5000"]
    assert fills(box) == [viz.SCALE_FILLS[0]]  # 6 is the largest |grad| in the graph
    # The legend says what colours a collapsed box; a drawing without one does not.
    key = caption_texts(svg)[-1]
    assert key.endswith(" · collapsed box: its largest parameter |grad|")
    assert "collapsed box" not in caption_texts(render_svg(draw_dot(loss)))[-1]


def test_grey_is_exactly_the_bound_the_legend_prints():
    # p.grad = 3.6236 (the largest) and q.grad = 3.61e-06, 9.96e-07 times the largest:
    # grey.  The legend must not print a bound (3.6e-06, two digits) below q's label.
    p, q = Value(1.0, label="p"), Value(1.0, label="q")
    y = p * 3.6236 + q * 3.61e-06
    y.backward()
    svg = render_svg(draw_dot(y))
    assert fills(node_by_label(svg, "q")) == [viz.VANISHING_FILL]
    (bound,) = [t for t in caption_texts(svg) if t.startswith("vanishing ≤ ")]
    assert bound == "vanishing ≤ 3.624e-06"
    assert "3.624e-06–3.6e-05" in caption_texts(svg)  # the palest blue starts there
    assert float(line(node_by_label(svg, "q"), "grad ")) <= float(bound.split()[-1])


@pytest.mark.parametrize("grad, expected", [
    (0.0, "vanishing"),
    (4e-06, "vanishing"),                         # 4.0 x 1e-6, the bound itself
    (math.nextafter(4e-06, 1.0), 5),              # one step above it: the palest blue
    (4e-05, 5),
    (math.nextafter(4e-05, 1.0), 4),
    (0.4, 1),
    (math.nextafter(0.4, 1.0), 0),
    (4.0, 0),
    (9.0, 0),                                     # above a shared scale's top
])
def test_decades_split_exactly_at_the_legend_bounds(grad, expected):
    # With the largest |grad| 4, the legend's bounds are 4e-k: decade k holds
    # (4e-(k+1), 4e-k], and at most 4e-6 is vanishing.
    assert viz._bin(grad, 4.0) == expected
