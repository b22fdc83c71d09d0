"""How compile plans a batch (issue 15), each plan checked against the eager engine.

Chains of ``+`` become one node, independent nodes of one operation run together even
at different depths, work that does not depend on the row runs once per call, and
gradients that reach a node several times, from several groups or through several
blocks, all arrive.  Every number is compared with the eager engine on the same rows
(itself tested against NumPy central differences), to 1e-12 relative.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from compilehelpers import assert_close, eager_batch

import autograd
import nn
from autograd import Value
from autograd.compile import register_vectorized


def assert_matches_eager(fn, nargs, rows, params):
    values, mean, grads = eager_batch(fn, rows, params)
    c = autograd.compile(fn, nargs)
    assert_close(c(rows), values)
    assert_close(c.backward(rows), mean)
    assert_close([p.grad for p in params], grads)
    assert np.all(grads != 0.0)  # every parameter is really exercised
    for p in params:
        p.grad = 0.0
    return c


def rows(n_rows: int, n_cols: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1.5, 1.5, size=(n_rows, n_cols))


@pytest.mark.parametrize("length", [3, 40, 300])
def test_chains_of_plus_become_one_node_whatever_their_length(length):
    rng = np.random.default_rng(length)
    params = [Value(v) for v in rng.uniform(-1.0, 1.0, size=length)]

    def fn(x, y):
        penalty = sum(p * p for p in params)             # batch-constant: 0 + p0^2 + ...
        per_row = sum(p * x for p in params[: length // 2 + 1])  # per row: 0 + p0 x + ...
        return per_row + y * penalty

    c = assert_matches_eager(fn, 2, rows(30, 2), params)
    # The squares, the products, the penalty's sum, y * penalty, and one sum of the
    # products and y * penalty (the last + continues the per-row chain): the count does
    # not grow with the chains' length.
    assert [op for _, op, _ in c.groups] == ["*", "*", "+", "*", "+"], c.groups
    assert c.groups[-1] == (4, "+", 1)


def test_a_partial_sum_used_twice_is_kept():
    w, v = Value(0.7), Value(-1.3)

    def fn(x, y):
        partial = w * x + v * y       # used by two nodes: not absorbed into the chain
        return (partial + x + y) * partial

    assert_matches_eager(fn, 2, rows(25, 2, seed=1), [w, v])


def test_independent_nodes_of_one_operation_run_together_at_different_depths():
    w, v = Value(0.4), Value(-0.9)

    def fn(x):
        near = (w * x).tanh()             # depth 2
        far = ((v * x) * x).tanh()        # depth 3: independent of `near`
        return near * far

    c = assert_matches_eager(fn, 1, rows(20, 1, seed=2), [w, v])
    assert [n for _, op, n in c.groups if op == "tanh"] == [2]  # one group of both


@pytest.fixture
def shapes_seen(fresh_ops):
    """A primitive whose NumPy rule notes the shape of every array it is given."""
    seen: list[tuple[int, ...]] = []

    @autograd.primitive(derivative=lambda x, out: 3.0 * x * x, name="cube_noting")
    def cube(x):
        return x ** 3

    def forward(x, param):
        seen.append(x.shape)
        return x ** 3

    register_vectorized("cube_noting", forward, lambda x, out, param: (3.0 * x * x,))
    return cube, seen


def test_work_that_does_not_depend_on_the_row_runs_once_per_call(shapes_seen):
    cube, seen = shapes_seen
    w, v = Value(0.8), Value(-0.6)

    def fn(x):
        constant_part = cube(w) + cube(v)   # parameters only: the same for every row
        return x * constant_part + cube(x * w)

    c = assert_matches_eager(fn, 1, rows(50, 1, seed=3), [w, v])
    seen.clear()
    c.backward(rows(50, 1, seed=4))
    # The two cubes of parameters ran as one array of one number per node, not one per
    # row; the cube of the per-row x * w got the whole batch.
    assert sorted(seen) == [(1, 50), (2, 1)]


def test_gradients_that_reach_a_node_several_times_all_arrive():
    w, v, u = Value(0.5), Value(-0.8), Value(1.1)

    def fn(x, y):
        a = (w * x).tanh()
        b = (v * y).exp()
        m = u * x
        # One group of three '-' nodes reads m three times; one group of '+' nodes reads
        # a and b, which live in two different groups, and a twice.
        diffs = [a - m, b - m, (a * b) - m]
        sums = [a + x, b + y, a + y]
        return autograd.sum_values(diffs) * autograd.sum_values(sums)

    assert_matches_eager(fn, 2, rows(30, 2, seed=5), [w, v, u])


def test_a_dot_of_batch_constants_with_a_per_row_bias():
    w, v, b = Value(0.3), Value(-0.7), Value(1.9)

    def fn(x):
        return autograd.dot([w, v], [w, b], x * b).sigmoid()

    assert_matches_eager(fn, 1, rows(20, 1, seed=6), [w, v, b])


def test_a_rule_whose_result_ignores_the_shape_of_its_input(fresh_ops):
    @autograd.primitive(derivative=lambda x, out: 0.0, name="seven")
    def seven(x):
        return 7.0

    register_vectorized("seven", lambda x, param: np.float64(7.0),
                        lambda x, out, param: (0.0,))
    w = Value(0.5)

    def fn(x):
        return seven(w * x) * (w * x)

    assert_matches_eager(fn, 1, rows(10, 1, seed=7), [w])


def test_a_layer_runs_as_one_layer_group_with_the_general_dot_groups_numbers(monkeypatch):
    # Three layers (the last one node wide: its input gradient is an outer product)
    # take LayerGroup's shortcut; forced onto the general DotGroup, the same plan must
    # give the same bits, and both agree with the eager engine.
    from autograd.compile import batch

    model = nn.MLP(3, [4, 4, 1], activation="tanh", seed=3)
    for p, v in zip(model.parameters(), np.random.default_rng(3).uniform(-1, 1, 41)):
        p.data = v  # biases too (nn starts them at 0)

    def fn(a, b, c):
        return model([a, b, c])

    data = rows(25, 3, seed=7)
    params = model.parameters()
    layered = assert_matches_eager(fn, 3, data, params)
    assert [type(g).__name__ for g in layered._plan.groups if g.name == "dot"] == \
        ["LayerGroup"] * 3
    values, mean = layered(data), layered.backward(data)
    grads = [p.grad for p in params]
    for p in params:
        p.grad = 0.0

    monkeypatch.setattr(batch.LayerGroup, "fits", staticmethod(lambda terms, bias: False))
    general = autograd.compile(fn, 3)
    np.testing.assert_array_equal(general(data), values)
    assert not any(type(g).__name__ == "LayerGroup" for g in general._plan.groups)
    assert general.backward(data) == mean
    assert [p.grad for p in params] == grads


def _unchained(monkeypatch):
    """Plans as they were before layers ran as chains: every group on its own."""
    from autograd.compile import plan as planning

    monkeypatch.setattr(planning, "_chain_layers",
                        lambda groups, readers, sizes, root_block: list(groups))


def _steps(c):
    return [type(step).__name__ for step in c._plan.steps]


def _mlp(activation, sizes=(4, 4, 1), seed=3):
    model = nn.MLP(2, list(sizes), activation=activation, seed=seed)
    rng = np.random.default_rng(seed)
    for p in model.parameters():
        p.data = rng.uniform(-1.0, 1.0)  # biases too (nn starts them at 0)
    return model


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_a_networks_layers_run_as_one_chain_with_the_groups_numbers(monkeypatch, activation):
    # dot, act, dot, act, dot run as one LayerChain: the same NumPy calls as the five
    # groups, so the same bits, and eager's numbers.
    model = _mlp(activation)

    def fn(a, b, label):
        return (1.0 - label * model([a, b])).relu()

    data = np.column_stack([rows(40, 2, seed=8), np.where(rows(40, 1, seed=9) > 0, 1.0, -1.0)])
    params = model.parameters()
    chained = assert_matches_eager(fn, 3, data, params)
    assert _steps(chained)[0] == "LayerChain" and len(chained._plan.steps) == 4
    assert [op for _, op, _ in chained.groups][:5] == ["dot", activation, "dot", activation, "dot"]
    values, mean = chained(data), chained.backward(data)
    grads = [p.grad for p in params]
    for p in params:
        p.grad = 0.0

    _unchained(monkeypatch)
    separate = autograd.compile(fn, 3)
    np.testing.assert_array_equal(separate(data), values)
    assert "LayerChain" not in _steps(separate)
    assert separate.backward(data) == mean
    assert [p.grad for p in params] == grads


def test_an_l2_penalty_between_the_layers_runs_first_and_the_chain_still_forms():
    # The batch-constant groups of nn.l2_penalty are scheduled between the layers; they
    # touch no block, so they run before the chain.
    model = _mlp("relu", seed=4)
    params = model.parameters()

    def fn(a, b):
        return model([a, b]).tanh() + nn.l2_penalty(params, 1e-3)

    c = assert_matches_eager(fn, 2, rows(30, 2, seed=10), params)
    steps = _steps(c)
    assert "LayerChain" in steps
    chain = c._plan.steps[steps.index("LayerChain")]
    assert len(chain.stages) == 3
    assert all(step.out_const for step in c._plan.steps[:steps.index("LayerChain")])


def test_a_layer_whose_output_is_read_elsewhere_ends_the_chain():
    # h, the first activation, is also read by the '+': the chain stops before the layer
    # that reads h, and the numbers stay eager's.
    first, second = _mlp("tanh", sizes=(3, 1), seed=5).layers  # first: tanh, second: linear

    def fn(a, b):
        h = first([a, b])
        return second(h) + h[0]

    c = assert_matches_eager(fn, 2, rows(25, 2, seed=11), first.parameters() + second.parameters())
    chain, = [step for step in c._plan.steps if type(step).__name__ == "LayerChain"]
    assert [(layer.name, act.name) for layer, act in chain.stages] == [("dot", "tanh")]


def test_an_activation_with_a_domain_is_not_chained():
    # log can fail (and must name its row): it runs as its own group.
    model = _mlp("relu", sizes=(3,), seed=7)

    def fn(a, b):
        return autograd.sum_values([v.exp().log() for v in model([a, b])])

    c = assert_matches_eager(fn, 2, rows(20, 2, seed=12), model.parameters())
    for step in c._plan.steps:
        if type(step).__name__ == "LayerChain":
            assert all(act is None or act.name == "relu" for _, act in step.stages)


def test_a_sum_that_fails_inside_a_chain_names_the_row_as_the_groups_did(monkeypatch):
    # The second layer's exact sum overflows on row 2 only: the chain reports it as the
    # dot group did, with eager's message and the row.
    model = _mlp("relu", sizes=(2, 1), seed=8)
    (w00, w01, b0), (w10, w11, b1), (v0, v1, c0) = (n.parameters() for layer in model.layers
                                                     for n in layer.neurons)
    for p, value in zip((w00, w01, b0, w10, w11, b1, v0, v1, c0),
                        (0.2, 0.0, 0.0, 0.0, 0.2, 0.0, 1e308, 1e308, 0.0)):
        p.data = value

    def fn(a, b):
        return model([a, b])

    # Row 2: h = (0.9, 0.9), and 0.9e308 + 0.9e308 is beyond the largest float; a
    # product that is already infinite (row 4) is no failure, as in eager: without row 2
    # the chain runs on to eager's infinite value.
    X = np.array([[0.0, 0.0], [1e-3, 0.0], [4.5, 4.5], [0.0, 1e-3], [1e10, 0.0]])
    fine = np.vstack([X[[0, 1, 3, 4]], [[math.inf, 0.0]]])  # and an infinite h, first
    got = autograd.compile(fn, 2)(fine)
    np.testing.assert_array_equal(got, [fn(*[Value(v) for v in row]).data for row in fine])
    assert got[3] == math.inf
    c = autograd.compile(fn, 2, first_check=1)
    with pytest.raises(autograd.DomainError) as chained_error:
        c.backward(X)
    assert "LayerChain" in _steps(c)
    with pytest.raises(autograd.DomainError) as eager_error:
        fn(*[Value(v) for v in X[2]])
    assert str(chained_error.value) == f"{eager_error.value} (in row 2 of the batch)"
    _unchained(monkeypatch)
    with pytest.raises(autograd.DomainError) as separate_error:
        autograd.compile(fn, 2, first_check=1).backward(X)
    assert str(separate_error.value) == str(chained_error.value)



# -- Chains under stress: each plan's numbers against the eager engine on the same rows,
# or against NumPy central differences of the compiled mean.

def _net(act1, act2, seed: int = 20, sizes: tuple[int, ...] = (2, 3, 2)):
    """A three-layer network written out with autograd.dot (its own activations per
    layer, nonzero biases) and its parameters in order."""
    rng = np.random.default_rng(seed)
    nin, h1, h2 = sizes
    W1 = [[Value(v) for v in rng.uniform(-1, 1, nin)] for _ in range(h1)]
    b1 = [Value(v) for v in rng.uniform(-1, 1, h1)]
    W2 = [[Value(v) for v in rng.uniform(-1, 1, h1)] for _ in range(h2)]
    b2 = [Value(v) for v in rng.uniform(-1, 1, h2)]
    W3, b3 = [Value(v) for v in rng.uniform(-1, 1, h2)], Value(0.3)

    def fn(*x):
        h = [act1(autograd.dot(w, list(x), b)) for w, b in zip(W1, b1)]
        h = [act2(autograd.dot(w, h, b)) for w, b in zip(W2, b2)]
        return autograd.dot(W3, h, b3)

    params = [p for row in W1 for p in row] + b1 + [p for row in W2 for p in row] + b2
    return fn, params + W3 + [b3]


def _chain_stages(c) -> list[int]:
    return [len(step.stages) for step in c._plan.steps if type(step).__name__ == "LayerChain"]


def _calls_give(c, data, expected, params) -> np.ndarray:
    """c(data) and c.backward(data) give eager's (values, mean, grads); the gradients
    they added, the parameters' .grad cleared again."""
    values, mean, grads = expected
    assert_close(c(data), values)
    assert_close(c.backward(data), mean)
    got = np.array([p.grad for p in params])
    assert_close(got, grads)
    for p in params:
        p.grad = 0.0
    return got


