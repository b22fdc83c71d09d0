"""Every operation of the engine against NumPy float64: values, first and second derivatives.

The catalogue below pairs each operation, written with `Value`s, with an independent
NumPy reference of the same function.  Derivatives of the reference are taken by central
finite differences in float64; the engine's come from `backward()` (first order) and from
`hessian()`, which differentiates the graph of the first derivative (second order).

The second half walks the whole of `autograd.OPS`, reading each record alone: points from
its sampler, references from its NumPy batch rule, and the compiled batch against eager.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import autograd
from autograd import Value


@dataclass
class Case:
    name: str
    engine: Callable[..., Value]
    reference: Callable[..., float]
    domains: tuple[tuple[float, float], ...]  # one (low, high) interval per input


def _sigmoid(x: float) -> float:
    return float(1.0 / (1.0 + np.exp(-np.float64(x))))


def _softplus(x: float) -> float:
    return float(np.logaddexp(0.0, np.float64(x)))


WIDE = (-3.0, 3.0)
POSITIVE = (0.2, 4.0)
AWAY_POS = (0.05, 3.0)  # keeps kinks (relu, abs at 0) out of the difference stencil
AWAY_NEG = (-3.0, -0.05)

CATALOGUE = [
    Case("add", lambda a, b: a + b, lambda a, b: a + b, (WIDE, WIDE)),
    Case("radd", lambda a: 2.5 + a, lambda a: 2.5 + a, (WIDE,)),
    Case("sub", lambda a, b: a - b, lambda a, b: a - b, (WIDE, WIDE)),
    Case("rsub", lambda a: 2.5 - a, lambda a: 2.5 - a, (WIDE,)),
    Case("mul", lambda a, b: a * b, lambda a, b: a * b, (WIDE, WIDE)),
    Case("mul-self", lambda a: a * a * a, lambda a: a**3, (WIDE,)),
    Case("div", lambda a, b: a / b, lambda a, b: a / b, (WIDE, POSITIVE)),
    Case("rdiv", lambda a: 3.0 / a, lambda a: 3.0 / a, (POSITIVE,)),
    Case("neg", lambda a: -a, lambda a: -a, (WIDE,)),
    Case("pow-2", lambda a: a**2, lambda a: a**2, (WIDE,)),
    Case("pow-3", lambda a: a**3, lambda a: a**3, (WIDE,)),
    Case("pow-minus-1", lambda a: a**-1, lambda a: 1.0 / a, (POSITIVE,)),
    Case("pow-half", lambda a: a**0.5, lambda a: np.sqrt(a), (POSITIVE,)),
    Case("pow-minus-2.5", lambda a: a**-2.5, lambda a: np.power(a, -2.5), (POSITIVE,)),
    Case("pow-value", lambda a, b: a**b, lambda a, b: np.power(a, b), (POSITIVE, WIDE)),
    Case("rpow", lambda b: 2.0**b, lambda b: np.power(2.0, b), (WIDE,)),
    Case("exp", lambda a: a.exp(), np.exp, (WIDE,)),
    Case("log", lambda a: a.log(), np.log, (POSITIVE,)),
    Case("sqrt", lambda a: a.sqrt(), np.sqrt, (POSITIVE,)),
    Case("tanh", lambda a: a.tanh(), np.tanh, (WIDE,)),
    Case("sigmoid", lambda a: a.sigmoid(), _sigmoid, (WIDE,)),
    Case("relu+", lambda a: a.relu(), lambda a: max(a, 0.0), (AWAY_POS,)),
    Case("relu-", lambda a: a.relu(), lambda a: max(a, 0.0), (AWAY_NEG,)),
    Case("leaky_relu+", lambda a: a.leaky_relu(0.1), lambda a: a if a > 0 else 0.1 * a,
         (AWAY_POS,)),
    Case("leaky_relu-", lambda a: a.leaky_relu(0.1), lambda a: a if a > 0 else 0.1 * a,
         (AWAY_NEG,)),
    Case("softplus", lambda a: a.softplus(), _softplus, (WIDE,)),
    Case("sin", lambda a: a.sin(), np.sin, (WIDE,)),
    Case("cos", lambda a: a.cos(), np.cos, (WIDE,)),
    Case("atan", lambda a: a.atan(), np.arctan, (WIDE,)),
    Case("maximum-first", lambda a, b: autograd.maximum(a, b), np.maximum, (AWAY_POS, AWAY_NEG)),
    Case("maximum-second", lambda a, b: autograd.maximum(a, b), np.maximum,
         (AWAY_NEG, AWAY_POS)),
    Case("minimum-first", lambda a, b: autograd.minimum(a, b), np.minimum, (AWAY_NEG, AWAY_POS)),
    Case("minimum-second", lambda a, b: autograd.minimum(a, b), np.minimum,
         (AWAY_POS, AWAY_NEG)),
    Case("abs+", lambda a: abs(a), abs, (AWAY_POS,)),
    Case("abs-", lambda a: abs(a), abs, (AWAY_NEG,)),
    Case("sum", lambda a, b, c: autograd.sum_values([a, b, c, a]),
         lambda a, b, c: 2 * a + b + c, (WIDE, WIDE, WIDE)),
    Case("dot", lambda w1, w2, x1, x2, b: autograd.dot([w1, w2], [x1, x2], b),
         lambda w1, w2, x1, x2, b: w1 * x1 + w2 * x2 + b, (WIDE,) * 5),
    Case("composite", lambda a, b: (a * b).tanh() * (a - b).exp() / (1 + b * b),
         lambda a, b: np.tanh(a * b) * np.exp(a - b) / (1 + b * b), (WIDE, WIDE)),
]

H1 = 1e-6  # step for first derivatives
H2 = 1e-4  # step for second derivatives (larger: the stencil divides by h^2)


def numeric_gradient(f: Callable[..., float], x: np.ndarray) -> np.ndarray:
    out = np.empty_like(x)
    for i in range(len(x)):
        up, down = x.copy(), x.copy()
        up[i] += H1
        down[i] -= H1
        out[i] = (f(*up) - f(*down)) / (2 * H1)
    return out


def numeric_hessian(f: Callable[..., float], x: np.ndarray) -> np.ndarray:
    n = len(x)
    hess = np.empty((n, n))

    def shifted(i: int, j: int, di: float, dj: float) -> float:
        y = x.copy()
        y[i] += di
        y[j] += dj
        return f(*y)

    for i in range(n):
        for j in range(n):
            hess[i, j] = (shifted(i, j, H2, H2) - shifted(i, j, H2, -H2)
                          - shifted(i, j, -H2, H2) + shifted(i, j, -H2, -H2)) / (4 * H2 * H2)
    return hess


def points(case: Case) -> st.SearchStrategy:
    return st.tuples(*[st.floats(lo, hi, allow_nan=False) for lo, hi in case.domains])


@pytest.mark.parametrize("case", CATALOGUE, ids=lambda c: c.name)
def test_forward_and_first_derivatives(case: Case) -> None:
    @settings(max_examples=25, deadline=None)
    @given(points(case))
    def check(point: tuple[float, ...]) -> None:
        x = np.array(point, dtype=np.float64)
        reference = lambda *args: float(case.reference(*[np.float64(a) for a in args]))
        values = [Value(p) for p in point]
        out = case.engine(*values)
        assert out.data == pytest.approx(reference(*x), rel=1e-12, abs=1e-12)
        out.backward()
        analytic = np.array([v.grad for v in values])
        np.testing.assert_allclose(analytic, numeric_gradient(reference, x),
                                   rtol=1e-5, atol=1e-6)

    check()


@pytest.mark.parametrize("case", CATALOGUE, ids=lambda c: c.name)
def test_second_derivatives(case: Case) -> None:
    @settings(max_examples=10, deadline=None)
    @given(points(case))
    def check(point: tuple[float, ...]) -> None:
        x = np.array(point, dtype=np.float64)
        reference = lambda *args: float(case.reference(*[np.float64(a) for a in args]))
        np.testing.assert_allclose(autograd.hessian(case.engine, point),
                                   numeric_hessian(reference, x), rtol=1e-4, atol=1e-4)

    check()


def test_catalogue_covers_every_builtin_operation() -> None:
    covered = set()
    for case in CATALOGUE:
        values = [Value(0.5 * (lo + hi)) for lo, hi in case.domains]
        covered.update(v.op for v in autograd.topological_order(case.engine(*values)))
    builtin = {name for name, op in autograd.OPS.items() if op.formula != "user-defined"}
    assert builtin <= covered, f"operations without a catalogue case: {builtin - covered}"


def test_third_derivative_of_sin_and_a_polynomial() -> None:
    x = Value(0.7)
    first = autograd.grad(x.sin(), x, create_graph=True)
    second = autograd.grad(first, x, create_graph=True)
    third = autograd.grad(second, x)
    assert third == pytest.approx(-np.cos(0.7), rel=1e-12)

    y = Value(1.3)
    d1 = autograd.grad(y**4, y, create_graph=True)
    d2 = autograd.grad(d1, y, create_graph=True)
    d3 = autograd.grad(d2, y)
    assert (d1.data, d2.data, d3) == pytest.approx((4 * 1.3**3, 12 * 1.3**2, 24 * 1.3))


@pytest.mark.parametrize("exponent, slope", [(0.5, np.inf), (0.0, 0.0)])
def test_a_graph_of_the_derivative_of_a_power_at_a_zero_base(exponent, slope) -> None:
    # d/da a**b at a = 0: b a^(b-1) is infinite for 0 < b < 1 and 0 for b = 0 (the
    # constant 0 ** 0 = 1); its graph must not raise where the first-order pass gives it.
    a, b = Value(0.0), Value(exponent)
    assert autograd.grad(a ** b, [a, b]) == [slope, 0.0]
    d_da, d_db = autograd.grad(a ** b, [a, b], create_graph=True)
    assert (d_da.data, d_db.data) == (slope, 0.0)
    # Away from zero the slope keeps b in its graph: d/db (b a^(b-1)) = a^(b-1) (1 + b log a).
    a, b = Value(2.0), Value(0.0)
    d_da = autograd.grad(a ** b, a, create_graph=True)
    assert d_da.data == 0.0
    assert autograd.grad(d_da, b) == 0.5


# --------------------------------------------------------------------------------------
# Every record of the table, read from the record alone: its sampler gives the points,
# its NumPy batch rule (independent code from the scalar rules) gives the reference
# values and, by float64 central differences, the reference derivatives.
# --------------------------------------------------------------------------------------

TABLE = [op for op in autograd.OPS.values() if op.formula != "user-defined"]


def test_every_builtin_record_carries_its_batch_rule_and_sampler() -> None:
    missing = [op.name for op in TABLE if op.batch is None or op.sample is None]
    assert not missing, f"records without a batch rule or a sampler: {missing}"


def record_points(op: autograd.Op, count: int, seed: int = 0) -> list[tuple[list[float], object]]:
    rng = random.Random(f"{seed}:{op.name}")
    return [op.sample(rng) for _ in range(count)]


def batch_forward(op: autograd.Op, param: object) -> Callable[..., float]:
    def f(*args: float) -> float:
        arrays = [np.array([[np.float64(a)]]) for a in args]
        with np.errstate(all="ignore"):
            return float(np.asarray(op.batch.forward(*arrays, param)).ravel()[0])

    return f


def apply(op: autograd.Op, param: object) -> Callable[..., Value]:
    return lambda *xs: op(*xs, param) if op.has_param else op(*xs)


@pytest.mark.parametrize("op", TABLE, ids=lambda op: op.name)
def test_record_first_derivatives_against_its_batch_rule(op: autograd.Op) -> None:
    for inputs, param in record_points(op, 15):
        reference = batch_forward(op, param)
        values = [Value(x) for x in inputs]
        out = apply(op, param)(*values)
        assert out.data == pytest.approx(reference(*inputs), rel=1e-12, abs=1e-12)
        out.backward()
        np.testing.assert_allclose([v.grad for v in values],
                                   numeric_gradient(reference, np.array(inputs)),
                                   rtol=1e-5, atol=1e-6, err_msg=f"{op.name} at {inputs}")


@pytest.mark.parametrize("op", TABLE, ids=lambda op: op.name)
def test_record_second_derivatives_against_its_batch_rule(op: autograd.Op) -> None:
    for inputs, param in record_points(op, 6, seed=1):
        np.testing.assert_allclose(
            autograd.hessian(apply(op, param), inputs),
            numeric_hessian(batch_forward(op, param), np.array(inputs, dtype=np.float64)),
            rtol=1e-4, atol=1e-4, err_msg=f"{op.name} at {inputs}")


@pytest.mark.parametrize("op", TABLE, ids=lambda op: op.name)
def test_record_compiled_batch_equals_eager(op: autograd.Op) -> None:
    # One graph per compile: rows with the first point's number of inputs and constant.
    points = record_points(op, 40, seed=2)
    size, param = len(points[0][0]), points[0][1]
    X = np.array([inputs for inputs, p in points if len(inputs) == size and p == param])
    shifts = [Value(0.0) for _ in range(size)]  # parameters: d mean / d shift_k = mean slope

    def f(*xs: Value) -> Value:
        return apply(op, param)(*[x + s for x, s in zip(xs, shifts)])

    compiled = autograd.compile(f, size)
    eager = [f(*[Value(v) for v in row]) for row in X]
    np.testing.assert_allclose(compiled(X), [y.data for y in eager], rtol=1e-12, atol=1e-12)
    mean = compiled.backward(X)
    compiled_grads = [s.grad for s in shifts]
    for s in shifts:
        s.grad = 0.0
    eager_mean = autograd.sum_values(eager) / len(eager)
    eager_mean.backward()
    assert mean == pytest.approx(eager_mean.data, rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(compiled_grads, [s.grad for s in shifts], rtol=1e-12,
                               atol=1e-12)


@pytest.mark.parametrize("op", [op for op in TABLE if op.function or op.method],
                         ids=lambda op: op.name)
def test_functions_and_methods_are_built_from_the_record(op: autograd.Op) -> None:
    inputs, param = record_points(op, 1, seed=3)[0]
    constant = (param,) if op.has_param else ()
    expected = batch_forward(op, param)(*inputs)
    if op.function:
        function = getattr(autograd, op.function)
        assert op.function in autograd.__all__ and function.__name__ == op.function
        number = function(*inputs, *constant)
        assert type(number) is float and number == pytest.approx(expected, rel=1e-12)
        node = function(*[Value(x) for x in inputs], *constant)
        assert node.op == op.name and node.data == number
    if op.method:
        node = getattr(Value(inputs[0]), op.method)(*inputs[1:], *constant)
        assert node.op == op.name and node.data == pytest.approx(expected, rel=1e-12)
        assert node.param == (param if op.has_param else None)


def test_a_constant_is_passed_by_position_by_name_or_left_to_its_default() -> None:
    x = Value(-2.0)
    assert [x.leaky_relu().data, x.leaky_relu(0.5).data, x.leaky_relu(alpha=0.5).data,
            autograd.leaky_relu(-2.0, alpha=0.5)] == [-0.02, -1.0, -1.0, -1.0]
    with pytest.raises(TypeError, match="leaky_relu: unexpected or repeated argument 'beta'"):
        x.leaky_relu(beta=0.5)
