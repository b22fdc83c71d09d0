"""autograd.compile on nn models and losses: equal to the eager engine to 1e-12."""

from __future__ import annotations

import numpy as np
import pytest

import autograd
import nn
from autograd import GraphMismatchError, Value

RTOL = 1e-12


def assert_close(actual, expected):
    actual = np.asarray(actual, dtype=float)
    expected = np.asarray(expected, dtype=float)
    scale = max(np.max(np.abs(expected), initial=0.0), 1e-300)
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=RTOL * scale)


def per_row_loss(model, loss, nin):
    def row_loss(*values):
        return loss([model(values[:nin])], [values[nin]])
    return row_loss


@pytest.mark.parametrize("activation, output, loss, labels", [
    ("relu", "linear", nn.hinge, (-1, 1)),
    ("tanh", "linear", nn.mse, (0, 1)),
    ("sigmoid", "linear", nn.bce_with_logits, (0, 1)),
    ("leaky_relu", "sigmoid", nn.mse, (0, 1)),
    ("softplus", "tanh", nn.half_sse, (-1, 1)),
])
def test_compiled_mlp_loss_equals_eager(activation, output, loss, labels):
    model = nn.MLP(2, [8, 8, 1], activation=activation, output_activation=output, seed=4)
    X, y = nn.moons(60, noise=0.1, seed=2, labels=labels)
    data = np.column_stack([X, y])
    fn = per_row_loss(model, loss, 2)
    params = model.parameters()

    c = autograd.compile(fn, 3)
    assert_close(c(data), [fn(*[Value(v) for v in row]).data for row in data])

    model.zero_grad()
    mean = c.backward(data)
    compiled_grads = [p.grad for p in params]

    model.zero_grad()
    reference = sum(fn(*[Value(v) for v in row]) for row in data) / len(data)
    reference.backward()
    assert_close(mean, reference.data)
    assert_close(compiled_grads, [p.grad for p in params])

    if loss is not nn.half_sse:  # a mean over examples: nn's batch loss is the same number
        model.zero_grad()
        batch = loss([model(row) for row in X.tolist()], y)
        batch.backward()
        assert_close(mean, batch.data)
        assert_close(compiled_grads, [p.grad for p in params])


def test_compiled_training_follows_eager_training():
    """Ten SGD steps, compiled and eager from the same weights, end at the same weights."""
    X, y = nn.moons(40, noise=0.1, seed=1, labels=(-1, 1))
    data = np.column_stack([X, y])
    weights = nn.MLP(2, [6, 6, 1], seed=3).state_dict()
    runs = []
    for compiled in (False, True):
        model = nn.MLP(2, [6, 6, 1], seed=0)
        model.load_state_dict(weights)
        opt = nn.SGD(model.parameters(), lr=0.1, momentum=0.9)
        fn = per_row_loss(model, nn.hinge, 2)
        step = autograd.compile(fn, 3) if compiled else None
        for _ in range(10):
            opt.zero_grad()
            if compiled:
                step.backward(data)
            else:
                (sum(fn(*[Value(v) for v in row]) for row in data) / len(data)).backward()
            opt.step()
        runs.append(np.array([p.data for p in model.parameters()]))
    assert_close(runs[1], runs[0])


def test_softmax_cross_entropy_is_refused_not_miscomputed():
    # Its log-sum-exp shift max(z) is a constant taken from each row's data, so the
    # recorded graph would be wrong for other rows: compile must say so.
    model = nn.MLP(2, [6, 3], seed=0)
    X, _ = nn.spiral(30, classes=3, seed=0)

    def fn(a, b):
        return nn.softmax_cross_entropy([model([a, b])], [0])  # one class: only the shift varies

    assert autograd.compile(fn, 2)(X[:1]).shape == (1,)  # one row alone is fine
    with pytest.raises(GraphMismatchError, match="depends on the data"):
        autograd.compile(fn, 2)(X)
