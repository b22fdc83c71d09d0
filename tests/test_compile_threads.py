"""autograd.compile from several threads at once (issue 12 item 5).

One compiled function called from four threads at once used to fail in about one call
in six (``'Compiled' object has no attribute '_const_template'``: the recording was
published before the plan was finished).  The reference for every number is the eager
engine on the same rows; the threads start together at a barrier, and Python is made to
switch threads far more often than usual so that the calls really interleave.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator

import numpy as np
import pytest
from compilehelpers import eager_batch

import autograd
import nn
from autograd import Value

THREADS = 4
RTOL = 1e-12


@pytest.fixture(autouse=True)
def frequent_switches() -> Iterator[None]:
    saved = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(saved)


def run_together(work: Callable[[int], object]) -> list[object]:
    """Run work(k) in THREADS threads started at one barrier; their results, in order
    (an exception a thread raised is its result)."""
    barrier = threading.Barrier(THREADS)
    results: list[object] = [None] * THREADS

    def body(k: int) -> None:
        barrier.wait()
        try:
            results[k] = work(k)
        except Exception as exc:  # noqa: BLE001 - the test asserts there are none
            results[k] = exc

    threads = [threading.Thread(target=body, args=(k,)) for k in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a thread did not finish"
    return results


def hinge_setup(seed: int):
    model = nn.MLP(2, [8, 8, 1], seed=seed)
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.normal(size=(24, 2)), rng.choice([-1.0, 1.0], size=24)])

    def example_loss(a: Value, b: Value, label: Value) -> Value:
        return (1.0 - label * model([a, b])).relu()

    return model, X, example_loss


def test_first_calls_from_four_threads_all_succeed_and_equal_eager():
    for trial in range(10):  # every trial races on a fresh recording
        model, X, example_loss = hinge_setup(trial)
        expected, _, _ = eager_batch(example_loss, X, model.parameters())
        c = autograd.compile(example_loss, 3)
        results = run_together(lambda k, c=c, X=X: [c(X) for _ in range(3)])
        for result in results:
            assert not isinstance(result, Exception), repr(result)
            for values in result:
                np.testing.assert_allclose(values, expected, rtol=RTOL, atol=1e-15)


def test_the_graph_is_recorded_once_whatever_the_number_of_threads():
    # The same function traced by one thread, then by four at once: as many traces.
    def traces_for(threads: int) -> int:
        model, X, example_loss = hinge_setup(0)
        count = [0]
        lock = threading.Lock()

        def counted(a: Value, b: Value, label: Value) -> Value:
            with lock:
                count[0] += 1
            return example_loss(a, b, label)

        c = autograd.compile(counted, 3)
        if threads == 1:
            c(X)
        else:
            assert not any(isinstance(r, Exception) for r in run_together(lambda k: c(X)))
        return count[0]

    alone = traces_for(1)
    # Rows 0 and 1 to record, then the first check's 8 rows spread over 24 (0, 3, 7, 10,
    # 13, 16, 20, 23) but row 0, traced already.
    assert alone == 9
    assert traces_for(THREADS) == alone


def test_backward_from_four_threads_adds_every_gradient():
    model, X, example_loss = hinge_setup(3)
    params = model.parameters()
    _, expected_mean, expected_grads = eager_batch(example_loss, X, params)
    c = autograd.compile(example_loss, 3)
    calls = 5
    results = run_together(lambda k: [c.backward(X) for _ in range(calls)])
    for result in results:
        assert not isinstance(result, Exception), repr(result)
        np.testing.assert_allclose(result, [expected_mean] * calls, rtol=RTOL)
    # Every call added its gradient: none was lost to another thread's addition.
    grads = np.array([p.grad for p in params])
    np.testing.assert_allclose(grads, THREADS * calls * expected_grads, rtol=RTOL,
                               atol=1e-15)


def test_functions_that_look_at_numbers_check_rows_from_four_threads():
    # fn looks at its input (a data read), so every call re-traces a row: the rows to
    # check are taken in turn by the threads, and every result still equals eager.
    w = Value(0.7)

    def looks(x: Value) -> Value:
        return (w * x).tanh() if x.data > -1e9 else x

    X = np.linspace(-2.0, 2.0, 12).reshape(12, 1)
    c = autograd.compile(looks, 1)
    expected = np.tanh(0.7 * X[:, 0])
    results = run_together(lambda k: [c(X) for _ in range(6)])
    for result in results:
        assert not isinstance(result, Exception), repr(result)
        for values in result:
            np.testing.assert_allclose(values, expected, rtol=RTOL)
    assert c.data_reads and c.data_reads[0].startswith(".data at ")


def test_a_failed_recording_is_not_kept_and_every_thread_gets_the_error():
    def branches(x: Value) -> Value:
        return x * 2.0 if x > 0 else -x

    c = autograd.compile(branches, 1)
    X = np.array([[1.0], [-1.0], [2.0]])
    results = run_together(lambda k: c(X))
    assert all(isinstance(r, autograd.GraphMismatchError) for r in results), results
    assert c.node_count == 0 and c.groups == []  # nothing half-built was published


def test_fn_calling_its_own_compiled_function_while_recorded_is_refused():
    holder: list = []

    def calls_itself(x: Value) -> Value:
        holder[0](np.array([[1.0]]))
        return x * 2.0

    holder.append(autograd.compile(calls_itself, 1))
    with pytest.raises(RuntimeError, match="called its own compiled function"):
        holder[0](np.array([[1.0], [2.0]]))


def test_four_threads_run_one_chained_plan_at_once_with_their_own_batches():
    # The network's layers run as one LayerChain; each thread gives it batches of its own
    # size (3 to 1,100 rows, on both sides of the size whose arrays a call keeps),
    # forward only and with gradients: every value, mean and gradient is eager's on those rows.
    model = nn.MLP(2, [16, 16, 1], activation="tanh", seed=7)
    params = model.parameters()

    def example_loss(a: Value, b: Value, label: Value) -> Value:
        return (1.0 - label * model([a, b])).relu()

    rng = np.random.default_rng(7)
    batches = [np.column_stack([rng.normal(size=(n, 2)), rng.choice([-1.0, 1.0], size=n)])
               for n in (3, 40, 1100, 1023)]
    expected = [eager_batch(example_loss, X, params) for X in batches]
    c = autograd.compile(example_loss, 3)
    c(batches[0])  # recorded before the race: the race is over running the plan
    assert any(type(step).__name__ == "LayerChain" for step in c._plan.steps)

    def work(k: int) -> list[tuple[np.ndarray, float]]:
        X = batches[k]
        return [(c(X), c.backward(X)) for _ in range(3)]

    for k, result in enumerate(run_together(work)):
        assert not isinstance(result, Exception), repr(result)
        values, mean, _ = expected[k]
        for got_values, got_mean in result:
            np.testing.assert_allclose(got_values, values, rtol=RTOL, atol=1e-15)
            np.testing.assert_allclose(got_mean, mean, rtol=RTOL)
    # Each thread's three calls added d mean / d p of its batch: all of them arrived.
    total = 3 * sum(grads for _, _, grads in expected)
    np.testing.assert_allclose([p.grad for p in params], total, rtol=1e-11, atol=1e-15)
