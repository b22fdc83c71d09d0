"""The engine: a scalar `Value` that records every operation into a graph.

Each operation is an `Op` in one table, `OPS`: its forward rule on floats and its
local derivatives, side by side.  A derivative rule is written with ordinary
arithmetic and the dispatching functions of this module (`exp`, `log`, `cos`, ...),
so the same rule runs on floats during `backward()` and on `Value`s when
`grad(..., create_graph=True)` builds a graph of the derivative itself.

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
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, Union

__all__ = [
    "Value", "Op", "OPS", "DomainError", "primitive", "no_grad", "enable_grad",
    "is_grad_enabled", "scope", "current_scope", "lift", "observe_reads",
    "topological_order", "chain_rule", "local_derivatives", "Edge",
    "exp", "log", "sqrt", "tanh", "sigmoid", "relu", "leaky_relu", "softplus",
    "sin", "cos", "absolute", "dot",
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
def observe_reads(callback: Callable[[str, FrameType], None]) -> Iterator[None]:
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

    Observers see looks made by every thread; blocks may nest and overlap.  The callback
    must not itself look at Values.  This is how `autograd.compile` decides whether a
    traced function's graph can depend on the data; nothing on `Value` is replaced.
    """
    with _observers_lock:
        _observers.append(callback)
    try:
        yield
    finally:
        with _observers_lock:
            _observers.remove(callback)


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
# The operation table.
# --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Op:
    """One primitive operation: its forward rule and its local derivatives.

    ``forward(*inputs[, param])`` works on floats and returns a float.
    ``derivative(*inputs, out[, param])`` returns one local derivative d out / d input
    per input; it must only use arithmetic and this module's functions, so that it works
    both on floats and on Values (for higher-order derivatives).
    ``check(*inputs[, param])`` raises `DomainError` before anything is recorded.
    """

    name: str
    forward: Callable[..., float]
    derivative: Callable[..., Sequence[Any]]
    formula: str = ""
    arity: int = 1  # 1 or 2 inputs, or -1 for any number (kept as one tuple)
    has_param: bool = False
    check: Callable[..., None] | None = field(default=None, compare=False)
    method: str = ""  # how to call it on a Value, for the docs and the expression parser

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


def _fail(opname: str, message: str) -> DomainError:
    return DomainError(f"{opname}: {message}")


def _fmt(x: float) -> str:
    return repr(x)


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


_EXP_MAX = math.log(sys.float_info.max)  # exp of anything larger overflows a float


def _check_exp(x: float) -> None:
    if x > _EXP_MAX:
        raise _fail("exp", f"result overflows a float: exp({_fmt(x)})")


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


def _step(x: Any) -> float:
    """1.0 where x > 0, else 0.0 (relu's slope; a constant, so its derivative is zero)."""
    return 1.0 if _data(x) > 0.0 else 0.0


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


def _dot_forward(*args: float) -> float:
    n = (len(args) - 1) // 2
    return math.fsum(args[i] * args[n + i] for i in range(n)) + args[-1]


def _dot_derivative(*args: Any) -> tuple:
    # args = w_1..w_n, x_1..x_n, b, out:  d/dw_i = x_i,  d/dx_i = w_i,  d/db = 1
    n = (len(args) - 2) // 2
    return (*args[n:2 * n], *args[:n], 1.0)


ADD = _register(Op("+", lambda a, b: a + b, lambda a, b, out: (1.0, 1.0),
                   "d/da = 1, d/db = 1", 2, method="a + b"))
SUB = _register(Op("-", lambda a, b: a - b, lambda a, b, out: (1.0, -1.0),
                   "d/da = 1, d/db = -1", 2, method="a - b"))
MUL = _register(Op("*", lambda a, b: a * b, lambda a, b, out: (b, a),
                   "d/da = b, d/db = a", 2, method="a * b"))
DIV = _register(Op("/", lambda a, b: a / b, lambda a, b, out: (1.0 / b, -out / b),
                   "d/da = 1/b, d/db = -a/b^2", 2, check=_check_div, method="a / b"))
NEG = _register(Op("neg", lambda x: -x, lambda x, out: (-1.0,),
                   "d/dx = -1", method="-x"))
POW_CONST = _register(Op("**", lambda x, n: _pow_forward("**", x, n),
                         lambda x, out, n: (_power_slope(x, n),),
                         "d/dx = n x^(n-1)   (n a number)", has_param=True,
                         check=_check_pow_const, method="x ** n"))
