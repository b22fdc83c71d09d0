"""Losses against NumPy float64 formulas and central differences, and their stability."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import autograd
import nn
from autograd import Value

EPS = 1e-6


def numeric_gradient(f, z):
    """Central differences of a NumPy function f at the point z (float64)."""
    z = np.asarray(z, dtype=np.float64)
    grad = np.zeros_like(z)
    for i in np.ndindex(z.shape):
        up, down = z.copy(), z.copy()
        up[i] += EPS
        down[i] -= EPS
        grad[i] = (f(up) - f(down)) / (2 * EPS)
    return grad


def engine_value_and_gradient(loss, z, targets):
    z = np.asarray(z, dtype=np.float64)
    values = [Value(v) for v in z.reshape(-1)]
    shaped = values if z.ndim == 1 else [values[i * z.shape[1]:(i + 1) * z.shape[1]]
                                         for i in range(z.shape[0])]
    out = loss(shaped, targets)
    out.backward()
    return out.data, np.array([v.grad for v in values]).reshape(z.shape)


def np_softplus(z):
    return np.logaddexp(0.0, z)


REFERENCES = {
    "mse": (nn.mse, lambda z, t: np.mean((z - t) ** 2)),
    "half_sse": (nn.half_sse, lambda z, t: np.sum(0.5 * (t - z) ** 2)),
    "hinge": (nn.hinge, lambda z, t: np.mean(np.maximum(0.0, 1.0 - t * z))),
    "bce": (nn.bce_with_logits,
            lambda z, t: np.mean(-t * np.log(1 / (1 + np.exp(-z)))
                                 - (1 - t) * np.log(1 - 1 / (1 + np.exp(-z))))),
}

scores = st.lists(st.floats(-3, 3, allow_nan=False), min_size=1, max_size=6)


@settings(max_examples=40, deadline=None)
@given(scores, st.data())
@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_binary_losses_match_numpy(name, z, data):
    loss, reference = REFERENCES[name]
    if name == "hinge":
        t = data.draw(st.lists(st.sampled_from([-1.0, 1.0]), min_size=len(z), max_size=len(z)))
        # stay away from the kink 1 - t z = 0 where the derivative is not defined
        if any(abs(1 - ti * zi) < 1e-3 for ti, zi in zip(t, z)):
            return
    elif name == "bce":
        t = data.draw(st.lists(st.sampled_from([0.0, 1.0]), min_size=len(z), max_size=len(z)))
    else:
        t = data.draw(st.lists(st.floats(-3, 3), min_size=len(z), max_size=len(z)))
    z_np, t_np = np.array(z), np.array(t)
    value, grad = engine_value_and_gradient(loss, z_np, t)
    assert value == pytest.approx(reference(z_np, t_np), rel=1e-12, abs=1e-14)
    np.testing.assert_allclose(grad, numeric_gradient(lambda v: reference(v, t_np), z_np),
                               rtol=1e-6, atol=1e-8)


def np_softmax_ce(z, classes):
    shifted = z - z.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return -np.mean(log_probs[np.arange(len(z)), classes])


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 4), st.integers(2, 4), st.data())
def test_softmax_cross_entropy_matches_numpy(n, k, data):
    z = np.array(data.draw(st.lists(st.floats(-4, 4), min_size=n * k, max_size=n * k)))
    z = z.reshape(n, k)
    classes = data.draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n))
    value, grad = engine_value_and_gradient(nn.softmax_cross_entropy, z, classes)
    assert value == pytest.approx(np_softmax_ce(z, classes), rel=1e-12, abs=1e-14)
    # closed form: d/dz = (softmax(z) - onehot(y)) / n
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(n), classes] -= 1
    np.testing.assert_allclose(grad, p / n, rtol=1e-10, atol=1e-12)


def test_logit_losses_stay_finite_at_extreme_logits():
    # bce at z = +-1000: loss = softplus(z) - y z; gradient = sigmoid(z) - y
    for z, y, loss_value, slope in [(1000.0, 1.0, 0.0, 0.0), (1000.0, 0.0, 1000.0, 1.0),
                                    (-1000.0, 0.0, 0.0, 0.0), (-1000.0, 1.0, 1000.0, -1.0)]:
        v = Value(z)
        out = nn.bce_with_logits(v, y)
        out.backward()
        assert out.data == pytest.approx(loss_value, abs=1e-12) and v.grad == slope
    # softmax cross-entropy of logits [1000, 0, -1000] for class 1: 1000 exactly
    logits = [Value(1000.0), Value(0.0), Value(-1000.0)]
    out = nn.softmax_cross_entropy(logits, 1)
    out.backward()
    assert out.data == pytest.approx(1000.0, rel=1e-15)
    assert [v.grad for v in logits] == pytest.approx([1.0, -1.0, 0.0], abs=1e-300)


def test_l2_penalty_is_one_node_with_gradient_two_alpha_p():
    params = [Value(0.5), Value(-2.0), Value(3.0)]
    out = nn.l2_penalty(params, 0.1)
    assert out.data == pytest.approx(0.1 * (0.25 + 4 + 9), rel=1e-15)
    assert sum(1 for v in autograd.topological_order(out) if v.op == "dot") == 1
    out.backward()
    assert [p.grad for p in params] == pytest.approx([0.1, -0.4, 0.6], rel=1e-15)


def test_losses_reject_bad_input_with_the_function_name():
    with pytest.raises(ValueError, match="hinge: labels must be -1 or \\+1, got 0.0"):
        nn.hinge([Value(1.0)], [0])
    with pytest.raises(ValueError, match="mse: 2 predictions but 1 targets"):
        nn.mse([Value(1.0), Value(2.0)], [1.0])
    with pytest.raises(ValueError, match="bce_with_logits: labels must lie in \\[0, 1\\]"):
        nn.bce_with_logits([Value(1.0)], [2])
    with pytest.raises(ValueError, match="softmax_cross_entropy: class must be an integer"):
        nn.softmax_cross_entropy([[Value(1.0), Value(2.0)]], [2])
    # NaN or infinity (a gap in y) is named as a bad class, not int()'s conversion error.
    for bad in (float("nan"), float("inf"), -float("inf")):
        with pytest.raises(ValueError, match=r"softmax_cross_entropy: class must be an "
                                             r"integer in \[0, 2\), got -?(nan|inf)$"):
            nn.softmax_cross_entropy([[Value(1.0), Value(2.0)]], [bad])
    with pytest.raises(TypeError, match="softmax_cross_entropy: classes must be numbers, "
                                        "got str 'a'"):
        nn.softmax_cross_entropy([[Value(1.0), Value(2.0)]], ["a"])
    with pytest.raises(TypeError, match="softmax_cross_entropy: classes must be numbers, "
                                        "got NoneType None"):
        nn.softmax_cross_entropy([[Value(1.0), Value(2.0)]], [None])
    # One score per example where a list of logits per example is needed: a one-output
    # model trained with cross_entropy says so, not "1 predictions but 3 targets".
    with pytest.raises(ValueError, match="softmax_cross_entropy: got one number per example "
                                         "for 3 targets; it needs a list of logits per "
                                         "example, one per class"):
        nn.softmax_cross_entropy([Value(1.0), Value(2.0), Value(0.5)], [0, 1, 1])
    X, y = nn.spiral(12, classes=3, seed=0)
    with pytest.raises(ValueError, match="got one number per example for 12 targets"):
        nn.fit(nn.MLP(2, [4, 1], seed=0), X, y, loss="cross_entropy", verbose=False)
    with pytest.raises(TypeError, match="mse: targets must be numbers, got str"):
        nn.mse([Value(1.0)], ["a"])
    with pytest.raises(ValueError, match="several outputs"):
        nn.mse([[Value(1.0), Value(2.0)]], [1.0])
    with pytest.raises(ValueError, match="unknown loss 'l1'"):
        nn.losses.get_loss("l1")
    with pytest.raises(ValueError, match="l2_penalty: alpha"):
        nn.l2_penalty([Value(1.0)], -1.0)
