"""The engine: a scalar `Value` that records every operation into a graph.

Each operation is one record, an `Op`, in one table, `OPS`, holding every fact about
it: its forward rule on floats and its local derivatives side by side, its domain
check, its NumPy rule for `autograd.compile`, where `gradcheck` samples it and its
kinks, and how it is written.  A derivative rule is written with ordinary arithmetic
and the functions of this module (`exp`, `log`, `cos`, ...), so the same rule runs on
floats during `backward()` and on `Value`s when `grad(..., create_graph=True)` builds a
graph of the derivative itself.  Those functions and the `Value` methods (`x.tanh()`)
are built from the records when this module is imported (see `_generate`, at the end).

Design choices that make the engine fast and safe on big graphs:

* `Value` uses `__slots__` and holds its one or two parents in two slots, with no
  container per node (an n-ary node keeps one tuple); the local derivative lives
  in the shared `Op`, not in a closure per node.  So a node is one object for the
  garbage collector to track, has no reference cycle, and a dropped graph is freed
  by reference counting alone.
* Every walk over the graph is iterative (see `autograd.graph`), so a chain of a
  million operations needs no recursion.
"""

from __future__ import annotations

import inspect
import math
import numbers
import operator
import random
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import TYPE_CHECKING, Any, Union

import numpy as np

if TYPE_CHECKING:
    # Generated from the operation table at the end of this module (see `_generate`).
    # Derivative rules call them, so that one rule runs on floats and on Values.
    from .engine import cos, log, sigmoid, sin

# The functions generated from the table (exp, log, ..., absolute) are added at the end.
__all__ = [
    "Value", "Op", "OPS", "BatchRule", "DomainError", "primitive", "register_operation",
    "no_grad", "enable_grad", "is_grad_enabled", "scope", "current_scope", "lift", "observe_reads",
    "topological_order", "backprop_walk", "chain_rule", "local_derivatives", "sum_values", "dot",
]

Number = Union[int, float]
Scalar = Union["Value", int, float]


class DomainError(ValueError, ArithmeticError):
    """An operation was applied outside its domain (log(0), x / 0, sqrt(-1), overflow...)."""


# --------------------------------------------------------------------------------------
# Thread-local state: gradient recording on/off and the naming scope for new Values.
# --------------------------------------------------------------------------------------

class _State(threading.local):
    def __init__(self) -> None:
        self.enabled = True
        self.scope = ""


_state = _State()

# How many no_grad / enable_grad / scope blocks are open, in all threads together.  While
# it is 0 every thread has the defaults (recording on, no scope), so creating a node need
# not read the thread-local state: that read would cost about a quarter of a node's time.
_open_blocks = 0
_blocks_lock = threading.Lock()


def _count_block(delta: int) -> None:
    global _open_blocks
    with _blocks_lock:
        _open_blocks += delta


def is_grad_enabled() -> bool:
    """True when operations record their inputs into the graph (the default)."""
    return _state.enabled


class _GradMode:
    """Context manager and decorator that switches recording off (or on) in this thread."""

    def __init__(self, enabled: bool) -> None:
        self._target = enabled
        # What each `with` restores, kept per thread: one instance (`ng = no_grad()`)
        # may be entered by several threads at once, and each must get back its own state.
        self._saved = threading.local()

    def __enter__(self) -> None:
        if _observers and not self._target:
            _observed("no_grad")
        saved = self._saved.__dict__.setdefault("stack", [])
        saved.append(_state.enabled)
        _count_block(+1)
        _state.enabled = self._target

    def __exit__(self, *exc: object) -> None:
        _state.enabled = self._saved.stack.pop()
        _count_block(-1)

    def __call__(self, func: Callable) -> Callable:
        import functools

        target = self._target

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with _GradMode(target):
                return func(*args, **kwargs)

        return wrapper


def no_grad() -> _GradMode:
    """Stop recording: results of operations are new leaves with no parents.

    Use as ``with no_grad(): ...`` or as a decorator ``@no_grad()``.  The switch is
    per thread, so one thread's optimizer step does not affect another's forward pass.
    """
    return _GradMode(False)


def enable_grad() -> _GradMode:
    """Switch recording back on inside a `no_grad` block."""
    return _GradMode(True)


@contextmanager
def scope(name: str) -> Iterator[str]:
    """Tag every Value created inside the block with a dotted scope name.

    Scopes nest: ``with scope('layers.0'): with scope('neurons.1'): ...`` tags values
    ``'layers.0.neurons.1'``.  `nn` uses this so that drawings can group a network's
    nodes by layer and neuron without `autograd` knowing about `nn`.
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"scope: name must be a non-empty string, got {name!r}")
    saved = _state.scope
    _count_block(+1)
    _state.scope = f"{saved}.{name}" if saved else name
    try:
        yield _state.scope
    finally:
        _state.scope = saved
        _count_block(-1)


def current_scope() -> str:
    """The dotted scope name new Values are tagged with ('' outside any scope)."""
    return _state.scope


# --------------------------------------------------------------------------------------
# Observers: how a tracer (autograd.compile) learns that code looked at a Value's number.
# --------------------------------------------------------------------------------------

# The callbacks of the open `observe_reads` blocks, in all threads.  Empty almost always,
# so every place below that can report a look pays one truth test of a global list.
_observers: list[Callable[[str, FrameType], None]] = []
_observers_lock = threading.Lock()


def _observed(what: str) -> None:
    """Tell every observer that the code calling our caller looked at a number."""
    frame = sys._getframe(2)  # 0: here, 1: the Value method or property, 2: who looked
    for callback in tuple(_observers):
        callback(what, frame)


@contextmanager
def observe_reads(callback: Callable[[str, FrameType], None],
                  watch: Iterable[Value] = ()) -> Iterator[None]:
    """Call ``callback(what, frame)`` whenever code looks at a Value's number.

    A graph is the same for every input only if the code that built it never looked at
    the numbers it was computing with.  While the block is open, the engine reports
    each way of looking: reading ``.data`` or ``.grad``, comparing a Value (``<``, ``<=``,
    ``>``, ``>=``), ``float(v)``, ``repr(v)``, ``format(v)``, ``v.detach()``, entering
    `no_grad`, and building a derivative graph with ``grad(..., create_graph=True)``
    (derivative rules branch on the data).  ``what`` names the way (``'.data'``,
    ``'__gt__'``, ``'no_grad'``, ...) and ``frame`` is the frame of the code that looked.
    The engine's own work (computing an operation, ``backward()``) reads the numbers
    through private slots and is not reported.

    Reads of ``.data`` and ``.grad`` are seen on the Values made while the block is
    open and on the Values given in `watch` (the inputs and parameters a tracer passes
    to the code it runs): those are `_ObservedValue`s, a subclass of `Value` with the
    same slots, until the block closes.  Other Values keep plain slots, so reading
    ``v.data`` costs no more than reading any attribute.  Comparisons, ``float``,
    ``repr``, ``format``, ``detach``, `no_grad` and ``create_graph`` are seen on every
    Value.

    Observers see looks made by every thread; blocks may nest and overlap.  The callback
    must not itself look at Values.  This is how `autograd.compile` decides whether a
    traced function's graph can depend on the data; nothing on the class `Value` is
    replaced.
    """
    swapped = []
    with _observers_lock:
        _observers.append(callback)
        # Nodes are built by the slow path while the block is open, which makes them
        # observed Values; the Values to watch become observed Values until it closes.
        _count_block(+1)
        for v in watch:
            if type(v) is Value:
                v.__class__ = _ObservedValue
                swapped.append(v)
    try:
        yield
    finally:
        with _observers_lock:
            _observers.remove(callback)
            _count_block(-1)
            for v in swapped:
                v.__class__ = Value


# --------------------------------------------------------------------------------------
# Turning user numbers into floats.
# --------------------------------------------------------------------------------------

def _as_float(x: object, where: str) -> float:
    """Convert a real number (int, bool, float, NumPy scalar) to a Python float."""
    if type(x) is float:
        return x
    try:
        if type(x) is int:
            return float(x)
        if isinstance(x, (numbers.Real, bool)) or (
            type(x).__module__ == "numpy" and getattr(x, "ndim", None) == 0
            and getattr(x, "dtype", None) is not None and x.dtype.kind in "biuf"
        ):
            return float(x)  # type: ignore[arg-type]
    except OverflowError:
        raise _too_large(x, where) from None
    raise TypeError(
        f"{where}: expected a real number (int, float, bool or NumPy scalar), "
        f"got {type(x).__name__} {x!r:.60}"
    )


def _too_large(x: object, where: str) -> DomainError:
    """The error for a number beyond the largest float (about 1.8e308), such as 10**400."""
    if isinstance(x, int):
        digits = int(x.bit_length() * math.log10(2)) + 1  # str() of a huge int can fail
        what = f"an integer of about {digits} digits"
    else:
        what = f"{type(x).__name__} {x!r:.60}"
    return DomainError(f"{where}: {what} is too large for a float (the largest is about "
                       "1.8e308)")


# --------------------------------------------------------------------------------------
# The operation table: one record (`Op`) per operation, holding every fact about it.
# --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BatchRule:
    """An operation's rule on NumPy arrays: what `autograd.compile` runs on a batch.

    The same maths as the record's scalar rules, element by element, on float64 arrays
    that broadcast against each other (a batch-constant operand arrives with shape
    (g, 1), a per-row one with shape (g, batch)):

    * ``forward(*inputs, param)`` -- the outputs;
    * ``derivative(*inputs, out, param)`` -- one array (or number) of local derivatives
      d out / d input per input;
    * ``invalid(*inputs, out, param)`` -- a boolean array, True exactly where the scalar
      rules raise `DomainError`, or None when they raise nowhere in these arrays (a
      rule may check that first, in one pass, before it builds the mask); the field is
      None when they never do.

    ``param`` is the operation's constant (the n of ``x ** n``), None for the others.
    """

    forward: Callable[..., Any]
    derivative: Callable[..., tuple]
    invalid: Callable[..., Any] | None = None


# A sampler draws one point where an operation is smooth and defined: (inputs, constant).
Sampler = Callable[[random.Random], tuple[list[float], Any]]


@dataclass(frozen=True)
class Op:
    """One operation and everything known about it, in one record of `OPS`.

    ``name`` is its key in `OPS`, the ``op`` of the Values it makes and the name drawn
    for it.  The maths (``tanh``'s record, for example, holds forward = tanh(x) and
    derivative = (1 - out^2,); ``param`` is the operation's constant, such as the n of
    ``x ** n``, passed only when ``has_param``):

    * ``forward(*inputs[, param])`` -- the value, on floats;
    * ``derivative(*inputs, out[, param])`` -- one local derivative d out / d input_i
      per input, given the output ``out``.  It uses only arithmetic and this module's
      functions (``cos(x)``), so the same rule runs on floats in ``backward()`` and on
      Values under ``grad(..., create_graph=True)`` (higher-order derivatives);
    * ``check(*inputs[, param])`` -- raises `DomainError` before anything is recorded
      where the operation is undefined (log(0)); ``raises_in_forward`` says that the
      forward rule itself raises `DomainError` for some finite inputs or at +-inf
      (overflow of exp, math.fsum, sin(inf));
    * ``batch`` -- the same rules on NumPy arrays (`BatchRule`), which
      `autograd.compile` runs; None means element-by-element use of the scalar rules;
    * ``sample(rng)`` -- a point (inputs, param) where the operation is defined and
      smooth, drawn from a `random.Random`; `autograd.gradcheck.check_operation` checks
      the derivatives there;
    * ``kinks`` -- points (inputs, param) where it is not differentiable; there the
      derivative rule must give a one-sided slope or a value between them;
    * ``formula`` -- the derivative rule as text, for the docs and the drawings;
    * ``locals_view`` -- for an n-ary operation whose local derivatives are constants or
      its inputs' own numbers (`sum`, `dot`): a `_LocalsView` class, which stands for a
      node's locals without computing them and adds ``upstream * local`` into the
      parents with a loop fitted to the rule, so that `backward()` builds no tuple of one
      number per input; None (the default) for the others.

    How it is written (read by the docs, the expression parser and the drawings):

    * ``arity`` -- 1 or 2 inputs, or -1 for any number (parents kept as one tuple);
    * ``symbol`` -- the Python operator (``+ - * / **``; ``-`` of one input is negation);
    * ``function`` -- the name of its function in `autograd` (``"tanh"``,
      ``"absolute"``): generated from this record for one or two inputs, numbers in ->
      float out, any Value in -> Value out;
    * ``method`` -- the name of its `Value` method (``x.tanh()``), generated too;
    * ``expression_name`` -- the name an expression calls it by, when it differs from
      ``function`` (``abs``); an operation with neither is not callable in expressions;
    * ``param_name``, ``param_default`` -- the constant's name (``alpha``) and its
      default value (0.01), if it may be left out;
    * ``notation`` -- how it is written, when that is none of the above
      (``autograd.dot(w, x, b)``).

    The ``written`` property puts these together for the docs (``x.leaky_relu(alpha)``).
    """

    name: str
    forward: Callable[..., float]
    derivative: Callable[..., Sequence[Any]]
    formula: str = ""
    arity: int = 1
    has_param: bool = False
    check: Callable[..., None] | None = field(default=None, compare=False)
    raises_in_forward: bool = False
    batch: BatchRule | None = field(default=None, compare=False)
    sample: Sampler | None = field(default=None, compare=False)
    kinks: tuple[tuple[tuple[float, ...], Any], ...] = field(default=(), compare=False)
    symbol: str = ""
    function: str = ""
    method: str = ""
    expression_name: str = ""
    param_name: str = ""
    param_default: float | None = None
    notation: str = ""
    locals_view: Callable[[Value], Sequence[float]] | None = field(default=None,
                                                                    compare=False)

    @property
    def written(self) -> str:
        """How the operation is written in Python, as the docs show it: ``a + b``,
        ``x ** n``, ``x.tanh()``, ``x.leaky_relu(alpha)``, ``abs(x)``, ``maximum(a, b)``."""
        if self.notation:
            return self.notation
        args = "a, b" if self.arity == 2 else "x"
        if self.symbol:
            if self.arity == 2:
                return f"a {self.symbol} b"
            return f"x {self.symbol} {self.param_name}" if self.has_param else f"{self.symbol}x"
        constant = self.param_name if self.has_param else ""
        if self.method:
            return f"x.{self.method}({constant})"
        return f"{self.expression_name or self.function or self.name}({args})"

    def __call__(self, *args: Any) -> Any:
        """Apply the operation: numbers give a float, any Value gives a recorded Value.

        The inputs come first, then the constant if the operation has one (left out, it
        is ``param_default``)."""
        count = len(args) if self.arity < 0 else self.arity
        inputs, extra = args[:count], args[count:]
        param = None
        if self.has_param:
            param = _as_float(extra[0] if extra else self.param_default, self.name)
        elif extra:
            raise TypeError(f"{self.name}: takes {count} inputs, got {len(args)}")
        if len(inputs) != count:
            raise TypeError(f"{self.name}: takes {count} inputs, got {len(inputs)}")
        if any(isinstance(a, Value) for a in inputs):
            return Value._apply(self, tuple([lift(a) for a in inputs]), param)
        floats = tuple([_as_float(a, self.name) for a in inputs])
        return _run_forward(self, floats + (param,) if self.has_param else floats)

    # An operation is one entry of the table: copies and pickles refer to it by name, so
    # a pickled or deep-copied graph points at the same rules (its lambdas cannot pickle).
    def __reduce__(self) -> tuple[Callable[[str], Op], tuple[str]]:
        return _operation_named, (self.name,)

    def __copy__(self) -> Op:
        return self

    def __deepcopy__(self, memo: dict) -> Op:
        return self


OPS: dict[str, Op] = {}


def _operation_named(name: str) -> Op:
    """The table's entry for `name` (how a pickled graph finds its operations again)."""
    try:
        return OPS[name]
    except KeyError:
        raise ValueError(f"unpickle: no operation named {name!r}; define the primitive "
                         f"before loading a graph that uses it") from None


