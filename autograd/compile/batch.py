"""Running a batch: the groups of nodes that run as one NumPy call, and where their
operands live.

Batch-constant nodes (parameters, constants and nodes computed from them only) live
in a 1-d store S, one number each; per-row nodes live in a 2-d store V of shape
(nodes, batch).  G and GS hold their gradients.  Gradients of batch-constant nodes are
summed over the batch as they arrive.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..engine import OPS
from .rules import VECTORIZED

__all__ = ["Operand", "Group", "ElementwiseGroup", "SumGroup", "DotGroup", "compact",
           "shape_of"]


def compact(index: np.ndarray) -> Any:
    """A slice when the indices are consecutive (a view instead of a copy)."""
    flat = index.ravel()
    if index.ndim == 1 and flat.size and np.array_equal(
            flat, np.arange(flat[0], flat[0] + flat.size)):
        return slice(int(flat[0]), int(flat[0]) + flat.size)
    return index


def _unique(index: Any) -> bool:
    if isinstance(index, slice):
        return True
    flat = np.asarray(index).ravel()
    return np.unique(flat).size == flat.size


class Operand:
    """Where one argument position of a group lives: store, indices, repeats or not."""

    __slots__ = ("const", "index", "unique", "grad")

    def __init__(self, const: bool, index: np.ndarray, grad: bool) -> None:
        self.const = const
        self.index = compact(index)
        self.unique = _unique(self.index)
        self.grad = grad  # does any parameter lie behind it?

    def get(self, S: np.ndarray, V: np.ndarray) -> np.ndarray:
        if self.const:
            return S[self.index][..., None]
        return V[self.index]

    def add(self, GS: np.ndarray, G: np.ndarray, contribution: np.ndarray) -> None:
        """Add a contribution of shape index.shape + (batch or 1,) into the gradients."""
        if self.const:
            target, contribution = GS, contribution.sum(axis=-1)
        else:
            target = G
            contribution = np.broadcast_to(contribution,
                                           shape_of(self.index) + (G.shape[1],))
        if self.unique:
            target[self.index] += contribution
        else:  # the same node appears twice: fancy += would keep only one contribution
            flat = np.asarray(self.index).ravel()
            np.add.at(target, flat, contribution.reshape((flat.size,) + target.shape[1:]))


def shape_of(index: Any) -> tuple[int, ...]:
    if isinstance(index, slice):
        return (index.stop - index.start,)
    return tuple(index.shape)


class Group:
    """Nodes of one operation at one depth, with the same layout of operands."""

    name: str
    out_const: bool
    out: slice
    needed: bool  # does the gradient have to flow through it?

    def forward(self, S: np.ndarray, V: np.ndarray) -> tuple[Any, np.ndarray, Any]:
        raise NotImplementedError

    def backward(self, S: np.ndarray, V: np.ndarray, GS: np.ndarray, G: np.ndarray,
                 saved: Any, gout: np.ndarray) -> None:
        raise NotImplementedError


class _NaryGroup(Group):
    """sum and dot: the engine adds their terms with math.fsum, which raises on
    -inf + inf and on an exact sum too big for a float (a `DomainError` then).  That can
    only happen where NumPy's sum is not finite, so only those entries are replayed
    with the engine's scalar rule."""

    index: np.ndarray       # (g, number of parents): slots of every parent, in order
    consts: tuple[bool, ...]

    def _fsum_failures(self, S: np.ndarray, V: np.ndarray, out: np.ndarray) -> Any:
        suspects = ~np.isfinite(out)
        if not suspects.any():
            return None
        forward = OPS[self.name].forward
        invalid = np.zeros(out.shape, dtype=bool)
        for g, b in zip(*np.nonzero(suspects)):
            args = [float(S[i]) if const else float(V[i, b])
                    for i, const in zip(self.index[g], self.consts)]
            try:
                forward(*args)
            except (ArithmeticError, ValueError):
                invalid[g, b] = True
        return invalid


