"""micrograd's engine contract, as its lecture uses it, with only micrograd's import line.

The lecture builds nodes with ``Value(data, _children, _op)``, gives them a ``_backward``
closure, and runs the backward pass by hand node by node before calling ``backward()``.
The numbers are checked against closed forms, against central differences, and against
micrograd 0.1.0 itself as a peer.
"""

from __future__ import annotations

import math

import pytest

from autograd.engine import Value


# The lecture's way to add operations: a node with children and a closure.
def lecture_exp(v: Value) -> Value:
    out = Value(math.exp(v.data), (v,), "exp")

    def _backward() -> None:
        v.grad += out.data * out.grad

    out._backward = _backward
    return out


def lecture_div(a: Value, b: Value) -> Value:
    out = Value(a.data / b.data, (a, b), "/")

    def _backward() -> None:
        a.grad += (1.0 / b.data) * out.grad
        b.grad += (-a.data / b.data ** 2) * out.grad

    out._backward = _backward
    return out


def lecture_tanh(v: Value) -> Value:
    t = math.tanh(v.data)
    out = Value(t, (v,), "tanh")

    def _backward() -> None:
        v.grad += (1 - t ** 2) * out.grad

    out._backward = _backward
    return out


def lecture_add(a: Value, b: Value) -> Value:
    out = Value(a.data + b.data, (a, b), "+")

    def _backward() -> None:
        a.grad += 1.0 * out.grad
        b.grad += 1.0 * out.grad

    out._backward = _backward
    return out


def build_topo(root: Value) -> list[Value]:
    """The lecture's recursive topological sort, through ``_prev``."""
    topo: list[Value] = []
    visited: set[Value] = set()

    def visit(v: Value) -> None:
        if v not in visited:
            visited.add(v)
            for child in v._prev:
                visit(child)
            topo.append(v)

    visit(root)
    return topo


def test_the_expression_by_hand_then_node_by_node() -> None:
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
    assert L.data == -8.0
    L.grad = 1.0
    for node in reversed(build_topo(L)):
        node._backward()
    # dL/dd = f, dL/df = d, dL/dc = dL/de = f, dL/da = f b, dL/db = f a
    assert (d.grad, f.grad, c.grad, e.grad, a.grad, b.grad) == (-2.0, 4.0, -2.0, -2.0, 6.0, -4.0)
    assert L._op == "*" and d._prev == {e, c} and a._prev == set() and a._op == ""


def test_the_neuron_with_tanh_three_ways() -> None:
    def neuron(tanh):
        x1, x2 = Value(2.0, label="x1"), Value(0.0, label="x2")
        w1, w2 = Value(-3.0, label="w1"), Value(1.0, label="w2")
        b = Value(6.8813735870195432, label="b")
        n = x1 * w1 + x2 * w2 + b
        return tanh(n), (x1, x2, w1, w2)

    def tanh_by_exp(n: Value) -> Value:  # the lecture's second form: (e^2n - 1) / (e^2n + 1)
        e = lecture_exp(2 * n)
        return lecture_div(e - 1, lecture_add(e, Value(1.0)))

    results = []
    for tanh in (lambda n: n.tanh(), lecture_tanh, tanh_by_exp):
        o, (x1, x2, w1, w2) = neuron(tanh)
        o.backward()
        results.append((o.data, x1.grad, x2.grad, w1.grad, w2.grad))
    n_value = 2.0 * -3.0 + 6.8813735870195432
    slope = 1.0 - math.tanh(n_value) ** 2   # 0.5 at this bias
    expected = (math.tanh(n_value), -3.0 * slope, 1.0 * slope, 2.0 * slope, 0.0)
    for got in results:
        assert got == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert math.isclose(expected[0], math.sqrt(0.5), rel_tol=1e-9) and math.isclose(slope, 0.5)


