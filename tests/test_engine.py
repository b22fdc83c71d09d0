"""The engine's behaviour: graph structure, backward rules, errors, memory and depth."""

from __future__ import annotations

import gc
import math
import sys
import threading

import numpy as np
import pytest

import autograd
from autograd import DomainError, Value


def live_values() -> int:
    return sum(1 for o in gc.get_objects() if type(o) is Value)


# -- micrograd compatibility --------------------------------------------------------------

def test_micrograd_readme_expression() -> None:
    # The example from micrograd's README, with the figures it publishes.
    a = Value(-4.0)
    b = Value(2.0)
    c = a + b
    d = a * b + b**3
    c += c + 1
    c += 1 + c + (-a)
    d += d * 2 + (b + a).relu()
    d += 3 * d + (b - a).relu()
    e = c - d
    f = e**2
    g = f / 2.0
    g += 10.0 / f
    assert f"{g.data:.4f}" == "24.7041"
    g.backward()
    assert f"{a.grad:.4f}" == "138.8338"
    assert f"{b.grad:.4f}" == "645.5773"


def test_micrograd_names() -> None:
    from autograd.engine import Value as EngineValue

    assert EngineValue is Value
    x, y = Value(2.0), Value(3.0)
    z = x * y
    assert z._prev == {x, y}
    assert z._op == "*" == z.op
    assert x._op == "" and x._prev == set()


# -- construction ------------------------------------------------------------------------

@pytest.mark.parametrize("raw", [3, True, np.float32(0.5), np.int64(-7)])
def test_assigned_numbers_of_any_real_type_work_in_the_graph(raw: object) -> None:
    # The lecture sets gradients by hand (``L.grad = 1``) and nudges data (``a.data += ...``).
    # `data` and `grad` are plain slots (a property would cost every training loop), so
    # what is assigned is kept as it is; any real number then computes as a float does.
    v = Value(1.0)
    v.data = raw  # type: ignore[assignment]
    v.grad = raw  # type: ignore[assignment]
    (v * v).backward()
    assert v.grad == float(raw) + 2 * float(raw)  # kept, plus d(v*v)/dv = 2v


@pytest.mark.parametrize("attribute", ["grad"])
@pytest.mark.parametrize("bad, shown", [
    ("1.0", "'1.0' (str)"), (None, "None (NoneType)"),
])
def test_a_non_number_assigned_is_named_by_backward(attribute: str, bad: object,
                                                    shown: str) -> None:
    # Before, ``p.grad = None`` (PyTorch's habit) broke the next backward() with
    # "unsupported operand type(s) for +=: 'NoneType' and 'float'".
    p = Value(3.0, label="p")
    setattr(p, attribute, bad)
    with pytest.raises(TypeError) as info:
        (p * p).backward()
    assert str(info.value) == (f"backward: p holds {attribute} = {shown}, not a number; set "
                               "it to a float (p.grad = 0.0 clears a gradient)")
    p.data, p.grad = 3.0, 0.0
    (p * p).backward()
    assert p.grad == 2 * 3.0  # d(p*p)/dp = 2p: the graph still works


def test_a_label_must_be_a_string_when_assigned_too() -> None:
    # The lecture labels nodes after building them (``e.label = 'e'``); a number there
    # used to be stored and then fail inside draw_dot with "'int' object is not iterable".
    e = Value(2.0) * Value(-3.0)
    e.label = "e"
    assert e.label == "e" and repr(e) == "Value(data=-6.0, grad=0.0, label='e', op='*')"
    with pytest.raises(TypeError) as info:
        e.label = 3  # type: ignore[assignment]
    assert str(info.value) == "Value.label: label must be a string, got int 3"
    assert e.label == "e"
    assert "e" in autograd.draw_dot(e).source


def test_operations_with_non_numbers_raise_type_error() -> None:
    x = Value(1.0)
    with pytest.raises(TypeError, match="str"):
        x + "a"  # type: ignore[operator]
    with pytest.raises(TypeError):
        x * None  # type: ignore[operator]
    with pytest.raises(TypeError):
        x ** [2]  # type: ignore[operator]


