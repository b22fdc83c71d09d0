"""Trace a scalar function once, then run it on a whole batch with NumPy.

``c = autograd.compile(fn, nargs)`` turns ``fn`` -- a function of ``nargs`` Values (one
example: its features and its target) that returns one Value -- into a batch function:

* ``c(X)`` with ``X`` of shape ``(batch, nargs)`` returns ``fn``'s value for every row, as
  a NumPy array of shape ``(batch,)``;
* ``c.backward(X)`` returns the mean of those values and adds d mean / d p into ``p.grad``
  for every parameter ``p``, exactly as ``(sum(fn(*row) for row in X) / len(X)).backward()``
  would.

How it works.  On the first call, ``fn`` runs on placeholder leaf Values holding the first
row, and the graph it builds is recorded in topological order.  Every recorded node
becomes an array over the batch; nodes of the same operation at the same depth (longest
path from a leaf) do not depend on each other, so each such group runs as one vectorised
NumPy call, forward and, in reverse order, backward.  A layer of neurons built with
`autograd.dot` is one group, evaluated as a matrix product.

What the leaves of the recorded graph become (decided by comparing two traces):

* the placeholders: the columns of ``X``;
* **parameters**: leaves that are the *same object* in every trace, i.e. Values ``fn``
  closes over (a model's weights).  Their ``.data`` is read at every call, so optimizer
  updates are seen, and gradients are added into their ``.grad``;
* **constants**: leaves created afresh inside ``fn`` from numbers (the 2 in ``x * 2``).
  Their value must be the same in every trace.

Graphs that depend on the data.  The recording is only valid for rows whose graph has
the same structure (same operations, same parent positions, same parameters, same
constants).  A Python ``if`` on a Value's data, ``max(a, b)``, a loop whose length depends
on the data, or a constant taken from the data (``x.detach()``, ``Value(x.data)``) builds
another graph for another row.  Python can only tell one number from another by looking
at it, so ``compile`` watches the traces it makes: every time code outside the engine
reads ``.data`` or ``.grad``, compares a Value, converts it with ``float`` or ``repr``,
detaches it, switches recording off with `no_grad`, or builds a derivative graph with
``grad(..., create_graph=True)`` (derivative rules branch on the data), the place is
noted in ``c.data_reads``.  The guarantee, precisely:

* if ``fn`` never looked (``c.data_reads`` is empty), the graph cannot depend on the
  numbers, and the compiled results hold for every row and every parameter value.  No
  call after the first re-traces anything.  This needs ``fn`` to be a function of its
  arguments and of the parameters' data only (no random numbers, no global counters);
* if it did look, the first call re-traces up to ``first_check`` rows (default 8, spread
  evenly over the batch, first and last included) and every later call re-traces
  ``check`` more (default 1), taking the rows in turn so that repeated calls on the same
  data (training epochs) eventually check every row against the current parameters.  A
  branch on the parameters alone is caught at the call where it flips; a branch on the
  data is caught only if a checked row takes the other side.  A difference raises
  `GraphMismatchError`, naming the row and the first node that differs;
* ``check='all'`` re-traces every row at every call, whatever ``fn`` does: results are
  then guaranteed to equal the eager engine's, at the cost of an eager forward pass.

Operations whose graph does not depend on the data (relu, abs, leaky_relu, ...) compile
fine: their kink is inside one node, and the vectorised rule handles both sides.

Domain errors.  Where the eager engine raises `DomainError` (log(0), x / 0, sqrt(-1),
exp overflow, ...), the compiled forward pass detects it with a vectorised test per
group, replays the rows eagerly up to the first offending one, and raises the engine's
own error with the row number added.  It never returns the nan or inf eager would refuse.

Vectorised rules.  Each operation's record in `autograd.OPS` holds its NumPy rule
(``op.batch``, an `autograd.BatchRule`: forward, local derivatives, domain test), the
batch twin of its scalar rules.  `VECTORIZED` is the view of them this module reads.  A
primitive defined with `autograd.primitive` has no NumPy rule: it falls back to calling
its scalar forward and derivative element by element (correct, not fast) unless one is
given with `register_vectorized`.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from .engine import (
    OPS,
    BatchRule,
    DomainError,
    Op,
    Value,
    enable_grad,
    observe_reads,
    set_batch_rule,
    topological_order,
)

__all__ = ["compile", "Compiled", "GraphMismatchError", "VectorRule", "VECTORIZED",
           "register_vectorized"]


class GraphMismatchError(ValueError):
    """The traced function builds a different graph for another row (or call)."""


# --------------------------------------------------------------------------------------
# The NumPy rules: each operation's record holds its own (`Op.batch`, a `BatchRule`).
#
# Unary rules take (x, param), binary rules (a, b, param), n-ary rules (*inputs, param);
# derivative rules get the forward output after the inputs, as in `autograd.OPS`.  The
# arrays broadcast against each other: a batch-constant operand (a parameter) arrives
# with shape (g, 1), a per-row operand with shape (g, batch).
# --------------------------------------------------------------------------------------

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
    defined again under the same name starts without one.
    """
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


