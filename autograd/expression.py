"""Scalar expressions from text, such as ``"tanh(x*w + b)"``, turned into a graph of Values.

The text is parsed with Python's `ast` module and the tree is walked against a short
whitelist; nothing is ever evaluated as Python.  What is allowed:

* numbers (``2``, ``0.5``, ``1e-3``) and variable names (``x``, ``w1``);
* the operators ``+ - * / **``, unary minus (and unary plus) and parentheses;
* calls of the engine's functions, read from `autograd.OPS` (each record's
  ``expression_name`` or ``function``): ``exp log sqrt tanh sigmoid relu softplus sin
  cos atan abs`` with one argument, ``maximum(a, b)`` and ``minimum(a, b)``,
  ``leaky_relu(x)`` or ``leaky_relu(x, alpha)`` with a number ``alpha``, and any
  operation registered with `autograd.primitive` or `autograd.register_operation`.

Everything else (attribute access, subscripts, imports, keywords, comparisons, strings,
unknown functions, ...) raises `ExpressionError`, whose message names the offending
part, quotes it and gives its column (counted from 1), all on one line.

>>> expr = parse("tanh(x*w + b)")
>>> expr.variables
('x', 'w', 'b')
>>> y = expr.evaluate({"x": 0.5, "w": -1.2, "b": 0.3})
>>> round(y.data, 6)
-0.291313
"""

from __future__ import annotations

import ast
import math
import operator
import re
import sys
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Union

from .engine import OPS, DomainError, Op, Value, no_grad

__all__ = ["Expression", "ExpressionError", "parse", "evaluate", "functions"]

Operand = Union[float, Value]

# Longest expression we accept; far beyond anything typed by hand, and a bound on the work.
MAX_LENGTH = 10_000


class ExpressionError(ValueError):
    """The text is not an expression we accept, or cannot be evaluated.

    ``column`` is where the offending part starts (1 = first character; 0 when the
    problem concerns the whole expression) and
    ``fragment`` is that part of the text.  ``variable`` names the variable when the
    problem is its value (missing, unused or not a number).  ``str(error)`` is one line.
    """

    def __init__(self, message: str, text: str, column: int, fragment: str = "",
                 variable: str | None = None) -> None:
        self.message = message
        self.text = text
        self.column = column
        self.fragment = fragment
        self.variable = variable
        super().__init__(self._render())

    def _render(self) -> str:
        if self.column < 1:  # about the whole expression, not a part of it
            return f"{self.message} in {_quote(_shorten(self.text))}"
        where = f"at column {self.column}"
        if self.fragment:
            where = f"{_quote(self.fragment)} {where}"
        return f"{self.message}: {where} of {_quote(_shorten(self.text))}"


def _quote(text: str) -> str:
    """Quote with double quotes, or single ones when the text holds a double quote.

    Unprintable characters (a newline, say) are escaped so the message stays one line.
    """
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    if '"' not in text:
        return f'"{text}"'
    if "'" not in text:
        return f"'{text}'"
    return '"' + text.replace('"', '\\"') + '"'


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------------------
# The functions an expression may call.
# --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Function:
    """How to apply one callable name: its argument counts and the call itself."""

    name: str
    min_args: int
    max_args: int  # -1: any number
    apply: Callable[..., Operand]
    constants_from: int = -1  # arguments from this position on must be numbers (alpha)


def _caller(op: Op) -> _Function:
    """The expression function of a record: its inputs, then its constant if it has one
    (which may be left out when the record gives a default)."""
    inputs = 1 if op.arity < 0 else op.arity

    def apply(*args: Operand) -> Operand:
        count = len(args) if op.arity < 0 else inputs
        values = tuple(_as_value(a) for a in args[:count])
        param = None
        if op.has_param:
            param = float(args[count]) if len(args) > count else op.param_default
        return Value._apply(op, values, param)

    name = op.expression_name or op.function
    if op.arity < 0:
        return _Function(name, 1, -1, apply)
    if not op.has_param:
        return _Function(name, inputs, inputs, apply)
    least = inputs if op.param_default is not None else inputs + 1
    return _Function(name, least, inputs + 1, apply, constants_from=inputs)


def _as_value(x: Operand) -> Value:
    return x if isinstance(x, Value) else Value(x)


def functions() -> dict[str, _Function]:
    """Every function name an expression may call, read from the engine's table now:
    each record's ``expression_name`` or ``function`` (see `autograd.Op`).

    Built each time, so that a primitive registered after import is callable too.
    """
    return {f.name: f for f in (_caller(op) for op in OPS.values()
                                if op.expression_name or op.function)}


# --------------------------------------------------------------------------------------
# Parsing: check every node of the tree against the whitelist.
# --------------------------------------------------------------------------------------

_BINARY: dict[type, str] = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/",
                            ast.Pow: "**"}

