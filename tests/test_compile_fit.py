"""nn.fit(compiled=True) trains exactly as the eager fit loop does."""

from __future__ import annotations

import io

import numpy as np
import pytest

import nn


def train(compiled, loss, labels, **options):
    X, y = nn.moons(48, noise=0.15, seed=5, labels=labels)
    model = nn.MLP(2, [8, 8, 1], seed=2, output_activation=options.pop("output", "linear"))
    opt = nn.SGD(model.parameters(), lr=options.pop("lr", 0.1), momentum=0.5)
    history = nn.fit(model, X, y, loss=loss, optimizer=opt, seed=3, verbose=False,
                     compiled=compiled, **options)
    return history, np.array([p.data for p in model.parameters()])


@pytest.mark.parametrize("loss, labels, options", [
    ("hinge", (-1, 1), {"l2": 1e-3, "epochs": 6}),
    ("mse", (0, 1), {"epochs": 5, "batch_size": 10, "output": "sigmoid"}),
    ("bce", (0, 1), {"epochs": 5, "batch_size": 16, "validation": 0.25}),
    ("half_sse", (0, 1), {"epochs": 4, "batch_size": 12, "lr": 0.02, "validation": 0.25}),
])
def test_compiled_fit_follows_eager_fit(loss, labels, options):
    eager_history, eager_weights = train(False, loss, labels, **dict(options))
    compiled_history, compiled_weights = train(True, loss, labels, **dict(options))
    np.testing.assert_allclose(compiled_history.loss, eager_history.loss, rtol=1e-10)
    assert compiled_history.accuracy == pytest.approx(eager_history.accuracy, abs=0.0)
    assert compiled_history.val_loss == pytest.approx(eager_history.val_loss, rel=1e-10)
    assert compiled_history.val_accuracy == eager_history.val_accuracy
    np.testing.assert_allclose(compiled_weights, eager_weights, rtol=1e-10, atol=1e-12)


def test_compiled_fit_stops_on_a_non_finite_loss_like_eager():
    results = []
    for compiled in (False, True):
        with pytest.warns(RuntimeWarning, match="fit: stopped in epoch"):
            results.append(train(compiled, "mse", (0, 1), lr=1e200, epochs=5))
    (eager, eager_weights), (comp, comp_weights) = results
    assert comp.stop_reason == eager.stop_reason == "non_finite"
    assert comp.epochs == eager.epochs
    np.testing.assert_allclose(comp_weights, eager_weights, rtol=1e-12)


def test_compiled_fit_refuses_what_it_cannot_compile():
    X, y = nn.spiral(30, classes=3, seed=0)
    model = nn.MLP(2, [4, 3], seed=0)
    with pytest.raises(ValueError, match="compiled=True works with the losses") as info:
        nn.fit(model, X, y, loss="cross_entropy", compiled=True, verbose=False)
    assert "not 'cross_entropy' (softmax cross-entropy shifts each example" in str(info.value)
    with pytest.raises(ValueError, match="custom loss") as info:
        nn.fit(nn.MLP(2, [1], seed=0), X, y, loss=lambda o, t: nn.mse(o, t),
               compiled=True, verbose=False)
    # A custom loss is refused for its own reason, not softmax cross-entropy's.
    assert str(info.value).endswith(
        "not a custom loss function (how it combines the examples of a batch is not "
        "known); use compiled=False")
    with pytest.raises(ValueError, match="hinge: labels must be -1 or \\+1"):
        nn.fit(nn.MLP(2, [1], seed=0), X, y, loss="hinge", compiled=True, verbose=False,
               file=io.StringIO())
