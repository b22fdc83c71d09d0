"""Running a batch: the groups of nodes that run as one NumPy call, and where their
operands and results live.

Batch-constant nodes (parameters, constants and nodes computed from them only) live
in a 1-d store S, one number each: they are computed once per call, whatever the
batch size, and their gradients (GS) are summed over the batch as they arrive.  Each
per-row group's results are one array of shape (nodes, batch), a *block*, kept as the
group's rule returned it (no copy); block 0 holds the columns of X.  An operand reads
its nodes as a view of one block when they are consecutive rows of it, and gathers
them otherwise.  Gradients are blocks too: the first contribution that covers a whole
block becomes its gradient array, later ones are added into it (see `_plan_writes`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..engine import OPS
from .rules import VECTORIZED

__all__ = ["Stores", "Operand", "Group", "ElementwiseGroup", "SumGroup", "DotGroup",
           "ConstantDotGroup", "LayerGroup", "LayerChain", "rows_of",
           "OWN", "ZEROS", "ADD"]

OWN, ZEROS, ADD = "own", "zeros", "add"


class Stores:
    """One call's arrays: values and gradients of every node (nothing shared between
    calls, so that threads can run one plan at once)."""

    __slots__ = ("S", "blocks", "GS", "grads", "batch", "sizes")

    def __init__(self, S: np.ndarray, blocks: list[Any], batch: int,
                 sizes: list[int]) -> None:
        self.S = S
        self.blocks = blocks
        self.batch = batch
        self.sizes = sizes  # rows of each block
        self.GS: np.ndarray = np.empty(0)
        self.grads: list[Any] = []


def _as_slice(rows: np.ndarray) -> Any:
    """A slice when the rows are consecutive and ascending (a view instead of a copy)."""
    flat = rows.ravel()
    if flat.size and np.array_equal(flat, np.arange(flat[0], flat[0] + flat.size)):
        return slice(int(flat[0]), int(flat[0]) + flat.size)
    return flat



class Operand:
    """Where one argument position of a group lives, for every node of the group.

    ``shape`` is (g,) for an argument of an elementwise group, (g, k) for a class of k
    arguments of an n-ary group, (k,) for a layer's shared inputs.  A batch-constant
    operand reads ``S[index]`` (a slice, viewed in ``shape``, when its slots are
    consecutive: a layer's weights); a per-row one reads ``rows`` of one ``block`` (a
    slice or a flat array) or, when its nodes lie in several blocks, ``pieces`` of
    (block, rows, positions in the operand).  ``modes`` says how each piece receives
    gradients (see `_plan_writes`).  When one node appears several times among ``rows``
    (``m`` in ``z_k - m`` for every k), its gradients are first added up (``merge``) and
    then go to ``targets``, each row once.
    """

    __slots__ = ("const", "grad", "shape", "size", "index", "unique", "block", "rows",
                 "pieces", "modes", "reshape", "merge", "target_rows")

    def __init__(self, locations: list[tuple[int, int]], shape: tuple[int, ...],
                 const: bool, grad: bool) -> None:
        self.const = const
        self.grad = grad  # does a parameter lie behind it (must gradients flow)?
        self.shape = shape
        self.size = len(locations)
        self.unique = len(set(locations)) == len(locations)
        self.reshape = len(shape) > 1  # values come flat, as (size, batch)
        self.pieces: list[tuple[int, Any, np.ndarray]] = []
        self.modes: list[str] = []
        self.block = -1
        self.rows: Any = None
        self.index: Any = None
        self.merge: tuple[np.ndarray, np.ndarray] | None = None
        self.target_rows: Any = None
        if const:
            self.index = _as_slice(np.array([slot for _, slot in locations], dtype=np.intp))
            return
        blocks = sorted({b for b, _ in locations})
        if len(blocks) == 1:
            self.block = blocks[0]
            rows = np.array([r for _, r in locations], dtype=np.intp)
            self.rows = self.target_rows = _as_slice(rows)
            if not self.unique:
                # Sorted by row, each run of equal rows is summed by one reduceat.
                order = np.argsort(rows, kind="stable")
                targets, starts = np.unique(rows[order], return_index=True)
                self.merge = (order, starts)
                self.target_rows = _as_slice(targets)
            return
        for b in blocks:
            positions = np.array([k for k, (bb, _) in enumerate(locations) if bb == b],
                                 dtype=np.intp)
            rows = np.array([r for bb, r in locations if bb == b], dtype=np.intp)
            self.pieces.append((b, _as_slice(rows), positions))

    def targets(self) -> list[tuple[int, Any]]:
        """(block, rows) of every piece that receives gradients, in order."""
        if self.const:
            return []
        if self.block >= 0:
            return [(self.block, self.target_rows)]
        return [(b, rows) for b, rows, _ in self.pieces]

    def constants(self, S: np.ndarray) -> np.ndarray:
        """A batch-constant operand's values, in `shape`."""
        values = S[self.index]
        return values.reshape(self.shape) if self.reshape else values

    def get(self, st: Stores) -> np.ndarray:
        """The operand's values: shape + (1,) from S, shape + (batch,) from the blocks."""
        if self.const:
            return self.constants(st.S)[..., None]
        if self.block >= 0:
            values = st.blocks[self.block][self.rows]
        else:
            values = np.empty((self.size, st.batch))
            for b, rows, positions in self.pieces:
                values[positions] = st.blocks[b][rows]
        return values.reshape(self.shape + (-1,)) if self.reshape else values

    def add_constants(self, GS: np.ndarray, total: np.ndarray) -> None:
        """Add gradients of `shape` (already summed over the batch) into GS."""
        if isinstance(self.index, slice):
            view = GS[self.index]
            if self.reshape:
                view = view.reshape(self.shape)
            view += total
        elif self.unique:
            GS[self.index] += _broadcast(total, self.shape).ravel()
        else:  # the same node twice: fancy += would keep only one contribution
            np.add.at(GS, self.index, _broadcast(total, self.shape).ravel())

    def add(self, st: Stores, contribution: Any, fresh: bool) -> bool:
        """Add d root / d operand (broadcastable to shape + (batch or 1,)) into the
        gradients.  `fresh`: the contribution is an array that nobody else will change,
        which may become a block's gradient as it is; returns True if it did."""
        if self.const:
            self.add_constants(st.GS, np.add.reduce(contribution, axis=-1))
            return False
        batch = st.batch
        if self.block < 0:
            full = self.shape + (batch,)
            flat = _broadcast(contribution, full).reshape(self.size, batch)
            for (b, rows, positions), mode in zip(self.pieces, self.modes):
                _add_rows(st, b, rows, mode, self.unique, flat[positions])
            return False
        if self.merge is not None:
            order, starts = self.merge
            full = self.shape + (batch,)
            flat = _broadcast(contribution, full).reshape(self.size, batch)
            contribution = (np.add.reduce(flat, axis=0, keepdims=True) if starts.size == 1
                            else np.add.reduceat(flat[order], starts, axis=0))
            fresh = True
        mode = self.modes[0]
        if mode == OWN:  # the first gradient of the whole block becomes its array
            shape = (st.sizes[self.block], batch)
            if fresh and contribution.flags.c_contiguous and contribution.size == shape[0] \
                    * batch and contribution.shape[-1] == batch:
                st.grads[self.block] = contribution.reshape(shape)
                return True
            full = shape if self.merge is not None else self.shape + (batch,)
            target = np.empty(shape)
            target.reshape(full)[...] = contribution  # a copy, broadcasting as it goes
            st.grads[self.block] = target
            return False
        if mode == ZEROS:
            st.grads[self.block] = np.zeros((st.sizes[self.block], batch))
        rows = self.target_rows
        if isinstance(rows, slice):  # a view: added in place, broadcasting as needed
            view = st.grads[self.block][rows]
            if self.reshape and self.merge is None:
                view = view.reshape(self.shape + (batch,))
            view += contribution
            return False
        if self.merge is None:
            contribution = _broadcast(contribution, self.shape + (batch,)) \
                .reshape(self.size, batch)
        st.grads[self.block][rows] += contribution  # rows unique here
        return False


