"""The eager engine's fast paths give the numbers their plain definitions give (issue 15).

`autograd.dot` computes its products straight from the Values, `topological_order` passes
over an n-ary node's parents with one iterator, and `backward()` adds the local
derivatives of `sum` and `dot` with loops fitted to their rules (see `_LocalsView`).
Each is checked here against a reference written in this file: `math.fsum` of products
computed separately (and exact rational arithmetic), a recursive depth-first search, and
a chain rule that adds ``upstream * local`` edge by edge with the derivatives written out
by hand.  Numbers must agree to the last bit, signed zeros and NaNs included.
"""

from __future__ import annotations

import math
import struct
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import autograd
import nn
from autograd import OPS, DomainError, Value, engine

# Every float, signed zeros, infinities and NaN included.
ANY_FLOAT = st.floats(allow_nan=True, allow_infinity=True)
# Numbers of very different sizes, so that products cancel and partial sums lose bits.
SPREAD = st.one_of(st.floats(-1e3, 1e3), st.sampled_from([0.0, -0.0, 1e-300, -1e-300,
                                                           1e16, -1e16, 1.0, 3.0]))


def bits(x: float) -> bytes:
    """The float's bytes: equal bits, so -0.0 differs from 0.0 and a NaN equals itself."""
    return struct.pack("<d", x)


def reference_dot(ws: list[float], xs: list[float], b: float) -> float:
    """dot's definition: math.fsum of the products, each computed on its own, plus b."""
    products = []
    for w, x in zip(ws, xs):
        products.append(w * x)
    return math.fsum(products) + b


@st.composite
def dot_operands(draw: Any, numbers: st.SearchStrategy) -> tuple[list, list, float]:
    """(w, x, b) of one length; half of the time every product has its negative too, so
    the exact sum is the bias plus a few small terms: the case where a plain sum fails."""
    ws = draw(st.lists(numbers, max_size=12))
    xs = draw(st.lists(numbers, min_size=len(ws), max_size=len(ws)))
    if draw(st.booleans()):
        ws, xs = ws + [-w for w in ws] + [1e-3], xs + xs + [draw(numbers)]
    return ws, xs, draw(numbers)


def forward_ways(ws: list[float], xs: list[float], b: float) -> dict[str, Any]:
    """Every way to apply dot to these numbers: each must give reference_dot's number."""
    w_values = [Value(w) for w in ws]
    return {
        "dot of Values": lambda: autograd.dot(w_values, [Value(x) for x in xs], b),
        "dot of numbers": lambda: autograd.dot(ws, xs, b),
        "dot of Values and numbers": lambda: autograd.dot(w_values, list(xs), Value(b)),
        "record on Values": lambda: OPS["dot"](*w_values, *[Value(x) for x in xs], b),
        "record on numbers": lambda: OPS["dot"](*ws, *xs, b),
    }


@settings(max_examples=200, deadline=None)
@given(dot_operands(ANY_FLOAT))
def test_dot_forward_is_fsum_of_the_products_plus_the_bias(operands: tuple) -> None:
    ws, xs, b = operands
    try:
        expected: Any = reference_dot(ws, xs, b)
    except (OverflowError, ValueError) as exc:  # fsum: intermediate overflow, inf - inf
        expected = exc
    for way, apply in forward_ways(ws, xs, b).items():
        if isinstance(expected, Exception):
            with pytest.raises(DomainError) as raised:
                apply()
            assert str(raised.value).startswith(f"dot: {expected} for dot("), way
        else:
            out = apply()
            number = out.data if isinstance(out, Value) else out
            assert type(number) is float and bits(number) == bits(expected), way


@settings(max_examples=200, deadline=None)
@given(dot_operands(SPREAD))
def test_dot_forward_is_the_exact_sum_rounded_once(operands: tuple) -> None:
    """Finite operands: the rounded products summed exactly (as fractions), rounded once,
    then the bias added; a check of fsum's promise that does not use fsum."""
    ws, xs, b = operands
    exact = sum((Fraction(w * x) for w, x in zip(ws, xs)), Fraction(0))
    assert autograd.dot([Value(w) for w in ws], xs, b).data == float(exact) + b