POW = _register(Op("pow", lambda a, b: _pow_forward("pow", a, b),
                   lambda a, b, out: (_pow_base_slope(a, b), _log_base_slope(a, out)),
                   "d/da = b a^(b-1), d/db = a^b log(a)", 2, check=_check_pow,
                   method="a ** b"))
EXP = _register(Op("exp", _exp_forward, lambda x, out: (out,), "d/dx = exp(x)",
                   check=_check_exp, method="x.exp()"))
LOG = _register(Op("log", math.log, lambda x, out: (1.0 / x,), "d/dx = 1/x",
                   check=_check_log, method="x.log()"))
SQRT = _register(Op("sqrt", math.sqrt, lambda x, out: (_sqrt_slope(out),),
                    "d/dx = 1 / (2 sqrt(x))", check=_check_sqrt, method="x.sqrt()"))
TANH = _register(Op("tanh", math.tanh, lambda x, out: (1.0 - out * out,),
                    "d/dx = 1 - tanh(x)^2", method="x.tanh()"))
SIGMOID = _register(Op("sigmoid", _sigmoid_forward, lambda x, out: (out * (1.0 - out),),
                       "d/dx = s(x) (1 - s(x))", method="x.sigmoid()"))
RELU = _register(Op("relu", lambda x: x if x > 0.0 else 0.0, lambda x, out: (_step(x),),
                    "d/dx = 1 if x > 0 else 0", method="x.relu()"))
LEAKY_RELU = _register(Op("leaky_relu", lambda x, alpha: x if x > 0.0 else alpha * x,
                          lambda x, out, alpha: (1.0 if _data(x) > 0.0 else alpha,),
                          "d/dx = 1 if x > 0 else alpha", has_param=True,
                          method="x.leaky_relu(alpha)"))
SOFTPLUS = _register(Op("softplus", _softplus_forward, lambda x, out: (sigmoid(x),),
                        "d/dx = sigmoid(x)", method="x.softplus()"))
SIN = _register(Op("sin", math.sin, lambda x, out: (cos(x),), "d/dx = cos(x)",
                   method="x.sin()"))
COS = _register(Op("cos", math.cos, lambda x, out: (-sin(x),), "d/dx = -sin(x)",
                   method="x.cos()"))
ABS = _register(Op("abs", abs, lambda x, out: (1.0 if _data(x) > 0.0 else
                                               (-1.0 if _data(x) < 0.0 else 0.0),),
                   "d/dx = sign(x)  (0 at x = 0)", method="abs(x)"))
SUM = _register(Op("sum", lambda *xs: math.fsum(xs), lambda *args: (1.0,) * (len(args) - 1),
                   "d/dx_i = 1", -1, method="autograd.sum_values(xs)"))
