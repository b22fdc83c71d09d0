"""Initialisation follows Python's `random` without `seed=` (as micrograd's does), and
the lecture's tanh network (`all_layers='tanh'`) trains on the lecture's four examples.

The peer for the weights is micrograd 0.1.0 itself: after the same `random.seed`, its
`MLP`, `Layer` and `Neuron` draw one `random.uniform(-1, 1)` per weight in the order
chainrule draws them, so the two models hold the same numbers.
"""

from __future__ import annotations

import random

import micrograd.nn
import numpy as np
import pytest

import nn

XS = [[2.0, 3.0, -1.0], [3.0, -1.0, 0.5], [0.5, 1.0, 1.0], [1.0, 1.0, -1.0]]
YS = [1.0, -1.0, -1.0, 1.0]


def weights(model) -> list[float]:
    return [p.data for p in model.parameters()]


def test_random_seed_repeats_a_model():
    random.seed(1337)
    first = weights(nn.MLP(3, [4, 4, 1]))
    random.seed(1337)
    again = weights(nn.MLP(3, [4, 4, 1]))
    random.seed(1338)
    other = weights(nn.MLP(3, [4, 4, 1]))
    assert first == again
    assert first != other


@pytest.mark.parametrize("build", [
    lambda m: m.MLP(3, [4, 4, 1]),
    lambda m: m.Layer(3, 5),
    lambda m: m.Neuron(4),
], ids=["MLP", "Layer", "Neuron"])
def test_after_random_seed_the_weights_are_micrograds(build):
    random.seed(1337)
    theirs = [float(p.data) for p in build(micrograd.nn).parameters()]
    random.seed(1337)
    ours = weights(build(nn))
    assert ours == theirs  # bit for bit: the same draws in the same order


def test_random_state_after_building_matches_micrograd():
    # Both consumed exactly the same number of draws: what comes next is the same.
    random.seed(7)
    micrograd.nn.MLP(2, [3, 1])
    theirs = random.random()
    random.seed(7)
    nn.MLP(2, [3, 1])
    assert random.random() == theirs


@pytest.mark.parametrize("init", ["xavier", "he"])
def test_other_inits_follow_random_too(init):
    random.seed(3)
    first = weights(nn.MLP(2, [8, 1], init=init))
    random.seed(3)
    assert weights(nn.MLP(2, [8, 1], init=init)) == first
    bound = np.sqrt(6.0 / (2 + 8))
    if init == "xavier":
        assert max(abs(w) for w in first[:24]) <= bound


def test_seed_gives_its_own_stream_untouched_by_random_seed():
    random.seed(1)
    a = weights(nn.MLP(3, [4, 1], seed=5))
    after = random.random()
    random.seed(2)
    b = weights(nn.MLP(3, [4, 1], seed=5))
    assert a == b
    # seed= draws nothing from Python's random: the next number is the seed's first.
    random.seed(1)
    assert random.random() == after
    # ... and it is NumPy's stream for that seed (unchanged from before).
    expected = np.random.default_rng(5).uniform(-1.0, 1.0, size=(4, 3))
    assert a[:3] == expected[0].tolist()


def test_rng_is_its_own_stream_too():
    random.seed(1)
    a = weights(nn.Neuron(3, rng=np.random.default_rng(9)))
    random.seed(2)
    assert weights(nn.Neuron(3, rng=np.random.default_rng(9))) == a


def test_all_layers_puts_one_activation_everywhere():
    model = nn.MLP(3, [4, 4, 1], all_layers="tanh", seed=0)
    assert [layer.activation for layer in model.layers] == ["tanh", "tanh", "tanh"]
    assert model(XS[0]).op == "tanh"
    explicit = nn.MLP(3, [4, 4, 1], activation="tanh", output_activation="tanh", seed=0)
    assert model.describe() == explicit.describe()
    assert model(XS[1]).data == explicit(XS[1]).data


def test_all_layers_refuses_a_second_choice():
    with pytest.raises(ValueError, match="MLP: give all_layers= or activation="):
        nn.MLP(3, [4, 1], activation="sigmoid", all_layers="tanh")
    with pytest.raises(ValueError, match="MLP: unknown activation 'gelu'"):
        nn.MLP(3, [4, 1], all_layers="gelu")


def lecture_loop(model, steps: int, lr: float) -> tuple[float, list[float]]:
    for _ in range(steps):
        ypred = [model(x) for x in XS]
        loss = sum((yout - ygt) ** 2 for ygt, yout in zip(YS, ypred))
        model.zero_grad()
        loss.backward()
        for p in model.parameters():
            p.data += -lr * p.grad
    ypred = [model(x) for x in XS]
    return sum((y.data - t) ** 2 for y, t in zip(ypred, YS)), [y.data for y in ypred]


def test_the_lecture_network_trains_for_every_seed_docs_nn_states():
    # docs/nn.md: over random.seed(0..99), 50 steps at lr 0.05 end below 0.05 (the
    # worst is 0.031) with all four points on the right side of 0.
    worst = 0.0
    for s in range(100):
        random.seed(s)
        loss, preds = lecture_loop(nn.MLP(3, [4, 4, 1], all_layers="tanh"), 50, 0.05)
        assert all((p > 0) == (t > 0) for p, t in zip(preds, YS)), s
        worst = max(worst, loss)
    assert worst < 0.05


def test_micrograds_library_network_sticks_on_the_lecture_loop():
    # Why the docs send the lecture's loop to the tanh network (docs/nn.md's figure).
    random.seed(1337)
    loss, preds = lecture_loop(nn.MLP(3, [4, 4, 1]), 50, 0.05)
    assert abs(loss - 8 / 3) < 1e-6  # a constant 1/3 on three points, -1 on one
    assert not all((p > 0) == (t > 0) for p, t in zip(preds, YS))
