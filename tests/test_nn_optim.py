"""Optimizers and schedules against update rules written out in NumPy here."""

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