@settings(max_examples=100, deadline=None)
@given(st.lists(ANY_FLOAT, max_size=12), ANY_FLOAT)
def test_dot_of_one_list_with_itself_is_the_sum_of_squares(ps: list[float], b: float) -> None:
    """p . p, as nn.l2_penalty writes it: the list is read once for both sides."""
    values = [Value(p) for p in ps]
    try:
        expected: Any = reference_dot(ps, ps, b)
    except (OverflowError, ValueError) as exc:
        with pytest.raises(DomainError, match=f"^dot: {exc} for dot"):
            autograd.dot(values, values, b)
        return
    out = autograd.dot(values, values, b)
    assert bits(out.data) == bits(expected)
    assert out.parents == (*values, *values, out.parents[-1])


def test_dot_of_one_iterator_twice_still_finds_no_inputs() -> None:
    """Only a list or a tuple given twice is read once: an iterator is used up by the
    weights, as before, and the lengths differ."""
    values = iter([Value(1.0), Value(2.0)])
    with pytest.raises(ValueError, match="dot: 2 weights but 0 inputs"):
        autograd.dot(values, values)


def test_dot_lifts_numbers_of_every_kind() -> None:
    import numpy as np

    w = [Value(2.0), 3, np.float64(0.5), True]
    out = autograd.dot(w, [1.0, Value(-1.0), 4, 2.0], np.float32(0.25))
    assert out.data == 2.0 - 3.0 + 2.0 + 2.0 + 0.25
    assert all(type(p) is Value for p in out.parents)
    assert out.parents[0] is w[0]


def test_dot_under_no_grad_and_in_a_scope() -> None:
    w, x = [Value(1.5), Value(-2.0)], [Value(4.0), Value(0.5)]
    with autograd.no_grad():
        leaf = autograd.dot(w, x, 1.0)
    assert leaf.is_leaf and leaf.data == 6.0 - 1.0 + 1.0
    with autograd.scope("layer"):
        node = autograd.dot(w, x, 1.0)
    assert node.scope == "layer" and node.op == "dot" and node.parents[:4] == (*w, *x)


# -- topological_order against a recursive depth-first search ---------------------------

def reference_order(root: Value, leaves: bool = True) -> list[Value]:
    """Post-order of a depth-first search from root, parents in argument order."""
    order: list[Value] = []
    seen: set[Value] = set()

    def visit(v: Value) -> None:
        if v in seen:
            return
        seen.add(v)
        for parent in v.parents:
            visit(parent)
        order.append(v)

    visit(root)
    return order if leaves else [v for v in order if not v.is_leaf]


KINDS = ("+", "*", "tanh", "sum", "dot", "dot p.p")


@st.composite
def graphs(draw: Any) -> tuple[Value, list[Value]]:
    """A random graph of +, *, tanh, sum_values and dot nodes over a few leaves, each
    n-ary node mixing leaves and interior parents, repeats and shared subgraphs."""
    leaves = [Value(draw(st.floats(-1.0, 1.0)), label=f"x{i}")
              for i in range(draw(st.integers(1, 6)))]
    nodes = list(leaves)
    pick = st.integers(0, 10**6).map(lambda k: nodes[k % len(nodes)])
    for _ in range(draw(st.integers(1, 25))):
        kind = draw(st.sampled_from(KINDS))
        if kind == "+":
            nodes.append(draw(pick) + draw(pick))
        elif kind == "*":
            nodes.append(draw(pick) * draw(pick))
        elif kind == "tanh":
            nodes.append(draw(pick).tanh())
        elif kind == "sum":
            nodes.append(autograd.sum_values(draw(st.lists(pick, min_size=1, max_size=6))))
        else:
            w = draw(st.lists(pick, max_size=5))
            x = w if kind == "dot p.p" else draw(st.lists(pick, min_size=len(w),
                                                          max_size=len(w)))
            nodes.append(autograd.dot(w, x, draw(st.one_of(pick, st.floats(-1.0, 1.0)))))
    return autograd.sum_values(nodes[-3:]).tanh(), leaves