@pytest.mark.parametrize("batch", [1, 2, 3])
def test_a_chain_on_a_batch_of_one_to_three_rows(batch):
    # One row: every array is (nodes, 1), the shape batch-constant groups also have, and
    # the one-node last layer's input gradient is an outer product. The root is the
    # chain's last activation (its seeded gradient is scaled in place).
    model = _mlp("tanh", seed=21)  # tanh: on one row, relu leaves units with no slope

    def fn(a, b):
        return model([a, b]).sigmoid()

    c = assert_matches_eager(fn, 2, rows(batch, 2, seed=22), model.parameters())
    assert _chain_stages(c) == [3]


ACTIVATIONS = {
    "leaky_relu 0.2": lambda v: v.leaky_relu(0.2),   # a parameter, and slope alpha below 0
    "leaky_relu 0.05": lambda v: v.leaky_relu(0.05),
    "neg": lambda v: -v,                             # a constant slope (-1.0, a float)
    "abs": abs,
    "softplus": lambda v: v.softplus(),
    "atan": autograd.atan,
}


@pytest.mark.parametrize("first, second", [("leaky_relu 0.2", "leaky_relu 0.05"),
                                           ("neg", "abs"), ("softplus", "atan")])
def test_activations_with_a_parameter_or_a_constant_slope_chain_with_eagers_numbers(
        monkeypatch, first, second):
    fn, params = _net(ACTIVATIONS[first], ACTIVATIONS[second])
    data = rows(40, 2, seed=23)
    chained = assert_matches_eager(fn, 2, data, params)
    assert _chain_stages(chained) == [3]
    values, mean = chained(data), chained.backward(data)
    grads = [p.grad for p in params]
    for p in params:
        p.grad = 0.0
    _unchained(monkeypatch)  # the same NumPy calls one group at a time: the same bits
    separate = autograd.compile(fn, 2)
    np.testing.assert_array_equal(separate(data), values)
    assert separate.backward(data) == mean
    assert [p.grad for p in params] == grads


