"""The compiled function: recording on the first call (once, under a lock), checking
rows, and running the plan forward and backward on a batch.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np

from ..engine import DomainError, Value
from .batch import Group, Stores, rows_of
from .plan import Plan, make_plan
from .trace import DataWatch, Trace, mismatch, signature, trace_row

__all__ = ["Compiled", "compile", "CheckRows"]

CheckRows = int | Literal["all"]

# Held while compiled calls add their gradients into the parameters' `.grad`: two
# threads running `backward` over shared parameters must not lose each other's sums.
_accumulating = threading.Lock()
# Arrays from this size up are mapped (and unmapped) by glibc: see `Compiled._keep`.
_BIG_ARRAY_BYTES = 128 * 1024


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
        _check_arity(fn, nargs)
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
        # complete (see `Plan`).
        self._plan: Plan | None = None
        # Guards recording, `_cursor` and `data_reads`; the thread recording, so that fn
        # calling its own compiled function while traced is an error, not a deadlock.
        self._lock = threading.Lock()
        self._recording_thread: int | None = None
        self._cursor = 0  # next row to re-trace, so that checks walk through the data
        #: Where fn's own code looked at a Value's number while it was traced (empty:
        #: never, so the recorded graph holds for every row and needs no re-tracing).
        self.data_reads: list[str] = []
        # Where, among those, fn turned a Value into a plain float (math.exp(v)): what a
        # graph mismatch found now or on a later call names as its likely cause.
        self._float_reads: list[str] = []
        # The last call's arrays, let go only when the next call ends, when they are big
        # (see `_keep`).
        self._last_arrays: Any = None
        self.__doc__ = getattr(fn, "__doc__", None)

    # -- public ------------------------------------------------------------------------
    def __call__(self, X: Any) -> np.ndarray:
        """fn's value for every row of X (shape (batch, nargs)), as shape (batch,)."""
        X = self._as_batch(X)
        plan = self._prepare(X)
        with np.errstate(all="ignore"):
            st, _ = self._forward(plan, X, keep=False)
        values = _output(plan, st).copy()
        self._keep(plan, X.shape[0], st)
        return values

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
        # Non-finite data give NaN or infinite slopes, as in the eager engine, without
        # NumPy's warnings (one errstate for both passes: entering one costs a
        # noticeable share of a small batch's step).
        with np.errstate(all="ignore"):
            st, saved = self._forward(plan, X, keep=True)
            values = _output(plan, st)
            st.GS = np.zeros(plan.n_const)
            st.grads = [None] * len(plan.sizes)
            block, row = plan.root
            seed = 1.0 / batch if reduction == "mean" else 1.0
            if block < 0:
                st.GS[row] = seed * batch  # every row holds the same value: its slopes add up
            elif block > 0:  # (block 0: fn returned an input, with nothing behind it)
                # np.empty and fill: np.full is the same two calls behind a Python layer
                seeds = st.grads[block] = np.empty((1, batch))
                seeds.fill(seed)
            for group, state in zip(reversed(plan.steps), reversed(saved)):
                if state is None:
                    continue
                gout = st.GS[group.out][:, None] if group.out_const else st.grads[group.block]
                group.backward(st, state[0], state[1], gout)
            # values.sum() without its Python layer; inside the errstate too: finite
            # values whose sum is beyond the largest float give inf, without a warning.
            total = float(np.add.reduce(values))
        grads = st.GS[:len(plan.parameters)].tolist()
        with _accumulating:
            for p, g in zip(plan.parameters, grads):
                p._grad += g  # the slot: the public property would report a read
        self._keep(plan, batch, (st, saved))
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
        return [(g.depth, g.name, rows_of(g)) for g in plan.groups]

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
            # A flat array is one example's row, or (nargs 1) a column: say how to shape it.
            hint = (f" (one row per example: X.reshape(-1, {self.nargs}))"
                    if arr.ndim == 1 and self.nargs and arr.size % self.nargs == 0 else "")
            raise ValueError(f"compile: X must have shape (batch, {self.nargs}), "
                             f"got shape {arr.shape}{hint}")
        if arr.shape[0] == 0:
            raise ValueError("compile: X has no rows; the mean of nothing is undefined")
        return arr

    def _prepare(self, X: np.ndarray) -> Plan:
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

    def _record(self, X: np.ndarray) -> Plan:
        """Trace rows 0 and 1, tell parameters from constants, plan, then re-trace the
        first call's rows; return the plan (not yet published).  Runs under the lock."""
        first = self._trace_row(X, 0, watch=True)
        # A second trace tells parameters (the same objects again) from constants (new).
        second_row = min(1, X.shape[0] - 1)
        inputs = {id(p) for p in first.placeholders}
        earlier_leaves = [v for v in first.order if v._fn is None and id(v) not in inputs]
        second = self._trace_row(X, second_row, watch=True, known=earlier_leaves)
        leaves1 = {id(v) for v in first.order if v._fn is None and id(v) not in inputs}
        leaves2 = {id(v) for v in second.order if v._fn is None}
        param_ids = frozenset(leaves1 & leaves2)
        recorded = signature(first, param_ids)
        found = signature(second, param_ids)
        params_by_id = {id(v): v for v in first.order if id(v) in param_ids}
        if found != recorded:
            raise mismatch(recorded, found, second_row, "than for row 0", params_by_id,
                           self._float_reads)
        parameters = [v for v in first.order if id(v) in param_ids]
        plan = make_plan(recorded, parameters, param_ids, self.nargs)
        batch = X.shape[0]
        candidates = range(batch) if self.check == "all" else _spread(batch, self.first_check)
        rows = [r for r in candidates if r not in (0, second_row)]
        _check_rows(self, plan, X, rows, watch=True)
        return plan

    def _trace_row(self, X: np.ndarray, r: int, watch: bool,
                   known: Sequence[Value] = ()) -> Trace:
        """Run fn eagerly on row r; with `watch` (only while recording, under the lock)
        note in `data_reads` where it looks at numbers, at the placeholders, at every
        node fn builds and at the `known` leaves (the parameters, once they are known)."""
        watcher = DataWatch() if watch else None
        try:
            trace = trace_row(self.fn, X[r].tolist(), watcher, known)
        except DomainError as exc:
            raise DomainError(f"{exc} (in row {r} of the batch)") from exc
        if watcher is not None:
            self.data_reads.extend(w for w in watcher.reads if w not in self.data_reads)
            self._float_reads.extend(f for f in watcher.floats if f not in self._float_reads)
        return trace

    # -- evaluation --------------------------------------------------------------------
    def _forward(self, plan: Plan, X: np.ndarray,
                 keep: bool) -> tuple[Stores, list]:
        batch = X.shape[0]
        S = plan.const_template.copy()
        if plan.parameters:
            # The slots, not the public properties: those cost a check for observers each.
            S[:len(plan.parameters)] = [p._data for p in plan.parameters]
        blocks: list[Any] = [None] * len(plan.sizes)
        blocks[0] = np.ascontiguousarray(X.T)
        st = Stores(S, blocks, batch, plan.sizes)
        saved: list[Any] = []
        # The caller holds np.errstate(all='ignore'): domain problems are reported below,
        # by row.
        for group in plan.steps:
            try:
                state, out, invalid = group.forward(st)
            except (ArithmeticError, ValueError):
                # A scalar fallback rule raised: name the row, as eager would.
                self._replay(X, batch - 1)
                raise
            if invalid is not None and invalid.any():
                self._domain_error(X, group, invalid)
            if group.out_const:
                S[group.out] = out[:, 0]
            else:
                shape = (plan.sizes[group.block], batch)
                if out.shape != shape:  # a rule that ignores its inputs' shape
                    out = np.broadcast_to(out, shape)
                blocks[group.block] = out
            if keep:
                saved.append((state, out) if group.needed else None)
        return st, saved

    def _keep(self, plan: Plan, batch: int, arrays: Any) -> None:
        """Hold this call's arrays until the next call ends, if they are big ones.

        glibc serves blocks of 128 KiB and more (its first mmap threshold) from memory it
        maps and later hands back to the system: freed at once, a big step's arrays left
        the next call to fault their pages in again (moons, 2,000 and 10,000 rows: the
        step 1.2-1.3x slower, and the NumPy code running beside it as much).  Kept until
        the next call has allocated its own, that memory is reused instead.  Smaller
        arrays are reused from the allocator's free lists straight away, while they are
        still in the cache, and no page faults either way: keeping them would only send
        the next call to colder memory (~30 us, a tenth, of a 1,000-row moons step).
        Nothing reads what is kept, so a thread replacing another thread's arrays here
        loses nothing.
        """
        big = max(plan.sizes) * batch * 8 >= _BIG_ARRAY_BYTES
        self._last_arrays = arrays if big else None

    def _domain_error(self, X: np.ndarray, group: Group, invalid: np.ndarray) -> None:
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


