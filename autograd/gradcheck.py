"""Gradient checking: the engine's derivatives against central finite differences.

For a scalar function f of inputs x_0..x_{n-1}, the central difference

    (f(x + h e_i) - f(x - h e_i)) / 2h  =  df/dx_i + O(h^2)

estimates each partial derivative from two evaluations of f, without using any
derivative rule.  `gradcheck` compares it with what the engine's backward pass says
and passes only if, for every input,

    |analytic - numeric| <= atol + rtol * |numeric|.

With ``order=2`` it also checks every second derivative d^2 f / dx_i dx_j, computed
by differentiating the graph of the first derivative (``grad(..., create_graph=True)``),
against central differences of the engine's first derivative.

Kinks.  Where f is not differentiable (relu or abs at 0) the central difference is
not a derivative at all, so a disagreement there says nothing about the engine.
Such points are recognised from the numbers alone: the one-sided differences

    left  = (f(x) - f(x - h)) / h,        right = (f(x + h) - f(x)) / h

disagree by more than the tolerance, and that gap does not shrink in proportion to h
as it would on a smooth curve (where right - left ~ f''(x) h).  A kink row passes when
the engine's derivative lies between the one-sided slopes (a valid one-sided value or
subgradient, as relu's 0 at 0 is); any other value there is still a failure.

When a check fails, the graph of f is searched for the culprit: every node's local
derivative rule is compared with central differences of that operation's forward rule,
and the operations that disagree are named in the error.
"""

from __future__ import annotations

import inspect
import math
import numbers
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from .engine import CLOSURE, OPS, DomainError, Op, Sampler, Value, observe_reads
from .graph import grad, topological_order

__all__ = [
    "central_difference", "gradcheck", "gradcheck_rows", "GradcheckError", "GradcheckRow",
    "Suspect", "local_derivative_suspects", "OperationReport", "check_operation",
    "sample_points",
]

# How much the one-sided gap must fail to shrink (ratio at h/4 versus h) to count as a
# kink: on a smooth curve the gap at h/4 is a quarter of the gap at h.
_KINK_SHRINK_TOLERANCE = 0.1


# --------------------------------------------------------------------------------------
# Rows, errors
# --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class GradcheckRow:
    """One compared derivative.

    ``index`` is ``(i,)`` for d f / d x_i and ``(i, j)`` for d^2 f / dx_i dx_j.
    ``status`` is 'ok', 'kink' (not differentiable there, the engine's value lies between
    the one-sided slopes) or 'FAIL'.  ``left`` and ``right`` are the one-sided differences.
    """

    order: int
    index: tuple[int, ...]
    analytic: float
    numeric: float
    error: float
    tolerance: float
    status: str
    left: float
    right: float

    @property
    def failed(self) -> bool:
        return self.status == "FAIL"

    @property
    def name(self) -> str:
        """'d/dx0' or 'd2/dx0 dx1': which derivative this row compares."""
        if self.order == 1:
            return f"d/dx{self.index[0]}"
        i, j = self.index
        return f"d2/dx{i} dx{j}"


@dataclass(frozen=True)
class Suspect:
    """An operation whose local derivative rule disagrees with its forward rule."""

    op: str
    order: int  # 1: the derivative itself is wrong; 2: its derivative (rule not differentiable)
    inputs: tuple[float, ...]
    position: tuple[int, ...]
    analytic: float
    numeric: float

    def describe(self) -> str:
        args = ", ".join(f"{x:.6g}" for x in self.inputs)
        if self.order == 1:
            what = f"d out/d input{self.position[0]}"
        else:
            what = f"d2 out/d input{self.position[0]} d input{self.position[1]}"
        return (f"operation {self.op!r} at inputs ({args}): {what} is {self.analytic:.10g} "
                f"by its derivative rule, {self.numeric:.10g} by central differences of its "
                f"forward rule")


class GradcheckError(AssertionError):
    """Analytic and numeric derivatives disagree.

    ``rows`` holds every compared derivative (`GradcheckRow`), ``failures`` the rows that
    failed, ``suspects`` the operations in f's graph whose derivative rule is wrong.
    """

    def __init__(self, message: str, rows: Sequence[GradcheckRow],
                 suspects: Sequence[Suspect] = ()) -> None:
        super().__init__(message)
        self.rows = list(rows)
        self.failures = [r for r in self.rows if r.failed]
        self.suspects = list(suspects)


