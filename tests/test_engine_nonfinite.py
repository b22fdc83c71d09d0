"""Every operation of the table at +inf, -inf and NaN, eager and compiled (issue 12, items 4
and 12).

Each operation, written every way the engine offers (its record, its function, its Value
method, its operator), either gives a value -- the same one compiled -- or raises
`DomainError` naming the operation and the operand, the compiled batch raising the same
error for the same row.  Never a bare ValueError or OverflowError.  Values are checked
against NumPy's float64 functions and limits written here; a NaN that goes in comes out,
forward and backward, through every operation with a kink (as in PyTorch).
"""

from __future__ import annotations

import itertools
import math
import operator
import random

import numpy as np
import pytest

import autograd
from autograd import OPS, DomainError, Value
from nn.cli import main

SPECIAL = (math.inf, -math.inf, math.nan)
TABLE = [op for op in OPS.values() if op.formula != "user-defined"]
# How each operator symbol is written in Python, for the records that have one.
OPERATORS = {(2, "+"): operator.add, (2, "-"): operator.sub, (2, "*"): operator.mul,
             (2, "/"): operator.truediv, (2, "**"): operator.pow, (1, "-"): operator.neg,
             (1, "**"): operator.pow}


def special_points(op: autograd.Op) -> list[tuple[list[float], list[float], object]]:
    """(a finite point, the same point with non-finite inputs, constant) for an operation."""
    inputs, param = op.sample(random.Random(f"nonfinite:{op.name}"))
    points = []
    for k, special in itertools.product(range(len(inputs)), SPECIAL):
        point = list(inputs)
        point[k] = special
        points.append(point)
    if op.arity == 2:
        points += [list(pair) for pair in itertools.product(SPECIAL, SPECIAL)]
    return [(list(inputs), point, param) for point in points]


def spellings(op: autograd.Op, param: object) -> dict[str, object]:
    """Every way to apply the operation to Values."""
    constant = (param,) if op.has_param else ()
    ways = {"record": lambda *xs: op(*xs, *constant)}
    if op.function:
        ways["function"] = lambda *xs: getattr(autograd, op.function)(*xs, *constant)
    if op.method:
        ways["method"] = lambda x, *rest: getattr(x, op.method)(*rest, *constant)
    if op.symbol:
        ways["operator"] = lambda *xs: OPERATORS[(op.arity, op.symbol)](*xs, *constant)
    if op.name == "abs":
        ways["abs()"] = abs
    return ways


def outcome(f, point: list[float]):
    """('value', out, grads) or ('error', message); anything but DomainError fails."""
    xs = [Value(x) for x in point]
    try:
        y = f(*xs)
        y.backward()
    except DomainError as error:
        return "error", str(error)
    return "value", y.data, [x.grad for x in xs]


def same(a: float, b: float) -> bool:
    """Equal, both NaN, or (finite) equal to rounding: a mean of two rows may differ in
    its last bit with the order of the additions."""
    if math.isnan(a) or math.isnan(b) or math.isinf(a) or math.isinf(b):
        return a == b or (math.isnan(a) and math.isnan(b))
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-300)


CASES = [(op, finite, point, param) for op in TABLE
         for finite, point, param in special_points(op)]


@pytest.mark.parametrize("op, finite, point, param", CASES,
                         ids=[f"{op.name}{point}" for op, _, point, _ in CASES])
def test_non_finite_inputs_give_a_value_or_a_domain_error_eager_and_compiled(
        op, finite, point, param) -> None:
    ways = spellings(op, param)
    results = {name: outcome(f, point) for name, f in ways.items()}
    first = results["record"]
    for name, result in results.items():  # every spelling does the same
        assert result[0] == first[0], (name, result, first)
        if first[0] == "error":
            assert result[1] == first[1]
        else:
            assert same(result[1], first[1]) and all(map(same, result[2], first[2])), name
    if op.function:  # on plain numbers: the same value, or the same error
        try:
            number = ("value", getattr(autograd, op.function)(*point, *(
                (param,) if op.has_param else ())))
        except DomainError as error:
            number = ("error", str(error))
        assert number[0] == first[0] and (same(number[1], first[1]) if first[0] == "value"
                                          else number[1] == first[1])
    if first[0] == "error":
        # Names the operation and the operand that is not finite.
        assert first[1].startswith(f"{op.name}: ") or first[1].startswith(f"{op.symbol}: ")
        assert any(repr(x) in first[1] for x in point if not math.isfinite(x))

    # Compiled: a finite row, then this one.  Shifts (0.0) are the parameters whose
    # gradients are the mean of the local derivatives over both rows.
    shifts = [Value(0.0) for _ in point]
    constant = (param,) if op.has_param else ()

    def f(*xs):
        return op(*[x + s for x, s in zip(xs, shifts)], *constant)

    compiled = autograd.compile(f, len(point))
    X = np.array([finite, point])
    if first[0] == "error":
        with pytest.raises(DomainError) as raised:
            compiled(X)
        assert str(raised.value) == f"{first[1]} (in row 1 of the batch)"
        return
    values = compiled(X)
    assert same(values[1], first[1])
    compiled.backward(X)
    grads = [s.grad for s in shifts]
    for s in shifts:
        s.grad = 0.0
    eager = [f(*[Value(x) for x in row]) for row in X]
    (autograd.sum_values(eager) / 2).backward()
    assert all(map(same, grads, [s.grad for s in shifts])), (grads, [s.grad for s in shifts])