def _check_rows(c: Compiled, plan: Plan, X: np.ndarray, rows: Sequence[int],
                watch: bool) -> None:
    """Re-trace `rows` and raise `GraphMismatchError` at the first whose graph differs."""
    for r in rows:
        found = signature(c._trace_row(X, r, watch, plan.parameters if watch else ()),
                          plan.param_ids)
        if found != plan.signature:
            params = {id(p): p for p in plan.parameters}
            raise mismatch(plan.signature, found, r, "than for row 0", params, c._float_reads)


def _check_arity(fn: Callable[..., Value], nargs: int) -> None:
    """Refuse an `nargs` that fn cannot be called with, now rather than at the first call
    (where Python's message would name fn's parameters but not `nargs`)."""
    try:
        params = inspect.signature(fn)
    except (TypeError, ValueError):
        return  # no signature to read (some built-ins): the first call will tell
    try:
        params.bind(*range(nargs))
    except TypeError:
        name = getattr(fn, "__name__", type(fn).__name__)
        empty = inspect.Parameter.empty  # the names are what helps, not the annotations
        shown = params.replace(parameters=[p.replace(annotation=empty)
                                           for p in params.parameters.values()],
                               return_annotation=empty)
        raise ValueError(f"compile: nargs is {nargs} (the Values of one example, the columns "
                         f"of X), but {name}{shown} cannot take {nargs} arguments") from None


def _output(plan: Plan, st: Stores) -> np.ndarray:
    """fn's value for every row (a view of the stores: copy it before handing it out)."""
    block, row = plan.root
    if block < 0:
        return np.full(st.batch, st.S[row])
    return st.blocks[block][row]


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
    that fn closes over.  The first call re-traces up to ``first_check`` rows spread over
    the batch; if fn looked at a Value's number while traced, every later call re-traces
    ``check`` rows (``'all'``: every row, always) to verify that the graph does not
    depend on the data.  See the module documentation for the guarantee.  Safe to call
    from several threads at once.
    """
    return Compiled(fn, nargs, check=check, first_check=first_check)