@settings(max_examples=150, deadline=None)
@given(graphs())
def test_topological_order_is_the_recursive_post_order(graph: tuple) -> None:
    root, _ = graph
    for leaves in (True, False):
        assert autograd.topological_order(root, leaves=leaves) == reference_order(root, leaves)


def test_topological_order_of_a_sum_of_many_interior_nodes() -> None:
    """A sum of 10,000 interior nodes and a dot whose parents alternate between leaves and
    interior nodes: each parent in argument order, every node once."""
    xs = [Value(0.001 * i) for i in range(10_000)]
    terms = [x * 2.0 if i % 3 else x for i, x in enumerate(xs)]
    total = autograd.sum_values(terms + xs[:5])
    mixed = autograd.dot(terms[:50], xs[50:100], terms[7])
    root = total * mixed
    for leaves in (True, False):
        assert autograd.topological_order(root, leaves=leaves) == reference_order(root, leaves)
    assert len(autograd.topological_order(root)) == len(set(reference_order(root)))


# -- backward of sum and dot against the chain rule written out --------------------------

def hand_locals(node: Value) -> list[float]:
    """d node / d parent for each parent, written out for the operations of `graphs`."""
    p = [q.data for q in node.parents]
    if node.op == "+":
        return [1.0, 1.0]
    if node.op == "*":
        return [p[1], p[0]]
    if node.op == "tanh":
        return [1.0 - node.data * node.data]
    if node.op == "sum":
        return [1.0] * len(p)
    assert node.op == "dot"
    n = len(p) // 2  # w_1..w_n, x_1..x_n, b: d/dw_i = x_i, d/dx_i = w_i, d/db = 1
    return p[n:2 * n] + p[:n] + [1.0]


def reference_backward(root: Value, seed: float) -> dict[Value, float]:
    """What backward() leaves in every .grad: leaves keep what they held and add, interior
    nodes start from 0; children in reverse topological order, each adding upstream *
    local into its parents in argument order."""
    order = reference_order(root)
    grads = {v: (v.grad if v.is_leaf else 0.0) for v in order}
    grads[root] += seed
    for node in reversed(order):
        if node.is_leaf:
            continue
        upstream = grads[node]
        for parent, local in zip(node.parents, hand_locals(node)):
            grads[parent] += upstream * local
    return grads


@settings(max_examples=150, deadline=None)
@given(graphs(), st.lists(st.floats(-2.0, 2.0), min_size=6, max_size=6), st.floats(-3, 3))
def test_backward_adds_what_the_chain_rule_adds(graph: tuple, held: list[float],
                                                seed: float) -> None:
    root, leaves = graph
    for leaf, g in zip(leaves, held):
        leaf.grad = g  # leaves accumulate onto what they hold
    expected = reference_backward(root, seed)
    root.backward(seed)
    for v, g in expected.items():
        assert bits(v.grad) == bits(g), (v.op or v.label)


@pytest.mark.parametrize("special", [math.inf, -math.inf, math.nan, -0.0])
def test_backward_of_dot_and_sum_with_non_finite_and_signed_zero_numbers(
        special: float) -> None:
    a, b, c = Value(special), Value(-0.0), Value(2.0)
    for root in (autograd.dot([a, b, c], [c, a, b], b), autograd.dot([a, b, c], [a, b, c]),
                 autograd.sum_values([a, b, a * c, c])):
        for v in (a, b, c):
            v.grad = -0.0
        expected = reference_backward(root, -1.0)
        root.backward(-1.0)
        assert [bits(v.grad) for v in (a, b, c)] == [bits(expected[v]) for v in (a, b, c)]