@pytest.mark.parametrize("name, x, expected", [
    ("tanh", math.inf, 1.0), ("tanh", -math.inf, -1.0), ("exp", -math.inf, 0.0),
    ("exp", math.inf, math.inf), ("sigmoid", math.inf, 1.0), ("sigmoid", -math.inf, 0.0),
    ("relu", math.inf, math.inf), ("relu", -math.inf, 0.0), ("softplus", -math.inf, 0.0),
    ("softplus", math.inf, math.inf), ("sqrt", math.inf, math.inf), ("log", math.inf, math.inf),
    ("atan", math.inf, math.pi / 2), ("atan", -math.inf, -math.pi / 2),
    ("abs", -math.inf, math.inf),
])
def test_limits_at_infinity_are_the_mathematical_ones(name, x, expected) -> None:
    assert OPS[name](Value(x)).data == expected
    assert OPS[name](x) == expected


@pytest.mark.parametrize("name", ["sin", "cos"])
def test_sin_and_cos_of_infinity_are_domain_errors(name, capsys) -> None:
    with pytest.raises(DomainError, match=rf"^{name}: math domain error for {name}\(inf\)$"):
        getattr(Value(math.inf), name)()
    with pytest.raises(DomainError, match=rf"^{name}: .* for {name}\(-inf\)$"):
        getattr(autograd, name)(-math.inf)
    # The command prints one line and exits with status 2.
    status = main(["graph", f"{name}(x)", "--set", "x=inf"])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1
    assert err.startswith(f"chainrule graph: error: {name}: math domain error for {name}(inf)")


# -- NaN in, NaN out through every kink (issue 12 item 12) --------------------------------

KINKED = [("relu", lambda x: x.relu()), ("leaky_relu", lambda x: x.leaky_relu(0.1)),
          ("abs", lambda x: abs(x)),
          ("maximum-first", lambda x: autograd.maximum(x, Value(1.0))),
          ("maximum-second", lambda x: autograd.maximum(Value(1.0), x)),
          ("minimum-first", lambda x: autograd.minimum(x, Value(1.0))),
          ("minimum-second", lambda x: autograd.minimum(Value(1.0), x))]


@pytest.mark.parametrize("name, f", KINKED, ids=[k for k, _ in KINKED])
def test_a_nan_goes_through_every_kink_forward_and_backward(name, f) -> None:
    x = Value(math.nan)
    y = f(x) * 2.0
    y.backward()
    assert math.isnan(y.data) and math.isnan(x.grad)
    # The slope as a graph (create_graph=True) is NaN too.
    t = Value(math.nan)
    slope = autograd.grad(f(t), t, create_graph=True)
    assert math.isnan(slope.data if isinstance(slope, Value) else slope)
    # Compiled, beside a finite row: the finite row is untouched.
    w = Value(1.0)
    compiled = autograd.compile(lambda t: f(t * w), 1)
    X = np.array([[-2.0], [math.nan]])
    out = compiled(X)
    assert not math.isnan(out[0]) and math.isnan(out[1])
    compiled.backward(X)
    assert math.isnan(w.grad)


def test_maximum_with_a_nan_is_nan_in_both_slopes() -> None:
    a, b = Value(math.nan), Value(3.0)
    autograd.maximum(a, b).backward()
    assert math.isnan(a.grad) and math.isnan(b.grad)
    assert math.isnan(autograd.minimum(2.0, math.nan))
    assert np.isnan(np.minimum(2.0, math.nan))  # the reference agrees