def _register(op: Op) -> Op:
    if op.name in OPS:
        raise ValueError(f"primitive: an operation named {op.name!r} already exists")
    OPS[op.name] = op
    return op


def set_batch_rule(op: Op, rule: BatchRule | None) -> None:
    """Give a registered operation (a user primitive) its NumPy rule, or take it away.

    A record is frozen; its batch rule is the one fact that may be added after it is
    registered, because a primitive's NumPy rule is often written after the primitive
    (`autograd.compile.register_vectorized` calls this)."""
    object.__setattr__(op, "batch", rule)


def _fail(opname: str, message: str) -> DomainError:
    return DomainError(f"{opname}: {message}")


def _fmt(x: float) -> str:
    return repr(x)


def _forward_failed(op: Op, args: tuple, exc: BaseException) -> DomainError:
    """The DomainError for a forward rule that raised (math.sin(inf), math.fsum, ...)."""
    operands = ", ".join(_fmt(a) for a in args)
    return _fail(op.name, f"{exc} for {op.name}({operands})")


def _run_forward(op: Op, args: tuple) -> float:
    """op's forward rule on floats (the constant last), with its domain check: a float,
    or a `DomainError` naming the operation and its operands."""
    if op.check is not None:
        op.check(*args)
    try:
        data = op.forward(*args)
    except DomainError:
        raise
    except (ArithmeticError, ValueError) as exc:  # math.sin(inf), user functions, ...
        raise _forward_failed(op, args, exc) from exc
    if type(data) is not float:
        if isinstance(data, complex):  # a Value never silently holds a complex number
            raise _fail(op.name, f"complex result for inputs {args!r}")
        data = _as_float(data, op.name)
    return data


# Domain checks.  Each raises before the node exists, naming the operation and operands.

def _check_div(a: float, b: float) -> None:
    if b == 0.0:
        raise _fail("/", f"division by zero in {_fmt(a)} / {_fmt(b)}")


def _check_log(x: float) -> None:
    if not x > 0.0:
        raise _fail("log", f"argument must be > 0, got log({_fmt(x)})")


def _check_sqrt(x: float) -> None:
    if x < 0.0:
        raise _fail("sqrt", f"argument must be >= 0, got sqrt({_fmt(x)})")


def _check_power(opname: str, base: float, exponent: float) -> None:
    if base == 0.0 and exponent < 0.0:
        raise _fail(opname, f"zero cannot be raised to a negative power: "
                            f"{_fmt(base)} ** {_fmt(exponent)}")
    if base < 0.0 and not float(exponent).is_integer():
        raise _fail(opname, f"a negative base needs an integer exponent (the result would be "
                            f"complex): {_fmt(base)} ** {_fmt(exponent)}")


def _check_pow_const(x: float, n: float) -> None:
    _check_power("**", x, n)


def _check_pow(a: float, b: float) -> None:
    _check_power("pow", a, b)


def _pow_forward(opname: str, base: float, exponent: float) -> float:
    try:
        return base ** exponent
    except OverflowError:
        raise _fail(opname, f"result overflows a float: {_fmt(base)} ** {_fmt(exponent)}") from None