def test_saturated_sigmoid_and_tanh_in_a_chain_give_eagers_zero_slopes():
    # Inputs 10,000 times too large: the first layer's sigmoid outputs are exactly 1 or
    # nearly 0, their slopes 0 or below 1e-40, which the chain multiplies into its
    # gradient in place.
    fn, params = _net(autograd.sigmoid, autograd.tanh, seed=24)
    data = 1e4 * rows(30, 2, seed=25)
    expected = eager_batch(fn, data, params)
    c = autograd.compile(fn, 2)
    got = _calls_give(c, data, expected, params)
    assert _chain_stages(c) == [3]
    grads = expected[2]
    assert np.all(np.abs(grads[:9]) < 1e-40) and np.all(grads[9:] != 0.0)
    assert_close(got[:9], grads[:9])  # the first layer's, on their own scale


def test_a_chains_last_block_read_by_two_later_groups():
    # h2 (the second activation) ends the chain: the last layer reads it, and so do a
    # product and a tanh; its gradient gathers all three before the chain runs back.
    rng = np.random.default_rng(26)
    W1 = [[Value(v) for v in rng.uniform(-1, 1, 2)] for _ in range(3)]
    W2 = [[Value(v) for v in rng.uniform(-1, 1, 3)] for _ in range(2)]
    b1, b2 = [Value(v) for v in rng.uniform(-1, 1, 3)], [Value(v) for v in rng.uniform(-1, 1, 2)]
    W3, b3 = [Value(0.6), Value(-0.8)], Value(0.1)
    params = [p for row in W1 + W2 for p in row] + b1 + b2 + W3 + [b3]

    def fn(a, b):
        h = [autograd.dot(w, [a, b], c).tanh() for w, c in zip(W1, b1)]
        h = [autograd.dot(w, h, c).sigmoid() for w, c in zip(W2, b2)]
        return autograd.dot(W3, h, b3) * h[0] + h[1].tanh()

    c = assert_matches_eager(fn, 2, rows(30, 2, seed=27), params)
    chain, = [s for s in c._plan.steps if type(s).__name__ == "LayerChain"]
    assert [act.name for _, act in chain.stages] == ["tanh", "sigmoid"]


