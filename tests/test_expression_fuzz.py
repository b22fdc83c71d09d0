"""Property tests of the expression parser.

1. Random text: `parse` either returns an Expression or raises ExpressionError with a
   one-line message and a column inside the text; never any other exception.
2. Random well-formed expressions, generated together with a NumPy float64 twin: the
   engine's value equals the twin's, and every gradient matches central differences.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import autograd
from autograd.expression import ExpressionError, parse

# Characters that make up expressions, and some that must be refused.
ALPHABET = "xyzwab0123456789.+-*/%()[]{},:;=<>!&|^~@'\" _\tetanhsiglocpruf"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=ALPHABET, max_size=40))
def test_random_text_parses_or_gets_a_pointed_error(text):
    try:
        expression = parse(text)
    except ExpressionError as error:
        message = str(error)
        assert "\n" not in message
        assert 0 <= error.column <= len(text) + 1
        if error.fragment:
            start = error.column - 1
            assert text[start:start + len(error.fragment)] == error.fragment
    else:
        assert all(name.isidentifier() for name in expression.variables)


# -- random well-formed expressions with a NumPy twin ------------------------------------

NAMES = ("x", "y", "z")
UNARY = {
    "tanh": np.tanh,
    "sin": np.sin,
    "cos": np.cos,
    "sigmoid": lambda v: 1.0 / (1.0 + np.exp(-v)),
    "softplus": lambda v: np.log1p(np.exp(v)),
}


def leaves():
    names = st.sampled_from(NAMES).map(lambda n: (n, lambda env, n=n: env[n]))
    numbers = st.sampled_from([0.5, 1.5, 2.0, 3.0]).map(
        lambda c: (repr(c), lambda env, c=c: c))
    return names | numbers


def extend(children):
    def binary(pair, symbol):
        (left, f), (right, g) = pair
        ops = {"+": np.add, "-": np.subtract, "*": np.multiply}
        return (f"({left} {symbol} {right})",
                lambda env, f=f, g=g, op=ops[symbol]: op(f(env), g(env)))

    def unary(item, name):
        text, f = item
        return f"{name}({text})", lambda env, f=f, u=UNARY[name]: u(f(env))

    def negate(item):
        text, f = item
        return f"-{text}", lambda env, f=f: -f(env)

    def square(item):
        text, f = item
        return f"({text})**2", lambda env, f=f: f(env) ** 2

    pairs = st.tuples(children, children)
    return (st.builds(binary, pairs, st.sampled_from(["+", "-", "*"]))
            | st.builds(unary, children, st.sampled_from(sorted(UNARY)))
            | st.builds(negate, children)
            | st.builds(square, children))


EXPRESSIONS = st.recursive(leaves(), extend, max_leaves=8)


@settings(max_examples=60, deadline=None)
@given(EXPRESSIONS, st.lists(st.floats(-1.5, 1.5), min_size=3, max_size=3))
def test_random_expressions_match_numpy_and_central_differences(pair, point):
    text, twin = pair
    expression = parse(text)
    env = dict(zip(NAMES, point))
    leaves_ = {name: autograd.Value(env[name]) for name in expression.variables}
    result = expression.evaluate(leaves_)
    result.backward()
    reference = float(twin({k: np.float64(v) for k, v in env.items()}))
    assert result.data == pytest.approx(reference, rel=1e-12, abs=1e-12)
    eps = 1e-6
    for name in expression.variables:
        up = {k: np.float64(v) for k, v in env.items()}
        down = dict(up)
        up[name] += eps
        down[name] -= eps
        numeric = float((twin(up) - twin(down)) / (2 * eps))
        assert leaves_[name].grad == pytest.approx(numeric, rel=1e-5, abs=1e-6), (text, name)
