"""defer_full_gc: no full collection while open, young ones go on, settings come back."""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Iterator

import pytest

import autograd
from autograd.collector import DEFERRED_THRESHOLD
from autograd.engine import Value


@pytest.fixture(autouse=True)
def gc_settings() -> Iterator[tuple[int, int, int]]:
    """Start from known thresholds and put the process's own back afterwards."""
    saved = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    if gc.get_threshold() != (700, 10, 10):
        gc.set_threshold(*saved)
        pytest.skip("this Python's collector ignores the third threshold (CPython 3.14's "
                    "incremental one): defer_full_gc changes nothing there")
    gc.collect()
    yield gc.get_threshold()
    gc.set_threshold(*saved)


class Generations:
    """Records the generation of every collection that runs (through gc.callbacks)."""

    def __init__(self) -> None:
        self.seen: list[int] = []

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self.seen.append(info["generation"])

    def __enter__(self) -> Generations:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)


def chain(ops: int) -> Value:
    y = Value(1.0)
    for _ in range(ops):
        y = y * 1.0 + 0.0
    return y


def test_only_the_full_threshold_changes_and_it_comes_back() -> None:
    with autograd.defer_full_gc():
        assert gc.get_threshold() == (700, 10, DEFERRED_THRESHOLD)
    assert gc.get_threshold() == (700, 10, 10)


def test_settings_come_back_when_the_block_raises() -> None:
    with pytest.raises(autograd.DomainError), autograd.defer_full_gc():
        Value(1.0) / 0.0
    assert gc.get_threshold() == (700, 10, 10)


def test_nested_blocks_restore_when_the_outermost_closes() -> None:
    with autograd.defer_full_gc():
        with autograd.defer_full_gc():
            pass
        assert gc.get_threshold()[2] == DEFERRED_THRESHOLD
    assert gc.get_threshold() == (700, 10, 10)


def test_as_a_decorator() -> None:
    @autograd.defer_full_gc()
    def threshold_inside(x: float) -> int:
        return gc.get_threshold()[2] + int(x)

    assert threshold_inside(1.0) == DEFERRED_THRESHOLD + 1
    assert threshold_inside.__name__ == "threshold_inside"
    assert gc.get_threshold() == (700, 10, 10)


def test_a_setting_made_inside_the_block_is_kept() -> None:
    with autograd.defer_full_gc():
        gc.set_threshold(500, 5, 3)
    assert gc.get_threshold() == (500, 5, 3)


def test_blocks_in_two_threads_overlap() -> None:
    """A enters, B enters, A leaves (still deferred for B), B leaves (restored)."""
    b_inside, a_left = threading.Event(), threading.Event()
    seen: dict[str, int] = {}

    def thread_b() -> None:
        with autograd.defer_full_gc():
            b_inside.set()
            a_left.wait(10)
            seen["after A left"] = gc.get_threshold()[2]

    with autograd.defer_full_gc():
        worker = threading.Thread(target=thread_b)
        worker.start()
        assert b_inside.wait(10)
    a_left.set()
    worker.join(10)
    assert seen["after A left"] == DEFERRED_THRESHOLD
    assert gc.get_threshold() == (700, 10, 10)


def test_no_full_collection_while_a_large_graph_is_built() -> None:
    # A multiply-add makes 4 nodes.  CPython runs a full collection once the objects that
    # outlived young collections exceed a quarter of the long-lived ones, so a graph as
    # large as everything else alive in this process is sure to meet one outside.
    ops = max(200_000, len(gc.get_objects()) // 4)
    with Generations() as outside:
        y = chain(ops)
        y.backward()
    del y
    gc.collect()
    with Generations() as inside, autograd.defer_full_gc():
        y = chain(ops)
        y.backward()
    assert 2 in outside.seen
    assert 2 not in inside.seen
    # young collections went on all along, as often as outside (not a fixed count,
    # which depends on how many objects the engine allocates per node)
    assert 1 in inside.seen
    assert inside.seen.count(0) >= 0.9 * outside.seen.count(0) > 0
    del y


def test_young_cycles_are_still_collected_inside_the_block() -> None:
    class Node:
        pass

    with Generations() as seen, autograd.defer_full_gc():
        a, b = Node(), Node()
        a.other, b.other = b, a          # a reference cycle: only the collector frees it
        freed = weakref.ref(a)
        del a, b
        keep = [[] for _ in range(5_000)]  # enough new containers for young collections
        assert freed() is None
    assert len(keep) == 5_000 and 0 in seen.seen and 2 not in seen.seen


def test_a_stale_deferred_threshold_is_not_taken_for_the_programs() -> None:
    """Code that saved the thresholds inside a block and put them back after it closed
    (as another thread's code may) leaves ours behind; the next block must not keep it."""
    with autograd.defer_full_gc():
        saved_inside = gc.get_threshold()
    gc.set_threshold(*saved_inside)
    with autograd.defer_full_gc():
        pass
    assert gc.get_threshold() == (700, 10, 10)


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")
def test_a_child_forked_inside_a_block_gets_full_collections_back() -> None:
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    with autograd.defer_full_gc():
        child = ctx.Process(target=lambda: queue.put(gc.get_threshold()))
        child.start()
        in_child = queue.get(timeout=30)
        child.join(30)
    assert in_child == (700, 10, 10)
    assert gc.get_threshold() == (700, 10, 10)


def test_generator_and_coroutine_functions_are_refused() -> None:
    def gen() -> Iterator[int]:
        yield 1

    async def coro() -> None:
        pass

    for func in (gen, coro):
        with pytest.raises(TypeError, match="generator or coroutine"):
            autograd.defer_full_gc()(func)
