"""Keep Python's full garbage collections off a large graph while it is being built.

CPython's cyclic garbage collector sorts container objects into three generations.  A
young collection (generations 0 and 1) looks only at objects made since the previous
one, so its cost per node is the same for a graph of a thousand nodes or of a million.
A full collection (generation 2) walks *every* tracked container, and each node is one.
CPython runs one when more than ``gc.get_threshold()[2]`` (10) generation-1 collections
have run since the last, provided the objects that outlived young collections since
then number over a quarter of those that outlived the last full one; so on a growing
graph, about every time it has grown by a quarter.  While a graph of a million nodes is
built, about ten full collections walk it, each one longer than the last, and together
they take more time than building and differentiating the graph (``benchmarks/run.py``
measures it; see docs/performance.md).

Those walks find nothing to free in a chainrule graph: a node refers only to its
parents, its `Op` and plain numbers and strings, so graphs have no reference cycles and
reference counting frees each one the moment its last reference goes.  `defer_full_gc`
therefore holds back full collections only, by raising that third threshold for as long
as the block runs; young collections go on, so short-lived cycles the rest of the
program makes are still freed on time.  On leaving the block the threshold comes back,
and the first young collection after it may run the full collection that was put off
(which walks the graph once if it is still alive).

CPython 3.10 to 3.13 honour the third threshold; CPython 3.14's incremental collector
ignores it, and there the block changes nothing.  The collector's settings belong to
the whole process, so this is opt-in, never done behind the user's back.
"""

from __future__ import annotations

import functools
import gc
import inspect
import os
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["defer_full_gc", "DEFERRED_THRESHOLD"]

# gc's third threshold counts young (generation 1) collections between full ones.  A
# billion of them, at one per 7,000 new objects, is never reached in practice.
DEFERRED_THRESHOLD = 1_000_000_000

_DEFAULT_FULL_THRESHOLD = 10   # CPython's own
_lock = threading.Lock()
_depth = 0          # open blocks, in all threads together
_saved_threshold = 0
_pid = os.getpid()  # the process whose blocks _depth counts


def _restore_threshold() -> None:
    """Put the program's third threshold back, unless it has set one of its own since:
    only our setting is undone, one the program made meanwhile stands."""
    young, middle, full = gc.get_threshold()
    if full == DEFERRED_THRESHOLD:
        gc.set_threshold(young, middle, _saved_threshold)


def _reset_in_child() -> None:
    """A forked child has no open blocks (they belong to the parent's threads, and
    multiprocessing workers never unwind to them): give it the threshold back."""
    global _lock, _depth, _pid
    _lock = threading.Lock()
    _pid = os.getpid()
    if _depth:
        _depth = 0
        _restore_threshold()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_in_child)


class defer_full_gc:  # noqa: N801 - named like a function, as no_grad is
    """Context manager and decorator: no full garbage collection while it is open.

    >>> import autograd
    >>> with autograd.defer_full_gc():
    ...     pass   # build and differentiate a graph of millions of nodes here

    Blocks nest, and may be open in several threads at once: full collections resume
    when the last one closes.  If the program sets gc's third threshold itself inside
    the block, that setting is kept on leaving.  An explicit ``gc.collect()`` still
    runs a full collection.
    """

    def __enter__(self) -> defer_full_gc:
        global _depth, _saved_threshold
        self._pid = os.getpid()
        with _lock:
            if _depth == 0:
                young, middle, full = gc.get_threshold()
                # Never take our own setting for the program's: if it is still there
                # (code that saved it inside a block put it back after one closed, or
                # an interrupt between these lines), it is undone this time.
                _saved_threshold = (_DEFAULT_FULL_THRESHOLD if full == DEFERRED_THRESHOLD
                                    else full)
                gc.set_threshold(young, middle, DEFERRED_THRESHOLD)
            _depth += 1
        return self

    def __exit__(self, *exc: object) -> None:
        global _depth
        if getattr(self, "_pid", _pid) != _pid:
            return      # entered in the parent before a fork: _reset_in_child closed it
        with _lock:
            _depth -= 1
            if _depth == 0:
                _restore_threshold()

    def __call__(self, func: Callable) -> Callable:
        if inspect.isgeneratorfunction(func) or inspect.iscoroutinefunction(func) \
                or inspect.isasyncgenfunction(func):
            raise TypeError("defer_full_gc() cannot decorate a generator or coroutine "
                            "function: the block would close before its body runs; "
                            "use `with autograd.defer_full_gc():` inside it")

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with defer_full_gc():
                return func(*args, **kwargs)

        return wrapper
