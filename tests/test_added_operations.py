"""atan, maximum and minimum: three operations added through their records alone.

Each is checked everywhere the table is read: backward and second order against closed
forms written here with `math`, the rule at a tie (half the slope to each input) eager
and compiled, `check_operation`, expressions, `chainrule graph` with its drawing, and
the generated page of operations.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import autograd
from autograd import Value
from autograd.catalog import operation_table
from autograd.expression import ExpressionError, evaluate
from autograd.gradcheck import check_operation, gradcheck_rows
from nn.cli import main


def test_atan_value_and_derivatives_against_closed_forms() -> None:
    x = Value(0.7)
    y = x.atan()
    y.backward()
    assert y.data == math.atan(0.7) and autograd.atan(0.7) == math.atan(0.7)
    assert x.grad == pytest.approx(1.0 / (1.0 + 0.49), rel=1e-15)
    first = autograd.grad(autograd.atan(x), x, create_graph=True)
    second = autograd.grad(first, x, create_graph=True)
    third = autograd.grad(second, x)
    # d2/dx2 atan = -2x / (1 + x^2)^2; d3/dx3 = (6x^2 - 2) / (1 + x^2)^3
    assert second.data == pytest.approx(-2 * 0.7 / 1.49 ** 2, rel=1e-14)
    assert third == pytest.approx((6 * 0.49 - 2) / 1.49 ** 3, rel=1e-14)


@pytest.mark.parametrize("name, pick", [("maximum", max), ("minimum", min)])
def test_maximum_and_minimum_send_the_slope_to_the_chosen_input(name, pick) -> None:
    f = getattr(autograd, name)
    for a, b in [(2.0, -1.0), (-1.0, 2.0), (0.25, 0.5)]:
        x, y = Value(a), Value(b)
        out = f(x * x, y * 3)  # through other nodes: d/dx = 2a or 0, d/dy = 3 or 0
        out.backward()
        first_wins = pick(a * a, b * 3) == a * a
        assert out.data == pick(a * a, 3 * b) and f(a * a, 3 * b) == out.data
        assert (x.grad, y.grad) == ((2 * a, 0.0) if first_wins else (0.0, 3.0))
        # Second order: the slopes are constants away from a tie, so d2/dx2 (f) = 2 or 0.
        hess = autograd.hessian(lambda p, q: f(p * p, q * 3), [a, b])
        assert hess.tolist() == [[2.0 if first_wins else 0.0, 0.0], [0.0, 0.0]]


@pytest.mark.parametrize("name", ["maximum", "minimum"])
def test_at_a_tie_each_input_gets_half_the_slope(name) -> None:
    f = getattr(autograd, name)
    a, b = Value(1.5), Value(1.5)
    f(a, b).backward()
    assert (a.grad, b.grad) == (0.5, 0.5)
    x = Value(-0.4)
    f(x, x).backward()  # f(x, x) = x: the halves add up to the slope 1
    assert x.grad == 1.0
    # The tie is a kink: the one-sided slopes are 0 and 1, the engine's 1/2 lies between.
    rows = gradcheck_rows(lambda p, q: f(p, q), [1.5, 1.5])
    assert [r.status for r in rows] == ["kink", "kink"]
    # maximum: below the tie the other input is chosen (slope 0), above it this one (1);
    # minimum the other way round.
    one_sided = (0.0, 1.0) if name == "maximum" else (1.0, 0.0)
    assert [(r.left, r.right) for r in rows] == [pytest.approx(one_sided)] * 2
    assert [r.analytic for r in rows] == [0.5, 0.5]


@pytest.mark.parametrize("name", ["maximum", "minimum"])
def test_compiled_batches_agree_with_eager_at_ties(name) -> None:
    f = getattr(autograd, name)
    w, v = Value(1.0), Value(2.0)

    def g(x, y):
        return f(w * x, v * y)

    # Rows with ties (w x == v y), either input winning, and a tie at zero.
    X = np.array([[2.0, 1.0], [3.0, 0.5], [-1.0, 1.0], [0.0, 0.0], [4.0, 2.0], [1.0, -3.0]])
    compiled = autograd.compile(g, 2)
    eager = [g(*[Value(t) for t in row]) for row in X]
    assert compiled(X).tolist() == [y.data for y in eager]
    mean = compiled.backward(X)
    grads = (w.grad, v.grad)
    w.grad = v.grad = 0.0
    eager_mean = autograd.sum_values(eager) / len(eager)
    eager_mean.backward()
    assert mean == pytest.approx(eager_mean.data, rel=1e-15)
    assert grads == pytest.approx((w.grad, v.grad), rel=1e-15)
    # By hand for maximum: ties in rows 0, 3 and 4 give half of x to w and half of y to v.
    if name == "maximum":
        assert w.grad == pytest.approx((0.5 * 2 + 3 + 0.5 * 0 + 0.5 * 4 + 1) / 6)


@pytest.mark.parametrize("name", ["atan", "maximum", "minimum"])
def test_check_operation_passes_with_the_kinks_of_the_record(name) -> None:
    report = check_operation(name, points=20, order=2, seed=4)
    assert report.status == "ok" and report.points >= 20
    assert report.max_error_first < 1e-6 and report.max_error_second < 1e-5
    # A tie of two inputs: 2 first-order and 4 second-order rows, all kinks.
    assert report.kinks == 6 * len(autograd.OPS[name].kinks)


def test_expressions_call_the_new_functions() -> None:
    y = evaluate("maximum(x, y) * atan(x) + minimum(x, 2)", x=0.5, y=-1.0)
    assert y.data == pytest.approx(0.5 * math.atan(0.5) + 0.5, rel=1e-15)
    assert evaluate("maximum(2, 3) + x", x=0.0).data == 3.0
    with pytest.raises(ExpressionError, match="maximum takes 2 arguments, got 1"):
        evaluate("maximum(x)", x=1.0)
    with pytest.raises(ExpressionError, match="atan takes 1 argument, got 2"):
        evaluate("atan(x, x)", x=1.0)


def test_chainrule_graph_draws_maximum(capsys, tmp_path) -> None:
    out_file = tmp_path / "max.dot"
    status = main(["graph", "maximum(x*y, atan(x))", "--set", "x=2", "y=3",
                   "--out", str(out_file)])
    out = capsys.readouterr().out
    assert status == 0
    assert "maximum(x*y, atan(x)) = 6" in out and "d/dx = 3" in out and "d/dy = 2" in out
    source = out_file.read_text(encoding="utf-8")
    assert "maximum" in source and "atan" in source


def test_the_page_of_operations_lists_them() -> None:
    table = operation_table()
    assert "| `atan` | `x.atan()` | d/dx = 1 / (1 + x^2) | no |" in table
    assert "| `maximum` | `maximum(a, b)` | d/da = 1 if a > b, 0 if a < b, 1/2 if a = b;" \
        in table
