"""Modules: the naming and ordering contract, micrograd's API, initialisation, input errors,
and forward passes and gradients checked against NumPy."""

import numpy as np
import pytest

import autograd
import nn
from autograd import Value


def numpy_forward(state, x, activations):
    """The network in matrix form from a PyTorch-layout state dict (independent of Values)."""
    funcs = {"relu": lambda z: np.maximum(z, 0.0), "tanh": np.tanh, "linear": lambda z: z,
             "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
             "leaky_relu": lambda z: np.where(z > 0, z, 0.01 * z),
             "softplus": lambda z: np.log1p(np.exp(z))}
    a = np.asarray(x, dtype=np.float64)
    for i, act in enumerate(activations):
        a = funcs[act](state[f"layers.{i}.weight"] @ a + state[f"layers.{i}.bias"])
    return a


def test_parameter_order_names_and_count():
    model = nn.MLP(2, [3, 1], seed=0)
    names = [name for name, _ in model.named_parameters()]
    assert names[:4] == ["layers.0.neurons.0.w.0", "layers.0.neurons.0.w.1",
                         "layers.0.neurons.0.b", "layers.0.neurons.1.w.0"]
    assert names[-1] == "layers.1.neurons.0.b"
    assert len(names) == (2 * 3 + 3) + (3 + 1) == model.num_parameters()
    # parameters(): layer by layer, neuron by neuron, weights then bias (micrograd's order)
    expected = [p for layer in model.layers for n in layer.neurons for p in n.w + [n.b]]
    assert all(a is b for a, b in zip(model.parameters(), expected))
    assert len(model.parameters()) == len(expected)
    assert [p.label for p in model.layers[0].neurons[0].parameters()] == ["w0", "w1", "b"]


def test_moons_model_has_337_parameters_and_a_readable_repr():
    model = nn.MLP(2, [16, 16, 1])
    assert model.num_parameters() == 2 * 16 + 16 + 16 * 16 + 16 + 16 + 1 == 337
    text = repr(model)
    assert "Layer(2 -> 16, relu)" in text and "Layer(16 -> 1, linear)" in text
    assert "337 parameters" in text


def test_scope_tags_group_values_by_layer_and_neuron():
    model = nn.MLP(2, [3, 1], seed=0)
    out = model([0.5, -1.0])
    assert out.op == "dot" and out.scope == "layers.1.neurons.0"
    hidden = [p for p in out.parents if p.op == "relu"]
    assert [h.scope for h in hidden] == [f"layers.0.neurons.{j}" for j in range(3)]
    assert hidden[1].parents[0].op == "dot"
    assert model.layers[0].neurons[1].w[0].scope == "layers.0.neurons.1"
    assert model.layers[0].path == "layers.0"
    assert model.layers[0].neurons[1].path == "layers.0.neurons.1"
    assert nn.Layer(2, 2)([1, 2])[1].scope == "layer.neurons.1"
    assert nn.Neuron(2)([1, 2]).scope == "neuron"
    with autograd.scope("model"):
        assert model([1, 2]).scope == "model.layers.1.neurons.0"


def test_a_neuron_called_alone_is_tagged_like_its_parameters():
    # Drawing one neuron of a trained MLP must give one box, not two with different names.
    model = nn.MLP(2, [3, 1], seed=0)
    neuron = model.layers[0].neurons[2]
    out = neuron([0.5, -1.0])
    assert out.scope == neuron.w[0].scope == neuron.b.scope == "layers.0.neurons.2"
    assert out.parents[0].scope == "layers.0.neurons.2"
    hidden = model.layers[0]([0.5, -1.0])
    assert [h.scope for h in hidden] == [f"layers.0.neurons.{j}" for j in range(3)]


def test_a_model_built_inside_a_scope_tags_its_values_like_its_parameters():
    # A Layer built inside scope('m') and called at the top level already did; an MLP
    # tagged its values 'layers.1.neurons.0' beside parameters 'm.layers.1.neurons.0'.
    with autograd.scope("m"):
        model = nn.MLP(2, [3, 1], seed=0)
        layer = nn.Layer(2, 2, seed=0)
    for out in (model([0.5, -1.0]), *layer([0.5, -1.0])):
        dots = [v for v in autograd.topological_order(out) if v.op == "dot"]
        assert dots and all(d.scope == d.parents[-1].scope for d in dots)  # bias's scope
    assert model([0.5, -1.0]).scope == "m.layers.1.neurons.0"
    with autograd.scope("k"):  # an enclosing scope still prefixes the layers
        assert model([0.5, -1.0]).scope == "k.layers.1.neurons.0"


def test_one_dot_node_per_neuron_then_the_activation():
    neuron = nn.Neuron(3, activation="tanh", seed=1)
    out = neuron([1.0, 2.0, 3.0])
    assert out.op == "tanh"
    dot = out.parents[0]
    assert dot.op == "dot" and len(dot.parents) == 7
    assert dot.parents[:3] == tuple(neuron.w) and dot.parents[-1] is neuron.b
    assert nn.Neuron(3, nonlin=False)([1, 2, 3]).op == "dot"


