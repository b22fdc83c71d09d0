"""NumPy's functions on Values: the engine's operation, or one clear error.

Each ufunc's value and derivative at a Value are checked against NumPy float64 itself
(the value) and its central difference (the derivative).
"""

from __future__ import annotations

import numpy as np
import pytest

import autograd
from autograd import Value

H = 1e-6

UNARY = [np.tanh, np.exp, np.log, np.sqrt, np.sin, np.cos, np.abs, np.negative, np.arctan]
BINARY = [np.add, np.subtract, np.multiply, np.true_divide, np.power, np.maximum,
          np.minimum]


@pytest.mark.parametrize("ufunc", UNARY, ids=lambda u: u.__name__)
@pytest.mark.parametrize("x", [0.37, 1.9])
def test_a_unary_ufunc_is_the_engine_operation(ufunc, x) -> None:
    v = Value(x)
    y = ufunc(v)
    assert isinstance(y, Value) and y.data == pytest.approx(float(ufunc(np.float64(x))),
                                                            rel=1e-15)
    y.backward()
    numeric = (ufunc(np.float64(x + H)) - ufunc(np.float64(x - H))) / (2 * H)
    assert v.grad == pytest.approx(float(numeric), rel=1e-7)


@pytest.mark.parametrize("ufunc", BINARY, ids=lambda u: u.__name__)
def test_a_binary_ufunc_on_values_and_numpy_scalars(ufunc) -> None:
    a, b = Value(1.3), Value(0.7)
    y = ufunc(a, b)
    y.backward()
    ref = lambda p, q: float(ufunc(np.float64(p), np.float64(q)))  # noqa: E731
    assert y.data == pytest.approx(ref(1.3, 0.7), rel=1e-15)
    assert a.grad == pytest.approx((ref(1.3 + H, 0.7) - ref(1.3 - H, 0.7)) / (2 * H), rel=1e-7)
    assert b.grad == pytest.approx((ref(1.3, 0.7 + H) - ref(1.3, 0.7 - H)) / (2 * H), rel=1e-7)
    mixed = ufunc(np.float64(2.0), b)        # a NumPy scalar on the left still records
    assert isinstance(mixed, Value) and mixed.data == pytest.approx(ref(2.0, 0.7), rel=1e-15)


def test_operators_record_as_python_writes_them() -> None:
    v = Value(3.0)
    assert np.power(v, 2).op == (v ** 2).op == "**"
    assert (np.float64(2.0) * v).op == "*" and (np.float64(2.0) * v).data == 6.0


def test_an_array_operand_gives_an_object_array_of_values() -> None:
    v = Value(0.5)
    out = np.array([1.0, 2.0, 4.0]) * v
    assert out.dtype == object and [o.data for o in out] == [0.5, 1.0, 2.0]
    autograd.sum_values(list(out)).backward()
    assert v.grad == 7.0


@pytest.mark.parametrize("call, what", [
    (lambda v: np.floor(v), "np.floor"),
    (lambda v: np.add.accumulate(v), "np.add.accumulate"),
    (lambda v: np.exp(v, out=None, dtype=object), "np.exp"),
])
def test_a_ufunc_without_a_rule_is_one_clear_error(call, what) -> None:
    with pytest.raises(TypeError, match=f"^{what.replace('.', '[.]')} on a Value: NumPy has no "
                                        "rule for it; use the autograd function"):
        call(Value(1.5))
