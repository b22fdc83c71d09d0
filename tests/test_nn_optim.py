"""Optimizers and schedules against update rules written out in NumPy here."""

import math

import numpy as np
import pytest

import autograd
import nn
from autograd import Value

C = np.array([1.5, -0.5, 2.0])
START = np.array([0.0, 1.0, -1.0])


def quadratic_loss(params):
    """f(p) = sum (p_i - c_i)^2 * (i + 1); gradient 2 (i + 1) (p_i - c_i)."""
    return autograd.sum_values([(p - c) ** 2 * (i + 1) for i, (p, c) in enumerate(zip(params, C))])


def np_gradient(p):
    return 2 * np.arange(1, 4) * (p - C)


def run(optimizer_factory, steps):
    params = [Value(v) for v in START]
    optimizer = optimizer_factory(params)
    trajectory = []
    for _ in range(steps):
        loss = quadratic_loss(params)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        trajectory.append([p.data for p in params])
    return params, np.array(trajectory)


def test_sgd_plain_momentum_and_weight_decay_match_numpy():
    for momentum, decay in [(0.0, 0.0), (0.9, 0.0), (0.5, 0.01)]:
        _, got = run(lambda ps, m=momentum, d=decay: nn.SGD(ps, lr=0.05, momentum=m,
                                                             weight_decay=d), 25)
        p, v = START.copy(), np.zeros(3)
        for k in range(25):
            g = np_gradient(p) + decay * p
            v = momentum * v + g
            p = p - 0.05 * v
            np.testing.assert_allclose(got[k], p, rtol=1e-12, atol=1e-14)


def test_adam_matches_numpy_and_converges():
    _, got = run(lambda ps: nn.Adam(ps, lr=0.1, betas=(0.8, 0.99), eps=1e-8,
                                    weight_decay=0.001), 300)
    p, m, v = START.copy(), np.zeros(3), np.zeros(3)
    for t in range(1, 301):
        g = np_gradient(p) + 0.001 * p
        m = 0.8 * m + 0.2 * g
        v = 0.99 * v + 0.01 * g * g
        p = p - 0.1 * (m / (1 - 0.8 ** t)) / (np.sqrt(v / (1 - 0.99 ** t)) + 1e-8)
        np.testing.assert_allclose(got[t - 1], p, rtol=1e-10, atol=1e-12)
    # The minimum of f + 0.0005 |p|^2 is c (i+1) / (i+1 + 0.0005) per coordinate.
    k = np.arange(1, 4)
    np.testing.assert_allclose(got[-1], C * k / (k + 0.0005), atol=1e-3)


def test_step_writes_in_place_without_recording():
    params = [Value(1.0), Value(2.0)]
    identities = [id(p) for p in params]
    (params[0] * params[1]).backward()
    optimizer = nn.SGD(params, lr=0.5)
    seen = []
    original = optimizer._update

    def spy(lr):
        seen.append(autograd.is_grad_enabled())
        original(lr)

    optimizer._update = spy
    optimizer.step()
    assert seen == [False] and autograd.is_grad_enabled()
    assert [id(p) for p in params] == identities
    assert all(p.is_leaf for p in params)
    assert [p.data for p in params] == [1.0 - 0.5 * 2.0, 2.0 - 0.5 * 1.0]


def test_schedules_follow_their_formulas():
    micrograd = nn.LinearDecay(1.0, 0.1, 100)
    assert [micrograd(k) for k in (0, 50, 99)] == pytest.approx(
        [1.0 - 0.9 * k / 100 for k in (0, 50, 99)], rel=1e-15)
    assert micrograd(100) == micrograd(500) == pytest.approx(0.1)
    step = nn.StepDecay(0.8, every=10, gamma=0.5)
    assert [step(k) for k in (0, 9, 10, 25)] == [0.8, 0.8, 0.4, 0.2]
    # the optimizer uses lr(k) for its k-th step (k from 0)
    p = Value(0.0)
    optimizer = nn.SGD([p], lr=nn.StepDecay(1.0, every=1, gamma=0.5))
    for _ in range(3):
        p.grad = 1.0
        optimizer.step()
    assert p.data == -(1.0 + 0.5 + 0.25)
    assert optimizer.steps == 3 and optimizer.lr == 0.125


