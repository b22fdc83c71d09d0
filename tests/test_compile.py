"""autograd.compile: batch evaluation with NumPy must equal the eager engine.

The reference for every number is the eager engine on the same rows, which is itself
tested against NumPy central differences; the MLP test adds a hand-written NumPy
matrix-form backpropagation as an independent second reference.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import autograd
from autograd import OPS, DomainError, GraphMismatchError, Value
from autograd.compile import VECTORIZED, register_vectorized

BUILTINS = ["+", "-", "*", "/", "neg", "**", "pow", "exp", "log", "sqrt", "tanh",
            "sigmoid", "relu", "leaky_relu", "softplus", "sin", "cos", "abs", "sum", "dot"]

RTOL = 1e-12


def eager_values(fn, X):
    return np.array([fn(*[Value(v) for v in row]).data for row in X])


def eager_mean_and_grads(fn, X, params):
    for p in params:
        p.grad = 0.0
    mean = sum(fn(*[Value(v) for v in row]) for row in X) / len(X)
    mean.backward()
    return mean.data, np.array([p.grad for p in params])


def compiled_mean_and_grads(c, X, params):
    for p in params:
        p.grad = 0.0
    mean = c.backward(X)
    return mean, np.array([p.grad for p in params])


def assert_close(actual, expected, rtol=RTOL):
    actual = np.asarray(actual, dtype=float)
    expected = np.asarray(expected, dtype=float)
    # Relative to the largest magnitude in play, so that a value that happens to be
    # near zero is not held to a relative error its rounding cannot meet.
    scale = max(np.max(np.abs(expected), initial=0.0), 1e-300)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)


def assert_matches_eager(fn, nargs, X, params, **options):
    c = autograd.compile(fn, nargs, **options)
    assert_close(c(X), eager_values(fn, X))
    mean_c, grads_c = compiled_mean_and_grads(c, X, params)
    mean_e, grads_e = eager_mean_and_grads(fn, X, params)
    assert_close(mean_c, mean_e)
    assert_close(grads_c, grads_e)
    assert np.all(grads_e != 0.0) or not params  # every parameter is really exercised
    return c


# --------------------------------------------------------------------------------------
# Every built-in operation, compiled, equals eager (values, mean and parameter grads).
# --------------------------------------------------------------------------------------

def op_case(name: str, rng: np.random.Generator):
    """A small function exercising `name` with per-row inputs and parameters."""
    w = Value(0.8, "w")
    b = Value(0.3, "b")
    v = Value(-0.6, "v")
    params = [w, b, v]
    positive = rng.uniform(0.5, 2.0, size=(12, 2))
    mixed = rng.uniform(-2.0, 2.0, size=(12, 2))
    unary = {"exp": Value.exp, "log": Value.log, "sqrt": Value.sqrt, "tanh": Value.tanh,
             "sigmoid": Value.sigmoid, "relu": Value.relu, "softplus": Value.softplus,
             "sin": Value.sin, "cos": Value.cos, "abs": abs, "neg": lambda t: -t,
             "leaky_relu": lambda t: t.leaky_relu(0.1)}
    if name in unary:
        f = unary[name]
        X = positive if name in ("log", "sqrt") else mixed
        # v * y keeps the second input and v in play whatever the operation does.
        return (lambda x, y: f(w * x + b) + v * y), 2, X, params
    if name in ("+", "-", "*", "/"):
        binary = {"+": lambda p, q: p + q, "-": lambda p, q: p - q,
                  "*": lambda p, q: p * q, "/": lambda p, q: p / q}[name]
        return (lambda x, y: binary(w * x + b, v * y)), 2, positive, params
    if name == "**":
        return (lambda x, y: (w * x + b) ** 2.5 + (v * y) ** 3), 2, mixed ** 2 + 0.1, params
    if name == "pow":
        return (lambda x, y: (w * x + b) ** (v * y) + 2.0 ** (w * y)), 2, positive, params
    if name == "sum":
        # Repeated and batch-constant terms, and a parameter that appears twice.
        return (lambda x, y: autograd.sum_values([w * x, y, v, x, w * x, b * b, v])), \
            2, mixed, params
    if name == "dot":
        return (lambda x, y: autograd.dot([w, x, v, w], [x, y, b, y], b)), 2, mixed, params
    raise AssertionError(f"no test case for operation {name!r}")


def test_every_builtin_operation_has_a_vectorised_rule():
    assert set(BUILTINS) <= set(OPS)
    assert set(BUILTINS) <= set(VECTORIZED)


@pytest.mark.parametrize("name", BUILTINS)
def test_compiled_operation_equals_eager(name):
    fn, nargs, X, params = op_case(name, np.random.default_rng(len(name)))
    c = assert_matches_eager(fn, nargs, X, params)
    assert any(op == name for _, op, _ in c.groups)


# --------------------------------------------------------------------------------------
# Each vectorised rule against the engine's scalar rule, point by point.
# --------------------------------------------------------------------------------------

SPECIAL = [0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 3.0, 1e-8, 40.0, -40.0, 700.0, -745.0, 1000.0]


def points(name: str, rng: np.random.Generator) -> list[tuple]:
    op = OPS[name]
    if name == "sum":
        return [tuple(rng.normal(size=k)) for k in (1, 3, 5)]
    if name == "dot":
        return [tuple(rng.normal(size=2 * k + 1)) for k in (0, 1, 4)]
    singles = SPECIAL + list(rng.normal(scale=3.0, size=20))
    if op.arity == 1 and not op.has_param:
        return [(x,) for x in singles]
    if op.has_param:  # ** n and leaky_relu(alpha)
        params = [2.0, 3.0, -1.0, 0.5, -0.5, 0.0] if name == "**" else [0.01, 0.2]
        return [(x, p) for x in singles for p in params]
    seconds = [0.0, 2.0, -3.0, 0.5, 1.5, -0.25, 400.0]
    return [(x, y) for x in singles for y in seconds]


def scalar_reference(name: str, args: tuple):
    """(forward, derivatives) from the engine's scalar rules, or None where it raises."""
    op = OPS[name]
    try:
        if op.check is not None:
            op.check(*args)
        out = op.forward(*args)
    except DomainError:
        return None
    if op.has_param:
        local = op.derivative(*args[:-1], out, args[-1])
    else:
        local = op.derivative(*args, out)
    return out, [float(d) for d in local]


