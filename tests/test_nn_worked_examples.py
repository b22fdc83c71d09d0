"""The seeds' worked examples, reproduced against numbers computed independently here.

1. A single weight w fitted to inputs 0, 1, 2 and targets 0, 2, 4 (the seed's tables try
   w = 3, 4 and 2 by hand; gradient descent then finds w = 2).
2. The 2-2-2 sigmoid network trained by hand (inputs 0.05 and 0.10, targets 0.01 and 0.99,
   learning rate 0.5, error = half the sum of squared errors).  The initial weights are
   the ones of that classic example: w1..w4 = 0.15, 0.20, 0.25, 0.30 into the hidden layer
   with bias 0.35, w5..w8 = 0.40, 0.45, 0.50, 0.55 into the outputs with bias 0.60.
   The reference is a plain-Python hand computation written below (no engine involved),
   and the published figures of that example (to the 9 digits they were printed with).
"""

import math

import pytest

import nn
from autograd import Value

# -- 1. the single weight -------------------------------------------------------------------

INPUTS = [0.0, 1.0, 2.0]
TARGETS = [0.0, 2.0, 4.0]


@pytest.mark.parametrize("w, squared_errors", [(3.0, [0, 1, 4]), (4.0, [0, 4, 16]),
                                               (2.0, [0, 0, 0])])
def test_single_weight_tables(w, squared_errors):
    # The seed's tables: output w * x, squared error (output - target)^2 for each row.
    neuron = nn.Neuron(1, activation="linear", bias=False)
    neuron.w[0].data = w
    got = [(neuron([x]).data - t) ** 2 for x, t in zip(INPUTS, TARGETS)]
    assert got == squared_errors


def test_single_weight_gradient_descent_converges_to_two():
    # L(w) = mean (w x - t)^2 = (5/3)(w - 2)^2, so dL/dw = (10/3)(w - 2) and one step of
    # size 0.1 maps w - 2 to (2/3)(w - 2): w_k = 2 + (w_0 - 2)(2/3)^k, exactly.
    neuron = nn.Neuron(1, activation="linear", bias=False)
    neuron.w[0].data = 3.0
    history = nn.fit(neuron, [[x] for x in INPUTS], TARGETS, loss="mse",
                     optimizer=nn.SGD(neuron.parameters(), lr=0.1), epochs=60, verbose=False)
    assert history.stop_reason == "max_epochs"
    # The epoch-k loss is measured before step k: (5/3)(w_k - 2)^2.
    for k, loss in enumerate(history.loss):
        assert loss == pytest.approx(5.0 / 3.0 * (2.0 / 3.0) ** (2 * k), rel=1e-9)
    assert neuron.w[0].data == pytest.approx(2.0 + (2.0 / 3.0) ** 60, rel=1e-12)
    assert abs(neuron.w[0].data - 2.0) < 1e-10


def test_single_weight_going_up_makes_it_worse():
    # The seed's reasoning: from w = 3 the error grows towards 4 and shrinks towards 2;
    # the engine's gradient has the sign that says so.
    w = Value(3.0)
    loss = sum(((w * x - t) ** 2 for x, t in zip(INPUTS, TARGETS)), Value(0.0))
    loss.backward()
    assert loss.data == 5.0  # 0 + 1 + 4
    assert w.grad == 2 * (1 * 1 + 2 * 2)  # sum 2 x (w x - t) = 10 > 0: decrease w


# -- 2. the 2-2-2 sigmoid network ------------------------------------------------------------

I1, I2 = 0.05, 0.10
T1, T2 = 0.01, 0.99
W = [0.15, 0.20, 0.25, 0.30, 0.40, 0.45, 0.50, 0.55]  # w1..w8
B1, B2 = 0.35, 0.60
LR = 0.5


def sig(z):
    return 1.0 / (1.0 + math.exp(-z))


def hand_computation():
    """Forward pass, every weight and bias gradient, and one update, by the chain rule."""
    w1, w2, w3, w4, w5, w6, w7, w8 = W
    out_h1 = sig(w1 * I1 + w2 * I2 + B1)
    out_h2 = sig(w3 * I1 + w4 * I2 + B1)
    out_o1 = sig(w5 * out_h1 + w6 * out_h2 + B2)
    out_o2 = sig(w7 * out_h1 + w8 * out_h2 + B2)
    error = 0.5 * (T1 - out_o1) ** 2 + 0.5 * (T2 - out_o2) ** 2
    # delta_o = dE/dout_o * dout_o/dnet_o
    delta_o1 = (out_o1 - T1) * out_o1 * (1 - out_o1)
    delta_o2 = (out_o2 - T2) * out_o2 * (1 - out_o2)
    # a hidden neuron collects the output deltas through the weights it feeds
    delta_h1 = (delta_o1 * w5 + delta_o2 * w7) * out_h1 * (1 - out_h1)
    delta_h2 = (delta_o1 * w6 + delta_o2 * w8) * out_h2 * (1 - out_h2)
    grads = {
        "w1": delta_h1 * I1, "w2": delta_h1 * I2, "w3": delta_h2 * I1, "w4": delta_h2 * I2,
        "w5": delta_o1 * out_h1, "w6": delta_o1 * out_h2,
        "w7": delta_o2 * out_h1, "w8": delta_o2 * out_h2,
        "b_h1": delta_h1, "b_h2": delta_h2, "b_o1": delta_o1, "b_o2": delta_o2,
    }
    return (out_h1, out_h2, out_o1, out_o2, error), grads