@pytest.mark.parametrize("make, where", [
    (lambda big: Value(big), "Value"),
    (lambda big: Value(-big), "Value"),
    (lambda big: Value(1.0) + big, "Value"),
    (lambda big: big * Value(1.0), "Value"),
    (lambda big: Value(2.0) ** big, "**"),
    (lambda big: autograd.exp(big), "exp"),
])
def test_an_integer_beyond_the_largest_float_is_a_domain_error(make, where) -> None:
    # float(10**400) raises a bare OverflowError that names nothing; 10**400 has 401 digits.
    big = 10**400
    with pytest.raises(OverflowError):
        float(big)
    with pytest.raises(DomainError) as info:
        make(big)
    assert str(info.value) == (f"{where}: an integer of about 401 digits is too large for a "
                               "float (the largest is about 1.8e308)")
    assert Value(2**1023).data == 2.0**1023  # the largest power of two that fits is fine


def test_format_specs_format_the_number_as_for_a_float() -> None:
    # print(f"loss {loss:.4f}") in a training loop: the spec applies to the float.
    v = Value(-3.14159, label="v") * 2
    for spec in (".4f", ".2e", ">12.3f", "+.1%", "g"):
        assert f"{v:{spec}}" == format(-6.28318, spec)
    assert f"{v}" == str(v) == repr(v)   # no spec: the repr, as before
    with pytest.raises(ValueError):
        f"{v:d}"                         # as format(-6.28318, "d")


# -- graph structure ---------------------------------------------------------------------

def test_parents_keep_argument_order_and_repeats() -> None:
    a, b = Value(1.0, "a"), Value(2.0, "b")
    assert (a - b).parents == (a, b)
    assert (b - a).parents == (b, a)
    assert (a + a).parents == (a, a)
    assert len(autograd.edges(a + a)) == 2


def test_reuse_graph_counts_every_edge() -> None:
    # b = a + a, c = b + b: dc/da = 4 through four paths.
    a = Value(3.0)
    b = a + a
    c = b + b
    c.backward()
    assert (a.grad, b.grad, c.grad) == (4.0, 2.0, 1.0)


def test_backward_twice_accumulates_into_leaves_only() -> None:
    a = Value(3.0)
    b = a + a
    c = b + b
    c.backward()
    c.backward()
    assert a.grad == 8.0  # a leaf accumulates across calls, as in PyTorch
    assert b.grad == 2.0  # an interior node holds the latest pass only
    assert c.grad == 1.0


def test_diamond_graph_matches_closed_form() -> None:
    # y = sin(x) * exp(x) + sin(x): both branches meet again at the sum.
    x = Value(0.4)
    s = x.sin()
    y = s * x.exp() + s
    y.backward()
    expected = math.cos(0.4) * math.exp(0.4) + math.sin(0.4) * math.exp(0.4) + math.cos(0.4)
    assert x.grad == pytest.approx(expected, rel=1e-14)


def test_backward_with_a_seed_gradient() -> None:
    x = Value(2.0)
    (x * x).backward(gradient=0.5)
    assert x.grad == pytest.approx(2.0)


def test_topological_order_puts_parents_first_and_is_repeatable() -> None:
    def build() -> Value:
        a, b = Value(1.0), Value(2.0)
        return ((a * b).tanh() + a).exp() * (b - 1)

    order = autograd.topological_order(build())
    position = {id(v): i for i, v in enumerate(order)}
    for node in order:
        for parent in node.parents:
            assert position[id(parent)] < position[id(node)]
    assert [v.op for v in order] == [v.op for v in autograd.topological_order(build())]


# -- stability ---------------------------------------------------------------------------

def test_large_arguments_give_the_right_finite_values() -> None:
    assert Value(-1000.0).sigmoid().data == 0.0
    assert Value(1000.0).sigmoid().data == 1.0
    assert Value(1000.0).softplus().data == 1000.0
    assert Value(-1000.0).softplus().data == 0.0
    assert Value(1e4).tanh().data == 1.0
    x = Value(-1000.0)
    x.sigmoid().backward()
    assert x.grad == 0.0


# -- errors ------------------------------------------------------------------------------