# --------------------------------------------------------------------------------------
# Recording a trace.
# --------------------------------------------------------------------------------------

def _float_key(x: Any) -> Any:
    """A hashable key that tells apart every float (nan == nan, 0.0 != -0.0)."""
    return x.hex() if type(x) is float else x


@dataclass
class _Trace:
    order: list[Value]          # the graph in topological order (root last)
    placeholders: list[Value]
    output: Value


class _DataWatch:
    """Notes every place where code outside the engine looks at a Value's number.

    Its `saw` is given to the engine's explicit hook, `autograd.engine.observe_reads`:
    while that block is open the engine reports reads of ``.data`` and ``.grad``, comparisons,
    ``float``, ``repr``, ``format``, ``detach``, `no_grad` and derivative graphs built with
    ``grad(..., create_graph=True)``; the engine's own reads (computing an operation) go
    through private slots and are not reported.  Nothing on `Value` is replaced.

    Looks by other threads while the block is open are noted too: that can only cause
    extra checks, never fewer.
    """

    def __init__(self) -> None:
        self.reads: list[str] = []

    def saw(self, what: str, frame: Any) -> None:
        """The `observe_reads` callback: note the look and where it happened."""
        where = f"{what} at {frame.f_code.co_filename}:{frame.f_lineno}"
        if len(self.reads) < 20 and where not in self.reads:
            self.reads.append(where)


def _run(fn: Callable[..., Any], row: Sequence[float],
         watch: _DataWatch | None = None) -> _Trace:
    placeholders = [Value(float(v)) for v in row]
    with enable_grad():  # recording must work even if the caller is under no_grad
        if watch is None:
            out = fn(*placeholders)
        else:
            with observe_reads(watch.saw):
                out = fn(*placeholders)
    if not isinstance(out, Value):
        raise TypeError(f"compile: fn must return a Value, got {type(out).__name__}")
    return _Trace(topological_order(out), placeholders, out)


def _signature(trace: _Trace, param_ids: set[int]) -> list[tuple]:
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


def _mismatch(recorded: list[tuple], found: list[tuple], row: int, where: str,
              params: dict[int, Value]) -> GraphMismatchError:
    first = next((i for i, (a, b) in enumerate(zip(recorded, found)) if a != b),
                 min(len(recorded), len(found)))
    detail = (f"first difference at node {first}: recorded "
              f"{_describe(recorded[first], params) if first < len(recorded) else 'nothing'}"
              f", now {_describe(found[first], params) if first < len(found) else 'nothing'}")
    return GraphMismatchError(
        f"compile: fn builds a different graph for row {row} {where} "
        f"({len(found)} nodes, recorded {len(recorded)}); {detail}. The graph depends on "
        f"the data (a Python if/max/loop on a Value's data?), so it cannot be compiled: "
        f"call fn eagerly instead."
    )


