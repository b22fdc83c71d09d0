"""How compile plans a batch (issue 15), each plan checked against the eager engine.

Chains of ``+`` become one node, independent nodes of one operation run together even
at different depths, work that does not depend on the row runs once per call, and
gradients that reach a node several times, from several groups or through several
blocks, all arrive.  Every number is compared with the eager engine on the same rows
(itself tested against NumPy central differences), to 1e-12 relative.
"""

from __future__ import annotations

import math

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