def test_weights_computed_in_fn_between_the_stages_are_ready_for_the_chain():
    # The second layer's weights are tanh(1.5 p), computed in fn: a batch-constant group
    # scheduled between the first layer and its activation, which the chain's second
    # stage reads from the store. It runs before the chain (and its backward after).
    _, params = _net(autograd.tanh, autograd.relu, seed=28)
    W1, b1 = [params[0:2], params[2:4], params[4:6]], params[6:9]
    W2, b2, W3, b3 = [params[9:12], params[12:15]], params[15:17], params[17:19], params[19]

    def fn(a, b):
        h = [autograd.dot(w, [a, b], c).tanh() for w, c in zip(W1, b1)]
        computed = [[(1.5 * p).tanh() for p in row] for row in W2]
        h = [autograd.dot(w, h, c).relu() for w, c in zip(computed, b2)]
        return autograd.dot(W3, h, b3)

    c = assert_matches_eager(fn, 2, rows(30, 2, seed=29), params)
    kinds = [(g.name, g.out_const) for g in c._plan.groups]
    first_dot = kinds.index(("dot", False))
    assert ("tanh", True) in kinds[first_dot:]  # really between the stages
    assert _chain_stages(c) == [3]
    chain_at = [type(s).__name__ for s in c._plan.steps].index("LayerChain")
    assert all(s.out_const for s in c._plan.steps[:chain_at])