def format_table(rows: Sequence[GradcheckRow]) -> str:
    """The rows as an aligned text table: derivative, analytic, numeric, error, status."""
    header = (f"{'derivative':<14} {'analytic':>22} {'numeric':>22} {'error':>10} "
              f"{'tolerance':>10}  status")
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(f"{r.name:<14} {r.analytic:>22.15g} {r.numeric:>22.15g} "
                     f"{r.error:>10.3g} {r.tolerance:>10.3g}  {r.status}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------
# Input checking
# --------------------------------------------------------------------------------------

def _function_name(f: Callable[..., Any]) -> str:
    return getattr(f, "__name__", None) or type(f).__name__


def _check_input_count(f: Callable[..., Any], point: Sequence[float], where: str) -> None:
    """Raise one line naming f and both counts when f cannot take one Value per input.

    Python's own error ('f() missing 1 required positional argument') names neither the
    check that called f nor how many inputs it was given.  A callable whose signature
    cannot be read (some builtins) is called as it is, and answers for itself.
    """
    try:
        params = list(inspect.signature(f).parameters.values())
    except (TypeError, ValueError):
        return
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = sum(p.default is p.empty for p in positional)
    variadic = any(p.kind is p.VAR_POSITIONAL for p in params)
    count = len(point)
    if required <= count and (variadic or count <= len(positional)):
        return
    if variadic:
        takes = f"at least {required}"
    elif required == len(positional):
        takes = f"{required}"
    else:
        takes = f"{required} to {len(positional)}"
    plural = "" if takes == "1" else "s"
    shown = ", ".join(str(p.replace(annotation=p.empty)) for p in params
                      if p.kind is not p.KEYWORD_ONLY and p.kind is not p.VAR_KEYWORD)
    given = ", ".join(repr(x) for x in point)
    raise TypeError(f"{where}: {_function_name(f)} takes {takes} input{plural} ({shown}), "
                    f"got {count} ({given})")


def _point(inputs: Any, where: str) -> list[float]:
    """The inputs as a list of finite floats (Values give their data)."""
    if isinstance(inputs, (numbers.Real, Value)):
        inputs = [inputs]
    if isinstance(inputs, (str, bytes)):
        raise TypeError(f"{where}: inputs must be a sequence of numbers, got {inputs!r:.40}")
    try:
        items = list(inputs)
    except TypeError:
        raise TypeError(f"{where}: inputs must be a sequence of numbers, "
                        f"got {type(inputs).__name__}") from None
    point = []
    for k, x in enumerate(items):
        if isinstance(x, Value):
            x = x.data
        if isinstance(x, bool) or not isinstance(x, (numbers.Real, np.floating, np.integer)):
            raise TypeError(f"{where}: input {k} must be a real number, "
                            f"got {type(x).__name__} {x!r:.40}")
        value = float(x)
        if not math.isfinite(value):
            raise ValueError(f"{where}: input {k} must be finite, got {value!r}")
        point.append(value)
    if not point:
        raise ValueError(f"{where}: needs at least one input, got none")
    return point


def _positive(name: str, value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating)):
        raise TypeError(f"{where}: {name} must be a number, got {type(value).__name__}")
    value = float(value)
    if not (value > 0.0 and math.isfinite(value)):
        raise ValueError(f"{where}: {name} must be positive and finite, got {value!r}")
    return value


def _non_negative(name: str, value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating)):
        raise TypeError(f"{where}: {name} must be a number, got {type(value).__name__}")
    value = float(value)
    if not (value >= 0.0 and math.isfinite(value)):
        raise ValueError(f"{where}: {name} must be >= 0 and finite, got {value!r}")
    return value


