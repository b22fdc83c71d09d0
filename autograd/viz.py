"""Drawings of a Value's graph with its gradients, and a step-through page of backward.

`draw_dot(root)` returns a `graphviz.Digraph` in the classic style (one box per Value
with its label, data and grad; one ellipse per operation) and makes the gradient flow
visible:

* **Colour** of a Value box: |grad| on a log scale, one shade per decade below the
  largest |grad| in the graph (six decades, darkest = largest).  A |grad| of at most
  1e-6 times the largest, or exactly 0, is *vanishing* (pale grey, dashed border); the
  legend prints that bound, and the boxes are split at exactly the bounds it prints.
  NaN gradients are red and infinite ones orange, whatever their neighbours.
* **Edge width**: the size of the gradient that flows back along the edge, that is
  upstream grad x local derivative (the same product `Value.backward` adds), again one
  step per decade below the largest flow.  Vanishing flows are dotted, NaN and
  infinite ones dashed red / orange.
* **Shape** tells what a Value is.  The rule, from the tags the engine records:
  the root is the *output* (thick rounded border); any other Value made by an operation
  is *intermediate* (rounded); a leaf created inside an `autograd.scope` *and* given a
  label is a *parameter* (double border: this is how `nn` creates weights and biases);
  every other leaf is an *input or constant* (plain box).
* Before any backward pass (every grad, the root's included, is 0) the drawing says so
  and shows "grad —" instead of misleading zeros.
* Values are grouped into nested cluster boxes by their dotted scope
  ('layers.0.neurons.1' sits in 'neurons.1' inside 'layers.0').  ``collapse='neuron'``
  or ``collapse='layer'`` draws one box per neuron or per layer, with a summary of its
  parameters' gradients (the largest colours the box), so a whole network stays
  readable.  A box whose output's operation passes back exactly 0 although the output
  has a gradient (a ReLU switched off by this input) is grey and says so.

Node ids come from the position in `autograd.topological_order(root)`: Value ``i`` is
``v{i}``, the operation that produced it ``o{i}``; the same graph gives the same DOT
source byte for byte.

`export_html(root, path)` writes one self-contained HTML page (inline SVG, CSS and
JavaScript, nothing fetched) that steps through the forward pass and then the backward
pass in the engine's order, showing each chain-rule product.
"""

from __future__ import annotations

import contextlib
import html
import json
import math
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import graphviz

from . import numeric_gradients
from ._html import CSS, JS, PAGE
from .engine import Value, _as_float, chain_rule, topological_order
from .naming import ATOM, SUM, Dialect, ValueNames, derivative_rule, expression

__all__ = [
    "draw_dot", "export_html", "page_data", "Page", "GradientGraph", "GraphTooLargeError",
    "GraphvizNotFoundError", "node_kind", "scope_levels", "DECADES", "SCALE_FILLS",
    "VANISHING_FILL", "NAN_FILL", "INF_FILL",
]

# --------------------------------------------------------------------------------------
# Palette.  A calm sequential blue (ColorBrewer "Blues") for the decades of |grad|, a
# neutral grey for vanishing gradients, and two warm alarm colours that the blue scale
# never uses for NaN and infinity.
# --------------------------------------------------------------------------------------

DECADES = 6  # colour steps below the largest |grad|; below that a gradient is vanishing
# Characters of a label or scope drawn before '…' shortens it: escaped (up to 6 bytes a
# character, 4 in UTF-8), it stays far below the 16384 bytes dot accepts in one string.
MAX_LABEL = 1000
SCALE_FILLS = ("#2171b5", "#4292c6", "#6baed6", "#9ecae1", "#c6dbef", "#deebf7")
SCALE_FONTS = ("#ffffff", "#ffffff", "#10253f", "#10253f", "#10253f", "#10253f")
EDGE_WIDTHS = ("3.5", "3", "2.5", "2", "1.5", "1")
VANISHING_FILL = "#f0f0f0"
VANISHING_FONT = "#8c8c8c"
NAN_FILL = "#d7301f"
INF_FILL = "#f16913"
PENDING_FILL = "#ffffff"
# Colour by sign (``color_by='sign'``): ColorBrewer's diverging "PRGn", purple for a
# negative gradient and green for a positive one, darkest within 10x of the largest
# |grad|, then one step lighter per decade for two more; no red or orange, which mean
# NaN and infinity.  Zero and vanishing gradients stay grey.
NEGATIVE_FILLS = ("#762a83", "#9970ab", "#c2a5cf")
POSITIVE_FILLS = ("#1b7837", "#5aae61", "#a6dba0")
SIGN_FONTS = ("#ffffff", "#ffffff", "#10253f")
INK = "#2b2b2b"  # text and borders
EDGE_INK = "#6b6b6b"
VANISHING_EDGE = "#bdbdbd"
FONT = "Helvetica"

_KIND_ATTRS = {
    "input": {"shape": "box", "style": "filled"},
    "parameter": {"shape": "box", "style": "filled", "peripheries": "2"},
    "intermediate": {"shape": "box", "style": "filled,rounded"},
    "output": {"shape": "box", "style": "filled,rounded", "penwidth": "2.5"},
}

_INSTALL_HINT = (
    "the Graphviz program 'dot' was not found on PATH, so the drawing cannot be rendered. "
    "Install it: Debian/Ubuntu 'sudo apt-get install graphviz', Fedora 'sudo dnf install "
    "graphviz', macOS 'brew install graphviz', Windows 'winget install graphviz', conda "
    "'conda install -c conda-forge graphviz'. The DOT source is still available as .source."
)


class GraphTooLargeError(ValueError):
    """The graph has more nodes than `max_nodes`; dot would take long and draw a blur."""


class GraphvizNotFoundError(graphviz.ExecutableNotFound):
    """The `dot` program is missing: says how to install it."""

    def __init__(self, where: str = "render") -> None:
        RuntimeError.__init__(self, f"{where}: {_INSTALL_HINT}")


