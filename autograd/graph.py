"""Walks over the graph of Values, all iterative: no recursion, so no depth limit.

`topological_order(root)` is the order `backward()` uses (reversed): every node comes
after all of its parents, ties broken by argument order, so the order is the same on
every run.  `grad()` and `hessian()` compute derivatives without touching ``.grad``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from .engine import Value, _as_float, enable_grad, lift


def topological_order(root: Value) -> list[Value]:
    """All Values that `root` depends on (root included), parents before children.

    Depth-first from the root with an explicit stack.  A node is emitted once all of
    its parents have been emitted; parents are visited in argument order.
    """
    if not isinstance(root, Value):
        raise TypeError(f"topological_order: expected a Value, got {type(root).__name__}")
    if root._fn is None:
        return [root]
    order: list[Value] = []
    visited = {root}  # Values hash by identity
    # The stack is two flat lists: the nodes on the current path and, for each, the
    # position of the next parent to look at.  Nothing is allocated per node (no tuple,
    # no iterator), so a path a million nodes deep gives the garbage collector nothing
    # new to scan.  Parents are read from the engine's slots: `_a` and `_b` for one or
    # two parents, `_a` as a tuple for an n-ary node (see `Value.parents`).
    path = [root]
    next_parent = [0]
    while path:
        node = path[-1]
        i = next_parent[-1]
        arity = node._fn.arity
        many = node._a if arity < 0 else None
        count = len(many) if many is not None else arity
        while i < count:
            parent = many[i] if many is not None else (node._b if i else node._a)
            i += 1
            if parent in visited:
                continue
            visited.add(parent)
            if parent._fn is None:  # a leaf is complete as soon as it is seen
                order.append(parent)
                continue
            next_parent[-1] = i
            path.append(parent)
            next_parent.append(0)
            break
        else:  # every parent is already in `order`
            path.pop()
            next_parent.pop()
            order.append(node)
    return order


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


def _local_derivatives(node: Value, as_values: bool) -> Sequence[Any]:
    fn = node._fn
    assert fn is not None
    if as_values:
        args: list[Any] = list(node.parents)
        out: Any = node
    else:
        args = [p.data for p in node.parents]
        out = node.data
    if fn.has_param:
        return fn.derivative(*args, out, node._param)
    return fn.derivative(*args, out)


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
    grads: dict[int, Any] = {}
    if create_graph:
        with enable_grad():
            grads[id(output)] = lift(gradient)
            for node in reversed(order):
                _propagate(node, grads, as_values=True)
        zero: Callable[[], Any] = lambda: Value(0.0)
    else:
        grads[id(output)] = _as_float(gradient, "grad")
        for node in reversed(order):
            _propagate(node, grads, as_values=False)
        zero = lambda: 0.0
    results = [grads.get(id(t)) for t in targets]
    results = [zero() if r is None else r for r in results]
    return results[0] if single else results


def _propagate(node: Value, grads: dict[int, Any], as_values: bool) -> None:
    g = grads.get(id(node))
    if g is None or node._fn is None:
        return
    for parent, local in zip(node.parents, _local_derivatives(node, as_values)):
        contribution = g * local
        key = id(parent)
        previous = grads.get(key)
        grads[key] = contribution if previous is None else previous + contribution


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