def test_l2_penalty_gradient_is_two_alpha_p() -> None:
    """Closed form: d/dp alpha * sum p^2 = 2 alpha p, on a network's 337 parameters and on
    a list holding one parameter twice (its gradient is then 4 alpha p)."""
    params = nn.MLP(2, [16, 16, 1], seed=0).parameters()
    assert len(params) == 337
    nn.l2_penalty(params, 1e-4).backward()
    assert [p.grad for p in params] == pytest.approx([2e-4 * p.data for p in params],
                                                     rel=1e-15)
    p, q = Value(0.3), Value(-1.7)
    nn.l2_penalty([p, q, p], 0.5).backward()
    assert (p.grad, q.grad) == pytest.approx((4 * 0.5 * 0.3, 2 * 0.5 * -1.7), rel=1e-15)


def test_dot_applied_through_its_record_to_an_even_count_backpropagates_its_rule() -> None:
    """OPS["dot"](a, b, c, d) has no bias slot of its own (n = 1, then b, then c): the
    gradient is what the record's rule gives, edge by edge."""
    a, b, c, d = Value(2.0), Value(3.0), Value(5.0), Value(7.0)
    root = OPS["dot"](a, b, c, d)
    locals_ = autograd.local_derivatives(root)
    root.backward()
    assert [a.grad, b.grad, c.grad, d.grad] == [*locals_, 0.0][:4] == [3.0, 2.0, 1.0, 0.0]


def test_the_walk_gives_sum_and_dot_locals_as_the_rule_gives_them() -> None:
    """backprop_walk hands over a view for sum and dot; read as a sequence it is the
    record's rule at the parents' numbers, and chain_rule and grad() read it so."""
    w, x = [Value(1.5), Value(-2.0)], [Value(4.0), Value(0.5)]
    total = autograd.sum_values([autograd.dot(w, x, 0.25), *w])
    order = autograd.topological_order(total)
    for node, _upstream, locals_ in autograd.backprop_walk(order):
        assert len(locals_) == len(node.parents)
        assert list(locals_) == [locals_[k] for k in range(len(locals_))]
        assert list(locals_) == hand_locals(node)
    assert autograd.grad(total, w + x) == [4.0 + 1.0, 0.5 + 1.0, 1.5, -2.0]


# -- p . p: what `dot` notes for the walks (autograd.engine._SQUARES_OF_LEAVES) ----------
#
# dot(ps, ps, b) of one list of leaves given twice, with a leaf bias, leaves a note on its
# node: its parents are p_1..p_n twice, then b, all of them leaves.  backward's sort then
# looks at nothing under the node, the leaf walk at the first half only, and the chain
# rule adds both shares, upstream * p, into each p in one loop without comparing halves.
# Each test below builds such a node, checks which note it got (so that the fast path is
# the one under test), and proves its numbers against the references above: fsum of
# separately computed products (and exact fractions), the recursive post-order, and the
# chain rule written out by hand.

def squares_node(ps: list[Value], bias: Any) -> Value:
    """dot(ps, ps, bias), checked to carry the note exactly when its parents are leaves."""
    node = autograd.dot(ps, ps, bias)
    b = node.parents[-1]
    assert node.parents == (*ps, *ps, b)
    leaves_only = all(p.is_leaf for p in ps) and b.is_leaf
    assert node._b is (engine._SQUARES_OF_LEAVES if leaves_only else None)
    return node


@st.composite
def squares_graphs(draw: Any, numbers: st.SearchStrategy) -> tuple[Value, Value, list, list]:
    """(root, the p . p node, its list ps, the graph's leaves): ps holds leaves, some of
    them more than once, and sometimes interior nodes; the bias is a number, a leaf or an
    interior node; and some of the leaves are also used elsewhere in the graph."""
    leaves = [Value(draw(numbers), label=f"p{i}") for i in range(draw(st.integers(1, 6)))]
    interior = [leaves[0] * leaves[-1], leaves[-1].tanh()]
    pool = leaves + interior if draw(st.booleans()) else leaves
    ps = draw(st.lists(st.sampled_from(pool), max_size=10))
    bias = draw(st.one_of(numbers, st.sampled_from(leaves + interior)))
    node = squares_node(ps, bias)
    alpha = draw(st.floats(0.0, 2.0))
    root = alpha * node
    if draw(st.booleans()):  # a parameter that the data loss uses too
        root = root + leaves[0] * draw(st.sampled_from(pool))
    return root, node, ps, leaves