# What the user wrote, in words, for the error message of each forbidden construct.
_FORBIDDEN: dict[type, str] = {
    ast.Attribute: "attribute access is not allowed",
    ast.Subscript: "subscripts are not allowed",
    ast.Slice: "slices are not allowed",
    ast.Compare: "comparisons are not allowed",
    ast.BoolOp: "'and'/'or' are not allowed",
    ast.IfExp: "conditional expressions are not allowed",
    ast.Lambda: "lambda is not allowed",
    ast.NamedExpr: "assignment expressions are not allowed",
    ast.JoinedStr: "strings are not allowed",
    ast.List: "lists are not allowed",
    ast.Tuple: "tuples are not allowed",
    ast.Dict: "dictionaries are not allowed",
    ast.Set: "sets are not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "generator expressions are not allowed",
    ast.Starred: "starred arguments are not allowed",
    ast.Await: "await is not allowed",
    ast.Yield: "yield is not allowed",
    ast.YieldFrom: "yield is not allowed",
}

_OPERATOR_WORDS: dict[type, str] = {
    ast.FloorDiv: "//", ast.Mod: "%", ast.MatMult: "@", ast.LShift: "<<", ast.RShift: ">>",
    ast.BitOr: "|", ast.BitXor: "^", ast.BitAnd: "&", ast.Invert: "~", ast.Not: "not",
}


@dataclass(frozen=True)
class _Span:
    column: int  # 1-based, in characters
    fragment: str


class Expression:
    """A parsed, checked expression: evaluate it as often as you like.

    ``variables`` lists the variable names in order of first appearance.
    """

    def __init__(self, text: str, tree: ast.expr, variables: tuple[str, ...],
                 offset: int) -> None:
        self.text = text
        self.variables = variables
        self._tree = tree
        self._offset = offset  # characters stripped from the front before parsing

    def __repr__(self) -> str:
        return f"Expression({self.text!r})"

    def evaluate(self, values: Mapping[str, float | Value]) -> Value:
        """Build the graph of the expression with the given variable values.

        A number becomes a new leaf Value labelled with the variable's name; a Value is
        used as it is, so its ``.grad`` can be read after ``backward()``.  Every
        variable needs a value; names that the expression does not use are an error too
        (they are most likely typos).  Domain errors (``log(0)``, ``1/0``) raise
        `ExpressionError` pointing at the operation that failed.
        """
        missing = [name for name in self.variables if name not in values]
        if missing:
            span = self._first_use(missing[0])
            raise ExpressionError(f"variable {missing[0]!r} has no value", self.text,
                                  span.column, span.fragment, variable=missing[0])
        unused = sorted(set(values) - set(self.variables))
        if unused:
            raise ExpressionError(f"a value is given for {unused[0]!r}, which is not used",
                                  self.text, 0, "",
                                  variable=unused[0])
        leaves: dict[str, Value] = {}
        for name in self.variables:
            given = values[name]
            if isinstance(given, Value):
                leaves[name] = given
            else:
                try:
                    leaves[name] = Value(given, label=name)
                except TypeError:
                    span = self._first_use(name)
                    raise ExpressionError(
                        f"variable {name!r} needs a real number, got "
                        f"{type(given).__name__} {given!r:.40}", self.text, span.column,
                        span.fragment, variable=name) from None
        result = self._walk(leaves)
        return result if isinstance(result, Value) else Value(result)

    # -- evaluation: an explicit stack, so deep nesting needs no recursion ---------------
    def _walk(self, leaves: dict[str, Value]) -> Operand:
        table = functions()
        results: list[Operand] = []
        # Entries are (node, visited): children are pushed first, then the node itself.
        stack: list[tuple[ast.expr, bool]] = [(self._tree, False)]
        while stack:
            node, ready = stack.pop()
            if isinstance(node, ast.Constant):
                results.append(float(node.value))
                continue
            if isinstance(node, ast.Name):
                results.append(leaves[node.id])
                continue
            if not ready:
                stack.append((node, True))
                for child in reversed(_children(node)):
                    stack.append((child, False))
                continue
            count = len(_children(node))
            args = results[len(results) - count:]
            del results[len(results) - count:]
            results.append(self._apply(node, args, table))
        return results[0]

    def _apply(self, node: ast.expr, args: list[Operand],
               table: dict[str, _Function]) -> Operand:
        try:
            if isinstance(node, ast.BinOp):
                return _binary(_BINARY[type(node.op)], args[0], args[1])
            if isinstance(node, ast.UnaryOp):
                return -args[0] if isinstance(node.op, ast.USub) else args[0]
            assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            result = table[node.func.id].apply(*args)
        except (DomainError, ZeroDivisionError, OverflowError) as error:
            span = _span(self.text, node, self._offset)
            raise ExpressionError(str(error), self.text, span.column, span.fragment) from None
        if not any(isinstance(a, Value) for a in args):
            return result.data if isinstance(result, Value) else result  # a constant
        return result

    def _first_use(self, name: str) -> _Span:
        for node in ast.walk(self._tree):
            if isinstance(node, ast.Name) and node.id == name:
                return _span(self.text, node, self._offset)
        return _Span(1, "")  # unreachable: every variable occurs in the tree