def _exp_forward(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        raise _fail("exp", f"result overflows a float: exp({_fmt(x)})") from None


def _sigmoid_forward(x: float) -> float:
    # Two branches so that exp never overflows: sigmoid(-1000) is 0.0, not an error.
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _softplus_forward(x: float) -> float:
    # log(1 + e^x) = max(x, 0) + log1p(e^-|x|): finite for any finite x.
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


def _data(x: Any) -> float:
    return x._data if isinstance(x, Value) else x


# Kinked operations let a NaN through, forward and backward (as PyTorch): their rules
# compare with both < and <=, since every comparison with NaN is false.

def _relu_forward(x: float) -> float:
    return 0.0 if x <= 0.0 else x  # NaN > 0 is false, NaN <= 0 too: NaN is kept


def _step(x: Any) -> float:
    """relu's slope: 1.0 where x > 0, 0.0 where x <= 0, NaN at NaN (a constant, so its
    own derivative is zero)."""
    d = _data(x)
    return 1.0 if d > 0.0 else 0.0 if d <= 0.0 else math.nan


def _leaky_slope(x: Any, alpha: float) -> float:
    d = _data(x)
    return 1.0 if d > 0.0 else alpha if d <= 0.0 else math.nan


def _sign(x: Any) -> float:
    """abs's slope: the sign of x, 0 at 0, NaN at NaN."""
    d = _data(x)
    return 1.0 if d > 0.0 else -1.0 if d < 0.0 else 0.0 if d == 0.0 else math.nan


def _maximum(a: float, b: float) -> float:
    return a if a > b else b if a <= b else math.nan


def _minimum(a: float, b: float) -> float:
    return a if a < b else b if a >= b else math.nan


def _first_share(first_wins: bool, second_wins: bool, tie: bool) -> tuple[float, float]:
    """The local derivatives of maximum or minimum: all to the input that is chosen,
    half to each at a tie (the mean of the one-sided slopes), NaN when one is NaN."""
    if first_wins:
        return 1.0, 0.0
    if second_wins:
        return 0.0, 1.0
    return (0.5, 0.5) if tie else (math.nan, math.nan)


def _maximum_slopes(a: Any, b: Any) -> tuple[float, float]:
    x, y = _data(a), _data(b)
    return _first_share(x > y, x < y, x == y)


def _minimum_slopes(a: Any, b: Any) -> tuple[float, float]:
    x, y = _data(a), _data(b)
    return _first_share(x < y, x > y, x == y)


def _power_slope(x: Any, n: float) -> Any:
    """d/dx x**n = n * x**(n-1); infinite where x is 0 and n < 1 (sqrt's slope at 0)."""
    if n == 0.0:
        return 0.0
    if _data(x) == 0.0 and n < 1.0:
        return math.inf
    return n * x ** (n - 1.0)


def _pow_base_slope(a: Any, b: Any) -> Any:
    """d/da a**b for a Value or number exponent b.

    A number b (backward) is `_power_slope`.  A Value b (create_graph) keeps b in the
    graph, b * a**(b-1), so that d/db of this slope is right; only at a == 0 with b < 1,
    where a**(b-1) would raise, it takes `_power_slope`'s constant (inf, or 0 for b == 0)
    as the first-order pass does.
    """
    if not isinstance(b, Value) or (_data(a) == 0.0 and b._data < 1.0):
        return _power_slope(a, _data(b))
    return b * a ** (b - 1.0)


def _log_base_slope(a: Any, out: Any) -> Any:
    """d/db a**b = a**b * log(a) for a > 0; 0 at a == 0 (b > 0); undefined (nan) for a < 0."""
    a_data = _data(a)
    if a_data > 0.0:
        return out * log(a)
    return 0.0 if a_data == 0.0 else math.nan


def _sqrt_slope(out: Any) -> Any:
    return math.inf if _data(out) == 0.0 else 0.5 / out


def _dot_of(products: list[float], bias: float) -> float:
    """dot's forward rule: the correctly rounded sum of the products w_i x_i (math.fsum),
    plus the bias.  The record's `_dot_forward` and `dot` both end here; `dot` makes the
    products straight from the Values."""
    return math.fsum(products) + bias


def _dot_forward(*args: float) -> float:
    n = (len(args) - 1) // 2  # args = w_1..w_n, x_1..x_n, b
    # A list made by a comprehension: floats multiply inline, where a generator would
    # resume once per product and map(operator.mul) would call a function per product.
    return _dot_of([w * x for w, x in zip(args[:n], args[n:2 * n])], args[-1])


def _dot_derivative(*args: Any) -> tuple:
    # args = w_1..w_n, x_1..x_n, b, out:  d/dw_i = x_i,  d/dx_i = w_i,  d/db = 1
    n = (len(args) - 2) // 2
    return (*args[n:2 * n], *args[:n], 1.0)


class _LocalsView:
    """The local derivatives of one n-ary node, standing for them without computing them.

    `backprop_walk` yields one for a node whose record names it (``Op.locals_view``:
    `sum` and `dot`).  Read as a sequence, it is exactly the record's derivative rule at
    the parents' numbers (`local_derivatives`).  `Value.backward` does not read it:
    it calls `add_into_parents`, the chain rule's step for this one rule, which adds
    ``upstream * local`` into each parent's ``.grad`` in argument order, as the general
    loop would, with the same numbers to the last bit -- without first reading every
    parent's number into a tuple (675 of them for the L2 penalty of a 337-parameter
    network) and zipping it with the parents.

    A plain class with the sequence methods, not a `collections.abc.Sequence`: that
    would make `backward`'s ``isinstance`` test an ABC check per n-ary node.
    """

    __slots__ = ("node", "_numbers")

    def __init__(self, node: Value) -> None:
        self.node = node
        self._numbers: Sequence[float] | None = None

    def numbers(self) -> Sequence[float]:
        """The local derivatives, computed once by the record's rule at the parents'
        numbers, as `local_derivatives` does (no operation with a view has a constant)."""
        if self._numbers is None:
            node = self.node
            self._numbers = node._fn.derivative(*[p._data for p in node._a], node._data)
        return self._numbers

    def __len__(self) -> int:
        return len(self.node._a)

    def __getitem__(self, k: Any) -> Any:
        return self.numbers()[k]

    def __iter__(self) -> Iterator[float]:
        return iter(self.numbers())

    def add_into_parents(self, upstream: Any) -> None:
        """parent_k.grad += upstream * local_k for every parent k, in argument order."""
        for parent, local in zip(self.node._a, self.numbers()):
            parent._grad += upstream * local


class _SumLocals(_LocalsView):
    """sum's locals: d/dx_i = 1 for every input."""

    __slots__ = ()

    def add_into_parents(self, upstream: Any) -> None:
        # upstream * 1.0 is upstream itself, to the last bit.
        for parent in self.node._a:
            parent._grad += upstream


# An n-ary node keeps its parents in `_a` and has no use for the slot `_b`.  A `dot` node
# that `dot` built from one list of leaves given twice (p . p of parameters, as
# nn.l2_penalty asks), with a leaf bias, holds this note there: its parents are
# p_1..p_n, p_1..p_n, b, the second half the first again, and all of them leaves, which
# they stay (a leaf never gains parents).  The walks then need not find out again what
# `dot` already knew: `backward`'s sort has nothing to look for under the node, and its
# chain rule needs no comparison of the halves.  Any other node holds None there, and
# every walk reads its parents as they are; the parents, the operation and everything
# drawn or explained are the same either way.
_SQUARES_OF_LEAVES = "p . p of leaves"


class _DotLocals(_LocalsView):
    """dot's locals: d/dw_i = x_i, d/dx_i = w_i, d/db = 1 (parents w_1..w_n, x_1..x_n, b)."""

    __slots__ = ()

    def add_into_parents(self, upstream: Any) -> None:
        node = self.node
        parents = node._a
        n, has_bias = divmod(len(parents), 2)
        if not has_bias:  # OPS["dot"] applied to an even count: what the rule gives
            super().add_into_parents(upstream)
            return
        w = parents[:n]
        # p . p (nn.l2_penalty): `dot` left a note saying so (see _SQUARES_OF_LEAVES), or
        # else each w_i and x_i are found to be one Value (== is identity)
        x = w if node._b is not None else parents[n:2 * n]
        if x is w or w == x:
            # Parent w_i gets upstream * x_i and later, as x_i, upstream * w_i: both are
            # upstream * p.data.  Every addition this node makes into a Value's .grad
            # adds that Value's one number (the bias's comes last), so making a Value's
            # two additions one after the other gives each .grad the same sum, in the
            # same order, to the last bit.
            for p in w:
                share = upstream * p._data
                p._grad = p._grad + share + share
        else:
            for p, other in zip(w, x):
                p._grad += upstream * other._data
            for p, other in zip(x, w):
                p._grad += upstream * other._data
        parents[-1]._grad += upstream  # d/db = 1: upstream * 1.0 is upstream


# The same helpers on NumPy arrays, for the batch rules.

def _np_is_integer(x: np.ndarray) -> np.ndarray:
    return np.isfinite(x) & (np.floor(x) == x)


def _np_power_slope(x: np.ndarray, n: Any) -> np.ndarray:
    """n x^(n-1), infinite where x == 0 and n < 1, 0 where n == 0 (as `_power_slope`)."""
    n_arr = np.asarray(n, dtype=np.float64)
    slope = n_arr * x ** (n_arr - 1.0)
    slope = np.where((x == 0.0) & (n_arr < 1.0), math.inf, slope)
    return np.where(n_arr == 0.0, 0.0, slope)


def _np_power_invalid(base: np.ndarray, exponent: Any, out: np.ndarray) -> np.ndarray:
    """Where `_check_power` or `_pow_forward` raise."""
    e = np.asarray(exponent, dtype=np.float64)
    zero_to_negative = (base == 0.0) & (e < 0.0)
    complex_result = (base < 0.0) & ~_np_is_integer(e)
    # Python's float ** raises OverflowError where the exact result is finite but too big.
    overflow = np.isinf(out) & np.isfinite(base) & np.isfinite(e)
    return zero_to_negative | complex_result | overflow


def _np_log_base_slope(a: np.ndarray, out: np.ndarray) -> np.ndarray:
    """d/db a^b = a^b log(a) for a > 0, 0 at a == 0, nan for a < 0 (as `_log_base_slope`)."""
    safe = np.where(a > 0.0, a, 1.0)
    return np.where(a > 0.0, out * np.log(safe), np.where(a == 0.0, 0.0, math.nan))


def _np_sigmoid(x: np.ndarray) -> np.ndarray:
    # `_sigmoid_forward`'s two branches, so that exp never overflows on the kept branch.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0.0, 1.0 / (1.0 + e), e / (1.0 + e))


def _np_by_sign(x: np.ndarray, above: Any, at_or_below: Any) -> np.ndarray:
    """`above` where x > 0, `at_or_below` where x <= 0, NaN at NaN (the kinked slopes)."""
    return np.where(x > 0.0, above, np.where(x <= 0.0, at_or_below, math.nan))


def _np_one_minus_square(out: np.ndarray) -> np.ndarray:
    """1 - out^2 in one new array: the temporary out^2, freed at once, would be the
    heap's top, which glibc hands back to the system and the next call faults in again."""
    local = out * out
    np.subtract(1.0, local, out=local)
    return local


def _np_exp_overflows(x: np.ndarray, out: np.ndarray, p: Any) -> np.ndarray | None:
    """Where exp overflowed from a finite argument (the scalar rule raises there)."""
    if out.max() < math.inf:  # one pass for the common case (NaN compares False)
        return None
    return np.isinf(out) & np.isfinite(x)


def _np_log_outside(x: np.ndarray, out: np.ndarray, p: Any) -> np.ndarray | None:
    """Where log's argument is not > 0 (NaN included), as `_check_log`."""
    if x.min() > 0.0:  # one pass for the common case (NaN compares False)
        return None
    return ~(x > 0.0)


def _np_relu(x: np.ndarray) -> np.ndarray:
    """max(x, 0), NaN kept, as `_relu_forward` (one pass; np.where takes several).  Its
    sign is relu's slope: 1 above 0, 0 at or below, NaN at NaN."""
    out = np.maximum(x, 0.0)
    out += 0.0  # maximum(-0.0, 0.0) is -0.0; the scalar rule gives 0.0
    return out


def _np_sign(x: np.ndarray) -> np.ndarray:
    return np.where(x < 0.0, -1.0, _np_by_sign(x, 1.0, 0.0))


def _np_first_share(winner: np.ndarray, loser: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """maximum's slopes (minimum's with the inputs swapped), as `_maximum_slopes`: 1 and 0
    where the first input is larger, 0 and 1 where smaller, 1/2 each at a tie, NaN at
    NaN.  Read from the sign of the difference: a few whole-array passes instead of
    nested np.where (about three times faster at 1,000 rows)."""
    share = np.sign(winner - loser)  # 1, -1 or 0; NaN at NaN and at inf - inf
    share *= 0.5
    share += 0.5
    if not np.isfinite(np.add.reduce(share, axis=None)):
        # A tie of two equal infinities is a tie, not NaN.
        np.copyto(share, 0.5, where=winner == loser)
    return share, 1.0 - share


def _np_dot_forward(*args: Any) -> Any:
    n = (len(args) - 2) // 2  # args = w_1..w_n, x_1..x_n, b, param
    total = sum((args[i] * args[n + i] for i in range(n)), np.float64(0.0))
    return total + args[2 * n]


def _np_dot_derivative(*args: Any) -> tuple:
    n = (len(args) - 3) // 2  # args = w_1..w_n, x_1..x_n, b, out, param
    ones = np.ones_like(np.asarray(args[2 * n + 1], dtype=np.float64))
    return (*args[n:2 * n], *args[:n], ones)


def _np_sum_forward(*args: Any) -> Any:
    return sum(args[:-1], np.float64(0.0))


def _np_sum_derivative(*args: Any) -> tuple:
    ones = np.ones_like(np.asarray(args[-2], dtype=np.float64))
    return (ones,) * (len(args) - 2)


# Samplers: where each operation is smooth and defined.  Kinked operations are sampled
# away from their kink; the kink itself is in the record's `kinks`.

def _uniform(*intervals: tuple[float, float], param: Any = None) -> Sampler:
    """One number from each interval."""
    return lambda rng: ([rng.uniform(low, high) for low, high in intervals], param)


def _away_from_zero(rng: random.Random, low: float, high: float) -> float:
    """A number with magnitude in [low, high] and a random sign."""
    return rng.choice((-1.0, 1.0)) * rng.uniform(low, high)


def _power_point(rng: random.Random) -> tuple[list[float], Any]:
    # x ** n: any exponent for a positive base, integer exponents for a negative one.
    if rng.random() < 0.5:
        return [rng.uniform(0.2, 3.0)], rng.choice((-2.5, -1.0, -0.5, 0.5, 1.5, 2.0, 3.0))
    return [_away_from_zero(rng, 0.2, 2.0)], float(rng.choice((-2, -1, 2, 3, 4)))


def _apart_point(rng: random.Random) -> tuple[list[float], Any]:
    # maximum and minimum: two numbers at least 0.01 apart, either one the larger.
    a = rng.uniform(-3.0, 3.0)
    return [a, a + _away_from_zero(rng, 0.01, 3.0)], None


def _sum_point(rng: random.Random) -> tuple[list[float], Any]:
    return [rng.uniform(-3.0, 3.0) for _ in range(rng.randint(1, 5))], None


def _dot_point(rng: random.Random) -> tuple[list[float], Any]:
    n = rng.randint(1, 4)
    return [rng.uniform(-3.0, 3.0) for _ in range(2 * n + 1)], None


_WIDE = (-3.0, 3.0)

ADD = _register(Op(
    "+", lambda a, b: a + b, lambda a, b, out: (1.0, 1.0), "d/da = 1, d/db = 1", 2,
    batch=BatchRule(lambda a, b, p: a + b, lambda a, b, out, p: (1.0, 1.0)),
    sample=_uniform(_WIDE, _WIDE), symbol="+"))
SUB = _register(Op(
    "-", lambda a, b: a - b, lambda a, b, out: (1.0, -1.0), "d/da = 1, d/db = -1", 2,
    batch=BatchRule(lambda a, b, p: a - b, lambda a, b, out, p: (1.0, -1.0)),
    sample=_uniform(_WIDE, _WIDE), symbol="-"))
MUL = _register(Op(
    "*", lambda a, b: a * b, lambda a, b, out: (b, a), "d/da = b, d/db = a", 2,
    batch=BatchRule(lambda a, b, p: a * b, lambda a, b, out, p: (b, a)),
    sample=_uniform(_WIDE, _WIDE), symbol="*"))
DIV = _register(Op(
    "/", lambda a, b: a / b, lambda a, b, out: (1.0 / b, -out / b),
    "d/da = 1/b, d/db = -a/b^2", 2, check=_check_div,
    batch=BatchRule(lambda a, b, p: a / b, lambda a, b, out, p: (1.0 / b, -out / b),
                    lambda a, b, out, p: b == 0.0),
    sample=lambda r: ([r.uniform(-3, 3), _away_from_zero(r, 0.3, 3)], None), symbol="/"))
NEG = _register(Op(
    "neg", lambda x: -x, lambda x, out: (-1.0,), "d/dx = -1",
    batch=BatchRule(lambda x, p: -x, lambda x, out, p: (-1.0,)),
    sample=_uniform(_WIDE), symbol="-"))
POW_CONST = _register(Op(
    "**", lambda x, n: _pow_forward("**", x, n), lambda x, out, n: (_power_slope(x, n),),
    "d/dx = n x^(n-1)   (n a number)", has_param=True, check=_check_pow_const,
    raises_in_forward=True,
    batch=BatchRule(lambda x, n: x ** n, lambda x, out, n: (_np_power_slope(x, n),),
                    lambda x, out, n: _np_power_invalid(x, n, out)),
    sample=_power_point, symbol="**", param_name="n"))
POW = _register(Op(
    "pow", lambda a, b: _pow_forward("pow", a, b),
    lambda a, b, out: (_pow_base_slope(a, b), _log_base_slope(a, out)),
    "d/da = b a^(b-1), d/db = a^b log(a)", 2, check=_check_pow, raises_in_forward=True,
    batch=BatchRule(lambda a, b, p: a ** b,
                    lambda a, b, out, p: (_np_power_slope(a, b), _np_log_base_slope(a, out)),
                    lambda a, b, out, p: _np_power_invalid(a, b, out)),
    sample=_uniform((0.2, 3.0), (-2.0, 2.0)), symbol="**"))
EXP = _register(Op(
    "exp", _exp_forward, lambda x, out: (out,), "d/dx = exp(x)", raises_in_forward=True,
    batch=BatchRule(lambda x, p: np.exp(x), lambda x, out, p: (out,), _np_exp_overflows),
    sample=_uniform((-5.0, 5.0)), function="exp", method="exp"))
LOG = _register(Op(
    "log", math.log, lambda x, out: (1.0 / x,), "d/dx = 1/x", check=_check_log,
    batch=BatchRule(lambda x, p: np.log(x), lambda x, out, p: (1.0 / x,), _np_log_outside),
    sample=_uniform((0.05, 5.0)), function="log", method="log"))
SQRT = _register(Op(
    "sqrt", math.sqrt, lambda x, out: (_sqrt_slope(out),), "d/dx = 1 / (2 sqrt(x))",
    check=_check_sqrt,
    batch=BatchRule(lambda x, p: np.sqrt(x),
                    lambda x, out, p: (np.where(out == 0.0, math.inf, 0.5 / out),),
                    lambda x, out, p: x < 0.0),
    sample=_uniform((0.05, 5.0)), function="sqrt", method="sqrt"))
TANH = _register(Op(
    "tanh", math.tanh, lambda x, out: (1.0 - out * out,), "d/dx = 1 - tanh(x)^2",
    batch=BatchRule(lambda x, p: np.tanh(x), lambda x, out, p: (_np_one_minus_square(out),)),
    sample=_uniform(_WIDE), function="tanh", method="tanh"))
SIGMOID = _register(Op(
    "sigmoid", _sigmoid_forward, lambda x, out: (out * (1.0 - out),),
    "d/dx = s(x) (1 - s(x))",
    batch=BatchRule(lambda x, p: _np_sigmoid(x), lambda x, out, p: (out * (1.0 - out),)),
    sample=_uniform((-6.0, 6.0)), function="sigmoid", method="sigmoid"))
RELU = _register(Op(
    "relu", _relu_forward, lambda x, out: (_step(x),), "d/dx = 1 if x > 0 else 0",
    batch=BatchRule(lambda x, p: _np_relu(x), lambda x, out, p: (np.sign(out),)),
    sample=lambda r: ([_away_from_zero(r, 0.01, 3.0)], None), kinks=(((0.0,), None),),
    function="relu", method="relu"))
LEAKY_RELU = _register(Op(
    "leaky_relu", lambda x, alpha: x if x > 0.0 else alpha * x,
    lambda x, out, alpha: (_leaky_slope(x, alpha),), "d/dx = 1 if x > 0 else alpha",
    has_param=True,
    batch=BatchRule(lambda x, alpha: np.where(x > 0.0, x, alpha * x),
                    lambda x, out, alpha: (_np_by_sign(x, 1.0, alpha),)),
    sample=lambda r: ([_away_from_zero(r, 0.01, 3.0)], r.choice((0.01, 0.1, 0.3))),
    kinks=(((0.0,), 0.01), ((0.0,), 0.2)),
    function="leaky_relu", method="leaky_relu", param_name="alpha", param_default=0.01))
SOFTPLUS = _register(Op(
    "softplus", _softplus_forward, lambda x, out: (sigmoid(x),), "d/dx = sigmoid(x)",
    batch=BatchRule(lambda x, p: np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x))),
                    lambda x, out, p: (_np_sigmoid(x),)),
    sample=_uniform((-6.0, 6.0)), function="softplus", method="softplus"))