def _evaluate(f: Callable[..., Any], point: Sequence[float], where: str) -> float:
    """f at `point` as a float64 (f gets fresh leaf Values; plain numbers are accepted)."""
    try:
        y = f(*[Value(x) for x in point])
    except DomainError as err:
        coords = ", ".join(repr(x) for x in point)
        raise DomainError(f"{where}: {_function_name(f)} is not defined at ({coords}), "
                          f"too close to the edge of its domain for this eps: {err}") from err
    if isinstance(y, Value):
        return float(y.data)
    if isinstance(y, (numbers.Real, np.floating)) and not isinstance(y, bool):
        return float(y)
    raise TypeError(f"{where}: {_function_name(f)} must return a Value or a number, "
                    f"got {type(y).__name__}")


# --------------------------------------------------------------------------------------
# Finite differences
# --------------------------------------------------------------------------------------

def _shifted(point: Sequence[float], i: int, delta: np.float64) -> tuple[list[float], float]:
    """The point with coordinate i moved by delta, and the float64 it actually landed on."""
    moved = list(point)
    moved[i] = float(np.float64(point[i]) + delta)
    return moved, moved[i]


class _Differences(NamedTuple):
    """Finite differences of one function along one coordinate, at steps h and h/4."""

    central: float
    left: float
    right: float
    central4: float
    left4: float
    right4: float


def _differences(g: Callable[[list[float]], float], point: Sequence[float], i: int,
                 eps: float) -> _Differences:
    """Central, left and right differences of g along coordinate i at steps eps and
    eps / 4 (the second set tells kinks and jumps from smooth curvature).  All the
    arithmetic is float64, and each quotient divides by the step really taken."""
    x_mid = np.float64(point[i])
    g_mid = np.float64(g(list(point)))
    out = []
    for h in (np.float64(eps), np.float64(eps) / np.float64(4.0)):
        plus, x_plus = _shifted(point, i, h)
        minus, x_minus = _shifted(point, i, -h)
        g_plus, g_minus = np.float64(g(plus)), np.float64(g(minus))
        out += [(g_plus - g_minus) / (np.float64(x_plus) - np.float64(x_minus)),
                (g_mid - g_minus) / (x_mid - np.float64(x_minus)),
                (g_plus - g_mid) / (np.float64(x_plus) - x_mid)]
    return _Differences(*(float(v) for v in out))


def central_difference(f: Callable[..., Any], inputs: Sequence[Any], i: int,
                       eps: float = 1e-6) -> float:
    """The numeric partial derivative d f / d x_i by central differences in float64.

    ``(f(x + eps e_i) - f(x - eps e_i)) / (2 eps)``, whose error is O(eps^2) for smooth f
    (plus rounding of order 1e-16 |f| / eps).  `f` takes one Value per input and returns
    a Value (or a number); `inputs` are the numbers to differentiate at.
    """
    where = "central_difference"
    point = _point(inputs, where)
    if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
        raise TypeError(f"{where}: i must be an integer index, got {type(i).__name__}")
    if not 0 <= i < len(point):
        raise IndexError(f"{where}: i = {i} is out of range for {len(point)} inputs")
    h = np.float64(_positive("eps", eps, where))
    _check_input_count(f, point, where)
    plus, x_plus = _shifted(point, int(i), h)
    minus, x_minus = _shifted(point, int(i), -h)
    f_plus = np.float64(_evaluate(f, plus, where))
    f_minus = np.float64(_evaluate(f, minus, where))
    return float((f_plus - f_minus) / (np.float64(x_plus) - np.float64(x_minus)))


def _row(order: int, index: tuple[int, ...], analytic: float, d: _Differences,
         atol: float, rtol: float) -> GradcheckRow:
    """Compare one analytic derivative with its finite differences and classify it."""
    error = abs(analytic - d.central)
    tolerance = atol + rtol * abs(d.central)
    passes = error <= tolerance  # False when anything is NaN
    slopes = (d.left, d.right, d.left4, d.right4)
    slope_tolerance = atol + rtol * max(abs(d.left), abs(d.right))
    # A jump: one-sided differences grow like 1/h instead of settling (sign(x) at 0).
    jump = (max(abs(d.left4), abs(d.right4))
            > 2.0 * max(abs(d.left), abs(d.right)) + slope_tolerance)
    # A kink: the one-sided slopes differ and their gap does not shrink in proportion
    # to h as it would on a smooth curve (gap4 = gap / 4); or the central differences
    # at h and h/4 disagree, which happens when a kink lies just beside the point.
    gap, gap4 = d.right - d.left, d.right4 - d.left4
    kink = ((abs(gap) > slope_tolerance
             and abs(gap4 - gap / 4.0) > _KINK_SHRINK_TOLERANCE * abs(gap) + slope_tolerance)
            or not abs(d.central - d.central4) <= tolerance)
    if jump:
        status = "kink"  # no derivative exists here, so there is nothing to compare
    elif kink:
        # The engine's value must still be a one-sided slope or lie between them.
        low, high = min(slopes) - slope_tolerance, max(slopes) + slope_tolerance
        status = "kink" if low <= analytic <= high else "FAIL"
    else:
        status = "ok" if passes else "FAIL"
    return GradcheckRow(order, index, float(analytic), d.central, float(error),
                        float(tolerance), status, d.left, d.right)