def same_float(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= RTOL * max(abs(a), abs(b), 1e-300)


@pytest.mark.parametrize("name", BUILTINS)
def test_vectorised_rule_equals_scalar_rule(name):
    rule = VECTORIZED[name]
    op = OPS[name]
    checked = 0
    for args in points(name, np.random.default_rng(7)):
        inputs = args[:-1] if op.has_param else args
        param = args[-1] if op.has_param else None
        arrays = [np.array([[x]]) for x in inputs]
        with np.errstate(all="ignore"):
            out = np.asarray(rule.forward(*arrays, param), dtype=float)
            invalid = (False if rule.invalid is None
                       else bool(np.any(rule.invalid(*arrays, out, param))))
            expected = scalar_reference(name, args)
            assert invalid == (expected is None), (name, args)
            if expected is None:
                continue
            local = rule.derivative(*arrays, out, param)
        assert same_float(float(out.ravel()[0]), expected[0]), (name, args, out, expected)
        assert len(local) == len(expected[1])
        for got, want in zip(local, expected[1]):
            got = float(np.broadcast_to(np.asarray(got, dtype=float), (1, 1))[0, 0])
            assert same_float(got, want), (name, args, got, want)
        checked += 1
    assert checked >= 3


NON_FINITE = [math.inf, -math.inf, math.nan, 1e308, -1e308]


@pytest.mark.parametrize("name", [n for n in BUILTINS if n not in ("sum", "dot")]
                         + ["atan", "maximum", "minimum"])
def test_vectorised_rule_on_a_whole_batch_equals_scalar_rule(name):
    """The same points as one array: a rule may check the whole batch in one pass before
    it builds a mask (exp, log) or read its slopes from whole-array arithmetic (maximum,
    minimum), so valid and invalid entries, ties and infinities are mixed in one call."""
    op = OPS[name]
    rng = np.random.default_rng(11)
    pts = points(name, rng)
    extra = NON_FINITE + [0.0, 2.0]
    if op.arity == 1 and not op.has_param:
        pts += [(x,) for x in extra]
    elif not op.has_param:
        pts += [(x, y) for x in extra for y in extra]
    by_param: dict = {}
    for args in pts:
        by_param.setdefault(args[-1] if op.has_param else None, []).append(args)
    for param, group in by_param.items():
        inputs = list(zip(*[a[:-1] if op.has_param else a for a in group]))
        arrays = [np.array([column]) for column in inputs]  # shape (1, batch)
        with np.errstate(all="ignore"):
            out = np.asarray(VECTORIZED[name].forward(*arrays, param), dtype=float)
            mask = (None if VECTORIZED[name].invalid is None
                    else VECTORIZED[name].invalid(*arrays, out, param))
            slopes = VECTORIZED[name].derivative(*arrays, out, param)
        flagged = (np.zeros(out.shape, dtype=bool) if mask is None
                   else np.broadcast_to(np.asarray(mask, dtype=bool), out.shape))
        for k, args in enumerate(group):
            try:
                expected = scalar_reference(name, args)
            except (ArithmeticError, ValueError):
                expected = None
            assert bool(flagged[0, k]) == (expected is None), (name, args)
            if expected is None:
                continue
            assert same_float(float(out[0, k]), expected[0]), (name, args)
            for got, want in zip(slopes, expected[1]):
                got = float(np.broadcast_to(np.asarray(got, dtype=float), out.shape)[0, k])
                assert same_float(got, want), (name, args, got, want)


# --------------------------------------------------------------------------------------
# A multi-layer perceptron made of dot nodes, as nn builds it.
# --------------------------------------------------------------------------------------

def make_mlp(sizes, rng):
    return [[([Value(rng.uniform(-1, 1)) for _ in range(nin)], Value(rng.uniform(-1, 1)))
             for _ in range(nout)] for nin, nout in zip(sizes[:-1], sizes[1:])]


def mlp_params(layers):
    return [p for layer in layers for w, b in layer for p in (*w, b)]


def run_mlp(layers, inputs, hidden="tanh"):
    h = list(inputs)
    for depth, layer in enumerate(layers):
        h = [autograd.dot(w, h, b) for w, b in layer]
        if depth < len(layers) - 1:
            h = [getattr(v, hidden)() for v in h]
    return h


def numpy_mlp_mean_loss_and_grads(layers, X, y):
    """Matrix-form backpropagation of the mean squared error, written independently."""
    Ws = [np.array([[p.data for p in w] for w, _ in layer]) for layer in layers]
    bs = [np.array([b.data for _, b in layer]) for layer in layers]
    acts = [X]
    zs = []
    for k, (W, b) in enumerate(zip(Ws, bs)):
        z = acts[-1] @ W.T + b
        zs.append(z)
        acts.append(np.tanh(z) if k < len(Ws) - 1 else z)
    out = acts[-1][:, 0]
    loss = np.mean((out - y) ** 2)
    delta = (2.0 * (out - y) / len(y))[:, None]
    grads = []
    for k in range(len(Ws) - 1, -1, -1):
        gW = delta.T @ acts[k]
        gb = delta.sum(axis=0)
        grads.append((gW, gb))
        if k:
            delta = (delta @ Ws[k]) * (1.0 - np.tanh(zs[k - 1]) ** 2)
    grads.reverse()
    flat = []
    for gW, gb in grads:
        for row, bias in zip(gW, gb):
            flat.extend(row)
            flat.append(bias)
    return loss, np.array(flat)


def test_mlp_matches_eager_and_numpy_backprop():
    rng = np.random.default_rng(3)
    layers = make_mlp([3, 8, 6, 1], rng)
    params = mlp_params(layers)
    X = rng.normal(size=(40, 3))
    y = rng.normal(size=40)
    data = np.column_stack([X, y])

    def loss(a, b, c, target):
        (out,) = run_mlp(layers, [a, b, c])
        return (out - target) ** 2

    compiled = assert_matches_eager(loss, 4, data, params)
    mean, grads = compiled_mean_and_grads(compiled, data, params)
    ref_loss, ref_grads = numpy_mlp_mean_loss_and_grads(layers, X, y)
    assert_close(mean, ref_loss, rtol=1e-12)
    assert_close(grads, ref_grads, rtol=1e-12)
    # Each layer's neurons are one fused dot group, evaluated as one matrix product.
    dots = [(depth, n) for depth, op, n in compiled.groups if op == "dot"]
    assert [n for _, n in dots] == [8, 6, 1]


def test_relu_and_abs_graphs_compile_across_their_kinks():
    rng = np.random.default_rng(5)
    layers = make_mlp([2, 5, 1], rng)
    params = mlp_params(layers)
    X = rng.normal(size=(30, 2))

    def f(a, b):
        (out,) = run_mlp(layers, [a, b], hidden="relu")
        return abs(out) + a.relu() * b.leaky_relu(0.2)

    assert_matches_eager(f, 2, X, params, check="all")


def test_parameter_updates_are_seen_and_gradients_accumulate():
    w = Value(2.0)
    c = autograd.compile(lambda x: w * x * x, 1)
    X = np.array([[1.0], [2.0], [3.0]])
    np.testing.assert_array_equal(c(X), [2.0, 8.0, 18.0])
    w.data = -1.0  # as an optimizer step would
    np.testing.assert_array_equal(c(X), [-1.0, -4.0, -9.0])
    assert c.backward(X) == pytest.approx(-14.0 / 3.0, rel=1e-15)
    assert c.backward(X) == pytest.approx(-14.0 / 3.0, rel=1e-15)
    # d mean / dw = mean(x^2) = 14/3, accumulated over the two calls as eager does.
    assert w.grad == pytest.approx(2 * 14.0 / 3.0, rel=1e-15)
    assert c.parameters == [w]


def test_sum_reduction_equals_eager_sum():
    w = Value(0.3)
    b = Value(-0.2)
    X = np.random.default_rng(9).normal(size=(7, 1))

    def f(x):
        return (w * x + b).sigmoid() + b * b  # b * b: batch-constant, counted once per row

    c = autograd.compile(f, 1)
    w.grad = b.grad = 0.0
    total = c.backward(X, reduction="sum")
    compiled = [w.grad, b.grad]
    w.grad = b.grad = 0.0
    eager = sum(f(Value(row[0])) for row in X)
    eager.backward()
    assert_close(total, eager.data)
    assert_close(compiled, [w.grad, b.grad])
    with pytest.raises(ValueError, match="reduction must be 'mean' or 'sum', got 'max'"):
        c.backward(X, reduction="max")


def test_constants_inside_fn_and_batch_constant_subgraphs():
    w = Value(1.5)

    def f(x):
        penalty = 0.01 * (w * w)  # depends on the parameter only: computed once per call
        return (x - 3.0) * w + penalty + Value(2.0)

    X = np.arange(5.0).reshape(5, 1)
    c = assert_matches_eager(f, 1, X, [w])
    assert c.parameters == [w]


def test_outputs_that_are_leaves():
    w = Value(4.0)
    X = np.array([[1.0, 2.0], [3.0, 4.0]])
    c = autograd.compile(lambda x, y: y, 2)
    np.testing.assert_array_equal(c(X), [2.0, 4.0])
    assert c.backward(X) == 3.0
    c = autograd.compile(lambda x, y: w, 2)
    np.testing.assert_array_equal(c(X), [4.0, 4.0])
    assert c.backward(X) == 4.0 and w.grad == 1.0


def test_compiling_under_no_grad_still_records():
    w = Value(3.0)
    with autograd.no_grad():
        c = autograd.compile(lambda x: w * x, 1)
        np.testing.assert_array_equal(c(np.array([[2.0]])), [6.0])


# --------------------------------------------------------------------------------------
# Graphs that depend on the data are refused.
# --------------------------------------------------------------------------------------

def test_functions_that_never_look_at_numbers_are_traced_only_on_the_first_call():
    calls = []
    w = Value(0.5)

    def f(x, y):
        calls.append(1)
        return (w * x + y).tanh() * x.relu()

    c = autograd.compile(f, 2)
    X = np.random.default_rng(0).normal(size=(20, 2))
    c(X)
    first = len(calls)
    c(X)
    c.backward(X)
    w.data = -2.0
    c.backward(X)
    assert len(calls) == first and c.data_reads == []


def look_by_comparing(x):
    return x > 0


def look_by_float(x):
    return float(x)


def look_by_data(x):
    return x.data


def look_by_grad(x):
    return x.grad


def look_by_repr(x):
    return repr(x)


def look_by_formatting(x):
    return f"{x:.3f}"


def look_by_detaching(x):
    return x.detach()


def look_under_no_grad(x):
    with autograd.no_grad():
        return x * 2.0


@autograd.no_grad()
def twice_without_recording(x):
    return x * 2.0


def look_through_a_no_grad_function(x):
    return twice_without_recording(x)


@pytest.mark.parametrize("look, what", [
    (look_by_comparing, "__gt__"), (look_by_float, "__float__"), (look_by_data, ".data"),
    (look_by_grad, ".grad"), (look_by_repr, "__repr__"), (look_by_detaching, "detach"),
    (look_by_formatting, "__format__"),
    (look_under_no_grad, "no_grad"), (look_through_a_no_grad_function, "no_grad"),
])
def test_every_way_of_looking_at_a_number_is_noted(look, what):
    w = Value(1.5)

    def f(x):
        look(x)  # looks, then builds the same graph anyway
        return w * x

    c = autograd.compile(f, 1)
    calls_before = list(c.data_reads)
    c(np.array([[1.0], [2.0]]))
    assert calls_before == [] and len(c.data_reads) == 1
    assert c.data_reads[0].startswith(what + " at ")
    assert "test_compile.py" in c.data_reads[0] or "engine.py" in c.data_reads[0]
    assert_matches_eager(f, 1, np.array([[1.0], [-2.0], [3.0]]), [w])


def test_higher_order_gradients_inside_fn_are_noted_and_checked():
    w = Value(0.5)

    def slope(x):
        # d relu(w x) / dw as a graph: relu's slope is the constant 1 or 0 by the sign of
        # w x, so rows of different sign build different graphs.
        return autograd.grad((w * x).relu(), w, create_graph=True) * w

    X = np.array([[1.0], [2.0], [3.0], [-1.0]])
    c = autograd.compile(slope, 1, first_check=1)
    c(X[:3])  # all positive rows: one shape
    assert any(read.startswith("grad(create_graph=True)") for read in c.data_reads)
    with pytest.raises(GraphMismatchError, match="row 3"):
        for _ in range(4):
            c(X)  # the per-call check walks through the rows and meets the negative one
    assert autograd.engine._observers == []  # the trace's observer is gone again


def test_the_watch_leaves_value_as_it_was_even_when_fn_fails():
    names = ["data", "grad", "__lt__", "__gt__", "__float__", "__repr__", "detach"]
    before = {name: Value.__dict__[name] for name in names}

    def f(x):
        if x > 0:
            raise RuntimeError("fn failed")
        return x

    with pytest.raises(RuntimeError, match="fn failed"):
        autograd.compile(f, 1)(np.ones((2, 1)))
    assert {name: Value.__dict__[name] for name in names} == before
    assert Value(2.0).data == 2.0


def test_watches_nest_and_run_one_thread_at_a_time():
    import threading

    names = ["data", "grad", "__lt__", "__gt__", "__float__", "__repr__", "detach"]
    before = {name: Value.__dict__[name] for name in names}
    w = Value(0.5)
    inner = autograd.compile(lambda x: w * x, 1)

    def outer_fn(x):
        # A first call of another compiled function inside a trace: a nested watch.
        inner(np.array([[x.data], [2.0]]))
        return w * x + 1.0

    results = {}

    def work(k):
        c = autograd.compile(lambda x: (w * x).tanh() if x > -100 else x, 1)
        results[k] = c(np.arange(4.0).reshape(4, 1))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    outer = autograd.compile(outer_fn, 1)
    values = outer(np.array([[1.0], [3.0]]))
    for t in threads:
        t.join()
    np.testing.assert_allclose(values, [1.5, 2.5], rtol=1e-15)
    assert any(".data" in read for read in outer.data_reads)
    for k in range(4):
        np.testing.assert_allclose(results[k], np.tanh(0.5 * np.arange(4.0)), rtol=1e-15)
    assert {name: Value.__dict__[name] for name in names} == before


def test_branch_on_input_data_is_detected():
    def f(x):
        if x > 0:  # a Python if on the data: another graph for negative rows
            return x * 2.0
        return -x

    X = np.array([[1.0], [2.0], [-3.0], [4.0]])
    with pytest.raises(GraphMismatchError, match=r"row \d.*depends on the data"):
        autograd.compile(f, 1)(X)


def test_node_count_depending_on_data_is_detected():
    def f(x):
        out = x
        for _ in range(int(x.data)):
            out = out * x
        return out

    with pytest.raises(GraphMismatchError, match="nodes"):
        autograd.compile(f, 1).backward(np.array([[1.0], [2.0]]))


def test_constant_taken_from_the_data_is_detected():
    w = Value(1.0)
    X = np.array([[1.0], [2.0]])
    with pytest.raises(GraphMismatchError, match="constant"):
        autograd.compile(lambda x: w * x.detach(), 1)(X)


def _exp_through_math(x):
    return x * math.exp(x)  # the slip: math.exp turns x into a plain float


def _exp_of_data_through_math(x):
    return x * math.exp(x.data)  # the same slip, reading .data itself


def _mismatch_message(fn, X, **options):
    with pytest.raises(GraphMismatchError) as info:
        autograd.compile(fn, 1, **options)(X)
    return str(info.value)


@pytest.mark.parametrize("fn", [_exp_through_math, _exp_of_data_through_math])
def test_a_math_function_on_a_value_is_named_as_the_likely_cause(fn):
    # exp(row 0) and exp(row 1) enter the graph as two different constants.
    message = _mismatch_message(fn, np.array([[0.5], [1.0]]))
    where = f"{__file__}:{fn.__code__.co_firstlineno + 1}"
    assert message == (
        "compile: fn builds a different graph for row 1 than for row 0 (3 nodes, recorded "
        f"3); first difference at node 1: recorded constant {math.exp(0.5)!r}, now constant "
        f"{math.exp(1.0)!r}. The graph depends on the data: fn turned a Value into a plain "
        f"float at {where} (float(v), or a math function such as math.exp(v) or "
        "math.exp(v.data)), so that number came back as a constant that differs from row to "
        "row and no gradient flows through it: use the Value's own operation instead "
        "(v.exp() or autograd.exp(v)).")


def test_the_math_hint_also_comes_when_a_later_call_finds_the_mismatch():
    # One row alone records without a mismatch; the second call re-traces every row
    # without the watch, and still names the float read seen while recording.
    c = autograd.compile(_exp_through_math, 1, check="all")
    c(np.array([[0.5]]))
    with pytest.raises(GraphMismatchError, match=r"for row 1 .*math\.exp\(v\)"):
        c(np.array([[0.5], [1.0]]))


@pytest.mark.parametrize("fn", [
    lambda x: x * 2.0 if x.data > 0 else -x,    # a genuine branch on the data
    lambda x: x * x.data,                       # .data as a constant, no math function
])
def test_a_branch_on_the_data_keeps_the_general_hint(fn):
    message = _mismatch_message(fn, np.array([[1.0], [-3.0]]))
    assert message.endswith("The graph depends on the data (a Python if/max/loop on a "
                            "Value's data?), so it cannot be compiled: call fn eagerly "
                            "instead.")
    assert "math" not in message and "float" not in message


def test_branch_on_a_parameter_is_caught_when_it_flips():
    w = Value(1.0)

    def f(x):
        return x * w if w.data > 0 else (x * w).relu()

    c = autograd.compile(f, 1)
    X = np.array([[1.0], [2.0]])
    c(X)
    w.data = -1.0
    with pytest.raises(GraphMismatchError):
        c(X)


def test_rare_branch_needs_check_all():
    def f(x):
        return x.exp() if x.data < 100 else x.log()

    X = np.zeros((50, 1))
    X[17, 0] = 200.0  # one row in 50 takes the other branch
    c = autograd.compile(f, 1, check=1, first_check=2)
    c(X)  # rows 0, 1 and 49 are checked: the odd row goes unseen (documented)
    with pytest.raises(GraphMismatchError, match="row 17"):
        autograd.compile(f, 1, check="all")(X)


def test_repeated_calls_walk_through_the_rows():
    def f(x):
        return x.exp() if x.data < 100 else x.log()

    X = np.zeros((6, 1))
    X[3, 0] = 200.0
    c = autograd.compile(f, 1, check=1, first_check=1)
    with pytest.raises(GraphMismatchError, match="row 3"):
        for _ in range(6):
            c(X)


# --------------------------------------------------------------------------------------
# Domain errors: raised with the engine's message and the row, never nan or inf.
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("fn, bad, message", [
    (lambda x: x.log(), 0.0, "log"),
    (lambda x: x.log(), -1.0, "log"),
    (lambda x: x.sqrt(), -1.0, "sqrt"),
    (lambda x: 1.0 / x, 0.0, "/"),
    (lambda x: x ** -1, 0.0, r"\*\*"),
    (lambda x: x ** 0.5, -2.0, r"\*\*"),
    (lambda x: x ** x, -0.5, "pow"),
    (lambda x: x.exp(), 1000.0, "exp"),
    (lambda x: x ** 300, 1e10, r"\*\*"),
])
def test_domain_errors_name_the_operation_and_row(fn, bad, message):
    X = np.array([[2.0], [3.0], [bad], [4.0]])
    # first_check=1: rows 0 and 1 are traced, so the vectorised test finds row 2.
    with pytest.raises(DomainError) as compiled_error:
        autograd.compile(fn, 1, first_check=1)(X)
    with pytest.raises(DomainError) as retraced_error:
        autograd.compile(fn, 1, check="all")(X)  # here the eager re-trace finds it
    assert str(retraced_error.value) == str(compiled_error.value)
    with pytest.raises(DomainError) as eager_error:
        fn(Value(bad))
    assert str(compiled_error.value) == f"{eager_error.value} (in row 2 of the batch)"
    assert compiled_error.match(message)


@pytest.mark.parametrize("fn, bad", [
    (lambda x: autograd.sum_values([x, x, 1.0]), 1.5e308),           # the exact sum overflows
    (lambda x: autograd.dot([x, -x], [x, x], 0.5), 1e200),           # -inf + inf
    (lambda x: autograd.sum_values([x * 1e300, x * -1e300]), 1e10),  # -inf + inf
])
def test_sums_fail_where_the_engines_exact_sum_fails(fn, bad):
    X = np.array([[2.0], [3.0], [bad]])
    with pytest.raises(DomainError) as compiled_error:
        autograd.compile(fn, 1, first_check=1)(X)
    with pytest.raises(DomainError) as eager_error:
        fn(Value(bad))
    assert str(compiled_error.value) == f"{eager_error.value} (in row 2 of the batch)"


def test_sums_of_nan_are_nan_as_in_the_engine():
    fn = lambda x: autograd.sum_values([x, 2.0 * x])  # noqa: E731
    X = np.array([[1.0], [math.nan], [math.inf]])
    got = autograd.compile(fn, 1)(X)
    expected = eager_values(fn, X)
    np.testing.assert_array_equal(got, expected)  # [3, nan, inf], nan in the same place


def test_domain_error_of_an_already_recorded_function():
    w = Value(1.0)
    c = autograd.compile(lambda x: (x * w).log(), 1)
    X = np.array([[1.0], [2.0], [3.0]])
    c(X)
    w.data = -1.0  # now every row is outside log's domain: eager fails on row 0
    with pytest.raises(DomainError, match=r"log.*row 0"):
        c.backward(X)


# --------------------------------------------------------------------------------------
# User primitives and bad input.
# --------------------------------------------------------------------------------------

@pytest.fixture
def cube():
    """A user primitive, removed from the global tables afterwards so that tests which
    walk every operation in OPS do not meet it."""

    @autograd.primitive(derivative=lambda x, out: 3.0 * x * x, name="cube_for_compile")
    def cube(x):
        return x ** 3

    yield cube
    OPS.pop("cube_for_compile", None)
    VECTORIZED.pop("cube_for_compile", None)


def test_user_primitive_falls_back_to_its_scalar_rule_then_uses_a_registered_one(cube):
    w = Value(0.7)
    X = np.linspace(-1.5, 2.0, 9).reshape(9, 1)

    def f(x):
        return cube(w * x) + w

    slow = assert_matches_eager(f, 1, X, [w])
    register_vectorized("cube_for_compile", lambda x, p: x ** 3,
                        lambda x, out, p: (3.0 * x * x,))
    fast = assert_matches_eager(f, 1, X, [w])
    def cube_rule(compiled):
        (group,) = [g for g in compiled._plan.groups if g.name == "cube_for_compile"]
        return group.rule

    assert cube_rule(fast) is VECTORIZED["cube_for_compile"]
    assert cube_rule(slow) is not VECTORIZED["cube_for_compile"]
    with pytest.raises(KeyError, match="no operation named 'nope'"):
        register_vectorized("nope", lambda x, p: x, lambda x, out, p: (1.0,))

    # Defined again under the same name, the primitive does not inherit the old rule.
    OPS.pop("cube_for_compile")

    @autograd.primitive(derivative=lambda x, out: 2.0 * x, name="cube_for_compile")
    def square(x):
        return x * x

    def g(x):
        return square(w * x) + w

    renamed = assert_matches_eager(g, 1, X, [w])
    assert cube_rule(renamed) is not VECTORIZED["cube_for_compile"]


@pytest.mark.parametrize("X, error, message", [
    (np.zeros((3, 3)), ValueError, r"shape \(batch, 2\), got shape \(3, 3\)"),
    (np.zeros(4), ValueError, r"shape \(batch, 2\)"),
    (np.zeros((0, 2)), ValueError, "no rows"),
    ([["a", "b"]], TypeError, "array of numbers"),
])
def test_bad_batches_are_refused(X, error, message):
    with pytest.raises(error, match=message):
        autograd.compile(lambda x, y: x * y, 2)(X)


def test_a_built_in_operation_keeps_its_numpy_rule():
    # Replacing relu's rule would change every compiled graph in the process: refused,
    # and the rule in relu's record is still the one that compiles relu exactly.
    rule = OPS["relu"].batch
    with pytest.raises(ValueError) as err:
        register_vectorized("relu", lambda x, p: x, lambda x, out, p: (np.ones_like(x),))
    assert str(err.value) == ("register_vectorized: 'relu' is a built-in operation with its "
                              "own NumPy rule; only a primitive defined with "
                              "autograd.primitive takes one")
    assert OPS["relu"].batch is rule and VECTORIZED["relu"] is rule
    relu = autograd.compile(lambda x: x.relu(), 1)
    assert relu(np.array([[-2.0], [3.0]])).tolist() == [0.0, 3.0]  # max(0, x), closed form


def test_bad_arguments_are_refused():
    with pytest.raises(TypeError, match="callable"):
        autograd.compile(3, 1)
    with pytest.raises(ValueError, match="nargs"):
        autograd.compile(lambda x: x, -1)
    with pytest.raises(ValueError, match="check"):
        autograd.compile(lambda x: x, 1, check="some")
    with pytest.raises(TypeError, match="must return a Value, got float"):
        autograd.compile(lambda x: 1.0, 1)(np.ones((2, 1)))


def test_a_flat_array_is_refused_with_the_reshape_that_fixes_it():
    # One example's row, or a column of numbers for a function of one Value: the message
    # names the shape and the reshape; the reshaped array is then accepted.
    pair = autograd.compile(lambda x, y: x * y, 2)
    with pytest.raises(ValueError) as err:
        pair(np.array([3.0, 4.0]))
    assert str(err.value) == ("compile: X must have shape (batch, 2), got shape (2,) "
                              "(one row per example: X.reshape(-1, 2))")
    assert pair(np.array([3.0, 4.0]).reshape(-1, 2)).tolist() == [12.0]
    with pytest.raises(ValueError, match=r"got shape \(3,\)$"):  # no reshape fits
        pair(np.zeros(3))


def test_an_nargs_that_fn_cannot_take_is_refused_when_compiling():
    def example_loss(x1, x2, label):
        return x1 * x2 - label

    with pytest.raises(ValueError) as err:
        autograd.compile(example_loss, 2)
    assert str(err.value) == ("compile: nargs is 2 (the Values of one example, the columns "
                              "of X), but example_loss(x1, x2, label) cannot take 2 arguments")

    class Model:  # as an nn model: called with one list of Values, not with 2 Values
        def __call__(self, x: list[Value]) -> Value:
            return x[0] * x[1]

    with pytest.raises(ValueError, match=r"but Model\(x\) cannot take 2 arguments$"):
        autograd.compile(Model(), 2)
    # Defaults and *args take what they can: these compile and run.
    assert autograd.compile(lambda *xs: xs[0] + xs[-1], 3)([[1.0, 2.0, 4.0]]).tolist() == [5.0]
    assert autograd.compile(lambda x, k=2.0: x * k, 1)([[1.5]]).tolist() == [3.0]


def test_repr_and_groups_before_and_after_recording():
    w = Value(2.0)

    def scaled(x):
        return (w * x).tanh()

    c = autograd.compile(scaled, 1)
    assert c.groups == [] and c.node_count == 0
    assert repr(c) == "Compiled(scaled, nargs=1, not recorded yet)"
    c(np.array([[1.0], [2.0]]))
    assert c.groups == [(1, "*", 1), (2, "tanh", 1)]
    assert repr(c) == "Compiled(scaled, nargs=1, 4 nodes per row in 2 groups, 1 parameters)"


def test_register_vectorized_fills_the_primitives_record(cube):
    op = OPS["cube_for_compile"]
    assert op.batch is None and "cube_for_compile" in VECTORIZED  # the scalar fallback
    register_vectorized("cube_for_compile", lambda x, p: x ** 3,
                        lambda x, out, p: (3.0 * x * x,))
    assert op.batch is VECTORIZED["cube_for_compile"]
    assert op.batch.forward(np.array([2.0]), None).tolist() == [8.0]
    del VECTORIZED["cube_for_compile"]
    assert op.batch is None


def test_a_dot_of_huge_finite_numbers_is_not_mistaken_for_an_overflow():
    """compile checks a dot group's results for what would make the engine's fsum raise
    through their sum of squares, which overflows from about 1e154 on while every result
    is finite: such a group must still run, and equal eager (1e200 * x + 1e199, with no
    DomainError); a result that really overflows is infinite in both."""
    w, b = Value(1e200, "w"), Value(1e199, "b")

    def fn(x):
        return autograd.dot([w], [x], b) * 1e-150

    X = np.array([[0.5], [-2.0], [3.0]])
    c = assert_matches_eager(fn, 1, X, [w, b])
    assert np.isfinite(c(X)).all()
    assert_close(c(X), [(1e200 * x + 1e199) * 1e-150 for x in X[:, 0]])
    assert fn(Value(1e300)).data == math.inf  # the product overflows to inf, as a float
    assert c(np.array([[0.5], [1e300]]))[1] == math.inf


def test_a_primitive_with_its_own_formula_takes_a_numpy_rule():
    # What tells a built-in operation from a user's is where it was defined, not its
    # formula text: a primitive given formula= still takes register_vectorized's rule.
    @autograd.primitive(derivative=lambda x, out: 3 * x ** 2, formula="d/dx = 3x^2")
    def cube_with_formula(x):
        return x ** 3

    try:
        register_vectorized("cube_with_formula", lambda x, p: x ** 3,
                            lambda x, out, p: (3.0 * x * x,))
        assert OPS["cube_with_formula"].batch is VECTORIZED["cube_with_formula"]
        x = Value(1.5, "x")
        c = autograd.compile(lambda v: cube_with_formula(v) * x, 1)
        assert_close(c(np.array([[2.0], [-1.0]])), [8.0 * 1.5, -1.0 * 1.5])  # x^3 * 1.5
    finally:  # out of the global tables, as the `cube` fixture leaves them
        OPS.pop("cube_with_formula", None)