SIN = _register(Op(
    "sin", math.sin, lambda x, out: (cos(x),), "d/dx = cos(x)", raises_in_forward=True,
    batch=BatchRule(lambda x, p: np.sin(x), lambda x, out, p: (np.cos(x),),
                    lambda x, out, p: np.isinf(x)),
    sample=_uniform((-4.0, 4.0)), function="sin", method="sin"))
COS = _register(Op(
    "cos", math.cos, lambda x, out: (-sin(x),), "d/dx = -sin(x)", raises_in_forward=True,
    batch=BatchRule(lambda x, p: np.cos(x), lambda x, out, p: (-np.sin(x),),
                    lambda x, out, p: np.isinf(x)),
    sample=_uniform((-4.0, 4.0)), function="cos", method="cos"))
ATAN = _register(Op(
    "atan", math.atan, lambda x, out: (1.0 / (1.0 + x * x),), "d/dx = 1 / (1 + x^2)",
    batch=BatchRule(lambda x, p: np.arctan(x), lambda x, out, p: (1.0 / (1.0 + x * x),)),
    sample=_uniform((-4.0, 4.0)), function="atan", method="atan"))
ABS = _register(Op(
    "abs", abs, lambda x, out: (_sign(x),), "d/dx = sign(x)  (0 at x = 0)",
    batch=BatchRule(lambda x, p: np.abs(x), lambda x, out, p: (_np_sign(x),)),
    sample=lambda r: ([_away_from_zero(r, 0.01, 3.0)], None), kinks=(((0.0,), None),),
    function="absolute", expression_name="abs"))
# At a tie (a == b) neither input alone decides the result: each gets half of the slope,
# the mean of the one-sided slopes 0 and 1 (as TensorFlow's and PyTorch's amax), so that
# maximum(x, x) has slope 1 and the slope equals the central difference there.
MAXIMUM = _register(Op(
    "maximum", _maximum, lambda a, b, out: _maximum_slopes(a, b),
    "d/da = 1 if a > b, 0 if a < b, 1/2 if a = b; d/db = 1 - d/da", 2,
    batch=BatchRule(lambda a, b, p: np.maximum(a, b),
                    lambda a, b, out, p: _np_first_share(a, b)),
    sample=_apart_point, kinks=(((1.0, 1.0), None), ((-0.5, -0.5), None)),
    function="maximum"))
MINIMUM = _register(Op(
    "minimum", _minimum, lambda a, b, out: _minimum_slopes(a, b),
    "d/da = 1 if a < b, 0 if a > b, 1/2 if a = b; d/db = 1 - d/da", 2,
    batch=BatchRule(lambda a, b, p: np.minimum(a, b),
                    lambda a, b, out, p: _np_first_share(b, a)),
    sample=_apart_point, kinks=(((1.0, 1.0), None), ((-0.5, -0.5), None)),
    function="minimum"))