def gradcheck_rows(f: Callable[..., Any], inputs: Sequence[Any], eps: float = 1e-6,
                   atol: float = 1e-5, rtol: float = 1e-3, order: int = 1
                   ) -> list[GradcheckRow]:
    """Every compared derivative of f at `inputs`, as rows (see `gradcheck`)."""
    where = "gradcheck"
    point = _point(inputs, where)
    eps = _positive("eps", eps, where)
    atol = _non_negative("atol", atol, where)
    rtol = _non_negative("rtol", rtol, where)
    if order not in (1, 2):
        raise ValueError(f"{where}: order must be 1 or 2, got {order!r}")
    name = _function_name(f)
    _check_input_count(f, point, where)

    xs = [Value(x) for x in point]
    y = f(*xs)
    if not isinstance(y, Value):
        raise TypeError(f"{where}: {name} must return a Value, got {type(y).__name__}")
    first = grad(y, xs, create_graph=order == 2)
    analytic = [float(g.data) if isinstance(g, Value) else float(g) for g in first]

    value_at = lambda p: _evaluate(f, p, where)
    rows = [_row(1, (i,), analytic[i], _differences(value_at, point, i, eps), atol, rtol)
            for i in range(len(point))]
    if order == 2:
        for i, g in enumerate(first):
            second = grad(g, xs) if isinstance(g, Value) else [0.0] * len(xs)
            slope_i = lambda p, i=i: _first_derivative(f, p, i, where)
            for j in range(len(point)):
                rows.append(_row(2, (i, j), float(second[j]),
                                 _differences(slope_i, point, j, eps), atol, rtol))
    return rows


def _first_derivative(f: Callable[..., Any], point: Sequence[float], i: int,
                      where: str) -> float:
    """The engine's d f / d x_i at `point` (a float)."""
    xs = [Value(x) for x in point]
    try:
        y = f(*xs)
    except DomainError as err:
        raise DomainError(f"{where}: {_function_name(f)} is not defined at {tuple(point)}: "
                          f"{err}") from err
    return float(grad(y, xs[i]))


def gradcheck(f: Callable[..., Any], inputs: Sequence[Any], eps: float = 1e-6,
              atol: float = 1e-5, rtol: float = 1e-3, order: int = 1,
              raise_exception: bool = True) -> bool:
    """Check the engine's derivatives of f at `inputs` against central differences.

    `f` takes one Value per input and returns a Value.  Passes when every derivative
    satisfies ``|analytic - numeric| <= atol + rtol * |numeric|`` (with ``order=2`` every
    second derivative too), or sits at a kink with the engine's value between the
    one-sided slopes.  Returns True when it passes; otherwise raises `GradcheckError`
    (its message is the table of every derivative and names the operations whose
    derivative rule is wrong) or, with ``raise_exception=False``, returns False.
    """
    rows = gradcheck_rows(f, inputs, eps=eps, atol=atol, rtol=rtol, order=order)
    failures = [r for r in rows if r.failed]
    if not failures:
        return True
    if not raise_exception:
        return False
    point = _point(inputs, "gradcheck")
    suspects = local_derivative_suspects(f, point, eps=eps, atol=atol, rtol=rtol,
                                         order=order)
    coords = ", ".join(f"{x!r}" for x in point)
    lines = [f"gradcheck: {_function_name(f)} at ({coords}): {len(failures)} of {len(rows)} "
             f"derivatives disagree with central differences (eps={eps!r}, atol={atol!r}, "
             f"rtol={rtol!r})", format_table(rows)]
    if suspects:
        lines.append("Operations whose derivative rule disagrees with their forward rule:")
        lines.extend(f"  {s.describe()}" for s in suspects)
    elif "__float__" in _looks_at_numbers(f, point):
        lines.append("No single operation's local derivative is wrong at this point, but f "
                     "turned a Value into a plain float (float(v), or a math function such as "
                     "math.exp(v)), and no gradient flows through a float: use the Value's "
                     "own operation instead (v.exp(), autograd.exp(v) or np.exp(v)).")
    else:
        lines.append("No single operation's local derivative is wrong at this point; look at "
                     "how f combines them (for example a branch on .data).")
    raise GradcheckError("\n".join(lines), rows, suspects)