DOT = _register(Op("dot", _dot_forward, _dot_derivative,
                   "w.x + b:  d/dw_i = x_i, d/dx_i = w_i, d/db = 1", -1,
                   method="autograd.dot(w, x, b)"))



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
    # the gradient live in _data and _grad: the engine reads those slots directly, and
    # everyone else goes through the `data` and `grad` properties, where an observer
    # (see `observe_reads`) can learn that code looked at a number.
    __slots__ = ("_data", "_grad", "label", "_fn", "_a", "_b", "_param", "scope")
    # NumPy's binary operators defer to ours, so `np.float64(2) * v` is a Value.
    __array_ufunc__ = None

    _data: float
    _grad: float
    label: str
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
        self.label = label
        self._fn: Op | None = None
        self._a: Any = None
        self._b: Any = None
        self._param: Any = None
        self.scope = _state.scope if _open_blocks else ""
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
        if not parents or not (_state.enabled if _open_blocks else True):
            return  # nothing to depend on (or no_grad): a leaf, as micrograd's would act
        self._fn = CLOSURE
        self._a = tuple(parents)
        self._param = _ClosureStep(name, step)

    @property
    def data(self) -> float:
        """The number this Value holds (the result of its forward computation)."""
        if _observers:
            _observed(".data")
        return self._data

    @data.setter
    def data(self, value: float) -> None:
        self._data = value

    @property
    def grad(self) -> float:
        """d root / d self after ``root.backward()`` (0.0 before any backward pass)."""
        if _observers:
            _observed(".grad")
        return self._grad

    @grad.setter
    def grad(self, value: float) -> None:
        self._grad = value

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
        if op.has_param:
            args += (param,)
        if op.check is not None:
            op.check(*args)
        try:
            data = op.forward(*args)
        except DomainError:
            raise
        except (ArithmeticError, ValueError) as exc:  # math.log(-1), user functions, ...
            operands = ", ".join(_fmt(a) for a in args)
            raise _fail(op.name, f"{exc} for {op.name}({operands})") from exc
        if type(data) is not float:
            if isinstance(data, complex):  # a Value never silently holds a complex number
                raise _fail(op.name, f"complex result for inputs {args!r}")
            data = _as_float(data, op.name)
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

    # -- functions -------------------------------------------------------------------
    # Operations that cannot fail skip `_apply`'s checks: forward rule, then record.
    def exp(self) -> Value:
        return _node(EXP, EXP.forward(self._data), self, None, None)

    def log(self) -> Value:
        return Value._apply(LOG, (self,))

    def sqrt(self) -> Value:
        return Value._apply(SQRT, (self,))

    def tanh(self) -> Value:
        return _node(TANH, TANH.forward(self._data), self, None, None)

    def sigmoid(self) -> Value:
        return _node(SIGMOID, SIGMOID.forward(self._data), self, None, None)

    def relu(self) -> Value:
        return _node(RELU, RELU.forward(self._data), self, None, None)

    def leaky_relu(self, alpha: float = 0.01) -> Value:
        return Value._apply(LEAKY_RELU, (self,), _as_float(alpha, "leaky_relu"))

    def softplus(self) -> Value:
        return _node(SOFTPLUS, SOFTPLUS.forward(self._data), self, None, None)

    def sin(self) -> Value:
        return _node(SIN, SIN.forward(self._data), self, None, None)

    def cos(self) -> Value:
        return _node(COS, COS.forward(self._data), self, None, None)

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
        The walk is `chain_rule` over `topological_order` (reversed); it never recurses,
        so graphs of any depth work.
        """
        seed = _as_float(gradient, "backward")
        order = topological_order(self, leaves=False)  # leaves send no gradient on
        for node in order:
            node._grad = 0.0
        self._grad += seed
        for _child, parent, _k, upstream, local in chain_rule(order):
            parent._grad += upstream * local

    def zero_grad(self) -> None:
        self._grad = 0.0


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
    out.label = ""
    if _open_blocks:
        state = _state
        out.scope = state.scope
        if not state.enabled:  # no_grad: the result is a leaf
            op = a = b = param = None
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
    emit = order.append
    # A node's state: absent (not seen), _ENTERED (its parents are being visited) or
    # _DONE (emitted).  The stack holds nodes only: a node popped while _ENTERED has had
    # all its parents emitted, since they were pushed above it; a node popped while
    # _DONE was pushed again by another child and is passed over.  Parents are pushed
    # in reverse so that the first argument is visited first.  Nothing is allocated per
    # node but the two container entries, so a deep graph gives the garbage collector
    # nothing new to scan.
    state: dict[Value, bool] = {}  # Values hash by identity
    seen = state.get
    stack = [root]
    push = stack.append
    pop = stack.pop
    while stack:
        node = pop()
        entered = seen(node)
        if entered is not None:
            if entered:  # all of its parents are in `order`
                state[node] = _DONE
                emit(node)
            continue
        fn = node._fn
        if fn is None:  # a leaf is complete as soon as it is reached
            state[node] = _DONE
            if leaves:
                emit(node)
            continue
        state[node] = _ENTERED
        push(node)
        arity = fn.arity  # parents in _a and _b, or (arity -1) a tuple in _a
        if arity == 2:
            push(node._b)
            push(node._a)
        elif arity == 1:
            push(node._a)
        else:
            stack.extend(reversed(node._a))
    return order


_ENTERED = True
_DONE = False


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


def chain_rule(order: Sequence[Value], grads: dict[Value, Any] | None = None, *,
               as_values: bool = False, tolerant: bool = False) -> Iterator[Edge]:
    """The chain rule, one edge at a time: backpropagation as a walk.

    `order` is a `topological_order`; the walk goes through it in reverse, so a node is
    reached only after every Value that uses it.  For each node with an operation it
    yields, parent by parent in argument order, the edge
    ``(child, parent, position, upstream, local)``, where ``upstream`` is d root / d child
    and ``local`` is d child / d parent, the operation's derivative rule.  The chain rule
    is then the consumer's one line::

        contribution = upstream * local          # d root / d parent along this edge
        d root / d parent = sum of its contributions over every edge out of parent

    A node's upstream gradient is read when the walk reaches it: from ``grads[node]``
    when a dictionary is given (nodes missing from it are passed over), else from
    ``node.grad``.  So a consumer that adds each contribution before asking for the next
    edge backpropagates: `Value.backward` adds into ``.grad``, `autograd.grad` into a
    dictionary, and the step-through page records each addition.  With
    ``as_values=True`` the local derivatives are Values (for ``create_graph``).  With
    ``tolerant=True`` a derivative rule that raises gives its node's edges the local
    derivative None instead of ending the walk (a drawing still shows the rest).
    """
    if as_values or tolerant:
        yield from _general_chain_rule(order, grads, as_values, tolerant)
        return
    # Binary and unary nodes, nearly every node of a real graph, are unrolled here: the
    # general path (`local_derivatives`) costs a list and a zip per node.
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
            a = node._a
            b = node._b
            local_a, local_b = fn.derivative(a._data, b._data, node._data)
            yield node, a, 0, upstream, local_a
            yield node, b, 1, upstream, local_b
        elif arity == 1:
            x = node._a
            if fn.has_param:
                (local,) = fn.derivative(x._data, node._data, node._param)
            else:
                (local,) = fn.derivative(x._data, node._data)
            yield node, x, 0, upstream, local
        else:
            for k, (parent, local) in enumerate(zip(node._a, local_derivatives(node))):
                yield node, parent, k, upstream, local


def _general_chain_rule(order: Sequence[Value], grads: dict[Value, Any] | None,
                        as_values: bool, tolerant: bool) -> Iterator[Edge]:
    """`chain_rule` for local derivatives as Values, or tolerant of failing rules."""
    for node in reversed(order):
        if node._fn is None:
            continue
        upstream = node._grad if grads is None else grads.get(node)
        if upstream is None:
            continue
        parents = node.parents
        try:
            locals_ = local_derivatives(node, as_values)
        except Exception:
            if not tolerant:
                raise
            locals_ = (None,) * len(parents)
        for k, (parent, local) in enumerate(zip(parents, locals_)):
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
    if {*map(type, items)} <= {Value}:
        return items
    return tuple([lift(v) for v in items])


def _data_of(x: object, where: str) -> float:
    return x._data if isinstance(x, Value) else _as_float(x, where)


# --------------------------------------------------------------------------------------
# Functions that work on numbers and on Values alike.  Derivative rules use these, so a
# rule evaluates to a float in `backward()` and to a Value under create_graph=True.
# --------------------------------------------------------------------------------------

def _dispatch(method: str, op: Op) -> Callable[[Any], Any]:
    def function(x: Any) -> Any:
        if isinstance(x, Value):
            return getattr(x, method)()
        value = _as_float(x, op.name)
        if op.check is not None:
            op.check(value)
        return op.forward(value)

    function.__name__ = method
    function.__doc__ = f"{op.name}(x) for a number or a Value ({op.formula})."
    return function


exp = _dispatch("exp", EXP)
log = _dispatch("log", LOG)
sqrt = _dispatch("sqrt", SQRT)
tanh = _dispatch("tanh", TANH)
sigmoid = _dispatch("sigmoid", SIGMOID)
relu = _dispatch("relu", RELU)
softplus = _dispatch("softplus", SOFTPLUS)
sin = _dispatch("sin", SIN)
cos = _dispatch("cos", COS)


def absolute(x: Any) -> Any:
    """|x| for a number or a Value (d/dx = sign(x), 0 at 0)."""
    return abs(x)


def leaky_relu(x: Any, alpha: float = 0.01) -> Any:
    """x if x > 0 else alpha * x, for a number or a Value."""
    if isinstance(x, Value):
        return x.leaky_relu(alpha)
    x = _as_float(x, "leaky_relu")
    return x if x > 0.0 else alpha * x


def sum_values(values: Iterable[Scalar]) -> Value:
    """The sum of many Values as one n-ary node (d/dx_i = 1): one node, not n - 1."""
    items = tuple(lift(v) for v in values)
    if not items:
        raise ValueError("sum_values: needs at least one value, got none")
    return Value._apply(SUM, items)


def dot(weights: Sequence[Scalar], inputs: Sequence[Scalar], bias: Scalar = 0.0) -> Value:
    """w . x + b as a single node, as a neuron computes its weighted input.

    Parents are w_1..w_n, x_1..x_n, b in that order.  One node instead of 2n keeps
    drawings of networks readable and the graph small.
    """
    w = _lift_all(weights)
    x = _lift_all(inputs)
    if len(w) != len(x):
        raise ValueError(f"dot: {len(w)} weights but {len(x)} inputs")
    return Value._apply(DOT, (*w, *x, lift(bias)))


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
                method=f"{op_name}(x)")
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