SUM = _register(Op(
    "sum", lambda *xs: math.fsum(xs), lambda *args: (1.0,) * (len(args) - 1), "d/dx_i = 1",
    -1, raises_in_forward=True,
    # The compiled graph runs sum and dot fused (see compile's _SumGroup and _DotGroup),
    # with one stacked gather instead of one array per input; these rules state the maths.
    batch=BatchRule(_np_sum_forward, _np_sum_derivative),
    sample=_sum_point, notation="autograd.sum_values(xs)", locals_view=_SumLocals))
DOT = _register(Op(
    "dot", _dot_forward, _dot_derivative, "w.x + b:  d/dw_i = x_i, d/dx_i = w_i, d/db = 1",
    -1, raises_in_forward=True,
    batch=BatchRule(_np_dot_forward, _np_dot_derivative),
    sample=_dot_point, notation="autograd.dot(w, x, b)", locals_view=_DotLocals))

# The operations this module defines.  Their names are never reused (`primitive` and
# `register_operation` refuse them), so this set tells a built-in record from a user's.
_BUILT_IN: frozenset[str] = frozenset(OPS)


class _ClosureStep:
    """What a node built micrograd's way keeps: its ``_op`` name and ``_backward``."""

    __slots__ = ("name", "step")

    def __init__(self, name: str, step: Callable[[], Any] | None) -> None:
        self.name = name
        self.step = step


def _no_rule(*args: Any) -> Any:
    raise TypeError("a node built with Value(data, _children, _op) has no forward rule: "
                    "its number is given, and its step is its _backward function")


# The operation of every node built micrograd's way, ``Value(data, _children, _op)``.
# Not in OPS (it is not an operation one can apply); its derivatives come from the
# node's own ``_backward`` (see `_closure_slopes`), its name from the node's ``_op``.
CLOSURE = Op("_backward", _no_rule, _no_rule, "the node's own _backward function", -1)


# --------------------------------------------------------------------------------------
# Value
# --------------------------------------------------------------------------------------

_EMPTY: tuple = ()


class Value:
    """A scalar that remembers how it was computed.

    Attributes: ``data`` (float), ``grad`` (float, 0.0 until a backward pass), ``label``,
    ``op`` (name of the producing operation, '' for leaves), ``parents`` (tuple of input
    Values in argument order; ``a + a`` has two edges to ``a``) and ``scope`` (dotted name
    of the `scope` it was created in).
    """

    # _a and _b are the parents of a unary or binary node; an n-ary node (arity -1)
    # keeps its parents as a tuple in _a.  See the `parents` property.  The number and
    # the gradient live in the slots _data and _grad, which the class also offers under
    # their public names `data` and `grad` (the same slots, at a slot's speed; see the
    # end of the class).  The engine always uses the private names: an observed Value
    # (`_ObservedValue`, see `observe_reads`) reports reads of the public ones only.
    __slots__ = ("_data", "_grad", "_label", "_fn", "_a", "_b", "_param", "scope")

    _data: float
    _grad: float
    _label: str
    scope: str

    def __init__(self, data: Number, _children: Iterable[Value] | str = (), _op: str = "",
                 label: str = "") -> None:
        """A leaf holding `data`, or (micrograd's way) a node computed from `_children`.

        ``Value(2.0)``, ``Value(2.0, label="a")`` and ``Value(2.0, "a")`` make leaves.
        ``Value(out, (a, b), "op")`` makes a node with parents `a` and `b` drawn as "op",
        as micrograd's engine does; assign its ``_backward`` a function that adds
        ``out.grad`` times each local derivative into the parents' ``.grad`` and it takes
        part in `backward()` (see `Value._backward`).
        """
        if isinstance(_children, str):  # Value(2.0, "a"): the label, as before
            _children, label = (), _children
        self._data = _as_float(data, "Value")
        if not isinstance(label, str):
            raise TypeError(f"Value: label must be a string, got {type(label).__name__}")
        self._grad = 0.0
        self._label = label
        self._fn: Op | None = None
        self._a: Any = None
        self._b: Any = None
        self._param: Any = None
        self.scope = _state.scope if _open_blocks else ""
        if _observers:  # made while a tracer watches: see `observe_reads`
            self.__class__ = _ObservedValue
        if _children or _op:
            self._become_closure_node(_children, _op)

    def _become_closure_node(self, children: Iterable[Value], name: str,
                             step: Callable[[], Any] | None = None) -> None:
        if not isinstance(name, str):
            raise TypeError(f"Value: _op must be a string, got {type(name).__name__}")
        parents: list[Value] = []
        for child in children:
            if not isinstance(child, Value):
                raise TypeError(f"Value: _children must be Values, got "
                                f"{type(child).__name__} {child!r:.60}")
            if not any(child is p for p in parents):  # micrograd keeps a set
                parents.append(child)
        if not parents or (_open_blocks and not _state.enabled):
            return  # nothing to depend on (or no_grad): a leaf, as micrograd's would act
        self._fn = CLOSURE
        self._a = tuple(parents)
        self._b = None  # a dot's note (_SQUARES_OF_LEAVES) speaks of parents it no longer has
        self._param = _ClosureStep(name, step)

    @property
    def label(self) -> str:
        """The name drawings and the repr show for this Value ('' for none)."""
        return self._label

    @label.setter
    def label(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"Value.label: label must be a string, got "
                            f"{type(value).__name__} {value!r:.60}")
        self._label = value

    @property
    def parents(self) -> tuple[Value, ...]:
        """The input Values in argument order, repeats kept (``a + a`` gives ``(a, a)``)."""
        fn = self._fn
        if fn is None:
            return _EMPTY
        arity = fn.arity
        if arity == 1:
            return (self._a,)
        if arity == 2:
            return (self._a, self._b)
        return self._a

    # -- micrograd names ---------------------------------------------------------------
    @property
    def op(self) -> str:
        """Name of the operation that produced this Value ('' for a leaf)."""
        fn = self._fn
        if fn is None:
            return ""
        return self._param.name if fn is CLOSURE else fn.name

    @property
    def _backward(self) -> Callable[[], None]:
        """This node's own chain-rule step, as micrograd's ``_backward``.

        Calling it adds ``self.grad`` times each local derivative into the parents'
        ``.grad`` (for a leaf it does nothing), so calling it node by node in reverse
        topological order, after ``root.grad = 1.0``, is a backward pass by hand.
        Assigning a function makes this node's step that function (micrograd's way to
        add an operation): `backward()`, `grad()` and the drawings then learn each
        local derivative by running it once with ``self.grad`` = 1 on zeroed parents.
        """
        node = self
        if node._fn is CLOSURE and node._param.step is not None:
            return node._param.step

        def step() -> None:
            for _child, parent, _k, upstream, local in chain_rule((node,)):
                parent._grad += upstream * local

        return step

    @_backward.setter
    def _backward(self, step: Callable[[], Any]) -> None:
        if not callable(step):
            raise TypeError(f"Value._backward: expected a function, got {type(step).__name__}")
        if self._fn is CLOSURE:
            self._param.step = step
        elif self._fn is not None:  # an engine node whose step the user replaces
            self._become_closure_node(self.parents, self.op, step)
        # On a leaf, as in micrograd, the step is never called: nothing to store.

    @property
    def _op(self) -> str:
        return self.op

    @property
    def _prev(self) -> set[Value]:
        """micrograd's name for the set of distinct parents."""
        return set(self.parents)

    @property
    def param(self) -> Any:
        """The constant of an operation that has one (the n of ``x ** n``), else None."""
        return self._param

    @property
    def is_leaf(self) -> bool:
        return self._fn is None

    def __repr__(self) -> str:
        if _observers:
            _observed("__repr__")
        return _repr(self)

    # -- building nodes ----------------------------------------------------------------
    @staticmethod
    def _apply(op: Op, inputs: tuple[Value, ...], param: Any = None) -> Value:
        """Run `op` forward on the inputs' data and record the node (unless no_grad)."""
        args = tuple([v._data for v in inputs])
        data = _run_forward(op, args + (param,) if op.has_param else args)
        arity = op.arity
        if arity == 1:
            return _node(op, data, inputs[0], None, param)
        if arity == 2:
            return _node(op, data, inputs[0], inputs[1], None)
        return _node(op, data, inputs, None, param)

    # -- arithmetic (forward rule: see the Op table above) ------------------------------
    def __add__(self, other: Scalar) -> Value:
        if type(other) is not Value:
            # a number operand becomes a constant leaf (op None), built inline: hot path
            other = (_node(None, other, None, None, None) if type(other) is float
                     else _lift_or_none(other))
            if other is None:
                return NotImplemented
        return _node(ADD, self._data + other._data, self, other, None)

    def __radd__(self, other: Scalar) -> Value:
        o = _lift_or_none(other)
        return NotImplemented if o is None else o + self

    def __sub__(self, other: Scalar) -> Value:
        if type(other) is not Value:
            # a number operand becomes a constant leaf (op None), built inline: hot path
            other = (_node(None, other, None, None, None) if type(other) is float
                     else _lift_or_none(other))
            if other is None:
                return NotImplemented
        return _node(SUB, self._data - other._data, self, other, None)

    def __rsub__(self, other: Scalar) -> Value:
        o = _lift_or_none(other)
        return NotImplemented if o is None else o - self

    def __mul__(self, other: Scalar) -> Value:
        if type(other) is not Value:
            # a number operand becomes a constant leaf (op None), built inline: hot path
            other = (_node(None, other, None, None, None) if type(other) is float
                     else _lift_or_none(other))
            if other is None:
                return NotImplemented
        return _node(MUL, self._data * other._data, self, other, None)

    def __rmul__(self, other: Scalar) -> Value:
        o = _lift_or_none(other)
        return NotImplemented if o is None else o * self

    def __truediv__(self, other: Scalar) -> Value:
        other = _lift_or_none(other)
        if other is None:
            return NotImplemented
        return Value._apply(DIV, (self, other))

    def __rtruediv__(self, other: Scalar) -> Value:
        o = _lift_or_none(other)
        return NotImplemented if o is None else o / self

    def __neg__(self) -> Value:
        return _node(NEG, NEG.forward(self._data), self, None, None)

    def __pos__(self) -> Value:
        return self

    def __abs__(self) -> Value:
        return _node(ABS, ABS.forward(self._data), self, None, None)

    def __pow__(self, other: Scalar) -> Value:
        if isinstance(other, Value):
            return Value._apply(POW, (self, other))
        if type(other) is float:
            n = other
        elif type(other) is int:
            try:
                n = float(other)
            except OverflowError:
                raise _too_large(other, "**") from None
        else:
            try:
                n = _as_float(other, "**")
            except TypeError:
                return NotImplemented
        x = self._data
        if x <= 0.0:  # only a zero or negative base can leave the domain
            _check_power("**", x, n)
        return _node(POW_CONST, _pow_forward("**", x, n), self, None, n)

    def __rpow__(self, other: Scalar) -> Value:
        o = _lift_or_none(other)
        return NotImplemented if o is None else Value._apply(POW, (o, self))

    # Comparisons look at data and return bool, so `if x > 0:` reads naturally.
    # Equality stays identity, because Values are used as dictionary keys and set members.
    def __lt__(self, other: Scalar) -> bool:
        if _observers:
            _observed("__lt__")
        return self._data < _data_of(other, "<")

    def __le__(self, other: Scalar) -> bool:
        if _observers:
            _observed("__le__")
        return self._data <= _data_of(other, "<=")

    def __gt__(self, other: Scalar) -> bool:
        if _observers:
            _observed("__gt__")
        return self._data > _data_of(other, ">")

    def __ge__(self, other: Scalar) -> bool:
        if _observers:
            _observed("__ge__")
        return self._data >= _data_of(other, ">=")

    __hash__ = object.__hash__

    def __float__(self) -> float:
        if _observers:
            _observed("__float__")
        return self._data

    def __format__(self, spec: str) -> str:
        """``f"{v:.4f}"`` formats the number as a float would; ``f"{v}"`` is the repr."""
        if _observers:
            _observed("__format__")
        return format(self._data, spec) if spec else _repr(self)

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        """NumPy's functions on Values: ``np.tanh(v)`` is ``v.tanh()``, ``np.float64(2) * v``
        is ``2 * v``.  A ufunc with no operation in `OPS` is refused with one line naming
        the `autograd` functions to use; an array operand gives an object array of Values.
        """
        if any(isinstance(x, np.ndarray) for x in inputs):
            # Element by element over the array, each element through the line below.
            boxed = [np.array(x, dtype=object) if isinstance(x, Value) else x
                     for x in inputs]
            return getattr(ufunc, method)(*boxed, **kwargs)
        op = _ufunc_operations().get(ufunc)
        if op is None or method != "__call__" or kwargs:
            what = _ufunc_name(ufunc) + ("" if method == "__call__" else f".{method}")
            raise TypeError(
                f"{what} on a Value: NumPy has no rule for it; use the autograd function "
                f"(autograd.exp, autograd.tanh, ...: the table is autograd.OPS) or the "
                f"Value's method, so that the gradient is recorded")
        # NumPy scalars become floats: their own operators would call this method again.
        return op(*[_as_float(x, _ufunc_name(ufunc)) if isinstance(x, np.generic) else x
                    for x in inputs])

    def detach(self) -> Value:
        """A new leaf with the same data, cut off from the graph."""
        if _observers:
            _observed("detach")
        return Value(self._data, self.label)

    # -- gradients ---------------------------------------------------------------------
    def backward(self, gradient: Number = 1.0) -> None:
        """Backpropagate d self / d node into every node's ``.grad``.

        Leaves (Values with no parents, such as parameters) *accumulate* into ``.grad``
        across calls, as in PyTorch: call ``zero_grad()`` (or set ``.grad = 0``) between
        steps.  Interior nodes hold the gradient of the latest backward pass only.
        The walk is `backprop_walk` over `topological_order` (reversed); it never
        recurses, so graphs of any depth work.
        """
        seed = _as_float(gradient, "backward")
        order = topological_order(self, leaves=False)  # leaves send no gradient on
        for node in order:
            node._grad = 0.0
        try:
            self._grad += seed
            # The chain rule: each parent gets upstream x local, unrolled by the slots
            # that hold the parents (see `Value.parents`): this loop runs once per node.
            for node, upstream, locals_ in backprop_walk(order):
                arity = node._fn.arity
                if arity == 2:
                    local_a, local_b = locals_
                    node._a._grad += upstream * local_a
                    node._b._grad += upstream * local_b
                elif arity == 1:
                    node._a._grad += upstream * locals_[0]
                elif isinstance(locals_, _LocalsView):  # sum, dot: a loop fitted to the rule
                    locals_.add_into_parents(upstream)
                else:
                    for parent, local in zip(node._a, locals_):
                        parent._grad += upstream * local
        except TypeError:
            # `data` and `grad` are plain slots, so ``p.grad = None`` (PyTorch's habit)
            # is stored as it is; say which Value holds what, instead of NoneType + float.
            culprit = _holding_a_non_number(self, order)
            if culprit is None:
                raise
            raise TypeError(culprit) from None

    def zero_grad(self) -> None:
        self._grad = 0.0