def test_micrograd_style_code_runs_unchanged():
    # The shape of micrograd's README / demo code.
    n = nn.MLP(3, [4, 4, 1])
    xs = [[2.0, 3.0, -1.0], [3.0, -1.0, 0.5], [0.5, 1.0, 1.0], [1.0, 1.0, -1.0]]
    ys = [1.0, -1.0, -1.0, 1.0]
    ypred = [n(x) for x in xs]
    loss = sum((yout - ygt) ** 2 for ygt, yout in zip(ys, ypred))
    n.zero_grad()
    loss.backward()
    for p in n.parameters():
        p.data += -0.05 * p.grad
    assert isinstance(n.layers[0].neurons[0].w, list)
    assert isinstance(n.layers[0].neurons[0].b, Value)
    assert n.layers[0].neurons[0].nonlin and not n.layers[-1].neurons[0].nonlin
    assert isinstance(n.layers[-1]([1, 2, 3, 4]), Value)
    assert isinstance(n.layers[0]([1, 2, 3]), list)


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "leaky_relu", "softplus",
                                        "linear"])
def test_forward_matches_numpy_matrix_form(activation):
    model = nn.MLP(3, [5, 4, 2], activation=activation, output_activation="tanh", seed=3)
    state = model.state_dict()
    rng = np.random.default_rng(7)
    for x in rng.normal(size=(5, 3)):
        got = [v.data for v in model(x)]
        want = numpy_forward(state, x, [activation, activation, "tanh"])
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)


def test_parameter_gradients_match_central_differences():
    model = nn.MLP(3, [4, 3, 1], activation="tanh", seed=5)
    x = [0.3, -0.7, 1.1]
    out = model(x)
    model.zero_grad()
    out.backward()
    state = model.state_dict()
    acts = ["tanh", "tanh", "linear"]
    eps = 1e-6
    for key, array in state.items():
        for index in np.ndindex(array.shape):
            plus = {k: v.copy() for k, v in state.items()}
            minus = {k: v.copy() for k, v in state.items()}
            plus[key][index] += eps
            minus[key][index] -= eps
            numeric = (numpy_forward(plus, x, acts) - numpy_forward(minus, x, acts))[0] / (2 * eps)
            layer = int(key.split(".")[1])
            neuron = model.layers[layer].neurons[index[0]]
            p = neuron.w[index[1]] if key.endswith("weight") else neuron.b
            assert p.grad == pytest.approx(numeric, rel=1e-6, abs=1e-9), (key, index)


def test_same_seed_same_weights_and_generator_reuse():
    a = nn.MLP(2, [8, 1], seed=42)
    b = nn.MLP(2, [8, 1], seed=42)
    c = nn.MLP(2, [8, 1], seed=43)
    assert [p.data for p in a.parameters()] == [p.data for p in b.parameters()]
    assert [p.data for p in a.parameters()] != [p.data for p in c.parameters()]
    # rng= draws from the caller's generator, exactly as seed= would from a fresh one
    d = nn.MLP(2, [8, 1], rng=np.random.default_rng(42))
    assert [p.data for p in a.parameters()] == [p.data for p in d.parameters()]
    first = np.random.default_rng(42).uniform(-1, 1, size=(8, 2))
    np.testing.assert_array_equal(a.state_dict()["layers.0.weight"], first)
    with pytest.raises(ValueError, match="seed= or rng="):
        nn.MLP(2, [1], seed=1, rng=np.random.default_rng(1))


def test_initialisations_have_their_documented_ranges():
    fan_in, fan_out = 200, 100
    uniform = nn.Layer(fan_in, fan_out, seed=0).state_dict()["weight"]
    assert uniform.min() >= -1 and uniform.max() <= 1 and uniform.std() == pytest.approx(
        1 / np.sqrt(3), rel=0.02)
    xavier = nn.Layer(fan_in, fan_out, init="xavier", seed=0).state_dict()["weight"]
    bound = np.sqrt(6 / (fan_in + fan_out))
    assert np.abs(xavier).max() <= bound
    assert xavier.std() == pytest.approx(bound / np.sqrt(3), rel=0.02)
    he = nn.Layer(fan_in, fan_out, init="he", seed=0).state_dict()["weight"]
    assert he.std() == pytest.approx(np.sqrt(2 / fan_in), rel=0.02)
    assert np.all(nn.Layer(fan_in, fan_out, init="he", seed=0).state_dict()["bias"] == 0)
    # Each class names itself (an MLP's mistake was reported by its first Layer).
    for make, where in ((lambda: nn.MLP(2, [1], init="glorot"), "MLP"),
                        (lambda: nn.Layer(2, 1, init="glorot"), "Layer"),
                        (lambda: nn.Neuron(2, init="glorot"), "Neuron")):
        with pytest.raises(ValueError, match=f"^{where}: unknown init 'glorot'; choose one of "
                                             "uniform, xavier, he$"):
            make()