def test_two_networks_in_one_fn_run_their_layers_side_by_side():
    # Their first layers read the same inputs: one dot group of both (a chain of one
    # stage with its tanh), their second layers one general dot group.
    first, second = _mlp("tanh", seed=30), _mlp("tanh", seed=31)
    params = first.parameters() + second.parameters()

    def fn(a, b):
        return first([a, b]) + second([a, b]).tanh()

    c = assert_matches_eager(fn, 2, rows(30, 2, seed=32), params)
    assert c.groups[0] == (1, "dot", 8)


def test_a_parameter_shared_by_every_layer_plus_l2_against_central_differences():
    # One square weight matrix and bias applied three times (tied layers: every stage of
    # the chain adds into the same slots), and an L2 penalty whose batch-constant groups
    # run before the chain. Against eager, and the mean's gradient against NumPy central
    # differences of the compiled mean itself.
    rng = np.random.default_rng(33)
    W = [[Value(v) for v in rng.uniform(-0.9, 0.9, 3)] for _ in range(3)]
    bias = [Value(v) for v in rng.uniform(-0.5, 0.5, 3)]
    params = [p for row in W for p in row] + bias

    def fn(a, b, c):
        h = [a, b, c]
        for _ in range(3):
            h = [autograd.dot(w, h, v).tanh() for w, v in zip(W, bias)]
        return autograd.sum_values(h) + nn.l2_penalty(params, 1e-2)

    data = rows(25, 3, seed=34)
    c = assert_matches_eager(fn, 3, data, params)
    assert _chain_stages(c) == [3]
    c.backward(data)
    grads = np.array([p.grad for p in params])
    step = 1e-6
    for k, p in enumerate(params):
        held = p.data
        p.data = held + step
        up = c.backward(data)
        p.data = held - step
        down = c.backward(data)
        p.data = held
        assert (up - down) / (2 * step) == pytest.approx(grads[k], rel=1e-7, abs=1e-9)