# `data` and `grad` are the slots _data and _grad under their public names: member
# descriptors of the class, read and written as fast as any slot.
Value.data = Value.__dict__["_data"]  # type: ignore[assignment]
Value.grad = Value.__dict__["_grad"]  # type: ignore[assignment]


def _reported_slot(name: str, doc: str) -> property:
    """A property over the slot ``_<name>`` that tells the observers of each read."""
    slot = Value.__dict__["_" + name]
    what = "." + name

    def read(v: Value) -> Any:
        if _observers:
            _observed(what)
        return slot.__get__(v, Value)

    return property(read, slot.__set__, doc=doc)


class _ObservedValue(Value):
    """A Value whose public ``data`` and ``grad`` tell the observers when code reads them.

    While an `observe_reads` block is open, every node the engine builds is one of these,
    and so are the Values the block was asked to watch.  Same slots, same behaviour;
    only a read of ``.data`` or ``.grad`` by name is reported.  The engine itself reads
    ``_data`` and ``_grad`` and is never reported.
    """

    __slots__ = ()

    data = _reported_slot("data", "The number this Value holds (a read is reported).")
    grad = _reported_slot("grad", "d root / d self after a backward pass (a read is reported).")


def _holding_a_non_number(root: Value, order: Sequence[Value]) -> str | None:
    """The message for the first Value of the graph whose data or grad is not a float."""
    for v in (root, *order, *(p for node in order for p in node.parents)):
        for name in ("data", "grad"):
            held = getattr(v, "_" + name)
            if not isinstance(held, numbers.Real):
                what = v.label or (f"a {v.op!r} node" if v.op else "a leaf")
                return (f"backward: {what} holds {name} = {held!r:.60} "
                        f"({type(held).__name__}), not a number; set it to a float "
                        f"(p.grad = 0.0 clears a gradient)")
    return None


def _repr(v: Value) -> str:
    label = f", label={v.label!r}" if v.label else ""
    op = f", op={v.op!r}" if v._fn is not None else ""
    return f"Value(data={v._data!r}, grad={v._grad!r}{label}{op})"


_new = object.__new__


def _node(op: Op | None, data: float, a: Any, b: Any, param: Any) -> Value:
    """Build a Value: the one place that fills a new node's slots.

    `data` is the forward result, already computed; `a` and `b` are one or two parents
    (or `a` a tuple of them for an n-ary `op`); `op` None makes a leaf.  Inside a
    `no_grad` block the node is a leaf, inside a `scope` it is tagged.  Outside any
    block (`_open_blocks == 0`) neither the thread-local state nor a branch more is
    read: this is the engine's hot path, run once per recorded operation.
    """
    out = _new(Value)
    out._data = data
    out._grad = 0.0
    out._label = ""
    if _open_blocks:
        state = _state
        out.scope = state.scope
        if not state.enabled:  # no_grad: the result is a leaf
            op = a = b = param = None
        if _observers:  # a tracer is watching: its reads of .data must be seen
            out.__class__ = _ObservedValue
    else:
        out.scope = ""
    out._fn = op
    out._a = a
    out._b = b
    out._param = param
    return out


def _constant(data: float) -> Value:
    """A leaf for a plain number operand (the 2 in x * 2), built without checks."""
    return _node(None, data, None, None, None)


# --------------------------------------------------------------------------------------
# Walking the graph: the topological order, and the chain rule one edge at a time.
# --------------------------------------------------------------------------------------