def test_bias_false_has_no_bias_parameter():
    layer = nn.Layer(3, 2, bias=False, seed=0)
    assert layer.num_parameters() == 6
    assert set(layer.state_dict()) == {"weight"}
    x = [1.0, 2.0, 3.0]
    want = np.maximum(layer.state_dict()["weight"] @ np.array(x), 0)
    np.testing.assert_allclose([v.data for v in layer(x)], want, rtol=1e-14)


def test_wrong_inputs_get_errors_that_say_what_was_expected():
    model = nn.MLP(2, [3, 1])
    with pytest.raises(ValueError, match="MLP: expected 2 inputs, got 3"):
        model([1, 2, 3])
    with pytest.raises(TypeError, match="input 1 must be a number or a Value, got str 'a'"):
        model([1, "a"])
    with pytest.raises(TypeError, match="got NoneType"):
        model([None, 1])
    with pytest.raises(TypeError, match="expected a sequence of 2 numbers"):
        model("ab")
    with pytest.raises(ValueError, match="Layer 'layer': expected 4 inputs, got 2"):
        nn.Layer(4, 2)([1, 2])
    with pytest.raises(ValueError, match="input 0 is not finite"):
        model([float("nan"), 1])
    with pytest.raises(ValueError, match="unknown activation 'gelu'"):
        nn.Neuron(2, activation="gelu")
    with pytest.raises(ValueError, match="nouts must be a non-empty list"):
        nn.MLP(2, 3)
    with pytest.raises(ValueError, match="every layer size must be a positive integer"):
        nn.MLP(2, [3, 0])
    # numpy rows and Values are accepted
    assert model(np.array([1.0, 2.0])).data == model([Value(1.0), 2]).data


BATCH_HINT = "; a model takes one example at a time: [model(x) for x in X]"


@pytest.mark.parametrize("batch, came", [
    ([[1.0, 2.0]], ", got 1 row of inputs"),
    ([[1.0, 2.0], [3.0, 4.0]], ", got 2 rows of inputs"),      # as many rows as inputs
    ([[1.0, 2.0]] * 5, ", got 5 rows of inputs"),
    ((np.zeros(2),) * 3, ", got 3 rows of inputs"),
    (np.zeros((4, 2)), " as a flat sequence, got an array of shape (4, 2)"),
])
def test_a_batch_where_one_example_belongs_is_named(batch, came):
    # The newcomer's mistake model(X): say what came and how to call the model instead.
    with pytest.raises(ValueError) as info:
        nn.MLP(2, [3, 1], seed=0)(batch)
    assert str(info.value) == f"MLP: expected 2 inputs{came}{BATCH_HINT}"


def test_one_list_among_numbers_is_not_called_a_batch():
    with pytest.raises(TypeError, match=r"^MLP: input 1 must be a number or a Value, got list"):
        nn.MLP(2, [3, 1], seed=0)([1.0, [2.0]])


def test_zero_grad_clears_every_parameter():
    model = nn.MLP(2, [3, 1], seed=0)
    model([1.0, 2.0]).backward()
    assert any(p.grad != 0 for p in model.parameters())
    model.zero_grad()
    assert all(p.grad == 0 for p in model.parameters())


def test_custom_module_lists_its_attributes_in_assignment_order():
    class Pair(nn.Module):
        def __init__(self):
            self.first = nn.Neuron(2, name="first")
            self.scale = Value(2.0)
            self.extra = [Value(1.0), Value(3.0)]

        def __call__(self, x):
            return self.first(x) * self.scale

    pair = Pair()
    names = [name for name, _ in pair.named_parameters()]
    assert names == ["first.w.0", "first.w.1", "first.b", "scale", "extra.0", "extra.1"]


def test_shared_parameters_and_modules_are_listed_once():
    class Tied(nn.Module):
        def __init__(self):
            self.encoder = nn.Neuron(2, seed=0, name="encoder")
            self.again = self.encoder          # the same module twice
            self.weights = [self.encoder.w[0]]  # and one of its weights again
            self.me = self                      # a cycle must not hang the walk

    tied = Tied()
    assert [name for name, _ in tied.named_parameters()] == [
        "encoder.w.0", "encoder.w.1", "encoder.b"]
    nn.SGD(tied.parameters(), lr=0.1)  # no "appears twice" error


def test_dot_accepts_numbers_mixed_with_values():
    # A neuron's inputs may be plain numbers: the engine lifts them; all-Value lists (the
    # fast path) and mixed lists give the same node.
    w = [Value(0.5), Value(-2.0)]
    mixed = autograd.dot(w, [3.0, Value(4.0)], 1.0)
    assert mixed.data == 0.5 * 3.0 - 2.0 * 4.0 + 1.0
    mixed.backward()
    assert [p.grad for p in w] == [3.0, 4.0]
    assert len(mixed.parents) == 5 and mixed.parents[:2] == tuple(w)