# --------------------------------------------------------------------------------------
# The plan: slots in two stores, and groups of nodes that run as one NumPy call.
#
# Batch-constant nodes (parameters, constants and nodes computed from them only) live
# in a 1-d store S, one number each; per-row nodes live in a 2-d store V of shape
# (nodes, batch).  G and GS hold their gradients.  Gradients of batch-constant nodes are
# summed over the batch as they arrive.
# --------------------------------------------------------------------------------------

def _compact(index: np.ndarray) -> Any:
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


class _Operand:
    """Where one argument position of a group lives: store, indices, repeats or not."""

    __slots__ = ("const", "index", "unique", "grad")

    def __init__(self, const: bool, index: np.ndarray, grad: bool) -> None:
        self.const = const
        self.index = _compact(index)
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
                                           _shape(self.index) + (G.shape[1],))
        if self.unique:
            target[self.index] += contribution
        else:  # the same node appears twice: fancy += would keep only one contribution
            flat = np.asarray(self.index).ravel()
            np.add.at(target, flat, contribution.reshape((flat.size,) + target.shape[1:]))


def _shape(index: Any) -> tuple[int, ...]:
    if isinstance(index, slice):
        return (index.stop - index.start,)
    return tuple(index.shape)


class _Group:
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


class _NaryGroup(_Group):
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


