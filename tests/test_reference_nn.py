"""nn models against the NumPy matrix-form reference: every parameter gradient to 1e-10."""

import numpy as np
import pytest

import nn
from nn.reference import ReferenceNetwork, compare_gradients


@pytest.mark.parametrize("nin, nouts, activation, output_activation", [
    (2, [4, 1], "tanh", "linear"),
    (3, [5, 4, 2], "relu", "sigmoid"),
    (1, [6, 6, 1], "leaky_relu", "tanh"),
    (4, [3, 3], "softplus", "linear"),
    (2, [8, 8, 1], "sigmoid", "sigmoid"),
    (5, [2], "linear", "relu"),
])
@pytest.mark.parametrize("loss, l2", [("half_sse", 0.0), ("mse", 0.0), ("half_sse", 0.3),
                                      ("mse", 2.0)])
def test_mlp_gradients_agree_with_the_reference(nin, nouts, activation, output_activation,
                                                loss, l2):
    seed = nin * 100 + len(nouts)
    rng = np.random.default_rng(seed)
    model = nn.MLP(nin, nouts, activation=activation, output_activation=output_activation,
                   seed=seed)
    # Non-zero biases, so that every path through the network is exercised.
    for p in model.parameters():
        p.data += rng.uniform(-0.3, 0.3)
    X = rng.normal(size=(9, nin))
    Y = rng.normal(size=(9, nouts[-1]))
    result = compare_gradients(model, X, Y, loss=loss, l2=l2)
    assert [c.layer for c in result.layers] == list(range(len(nouts)))
    assert sum(c.parameters for c in result.layers) == len(model.parameters())
    assert result.max_abs < 1e-10
    assert result.max_rel < 1e-10
    assert result.agrees(1e-10)
    # The engine's own loss value (nn.losses) equals the reference's cost.
    assert abs(result.engine_cost - result.reference_cost) < 1e-12 * max(1, result.reference_cost)


def test_compare_leaves_grad_alone_and_model_gradients_match_backward():
    model = nn.MLP(2, [3, 1], activation="tanh", seed=1)
    for p in model.parameters():
        p.grad = 0.0
    X = np.array([[0.5, -0.5], [1.0, 2.0], [-1.5, 0.25]])
    Y = np.array([0.3, -0.2, 0.9])
    compare_gradients(model, X, Y)
    assert all(p.grad == 0.0 for p in model.parameters())
    # The same cost through backward(): .grad equals the reference gradients.
    cost = sum(nn.half_sse([model(x.tolist())], [y]) for x, y in zip(X, Y)) / 3
    cost.backward()
    grad_w, grad_b = ReferenceNetwork.from_model(model).gradients(X, Y)
    for layer, gw, gb in zip(model.layers, grad_w, grad_b):
        np.testing.assert_allclose([[w.grad for w in n.w] for n in layer.neurons], gw,
                                   rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose([n.b.grad for n in layer.neurons], gb, rtol=1e-12,
                                   atol=1e-15)


def test_models_without_bias_are_compared_too():
    model = nn.MLP(3, [4, 2], activation="tanh", bias=False, seed=3)
    rng = np.random.default_rng(0)
    result = compare_gradients(model, rng.normal(size=(5, 3)), rng.normal(size=(5, 2)), l2=0.5)
    assert result.agrees(1e-10)
    assert all(c.max_abs_bias == 0.0 for c in result.layers)


def test_reference_and_model_convert_both_ways():
    model = nn.MLP(3, [4, 2], activation="relu", output_activation="sigmoid", seed=7)
    reference = ReferenceNetwork.from_model(model)
    assert reference.activations == ["relu", "sigmoid"]
    state = model.state_dict()
    for key, array in reference.state_dict().items():
        np.testing.assert_array_equal(array, state[key])
    X = np.random.default_rng(1).normal(size=(6, 3))
    np.testing.assert_allclose([[v.data for v in model(x)] for x in X.tolist()],
                               reference.predict(X), rtol=1e-14)

    # New matrices into the model, two ways: in place, and through load_state_dict.
    other = ReferenceNetwork.random([3, 4, 2], ["relu", "sigmoid"], seed=2)
    other.to_model(model)
    np.testing.assert_array_equal(model.state_dict()["layers.1.weight"], other.weights[1])
    fresh = nn.MLP(3, [4, 2], activation="relu", output_activation="sigmoid", seed=99)
    fresh.load_state_dict(other.state_dict())
    np.testing.assert_allclose([[v.data for v in fresh(x)] for x in X.tolist()],
                               other.predict(X), rtol=1e-14)
    again = ReferenceNetwork.from_state_dict(fresh.state_dict(), ["relu", "sigmoid"])
    np.testing.assert_array_equal(again.biases[0], other.biases[0])


def test_a_single_layer_and_a_single_neuron_convert():
    layer = nn.Layer(3, 2, activation="tanh", seed=0)
    neuron = nn.Neuron(3, activation="sigmoid", seed=0)
    X = np.random.default_rng(2).normal(size=(4, 3))
    Y = np.random.default_rng(3).normal(size=(4, 2))
    assert compare_gradients(layer, X, Y).agrees(1e-10)
    assert compare_gradients(neuron, X, Y[:, :1]).agrees(1e-10)