@settings(max_examples=200, deadline=None)
@given(squares_graphs(ANY_FLOAT), st.lists(ANY_FLOAT, min_size=6, max_size=6),
       st.floats(-3, 3))
def test_squares_node_backward_is_the_chain_rule_written_out(graph: tuple, held: list[float],
                                                            seed: float) -> None:
    """Every .grad to the last bit (NaN, infinities and signed zeros included), onto
    gradients the leaves already hold; the sort and the edges are the plain ones."""
    root, node, ps, leaves = graph
    for leaf, g in zip(leaves, held):
        leaf.grad = g
    for leaves_too in (True, False):
        assert (autograd.topological_order(root, leaves=leaves_too)
                == reference_order(root, leaves_too))
    expected = reference_backward(root, seed)
    root.backward(seed)
    for v, g in expected.items():
        assert bits(v.grad) == bits(g), (v.op or v.label)


@settings(max_examples=200, deadline=None)
@given(squares_graphs(SPREAD))
def test_squares_node_is_bitwise_the_same_node_built_without_a_note(graph: tuple) -> None:
    """The record applied to p_1..p_n, p_1..p_n, b makes the same graph with no note:
    forward, backward, grad() (which adds edge by edge) and chain_rule's edges agree to
    the last bit.  Finite numbers of very different sizes, so that sums lose bits."""
    root, node, ps, leaves = graph
    plain = OPS["dot"](*node.parents)
    assert plain._b is None and plain.parents == node.parents
    assert bits(plain.data) == bits(node.data)
    wanted = [*leaves, *ps]
    by_edges = autograd.grad(node, wanted, 0.75)
    assert [bits(g) for g in autograd.grad(plain, wanted, 0.75)] == [bits(g) for g in by_edges]
    node.grad = plain.grad = 0.75
    assert ([edge[1:] for edge in autograd.chain_rule([node])]
            == [edge[1:] for edge in autograd.chain_rule([plain])])
    for v in leaves:
        v.grad = 0.0
    node.backward(0.75)
    noted = [v.grad for v in wanted]
    for v in leaves:
        v.grad = 0.0
    plain.backward(0.75)
    assert [bits(v.grad) for v in wanted] == [bits(g) for g in noted]
    # backward() starts every .grad from 0.0 and grad() from the first contribution, so
    # they may differ in the sign of a zero, nothing more.
    assert noted[:len(leaves)] == by_edges[:len(leaves)]


@settings(max_examples=200, deadline=None)
@given(st.lists(SPREAD, max_size=12), st.lists(st.integers(0, 11), max_size=6), SPREAD)
def test_squares_of_leaves_forward_is_the_exact_sum_of_squares(numbers: list[float],
                                                               again: list[int],
                                                               b: float) -> None:
    """p . p + b with some p listed twice: the rounded squares summed as fractions,
    rounded once, plus b; and each gradient p added once per edge into it (two edges
    for each time p is listed), which is 2 p times that count up to rounding."""
    values = [Value(x) for x in numbers]
    ps = values + [values[k] for k in again if k < len(values)]
    node = squares_node(ps, b)
    exact = sum((Fraction(p.data * p.data) for p in ps), Fraction(0))
    assert node.data == float(exact) + b
    node.backward()
    for v in values:
        by_edges = 0.0
        for _ in range(2 * ps.count(v)):
            by_edges += 1.0 * v.data
        assert bits(v.grad) == bits(by_edges)
        assert v.grad == pytest.approx(2 * v.data * ps.count(v), rel=1e-15, abs=0.0)


class Parameter(Value):
    """A user's own kind of Value (the one-pass check of dot's p . p wants Value itself)."""

    __slots__ = ()


def mixed_lists() -> dict[str, list[Any]]:
    a, b = Value(1.5, label="a"), Value(-0.25, label="b")
    return {"numbers among the Values": [a, 2.0, b, a, 3],
            "a subclass of Value": [Parameter(0.5), Parameter(-3.0), a],
            "an interior node": [a, a * b, b, a * b]}


