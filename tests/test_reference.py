"""The NumPy reference network: against finite differences, a hand-worked example, and the
scalar engine."""

import math

import numpy as np
import pytest

from autograd import Value
from nn.reference import ACTIVATIONS, ReferenceNetwork, compare_gradients

ACTS = sorted(ACTIVATIONS)


def numeric_gradients(net, X, Y, loss, l2, h=1e-6):
    """Central differences of the reference's own cost, one parameter at a time (float64)."""
    grads_w, grads_b = [], []
    for layer in range(len(net.weights)):
        for arrays, out in ((net.weights, grads_w), (net.biases, grads_b)):
            array = arrays[layer]
            if array is None:
                out.append(None)
                continue
            slope = np.zeros_like(array)
            for idx in np.ndindex(array.shape):
                saved = array[idx]
                array[idx] = saved + h
                up = net.cost(X, Y, loss, l2)
                array[idx] = saved - h
                down = net.cost(X, Y, loss, l2)
                array[idx] = saved
                slope[idx] = (up - down) / (2 * h)
            out.append(slope)
    return grads_w, grads_b


@pytest.mark.parametrize("sizes, acts, loss, l2", [
    ([2, 3, 1], ["tanh", "linear"], "half_sse", 0.0),
    ([3, 4, 2], ["sigmoid", "sigmoid"], "mse", 0.3),
    ([2, 5, 3, 2], ["relu", "softplus", "linear"], "half_sse", 1.5),
    ([1, 3, 3, 1], ["leaky_relu", "tanh", "sigmoid"], "mse", 0.0),
])
def test_reference_gradients_match_finite_differences(sizes, acts, loss, l2):
    rng = np.random.default_rng(11)
    net = ReferenceNetwork.random(sizes, acts, seed=5)
    X = rng.normal(size=(7, sizes[0]))
    Y = rng.normal(size=(7, sizes[-1]))
    grad_w, grad_b = net.gradients(X, Y, loss, l2)
    num_w, num_b = numeric_gradients(net, X, Y, loss, l2)
    for analytic, numeric in zip(grad_w + grad_b, num_w + num_b):
        np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


def sig(z):
    return 1.0 / (1.0 + math.exp(-z))


def test_the_two_two_two_sigmoid_example_by_hand():
    """The classic worked example: inputs 0.05, 0.10, targets 0.01, 0.99, half squared
    error, every weight gradient computed here with the scalar chain rule."""
    i1, i2, t1, t2 = 0.05, 0.10, 0.01, 0.99
    w1, w2, w3, w4, b1 = 0.15, 0.20, 0.25, 0.30, 0.35
    w5, w6, w7, w8, b2 = 0.40, 0.45, 0.50, 0.55, 0.60
    h1 = sig(w1 * i1 + w2 * i2 + b1)
    h2 = sig(w3 * i1 + w4 * i2 + b1)
    o1 = sig(w5 * h1 + w6 * h2 + b2)
    o2 = sig(w7 * h1 + w8 * h2 + b2)
    error = 0.5 * (t1 - o1) ** 2 + 0.5 * (t2 - o2) ** 2
    d_o1 = (o1 - t1) * o1 * (1 - o1)  # dE/dnet_o1
    d_o2 = (o2 - t2) * o2 * (1 - o2)
    d_h1 = (d_o1 * w5 + d_o2 * w7) * h1 * (1 - h1)
    d_h2 = (d_o1 * w6 + d_o2 * w8) * h2 * (1 - h2)
    hand_w = [np.array([[d_h1 * i1, d_h1 * i2], [d_h2 * i1, d_h2 * i2]]),
              np.array([[d_o1 * h1, d_o1 * h2], [d_o2 * h1, d_o2 * h2]])]
    hand_b = [np.array([d_h1, d_h2]), np.array([d_o1, d_o2])]
    # The published figures of this example, to the digits they were printed with.
    assert o1 == pytest.approx(0.75136507, abs=1e-8)
    assert o2 == pytest.approx(0.772928465, abs=1e-9)
    assert error == pytest.approx(0.298371109, abs=1e-9)
    assert hand_w[1][0, 0] == pytest.approx(0.082167041, abs=1e-9)  # dE/dw5
    assert hand_w[0][0, 0] == pytest.approx(0.000438568, abs=1e-9)  # dE/dw1

    net = ReferenceNetwork([[[w1, w2], [w3, w4]], [[w5, w6], [w7, w8]]],
                           [[b1, b1], [b2, b2]], ["sigmoid", "sigmoid"])
    X, Y = [[i1, i2]], [[t1, t2]]
    np.testing.assert_allclose(net.predict(X), [[o1, o2]], rtol=1e-14)
    assert net.cost(X, Y) == pytest.approx(error, rel=1e-14)
    grad_w, grad_b = net.gradients(X, Y)
    for got, want in zip(grad_w + grad_b, hand_w + hand_b):
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-17)