def _same_non_finite(actual, expected):
    """NaN where expected is NaN, the same infinities, the finite entries to 1e-12."""
    actual, expected = np.asarray(actual, float), np.asarray(expected, float)
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))
    np.testing.assert_array_equal(np.isinf(actual) * np.sign(actual),
                                  np.isinf(expected) * np.sign(expected))
    finite = np.isfinite(expected)
    assert_close(actual[finite], expected[finite])


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_nan_and_infinite_inputs_through_a_chain_give_eagers_nan_and_inf(activation):
    # Positive weights, so an infinite input stays one infinity (no inf - inf for dot's
    # exact sum to refuse); NaN rows stay NaN. Row by row and in the gradients, as eager.
    rng = np.random.default_rng(35)
    W1 = [Value(v) for v in rng.uniform(0.1, 1, 4)]
    W2 = [[Value(v) for v in rng.uniform(0.1, 1, 4)] for _ in range(3)]
    b1, b2 = [Value(v) for v in rng.uniform(-1, 1, 4)], [Value(v) for v in rng.uniform(-1, 1, 3)]
    W3, b3 = [Value(v) for v in rng.uniform(0.1, 1, 3)], Value(0.2)
    params = W1 + b1 + [p for row in W2 for p in row] + b2 + W3 + [b3]

    def fn(a, scale):
        h = [getattr(autograd.dot([w], [a], c), activation)() for w, c in zip(W1, b1)]
        h = [getattr(autograd.dot(w, h, c), activation)() for w, c in zip(W2, b2)]
        return autograd.dot(W3, h, b3) * scale

    data = np.column_stack([rng.uniform(-2, 2, 9), rng.uniform(0.5, 2, 9)])
    data[2, 0], data[4, 0], data[5, 0], data[7, 1] = math.nan, math.inf, -math.inf, math.nan
    c = autograd.compile(fn, 2)
    expected = [fn(*[Value(v) for v in row]).data for row in data.tolist()]
    got = c(data)
    _same_non_finite(got, expected)
    assert np.isnan(got).sum() == 2 and np.isfinite(got).sum() >= 6
    finite_rows = data[[0, 1, 3, 4, 6, 8]]  # an infinite input, no NaN: inf, not NaN
    _, mean, grads = eager_batch(fn, finite_rows, params)
    _same_non_finite(c.backward(finite_rows), mean)
    _same_non_finite([p.grad for p in params], grads)
    for p in params:
        p.grad = 0.0
    assert _chain_stages(c) == [3]