class ElementwiseGroup(Group):
    def __init__(self, name: str, param: Any, operands: list[Operand], out_const: bool,
                 out: slice) -> None:
        self.name = name
        self.rule = VECTORIZED[name]
        self.param = param
        self.operands = operands
        self.out_const = out_const
        self.out = out
        self.needed = any(o.grad for o in operands)

    def forward(self, S: np.ndarray, V: np.ndarray) -> tuple[Any, np.ndarray, Any]:
        args = [o.get(S, V) for o in self.operands]
        out = self.rule.forward(*args, self.param)
        invalid = None
        if self.rule.invalid is not None:
            invalid = self.rule.invalid(*args, out, self.param)
        return args, out, invalid

    def backward(self, S: np.ndarray, V: np.ndarray, GS: np.ndarray, G: np.ndarray,
                 saved: Any, gout: np.ndarray) -> None:
        args, out = saved
        locals_ = self.rule.derivative(*args, out, self.param)
        for operand, local in zip(self.operands, locals_):
            if operand.grad:
                operand.add(GS, G, gout * local)


class SumGroup(_NaryGroup):
    """n-ary sums: inputs gathered into (g, k, batch) stacks per operand layout."""

    def __init__(self, classes: list[Operand], out_const: bool, out: slice,
                 index: np.ndarray, consts: tuple[bool, ...]) -> None:
        self.name = "sum"
        self.index, self.consts = index, consts
        self.classes = classes
        self.out_const = out_const
        self.out = out
        self.needed = any(c.grad for c in classes)

    def forward(self, S: np.ndarray, V: np.ndarray) -> tuple[Any, np.ndarray, Any]:
        total = None
        for c in self.classes:
            part = c.get(S, V).sum(axis=1)
            total = part if total is None else total + part
        return None, total, self._fsum_failures(S, V, total)

    def backward(self, S: np.ndarray, V: np.ndarray, GS: np.ndarray, G: np.ndarray,
                 saved: Any, gout: np.ndarray) -> None:
        for c in self.classes:
            if c.grad:
                k = shape_of(c.index)[1]
                c.add(GS, G, np.broadcast_to(gout[:, None, :],
                                             (gout.shape[0], k, gout.shape[1])))


class DotGroup(_NaryGroup):
    """n-ary w.x + b nodes.  Terms are split into classes by where w and x live; the
    common case of a layer (weights batch-constant, inputs per row and shared by every
    neuron of the group) is one matrix product."""

    def __init__(self, terms: list[tuple[Operand, Operand, np.ndarray | None]],
                 bias: Operand, out_const: bool, out: slice, index: np.ndarray,
                 consts: tuple[bool, ...]) -> None:
        self.name = "dot"
        self.index, self.consts = index, consts
        self.terms = terms  # (weights, inputs, shared input row or None)
        self.bias = bias
        self.out_const = out_const
        self.out = out
        self.needed = bias.grad or any(w.grad or x.grad for w, x, _ in terms)

    def forward(self, S: np.ndarray, V: np.ndarray) -> tuple[Any, np.ndarray, Any]:
        total = None
        saved = []
        for w, x, shared in self.terms:
            if shared is not None:
                W = S[w.index]
                X = V[shared]
                part = W @ X
            else:
                W = w.get(S, V)
                X = x.get(S, V)
                part = (W * X).sum(axis=1)
            saved.append((W, X))
            total = part if total is None else total + part
        b = self.bias.get(S, V)
        total = b.copy() if total is None else total + b
        return saved, total, self._fsum_failures(S, V, total)

    def backward(self, S: np.ndarray, V: np.ndarray, GS: np.ndarray, G: np.ndarray,
                 saved: Any, gout: np.ndarray) -> None:
        for (w, x, shared), (W, X) in zip(self.terms, saved[0]):
            if shared is not None:
                if w.grad:
                    # (g, batch) @ (batch, k): summed over the batch already.
                    dW = gout @ X.T
                    if w.unique:
                        GS[w.index] += dW
                    else:
                        np.add.at(GS, np.asarray(w.index).ravel(), dW.ravel())
                if x.grad:
                    dX = W.T @ gout
                    _add_rows(G, shared, dX)
            else:
                g3 = gout[:, None, :]
                if w.grad:
                    w.add(GS, G, g3 * X)
                if x.grad:
                    x.add(GS, G, g3 * W)
        if self.bias.grad:
            self.bias.add(GS, G, gout)


def _add_rows(G: np.ndarray, rows: Any, values: np.ndarray) -> None:
    if _unique(rows):
        G[rows] += values
    else:
        np.add.at(G, np.asarray(rows), values)