def test_l2_applies_to_weights_and_not_to_biases():
    net = ReferenceNetwork.random([2, 3, 1], ["tanh", "linear"], seed=2)
    X = np.array([[0.5, -1.0], [1.5, 0.25], [-0.75, 2.0]])
    Y = np.array([[1.0], [0.0], [-1.0]])
    plain_w, plain_b = net.gradients(X, Y, l2=0.0)
    reg_w, reg_b = net.gradients(X, Y, l2=0.7)
    m = 3
    for layer in range(2):
        np.testing.assert_allclose(reg_w[layer] - plain_w[layer],
                                   0.7 * net.weights[layer] / m, rtol=1e-12, atol=1e-15)
        np.testing.assert_array_equal(reg_b[layer], plain_b[layer])
    penalty = 0.7 / (2 * m) * sum(float(np.sum(w ** 2)) for w in net.weights)
    assert net.cost(X, Y, l2=0.7) - net.cost(X, Y) == pytest.approx(penalty, rel=1e-12)


def test_the_two_losses_are_what_the_docs_say():
    net = ReferenceNetwork([[[2.0]]], [[0.5]], ["linear"])
    X = np.array([[1.0], [2.0]])
    Y = np.array([[1.0], [1.0]])
    # Outputs 2.5 and 4.5; errors 1.5 and 3.5.
    assert net.cost(X, Y, "half_sse") == pytest.approx((0.5 * 1.5 ** 2 + 0.5 * 3.5 ** 2) / 2)
    assert net.cost(X, Y, "mse") == pytest.approx((1.5 ** 2 + 3.5 ** 2) / 2)
    grad_w, grad_b = net.gradients(X, Y, "mse")
    # d/dw mean (w x + b - y)^2 = mean 2 (err) x.
    assert grad_w[0][0, 0] == pytest.approx((2 * 1.5 * 1 + 2 * 3.5 * 2) / 2)
    assert grad_b[0][0] == pytest.approx((2 * 1.5 + 2 * 3.5) / 2)


def test_activations_in_numpy_match_the_engine_and_stay_finite():
    z = np.array([-800.0, -3.0, -0.5, 0.0, 0.5, 3.0, 800.0])
    for name, (g, slope) in ACTIVATIONS.items():
        values = g(z, 0.01)
        assert np.all(np.isfinite(values)), name
        for zi, gi, si in zip(z, values, slope(z, values, 0.01)):
            v = Value(zi)
            out = v if name == "linear" else getattr(v, name)()
            assert gi == pytest.approx(out.data, rel=1e-14, abs=1e-300), name
            out.backward()
            assert si == pytest.approx(v.grad, rel=1e-14, abs=1e-300), name


# --------------------------------------------------------------- engine comparison

class TinyNeuron:
    """A model built straight from engine Values, written out with + and *: a second,
    independent way to compute a neuron (nn's own models are compared in another file)."""

    def __init__(self, weights, bias, activation):
        self.w = [Value(w) for w in weights]
        self.b = None if bias is None else Value(bias)
        self.activation = activation

    def __call__(self, x):
        z = self.b if self.b is not None else Value(0.0)
        for w, xi in zip(self.w, x):
            z = z + w * xi
        if self.activation == "linear":
            return z
        return getattr(z, self.activation)()


class TinyLayer:
    def __init__(self, weights, biases, activation):
        self.activation = activation
        self.neurons = [TinyNeuron(row, None if biases is None else b, activation)
                        for row, b in zip(weights, biases if biases is not None else weights)]

    def __call__(self, x):
        out = [n(x) for n in self.neurons]
        return out[0] if len(out) == 1 else out


class TinyMLP:
    def __init__(self, reference):
        self.layers = [TinyLayer(w.tolist(), None if b is None else b.tolist(), act)
                       for w, b, act in zip(reference.weights, reference.biases,
                                            reference.activations)]

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
            x = x if isinstance(x, list) else [x]
        return x[0] if len(x) == 1 else x


@pytest.mark.parametrize("sizes, acts, loss, l2, bias", [
    ([2, 4, 1], ["tanh", "linear"], "half_sse", 0.0, True),
    ([3, 5, 4, 2], ["relu", "sigmoid", "linear"], "mse", 0.1, True),
    ([1, 6, 1], ["leaky_relu", "tanh"], "half_sse", 2.0, True),
    ([4, 3, 3], ["softplus", "sigmoid"], "mse", 0.0, False),
])
def test_engine_and_reference_agree_on_duck_typed_models(sizes, acts, loss, l2, bias):
    rng = np.random.default_rng(3)
    reference = ReferenceNetwork.random(sizes, acts, seed=9, bias=bias)
    model = TinyMLP(reference)
    X = rng.normal(size=(6, sizes[0]))
    Y = rng.normal(size=(6, sizes[-1]))
    result = compare_gradients(model, X, Y, loss=loss, l2=l2)
    assert len(result.layers) == len(acts)
    assert result.max_abs < 1e-10 and result.max_rel < 1e-10
    assert result.agrees(1e-10)
    assert result.engine_cost == pytest.approx(result.reference_cost, rel=1e-12)
    # The comparison is not vacuous: the gradients are far from zero.
    grad_w, _ = reference.gradients(X, Y, loss, l2)
    assert all(np.max(np.abs(g)) > 1e-3 for g in grad_w)