def build_network():
    model = nn.MLP(2, [2, 2], activation="sigmoid", output_activation="sigmoid", seed=0)
    model.load_state_dict({
        "layers.0.weight": [[W[0], W[1]], [W[2], W[3]]], "layers.0.bias": [B1, B1],
        "layers.1.weight": [[W[4], W[5]], [W[6], W[7]]], "layers.1.bias": [B2, B2],
    })
    return model


def engine_gradients(model):
    (h1, h2), (o1, o2) = model.layers[0].neurons, model.layers[1].neurons
    return {
        "w1": h1.w[0].grad, "w2": h1.w[1].grad, "w3": h2.w[0].grad, "w4": h2.w[1].grad,
        "w5": o1.w[0].grad, "w6": o1.w[1].grad, "w7": o2.w[0].grad, "w8": o2.w[1].grad,
        "b_h1": h1.b.grad, "b_h2": h2.b.grad, "b_o1": o1.b.grad, "b_o2": o2.b.grad,
    }


def test_222_forward_pass_matches_hand_and_published_numbers():
    model = build_network()
    hidden = model.layers[0]([I1, I2])
    outputs = model([I1, I2])
    error = nn.half_sse(outputs, [T1, T2])
    (out_h1, out_h2, out_o1, out_o2, e), _ = hand_computation()
    assert [v.data for v in hidden] == pytest.approx([out_h1, out_h2], rel=1e-14)
    assert [v.data for v in outputs] == pytest.approx([out_o1, out_o2], rel=1e-14)
    assert error.data == pytest.approx(e, rel=1e-14)
    # The figures printed in the classic example.
    assert out_h1 == pytest.approx(0.593269992, abs=1e-9)
    assert out_h2 == pytest.approx(0.596884378, abs=1e-9)
    assert out_o1 == pytest.approx(0.75136507, abs=1e-8)
    assert out_o2 == pytest.approx(0.772928465, abs=1e-9)
    assert e == pytest.approx(0.298371109, abs=1e-9)


def test_222_every_gradient_matches_the_hand_computation():
    model = build_network()
    error = nn.half_sse(model([I1, I2]), [T1, T2])
    model.zero_grad()
    error.backward()
    _, hand = hand_computation()
    got = engine_gradients(model)
    for name, value in hand.items():
        assert got[name] == pytest.approx(value, rel=1e-12), name
    assert hand["w5"] == pytest.approx(0.082167041, abs=1e-9)  # the example's dE/dw5


def test_222_one_update_step_matches_hand_and_published_numbers():
    model = build_network()
    optimizer = nn.SGD(model.parameters(), lr=LR)
    error = nn.half_sse(model([I1, I2]), [T1, T2])
    optimizer.zero_grad()
    error.backward()
    optimizer.step()
    _, hand = hand_computation()
    expected = {f"w{i + 1}": W[i] - LR * hand[f"w{i + 1}"] for i in range(8)}
    (h1, h2), (o1, o2) = model.layers[0].neurons, model.layers[1].neurons
    got = {"w1": h1.w[0].data, "w2": h1.w[1].data, "w3": h2.w[0].data, "w4": h2.w[1].data,
           "w5": o1.w[0].data, "w6": o1.w[1].data, "w7": o2.w[0].data, "w8": o2.w[1].data}
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, rel=1e-13), name
    assert h1.b.data == pytest.approx(B1 - LR * hand["b_h1"], rel=1e-13)
    assert o2.b.data == pytest.approx(B2 - LR * hand["b_o2"], rel=1e-13)
    # The updated weights printed in the classic example (both layers use the old w5..w8).
    published = {"w1": 0.149780716, "w2": 0.19956143, "w3": 0.24975114, "w4": 0.29950229,
                 "w5": 0.35891648, "w6": 0.408666186, "w7": 0.511301270, "w8": 0.561370121}
    for name, value in published.items():
        assert got[name] == pytest.approx(value, abs=1e-8), name
