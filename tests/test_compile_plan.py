"""How compile plans a batch (issue 15), each plan checked against the eager engine.

Chains of ``+`` become one node, independent nodes of one operation run together even
at different depths, work that does not depend on the row runs once per call, and
gradients that reach a node several times, from several groups or through several
blocks, all arrive.  Every number is compared with the eager engine on the same rows
(itself tested against NumPy central differences), to 1e-12 relative.
"""

from __future__ import annotations

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