def _broadcast(values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """`values` in `shape`: itself when it has that shape already (the common case:
    np.broadcast_to costs a few microseconds per call, a noticeable share of a small
    batch's step)."""
    return values if values.shape == shape else np.broadcast_to(values, shape)


def _add_rows(st: Stores, block: int, rows: Any, mode: str, unique: bool,
              values: np.ndarray) -> None:
    if mode == ZEROS:
        st.grads[block] = np.zeros((st.sizes[block], st.batch))
    target = st.grads[block]
    if unique:
        target[rows] += values
    else:  # fancy += would keep only one of the repeated rows' contributions
        np.add.at(target, rows, values)


class Group:
    """Nodes of one operation, with the same layout of operands, that run together."""

    name: str
    out_const: bool
    out: slice      # slots in S (batch-constant group); else rows 0..g-1 of `block`
    block: int
    depth: int      # the longest path from a leaf to its deepest node
    needed: bool    # does the gradient have to flow through it?

    def operands(self) -> list[Operand]:
        """Every operand that receives gradients, in the order `backward` adds into them."""
        raise NotImplementedError

    def forward(self, st: Stores) -> tuple[Any, np.ndarray, Any]:
        """(what backward needs, the group's values (g, batch or 1), invalid or None)."""
        raise NotImplementedError

    def backward(self, st: Stores, saved: Any, out: np.ndarray, gout: np.ndarray) -> None:
        raise NotImplementedError


def rows_of(group: Group) -> int:
    return group.out.stop - group.out.start


class ElementwiseGroup(Group):
    def __init__(self, name: str, param: Any, operands: list[Operand]) -> None:
        self.name = name
        self.rule = VECTORIZED[name]
        self.param = param
        self.args = operands
        self.needed = any(o.grad for o in operands)

    def operands(self) -> list[Operand]:
        return [o for o in self.args if o.grad]

    def forward(self, st: Stores) -> tuple[Any, np.ndarray, Any]:
        args = [o.get(st) for o in self.args]
        out = self.rule.forward(*args, self.param)
        invalid = None
        if self.rule.invalid is not None:
            invalid = self.rule.invalid(*args, out, self.param)
        return args, out, invalid

    def backward(self, st: Stores, saved: Any, out: np.ndarray, gout: np.ndarray) -> None:
        locals_ = self.rule.derivative(*saved, out, self.param)
        # Nothing reads this group's gradient after its backward: one operand may take it
        # over as its own where the gradient passes through unchanged (+, -), and the last
        # operand may have its contribution written over it (relu's gout * slope) instead
        # of into a new array, which would come from memory not touched for a while.  Not
        # a batch-constant group's: its gout is a view of the store GS.
        needy = [(o, local) for o, local in zip(self.args, locals_) if o.grad]
        given = self.out_const
        last = len(needy) - 1
        for k, (operand, local) in enumerate(needy):
            if isinstance(local, (int, float)) and local == 1.0:
                given = operand.add(st, gout, not given) or given
            elif k == last and not given:
                np.multiply(gout, local, out=gout)
                operand.add(st, gout, True)
            else:
                operand.add(st, gout * local, True)


class _NaryGroup(Group):
    """sum and dot: the engine adds their terms with math.fsum, which raises on
    -inf + inf and on an exact sum too big for a float (a `DomainError` then).  That can
    only happen where NumPy's sum is not finite, so only those entries are replayed
    with the engine's scalar rule."""

    parent_locations: list[list[tuple[bool, int, int]]]  # per node: (const, slot/block, row)
    checks_fsum = True

    def _fsum_failures(self, st: Stores, out: np.ndarray) -> Any:
        # The common case in one pass and no temporary: the sum of the entries is finite
        # when every entry is finite (an overflowing sum of finite entries goes on to the
        # per-entry look below).  Not BLAS's dot (sum of squares): OpenBLAS splits a dot
        # of more than 10,000 numbers over its threads, and waking them cost 20 us of a
        # 1,000-row step's 16-node layer (np.add.reduce: 6 us).
        if not self.checks_fsum or math.isfinite(np.add.reduce(out, axis=None)):
            return None
        return self._replayed_failures(st, out)

    def _replayed_failures(self, st: Stores, out: np.ndarray) -> Any:
        """Where the engine's scalar rule fails, among the entries of `out` that are
        not finite (None if none is): the rare rest after `_fsum_failures`'s first test."""
        suspects = ~np.isfinite(out)
        if not suspects.any():
            return None
        forward = OPS[self.name].forward
        invalid = np.zeros(out.shape, dtype=bool)
        for g, b in zip(*np.nonzero(suspects)):
            args = [float(st.S[slot]) if const else float(st.blocks[slot][row, b])
                    for const, slot, row in self.parent_locations[g]]
            try:
                forward(*args)
            except (ArithmeticError, ValueError):
                invalid[g, b] = True
        return invalid


class SumGroup(_NaryGroup):
    """n-ary sums: the engine's `sum` nodes, and chains of ``+`` flattened into one node
    at recording time (named ``+``).  Terms are gathered into (g, k, batch) stacks, one
    per operand layout, and each stack is added up in argument order, as a chain of
    ``+`` does."""

    def __init__(self, name: str, classes: list[Operand],
                 parent_locations: list[list[tuple[bool, int, int]]]) -> None:
        self.name = name
        self.checks_fsum = name == "sum"  # a chain of + never raises, as eager's +
        self.classes = classes
        self.parent_locations = parent_locations
        self.needed = any(c.grad for c in classes)

    def operands(self) -> list[Operand]:
        return [c for c in self.classes if c.grad]

    def forward(self, st: Stores) -> tuple[Any, np.ndarray, Any]:
        total = None
        for c in self.classes:
            terms = c.get(st)
            # Summed along axis 1 with the batch innermost, NumPy adds the terms one after
            # the other; a batch-constant stack (g, k, 1) would be summed pairwise.
            part = np.add.reduce(terms, axis=1) if not c.const \
                else np.add.accumulate(terms, axis=1)[:, -1]
            total = part if total is None else total + part
        return None, total, self._fsum_failures(st, total)

    def backward(self, st: Stores, saved: Any, out: np.ndarray, gout: np.ndarray) -> None:
        for c in self.classes:
            if c.grad:
                c.add(st, gout[:, None, :], False)  # the same slope for every term


def _accumulate(total: np.ndarray, part: np.ndarray) -> np.ndarray:
    """total + part, in place when the shapes allow it: (g, batch or 1) arrays."""
    if part.shape[-1] == 1 or total.shape == part.shape:
        total += part
        return total
    return total + part


class ConstantDotGroup(_NaryGroup):
    """w.x + b nodes whose every operand is batch-constant (an L2 penalty's p . p): one
    number per node for the whole batch, so the (g, k) operands are read from S as they
    are, without the batch axis the general `DotGroup` carries through each step."""

    def __init__(self, terms: list[tuple[Operand, Operand]], bias: Operand,
                 parent_locations: list[list[tuple[bool, int, int]]]) -> None:
        self.name = "dot"
        self.terms = terms
        self.bias = bias
        self.parent_locations = parent_locations
        self.needed = bias.grad or any(w.grad or x.grad for w, x in terms)

    def operands(self) -> list[Operand]:
        found = [o for w, x in self.terms for o in (w, x) if o.grad]
        return found + ([self.bias] if self.bias.grad else [])

    def forward(self, st: Stores) -> tuple[Any, np.ndarray, Any]:
        S = st.S
        total = self.bias.constants(S).copy()
        saved = []
        for w, x in self.terms:
            W, X = w.constants(S), x.constants(S)  # (g, k) each
            total += np.add.reduce(W * X, axis=1)
            saved.append((W, X))
        out = total[:, None]
        return saved, out, self._fsum_failures(st, out)

    def backward(self, st: Stores, saved: Any, out: np.ndarray, gout: np.ndarray) -> None:
        GS = st.GS  # gout is (g, 1): d root / d node, summed over the batch already
        for (w, x), (W, X) in zip(self.terms, saved):
            if w.grad:
                w.add_constants(GS, gout * X)
            if x.grad:
                x.add_constants(GS, gout * W)
        if self.bias.grad:
            self.bias.add_constants(GS, gout[:, 0])


def _layer_input_gradient(W: np.ndarray, gout: np.ndarray) -> np.ndarray:
    """d root / d inputs of a layer: W^T (g, k) @ gout (g, batch).  For one node (g = 1)
    that is an outer product: broadcasting computes the same products, without
    np.matmul's slow path for an inner dimension of 1 (1.5x faster at 1,000 rows, 6x at
    10,000)."""
    return W.T * gout if W.shape[0] == 1 else W.T @ gout


class DotGroup(_NaryGroup):
    """n-ary w.x + b nodes.  Terms are split into classes by where w and x live; the
    common case of a layer (weights batch-constant, inputs per row and shared by every
    neuron of the group) is one matrix product, written straight into the result."""

    def __init__(self, terms: list[tuple[Operand, Operand, bool]], bias: Operand,
                 parent_locations: list[list[tuple[bool, int, int]]]) -> None:
        self.name = "dot"
        self.terms = terms  # (weights, inputs, inputs shared by every node of the group)
        self.bias = bias
        self.parent_locations = parent_locations
        self.needed = bias.grad or any(w.grad or x.grad for w, x, _ in terms)

    def operands(self) -> list[Operand]:
        found = []
        for w, x, _ in self.terms:
            found += [o for o in (w, x) if o.grad]
        return found + ([self.bias] if self.bias.grad else [])

    def forward(self, st: Stores) -> tuple[Any, np.ndarray, Any]:
        total = None
        saved = []
        for w, x, shared in self.terms:
            if shared:
                W = w.constants(st.S)  # (g, k)
                X = x.get(st)         # (k, batch)
                part = W @ X
            else:
                W = w.get(st)         # (g, k, batch or 1)
                X = x.get(st)
                part = np.add.reduce(W * X, axis=1)
            saved.append((W, X))
            # The first part is a new array: the others and the bias go in in place.
            total = part if total is None else _accumulate(total, part)
        b = self.bias.get(st)
        total = b.copy() if total is None else _accumulate(total, b)
        return saved, total, self._fsum_failures(st, total)

    def backward(self, st: Stores, saved: Any, out: np.ndarray, gout: np.ndarray) -> None:
        for (w, x, shared), (W, X) in zip(self.terms, saved):
            if shared:
                if w.grad:
                    # (g, batch) @ (batch, k): summed over the batch already.
                    w.add_constants(st.GS, gout @ X.T)
                if x.grad:
                    x.add(st, _layer_input_gradient(W, gout), True)
            else:
                g3 = gout[:, None, :]
                if w.grad:
                    w.add(st, g3 * X, True)
                if x.grad:
                    x.add(st, g3 * W, True)
        if self.bias.grad:  # the last to read gout: it may take it over
            self.bias.add(st, gout, True)


class LayerGroup(DotGroup):
    """A `DotGroup` that is exactly one layer: weights and biases in consecutive slots of
    S, the inputs consecutive rows of one block, shared by every node.  The same
    NumPy calls as `DotGroup` makes for it, in the same order (so the same bits), with
    the views' places worked out once: a small batch's step is mostly the Python
    around its NumPy calls."""

    def __init__(self, terms: list[tuple[Operand, Operand, bool]], bias: Operand,
                 parent_locations: list[list[tuple[bool, int, int]]]) -> None:
        super().__init__(terms, bias, parent_locations)
        (w, x, _), = terms
        self.inputs = x
        # Read with one attribute lookup per call: in a step of a few groups, a lookup per
        # view shows (the inline forms below save ~10 us of a 1,000-row moons step).
        self.layout = (w.index, w.shape, bias.index, x.block, x.rows)
        self.flows = (w.grad, x.grad, bias.grad)

    @staticmethod
    def fits(terms: list[tuple[Operand, Operand, bool]], bias: Operand) -> bool:
        """Is this dot one layer, as `LayerGroup` needs it laid out?"""
        if len(terms) != 1 or not bias.const or not isinstance(bias.index, slice):
            return False
        (w, x, shared), = terms
        return (shared and isinstance(w.index, slice) and x.block >= 0
                and isinstance(x.rows, slice) and x.merge is None)

    def forward(self, st: Stores) -> tuple[Any, np.ndarray, Any]:
        _, _, _, x_block, x_rows = self.layout
        X = st.blocks[x_block][x_rows]      # (k, batch)
        W, total, invalid = self.run(st, X)
        return ((W, X),), total, invalid

    def run(self, st: Stores, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, Any]:
        """(W, W @ X + b, where the engine's exact sum fails or None) for inputs X."""
        w_slots, w_shape, b_slots, _, _ = self.layout
        S = st.S
        W = S[w_slots].reshape(w_shape)     # (g, k)
        total = W @ X
        total += S[b_slots][:, None]
        # `_fsum_failures`'s first test, inline: it passes but for non-finite results.
        if math.isfinite(np.add.reduce(total, axis=None)):
            return W, total, None
        return W, total, self._replayed_failures(st, total)

    def backward(self, st: Stores, saved: Any, out: np.ndarray, gout: np.ndarray) -> None:
        (W, X), = saved
        self.run_back(st, W, X, gout, True)

    def run_back(self, st: Stores, W: np.ndarray, X: np.ndarray, gout: np.ndarray,
                 hand_over: bool) -> np.ndarray | None:
        """Add the weights' and the bias's gradients into GS.  The inputs' gradient goes
        to the inputs' block (`hand_over`) or is returned (to a chain's next stage)."""
        w_slots, w_shape, b_slots, x_block, _ = self.layout
        w_grad, x_grad, b_grad = self.flows
        GS = st.GS
        if w_grad:
            view = GS[w_slots].reshape(w_shape)
            view += gout @ X.T  # (g, batch) @ (batch, k): summed over the batch already
        gin = _layer_input_gradient(W, gout) if x_grad else None  # (k, batch), new
        if b_grad:
            GS[b_slots] += np.add.reduce(gout, axis=-1)
        if gin is None or not hand_over:
            return gin
        if self.inputs.modes[0] == OWN:  # all of the block's rows, its first gradient
            st.grads[x_block] = gin
        else:
            self.inputs.add(st, gin, True)
        return None


class LayerChain(Group):
    """Consecutive groups that are a network's layers and their activations (dot, relu,
    dot, relu, dot, say), run as one group: each stage hands its array straight to the
    next, with nothing in between to look up, so a small network's step is spent in its
    NumPy calls.  The calls are the stages' own (`LayerGroup`'s and the activation
    rule's), in the same order, so the numbers are the same bits; see `make_plan` for
    when groups form a chain.  Only dot stages can find a domain problem (activations
    with a domain are left out of chains), so the chain is named after them.
    """

    def __init__(self, stages: list[tuple[LayerGroup, ElementwiseGroup | None]]) -> None:
        self.stages = stages
        self.name = "dot"
        last_layer, last_act = stages[-1]
        end = last_act if last_act is not None else last_layer
        self.out_const, self.out, self.block = False, end.out, end.block
        self.depth = end.depth
        self.needed = True
        self.first = stages[0][0]

    def operands(self) -> list[Operand]:
        return self.first.operands()

    def forward(self, st: Stores) -> tuple[Any, np.ndarray, Any]:
        blocks = st.blocks
        _, _, _, x_block, x_rows = self.first.layout
        X = blocks[x_block][x_rows]
        saved = []
        for layer, act in self.stages:
            W, z, invalid = layer.run(st, X)
            if invalid is not None and invalid.any():
                return saved, z, invalid
            blocks[layer.block] = z  # where a replayed sum (and any later reader) looks
            if act is None:
                saved.append((W, X, z, None))
                X = z
                continue
            a = act.rule.forward(z, act.param)
            if a.shape != z.shape:  # a rule that ignores its input's shape
                a = np.broadcast_to(a, z.shape)
            blocks[act.block] = a
            saved.append((W, X, z, a))
            X = a
        return saved, X, None

    def backward(self, st: Stores, saved: Any, out: np.ndarray, gout: np.ndarray) -> None:
        # The stages' backward steps, last stage first, as the separate groups take them:
        # the activation's slope written over the gradient (nothing else reads it), then
        # the layer's.
        first = self.first
        for (layer, act), (W, X, z, a) in zip(reversed(self.stages), reversed(saved)):
            if act is not None:
                local, = act.rule.derivative(z, a, act.param)
                if not (isinstance(local, (int, float)) and local == 1.0):
                    np.multiply(gout, local, out=gout)
            passed = layer.run_back(st, W, X, gout, layer is first)
            if passed is None:  # the first stage handed it over (or its inputs need none)
                return
            gout = passed