_ARITHMETIC: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
    "**": operator.pow}


def _binary(symbol: str, a: Operand, b: Operand) -> Operand:
    """Apply + - * / ** to Values or numbers; numbers alone go through the engine's checks.

    A result that overflows to infinity from finite operands is refused as the engine
    refuses exp(1000) and the literal 1e400: an expression never prints ``= inf``.
    """
    if not isinstance(a, Value) and not isinstance(b, Value):
        # Two constants: fold them with the engine so that 1/0, 0**-1 and (-8)**0.5 get the
        # engine's domain errors instead of Python's ZeroDivisionError or a complex number.
        with no_grad():
            return _binary(symbol, Value(a), b).data  # type: ignore[union-attr]
    # Python's own operators: a Value base with a number exponent records '**', else 'pow'.
    result = _ARITHMETIC[symbol](a, b)
    x, y = float(a), float(b)
    if math.isinf(float(result)) and math.isfinite(x) and math.isfinite(y):
        raise DomainError(f"{symbol}: result overflows a float (the largest is about "
                          f"1.8e308): {x!r} {symbol} {y!r}")
    return result


def _children(node: ast.expr) -> list[ast.expr]:
    if isinstance(node, ast.BinOp):
        return [node.left, node.right]
    if isinstance(node, ast.UnaryOp):
        return [node.operand]
    if isinstance(node, ast.Call):
        return list(node.args)
    return []


def _span(text: str, node: ast.AST, offset: int) -> _Span:
    """Column (1-based, in characters) and source text of a node.

    `ast` counts columns in UTF-8 bytes; users count characters.
    """
    stripped = text[offset:]
    raw = stripped.encode("utf-8")
    start = len(raw[: node.col_offset].decode("utf-8", "replace"))  # type: ignore[attr-defined]
    end_offset = getattr(node, "end_col_offset", None)
    end = len(raw[:end_offset].decode("utf-8", "replace")) if end_offset is not None else start
    return _Span(offset + start + 1, stripped[start:end])