def test_a_closure_node_takes_part_in_grad_and_refuses_create_graph_clearly() -> None:
    import autograd

    x = Value(0.3)
    y = lecture_exp(x * x) * x           # d/dx = e^{x^2} (2x^2 + 1)
    expected = math.exp(0.09) * (2 * 0.09 + 1)
    assert autograd.grad(y, x) == pytest.approx(expected, rel=1e-12)
    y.backward()
    assert x.grad == pytest.approx(expected, rel=1e-12)
    h = 1e-6
    def f(t: float) -> float:
        return math.exp(t * t) * t

    numeric = (f(0.3 + h) - f(0.3 - h)) / (2 * h)
    assert x.grad == pytest.approx(numeric, rel=1e-8)
    with pytest.raises(TypeError, match="'exp' was built with a _backward function"):
        autograd.grad(y, x, create_graph=True)


def test_a_closure_node_is_drawn_under_its_op_name() -> None:
    import autograd

    x = Value(0.5, label="x")
    y = lecture_exp(x)
    y.backward()
    source = autograd.draw_dot(y).source
    assert "exp" in source and y.op == "exp"
    assert autograd.topological_order(y) == [x, y]


def test_a_node_used_twice_by_one_closure_gets_both_shares() -> None:
    a = Value(3.0)
    b = lecture_add(a, a)    # micrograd: _prev == {a}; the closure adds twice
    b.backward()
    assert a.grad == 2.0 and b._prev == {a}


def test_a_node_without_a_backward_passes_nothing_on_as_in_micrograd() -> None:
    a = Value(3.0)
    b = Value(a.data * 2, (a,), "double")   # _backward never assigned
    (b * b).backward()
    assert a.grad == 0.0 and b.grad == 12.0


def test_bad_children_are_one_clear_error() -> None:
    with pytest.raises(TypeError, match="_children must be Values, got float"):
        Value(1.0, (2.0,), "+")


micrograd_engine = pytest.importorskip("micrograd.engine")


@pytest.mark.parametrize("seed", range(20))
def test_random_lecture_expressions_match_micrograd(seed: int) -> None:
    import random

    ops = ["add", "mul", "sub", "pow", "relu", "div"]

    def build(cls):
        xs = [cls(v) for v in (0.7, -1.3, 2.1)]
        nodes = list(xs)
        r = random.Random(seed)
        for _ in range(12):
            a, b = r.choice(nodes), r.choice(nodes)
            op = r.choice(ops)
            if op == "add":
                nodes.append(a + b)
            elif op == "mul":
                nodes.append(a * b)
            elif op == "sub":
                nodes.append(a - b)
            elif op == "pow":
                nodes.append(a ** 2)
            elif op == "relu":
                nodes.append((a + 0.5).relu())
            else:
                nodes.append(a / (b * b + 1.0))
        out = nodes[-1] + nodes[-2] * 0.5
        out.backward()
        return out, xs

    ours, our_xs = build(Value)
    theirs, their_xs = build(micrograd_engine.Value)
    assert ours.data == pytest.approx(theirs.data, rel=1e-12)
    for mine, peer in zip(our_xs, their_xs):
        assert mine.grad == pytest.approx(peer.grad, rel=1e-12, abs=1e-12)


def test_gradcheck_finds_a_wrong_lecture_closure_and_names_no_engine_rule() -> None:
    import autograd

    def wrong_exp(v: Value) -> Value:
        out = Value(math.exp(v.data), (v,), "exp")

        def _backward() -> None:
            v.grad += 2 * out.data * out.grad   # should be out.data * out.grad

        out._backward = _backward
        return out

    with pytest.raises(autograd.GradcheckError) as caught:
        autograd.gradcheck(lambda x: wrong_exp(x) * x, [0.4])
    assert caught.value.suspects == []          # no engine rule is to blame
    autograd.gradcheck(lambda x: lecture_exp(x) * x, [0.4])   # the right closure passes


def test_compile_refuses_a_closure_node_in_one_line() -> None:
    import numpy as np

    import autograd

    w = Value(0.5)
    compiled = autograd.compile(lambda x: lecture_exp(x * w), 1)
    with pytest.raises(TypeError, match="^compile: the node 'exp' was built with Value"):
        compiled(np.array([[1.0], [2.0]]))
