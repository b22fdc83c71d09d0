"""Tracing and the watch: running fn on one row, noting where it looks at numbers,
and describing the graph it builds so that two traces can be compared.
"""

from __future__ import annotations

import linecache
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..engine import CLOSURE, Value, enable_grad, observe_reads, topological_order

__all__ = ["GraphMismatchError", "Trace", "DataWatch", "trace_row", "signature", "mismatch"]

# A call of a math-module function on the source line of a `.data` read: math.exp(v.data).
_MATH_CALL = re.compile(r"\bmath\.\w+\(")


class GraphMismatchError(ValueError):
    """The traced function builds a different graph for another row (or call)."""


def _float_key(x: Any) -> Any:
    """A hashable key that tells apart every float (nan == nan, 0.0 != -0.0)."""
    return x.hex() if type(x) is float else x


@dataclass
class Trace:
    """One run of fn: the graph it built and the placeholders it was given."""

    order: list[Value]          # the graph in topological order (root last)
    placeholders: list[Value]
    output: Value


class DataWatch:
    """Notes every place where code outside the engine looks at a Value's number.

    Its `saw` is given to the engine's explicit hook, `autograd.engine.observe_reads`:
    while that block is open the engine reports reads of ``.data`` and ``.grad``, comparisons,
    ``float``, ``repr``, ``format``, ``detach``, `no_grad` and derivative graphs built with
    ``grad(..., create_graph=True)``; the engine's own reads (computing an operation) go
    through private slots and are not reported.  Nothing on `Value` is replaced.

    Looks by other threads while the block is open are noted too: that can only cause
    extra checks, never fewer.

    `floats` are the places (``file:line``) among them where the number left the graph as
    a plain float: ``float(v)``, which ``math.exp(v)`` calls, or ``.data`` read on a line
    that calls a ``math`` function (``math.exp(v.data)``).  The lecture's classic slip;
    `mismatch` names it as the likely cause.
    """

    def __init__(self) -> None:
        self.reads: list[str] = []
        self.floats: list[str] = []

    def saw(self, what: str, frame: Any) -> None:
        """The `observe_reads` callback: note the look and where it happened."""
        place = f"{frame.f_code.co_filename}:{frame.f_lineno}"
        where = f"{what} at {place}"
        if len(self.reads) < 20 and where not in self.reads:
            self.reads.append(where)
            # Only new places reach here, so a loop reading .data reads no source again.
            if what == "__float__" or (what == ".data" and _MATH_CALL.search(
                    linecache.getline(frame.f_code.co_filename, frame.f_lineno))):
                self.floats.append(place)


def trace_row(fn: Callable[..., Any], row: Sequence[float],
              watch: DataWatch | None = None, known: Sequence[Value] = ()) -> Trace:
    """Run fn eagerly on placeholder leaves holding `row` (under `watch` if given) and
    return the graph it built.  `known` are leaves of an earlier trace (the parameters
    among them): the watch sees fn read their ``.data`` too."""
    placeholders = [Value(float(v)) for v in row]
    with enable_grad():  # recording must work even if the caller is under no_grad
        if watch is None:
            out = fn(*placeholders)
        else:
            with observe_reads(watch.saw, watch=[*placeholders, *known]):
                out = fn(*placeholders)
    if not isinstance(out, Value):
        raise TypeError(f"compile: fn must return a Value, got {type(out).__name__}")
    order = topological_order(out)
    for node in order:
        if node._fn is CLOSURE:  # micrograd's way: numbers, but no rule to run on arrays
            raise TypeError(
                f"compile: the node {node.op or '(no _op)'!r} was built with "
                "Value(data, _children, _op) and a _backward function, which has no rule "
                "to run on a batch; define the operation with autograd.primitive")
    return Trace(order, placeholders, out)


def signature(trace: Trace, param_ids: set[int]) -> list[tuple]:
    """One hashable description per node; two traces have the same graph iff equal.

    Op nodes: (operation, op parameter, parent positions); leaves: ('input', k),
    ('parameter', id) or ('constant', value).  Written for speed: it runs on every
    re-traced row.
    """
    order = trace.order
    index = dict(zip(map(id, order), range(len(order))))
    inputs = {id(p): k for k, p in enumerate(trace.placeholders)}
    sig: list[tuple] = []
    append = sig.append
    for node in order:
        fn = node._fn
        if fn is not None:
            arity = fn.arity
            if arity == 1:
                parents: tuple = (index[id(node._a)],)
            elif arity == 2:
                parents = (index[id(node._a)], index[id(node._b)])
            else:
                parents = tuple([index[id(p)] for p in node._a])
            append((fn.name, _float_key(node._param), parents))
        else:
            key = id(node)
            if key in param_ids:
                append(("parameter", key))
            elif key in inputs:
                append(("input", inputs[key]))
            else:
                append(("constant", _float_key(node._data)))
    return sig


def _describe(entry: tuple, params: dict[int, Value]) -> str:
    kind = entry[0]
    if kind == "input":
        return f"input {entry[1]}"
    if kind == "parameter":
        p = params.get(entry[1])
        label = f" {p.label!r}" if p is not None and p.label else ""
        return f"parameter{label}"
    if kind == "constant":
        return f"constant {float.fromhex(entry[1])!r}"
    param = "" if entry[1] is None else f" (param {float.fromhex(entry[1])!r})"
    return f"{kind!r}{param} of nodes {list(entry[2])}"


def mismatch(recorded: list[tuple], found: list[tuple], row: int, where: str,
             params: dict[int, Value], floats: Sequence[str] = ()) -> GraphMismatchError:
    """The error for a trace whose signature differs from the recorded one, naming the
    row and the first node that differs.  `floats` are the places where fn was seen
    turning a Value into a plain float (`DataWatch.floats`): the likely cause, then."""
    first = next((i for i, (a, b) in enumerate(zip(recorded, found)) if a != b),
                 min(len(recorded), len(found)))
    detail = (f"first difference at node {first}: recorded "
              f"{_describe(recorded[first], params) if first < len(recorded) else 'nothing'}"
              f", now {_describe(found[first], params) if first < len(found) else 'nothing'}")
    if floats:
        # As gradcheck says for the same slip: calling fn eagerly would not help, since
        # the float also cuts the gradient's path there.
        cause = (f"fn turned a Value into a plain float at {floats[0]} (float(v), or a math "
                 "function such as math.exp(v) or math.exp(v.data)), so that number came "
                 "back as a constant that differs from row to row and no gradient flows "
                 "through it: use the Value's own operation instead (v.exp() or "
                 "autograd.exp(v)).")
    else:
        cause = ("(a Python if/max/loop on a Value's data?), so it cannot be compiled: "
                 "call fn eagerly instead.")
    return GraphMismatchError(
        f"compile: fn builds a different graph for row {row} {where} "
        f"({len(found)} nodes, recorded {len(recorded)}); {detail}. The graph depends on "
        f"the data{':' if floats else ''} {cause}"
    )
