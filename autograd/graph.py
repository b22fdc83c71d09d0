"""Walks over the graph of Values, all iterative: no recursion, so no depth limit.

`topological_order(root)` (defined beside `Value` in `autograd.engine`) is the order
`backward()` uses (reversed): every node comes after all of its parents, ties broken by
argument order, so the order is the same on every run.  `grad()` and `hessian()` compute
derivatives without touching ``.grad``, with the same walk as `backward()`,
`autograd.engine.chain_rule`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from .engine import Edge, Value, _as_float, _observed, _observers, chain_rule, enable_grad, lift
from .engine import topological_order as topological_order


def nodes(root: Value) -> list[Value]:
    """Every Value in the graph of `root`, in topological order."""
    return topological_order(root)


def edges(root: Value) -> list[tuple[Value, Value, int]]:
    """(parent, child, argument position) for every edge, repeats kept (a + a: two edges)."""
    return [(p, child, k) for child in topological_order(root)
            for k, p in enumerate(child.parents)]


def leaves(root: Value) -> list[Value]:
    """The Values without parents that `root` depends on, in topological order."""
    return [v for v in topological_order(root) if not v.parents]


def grad(output: Value, inputs: Value | Sequence[Value], gradient: Any = 1.0,
         create_graph: bool = False) -> Any:
    """d output / d input for each input, leaving every ``.grad`` untouched.

    Returns floats, or with ``create_graph=True`` Values whose own graph records how the
    derivative was computed, so it can be differentiated again (second, third, ...
    derivatives).  An input that `output` does not depend on gets 0.  A single input
    (not in a list) gives a single result.
    """
    single = isinstance(inputs, Value)
    targets = [inputs] if single else list(inputs)  # type: ignore[list-item]
    for t in targets:
        if not isinstance(t, Value):
            raise TypeError(f"grad: inputs must be Values, got {type(t).__name__}")
    if not isinstance(output, Value):
        raise TypeError(f"grad: output must be a Value, got {type(output).__name__}")

    order = topological_order(output)
    grads: dict[Value, Any] = {}
    if create_graph:
        with enable_grad():
            grads[output] = lift(gradient)
            _accumulate(chain_rule(order, grads, as_values=True), grads)
        zero: Callable[[], Any] = lambda: Value(0.0)
    else:
        if _observers:  # the gradients are numbers computed from the data
            _observed("grad()")
        grads[output] = _as_float(gradient, "grad")
        _accumulate(chain_rule(order, grads), grads)
        zero = lambda: 0.0
    results = [grads.get(t) for t in targets]
    results = [zero() if r is None else r for r in results]
    return results[0] if single else results


def _accumulate(edges: Iterable[Edge], grads: dict[Value, Any]) -> None:
    """Add each edge's contribution, upstream x local, into its parent's entry."""
    for _child, parent, _k, upstream, local in edges:
        contribution = upstream * local
        previous = grads.get(parent)
        grads[parent] = contribution if previous is None else previous + contribution


def hessian(f: Callable[..., Value], point: Iterable[Any]) -> np.ndarray:
    """The matrix of second derivatives of scalar `f` at `point` (for small functions).

    `f` takes one Value per coordinate.  Row i is the gradient of d f / d x_i,
    computed by differentiating the first derivative's graph again.
    """
    xs = [Value(p) for p in point]
    y = f(*xs)
    first = grad(y, xs, create_graph=True)
    rows = []
    for g in first:
        rows.append(grad(g, xs))
    return np.array(rows, dtype=np.float64)


def count_nodes(root: Value) -> int:
    """How many distinct Values the graph of `root` holds."""
    return len(topological_order(root))


__all__ = ["topological_order", "nodes", "edges", "leaves", "grad", "hessian",
           "count_nodes"]