class _ElementwiseGroup(_Group):
    def __init__(self, name: str, param: Any, operands: list[_Operand], out_const: bool,
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


class _SumGroup(_NaryGroup):
    """n-ary sums: inputs gathered into (g, k, batch) stacks per operand layout."""

    def __init__(self, classes: list[_Operand], out_const: bool, out: slice,
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
                k = _shape(c.index)[1]
                c.add(GS, G, np.broadcast_to(gout[:, None, :],
                                             (gout.shape[0], k, gout.shape[1])))


class _DotGroup(_NaryGroup):
    """n-ary w.x + b nodes.  Terms are split into classes by where w and x live; the
    common case of a layer (weights batch-constant, inputs per row and shared by every
    neuron of the group) is one matrix product."""

    def __init__(self, terms: list[tuple[_Operand, _Operand, np.ndarray | None]],
                 bias: _Operand, out_const: bool, out: slice, index: np.ndarray,
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


# --------------------------------------------------------------------------------------
# The plan: everything the recording decided, built in full before anyone sees it.
# --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Plan:
    """The recorded graph of one row and how a batch runs it.

    Built completely by `_make_plan`, then published with a single assignment
    (`Compiled._plan`): a thread that sees a plan sees all of it.  Nothing in it changes
    afterwards; every call keeps its own arrays (S, V, G, GS and the groups' saved
    state), so several threads can run one plan at once.
    """

    signature: list[tuple]      # one entry per node (see `_signature`)
    parameters: list[Value]     # the leaves fn closes over, in slot order
    param_ids: frozenset[int]
    groups: list[_Group]        # in execution order
    depths: list[int]           # the depth of each group
    n_const: int                # size of the store S (batch-constant nodes)
    n_var: int                  # rows of the store V (per-row nodes)
    const_template: np.ndarray  # S with the constants filled in
    out_slot: tuple[bool, int]  # where the root lives: (in S?, slot)


def _make_plan(order: list[Value], sig: list[tuple], parameters: list[Value],
               param_ids: frozenset[int], nargs: int) -> _Plan:
    n = len(order)
    const = [False] * n
    needs = [False] * n     # a parameter lies behind the node
    depth = [0] * n
    parents: list[tuple[int, ...]] = [()] * n
    for i, entry in enumerate(sig):
        kind = entry[0]
        if kind == "parameter":
            const[i] = needs[i] = True
        elif kind == "constant":
            const[i] = True
        elif kind != "input":
            ps = entry[2]
            parents[i] = ps
            const[i] = all(const[p] for p in ps)
            needs[i] = any(needs[p] for p in ps)
            depth[i] = 1 + max((depth[p] for p in ps), default=0)

    # Slots: parameters first in S (refreshed each call), then constants; the
    # placeholders first in V (the columns of X).
    const_slot = [-1] * n
    var_slot = [-1] * n
    n_const = 0
    for i, entry in enumerate(sig):
        if entry[0] == "parameter":
            const_slot[i] = n_const
            n_const += 1
    constants: list[tuple[int, float]] = []
    for i, entry in enumerate(sig):
        if entry[0] == "constant":
            const_slot[i] = n_const
            constants.append((n_const, float.fromhex(entry[1])))
            n_const += 1
    n_var = nargs
    for i, entry in enumerate(sig):
        if entry[0] == "input":
            var_slot[i] = entry[1]

    # Group interior nodes by depth, operation, param and operand layout.
    groups: dict[tuple, list[int]] = {}
    for i, entry in enumerate(sig):
        if entry[0] in ("input", "parameter", "constant"):
            continue
        layout = tuple((const[p], needs[p]) for p in entry[2])
        key = (depth[i], entry[0], entry[1], layout)
        groups.setdefault(key, []).append(i)
    keys = sorted(groups, key=lambda k: (k[0], groups[k][0]))

    def slot(i: int) -> int:
        return const_slot[i] if const[i] else var_slot[i]

    built: list[_Group] = []
    depths: list[int] = []
    for key in keys:
        members = groups[key]
        out_const = const[members[0]]
        start = n_const if out_const else n_var
        for k, i in enumerate(members):
            if out_const:
                const_slot[i] = start + k
            else:
                var_slot[i] = start + k
        if out_const:
            n_const += len(members)
        else:
            n_var += len(members)
        out = slice(start, start + len(members))
        name, param, layout = key[1], key[2], key[3]
        param_value = None if param is None else float.fromhex(param)
        index = np.array([[slot(p) for p in parents[i]] for i in members],
                         dtype=np.intp).reshape(len(members), len(layout))
        built.append(_make_group(name, param_value, layout, index, out_const, out))
        depths.append(key[0])

    const_template = np.zeros(n_const)
    for s, value in constants:
        const_template[s] = value
    const_template.flags.writeable = False  # each call copies it
    root = n - 1
    return _Plan(sig, parameters, param_ids, built, depths, n_const, n_var,
                 const_template, (const[root], slot(root)))


def _make_group(name: str, param: Any, layout: tuple, index: np.ndarray,
                out_const: bool, out: slice) -> _Group:
    if name == "dot":
        n = (len(layout) - 1) // 2
        classes: dict[tuple, list[int]] = {}
        for t in range(n):
            classes.setdefault((layout[t], layout[n + t]), []).append(t)
        terms = []
        for (w_layout, x_layout), ts in classes.items():
            w = _Operand(w_layout[0], index[:, ts], w_layout[1])
            x_rows = index[:, [n + t for t in ts]]
            x = _Operand(x_layout[0], x_rows, x_layout[1])
            shared = None
            if w.const and not x.const and np.all(x_rows == x_rows[0]):
                shared = _compact(x_rows[0])
            terms.append((w, x, shared))
        bias = _Operand(layout[-1][0], index[:, -1], layout[-1][1])
        return _DotGroup(terms, bias, out_const, out, index,
                         tuple(lay[0] for lay in layout))
    if name == "sum":
        classes = {}
        for t, lay in enumerate(layout):
            classes.setdefault(lay, []).append(t)
        return _SumGroup([_Operand(lay[0], index[:, ts], lay[1])
                          for lay, ts in classes.items()], out_const, out, index,
                         tuple(lay[0] for lay in layout))
    operands = [_Operand(lay[0], index[:, j], lay[1]) for j, lay in enumerate(layout)]
    return _ElementwiseGroup(name, param, operands, out_const, out)


# --------------------------------------------------------------------------------------
# The compiled function.
# --------------------------------------------------------------------------------------

CheckRows = int | Literal["all"]

# Held while compiled calls add their gradients into the parameters' `.grad`: two
# threads running `backward` over shared parameters must not lose each other's sums.
_accumulating = threading.Lock()


class Compiled:
    """A scalar function recorded once and evaluated on whole batches with NumPy.

    Build it with `autograd.compile`; see the module documentation for the rules.
    One compiled function may be called from several threads at once: the first call
    records under a lock (the others wait for it), and each call works in arrays of its
    own.
    """

    def __init__(self, fn: Callable[..., Value], nargs: int, check: CheckRows = 1,
                 first_check: int = 8) -> None:
        if not callable(fn):
            raise TypeError(f"compile: fn must be callable, got {type(fn).__name__}")
        if isinstance(nargs, bool) or not isinstance(nargs, int) or nargs < 0:
            raise ValueError(f"compile: nargs must be a non-negative int, got {nargs!r}")
        if check != "all" and (isinstance(check, bool) or not isinstance(check, int)
                                or check < 0):
            raise ValueError(f"compile: check must be a non-negative int or 'all', "
                             f"got {check!r}")
        if isinstance(first_check, bool) or not isinstance(first_check, int) \
                or first_check < 1:
            raise ValueError(f"compile: first_check must be an int >= 1, got {first_check!r}")
        self.fn = fn
        self.nargs = nargs
        self.check = check
        self.first_check = first_check
        # None until the first call has recorded and checked the graph; then set once,
        # complete (see `_Plan`).
        self._plan: _Plan | None = None
        # Guards recording, `_cursor` and `data_reads`; the thread recording, so that fn
        # calling its own compiled function while traced is an error, not a deadlock.
        self._lock = threading.Lock()
        self._recording_thread: int | None = None
        self._cursor = 0  # next row to re-trace, so that checks walk through the data
        #: Where fn's own code looked at a Value's number while it was traced (empty:
        #: never, so the recorded graph holds for every row and needs no re-tracing).
        self.data_reads: list[str] = []
        self.__doc__ = getattr(fn, "__doc__", None)

    # -- public ------------------------------------------------------------------------
    def __call__(self, X: Any) -> np.ndarray:
        """fn's value for every row of X (shape (batch, nargs)), as shape (batch,)."""
        X = self._as_batch(X)
        plan = self._prepare(X)
        S, V, _ = self._forward(plan, X, keep=False)
        return _output(plan, S, V, X.shape[0])

    def backward(self, X: Any, reduction: Literal["mean", "sum"] = "mean") -> float:
        """Mean of fn over the rows of X; adds d mean / d parameter into each ``.grad``.

        ``reduction='sum'`` returns the sum over rows and adds d sum / d parameter (for a
        loss that adds its examples up instead of averaging them).
        """
        if reduction not in ("mean", "sum"):
            raise ValueError(f"compile: reduction must be 'mean' or 'sum', got {reduction!r}")
        X = self._as_batch(X)
        plan = self._prepare(X)
        batch = X.shape[0]
        S, V, saved = self._forward(plan, X, keep=True)
        values = _output(plan, S, V, batch)
        GS = np.zeros(plan.n_const)
        G = np.zeros((plan.n_var, batch))
        const, slot = plan.out_slot
        seed = 1.0 / batch if reduction == "mean" else 1.0
        if const:
            GS[slot] = seed * batch  # every row holds the same value: its slopes add up
        else:
            G[slot] = seed
        for group, state in zip(reversed(plan.groups), reversed(saved)):
            if state is None:
                continue
            gout = GS[group.out][:, None] if group.out_const else G[group.out]
            group.backward(S, V, GS, G, state, gout)
        grads = GS[:len(plan.parameters)].tolist()
        with _accumulating:
            for p, g in zip(plan.parameters, grads):
                p._grad += g  # the slot: the public property would report a read
        total = math.fsum(values.tolist())
        return total / batch if reduction == "mean" else total

    @property
    def parameters(self) -> list[Value]:
        """The Values fn closes over whose gradients `backward` adds up, in a fixed order
        (empty before the first call records the graph)."""
        plan = self._plan
        return [] if plan is None else list(plan.parameters)

    @property
    def groups(self) -> list[tuple[int, str, int]]:
        """(depth, operation, nodes) for every fused group, in execution order (empty
        before the first call records the graph)."""
        plan = self._plan
        if plan is None:
            return []
        return [(d, g.name, _shape(g.out)[0]) for d, g in zip(plan.depths, plan.groups)]

    def __repr__(self) -> str:
        name = getattr(self.fn, "__name__", type(self.fn).__name__)
        plan = self._plan
        if plan is None:
            return f"Compiled({name}, nargs={self.nargs}, not recorded yet)"
        return (f"Compiled({name}, nargs={self.nargs}, {len(plan.signature)} nodes per row "
                f"in {len(plan.groups)} groups, {len(plan.parameters)} parameters)")

    @property
    def node_count(self) -> int:
        """Nodes in the recorded graph of one row (0 before the first call)."""
        plan = self._plan
        return 0 if plan is None else len(plan.signature)

    # -- checks ------------------------------------------------------------------------
    def _as_batch(self, X: Any) -> np.ndarray:
        try:
            arr = np.asarray(X, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"compile: X must be an array of numbers of shape (batch, "
                            f"{self.nargs}), got {type(X).__name__}: {exc}") from None
        if arr.ndim != 2 or arr.shape[1] != self.nargs:
            raise ValueError(f"compile: X must have shape (batch, {self.nargs}), "
                             f"got shape {arr.shape}")
        if arr.shape[0] == 0:
            raise ValueError("compile: X has no rows; the mean of nothing is undefined")
        return arr

    def _prepare(self, X: np.ndarray) -> _Plan:
        """The plan, recorded on the first call; re-trace rows as the module
        documentation says."""
        plan = self._plan
        if plan is not None and self.check != "all" and not self.data_reads:
            return plan  # fn never looked at a number: its graph cannot depend on them
        batch = X.shape[0]
        if plan is None:
            if self._recording_thread == threading.get_ident():
                raise RuntimeError("compile: fn called its own compiled function while "
                                   "that function was recording fn")
            with self._lock:
                if self._plan is None:  # no other thread recorded while this one waited
                    self._recording_thread = threading.get_ident()
                    try:
                        self._plan = self._record(X)
                    finally:
                        self._recording_thread = None
                    return self._plan
                plan = self._plan
            if self.check != "all" and not self.data_reads:
                return plan
        if self.check == "all":
            rows = list(range(batch))
        else:
            with self._lock:  # each call takes the next rows in turn
                rows = [(self._cursor + i) % batch for i in range(min(self.check, batch))]
                self._cursor = (self._cursor + len(rows)) % batch
        # Traced without the watch: nothing shared is written, so no lock is needed.
        _check_rows(self, plan, X, rows, watch=False)
        return plan

    def _record(self, X: np.ndarray) -> _Plan:
        """Trace rows 0 and 1, tell parameters from constants, plan, then re-trace the
        first call's rows; return the plan (not yet published).  Runs under the lock."""
        first = self._trace_row(X, 0, watch=True)
        # A second trace tells parameters (the same objects again) from constants (new).
        second_row = min(1, X.shape[0] - 1)
        second = self._trace_row(X, second_row, watch=True)
        inputs = {id(p) for p in first.placeholders}
        leaves1 = {id(v) for v in first.order if v._fn is None and id(v) not in inputs}
        leaves2 = {id(v) for v in second.order if v._fn is None}
        param_ids = frozenset(leaves1 & leaves2)
        recorded = _signature(first, param_ids)
        found = _signature(second, param_ids)
        params_by_id = {id(v): v for v in first.order if id(v) in param_ids}
        if found != recorded:
            raise _mismatch(recorded, found, second_row, "than for row 0", params_by_id)
        parameters = [v for v in first.order if id(v) in param_ids]
        plan = _make_plan(first.order, recorded, parameters, param_ids, self.nargs)
        batch = X.shape[0]
        candidates = range(batch) if self.check == "all" else _spread(batch, self.first_check)
        rows = [r for r in candidates if r not in (0, second_row)]
        _check_rows(self, plan, X, rows, watch=True)
        return plan

    def _trace_row(self, X: np.ndarray, r: int, watch: bool) -> _Trace:
        """Run fn eagerly on row r; with `watch` (only while recording, under the lock)
        note in `data_reads` where it looks at numbers."""
        watcher = _DataWatch() if watch else None
        try:
            trace = _run(self.fn, X[r].tolist(), watcher)
        except DomainError as exc:
            raise DomainError(f"{exc} (in row {r} of the batch)") from exc
        if watcher is not None:
            self.data_reads.extend(w for w in watcher.reads if w not in self.data_reads)
        return trace

    # -- evaluation --------------------------------------------------------------------
    def _forward(self, plan: _Plan, X: np.ndarray,
                 keep: bool) -> tuple[np.ndarray, np.ndarray, list]:
        batch = X.shape[0]
        S = plan.const_template.copy()
        n_params = len(plan.parameters)
        if n_params:
            # The slots, not the public properties: those cost a check for observers each.
            S[:n_params] = [p._data for p in plan.parameters]
        V = np.empty((plan.n_var, batch))
        V[:self.nargs] = X.T
        saved: list[Any] = []
        with np.errstate(all="ignore"):  # domain problems are reported below, by row
            for group in plan.groups:
                try:
                    state, out, invalid = group.forward(S, V)
                except (ArithmeticError, ValueError):
                    # A scalar fallback rule raised: name the row, as eager would.
                    self._replay(X, X.shape[0] - 1)
                    raise
                if invalid is not None and invalid.any():
                    self._domain_error(X, group, invalid)
                if group.out_const:
                    S[group.out] = out[:, 0]
                else:
                    V[group.out] = out
                if keep:
                    saved.append((state, out) if group.needed else None)
        return S, V, saved

    def _domain_error(self, X: np.ndarray, group: _Group, invalid: np.ndarray) -> None:
        """Replay rows eagerly up to the first bad one and raise the engine's error."""
        # A batch-constant group (shape (g, 1)) fails the same way on every row.
        bad_rows = np.nonzero(np.asarray(invalid).any(axis=0))[0]
        last = 0 if group.out_const or bad_rows.size == 0 else int(bad_rows[0])
        self._replay(X, last)
        raise DomainError(f"{group.name}: argument outside the operation's domain "
                          f"(in row {last} of the batch)")

    def _replay(self, X: np.ndarray, last: int) -> None:
        """Run fn eagerly on rows 0..last; re-raise its DomainError with the row number."""
        for r in range(last + 1):
            try:
                self.fn(*[Value(v) for v in X[r].tolist()])
            except DomainError as exc:
                raise DomainError(f"{exc} (in row {r} of the batch)") from exc


def _check_rows(c: Compiled, plan: _Plan, X: np.ndarray, rows: Sequence[int],
                watch: bool) -> None:
    """Re-trace `rows` and raise `GraphMismatchError` at the first whose graph differs."""
    for r in rows:
        found = _signature(c._trace_row(X, r, watch), plan.param_ids)
        if found != plan.signature:
            params = {id(p): p for p in plan.parameters}
            raise _mismatch(plan.signature, found, r, "than for row 0", params)


def _output(plan: _Plan, S: np.ndarray, V: np.ndarray, batch: int) -> np.ndarray:
    const, slot = plan.out_slot
    if const:
        return np.full(batch, S[slot])
    return V[slot].copy()


def _spread(batch: int, count: int) -> list[int]:
    """`count` row numbers spread evenly over the batch, first and last included."""
    if count >= batch:
        return list(range(batch))
    if count == 1:
        return [0]
    return sorted({round(k * (batch - 1) / (count - 1)) for k in range(count)})


def compile(fn: Callable[..., Value], nargs: int, *, check: CheckRows = 1,
            first_check: int = 8) -> Compiled:
    """Record ``fn`` (``nargs`` Values in, one Value out) for batch evaluation with NumPy.

    ``c(X)`` gives fn's value per row of ``X`` (shape (batch, nargs)); ``c.backward(X)``
    returns the mean over rows and adds d mean / d p into ``p.grad`` for every Value ``p``
    that fn closes over.  If fn looks at a Value's number while traced, each call
    re-traces ``check`` rows (``'all'``: every row, always) to verify that the graph does
    not depend on the data, and the first call ``first_check`` rows.  See the module
    documentation for the guarantee.  Safe to call from several threads at once.
    """
    return Compiled(fn, nargs, check=check, first_check=first_check)