def test_a_wrong_model_is_noticed():
    reference = ReferenceNetwork.random([2, 3, 1], ["tanh", "linear"], seed=1)
    model = TinyMLP(reference)
    model.layers[0].activation = "sigmoid"  # the reference now models something else
    X = np.array([[0.3, -0.2], [1.0, 0.5]])
    result = compare_gradients(model, X, [[0.5], [-0.5]])
    assert not result.agrees()
    assert result.layers[0].max_abs > 1e-3


def test_models_and_matrices_round_trip():
    reference = ReferenceNetwork.random([3, 4, 2], ["relu", "linear"], seed=4)
    model = TinyMLP(reference)
    back = ReferenceNetwork.from_model(model)
    for a, b in zip(back.weights + back.biases, reference.weights + reference.biases):
        np.testing.assert_array_equal(a, b)
    other = ReferenceNetwork.random([3, 4, 2], ["relu", "linear"], seed=8)
    other.to_model(model)
    assert model.layers[1].neurons[1].w[2].data == other.weights[1][1, 2]
    assert model.layers[0].neurons[3].b.data == other.biases[0][3]
    X = np.random.default_rng(0).normal(size=(5, 3))
    np.testing.assert_allclose([[v.data for v in model(x)] for x in X.tolist()],
                               other.predict(X), rtol=1e-14)


def test_state_dict_layout_round_trips():
    reference = ReferenceNetwork.random([2, 3, 1], ["tanh", "linear"], seed=6)
    state = reference.state_dict()
    assert {k: v.shape for k, v in state.items()} == {
        "layers.0.weight": (3, 2), "layers.0.bias": (3,),
        "layers.1.weight": (1, 3), "layers.1.bias": (1,)}
    again = ReferenceNetwork.from_state_dict(state, ["tanh", "linear"])
    np.testing.assert_array_equal(again.predict([[0.1, 0.2]]), reference.predict([[0.1, 0.2]]))


# --------------------------------------------------------------- bad input

def test_bad_networks_are_refused_with_the_reason():
    with pytest.raises(ValueError, match=r"weights\[1\] has shape \(1, 4\) but layer 0 has 3"):
        ReferenceNetwork([np.ones((3, 2)), np.ones((1, 4))], [None, None], ["tanh", "linear"])
    with pytest.raises(ValueError, match="unknown activation 'swish' for layer 0"):
        ReferenceNetwork([np.ones((3, 2))], [None], ["swish"])
    with pytest.raises(ValueError, match=r"biases\[0\] has shape \(2,\), expected \(3,\)"):
        ReferenceNetwork([np.ones((3, 2))], [np.ones(2)], ["tanh"])
    with pytest.raises(ValueError, match="non-finite"):
        ReferenceNetwork([[[math.nan]]], [None], ["tanh"])
    with pytest.raises(KeyError, match="unexpected key 'layers.3.weight'"):
        ReferenceNetwork.from_state_dict({"layers.0.weight": np.ones((1, 1)),
                                          "layers.3.weight": np.ones((1, 1))}, ["linear"])


def test_bad_data_and_settings_are_refused():
    net = ReferenceNetwork.random([2, 3, 1], ["tanh", "linear"], seed=0)
    with pytest.raises(ValueError, match=r"X must have shape \(m, 2\)"):
        net.gradients(np.ones((4, 3)), np.ones((4, 1)))
    with pytest.raises(ValueError, match=r"Y must have shape \(4, 1\)"):
        net.gradients(np.ones((4, 2)), np.ones((3, 1)))
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        net.gradients(np.ones((4, 2)), np.ones((4, 1)), loss="hinge")
    with pytest.raises(ValueError, match="l2 must be >= 0"):
        net.cost(np.ones((4, 2)), np.ones((4, 1)), l2=-1.0)


def test_to_model_checks_every_shape_before_writing():
    model = TinyMLP(ReferenceNetwork.random([2, 3, 1], ["tanh", "linear"], seed=0))
    before = [n.w[0].data for layer in model.layers for n in layer.neurons]
    wrong = ReferenceNetwork.random([2, 3, 2], ["tanh", "linear"], seed=1)
    with pytest.raises(ValueError, match=r"layer 1 of the model is \(1, 3\)"):
        wrong.to_model(model)
    assert [n.w[0].data for layer in model.layers for n in layer.neurons] == before


def test_models_with_activations_the_reference_lacks_are_refused():
    model = TinyMLP(ReferenceNetwork.random([2, 1], ["tanh"], seed=0))
    model.layers[0].activation = "gelu"
    with pytest.raises(ValueError, match="layer 0 has activation 'gelu'"):
        ReferenceNetwork.from_model(model)