def _looks_at_numbers(f: Callable[..., Any], point: Sequence[float]) -> set[str]:
    """How f looks at its Values' numbers when run once at `point` (see `observe_reads`).

    ``math.exp(v)`` is the lecture's classic slip: math converts `v` with ``float(v)``
    and returns a plain number, so the graph loses that path without any error.
    """
    seen: set[str] = set()
    xs = [Value(x) for x in point]
    with observe_reads(lambda what, frame: seen.add(what)):
        f(*xs)
    return seen


# --------------------------------------------------------------------------------------
# Finding the operation at fault
# --------------------------------------------------------------------------------------

def _op_call(op: Op, args: Sequence[Any], param: Any) -> Any:
    return op.forward(*args, param) if op.has_param else op.forward(*args)


def _op_slopes(op: Op, args: Sequence[Any], out: Any, param: Any) -> Sequence[Any]:
    return op.derivative(*args, out, param) if op.has_param else op.derivative(*args, out)


def _op_first_rows(op: Op, args: list[float], param: Any, eps: float, atol: float,
                   rtol: float) -> list[GradcheckRow]:
    """Rows comparing op's derivative rule with central differences of its forward rule."""
    out = _op_call(op, args, param)
    slopes = [float(s) for s in _op_slopes(op, args, out, param)]
    forward = lambda p: float(_op_call(op, p, param))
    return [_row(1, (k,), slopes[k], _differences(forward, args, k, eps), atol, rtol)
            for k in range(len(args))]


def _op_second_rows(op: Op, args: list[float], param: Any, eps: float, atol: float,
                    rtol: float) -> list[GradcheckRow]:
    """Rows comparing the derivative of op's derivative rule (on Values) with central
    differences of the rule on floats: catches rules that are right but not differentiable
    (say, written with math.cos instead of autograd.cos)."""
    values = [Value(a) for a in args]
    out = Value._apply(op, tuple(values), param)
    slopes = _op_slopes(op, values, out, param)
    rows = []
    for k, slope in enumerate(slopes):
        second = grad(slope, values) if isinstance(slope, Value) else [0.0] * len(args)

        def slope_k(p: list[float], k: int = k) -> float:
            return float(_op_slopes(op, p, _op_call(op, p, param), param)[k])

        rows.extend(_row(2, (k, m), float(second[m]), _differences(slope_k, args, m, eps),
                         atol, rtol) for m in range(len(args)))
    return rows


def local_derivative_suspects(f: Callable[..., Any], inputs: Sequence[Any],
                              eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
                              order: int = 1) -> list[Suspect]:
    """The operations in f's graph at `inputs` whose derivative rule is wrong there.

    Each node's local derivatives are checked against central differences of its own
    forward rule at the node's input values (second derivatives too with ``order=2``).
    Each operation is reported once, at the first node where it fails.
    """
    point = _point(inputs, "gradcheck")
    _check_input_count(f, point, "gradcheck")
    y = f(*[Value(x) for x in point])
    if not isinstance(y, Value):
        return []
    found: dict[str, Suspect] = {}
    for node in topological_order(y):
        op = node._fn
        if op is None or op is CLOSURE or op.name in found:
            continue  # a node built with a _backward function has no rule to check alone
        args = [p.data for p in node.parents]
        try:
            rows = _op_first_rows(op, args, node._param, eps, atol, rtol)
            if order == 2 and not any(r.failed for r in rows):
                rows += _op_second_rows(op, args, node._param, eps, atol, rtol)
        except (ArithmeticError, ValueError):
            continue  # the op is undefined next to this point: no verdict here
        bad = next((r for r in rows if r.failed), None)
        if bad is not None:
            found[op.name] = Suspect(op.name, bad.order, tuple(args), bad.index,
                                     bad.analytic, bad.numeric)
    return list(found.values())