def test_bad_arguments_name_the_optimizer_and_value():
    with pytest.raises(ValueError, match="SGD: lr must be a finite number > 0, got -1"):
        nn.SGD([Value(1.0)], lr=-1)
    with pytest.raises(ValueError, match="SGD: got an empty parameter list"):
        nn.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="SGD: parameter 1 must be a Value, got float"):
        nn.SGD([Value(1.0), 2.0], lr=0.1)
    with pytest.raises(ValueError, match="appears twice"):
        p = Value(1.0)
        nn.SGD([p, p], lr=0.1)
    with pytest.raises(ValueError, match="Adam: betas\\[1\\] must be in \\[0, 1\\), got 1.0"):
        nn.Adam([Value(1.0)], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="SGD: momentum must be < 1"):
        nn.SGD([Value(1.0)], momentum=1.0)
    with pytest.raises(ValueError, match="LinearDecay: steps must be a positive integer"):
        nn.LinearDecay(1.0, 0.1, 0)


def test_propose_changes_nothing_and_apply_writes_what_it_proposed():
    # Adam's first step by hand: m = (1 - b1) g, v = (1 - b2) g^2, and with the bias
    # corrections p - lr g / (|g| + eps).
    params = [Value(1.0), Value(-2.0)]
    params[0].grad, params[1].grad = 0.5, -4.0
    optimizer = nn.Adam(params, lr=0.1, betas=(0.9, 0.99), eps=1e-8)
    update = optimizer.propose()
    assert [p.data for p in params] == [1.0, -2.0] and optimizer.m == [0.0, 0.0]
    assert optimizer.v == [0.0, 0.0] and optimizer.steps == 0
    expected = [1.0 - 0.1 * 0.5 / (0.5 + 1e-8), -2.0 + 0.1 * 4.0 / (4.0 + 1e-8)]
    assert update.data == pytest.approx(expected, rel=1e-15)
    assert update.state["m"] == pytest.approx([0.1 * 0.5, 0.1 * -4.0], rel=1e-15)
    assert update.state["v"] == pytest.approx([0.01 * 0.25, 0.01 * 16.0], rel=1e-15)
    assert update.first_non_finite() is None
    optimizer.apply(update)
    assert [p.data for p in params] == update.data and optimizer.steps == 1
    assert optimizer.m == update.state["m"] and optimizer.v == update.state["v"]
    # An update is for the step it was computed at: applying it twice is refused.
    with pytest.raises(ValueError, match="^Adam: this update was computed at step 0, but "
                                         "the optimizer is at step 1$"):
        optimizer.apply(update)


def test_an_update_names_the_first_number_it_would_make_non_finite():
    # g = 1e200: g^2 overflows, so Adam's v would become inf (and its step 0: m / sqrt(inf)).
    p = Value(1.0)
    p.grad = 1e200
    update = nn.Adam([p], lr=0.1).propose()
    assert update.data == [1.0] and update.first_non_finite() == ("v", 0, math.inf)
    q = Value(1.0)
    q.grad = 1.0
    assert nn.SGD([Value(0.0), q], lr=1e308, momentum=0.5).propose().first_non_finite() is None
    q.grad = 2.0
    assert nn.SGD([Value(0.0), q], lr=1e308).propose().first_non_finite() == ("data", 1,
                                                                               -math.inf)
    # Finite numbers whose sum overflows are still finite.
    big = [Value(1e308), Value(1e308)]
    assert nn.SGD(big, lr=0.1).propose().first_non_finite() is None
