"""Trace a scalar function once, then run it on a whole batch with NumPy.

``c = autograd.compile(fn, nargs)`` turns ``fn`` -- a function of ``nargs`` Values (one
example: its features and its target) that returns one Value -- into a batch function:

* ``c(X)`` with ``X`` of shape ``(batch, nargs)`` returns ``fn``'s value for every row, as
  a NumPy array of shape ``(batch,)``;
* ``c.backward(X)`` returns the mean of those values and adds d mean / d p into ``p.grad``
  for every parameter ``p``, exactly as ``(sum(fn(*row) for row in X) / len(X)).backward()``
  would.

How it works.  On the first call, ``fn`` runs on placeholder leaf Values holding the first
row, and the graph it builds is recorded in topological order.  Chains of ``+`` (Python's
``sum``) become one n-ary node.  Every recorded node becomes an array over the batch,
except those that depend on parameters and constants only: they are computed once per
call.  Nodes of one operation that do not depend on each other run together as one
vectorised NumPy call (a *group*), forward and, in reverse order, backward; the groups
are scheduled to be as few as the dependencies allow.  A layer of neurons built with
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

* the first call traces rows 0 and 1 (to record the graph and tell parameters from
  constants), then re-traces the rows not yet traced among ``first_check`` (default 8)
  spread evenly over the batch, first and last included, whatever ``fn`` does;
* if ``fn`` never looked (``c.data_reads`` is empty), the graph cannot depend on the
  numbers, and the compiled results hold for every row and every parameter value.  No
  call after the first re-traces anything.  This needs ``fn`` to be a function of its
  arguments and of the parameters' data only (no random numbers, no global counters);
* if it did look, every later call re-traces ``check`` more rows (default 1), taking
  the rows in turn so that repeated calls on the same data (training epochs)
  eventually check every row against the current parameters.  A
  branch on the parameters alone is caught at the call where it flips; a branch on the
  data is caught only if a checked row takes the other side.  A difference raises
  `GraphMismatchError`, naming the row and the first node that differs;
* ``check='all'`` re-traces every row at every call, whatever ``fn`` does: every row's
  graph is then guaranteed to be the recorded one, so the results are the eager
  engine's up to the rounding of sums, at the cost of an eager forward pass.

Operations whose graph does not depend on the data (relu, abs, leaky_relu, ...) compile
fine: their kink is inside one node, and the vectorised rule handles both sides.

Domain errors.  Where the eager engine raises `DomainError` (log(0), x / 0, sqrt(-1),
exp overflow, ...), the compiled forward pass detects it with a vectorised test per
group, replays the rows eagerly up to the first offending one, and raises the engine's
own error with the row number added.  It never returns the nan or inf eager would refuse.

Vectorised rules.  Each operation's record in `autograd.OPS` holds its NumPy rule
(``op.batch``, an `autograd.BatchRule`: forward, local derivatives, domain test), the
batch twin of its scalar rules.  `VECTORIZED` is the view of them this package reads.  A
primitive defined with `autograd.primitive` has no NumPy rule: it falls back to calling
its scalar forward and derivative element by element (correct, not fast) unless one is
given with `register_vectorized`.

The package, one module per idea (each imports only those above it):

* `rules` -- the NumPy rules, read from the operations' records (`VECTORIZED`);
* `trace` -- running fn on one row under the watch, and the signature two traces are
  compared by (`GraphMismatchError`);
* `batch` -- the groups that run as one NumPy call, and where their operands live;
* `plan` -- from the recorded graph of one row to the groups, in the order they run;
* `compiled` -- `Compiled`: recording once, checking rows, running a batch.
"""


from __future__ import annotations

from .compiled import CheckRows as CheckRows  # the type of compile's `check`
from .compiled import Compiled, compile
from .rules import VECTORIZED, VectorRule, register_vectorized
from .trace import GraphMismatchError

__all__ = ["compile", "Compiled", "GraphMismatchError", "VectorRule", "VECTORIZED",
           "register_vectorized"]
