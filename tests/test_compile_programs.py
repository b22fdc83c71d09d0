"""Random programs, compiled and eager: the same values and gradients (hypothesis)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import autograd
from autograd import Value

UNARY = {
    "tanh": (lambda v: v.tanh(), lambda b: 1.0),
    "sigmoid": (lambda v: v.sigmoid(), lambda b: 1.0),
    "sin": (lambda v: v.sin(), lambda b: 1.0),
    "cos": (lambda v: v.cos(), lambda b: 1.0),
    "relu": (lambda v: v.relu(), lambda b: b),
    "abs": (abs, lambda b: b),
    "neg": (lambda v: -v, lambda b: b),
    "leaky_relu": (lambda v: v.leaky_relu(0.1), lambda b: b),
    "softplus": (lambda v: v.softplus(), lambda b: b + 1.0),
    "square": (lambda v: v ** 2, lambda b: b * b),
    "exp_tanh": (lambda v: v.tanh().exp(), lambda b: 3.0),
    "log_softplus": (lambda v: (v.softplus() + 0.5).log(), lambda b: b + 2.0),
    "sqrt_square": (lambda v: (v * v + 0.25).sqrt(), lambda b: b + 0.5),
}
BINARY = {
    "+": (lambda a, b: a + b, lambda x, y: x + y),
    "-": (lambda a, b: a - b, lambda x, y: x + y),
    "*": (lambda a, b: a * b, lambda x, y: x * y),
    "/": (lambda a, b: a / (b * b + 1.0), lambda x, y: x),
    "pow": (lambda a, b: (a * a + 0.5) ** b.tanh(), lambda x, y: x * x + 2.0),
}
NARY = {
    "sum": (lambda vs: autograd.sum_values(vs), lambda bs: sum(bs)),
    "dot": (lambda vs: autograd.dot(vs[:1], vs[1:2], vs[-1]), lambda bs: bs[0] * bs[1] + bs[-1]),
}
KINDS = sorted(UNARY) + sorted(BINARY) + sorted(NARY)
BOUND = 1e4  # keep every value far from overflow, so both sides compute finite numbers


def build(program, inputs, params):
    """Run `program` (list of (kind, operand picks)) on the given leaves; returns the
    output and whether every step stayed within BOUND."""
    nodes = list(inputs) + list(params) + [Value(0.75)]
    bounds = [2.0] * len(inputs) + [1.0] * len(params) + [0.75]
    for kind, picks in program:
        chosen = [p % len(nodes) for p in picks]
        if kind in UNARY:
            f, bound = UNARY[kind]
            out, b = f(nodes[chosen[0]]), bound(bounds[chosen[0]])
        elif kind in BINARY:
            f, bound = BINARY[kind]
            out, b = (f(nodes[chosen[0]], nodes[chosen[1]]),
                      bound(bounds[chosen[0]], bounds[chosen[1]]))
        else:
            f, bound = NARY[kind]
            out, b = f([nodes[c] for c in chosen]), bound([bounds[c] for c in chosen])
        if b > BOUND:  # skip steps that could grow without limit
            continue
        nodes.append(out)
        bounds.append(b)
    tail = nodes[-3:]
    return autograd.sum_values(tail)


programs = st.lists(
    st.tuples(st.sampled_from(KINDS), st.lists(st.integers(0, 50), min_size=3, max_size=3)),
    min_size=1, max_size=14)


@settings(max_examples=60, deadline=None)
@given(program=programs, seed=st.integers(0, 2**16))
def test_random_programs_compile_to_the_eager_numbers(program, seed):
    rng = np.random.default_rng(seed)
    params = [Value(v) for v in rng.uniform(-1.0, 1.0, size=3)]
    X = rng.uniform(-2.0, 2.0, size=(9, 2))

    def fn(a, b):
        return build(program, [a, b], params)

    c = autograd.compile(fn, 2)
    eager_rows = [fn(*[Value(v) for v in row]) for row in X]
    expected = np.array([v.data for v in eager_rows])
    got = c(X)
    scale = max(np.max(np.abs(expected)), 1e-300)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12 * scale)

    for p in params:
        p.grad = 0.0
    mean = c.backward(X)
    compiled_grads = np.array([p.grad for p in params])
    for p in params:
        p.grad = 0.0
    eager_mean = sum(fn(*[Value(v) for v in row]) for row in X) / len(X)
    eager_mean.backward()
    eager_grads = np.array([p.grad for p in params])
    assert abs(mean - eager_mean.data) <= 1e-12 * max(abs(eager_mean.data), scale)
    gscale = max(np.max(np.abs(eager_grads)), 1e-300)
    np.testing.assert_allclose(compiled_grads, eager_grads, rtol=1e-12, atol=1e-12 * gscale)