DOMAIN_ERRORS = [
    (lambda: Value(0.0).log(), r"log: .*log\(0\.0\)"),
    (lambda: Value(-1.0).log(), r"log: .*log\(-1\.0\)"),
    (lambda: Value(-1.0).sqrt(), r"sqrt: .*sqrt\(-1\.0\)"),
    (lambda: Value(1.0) / 0, r"/: division by zero in 1\.0 / 0\.0"),
    (lambda: Value(1.0) / Value(0.0), r"/: division by zero in 1\.0 / 0\.0"),
    (lambda: 1.0 / Value(0.0), r"/: division by zero"),
    (lambda: Value(0.0) ** -1, r"\*\*: zero cannot be raised to a negative power: 0\.0 \*\* -1"),
    (lambda: Value(-8.0) ** (1 / 3), r"\*\*: a negative base .*-8\.0 \*\* 0\.333"),
    (lambda: Value(-8.0) ** Value(0.5), r"pow: a negative base .*-8\.0 \*\* 0\.5"),
    (lambda: (-2.0) ** Value(0.5), r"pow: a negative base"),
    (lambda: Value(1000.0).exp(), r"exp: result overflows a float: exp\(1000\.0\)"),
    (lambda: Value(10.0) ** 400, r"\*\*: result overflows a float: 10\.0 \*\* 400"),
]


@pytest.mark.parametrize("make, message", DOMAIN_ERRORS)
def test_domain_errors_name_the_operation_and_leave_no_node(make, message) -> None:
    gc.collect()
    before = live_values()
    with pytest.raises(DomainError, match=message):
        make()
    gc.collect()
    assert live_values() == before  # nothing half-built survives the error


def test_functions_on_numbers_check_domains_too() -> None:
    with pytest.raises(DomainError, match=r"log: .*log\(-2\.0\)"):
        autograd.log(-2.0)
    assert autograd.exp(0.0) == 1.0
    assert autograd.tanh(Value(0.0)).op == "tanh"


def test_negative_base_with_integer_exponent_is_fine() -> None:
    x = Value(-2.0)
    y = x**3
    y.backward()
    assert (y.data, x.grad) == (-8.0, 12.0)


def test_edge_derivatives_are_documented_values() -> None:
    # relu and abs take slope 0 at 0; sqrt's slope at 0 is infinite.
    for make in (lambda v: v.relu(), lambda v: abs(v)):
        x = Value(0.0)
        make(x).backward()
        assert x.grad == 0.0
    x = Value(0.0)
    x.sqrt().backward()
    assert x.grad == math.inf


# -- grad, no_grad, detach ---------------------------------------------------------------

def test_grad_leaves_dot_grad_untouched() -> None:
    x, y = Value(2.0), Value(5.0)
    z = x * y + x
    dx, dy = autograd.grad(z, [x, y])
    assert (dx, dy) == (6.0, 2.0)
    assert x.grad == 0.0 and y.grad == 0.0 and z.grad == 0.0
    assert autograd.grad(z, Value(1.0)) == 0.0  # unrelated input


def test_hessian_matches_closed_form() -> None:
    f = lambda x, y: x * x * y + (x * y).sin()
    x0, y0 = 0.3, -1.2
    s = math.sin(x0 * y0)
    c = math.cos(x0 * y0)
    expected = np.array([[2 * y0 - y0 * y0 * s, 2 * x0 + c - x0 * y0 * s],
                         [2 * x0 + c - x0 * y0 * s, -x0 * x0 * s]])
    np.testing.assert_allclose(autograd.hessian(f, [x0, y0]), expected, rtol=1e-12)


def test_no_grad_records_nothing_and_restores_state() -> None:
    x = Value(2.0)
    with autograd.no_grad():
        assert not autograd.is_grad_enabled()
        y = x * 3
        with autograd.enable_grad():
            z = x * 3
    assert autograd.is_grad_enabled()
    assert y.parents == () and y.op == "" and y.data == 6.0
    assert len(z.parents) == 2 and z.parents[0] is x and z.parents[1].data == 3.0

    @autograd.no_grad()
    def double(v: Value) -> Value:
        return v * 2

    assert double(x).parents == ()


def test_no_grad_is_per_thread() -> None:
    inside = threading.Event()
    release = threading.Event()
    recorded: list[Value] = []

    def worker() -> None:
        with autograd.no_grad():
            inside.set()
            release.wait(5)

    thread = threading.Thread(target=worker)
    thread.start()
    inside.wait(5)
    recorded.append(Value(1.0) * 2)  # this thread still records
    release.set()
    thread.join()
    assert len(recorded[0].parents) == 2