def test_check_all_retraces_every_row_and_the_chain_still_gives_eagers_numbers():
    model = _mlp("tanh", sizes=(5, 4, 1), seed=36)
    data = rows(20, 2, seed=37)
    params = model.parameters()

    def fn(a, b):
        return model([a, b])

    expected = eager_batch(fn, data, params)
    c = autograd.compile(fn, 2, check="all")
    for _ in range(2):
        _calls_give(c, data, expected, params)
    assert _chain_stages(c) == [3]


def test_forward_and_backward_alternating_across_the_kept_array_size():
    # 16-node layers: 1,024 rows and more make a 128 KiB block, whose call's arrays are
    # kept until the next call ends; fewer, freed at once. Calls of both kinds and sizes,
    # forward only and backward, one after the other: each gives eager's numbers.
    model = _mlp("relu", sizes=(16, 16, 1), seed=38)
    params = model.parameters()

    def fn(a, b, label):
        return (1.0 - label * model([a, b])).relu()

    rng = np.random.default_rng(39)
    batches = {}
    for n in (1000, 1100, 3, 1024, 1023):
        X = np.column_stack([rng.uniform(-2, 2, (n, 2)), rng.choice([-1.0, 1.0], n)])
        batches[n] = (X, eager_batch(fn, X, params))
    c = autograd.compile(fn, 3)
    for n in (1000, 1100, 1000, 3, 1100, 1024, 1023, 1100, 3):
        X, expected = batches[n]
        _calls_give(c, X, expected, params)
        assert (c._last_arrays is not None) == (n >= 1024)
    assert _chain_stages(c) == [3]


@pytest.mark.parametrize("stage", [0, 2])
def test_a_sum_that_fails_in_the_first_or_last_stage_names_eagers_row(stage):
    # One neuron's exact sum is beyond the largest float on row 3 only (its two terms
    # are 0.9e308 each): in the chain's first stage, or in its last. The chain stops
    # there and the error is eager's, with the row.
    model = _mlp("relu", sizes=(2, 2, 1), seed=40)
    for layer in model.layers:
        for n in layer.neurons:
            for p, v in zip(n.parameters(), (0.5, 0.5, 0.0)):
                p.data = v
    neuron = model.layers[stage].neurons[0]
    big = 1e308 if stage == 0 else 0.5e308  # the last layer reads 1.8 on row 3
    for p, v in zip(neuron.parameters(), (big, big, 0.0)):
        p.data = v

    def fn(a, b):
        return model([a, b])

    data = np.array([[0.1, 0.2], [0.3, -0.1], [0.2, 0.2], [0.9, 0.9], [0.1, 0.1]])
    if stage == 2:
        data[3] = [1.8, 1.8]  # hidden values 1.8 after two layers of 0.5 a + 0.5 b
    c = autograd.compile(fn, 2, first_check=1)
    c(data[:1])
    assert _chain_stages(c) == [3]
    with pytest.raises(autograd.DomainError) as compiled:
        c.backward(data)
    with pytest.raises(autograd.DomainError) as eager:
        fn(*[Value(v) for v in data[3]])
    for row in data[:3].tolist():
        fn(*[Value(v) for v in row])  # the rows before it are fine
    assert str(compiled.value) == f"{eager.value} (in row 3 of the batch)"