# --------------------------------------------------------------------------------------
# Checking every operation of the table
# --------------------------------------------------------------------------------------

# Points where a built-in operation is not differentiable (read from the records'
# ``kinks``): they must come out as kinks.
KINKS: dict[str, list[tuple[list[float], Any]]] = {
    op.name: [(list(inputs), param) for inputs, param in op.kinks]
    for op in OPS.values() if op.kinks
}


def _generic_point(op: Op) -> Sampler | None:
    """For operations without a listed domain (user primitives): numbers in [-2, 2]."""
    if op.has_param:
        return None  # the meaning of the constant is unknown
    try:
        parameters = inspect.signature(op.forward).parameters.values()
    except (TypeError, ValueError):
        return None
    positional = [p for p in parameters
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if any(p.kind == p.VAR_POSITIONAL for p in parameters) or not positional:
        return None
    count = len(positional)
    return lambda r: ([r.uniform(-2.0, 2.0) for _ in range(count)], None)


def sample_points(op: Op, count: int, seed: int = 0) -> list[tuple[list[float], Any]]:
    """`count` points (inputs, constant) inside op's domain, reproducible for a seed.

    Operations whose record has a sampler use it (plus the record's kinks); others are
    sampled from [-2, 2], keeping only points where the forward rule is defined.
    """
    rng = random.Random(f"{seed}:{op.name}")
    sampler = op.sample or _generic_point(op)
    if sampler is None:
        return []
    points: list[tuple[list[float], Any]] = []
    attempts = 0
    while len(points) < count and attempts < 20 * count:
        attempts += 1
        args, param = sampler(rng)
        try:
            if op.check is not None:
                op.check(*args, param) if op.has_param else op.check(*args)
            value = _op_call(op, args, param)
        except (ArithmeticError, ValueError, TypeError):
            continue
        if isinstance(value, (numbers.Real, np.floating)) and math.isfinite(float(value)):
            points.append((args, param))
    return points + [(list(a), p) for a, p in op.kinks]


@dataclass
class OperationReport:
    """The result of checking one operation of the table at many points."""

    op: str
    points: int = 0
    max_error_first: float = 0.0
    max_error_second: float = 0.0
    kinks: int = 0
    failures: list[tuple[tuple[float, ...], Any, GradcheckRow]] = field(default_factory=list)
    note: str = ""

    @property
    def status(self) -> str:
        if self.failures:
            return "FAIL"
        if self.points == 0:
            return "skipped"
        return "ok"


def check_operation(op: Op | str, points: int = 25, order: int = 2, seed: int = 0,
                    eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3
                    ) -> OperationReport:
    """Gradcheck one operation of `OPS` at `points` sampled points (first and, with
    ``order=2``, second derivatives through the engine's higher-order graph)."""
    if isinstance(op, str):
        if op not in OPS:
            raise KeyError(f"check_operation: no operation named {op!r} in autograd.OPS")
        op = OPS[op]
    report = OperationReport(op.name)
    samples = sample_points(op, points, seed)
    if not samples:
        report.note = "no points: its inputs or constant cannot be sampled"
        return report
    for args, param in samples:
        def f(*xs: Value, op: Op = op, param: Any = param) -> Value:
            return Value._apply(op, xs, param)

        rows = gradcheck_rows(f, args, eps=eps, atol=atol, rtol=rtol, order=order)
        report.points += 1
        for r in rows:
            if r.status == "kink":
                report.kinks += 1
            elif r.order == 1:
                report.max_error_first = max(report.max_error_first, r.error)
            else:
                report.max_error_second = max(report.max_error_second, r.error)
            if r.failed:
                report.failures.append((tuple(args), param, r))
    return report