class GradientGraph(graphviz.Digraph):
    """A `graphviz.Digraph` whose rendering errors say how to install Graphviz.

    Everything else is graphviz's: ``.source``, ``.pipe()``, ``.render()``, and
    ``_repr_mimebundle_`` so that a drawing shows itself in Jupyter.
    """

    def pipe(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        try:
            return super().pipe(*args, **kwargs)
        except graphviz.ExecutableNotFound as exc:
            if isinstance(exc, GraphvizNotFoundError):
                raise
            raise GraphvizNotFoundError("pipe") from exc

    def render(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        try:
            return super().render(*args, **kwargs)
        except graphviz.ExecutableNotFound as exc:
            if isinstance(exc, GraphvizNotFoundError):
                raise
            raise GraphvizNotFoundError("render") from exc


# --------------------------------------------------------------------------------------
# Small helpers: numbers, escaping, kinds, scopes.
# --------------------------------------------------------------------------------------

def _short(x: float) -> str:
    """A number for a drawing: 4 decimals in the everyday range, else scientific."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0.0:
        return "0.0000"
    if 1e-3 <= abs(x) < 1e5:
        return f"{x:.4f}"
    return f"{x:.3e}"


def _tick(x: float) -> str:
    """A legend bound between two shades of blue: two significant digits."""
    return f"{x:.2g}"


def _vanishing_text(top: float) -> str:
    """The bound at or below which a gradient is grey, with the four significant digits
    of the boxes' own numbers, so that no grey box reads above it."""
    return f"{_bound(top, DECADES):.4g}"


def _escape(text: str, for_dot: bool = True) -> str:
    """User text made safe inside an HTML-like Graphviz label (or, with ``for_dot=False``,
    inside an HTML page).

    & < > " ' become entities; control characters (which XML forbids) become spaces; a
    text longer than `MAX_LABEL` characters is shortened with '…'.  For
    dot a backslash is doubled too, or dot would read ``\\N`` as the node's name, and ']'
    becomes ``&#93;``: dot (2.43) rejects a label text that is just ']' or ']]'.
    """
    cleaned = "".join(" " if ord(c) < 32 or ord(c) == 127 else c for c in text)
    if len(cleaned) > MAX_LABEL:  # dot refuses a string over 16384 bytes once escaped
        cleaned = cleaned[:MAX_LABEL - 1] + "…"
    escaped = html.escape(cleaned, quote=True)
    if not for_dot:
        return escaped
    return escaped.replace("\\", "\\\\").replace("]", "&#93;")


def node_kind(value: Value, root: Value) -> str:
    """'output', 'intermediate', 'parameter' or 'input' (see the module docstring)."""
    if value is root:
        return "output"
    if not value.is_leaf:
        return "intermediate"
    if value.scope and value.label:
        return "parameter"
    return "input"


def scope_levels(scope: str) -> list[str]:
    """The nested groups a dotted scope belongs to, outermost first.

    A numeric part belongs to the name before it, so ``'layers.0.neurons.1'`` gives
    ``['layers.0', 'layers.0.neurons.1']`` and ``'layer.neurons.3'`` gives
    ``['layer', 'layer.neurons.3']``.
    """
    levels: list[str] = []
    for part in scope.split(".") if scope else []:
        # Empty parts ('a..b', '.') also stay with the level before, so that no level
        # is ever '' (the name of the top level).
        if levels and (part == "" or part.isdigit() or not levels[-1].strip(".")):
            levels[-1] = f"{levels[-1]}.{part}"
        else:
            levels.append(f"{levels[-1]}.{part}" if levels else part)
    return levels


def _level_name(level: str, parent: str) -> str:
    """The part of `level` below `parent`: 'neurons.1' for 'layers.0.neurons.1'."""
    return level[len(parent) + 1:] if parent else level


def _matches(level: str, parent: str, word: str) -> bool:
    head = _level_name(level, parent).split(".")[0]
    return head == word or head == word + "s"


def _natural(text: str) -> list[tuple[int, int | str]]:
    """Sort key that orders the numbers inside names by value: 'n.2' before 'n.10'."""
    # ASCII digits only: '²'.isdigit() is True, but int('²') fails.
    return [(0, int(part)) if "0" <= part[0] <= "9" else (1, part)
            for part in re.split(r"([0-9]+)", text) if part]


def _bound(reference: float, k: int) -> float:
    """The legend's k-th bound, `reference` / 10^k: decade k is (bound k+1, bound k]."""
    return reference * 10.0 ** -k


def _bin(x: float, reference: float) -> int | str:
    """Decade of |x| below `reference`: 0 (within 10x) .. DECADES-1, or a special name.

    Compared with the very bounds the legend prints (`_bound`), not through a logarithm,
    whose rounding put a gradient one step above a bound into the decade below it.
    """
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf"
    size = abs(x)
    if size == 0.0 or reference <= 0.0 or not math.isfinite(reference):
        return "vanishing"
    for decade in range(DECADES):
        if size > _bound(reference, decade + 1):
            return decade
    return "vanishing"


def _fill(b: int | str, sign: float = 0.0) -> tuple[str, str]:
    """(fill colour, font colour) of a gradient bin; with a `sign` (-1 or +1, colour by
    sign) the diverging palette's shade for it."""
    if b == "nan":
        return NAN_FILL, "#ffffff"
    if b == "inf":
        return INF_FILL, "#ffffff"
    if b == "vanishing":
        return VANISHING_FILL, VANISHING_FONT
    assert isinstance(b, int)
    if sign:
        shade = min(b, len(NEGATIVE_FILLS) - 1)
        return (NEGATIVE_FILLS if sign < 0 else POSITIVE_FILLS)[shade], SIGN_FONTS[shade]
    return SCALE_FILLS[b], SCALE_FONTS[b]


def _op_text(node: Value) -> str:
    """What a node's operation is called in a drawing: ``tanh``, ``** 2``, ``leaky_relu(0.1)``."""
    op = node._fn
    if op is None or not op.has_param:
        return node.op
    if op.symbol:
        return f"{op.symbol} {node.param:g}"
    return f"{op.name}({node.param:g})"


# --------------------------------------------------------------------------------------
# Layout: what to draw, before any graphviz object exists.
# --------------------------------------------------------------------------------------

@dataclass
class _Item:
    """One node of the drawing: a Value, an operation, or a collapsed group."""

    node_id: str
    cluster: str  # scope level of the cluster box it sits in ('' = top level)
    attrs: dict[str, str]
    members: list[int] = field(default_factory=list)  # a collapsed group's Values


@dataclass
class _Edge:
    tail: str
    head: str
    edge_id: str
    flows: list[float] = field(default_factory=list)
    upstream: float = math.nan
    local: float = math.nan
    merged: bool = False  # drawn to or from a collapsed box: shows a total
    product: bool = False  # parent -> operation: upstream x local (else op -> its result)


@dataclass
class _Layout:
    items: list[_Item]
    edges: list[_Edge]
    clusters: list[str]  # scope levels that get a box, in order of first appearance
    pending: bool
    page: bool  # drawn for the step-through page: no caption
    grad_reference: float
    flow_reference: float
    by_sign: bool = False  # colour by the sign of the gradient (diverging palette)
    # Leaf nodes kept in this order across their rank (w0, w1, ..., b), per cluster.
    chains: list[tuple[str, list[str]]] = field(default_factory=list)


@dataclass
class _Shown:
    """A number the drawing shows that is no Value of the graph: a product w_k * x_k of
    an expanded `dot` (its gradient is the dot's, since d(sum)/d(term) = 1)."""

    label: str
    data: float
    grad: float


def _total(flows: list[float]) -> float:
    """Sum of |flow| over the real edges one drawn edge stands for (NaN if any is NaN)."""
    if any(math.isnan(f) for f in flows):
        return math.nan
    if any(math.isinf(f) for f in flows):
        return math.inf
    return math.fsum(abs(f) for f in flows)


def _paint(attrs: dict[str, str], grad: float, reference: float,
           by_sign: bool = False) -> None:
    """Fill a box by the decade of `grad` (and, `by_sign`, its sign); a vanishing one also
    gets a dashed grey border."""
    b = _bin(grad, reference)
    fill, font = _fill(b, math.copysign(1.0, grad) if by_sign else 0.0)
    attrs.update(fillcolor=fill, fontcolor=font)
    if b == "vanishing":
        attrs["style"] += ",dashed"
        attrs["color"] = VANISHING_FONT


def _edge_attrs(edge: _Edge, pending: bool, reference: float,
                by_sign: bool = False) -> dict[str, str]:
    if pending or not edge.flows:
        return {"id": edge.edge_id}
    total = _total(edge.flows)
    b = _bin(total, reference)
    attrs = {"id": edge.edge_id}
    if b == "nan":
        attrs.update(color=NAN_FILL, penwidth="2", style="dashed")
    elif b == "inf":
        attrs.update(color=INF_FILL, penwidth="2", style="dashed")
    elif b == "vanishing":
        attrs.update(color=VANISHING_EDGE, penwidth="0.75", style="dotted")
    else:
        attrs.update(penwidth=EDGE_WIDTHS[int(b)])
        if by_sign and not edge.merged:  # a merged edge's total has no one sign
            attrs["color"] = (NEGATIVE_FILLS if edge.flows[0] < 0 else POSITIVE_FILLS)[0]
    if edge.merged:
        plural = "" if len(edge.flows) == 1 else "s"
        attrs["tooltip"] = f"{len(edge.flows)} edge{plural}, total |gradient| {_short(total)}"
    elif edge.product:
        attrs["tooltip"] = (f"gradient sent back: {_short(edge.upstream)} x "
                            f"{_short(edge.local)} = {_short(edge.flows[0])}")
    else:
        attrs["tooltip"] = f"gradient arriving: {_short(edge.flows[0])}"
    return attrs


def _value_attrs(v: Value | _Shown, kind: str, pending: bool, reference: float,
                 tag: str, page_grad: float | None = None,
                 name: str | None = None, by_sign: bool = False) -> dict[str, str]:
    title = v.label if name is None else name  # the page names every value ('#5')
    lines = [f"<B>{_escape(title)}</B>"] if title else []
    lines.append(f"data {_short(v.data)}")
    if page_grad is not None:  # the page sizes the box for the final text, then animates it
        lines.append(f"grad {_short(page_grad)}")
    else:
        lines.append("grad —" if pending else f"grad {_short(v.grad)}")
    attrs = dict(_KIND_ATTRS[kind])
    attrs["label"] = "<" + "<BR/>".join(lines) + ">"
    attrs["id"] = tag
    attrs["color"] = INK
    if pending:
        attrs.update(fillcolor=PENDING_FILL, fontcolor=INK)
        attrs["tooltip"] = f"{kind}: data {v.data!r} (no backward pass yet)"
        return attrs
    _paint(attrs, v.grad, reference, by_sign)
    attrs["tooltip"] = f"{kind}: data {v.data!r}, grad {v.grad!r}"
    return attrs


def _op_attrs(node: Value | None, tag: str, text: str | None = None) -> dict[str, str]:
    text = _op_text(node) if text is None else text
    return {"label": f"<{_escape(text)}>", "id": tag, "shape": "ellipse",
            "style": "filled", "fillcolor": "#ffffff", "color": "#8c8c8c",
            "fontcolor": INK, "fontsize": "11", "height": "0.3", "margin": "0.05,0.02"}


def _group_attrs(name: str, members: list[Value], outputs: list[Value], root: Value,
                 pending: bool, reference: float, tag: str,
                 by_sign: bool = False, stopped: bool = False) -> dict[str, str]:
    """A collapsed box: its output, and its parameters' gradients, which colour it.

    `stopped`: the output's own operation passes back exactly 0 (relu switched off by
    this input) although the output has a gradient.  The box is then grey, its
    parameters getting 0, while its 'grad' line is not small: a line says why.
    """
    params = [v for v in members if node_kind(v, root) == "parameter"]
    lines = [f"<B>{_escape(name)}</B>"]
    sizes = [abs(p.grad) for p in params]
    if len(outputs) == 1:
        out = outputs[0]
        grad_text = "—" if pending else _short(out.grad)
        lines.append(f"out {_short(out.data)} · grad {grad_text}")
        if stopped:
            lines.append(f"{_escape(_op_text(out))}: slope 0, passes back 0")
    else:
        lines.append(f"{len(outputs)} outputs")
    plural = "" if len(params) == 1 else "s"
    lines.append(f"{len(params)} parameter{plural}")
    if params and not pending:
        nan = any(math.isnan(s) for s in sizes)
        largest = math.nan if nan else max(sizes)
        mean = math.nan if nan else math.fsum(sizes) / len(sizes)
        lines.append(f"|grad| max {_short(largest)} · mean {_short(mean)}")
    attrs = {"label": "<" + "<BR/>".join(lines) + ">", "id": tag, "shape": "box",
             "style": "filled,rounded", "color": INK, "penwidth": "1.5"}
    if pending:
        attrs.update(fillcolor=PENDING_FILL, fontcolor=INK)
        return attrs
    if params:
        key = math.nan if any(math.isnan(s) for s in sizes) else max(sizes)
    else:
        key = outputs[0].grad if outputs else 0.0
    _paint(attrs, key, reference, by_sign and not params)  # |grad| max has no sign
    return attrs


def _layout(root: Value, collapse: str | None, max_nodes: int, scale: float | None,
            page_grads: Sequence[float] | None = None, where: str = "draw_dot",
            page_names: Sequence[str] | None = None, expand: bool = False,
            by_sign: bool = False) -> _Layout:
    """Decide every drawn node, edge and cluster, and check the size, before graphviz.

    With `expand`, every `dot` node (a neuron's weighted sum) is drawn as the lecture draws
    it: a ``*`` per term, each with its product w_k x_k, and one ``+`` of the products and
    the bias.  The numbers come from the fused node: the product is w_k.data * x_k.data,
    its gradient the dot's (d sum / d term = 1), and every edge's flow is the one the fused
    edge carries.
    """
    order = topological_order(root)
    index = {v: i for i, v in enumerate(order)}  # Values hash by identity
    pending = page_grads is not None or all(v.grad == 0.0 for v in order)

    finite = [abs(v.grad) for v in order if math.isfinite(v.grad)]
    grad_reference = scale if scale is not None else max(finite, default=0.0)

    # Which group (collapsed box) or cluster each Value belongs to.
    owner: list[str] = []  # drawn node id for Value i
    cluster_of: list[str] = []  # cluster level the drawn node sits in
    groups: dict[str, list[int]] = {}  # group level -> member Values
    for i, v in enumerate(order):
        levels = scope_levels(v.scope)
        group = ""
        if collapse:
            for depth, level in enumerate(levels):
                if _matches(level, levels[depth - 1] if depth else "", collapse):
                    group = level
                    parent_level = levels[depth - 1] if depth else ""
                    break
        if group:
            groups.setdefault(group, []).append(i)
            owner.append(f"g{groups[group][0]}")
            cluster_of.append(parent_level)
        else:
            owner.append(f"v{i}")
            cluster_of.append(levels[-1] if levels else "")
    if collapse and not groups:
        found = sorted({lv for v in order for lv in scope_levels(v.scope)})[:8]
        raise ValueError(
            f"{where}: collapse={collapse!r} matches no scope in this graph "
            f"(scopes found: {', '.join(found) if found else 'none'})")

    count = sum(1 for i, v in enumerate(order) if owner[i] == f"v{i}")
    count += sum(1 for i, v in enumerate(order) if owner[i] == f"v{i}" and not v.is_leaf)
    count += len(groups)
    expanded = {i for i, v in enumerate(order) if expand and v.op == "dot"
                and owner[i] == f"v{i}"}
    count += sum(len(order[i].parents) - 1 for i in expanded)  # a '*' and a box per term
    if count > max_nodes:
        raise _too_large(count, max_nodes, where, collapse)
    _check_labels(order, where)

    # Edges, with the gradient that flows back along each: upstream grad x local slope.
    edges: list[_Edge] = []
    merged: dict[tuple[str, str], _Edge] = {}
    flows_known = not pending

    def add(tail: str, head: str, edge_id: str, flow: float | None,
            upstream: float = math.nan, local: float = math.nan,
            product: bool = False) -> None:
        if tail == head:
            return  # inside one collapsed box
        collapsed = tail.startswith("g") or head.startswith("g")
        if collapsed:
            key = (tail, head)
            edge = merged.get(key)
            if edge is None:
                edge = _Edge(tail, head, f"e_{tail}_{head}")
                merged[key] = edge
                edges.append(edge)
            if flow is not None:
                edge.flows.append(flow)
            edge.merged = True
            return
        edges.append(_Edge(tail, head, edge_id, [] if flow is None else [flow],
                           upstream, local, product=product))

    # d node / d parent of every edge, from the backpropagation walk over the stored
    # gradients (it reads each node's .grad as the upstream gradient); None where a
    # user's derivative rule fails, so the edge is drawn without a width.
    slopes: dict[tuple[int, int], float | None] = {}
    if flows_known:
        for child, _parent, k, _upstream, local in chain_rule(order, tolerant=True):
            slopes[index[child], k] = None if local is None else float(local)
    products: dict[int, list[_Shown]] = {}  # an expanded dot's terms w_k * x_k
    for i, node in enumerate(order):
        if node.is_leaf:
            continue
        if i in expanded:
            products[i] = _expand_dot(i, node, owner, index, slopes, add)
            continue
        head = owner[i] if owner[i] != f"v{i}" else f"o{i}"
        for k, parent in enumerate(node.parents):
            flow = None
            local = slopes.get((i, k))
            if local is None:
                local = math.nan
            else:
                flow = node.grad * local
            add(owner[index[parent]], head, f"e{i}_{k}", flow, node.grad, local, True)
        if head == f"o{i}":
            add(head, f"v{i}", f"e{i}", node.grad if flows_known else None)
    totals = [_total(edge.flows) for edge in edges if edge.flows]
    flow_reference = max((t for t in totals if math.isfinite(t)), default=0.0)

    # A group's outputs: its members used outside it (or the root itself).
    level_of = {f"g{members[0]}": level for level, members in groups.items()}
    used_outside: set[int] = {index[root]}
    for i, v in enumerate(order):
        for p in v.parents:
            k = index[p]
            if owner[k] != owner[i]:
                used_outside.add(k)

    # Drawn nodes, in topological order of their first member.
    items: list[_Item] = []
    drawn: set[str] = set()
    for i, v in enumerate(order):
        if owner[i] != f"v{i}":
            tag = owner[i]
            if tag in drawn:
                continue
            drawn.add(tag)
            members = groups[level_of[tag]]
            outputs = [order[j] for j in members if j in used_outside]
            stopped = len(outputs) == 1 and _passes_back_zero(outputs[0], index, slopes)
            items.append(_Item(tag, cluster_of[i], _group_attrs(
                _level_name(level_of[tag], cluster_of[i]), [order[j] for j in members],
                outputs, root, pending, grad_reference, tag, by_sign, stopped),
                list(members)))
            continue
        kind = node_kind(v, root)
        for k, term in enumerate(products.get(i, ())):
            items.append(_Item(f"o{i}m{k}", cluster_of[i], _op_attrs(None, f"o{i}m{k}", "*")))
            items.append(_Item(f"v{i}m{k}", cluster_of[i], _value_attrs(
                term, "intermediate", pending, grad_reference, f"v{i}m{k}",
                by_sign=by_sign)))
        items.append(_Item(f"v{i}", cluster_of[i],
                           _value_attrs(v, kind, pending, grad_reference, f"v{i}",
                                        None if page_grads is None else page_grads[i],
                                        None if page_names is None else page_names[i],
                                        by_sign)))
        if not v.is_leaf:
            items.append(_Item(f"o{i}", cluster_of[i],
                               _op_attrs(v, f"o{i}", "+" if i in products else None)))

    # Boxes and clusters in the natural order of their names (neurons.2 before
    # neurons.10), which is also the order dot tries first when it places them.
    boxes = sorted((item for item in items if item.node_id.startswith("g")),
                   key=lambda item: _natural(level_of[item.node_id]))
    slots = iter(boxes)
    items = [next(slots) if item.node_id.startswith("g") else item for item in items]
    # Names equal but for leading zeros ('n01', 'n1') tie on the natural key; the text
    # breaks the tie, or the set's order (a per-process string hash) would decide.
    clusters = sorted({level for item in items for level in scope_levels(item.cluster)},
                      key=lambda level: (_natural(level), level))
    chains = [] if page_grads is not None else _leaf_chains(order, owner, cluster_of,
                                                           expanded)
    return _Layout(items, edges, clusters, pending, page_grads is not None, grad_reference,
                   flow_reference, by_sign, chains)


def _passes_back_zero(out: Value, index: dict[Value, int],
                      slopes: dict[tuple[int, int], float | None]) -> bool:
    """Whether `out` has a finite, nonzero gradient that its operation sends back to
    none of its inputs: every local slope is exactly 0 (known; not before backward)."""
    if out.is_leaf or out.grad == 0.0 or not math.isfinite(out.grad):
        return False
    i = index[out]
    return all(slopes.get((i, k)) == 0.0 for k in range(len(out.parents)))


def _expand_dot(i: int, node: Value, owner: list[str], index: dict[Value, int],
                slopes: dict[tuple[int, int], float | None],
                add: Callable[..., None]) -> list[_Shown]:
    """The edges of dot node `i` drawn as products and a sum; returns the products.

    dot's parents are w_0..w_{n-1}, x_0..x_{n-1}, b.  Term k is ``*`` node o{i}m{k} with
    result box v{i}m{k}; the sum is the dot's own o{i}.  Edge ids keep the fused edges'
    e{i}_{k} for the parents' edges, so a parent's edge has the same id either way.
    """
    parents = node.parents
    n = (len(parents) - 1) // 2
    upstream = node.grad

    def flow(k: int) -> tuple[float | None, float]:
        local = slopes.get((i, k))
        return (None, math.nan) if local is None else (upstream * local, local)

    known = bool(slopes)
    terms = []
    for k in range(n):
        w, x = parents[k], parents[n + k]
        for position in (k, n + k):
            f, local = flow(position)
            add(owner[index[parents[position]]], f"o{i}m{k}", f"e{i}_{position}", f,
                upstream, local, True)
        add(f"o{i}m{k}", f"v{i}m{k}", f"e{i}m{k}", upstream if known else None)
        add(f"v{i}m{k}", f"o{i}", f"e{i}m{k}_s", upstream if known else None, upstream, 1.0,
            True)
        terms.append(_Shown(f"{w.label or f'w{k}'}·{x.label or f'x{k}'}", w.data * x.data,
                            upstream))
    f, local = flow(2 * n)
    add(owner[index[parents[2 * n]]], f"o{i}", f"e{i}_{2 * n}", f, upstream, local, True)
    add(f"o{i}", f"v{i}", f"e{i}", upstream if known else None)
    return terms


def _leaf_chains(order: list[Value], owner: list[str], cluster_of: list[str],
                 expanded: set[int]) -> list[tuple[str, list[str]]]:
    """Leaves to keep in reading order across their rank: a neuron's w0, w1, ..., b (and
    the inputs x0, x1, ...), which dot would otherwise place as crossings fall out.

    For each operation with more than two parents, its leaf parents that sit in one
    cluster, in the order of the operation's arguments.  A leaf is chained once, by the
    first such operation.  An expanded dot is left to its '*' nodes.
    """
    index = {v: i for i, v in enumerate(order)}
    chained: set[int] = set()
    chains: list[tuple[str, list[str]]] = []
    for i, node in enumerate(order):
        if len(node.parents) <= 2 or owner[i] != f"v{i}" or i in expanded:
            continue  # (an expanded dot's terms are ordered by their '*' nodes)
        parents = node.parents
        by_cluster: dict[str, list[str]] = {}
        for parent in parents:
            j = index[parent]
            if parent.is_leaf and owner[j] == f"v{j}" and j not in chained:
                chained.add(j)
                by_cluster.setdefault(cluster_of[j], []).append(f"v{j}")
        chains.extend((cluster, ids) for cluster, ids in by_cluster.items() if len(ids) > 1)
    return chains


# --------------------------------------------------------------------------------------
# The legend and the Digraph.
# --------------------------------------------------------------------------------------

def _sign_cells(top: float) -> list[str]:
    """The legend's cells for colour by sign: the negative shades, then the positive."""
    cells = ['<TD ALIGN="RIGHT">grad</TD>']
    for fills, sign in ((NEGATIVE_FILLS, "−"), (POSITIVE_FILLS, "+")):
        for k, (fill, font) in enumerate(zip(fills, SIGN_FONTS)):
            last = k == len(fills) - 1
            low = _vanishing_text(top) if last else _tick(_bound(top, k + 1))
            bounds = f"{sign}{low}–{_tick(_bound(top, k))}"
            cells.append(f'<TD BGCOLOR="{fill}"><FONT COLOR="{font}">{bounds}</FONT></TD>')
    return cells


def _caption(layout: _Layout, legend: bool, title: str | None,
             type_scale: float = 1.0) -> str | None:
    """The graph's caption, drawn above it: title, the no-backward notice, the legend."""
    scale_cells = 2 * len(NEGATIVE_FILLS) if layout.by_sign else len(SCALE_FILLS)
    width = 2 + scale_cells + 3  # the 'grad' cell, the scale, vanishing, NaN, inf
    span = f'<TD COLSPAN="{width}" ALIGN="LEFT">'
    rows = []
    if title is not None:
        rows.append(f'<TR>{span}<FONT POINT-SIZE="{15 * type_scale:g}"><B>{_escape(title)}'
                    "</B></FONT></TD></TR>")
    if layout.pending:
        rows.append(f"<TR>{span}<B>No backward pass yet:</B> "
                    "call backward() to see gradients</TD></TR>")
    if legend and not layout.pending:
        top = layout.grad_reference
        cells = ['<TD ALIGN="RIGHT">|grad|</TD>']
        for k, (fill, font) in enumerate(zip(SCALE_FILLS, SCALE_FONTS)):
            # The palest blue ends where grey begins: that bound as the grey cell says it.
            last = k == len(SCALE_FILLS) - 1
            low = _vanishing_text(top) if last else _tick(_bound(top, k + 1))
            bounds = f"{low}–{_tick(_bound(top, k))}"
            cells.append(f'<TD BGCOLOR="{fill}"><FONT COLOR="{font}">{bounds}</FONT></TD>')
        if layout.by_sign:
            cells = _sign_cells(top)
        cells.append("<TD> </TD>")
        cells.append(f'<TD BGCOLOR="{VANISHING_FILL}"><FONT COLOR="{VANISHING_FONT}">'
                     f"vanishing ≤ {_vanishing_text(top)}</FONT></TD>")
        cells.append(f'<TD BGCOLOR="{NAN_FILL}"><FONT COLOR="#ffffff">NaN</FONT></TD>')
        cells.append(f'<TD BGCOLOR="{INF_FILL}"><FONT COLOR="#ffffff">inf</FONT></TD>')
        rows.append("<TR>" + "".join(cells) + "</TR>")
    if legend:
        key = ("box: input or constant · double box: parameter · rounded: computed value · "
               "thick border: output · ellipse: operation")
        if not layout.pending:
            key += " · edge width: gradient sent back"
            if layout.by_sign:
                key += " (its colour: the sign)"
            if any(item.node_id.startswith("g") for item in layout.items):
                key += " · collapsed box: its largest parameter |grad|"
        rows.append(f"<TR>{span}<FONT COLOR=\"{VANISHING_FONT}\">{key}</FONT></TD></TR>")
    if not rows:
        return None
    return ('<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="4">'
            + "".join(rows) + "</TABLE>>")


def _too_large(count: int, max_nodes: int, where: str, collapse: str | None,
               scoped: bool | None = None) -> GraphTooLargeError:
    """The refusal of a graph with more drawn nodes than `max_nodes`.  Its hint suggests
    collapsing unless `scoped` is False (collapsing needs scopes, which `nn` networks
    have; the page checks, so that its hint names only what works)."""
    hint = "Pass"
    if scoped is not False:
        hint = {None: "Try collapse='neuron' or collapse='layer' (one box per neuron or "
                      "layer of a network), or pass",
                "neuron": "Try collapse='layer' (one box per layer), or pass",
                }.get(collapse, "Pass")
    return GraphTooLargeError(
        f"{where}: the graph has {count} nodes to draw, more than max_nodes={max_nodes}; "
        f"a drawing that size is unreadable and slow to lay out. {hint} a larger "
        "max_nodes.")


def _check_max_nodes(max_nodes: object, where: str) -> None:
    if isinstance(max_nodes, bool) or not isinstance(max_nodes, int) or max_nodes < 1:
        raise ValueError(f"{where}: max_nodes must be a positive int, got {max_nodes!r}")


# Pages a drawing can be fitted to with ``page=``: (width, height) in inches, landscape.
PAGES = {"A4": (11.69, 8.27), "letter": (11.0, 8.5), "slide": (13.33, 7.5)}
# Type sizes: 'screen' is the everyday drawing, 'slides' the same at twice the size.
STYLES = {"screen": 1.0, "slides": 2.0}
EXPAND = ("neurons",)
COLOR_BY = ("magnitude", "sign")


def draw_dot(root: Value, format: str = "svg", rankdir: str | None = None, *,
             collapse: str | None = None, max_nodes: int = 400, legend: bool = True,
             scale: float | None = None, title: str | None = None,
             prefix: str = "", expand: str | None = None, color_by: str = "magnitude",
             style: str = "screen",
             page: str | tuple[float, float] | None = None) -> GradientGraph:
    """Draw the graph that computed `root`, with every Value's data and gradient.

    Parameters:
        root: the Value to draw; everything it depends on is drawn.
        format: output format for rendering ('svg', 'png', 'pdf', ...).
        rankdir: 'LR' (left to right, the default), 'TB', 'RL' or 'BT'; with `page` and
            no rankdir, whichever of 'LR' and 'TB' fills the page at the larger size.
        collapse: None, or a scope word such as 'neuron' or 'layer': every scope level
            named so (or its plural, 'neurons.1') becomes one box with a summary of
            its parameters' gradients.
        max_nodes: refuse (GraphTooLargeError) to draw more nodes than this.
        legend: add the colour and shape key.
        scale: the |grad| taken as the top of the colour scale (default: the largest
            finite |grad| in the graph); give two drawings the same scale to compare them.
        title: a caption on top.
        prefix: put before every node, edge and cluster id (letters, digits and '_'),
            so that several drawings can be placed in one picture as subgraphs.
        expand: None, or 'neurons': every `dot` node (a neuron's weighted sum, as `nn`
            builds it) is drawn as the lecture draws it on the whiteboard: a ``*`` for each
            w_k x_k with its product, and a ``+`` of the products and the bias.
        color_by: 'magnitude' (the decade of |grad|, the default) or 'sign' (a diverging
            palette: purple for a negative gradient, green for a positive one, lighter by
            decade; edges coloured by the sign of the gradient they send back); for small
            graphs, where the sign is what you want to read.
        style: 'screen' (the default) or 'slides': every type size and spacing doubled,
            for a projector.
        page: None, 'A4', 'letter', 'slide' or (width, height) in inches: the drawing is
            scaled down to fit the page (portrait or landscape, whichever fits larger),
            instead of drawn as a long strip.  Runs dot to measure, so needs Graphviz.

    Colour is the decade of |grad| / scale (six steps, then vanishing); edge width is
    the decade of |upstream grad x local derivative| / (the largest such flow).
    Returns a `GradientGraph` (a `graphviz.Digraph`): ``.source`` is the DOT text,
    ``.pipe()`` renders, and Jupyter displays it.
    """
    if not isinstance(root, Value):
        raise TypeError(f"draw_dot: root must be a Value, got {type(root).__name__}")
    if rankdir is not None and rankdir not in ("LR", "TB", "RL", "BT"):
        raise ValueError(f"draw_dot: rankdir must be 'LR', 'TB', 'RL' or 'BT', got {rankdir!r}")
    if collapse is not None and (not isinstance(collapse, str) or not collapse):
        raise ValueError(f"draw_dot: collapse must be None or a scope word such as "
                         f"'neuron' or 'layer', got {collapse!r}")
    _check_max_nodes(max_nodes, "draw_dot")
    if scale is not None and not (isinstance(scale, (int, float)) and math.isfinite(scale)
                                  and scale > 0):
        raise ValueError(f"draw_dot: scale must be a positive finite number, got {scale!r}")
    if not isinstance(prefix, str) or not re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)?", prefix):
        raise ValueError(f"draw_dot: prefix must be letters, digits and '_' (not starting "
                         f"with a digit), got {prefix!r}")
    if expand is not None and expand not in EXPAND:
        raise ValueError(f"draw_dot: expand must be None or 'neurons', got {expand!r}")
    if expand is not None and collapse is not None:
        raise ValueError(f"draw_dot: expand={expand!r} draws inside the neurons that "
                         f"collapse={collapse!r} hides; give one of them")
    if color_by not in COLOR_BY:
        raise ValueError(f"draw_dot: color_by must be 'magnitude' or 'sign', got {color_by!r}")
    if style not in STYLES:
        raise ValueError(f"draw_dot: style must be 'screen' or 'slides', got {style!r}")
    page_size = _page_size(page)
    layout = _layout(root, collapse, max_nodes, None if scale is None else float(scale),
                     expand=expand is not None, by_sign=color_by == "sign")

    def build(direction: str) -> GradientGraph:
        return _to_digraph(layout, format, direction, legend, title, prefix, STYLES[style])

    if page_size is None:
        graph = build(rankdir or "LR")
    else:
        graph = _fit_page(build, page_size, rankdir)
    if collapse is not None:
        # A collapsed network reads in order: x0, x1, ... and neurons.0, neurons.1, ...
        # from the top (or left).  Edges into a box keep the order they are listed in, and
        # a short crossing search keeps dot from rotating a layer (8..15, then 0..7).
        graph.graph_attr.update(ordering="in", mclimit="0.01")
    return graph


def _page_size(page: object) -> tuple[float, float] | None:
    """`page` as (width, height) in inches, checked."""
    if page is None:
        return None
    if isinstance(page, str) and page in PAGES:
        return PAGES[page]
    if (isinstance(page, tuple) and len(page) == 2
            and all(isinstance(x, (int, float)) and not isinstance(x, bool)
                    and math.isfinite(x) and x > 0 for x in page)):
        return float(page[0]), float(page[1])
    raise ValueError(f"draw_dot: page must be None, {', '.join(map(repr, PAGES))} or "
                     f"(width, height) in inches, got {page!r}")


def _fit_page(build: Callable[[str], GradientGraph], page: tuple[float, float],
              rankdir: str | None) -> GradientGraph:
    """Scale `graph` down to fit `page`, choosing the direction (unless given) and the
    orientation that leave it largest.

    dot's own measure decides: the drawing's natural size for each direction is read
    from ``dot -Tplain`` (its first line is 'graph scale width height', in inches).
    A layout that already fits is left at its size.
    """
    best: tuple[float, GradientGraph, tuple[float, float]] | None = None
    for direction in (rankdir,) if rankdir else ("LR", "TB"):
        graph = build(direction)
        header = graph.pipe(format="plain", encoding="utf-8").split("\n", 1)[0].split()
        width, height = float(header[2]), float(header[3])
        for w, h in (page, page[::-1]):
            fit = min(1.0, w / width, h / height)
            if best is None or fit > best[0]:
                best = (fit, graph, (w, h))
    assert best is not None
    _, graph, (w, h) = best
    graph.graph_attr["size"] = f"{w:g},{h:g}"
    return graph


def _to_digraph(layout: _Layout, format: str, rankdir: str, legend: bool,
                title: str | None, prefix: str = "", type_scale: float = 1.0) -> GradientGraph:
    def size(points: float) -> str:
        return f"{points * type_scale:g}"

    graph_attr = {"rankdir": rankdir, "bgcolor": "white", "fontname": FONT,
                  "fontsize": size(12), "fontcolor": INK, "nodesep": size(0.25),
                  "ranksep": size(0.35)}
    caption = None if layout.page else _caption(layout, legend, title, type_scale)
    if caption is not None:
        graph_attr.update(label=caption, labelloc="t", labeljust="l")
    g = GradientGraph(name="chainrule", format=format, graph_attr=graph_attr,
                      node_attr={"fontname": FONT, "fontsize": size(11)},
                      edge_attr={"color": EDGE_INK, "arrowsize": size(0.6)})

    # One subgraph per cluster, filled with its own nodes; then each is put into its
    # parent, deepest first, so that a parent receives complete children (no recursion,
    # however deep the scopes nest).
    containers: dict[str, graphviz.Digraph] = {"": g}
    for number, level in enumerate(layout.clusters):
        levels = scope_levels(level)
        parent = levels[-2] if len(levels) > 1 else ""
        sub = GradientGraph(name=f"cluster_{prefix}{number}")
        sub.attr(label=f"<{_escape(_level_name(level, parent))}>", style="rounded,filled",
                 fillcolor="#f7f7f5" if len(levels) % 2 == 1 else "#ededea",
                 color="#c8c8c2", fontcolor="#6b6b6b", fontsize=size(10), labeljust="l",
                 penwidth="1")
        containers[level] = sub
    for item in layout.items:
        attrs = dict(item.attrs)
        label = attrs.pop("label")
        attrs["id"] = prefix + attrs["id"]
        if type_scale != 1.0 and "fontsize" in attrs:  # the operations' own size
            attrs["fontsize"] = size(float(attrs["fontsize"]))
        containers[item.cluster].node(prefix + item.node_id, label, **attrs)
    # Leaves in reading order (w0 above w1 ... above b, or left of it in TB): an invisible
    # chain across their rank.  Inside a cluster, dot (2.43) lays an LR or RL rank out
    # from the bottom, so there the chain runs backwards; at the top level it does not.
    # (Measured, not documented: tests/test_viz_whiteboard.py checks the result.)
    for cluster, ids in layout.chains:
        ordered = ids[::-1] if rankdir in ("LR", "RL") and cluster else ids
        chain = graphviz.Digraph(graph_attr={"rank": "same"})
        for tail, head in zip(ordered, ordered[1:]):
            chain.edge(prefix + tail, prefix + head, style="invis")
        containers[cluster].subgraph(chain)
    depth = {level: len(scope_levels(level)) for level in layout.clusters}
    for level in sorted(layout.clusters, key=lambda lv: -depth[lv]):  # stable: keeps order
        levels = scope_levels(level)
        parent = levels[-2] if len(levels) > 1 else ""
        containers[parent].subgraph(containers[level])

    cluster_of = {item.node_id: item.cluster for item in layout.items}
    # Collapsed boxes have no parameter rank to skip: there a longer edge only loops.
    skip_rank = not layout.page and not any(item.node_id.startswith("g")
                                            for item in layout.items)
    for edge in layout.edges:
        attrs = _edge_attrs(edge, layout.pending, layout.flow_reference, layout.by_sign)
        attrs["id"] = prefix + attrs["id"]
        if skip_rank and cluster_of[edge.tail] != cluster_of[edge.head]:
            # A value sent into another cluster skips a rank, so the next layer's
            # parameters do not share a rank with this layer's outputs: the clusters then
            # sit side by side instead of in a staircase.
            attrs["minlen"] = "2"
        g.edge(prefix + edge.tail, prefix + edge.head, **attrs)
    return g


# --------------------------------------------------------------------------------------
# The step-through page.
# --------------------------------------------------------------------------------------

PAGE_NAME_WIDTH = 32  # characters of a value's name on the page before '…' shortens it
MAX_PAGE_VALUES = 20_000  # a page steps through every value: more would be tens of MB
QUIZ_TOLERANCE = (1e-3, 1e-3)  # an answer is right within 0.001, or 0.1% of its size


def _names(order: Sequence[Value]) -> list[str]:
    """A name per Value for the page: its label (qualified by its scope where neurons
    share labels such as 'w0'), else its operation on its operands' names ('x·w + b');
    never a bare number."""
    names = ValueNames(4, order, width=PAGE_NAME_WIDTH)
    return [names.name(v, Dialect(4)) for v in order]


def _operand(name: str) -> str:
    """A name inside a formula: in parentheses unless it is one word."""
    return name if re.fullmatch(r"[\w.\[\] ]+", name) and " " not in name else f"({name})"


def _number(x: float) -> str:
    """A number inside a formula: `_short`, a negative one in parentheses."""
    text = _short(x)
    return f"({text})" if text.startswith("-") else text


def _operand_number(x: float) -> tuple[str, int]:
    """A number as an operand of `expression`: a negative one binds like a sum, so that it
    is put in parentheses inside a product but not as a function's argument."""
    text = _short(x)
    return text, SUM if text.startswith("-") else ATOM


def _ids(i: int, v: Value, owner: Sequence[str]) -> tuple[str, str | None]:
    """The drawn ids of Value i: its box (or its collapsed group's) and its operation."""
    if owner[i] != f"v{i}":
        return owner[i], None
    return f"v{i}", None if v.is_leaf else f"o{i}"


def _edge_id(i: int, k: int, order: Sequence[Value], index: dict[Value, int],
             owner: Sequence[str]) -> str | None:
    """The drawn id of the edge from Value i's k-th operand to its operation (as _layout
    names it: a collapsed end merges edges into one), or None inside a group."""
    tail = owner[index[order[i].parents[k]]]
    head = owner[i] if owner[i] != f"v{i}" else f"o{i}"
    if tail == head:
        return None
    if tail.startswith("g") or head.startswith("g"):
        return f"e_{tail}_{head}"
    return f"e{i}_{k}"


def _line(key: str, label: str, x: float | str) -> list[str]:
    """A panel line: [key, label, shown text, full precision for hover]."""
    if isinstance(x, str):
        return [key, label, x, x]
    return [key, label, _short(x), repr(x)]


def _steps(root: Value, order: list[Value], gradient: float,
           owner: Sequence[str] | None = None) -> tuple[list[dict], list[float]]:
    """The forward steps, then one step per chain-rule product of backward.

    The backward replay does exactly what `Value.backward` does, in the same order and
    with the same float operations, starting from zero gradients (as after zero_grad),
    so every number shown is the number the engine computes.  Each step carries its
    equation with the values' names and their numbers substituted; a backward step also
    carries the question the quiz asks.  `owner` maps Value i to the id drawn for it
    ('v5', or a collapsed group's 'g3').
    """
    owner = [f"v{i}" for i in range(len(order))] if owner is None else owner
    index = {v: i for i, v in enumerate(order)}  # Values hash by identity
    naming = ValueNames(4, order, width=PAGE_NAME_WIDTH)
    text = Dialect(4)
    names = [naming.name(v, text) for v in order]
    steps: list[dict] = []
    for i, v in enumerate(order):
        box, op_id = _ids(i, v, owner)
        if v.is_leaf:
            kind = node_kind(v, root)
            steps.append({"phase": "forward", "node": i, "focus": [box], "edges": [],
                          "title": f"Forward: {names[i]} is a leaf ({kind})",
                          "lines": [_line("kind", "kind", kind),
                                    _line("data", f"{names[i]}.data", v.data)],
                          "equation": f"{names[i]} = {_short(v.data)}   ({kind})",
                          "grads": {}})
            continue
        formula = expression(v, [naming.part(p, text) for p in v.parents], text)[0]
        numbers = expression(v, [_operand_number(p.data) for p in v.parents], text)[0]
        edges = [_edge_id(i, k, order, index, owner) for k in range(len(v.parents))]
        steps.append({"phase": "forward", "node": i,
                      "focus": [box] + ([op_id] if op_id else []),
                      "edges": [e for e in edges if e] + ([f"e{i}"] if op_id else []),
                      "title": f"Forward: {names[i]} = {formula}" if v.label
                               else f"Forward: {names[i]} ({_op_text(v)})",
                      "lines": [_line("op", "operation", _op_text(v)),
                                _line("inputs", "inputs", ", ".join(
                                    f"{names[index[p]]} = {_short(p.data)}"
                                    for p in v.parents)),
                                _line("data", f"{names[i]}.data", v.data)],
                      "equation": (f"{names[i]} = {formula} = " if v.label
                                   else f"{names[i]} = ") + f"{numbers} = {_short(v.data)}",
                      "grads": {}})

    running = dict.fromkeys(order, 0.0)  # Values hash by identity
    running[root] += gradient
    r = index[root]
    steps.append({"phase": "seed", "node": r, "focus": [_ids(r, root, owner)[0]], "edges": [],
                  "title": f"Backward starts: {names[r]}.grad = {_short(gradient)}",
                  "lines": [_line("seed", f"{names[r]}.grad (seed)", gradient)],
                  "equation": f"{names[r]}.grad = ∂{_operand(names[r])}/∂"
                              f"{_operand(names[r])} = {_short(gradient)}",
                  "grads": {str(j): repr(g) for j, g in enumerate(running.values())}})
    for node, parent, k, g, local in chain_rule(order, running):
        i = index[node]
        j = index[parent]
        contribution = g * local
        before = running[parent]
        running[parent] += contribution
        child, target = _operand(names[i]), _operand(names[j])
        partial = f"∂{child}/∂{target}"
        rule = derivative_rule(node, k, naming, text)
        rule_text = f"{partial} = {rule[0]}" if rule is not None else \
            f"{node._fn.formula} (the rule of {_op_text(node)})"
        box, _ = _ids(j, parent, owner)
        edge = _edge_id(i, k, order, index, owner)
        own = _ids(i, node, owner)
        head = f"{target}.grad += {child}.grad × {partial}"
        steps.append({
            "phase": "backward", "node": j,
            "focus": [box] + ([own[1]] if own[1] else [own[0]]),
            "edges": [edge] if edge else [],
            "title": f"Backward: {names[i]} sends gradient to {names[j]}",
            "lines": [_line("upstream", f"{child}.grad (upstream)", g),
                      _line("rule", "local derivative", rule_text),
                      _line("local", partial, local),
                      _line("contribution", f"{child}.grad × {partial}", contribution),
                      _line("before", f"{target}.grad before", before),
                      _line("grad", f"{target}.grad now", running[parent])],
            "equation": f"{head} = {_number(g)} × {_number(local)} = {_short(contribution)}",
            "question": {"target": f"{target}.grad", "answer": repr(running[parent]),
                         "shown": _short(running[parent]),
                         "equation": f"{head} = {_number(g)} × ? = ?"},
            "grads": {str(j): repr(running[parent])}})
    return steps, list(running.values())


def _final_gradients(order: Sequence[Value], gradient: float) -> list[float]:
    """seed x d root / d v for every v, by backward's walk and float operations."""
    grads = dict.fromkeys(order, 0.0)
    grads[order[-1]] += gradient
    for _node, parent, _k, g, local in chain_rule(order, grads):
        grads[parent] += g * local
    return list(grads.values())


def _check_labels(order: Sequence[Value], where: str) -> None:
    """Refuse a label or scope that cannot be written as UTF-8 (a lone surrogate such as
    '\ud800'), naming the Value, before anything is drawn or written."""
    for v in order:
        for what, text in (("label", v.label), ("scope", v.scope)):
            bad = next((k for k, c in enumerate(text) if 0xD800 <= ord(c) <= 0xDFFF), None)
            if bad is not None:
                raise ValueError(
                    f"{where}: the {what} of Value(data={v._data!r}) holds a lone surrogate "
                    f"{text[bad]!r} at position {bad}, which cannot be written as UTF-8; "
                    f"give it a {what} of real characters")


class Page(str):
    """The path `export_html` wrote (a str, as before), which Jupyter displays inline:
    ``_repr_html_`` embeds the page in an iframe, with its script running."""

    html: str

    def __new__(cls, path: str, html_text: str) -> Page:
        page = super().__new__(cls, path)
        page.html = html_text
        return page

    def _repr_html_(self) -> str:
        return (f'<iframe srcdoc="{html.escape(self.html, quote=True)}" '
                'style="width: 100%; height: 760px; border: 1px solid #e3e3de" '
                'title="chainrule: step through backpropagation"></iframe>')


def export_html(root: Value, path: str | os.PathLike[str], *, gradient: float = 1.0,
                max_nodes: int = 150, title: str | None = None, collapse: str | None = None,
                quiz: bool = False) -> Page:
    """Write a self-contained HTML page that steps through forward and backward.

    Prev / Next / Play (and the arrow keys) walk the forward pass node by node, then
    the backward pass in the engine's order (reversed `topological_order`): each step
    shows its equation with the values' names and numbers,
    ``w0.grad += out.grad × ∂out/∂w0 = 1.0000 × 0.0917 = 0.0917``.  The numbers are those
    of a backward pass from zero gradients with seed `gradient`, computed with the
    engine's own derivative rules; ``.grad`` of the graph is left untouched.

    The drawing fits the window, zooms (wheel, + and −) and pans (drag), and follows the
    current step at a readable size.  ``#step=N`` at the end of the address opens step
    N.  Every value's gradient is checked against a central-difference estimate computed
    here (`autograd.numeric_gradients`); a disagreement is marked on the drawing and in
    the panel.  ``collapse='neuron'`` or ``'layer'`` draws one box per neuron or layer, as
    `draw_dot` does.  ``quiz=True`` hides the gradients: at each backward step the reader
    types the value, checked within 0.001 (or 0.1%), with a score at the end.

    Refuses a graph with more than `max_nodes` drawn nodes (`GraphTooLargeError`) before
    any work.  Needs Graphviz's `dot`; the file is replaced atomically.  Returns the path
    written, as a `Page` (a str) that Jupyter displays inline.
    """
    if not isinstance(root, Value):
        raise TypeError(f"export_html: root must be a Value, got {type(root).__name__}")
    seed = _as_float(gradient, "export_html")
    _check_max_nodes(max_nodes, "export_html")
    if collapse is not None and (not isinstance(collapse, str) or not collapse):
        raise ValueError(f"export_html: collapse must be None or a scope word such as "
                         f"'neuron' or 'layer', got {collapse!r}")
    if not isinstance(quiz, bool):
        raise TypeError(f"export_html: quiz must be True or False, got {quiz!r}")
    order = topological_order(root)
    # The size first: a graph too large is refused before any step is computed.
    scoped = any(v.scope for v in order)
    if collapse is None:
        count = len(order) + sum(1 for v in order if not v.is_leaf)
        if count > max_nodes:
            raise _too_large(count, max_nodes, "export_html", None, scoped)
    if len(order) > MAX_PAGE_VALUES:
        raise GraphTooLargeError(
            f"export_html: the graph has {len(order)} values, more than a page steps through "
            f"({MAX_PAGE_VALUES}); draw it with draw_dot(..., collapse=...) or write one "
            "gradient's derivation with autograd.explain")
    _check_labels(order, "export_html")
    final = _final_gradients(order, seed)
    names = _names(order)  # drawn on the boxes too, so every name in a step can be found
    layout = _layout(root, collapse, max_nodes, None, page_grads=final, where="export_html",
                     page_names=names)
    owner = _owners(layout, len(order))
    index = {v: i for i, v in enumerate(order)}  # Values hash by identity
    users: dict[Value, list[Value]] = {}
    for v in order:
        for p in v.parents:
            users.setdefault(p, []).append(v)
    # A collapsed box shows the gradient of its one output (a neuron's activation): drawn
    # with the final number, so that dot sizes the box for it; the script starts at '—'.
    shown_by_group = {}
    for item in layout.items:
        outputs = [i for i in item.members
                   if order[i] is root or any(owner[index[c]] != item.node_id
                                              for c in users.get(order[i], ()))]
        if len(outputs) == 1:
            shown_by_group[outputs[0]] = item.node_id
            item.attrs["label"] = item.attrs["label"].replace(
                " · grad —", f" · grad {_short(final[outputs[0]])}", 1)
    steps, replayed = _steps(root, order, seed, owner)
    assert replayed == final or any(math.isnan(g) for g in final)
    graph = _to_digraph(layout, "svg", "LR", False, None)
    if collapse is not None:
        graph.graph_attr.update(ordering="in", mclimit="0.01")
    try:
        svg = graph.pipe(format="svg", encoding="utf-8")
    except GraphvizNotFoundError:
        raise GraphvizNotFoundError("export_html") from None
    svg = svg[svg.index("<svg"):]  # drop the XML prolog and DOCTYPE (no external DTD)

    checked = len(order) <= numeric_gradients.MAX_VALUES
    estimates = numeric_gradients.central_differences(order, final, seed) if checked else None
    finite = [abs(g) for g in final if math.isfinite(g)]
    reference = max(finite, default=0.0)
    last = [-1] * len(order)  # the step after which a value's gradient is final
    for k, step in enumerate(steps):
        for j in step["grads"]:
            last[int(j)] = k
    values = []
    for i, v in enumerate(order):
        entry = {"name": names[i], "op": _op_text(v) if not v.is_leaf else "",
                 "kind": node_kind(v, root), "data": _short(v.data), "dataFull": repr(v.data),
                 "box": owner[i] if owner[i] == f"v{i}" else None, "last": last[i],
                 "group": shown_by_group.get(i)}
        if estimates is not None:
            e = estimates[i]
            entry.update(fd=None if e.value is None else _short(e.value),
                         fdFull=None if e.value is None else repr(e.value),
                         fdOk=e.agrees, gradFull=repr(final[i]))
        values.append(entry)
    colours = {}
    for step in steps:
        for j, text in step["grads"].items():
            fill, font = _fill(_bin(float(text), reference))
            colours[f"{j}:{text}"] = [fill, font, _short(float(text))]
    data = {"steps": steps, "values": values, "colours": colours, "quiz": quiz,
            "tolerance": list(QUIZ_TOLERANCE), "checked": checked,
            "checkLimit": numeric_gradients.MAX_VALUES}
    page = PAGE.format(
        title=_escape(title or "chainrule: step through backpropagation", for_dot=False),
        svg=svg, data=_script_json(data), css=CSS, js=JS)
    target = os.fspath(path)
    _write_atomically(target, page)
    return Page(target, page)


def page_data(path: str | os.PathLike[str]) -> dict[str, Any]:
    """What a page written by `export_html` steps through: its ``steps`` (title, equation,
    lines, ...), its ``values`` (name, data, and the gradient check: ``fd``, ``fdOk``) and
    whether it is a ``quiz``: the JSON block the page's script reads."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    marker = 'id="chainrule-data">'
    start = text.index(marker) + len(marker)
    return json.loads(text[start:text.index("</script>", start)])


def _owners(layout: _Layout, n: int) -> list[str]:
    """The drawn id of each Value: its own box 'v{i}', or the collapsed group it is in."""
    owner = [f"v{i}" for i in range(n)]
    for item in layout.items:
        if item.node_id.startswith("g"):
            for i in item.members:
                owner[i] = item.node_id
    return owner


def _write_atomically(target: str, text: str) -> None:
    """Write `text` to `target` through a temporary file in the same folder and
    os.replace, so a failure leaves the old file (or none), never half a page."""
    folder = os.path.dirname(os.path.abspath(target))
    handle, temporary = tempfile.mkstemp(prefix=".chainrule-page-", suffix=".partial",
                                         dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _script_json(obj: Any) -> str:
    """JSON safe to inline in <script>: no '<', '>' or '&' can end the script early."""
    text = json.dumps(obj, ensure_ascii=False, allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