def topological_order(root: Value, *, leaves: bool = True) -> list[Value]:
    """All Values that `root` depends on (root included), parents before children.

    With ``leaves=False`` only the nodes that have an operation are listed (all that
    backpropagation visits).  The order is the post-order of a depth-first search from
    the root that visits parents in argument order, so it depends only on the graph's
    shape and is the same on every run.  It runs with an explicit stack instead of
    recursion, so a chain of a million operations needs no deep Python stack.
    """
    if not isinstance(root, Value):
        raise TypeError(f"topological_order: expected a Value, got {type(root).__name__}")
    if root._fn is None:
        return [root] if leaves else []
    order: list[Value] = []
    visited = {root}  # Values hash by identity
    # The stack is two flat lists: the nodes on the current path and, for each, where to
    # go on among its parents.  Parents are read from the slots (see `Value.parents`).
    # A node with one or two parents (`_a`, `_b`) goes on at a small integer, the
    # position of the next parent: nothing is allocated for it, so a path a million
    # nodes deep gives the garbage collector nothing new to scan.  An n-ary node (`dot`,
    # `sum`: its parents are the tuple `_a`) goes on with one iterator over that tuple,
    # made at its first visit: a plain `for` passes over a neuron's leaf parents (or the
    # 675 of an L2 penalty) at a third of the cost of indexing them one by one, and
    # resuming the same iterator after each interior parent keeps a sum of n interior
    # nodes O(n).  Either way the loop looks for the next parent not yet visited that
    # has parents of its own, listing the leaves it passes (a leaf is complete as soon
    # as it is seen).  The two loops make that test in the same lines, written twice: a
    # function call per parent would cost more than the loop itself, and the same loops
    # joined through a shared "found" variable made the random-graph benchmark's first
    # runs 10-15% slower (benchmarks/run.py, 10,000 nodes).  A `dot` node of one list of
    # leaves with itself (p . p) says so in its note (see _SQUARES_OF_LEAVES): asked for
    # interior nodes only, the walk has nothing to look at under it (the 675 parents of
    # an L2 penalty), and asked for the leaves too, it passes over the first p_1..p_n and
    # b only, as every p is visited by the time the loop would reach the second ones.
    path = [root]
    go_on: list[Any] = [0]
    while path:
        node = path[-1]
        arity = node._fn.arity
        if arity >= 0:
            i = go_on[-1]
            while i < arity:
                parent = node._b if i else node._a
                i += 1
                if parent._fn is None:
                    if leaves and parent not in visited:
                        visited.add(parent)
                        order.append(parent)
                    continue
                if parent in visited:
                    continue
                visited.add(parent)
                go_on[-1] = i
                path.append(parent)
                go_on.append(0)
                break
            else:
                path.pop()
                go_on.pop()
                order.append(node)
            continue
        parents = go_on[-1]
        if parents.__class__ is int:  # the node's first visit
            if node._b is None:  # no note from `dot` (see _SQUARES_OF_LEAVES)
                parents = go_on[-1] = iter(node._a)
            elif not leaves:  # parents p_1..p_n, p_1..p_n, b, all leaves: none to visit
                parents = go_on[-1] = iter(_EMPTY)
            else:  # the second p_1..p_n are the first again
                a = node._a
                parents = go_on[-1] = iter(a[:len(a) // 2] + a[-1:])
        for parent in parents:
            if parent._fn is None:
                if leaves and parent not in visited:
                    visited.add(parent)
                    order.append(parent)
                continue
            if parent in visited:
                continue
            visited.add(parent)
            path.append(parent)
            go_on.append(0)
            break
        else:
            path.pop()
            go_on.pop()
            order.append(node)
    return order


Edge = tuple[Value, Value, int, Any, Any]
"""One step of the chain rule: (child, parent, position, upstream, local)."""


def local_derivatives(node: Value, as_values: bool = False) -> Sequence[Any]:
    """d node / d parent for each parent of `node`, in argument order.

    The operation's derivative rule evaluated on the parents' numbers (floats), or with
    ``as_values=True`` on the parents themselves, so that the result is a Value whose
    graph can be differentiated again (``grad(..., create_graph=True)``).
    """
    fn = node._fn
    if fn is None:
        return _EMPTY
    if fn is CLOSURE:
        return _closure_slopes(node, as_values)
    if as_values:
        if _observers:
            _observed("grad(create_graph=True)")
        args: list[Any] = list(node.parents)
        out: Any = node
    else:
        args = [p._data for p in node.parents]
        out = node._data
    if fn.has_param:
        return fn.derivative(*args, out, node._param)
    return fn.derivative(*args, out)


def _closure_slopes(node: Value, as_values: bool) -> tuple[float, ...]:
    """The local derivatives of a node whose step is a user's ``_backward`` function.

    The function adds ``out.grad * d out / d parent`` into each parent's ``.grad``; run
    once with ``out.grad = 1`` on parents whose ``.grad`` is 0 it leaves exactly the
    local derivatives there.  Every ``.grad`` it touches is put back afterwards.
    """
    step: _ClosureStep = node._param
    parents: tuple[Value, ...] = node._a
    if as_values:
        raise TypeError(
            f"grad(create_graph=True): the node {step.name or '(no _op)'!r} was built with a "
            "_backward function, which gives numbers, not a rule to differentiate again; "
            "define the operation with autograd.primitive for higher derivatives")
    if step.step is None:  # micrograd's default _backward does nothing
        return (0.0,) * len(parents)
    saved = [p._grad for p in parents]
    saved_out = node._grad
    try:
        for p in parents:
            p._grad = 0.0
        node._grad = 1.0
        step.step()
        return tuple(float(p._grad) for p in parents)
    finally:
        for p, g in zip(parents, saved):
            p._grad = g
        node._grad = saved_out


def backprop_walk(order: Sequence[Value], grads: dict[Value, Any] | None = None, *,
                  as_values: bool = False, tolerant: bool = False
                  ) -> Iterator[tuple[Value, Any, Sequence[Any]]]:
    """Backpropagation as a walk, one node at a time: the engine's only such walk.

    `order` is a `topological_order`; the walk goes through it in reverse, so a node is
    reached only after every Value that uses it.  For each node with an operation it
    yields ``(node, upstream, locals)``: ``upstream`` is d root / d node and ``locals``
    holds d node / d parent for each of ``node.parents``, in order (the operation's
    derivative rule, see `local_derivatives`; for `sum` and `dot`, a sequence that
    computes them when first read, see `_LocalsView`).  The chain rule is then the
    consumer's part: add ``upstream * locals[k]`` into parent k's gradient.

    A node's upstream gradient is read when the walk reaches it: from ``grads[node]``
    when a dictionary is given (nodes missing from it are passed over), else from
    ``node.grad``.  So a consumer that adds each node's contributions before asking for
    the next node backpropagates.  `Value.backward` consumes this walk directly;
    `chain_rule` gives the same walk one edge at a time, for `grad`, the drawings and
    the step-through page.  With ``as_values=True`` the local derivatives are Values
    (for ``create_graph``); with ``tolerant=True`` a derivative rule that raises gives
    its node's locals as None instead of ending the walk (a drawing still shows the rest).
    """
    if as_values or tolerant:
        yield from _general_walk(order, grads, as_values, tolerant)
        return
    # The rules are called here directly with the parents' numbers, unrolled by arity:
    # going through `local_derivatives` would cost a tuple and a call per node.
    fn: Op | None
    for node in reversed(order):
        fn = node._fn
        if fn is None:
            continue
        upstream = node._grad if grads is None else grads.get(node)
        if upstream is None:  # (only with `grads`) no gradient reaches this node
            continue
        arity = fn.arity
        if arity == 2:
            yield node, upstream, fn.derivative(node._a._data, node._b._data, node._data)
        elif arity == 1:
            if fn.has_param:
                yield node, upstream, fn.derivative(node._a._data, node._data, node._param)
            else:
                yield node, upstream, fn.derivative(node._a._data, node._data)
        elif fn.locals_view is not None:  # sum, dot: see `_LocalsView`
            yield node, upstream, fn.locals_view(node)
        elif fn is CLOSURE:
            yield node, upstream, _closure_slopes(node, False)
        else:
            args = [p._data for p in node._a]
            if fn.has_param:
                yield node, upstream, fn.derivative(*args, node._data, node._param)
            else:
                yield node, upstream, fn.derivative(*args, node._data)


def _general_walk(order: Sequence[Value], grads: dict[Value, Any] | None, as_values: bool,
                  tolerant: bool) -> Iterator[tuple[Value, Any, Sequence[Any]]]:
    """`backprop_walk` for local derivatives as Values, or tolerant of failing rules."""
    for node in reversed(order):
        if node._fn is None:
            continue
        upstream = node._grad if grads is None else grads.get(node)
        if upstream is None:
            continue
        try:
            locals_ = local_derivatives(node, as_values)
        except Exception:
            if not tolerant:
                raise
            locals_ = (None,) * len(node.parents)
        yield node, upstream, locals_


def chain_rule(order: Sequence[Value], grads: dict[Value, Any] | None = None, *,
               as_values: bool = False, tolerant: bool = False) -> Iterator[Edge]:
    """The chain rule, one edge at a time: `backprop_walk` edge by edge.

    Yields ``(child, parent, position, upstream, local)`` for every edge, children in
    reverse topological order and each child's parents in argument order: ``upstream``
    is d root / d child and ``local`` is d child / d parent.  The chain rule is the
    consumer's one line::

        contribution = upstream * local      # d root / d parent along this edge
        # d root / d parent is the sum of the contributions of every edge out of parent

    Upstream gradients are read as `backprop_walk` reads them (from `grads`, else from
    ``.grad``, when the walk reaches the child), so a consumer that adds each
    contribution before asking for the next edge backpropagates.
    """
    for node, upstream, locals_ in backprop_walk(order, grads, as_values=as_values,
                                                 tolerant=tolerant):
        for k, (parent, local) in enumerate(zip(node.parents, locals_)):
            yield node, parent, k, upstream, local


def _lift_or_none(x: object) -> Value | None:
    if isinstance(x, Value):
        return x
    if type(x) is float:
        return _constant(x)
    if type(x) is int:
        try:
            return _constant(float(x))
        except OverflowError:
            raise _too_large(x, "Value") from None
    try:
        return Value(x)  # type: ignore[arg-type]
    except TypeError:
        return None


def lift(x: Scalar) -> Value:
    """Return `x` if it is a Value, else a new leaf Value holding it."""
    return x if isinstance(x, Value) else Value(x)


def _lift_all(values: Iterable[Scalar]) -> tuple[Value, ...]:
    """`lift` over a sequence; a sequence of Values only (a layer's weights and inputs,
    the common case) is checked by type in C and kept as it is."""
    items = tuple(values)
    # countOf compares each type with Value by identity first: no set to build.
    if operator.countOf(map(type, items), Value) == len(items):
        return items
    return tuple([lift(v) for v in items])


def _data_of(x: object, where: str) -> float:
    return x._data if isinstance(x, Value) else _as_float(x, where)


# --------------------------------------------------------------------------------------
# Functions and Value methods, built from the table.  Each record that names a function
# gets one in this module (and so in `autograd`): numbers in -> float out, any Value in
# -> a recorded Value.  Each record that names a method gets it on `Value`.
# --------------------------------------------------------------------------------------

def _unary_method(op: Op) -> Callable[[Value], Value]:
    """x.tanh(): the forward rule (after the domain check, if any), then record.

    The fast path of the engine: no argument handling, and the try costs nothing unless
    the forward rule raises (math.sin(inf)), when it becomes a `DomainError`."""
    forward = op.forward
    check = op.check

    def method(self: Value) -> Value:
        x = self._data
        if check is not None:
            check(x)
        try:
            data = forward(x)
        except DomainError:
            raise
        except (ArithmeticError, ValueError) as exc:
            raise _forward_failed(op, (x,), exc) from exc
        return _node(op, data, self, None, None)

    return method


def _param_method(op: Op) -> Callable[..., Value]:
    """x.leaky_relu(0.1), x.leaky_relu(alpha=0.1) or x.leaky_relu(): as `_unary_method`,
    with the constant."""
    forward = op.forward
    check = op.check

    def method(self: Value, *given: Any, **named: Any) -> Value:
        if named or len(given) != 1:
            param = _param_of(op, given, named)
        else:
            param = given[0]
            if type(param) is not float:
                param = _as_float(param, op.name)
        x = self._data
        if check is not None:
            check(x, param)
        try:
            data = forward(x, param)
        except DomainError:
            raise
        except (ArithmeticError, ValueError) as exc:
            raise _forward_failed(op, (x, param), exc) from exc
        return _node(op, data, self, None, param)

    method.__signature__ = _param_signature(op, "self")  # type: ignore[attr-defined]
    return method


def _param_of(op: Op, given: tuple, named: dict) -> float:
    """The constant from ``f(x, 0.2)``, ``f(x, alpha=0.2)`` or ``f(x)`` (its default)."""
    if named:
        if set(named) != {op.param_name} or given:
            bad = next(iter(set(named) - {op.param_name}), op.param_name)
            raise TypeError(f"{op.name}: unexpected or repeated argument {bad!r}")
        value = named[op.param_name]
    elif len(given) == 1:
        value = given[0]
    elif not given and op.param_default is not None:
        value = op.param_default
    else:
        raise TypeError(f"{op.name}: takes one constant ({op.param_name}), "
                        f"got {len(given)}")
    return _as_float(value, op.name)


def _param_signature(op: Op, first: str) -> inspect.Signature:
    """The signature help() shows for ``leaky_relu(x, alpha=0.01)``."""
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    default = inspect.Parameter.empty if op.param_default is None else op.param_default
    return inspect.Signature([inspect.Parameter(first, kind),
                              inspect.Parameter(op.param_name, kind, default=default)])


def _method(op: Op) -> Callable[..., Value]:
    """The Value method a record names: ``x.tanh()``, ``x.leaky_relu(alpha)``, ``a.f(b)``."""
    if op.arity == 1:
        method = _param_method(op) if op.has_param else _unary_method(op)
    else:
        def method(self: Value, *others: Any) -> Value:
            return op(self, *others)
    method.__name__ = op.method
    method.__qualname__ = f"Value.{op.method}"
    method.__doc__ = f"{op.written} ({op.formula})."
    return method


def _function(op: Op) -> Callable[..., Any]:
    """The module-level function a record names: ``autograd.tanh(x)`` for a number or a
    Value, ``autograd.maximum(a, b)``, and a user primitive's function."""
    if op.arity == 1 and not op.has_param:
        fast = _unary_method(op)
        forward = op.forward
        check = op.check

        def function(x: Any) -> Any:
            if isinstance(x, Value):
                return fast(x)
            if type(x) is not float:
                x = _as_float(x, op.name)
            if check is not None:
                check(x)
            try:
                return forward(x)
            except DomainError:
                raise
            except (ArithmeticError, ValueError) as exc:
                raise _forward_failed(op, (x,), exc) from exc
    elif op.arity == 1:
        with_param = _param_method(op)

        def function(x: Any, *given: Any, **named: Any) -> Any:
            if isinstance(x, Value):
                return with_param(x, *given, **named)
            return _run_forward(op, (_as_float(x, op.name), _param_of(op, given, named)))
        function.__signature__ = _param_signature(op, "x")  # type: ignore[attr-defined]
    else:
        def function(*args: Any) -> Any:
            return op(*args)
    function.__name__ = function.__qualname__ = op.function or op.name
    function.__doc__ = f"{op.written} for numbers or Values ({op.formula})."
    return function


# NumPy's ufuncs for Python's operators apply the operator itself, so np.power(v, 2)
# records `**` as v ** 2 does; every other ufunc is the operation whose function has its
# name in NumPy (np.tanh for "tanh", np.atan for "atan", ...), found in the records.
_OPERATOR_UFUNCS: dict[Any, Callable[..., Any]] = {
    np.add: operator.add, np.subtract: operator.sub, np.multiply: operator.mul,
    np.true_divide: operator.truediv, np.power: operator.pow, np.negative: operator.neg,
    np.positive: operator.pos}


def _ufunc_name(ufunc: Any) -> str:
    return f"np.{ufunc.__name__}"


def _ufunc_operations() -> dict[Any, Callable[..., Any]]:
    """What each NumPy ufunc does to Values: an operator, or an operation of `OPS`."""
    found: dict[Any, Callable[..., Any]] = dict(_OPERATOR_UFUNCS)
    for op in OPS.values():
        ufunc = getattr(np, op.function, None) if op.function else None
        if isinstance(ufunc, np.ufunc) and ufunc.nin == op.arity and not op.has_param:
            found.setdefault(ufunc, op)
    return found


def _generate() -> dict[str, Callable[..., Any]]:
    """Give `Value` the methods the records name and return the functions they name.

    Run once, when this module is imported, right after the table and the class: the
    class is built from its table here, as a class body would, never changed later."""
    functions: dict[str, Callable[..., Any]] = {}
    for op in OPS.values():
        if op.method:
            setattr(Value, op.method, _method(op))
        if op.function:
            functions[op.function] = _function(op)
    return functions


# One function per operation of the table (exp, log, ..., absolute, maximum, ...).
_FUNCTIONS: dict[str, Callable[..., Any]] = _generate()
globals().update(_FUNCTIONS)
__all__ += list(_FUNCTIONS)


def register_operation(op: Op) -> Callable[..., Any]:
    """Add a record made at run time to `OPS` and return its function.

    From then on the operation is recorded in graphs, differentiated (to any order, if
    its derivative rule is written with arithmetic and `autograd`'s functions), compiled
    with its ``batch`` rule, sampled by `autograd.gradcheck.check_operation`, callable in
    expressions under its ``function`` name, drawn and listed by `autograd.catalog`.
    The function takes numbers (gives a float) or Values (gives a Value).  Built-in
    records are registered in this module instead, where the import also builds their
    `Value` method: a class is not changed once it is built.
    """
    if not isinstance(op, Op):
        raise TypeError(f"register_operation: expected an autograd.Op, got {type(op).__name__}")
    if op.method:
        raise ValueError(f"register_operation: {op.name!r} names a Value method "
                         f"({op.method!r}); only the built-in records get one")
    if op.name in OPS:
        raise ValueError(f"register_operation: an operation named {op.name!r} already exists")
    OPS[op.name] = op
    return _function(op)


def sum_values(values: Iterable[Scalar]) -> Value:
    """The sum of many Values as one n-ary node (d/dx_i = 1): one node, not n - 1."""
    items = _lift_all(values)
    if not items:
        raise ValueError("sum_values: needs at least one value, got none")
    return Value._apply(SUM, items)


def _squares_of_leaves(ps: list[Any] | tuple[Any, ...], bias: Scalar) -> Value | None:
    """dot(ps, ps, bias) if every p is a leaf of class Value and the bias a number or a
    leaf, with its note (see _SQUARES_OF_LEAVES); else None, and `dot` goes its usual way.

    This is p . p of a model's parameters (nn.l2_penalty).  One pass over the list makes
    the products and checks both what `_lift_all` would (Values only: nothing to lift)
    and what the note needs (leaves only): 337 parameters in ~1.4 us less than the two
    passes, so that noting costs the build nothing.
    """
    try:
        squares = [v._data * v._data for v in ps if type(v) is Value and v._fn is None]
        if len(squares) != len(ps):
            return None
        b = lift(bias)
        data: Any = _dot_of(squares, b._data) if b._fn is None else None
    except (ArithmeticError, ValueError):  # `dot` meets them again and says what failed
        return None
    if type(data) is not float:
        return None
    return _node(DOT, data, (*ps, *ps, b), _SQUARES_OF_LEAVES, None)


def dot(weights: Sequence[Scalar], inputs: Sequence[Scalar], bias: Scalar = 0.0) -> Value:
    """w . x + b as a single node, as a neuron computes its weighted input.

    Parents are w_1..w_n, x_1..x_n, b in that order.  One node instead of 2n keeps
    drawings of networks readable and the graph small.
    """
    # p . p (nn.l2_penalty) passes one list twice: read it once (an iterator passed twice
    # is read once, as before, and leaves no inputs); parameters take the shorter way.
    same = inputs is weights and isinstance(weights, (list, tuple))
    if same:
        node = _squares_of_leaves(weights, bias)
        if node is not None:
            return node
    w = _lift_all(weights)
    x = w if same else _lift_all(inputs)
    if len(w) != len(x):
        raise ValueError(f"dot: {len(w)} weights but {len(x)} inputs")
    b = lift(bias)
    # The forward rule (`_dot_of`, as `_dot_forward`) on products read straight from the
    # Values, instead of `Value._apply`'s tuple of 2n + 1 numbers, unpacked into the rule
    # and sliced again there.
    try:
        products = ([v._data * v._data for v in w] if x is w
                    else [v._data * u._data for v, u in zip(w, x)])
        data: Any = _dot_of(products, b._data)
    except (ArithmeticError, ValueError):  # math.fsum's overflow or inf - inf
        data = None
    if type(data) is not float:
        # `Value._apply` says what failed, naming the operands (or converts a NumPy
        # number someone stored in .data), as for every other operation.
        return Value._apply(DOT, (*w, *x, b))
    return _node(DOT, data, (*w, *x, b), None, None)


# --------------------------------------------------------------------------------------
# User-defined primitives.
# --------------------------------------------------------------------------------------

def primitive(derivative: Callable[..., Any], *, name: str | None = None,
              formula: str = "", replace: bool = False
              ) -> Callable[[Callable[..., float]], Callable[..., Any]]:
    """Turn a float function into a graph operation with a known derivative.

    ``derivative(*inputs, out)`` returns d out / d input (one value, or a tuple with one
    per input).  Write it with arithmetic and `autograd`'s functions (`autograd.cos`,
    ...) and it also works for higher-order derivatives::

        @primitive(derivative=lambda x, out: 3 * x ** 2)
        def cube(x):
            return x ** 3

    The decorated function accepts numbers (returns a float) or Values (returns a Value
    drawn under the function's name).  Every parameter of the function is an input of
    the operation, passed by position or by keyword, defaults filled in; keyword-only
    parameters and ``**kwargs`` are refused when the primitive is defined.

    A name is taken once.  The same definition made again (a notebook cell run twice:
    the same function name in the same module) replaces the first; ``replace=True``
    replaces any earlier primitive of that name.  Built-in operations are never
    replaced.  Values recorded before keep the rule they were made with.
    """

    def decorate(func: Callable[..., float]) -> Callable[..., Any]:
        op_name = name or func.__name__
        signature = _input_signature(func, op_name)

        def local_derivatives(*args: Any) -> tuple:
            result = derivative(*args)
            result = tuple(result) if isinstance(result, (tuple, list)) else (result,)
            if len(result) != len(args) - 1:
                raise ValueError(f"{op_name}: derivative returned {len(result)} values for "
                                 f"{len(args) - 1} inputs")
            return result

        op = Op(op_name, func, local_derivatives, formula or "user-defined", -1,
                function=op_name)
        earlier = _user_primitives.get(op_name)
        if earlier is not None and (replace or earlier == _definition(func)):
            OPS[op_name] = op
        elif replace and op_name in OPS:
            raise ValueError(f"primitive: {op_name!r} is a built-in operation; choose "
                             "another name")
        else:
            _register(op)
        _user_primitives[op_name] = _definition(func)
        positional = signature is not None and all(
            p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
            for p in signature.parameters.values())
        count = len(signature.parameters) if positional and signature is not None else -1

        def apply(*args: Scalar, **kwargs: Scalar) -> Any:
            if signature is not None and (kwargs or (count >= 0 and len(args) != count)):
                try:
                    bound = signature.bind(*args, **kwargs)
                except TypeError as exc:
                    raise TypeError(f"{op_name}: {exc}") from None
                bound.apply_defaults()
                args = bound.args
            elif kwargs:
                raise TypeError(f"{op_name}: takes its inputs by position only")
            if any(isinstance(a, Value) for a in args):
                return Value._apply(op, tuple(lift(a) for a in args))
            return float(func(*[_as_float(a, op_name) for a in args]))

        apply.__name__ = op_name
        apply.__doc__ = func.__doc__
        apply.op = op  # type: ignore[attr-defined]
        return apply

    return decorate


# The primitives defined so far: name -> (module, qualified name) of their function.
_user_primitives: dict[str, tuple[str, str]] = {}


def _definition(func: Callable[..., Any]) -> tuple[str, str]:
    """What identifies a definition across re-runs of its code: module and name."""
    return (getattr(func, "__module__", None) or "",
            getattr(func, "__qualname__", None) or repr(func))


def _input_signature(func: Callable[..., Any], op_name: str) -> inspect.Signature | None:
    """The function's signature, checked: every parameter must be able to be an input."""
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):  # some built-ins have none: positional calls only
        return None
    for p in signature.parameters.values():
        if p.kind in (p.KEYWORD_ONLY, p.VAR_KEYWORD):
            raise TypeError(
                f"primitive {op_name}: parameter {p.name!r} is keyword-only; every parameter "
                "of a primitive is an input of the operation, so it must be able to be "
                "passed by position")
    return signature