def test_scope_tags_values_and_nests() -> None:
    with autograd.scope("layers.0"):
        w = Value(1.0)
        with autograd.scope("neurons.1"):
            y = w * 2
            assert autograd.current_scope() == "layers.0.neurons.1"
    z = y + 1
    assert (w.scope, y.scope, z.scope) == ("layers.0", "layers.0.neurons.1", "")
    with pytest.raises(TypeError, match="scope"):
        with autograd.scope(""):
            pass


def test_detach_cuts_the_graph() -> None:
    x = Value(3.0)
    y = (x * x).detach()
    z = y * x
    z.backward()
    assert y.parents == () and x.grad == 9.0


# -- user primitives ---------------------------------------------------------------------

def test_primitive_works_in_backward_grad_and_second_order() -> None:
    @autograd.primitive(derivative=lambda x, out: 3 * x**2, formula="d/dx = 3x^2")
    def cube_for_test(x: float) -> float:
        return x**3

    try:
        x = Value(1.5)
        y = cube_for_test(x)
        assert y.op == "cube_for_test" and y.data == 3.375
        y.backward()
        assert x.grad == pytest.approx(6.75)
        first = autograd.grad(cube_for_test(x), x, create_graph=True)
        assert autograd.grad(first, x) == pytest.approx(9.0)  # 6x
        assert cube_for_test(2.0) == 8.0
        with pytest.raises(ValueError, match="already exists"):
            autograd.primitive(derivative=lambda x, out: 1.0, name="cube_for_test")(abs)
    finally:
        autograd.OPS.pop("cube_for_test")


def test_primitive_errors_from_the_forward_rule_name_it() -> None:
    @autograd.primitive(derivative=lambda x, out: 1 / x)
    def my_log(x: float) -> float:
        return math.log(x)

    try:
        with pytest.raises(DomainError, match=r"my_log: .*my_log\(-1\.0\)"):
            my_log(Value(-1.0))
    finally:
        autograd.OPS.pop("my_log")


# -- memory and depth --------------------------------------------------------------------

def test_dropped_graph_is_freed_without_the_cycle_collector() -> None:
    gc.collect()
    before = live_values()
    gc.disable()
    try:
        x = Value(0.5)
        y = x
        for _ in range(2000):
            y = (y * 1.001).tanh() + x
        y.backward()
        assert live_values() > before + 4000
        del x, y
        assert live_values() == before  # freed by reference counting alone
    finally:
        gc.enable()
    assert gc.collect() == 0  # and nothing was left for the collector


def test_million_operation_chain_at_default_recursion_limit() -> None:
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)
    try:
        x = Value(1.0)
        y = x
        for _ in range(500_000):
            y = y * 1.000001
            y = y + 0.0
        assert autograd.count_nodes(y) == 2_000_001
        y.backward()
        assert x.grad == pytest.approx(1.000001**500_000, rel=1e-9)
        assert repr(y).startswith("Value(data=")
        del y  # freeing a deep chain must not overflow the C stack either
    finally:
        sys.setrecursionlimit(limit)


def test_operations_document_is_generated_from_the_table() -> None:
    from pathlib import Path

    from autograd.catalog import operation_table

    document = Path(__file__).resolve().parents[1] / "docs" / "operations.md"
    assert document.read_text(encoding="utf-8") == operation_table(), (
        "docs/operations.md is stale: run python -m autograd.catalog > docs/operations.md")


def test_graphs_pickle_and_deep_copy_with_the_same_operations() -> None:
    import copy
    import pickle

    x = Value(0.3, label="x")
    y = (x * 3).tanh() + x**2
    for clone in (pickle.loads(pickle.dumps(y)), copy.deepcopy(y)):
        assert clone.data == y.data and clone.parents[0]._fn is y.parents[0]._fn
        leaf = clone.parents[1].parents[0]
        assert leaf.label == "x" and leaf is not x
        clone.backward()
        assert leaf.grad == pytest.approx(3 * (1 - math.tanh(0.9) ** 2) + 0.6, rel=1e-14)
    assert x.grad == 0.0  # the original graph is untouched
