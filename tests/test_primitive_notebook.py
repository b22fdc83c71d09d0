"""Primitives as a notebook defines them: cells run twice, keyword arguments, defaults."""

from __future__ import annotations

import math

import pytest

import autograd
from autograd import Value

CELL = '''
import autograd

@autograd.primitive(derivative=lambda x, out: 1.0 / (1.0 + abs(x)) ** 2)
def softsign_cell(x):
    return x / (1.0 + abs(x))
'''


def run_cell(namespace: dict) -> None:
    exec(compile(CELL, "<notebook cell>", "exec"), namespace)  # noqa: S102 - our own text


def test_a_cell_that_defines_a_primitive_runs_twice(fresh_ops) -> None:
    namespace = {"__name__": "__main__"}
    run_cell(namespace)
    first = namespace["softsign_cell"]
    run_cell(namespace)                      # the same definition again: accepted
    second = namespace["softsign_cell"]
    x = Value(0.5)
    y = second(x)
    y.backward()
    assert y.data == pytest.approx(0.5 / 1.5) and x.grad == pytest.approx(1 / 1.5 ** 2)
    assert autograd.OPS["softsign_cell"] is second.op and first.op is not second.op


def test_another_function_under_a_taken_name_needs_replace(fresh_ops) -> None:
    @autograd.primitive(derivative=lambda x, out: 2.0 * x, name="taken_name")
    def square(x):
        return x * x

    with pytest.raises(ValueError, match="'taken_name' already exists"):
        autograd.primitive(derivative=lambda x, out: 3.0 * x * x, name="taken_name")(
            lambda x: x ** 3)

    @autograd.primitive(derivative=lambda x, out: 3.0 * x * x, name="taken_name", replace=True)
    def cube(x):
        return x ** 3

    x = Value(2.0)
    cube(x).backward()
    assert x.grad == 12.0 and autograd.OPS["taken_name"] is cube.op
    with pytest.raises(ValueError, match="'tanh' is a built-in operation"):
        autograd.primitive(derivative=lambda x, out: 1.0, name="tanh", replace=True)(abs)


def test_keyword_arguments_and_defaults_are_inputs(fresh_ops) -> None:
    # f(x, k) = sin(k x): d/dx = k cos(k x), d/dk = x cos(k x)
    @autograd.primitive(derivative=lambda x, k, out: (k * autograd.cos(k * x),
                                                      x * autograd.cos(k * x)))
    def sin_scaled(x, k=2.0):
        return math.sin(k * x)

    h = 1e-6
    x, k = Value(0.3), Value(1.7)
    sin_scaled(x, k=k).backward()                      # k by keyword
    numeric = (math.sin(1.7 * (0.3 + h)) - math.sin(1.7 * (0.3 - h))) / (2 * h)
    assert x.grad == pytest.approx(numeric, rel=1e-8)
    assert k.grad == pytest.approx(0.3 * math.cos(1.7 * 0.3), rel=1e-12)
    x.grad = 0.0
    sin_scaled(x).backward()                           # k from its default, 2
    numeric = (math.sin(2.0 * (0.3 + h)) - math.sin(2.0 * (0.3 - h))) / (2 * h)
    assert x.grad == pytest.approx(numeric, rel=1e-8)
    assert sin_scaled(0.3, k=1.7) == pytest.approx(math.sin(0.51))
    with pytest.raises(TypeError, match="sin_scaled: got an unexpected keyword argument 'q'"):
        sin_scaled(x, q=1.0)


def test_keyword_only_parameters_are_refused_when_defined(fresh_ops) -> None:
    with pytest.raises(TypeError, match="parameter 'scale' is keyword-only"):
        @autograd.primitive(derivative=lambda x, out: 1.0)
        def shifted(x, *, scale=1.0):
            return x * scale