def test_a_primitive_with_a_domain_and_no_numpy_rule_in_a_chain_names_eagers_row(fresh_ops):
    # A user primitive without a NumPy rule runs its scalar rule element by element (no
    # domain check of its own, so it may be a chain's activation); where that raises, the
    # error is eager's, with the row.
    @autograd.primitive(derivative=lambda x, out: 0.5 / out, name="root_of")
    def root_of(x):
        return math.sqrt(x)

    rng = np.random.default_rng(41)
    W1 = [[Value(v) for v in rng.uniform(0.1, 1.0, 2)] for _ in range(3)]
    W2 = [[Value(0.3) for _ in range(3)] for _ in range(2)]  # distinct: a layer's slots
    b1, b2 = [Value(0.1) for _ in range(3)], [Value(0.5), Value(0.5)]
    W3 = [Value(0.7), Value(-0.4)]

    def fn(a, b):
        h = [autograd.dot(w, [a, b], c).tanh() for w, c in zip(W1, b1)]
        h = [root_of(autograd.dot(w, h, c)) for w, c in zip(W2, b2)]
        return autograd.dot(W3, h, 0.0)

    data = rng.uniform(0.0, 1.0, (10, 2))
    data[6], data[8] = [-10.0, -10.0], [-10.0, -9.0]  # tanh -> -1: 0.5 - 0.9 < 0
    c = autograd.compile(fn, 2, first_check=1)
    c.backward(data[:3])
    assert _chain_stages(c) == [3]
    with pytest.raises(autograd.DomainError) as compiled:
        c.backward(data)
    with pytest.raises(autograd.DomainError) as eager:
        fn(*[Value(v) for v in data[6]])
    assert str(compiled.value) == f"{eager.value} (in row 6 of the batch)"


def test_layers_without_biases_chain_with_eagers_numbers():
    # dot(w, h) adds the constant 0.0: the biases are constants in the store, one per
    # node, and receive no gradient.
    _, params = _net(autograd.tanh, autograd.relu, seed=42)
    W1, W2, W3 = [params[0:2], params[2:4], params[4:6]], [params[9:12], params[12:15]], \
        params[17:19]

    def fn(a, b):
        h = [autograd.dot(w, [a, b]).tanh() for w in W1]
        h = [autograd.dot(w, h).relu() for w in W2]
        return autograd.dot(W3, h)

    weights = [p for row in W1 + W2 for p in row] + W3
    c = assert_matches_eager(fn, 2, rows(30, 2, seed=43), weights)
    assert _chain_stages(c) == [3]


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_rows_whose_values_add_up_beyond_the_largest_float_give_inf_without_a_warning(
        reduction):
    # backward's one errstate covers the sum of the rows' values too: 1e308 + 1.5e308 is
    # inf, as NumPy's float sum says, and no RuntimeWarning escapes. The gradient is
    # finite: d (w x_1 + w x_2) / dw = x_1 + x_2 (divided by 2 for the mean).
    w = Value(1e308)
    c = autograd.compile(lambda x: w * x, 1)
    X = np.array([[1.0], [1.5]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(c(X), [1e308, 1.5e308])
        assert c.backward(X, reduction=reduction) == math.inf
    assert w.grad == (2.5 if reduction == "sum" else 1.25)


@pytest.mark.parametrize("also_read", ["nothing", "x0", "x2"])
def test_a_chain_whose_inputs_are_computed_in_fn_passes_their_gradient_on(also_read):
    # The network reads tanh(u a), tanh(u b): its first stage's input gradient becomes
    # that block's gradient ('own'), or, when the loss reads the block too (its group runs
    # later, so backward reaches the block first), is added to it ('add'): to all of it,
    # or to the network's two rows of three (x2, tanh(v a), lives in the same block).
    model = _mlp("tanh", seed=44)
    u, v = Value(0.8), Value(-0.3)

    def fn(a, b):
        x = [(u * a).tanh(), (u * b).tanh(), (v * a).tanh()]
        if also_read == "nothing":
            return model(x[:2])
        return model(x[:2]) + x[0] if also_read == "x0" else model(x[:2]) * x[2]

    params = model.parameters() + [u] + ([v] if also_read == "x2" else [])
    c = assert_matches_eager(fn, 2, rows(20, 2, seed=45), params)
    chain, = [s for s in c._plan.steps if type(s).__name__ == "LayerChain"]
    assert len(chain.stages) == 3
    assert chain.first.inputs.modes == (["own"] if also_read == "nothing" else ["add"])