def parse(text: str) -> Expression:
    """Parse and check `text`; raise `ExpressionError` on anything outside the whitelist."""
    if not isinstance(text, str):
        raise TypeError(f"parse: expected the expression as a string, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"expression is too long ({len(text)} characters, at most "
                              f"{MAX_LENGTH})", text, MAX_LENGTH + 1, "")
    for position, char in enumerate(text):
        if char in "\r\n":
            raise ExpressionError("the expression must be on one line", text, position + 1,
                                  "")
        if not char.isprintable() and char != " ":
            # NUL, escape sequences, ...: refused by name, never echoed to the terminal.
            raise ExpressionError(f"the control character U+{ord(char):04X} is not allowed",
                                  text, position + 1, "")
        if char == "#":
            raise ExpressionError("comments are not allowed in an expression", text,
                                  position + 1, "#")
    offset = len(text) - len(text.lstrip())
    source = text[offset:]
    if not source.strip():
        raise ExpressionError("the expression is empty", text, 1, "")
    try:
        with warnings.catch_warnings():
            # Python warns about text like '1and x' while parsing; our error says it all.
            warnings.simplefilter("ignore")
            tree = ast.parse(source, mode="eval").body
    except SyntaxError as error:
        raise _syntax_error(text, source, offset, error) from None
    except (RecursionError, MemoryError):
        # Python's parser builds `x+x+...+x` as a tree as deep as the chain is long, so a
        # long flat chain meets the same limit as deep nesting.
        raise ExpressionError(_too_deep(source), text, 0, "") from None
    variables = _check(text, tree, offset)
    return Expression(text, tree, variables, offset)


# An integer literal longer than Python converts from text (4300 digits by default).
_LONG_INTEGER = re.compile(r"\d{4301,}")


def _too_deep(source: str) -> str:
    """Why Python's parser gave up: deep nesting (``---x``, ``((x))``) or a long chain."""
    squeezed = source.replace(" ", "")
    nesting = max((len(run) for run in re.findall(r"[-+(]+", squeezed)), default=0)
    if nesting >= 50:
        return f"the expression is nested too deeply ({nesting} levels in a row)"
    chained = sum(squeezed.count(c) for c in "+-*/")
    return (f"the expression chains {chained} operations, more than Python's parser can "
            f"follow at a recursion limit of {sys.getrecursionlimit()}; split it, or add "
            "long sums in Python with autograd.sum_values")


def _syntax_error(text: str, source: str, offset: int, error: SyntaxError) -> ExpressionError:
    # A statement (import os, x = 1) is valid Python but not an expression: say so.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = ast.parse(source, mode="exec")
    except (SyntaxError, RecursionError, MemoryError):
        module = None
    if module is not None and module.body:
        statement = module.body[0]
        span = _span(text, statement, offset)
        kind = "imports are" if isinstance(statement, (ast.Import, ast.ImportFrom)) \
            else "statements are"
        return ExpressionError(f"{kind} not allowed, only an expression", text, span.column,
                               span.fragment)
    digits = _LONG_INTEGER.search(source)
    if digits is not None and "integer string conversion" in str(error.msg):
        return ExpressionError("the number is too large for a float", text,
                               offset + digits.start() + 1, _shorten(digits.group(), 20))
    if error.offset is None:  # the parser could not say where: about the whole text
        return ExpressionError(f"syntax error ({error.msg})", text, 0, "")
    position = error.offset  # 0, or past the end: the parser ran out of text
    if position <= 0 or position > len(source):
        return ExpressionError(f"syntax error ({error.msg}): the expression ends too early",
                               text, len(text) + 1, "")
    column = offset + position
    return ExpressionError(f"syntax error ({error.msg})", text, column, text[column - 1])


def _check(text: str, tree: ast.expr, offset: int) -> tuple[str, ...]:
    """Walk the tree iteratively; return the variable names in order of appearance."""
    table = functions()
    names: dict[str, None] = {}  # ordered set

    def fail(message: str, node: ast.AST) -> ExpressionError:
        span = _span(text, node, offset)
        return ExpressionError(message, text, span.column, span.fragment)

    stack: list[ast.expr] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Constant):
            _check_number(node, fail)
        elif isinstance(node, ast.Name):
            if node.id in table:
                raise fail(f"{node.id!r} is a function: call it, as in {node.id}(x)", node)
            names.setdefault(node.id, None)
        elif isinstance(node, ast.BinOp):
            if type(node.op) not in _BINARY:
                # x^2 is how most people first write a power: say what to write instead.
                power = "; a power is written **, as in x**2" if isinstance(
                    node.op, ast.BitXor) else ""
                raise fail(f"the operator {_OPERATOR_WORDS.get(type(node.op), '?')!r} is "
                           f"not allowed (only + - * / **{power})", node)
        elif isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, (ast.USub, ast.UAdd)):
                raise fail(f"the operator {_OPERATOR_WORDS.get(type(node.op), '?')!r} is "
                           "not allowed (only unary minus)", node)
        elif isinstance(node, ast.Call):
            _check_call(node, table, fail)
        else:
            reason = _FORBIDDEN.get(type(node), f"{type(node).__name__} is not allowed")
            raise fail(reason, node)
        # Children in reverse so the walk meets names left to right.
        stack.extend(reversed(_children(node)))
    return tuple(names)


def _check_number(node: ast.Constant, fail: Callable[[str, ast.AST], ExpressionError]) -> None:
    value = node.value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        kind = "strings" if isinstance(value, (str, bytes)) else f"{value!r}"
        if isinstance(value, complex):
            kind = "complex numbers"
        raise fail(f"{kind} are not allowed, only real numbers" if kind.endswith("s")
                   else f"{kind} is not allowed, only real numbers", node)
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise fail("the number is too large for a float", node)


def _check_call(node: ast.Call, table: dict[str, _Function],
                fail: Callable[[str, ast.AST], ExpressionError]) -> None:
    if not isinstance(node.func, ast.Name):
        raise fail("only the engine's functions can be called, by name", node.func)
    name = node.func.id
    function = table.get(name)
    if function is None:
        known = ", ".join(sorted(table))
        raise fail(f"unknown function {name!r} (known: {known})", node.func)
    if node.keywords:
        raise fail(f"{name}: keyword arguments are not allowed", node.keywords[0])
    count = len(node.args)
    if count < function.min_args or (function.max_args != -1 and count > function.max_args):
        expected = (str(function.min_args) if function.min_args == function.max_args
                    else f"{function.min_args} or {function.max_args}"
                    if function.max_args != -1 else f"at least {function.min_args}")
        raise fail(f"{name} takes {expected} argument{'s' if expected != '1' else ''}, "
                   f"got {count}", node)
    if function.constants_from >= 0:
        for extra in node.args[function.constants_from:]:
            if not _is_number(extra):
                raise fail(f"{name}: this argument must be a number", extra)


def _is_number(node: ast.expr) -> bool:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        node = node.operand
    return isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) \
        and not isinstance(node.value, bool)


def evaluate(text: str, **values: Any) -> Value:
    """Parse `text` and build its graph in one call: ``evaluate("x*y", x=2, y=3)``."""
    return parse(text).evaluate(values)
