"""Rules from the records: the NumPy rule `compile` runs for each operation.

Each operation's record in `autograd.OPS` holds its own (`Op.batch`, an
`autograd.BatchRule`); `VECTORIZED` is the view of them that the rest of the package
reads, and a user primitive without one falls back to its scalar rules, element by
element.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

import numpy as np

from ..engine import _BUILT_IN, OPS, BatchRule, Op, set_batch_rule

__all__ = ["VectorRule", "VECTORIZED", "register_vectorized"]

#
# Unary rules take (x, param), binary rules (a, b, param), n-ary rules (*inputs, param);
# derivative rules get the forward output after the inputs, as in `autograd.OPS`.  The
# arrays broadcast against each other: a batch-constant operand (a parameter) arrives
# with shape (g, 1), a per-row operand with shape (g, batch).

VectorRule = BatchRule  # the name this module gave the rules before they moved to the records


class _RulesView(MutableMapping[str, BatchRule]):
    """`VECTORIZED`: the NumPy rule compile runs for each operation of `autograd.OPS`,
    read from the records.  An operation whose record has no rule (a user primitive)
    maps to the element-by-element use of its scalar rules.  Setting an entry gives the
    record its rule (as `register_vectorized` does); deleting one takes it away."""

    def __getitem__(self, name: str) -> BatchRule:
        op = OPS[name]
        return op.batch if op.batch is not None else _scalar_fallback(op)

    def __setitem__(self, name: str, rule: BatchRule) -> None:
        if name not in OPS:
            raise KeyError(f"register_vectorized: no operation named {name!r} in autograd.OPS")
        set_batch_rule(OPS[name], rule)

    def __delitem__(self, name: str) -> None:
        if OPS[name].batch is None:
            raise KeyError(name)
        set_batch_rule(OPS[name], None)

    def __iter__(self) -> Iterator[str]:
        return iter(list(OPS))

    def __len__(self) -> int:
        return len(OPS)

    def __repr__(self) -> str:
        return f"VECTORIZED({', '.join(OPS)})"


VECTORIZED: MutableMapping[str, BatchRule] = _RulesView()


def register_vectorized(name: str, forward: Callable[..., Any],
                        derivative: Callable[..., tuple],
                        invalid: Callable[..., Any] | None = None) -> None:
    """Give a user primitive a NumPy rule so compiled graphs run it vectorised.

    ``forward(*inputs, param)`` and ``derivative(*inputs, out, param)`` receive arrays
    (``param`` is None for user primitives) and must agree with the scalar rules.  The
    rule is kept in the primitive's record (``autograd.OPS[name].batch``): a primitive
    defined again under the same name starts without one.  A built-in operation keeps
    its own rule (the one the test suite checks against its scalar rules).
    """
    if name in _BUILT_IN:
        # Replaced, the built-in's rule would change every compiled graph in the process.
        raise ValueError(f"register_vectorized: {name!r} is a built-in operation with its "
                         "own NumPy rule; only a primitive defined with autograd.primitive "
                         "takes one")
    VECTORIZED[name] = BatchRule(forward, derivative, invalid)


def _scalar_fallback(op: Op) -> BatchRule:
    """Element-by-element use of an operation's scalar rules (for primitives without a
    NumPy rule): correct, but it runs at Python speed."""

    def forward(*args: Any) -> np.ndarray:
        *inputs, param = args
        arrays = np.broadcast_arrays(*[np.asarray(a, dtype=np.float64) for a in inputs])
        out = np.empty(arrays[0].shape)
        extra = (param,) if op.has_param else ()
        for pos in np.ndindex(out.shape):
            out[pos] = op.forward(*[float(a[pos]) for a in arrays], *extra)
        return out

    def derivative(*args: Any) -> tuple:
        *inputs, out, param = args
        arrays = np.broadcast_arrays(*[np.asarray(a, dtype=np.float64) for a in inputs],
                                     np.asarray(out, dtype=np.float64))
        slopes = [np.empty(arrays[0].shape) for _ in inputs]
        extra = (param,) if op.has_param else ()
        for pos in np.ndindex(arrays[0].shape):
            local = op.derivative(*[float(a[pos]) for a in arrays], *extra)
            for slope, value in zip(slopes, local):
                slope[pos] = float(value)
        return tuple(slopes)

    return BatchRule(forward, derivative)
