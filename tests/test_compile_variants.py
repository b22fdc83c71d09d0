"""The training steps of issue 15, however the loss is written, compiled equal eager.

The ways of writing the moons step that `benchmarks/run.py` times -- the L2 term outside
the per-example function, inside with Python's ``sum``, inside through
``nn.l2_penalty`` -- a tanh network, and a 3-class softmax cross-entropy whose
log-sum-exp is shifted by the logits' `autograd.maximum`.  The reference is the eager
engine on the same rows (itself tested against NumPy central differences); the
softmax loss is also checked against NumPy's closed form, computed with the
data-dependent shift the compiled version cannot use.
"""

from __future__ import annotations

import numpy as np
import pytest
from compilehelpers import assert_close, eager_batch

import autograd
import nn
from autograd import Value

ALPHA = 1e-4
CLASSES = 3


def logsumexp(z):
    """log sum e^z shifted by the logits' maximum, an operation of the graph."""
    m = z[0]
    for v in z[1:]:
        m = autograd.maximum(m, v)
    return autograd.sum_values([(v - m).exp() for v in z]).log() + m


def moons_rows(n):
    X, y = nn.moons(n, noise=0.1, seed=3, labels=(-1, 1))
    return np.column_stack([X, y])


def spiral_rows(n):
    X, y = nn.spiral(n, classes=CLASSES, noise=0.2, seed=3)
    return np.column_stack([X, np.eye(CLASSES)[y]])


def variant(name):
    """(per-example function, nargs, rows, parameters) of one benchmark variant."""
    activation = "tanh" if name == "tanh" else "relu"
    outputs = CLASSES if name == "spiral" else 1
    model = nn.MLP(2, [16, 16, outputs], activation=activation, seed=5)
    params = model.parameters()
    if name == "spiral":
        def fn(x1, x2, *onehot):
            logits = model([x1, x2])
            return logsumexp(logits) - autograd.dot(onehot, logits) \
                + nn.l2_penalty(params, ALPHA)
        return fn, 2 + CLASSES, spiral_rows(45), params

    def hinge(x1, x2, label):
        return (1 + -label * model([x1, x2])).relu()

    if name == "outside":
        fn = hinge
    elif name == "sum":
        def fn(x1, x2, label):
            return hinge(x1, x2, label) + ALPHA * sum(p * p for p in params)
    else:
        def fn(x1, x2, label):
            return hinge(x1, x2, label) + nn.l2_penalty(params, ALPHA)
    return fn, 3, moons_rows(40), params


@pytest.mark.parametrize("name", ["outside", "sum", "l2_penalty", "tanh", "spiral"])
def test_every_way_of_writing_the_step_compiles_equal_to_eager(name):
    fn, nargs, rows, params = variant(name)
    values, mean, grads = eager_batch(fn, rows, params)
    c = autograd.compile(fn, nargs)
    assert_close(c(rows), values)
    assert_close(c.backward(rows), mean)  # eager_batch left every .grad at 0
    assert_close([p.grad for p in params], grads)
    assert c.data_reads == []  # nothing in these functions looks at a number
    # A second call on other rows, after an update, uses the new weights.
    for p in params:
        p.data -= 0.05 * p.grad
    other = rows[::-1][: len(rows) // 2]
    values, mean, grads = eager_batch(fn, other, params)
    assert_close(c(other), values)
    assert_close(c.backward(other), mean)
    assert_close([p.grad for p in params], grads)


def test_the_graph_shifted_softmax_loss_equals_numpys_closed_form():
    # Logits far apart (up to +-1000): without a shift exp would overflow; NumPy
    # shifts by each row's maximum, read from the data; the graph builds its own.
    rng = np.random.default_rng(7)
    Z = rng.normal(scale=300.0, size=(30, CLASSES))
    Z[0] = [800.0, -5.0, 3.0]            # e^800 overflows a float
    Z[1] = [-900.0, -950.0, -1000.0]     # every e^z underflows to 0: log(0)
    classes = rng.integers(0, CLASSES, size=30)
    rows = np.column_stack([Z, np.eye(CLASSES)[classes]])

    def fn(z0, z1, z2, *onehot):
        z = [z0, z1, z2]
        return logsumexp(z) - autograd.dot(onehot, z)

    shifted = Z - Z.max(axis=1, keepdims=True)
    softmax = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    expected = np.log(np.exp(shifted).sum(axis=1)) - shifted[np.arange(30), classes]
    slopes = softmax - np.eye(CLASSES)[classes]  # d loss / d z
    c = autograd.compile(fn, 2 * CLASSES)
    assert_close(c(rows), expected, rtol=1e-13)
    # The slopes with respect to the logits, through a parameter that scales them.
    s = Value(1.0)
    scaled = autograd.compile(lambda z0, z1, z2, *t: fn(s * z0, s * z1, s * z2, *t),
                              2 * CLASSES)
    scaled.backward(rows, reduction="sum")
    assert_close(s.grad, np.sum(slopes * Z), rtol=1e-11)