@pytest.mark.parametrize("kind", list(mixed_lists()))
def test_squares_of_other_lists_take_the_general_path_to_the_same_numbers(kind: str) -> None:
    """Lists that are not all leaves of class Value: dot lifts them as before, without a
    note, and gives the numbers of the references."""
    ps = mixed_lists()[kind]
    node = autograd.dot(ps, ps, 0.125)
    lifted = node.parents[:len(ps)]
    assert node._b is None and node.parents[len(ps):-1] == lifted
    assert [p.data for p in lifted] == [float(getattr(p, "data", p)) for p in ps]
    numbers = [p.data for p in lifted]
    assert bits(node.data) == bits(reference_dot(numbers, numbers, 0.125))
    root = node * 3.0
    for leaves in (True, False):
        assert autograd.topological_order(root, leaves=leaves) == reference_order(root, leaves)
    expected = reference_backward(root, 1.0)
    root.backward()
    assert {v: bits(v.grad) for v in expected} == {v: bits(g) for v, g in expected.items()}


def test_squares_note_is_dropped_when_the_node_gets_a_backward_function() -> None:
    """micrograd's way to replace a node's step keeps its distinct parents only, so the
    note (which speaks of p_1..p_n twice) no longer holds and must go: the sort still
    finds every parent, and the user's step is the one run."""
    a, b, c = Value(2.0), Value(3.0), Value(5.0)
    node = squares_node([a, b], c)

    def step() -> None:  # d node / d (a, b, c) = (10, 20, 30), as the user says
        a.grad += 10.0 * node.grad
        b.grad += 20.0 * node.grad
        c.grad += 30.0 * node.grad

    node._backward = step
    assert node._b is None and node.parents == (a, b, c)
    root = 2.0 * node
    for leaves in (True, False):
        assert autograd.topological_order(root, leaves=leaves) == reference_order(root, leaves)
    root.backward()
    assert (a.grad, b.grad, c.grad) == (20.0, 40.0, 60.0)


def test_squares_under_no_grad_are_a_leaf_without_a_note() -> None:
    ps = [Value(3.0), Value(-4.0)]
    with autograd.no_grad():
        out = autograd.dot(ps, ps, 1.0)
    assert out.is_leaf and out._b is None and out.data == 26.0
    assert autograd.topological_order(out) == [out]


def test_squares_of_a_list_with_a_repeated_leaf_whose_backward_was_assigned() -> None:
    """ps = [a, b, a]: a listed twice, given a `_backward` function (on a leaf, as in
    micrograd, never called), and used afterwards as an interior node's parent. The node
    keeps its note (a is still a leaf), and every number is the closed form's:
    n = 2a^2 + b^2 + c, root = n ab + a."""
    a, b, c = Value(1.5), Value(-2.0), Value(0.25)
    called = []
    a._backward = lambda: called.append(a)
    node = squares_node([a, b, a], c)
    h = a * b  # a becomes the parent of an interior node: it stays a leaf
    root = node * h + a
    assert a.is_leaf and node._b is engine._SQUARES_OF_LEAVES
    n = 2 * 1.5 ** 2 + (-2.0) ** 2 + 0.25
    assert node.data == n
    for leaves in (True, False):
        assert autograd.topological_order(root, leaves=leaves) == reference_order(root, leaves)
    root.backward()
    assert (a.grad, b.grad, c.grad) == (4 * 1.5 * 1.5 * -2.0 + n * -2.0 + 1.0,
                                       2 * -2.0 * 1.5 * -2.0 + n * 1.5, 1.5 * -2.0)
    assert not called
    # Second derivatives through the same node: d2n/da2 = 4, d2n/db2 = 2.
    first = autograd.grad(node, [a, b], create_graph=True)
    assert [g.data for g in first] == [4 * 1.5, 2 * -2.0]
    assert autograd.grad(first[0], a) == 4.0 and autograd.grad(first[1], b) == 2.0
