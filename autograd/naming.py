"""Readable names for the Values of a graph and the derivative rules written on them.

`ValueNames` names a Value by its label, else by its operation on its operands' names
(``σ(w·x + b)``), never by a bare number; `derivative_rule` writes an operation's local
derivative on those names (``∂(w·x)/∂w = x``).  Each comes in two dialects: plain text
(`Dialect`) and LaTeX for KaTeX and MathJax (`Latex`).  Used by `autograd.explain` and by
the step-through page (`autograd.viz.export_html`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from .engine import OPS, Value

__all__ = ["Dialect", "Latex", "ValueNames", "derivative_rule", "expression", "wrap",
           "short_scope",
           "clean_label", "NAME_WIDTH", "SUM", "PRODUCT", "UNARY", "POWER", "ATOM"]

NAME_WIDTH = 40  # characters of a readable name before its inner parts become '…'

# --------------------------------------------------------------------------------------
# Dialects: plain text and LaTeX.
# --------------------------------------------------------------------------------------

# Precedence of a rendered expression: sums bind loosest, atoms tightest.
SUM, PRODUCT, UNARY, POWER, ATOM = 1, 2, 3, 4, 5


class Dialect:
    """How names, numbers and derivative rules are written in one output form."""

    times = " · "
    dot = "·"
    minus = "-"
    ellipsis = "…"

    def __init__(self, digits: int) -> None:
        self.digits = digits

    def number(self, x: float) -> str:
        if math.isnan(x):
            return "nan"
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        return f"{x:.{self.digits}g}"

    def constant(self, x: float) -> str:
        return f"{x:.6g}" if math.isfinite(x) else self.number(x)

    def label(self, text: str) -> str:
        return text

    def paren(self, text: str) -> str:
        return f"({text})"

    def partial(self, top: str, bottom: str) -> str:
        return f"∂{top}/∂{bottom}"

    def call(self, name: str, arg: str) -> str:
        return f"{name}({arg})"

    def function(self, op: str) -> str:
        return {"sigmoid": "σ"}.get(op, op)

    def power(self, base: str, exponent: str) -> str:
        return f"{base}^{exponent}"

    def fraction(self, top: str, bottom: str) -> str:
        def part(text: str) -> str:  # one word or number as it is, anything else bracketed
            return text if re.fullmatch(r"[\w.]+", text) else self.paren(text)
        return f"{part(top)}/{part(bottom)}"

    def sqrt(self, arg: str) -> str:
        return f"sqrt({arg})"

    def absolute(self, arg: str) -> str:
        return f"|{arg}|"

    def indicator(self, condition: str) -> str:
        return f"[{condition}]"

    def suffix(self, name: str, n: int) -> str:
        return f"{name} [{n}]"


class Latex(Dialect):
    times = r" \cdot "
    dot = r" \cdot "
    minus = "-"
    ellipsis = r"\ldots"

    def number(self, x: float) -> str:
        text = super().number(x)
        if "e" in text and math.isfinite(x):
            mantissa, exponent = text.split("e")
            return rf"{mantissa} \times 10^{{{int(exponent)}}}"
        return {"nan": r"\mathrm{NaN}", "inf": r"\infty", "-inf": r"-\infty"}.get(text, text)

    def constant(self, x: float) -> str:
        text = f"{x:.6g}"
        if "e" in text and math.isfinite(x):
            mantissa, exponent = text.split("e")
            return rf"{mantissa} \times 10^{{{int(exponent)}}}"
        return text if math.isfinite(x) else self.number(x)

    def label(self, text: str) -> str:
        match = re.fullmatch(r"([A-Za-z]+)_?([0-9]+)", text) or re.fullmatch(
            r"([A-Za-z]+)_([A-Za-z0-9]+)", text)
        if match:
            base, sub = match.groups()
            base_tex = base if len(base) == 1 else rf"\mathrm{{{base}}}"
            sub_tex = sub if sub.isdigit() or len(sub) == 1 else rf"\mathrm{{{sub}}}"
            return f"{base_tex}_{{{sub_tex}}}"
        if len(text) == 1 and text.isascii() and text.isalpha():
            return text
        return rf"\mathrm{{{latex_escape(text)}}}"

    def paren(self, text: str) -> str:
        return rf"\left({text}\right)"

    def partial(self, top: str, bottom: str) -> str:
        return rf"\frac{{\partial {top}}}{{\partial {bottom}}}"

    def call(self, name: str, arg: str) -> str:
        return rf"{name}\left({arg}\right)"

    def function(self, op: str) -> str:
        if op in ("exp", "log", "tanh", "sin", "cos"):
            return "\\" + op
        if op == "sigmoid":
            return r"\sigma"
        return rf"\operatorname{{{latex_escape(op)}}}"

    def power(self, base: str, exponent: str) -> str:
        return f"{{{base}}}^{{{exponent}}}"

    def fraction(self, top: str, bottom: str) -> str:
        return rf"\frac{{{top}}}{{{bottom}}}"

    def sqrt(self, arg: str) -> str:
        return rf"\sqrt{{{arg}}}"

    def absolute(self, arg: str) -> str:
        return rf"\left|{arg}\right|"

    def indicator(self, condition: str) -> str:
        return rf"[{condition}]"

    def suffix(self, name: str, n: int) -> str:
        return f"{name}^{{[{n}]}}"


_LATEX_SPECIAL = {"\\": r"\backslash ", "{": r"\{", "}": r"\}", "_": r"\_", "$": r"\$",
                  "#": r"\#", "%": r"\%", "&": r"\&", "^": r"\wedge ", "~": r"\sim ",
                  " ": r"\ "}


def latex_escape(text: str) -> str:
    """User text safe inside ``\\mathrm{...}`` in KaTeX and MathJax alike."""
    return "".join(_LATEX_SPECIAL.get(c, c) for c in text)


def clean_label(text: str) -> str:
    """A label fit to print: control characters as spaces, lone surrogates (which no
    encoder accepts) as U+FFFD, at most `NAME_WIDTH` characters."""
    cleaned = "".join(" " if ord(c) < 32 or ord(c) == 127 else
                      "\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text)
    return cleaned if len(cleaned) <= NAME_WIDTH else cleaned[:NAME_WIDTH - 1] + "…"


# --------------------------------------------------------------------------------------
# Names: a label, else the operation and its operands.
# --------------------------------------------------------------------------------------

class ValueNames:
    """A readable, unique name per Value in one derivation, in either dialect.

    A labelled Value is its label, qualified by its shortened scope when labels clash
    (every neuron has a 'w0': 'l0.n3.w0' is layers.0.neurons.3's); an unlabelled leaf is
    its number; an unlabelled result is its operation on its operands' names, nested as
    deep as fits in the width (deeper parts become '…'), saying its scope once in front
    when its labels would need it ('l0.n3: tanh(w0·x1 + b)').  Names still equal after
    that get a ' [2]', ' [3]'.
    """

    def __init__(self, digits: int, order: Sequence[Value] = (), width: int = NAME_WIDTH
                 ) -> None:
        self.width = width
        self._text = Dialect(digits)
        self._depth: dict[Value, int] = {}
        self._suffix: dict[Value, int] = {}
        self._taken: dict[str, list[Value]] = {}
        # A label that values of different scopes share is qualified by the scope.
        scopes: dict[str, set[str]] = {}
        for v in order:
            if v.label:
                scopes.setdefault(v.label, set()).add(v.scope)
        self._qualify = {label for label, found in scopes.items() if len(found) > 1}

    def _label(self, v: Value, context: str | None = None) -> str | None:
        """The label, qualified by the (shortened) scope where labels clash, unless the
        name is read inside that scope's own expression."""
        if not v.label:
            return None
        if v.label in self._qualify and v.scope and v.scope != context:
            return clean_label(f"{short_scope(v.scope)}.{v.label}")
        return clean_label(v.label)

    def _top(self, v: Value, depth: int, d: Dialect) -> tuple[str, int]:
        """The whole name: an unlabelled result inside a scope whose labels clash with
        others' ('w0' in every neuron) says its scope once, 'l0.n3: tanh(w0·x1 + b)'."""
        if v.label or v.is_leaf or not v.scope or not self._qualify:
            return self._render(v, depth, d)
        text = self._render(v, depth, d, v.scope)[0]
        return f"{d.label(clean_label(short_scope(v.scope)))}: {text}", SUM

    def name(self, v: Value, dialect: Dialect) -> str:
        return self.part(v, dialect)[0]

    def part(self, v: Value, dialect: Dialect) -> tuple[str, int]:
        """(name, precedence): a name that is an expression binds like one."""
        if v not in self._suffix:
            self._register(v)
        base, precedence = self._top(v, self._depth[v], dialect)
        n = self._suffix[v]
        if n == 1:
            return base, precedence
        return dialect.suffix(wrap((base, precedence), ATOM, dialect), n), ATOM

    def _register(self, v: Value) -> None:
        depth = 4
        while depth > 1 and len(self._top(v, depth, self._text)[0]) > self.width:
            depth -= 1
        self._depth[v] = depth
        key = self._top(v, depth, self._text)[0]
        if v.is_leaf and not v.label:  # a constant: its number is its name, however often
            self._suffix[v] = 1
            return
        same = self._taken.setdefault(key, [])
        same.append(v)
        self._suffix[v] = len(same)

    def _render(self, v: Value, depth: int, d: Dialect,
                context: str | None = None) -> tuple[str, int]:
        """(text, precedence) of `v` as an expression, `depth` levels deep."""
        label = self._label(v, context)
        if label is not None:
            return d.label(label), ATOM
        if v.is_leaf:
            text = d.constant(v._data)
            return (d.paren(text), ATOM) if text.startswith("-") else (text, ATOM)
        if depth <= 0:
            return d.ellipsis, ATOM
        return expression(v, [self._render(p, depth - 1, d, context) for p in v.parents], d)


def short_scope(scope: str) -> str:
    """A scope as a qualifier: each name followed by a number shortened to its initial,
    'layers.0.neurons.3' -> 'l0.n3'; names without a number stay whole."""
    parts: list[str] = []
    for part in scope.split("."):
        if part.isdigit() and parts and parts[-1].isalpha():
            parts[-1] = parts[-1][0] + part
        else:
            parts.append(part)
    return ".".join(parts)


def wrap(part: tuple[str, int], at_least: int, d: Dialect) -> str:
    text, precedence = part
    return text if precedence >= at_least else d.paren(text)


def expression(v: Value, args: list[tuple[str, int]], d: Dialect) -> tuple[str, int]:
    """`v`'s operation written on its rendered operands."""
    op = v.op
    if op == "+":
        return f"{args[0][0]} + {wrap(args[1], PRODUCT, d)}", SUM
    if op == "-":
        return f"{args[0][0]} {d.minus} {wrap(args[1], PRODUCT, d)}", SUM
    if op == "*":
        return f"{wrap(args[0], PRODUCT, d)}{d.dot}{wrap(args[1], UNARY, d)}", PRODUCT
    if op == "/":
        if isinstance(d, Latex):
            return d.fraction(args[0][0], args[1][0]), ATOM
        return f"{wrap(args[0], PRODUCT, d)}/{wrap(args[1], UNARY, d)}", PRODUCT
    if op == "neg":
        return f"{d.minus}{wrap(args[0], POWER, d)}", UNARY
    if op == "**":
        return d.power(wrap(args[0], ATOM, d), d.constant(v.param)), POWER
    if op == "pow":
        return d.power(wrap(args[0], ATOM, d), args[1][0]), POWER
    if op == "sqrt":
        return d.sqrt(args[0][0]), ATOM
    if op == "abs":
        return d.absolute(args[0][0]), ATOM
    if op == "sum":
        return " + ".join(a[0] for a in args), SUM
    if op == "dot":
        n = (len(args) - 1) // 2
        products = [f"{wrap(args[i], PRODUCT, d)}{d.dot}{wrap(args[n + i], UNARY, d)}"
                    for i in range(n)]
        if n > 3:  # a neuron's weighted sum: the first and last products show the pattern
            products = [products[0], d.ellipsis, products[-1]]
        return " + ".join([*products, args[-1][0]]), SUM
    if op == "leaky_relu":
        return d.call(d.function(op), f"{args[0][0]}, {d.constant(v.param)}"), ATOM
    return d.call(d.function(op), ", ".join(a[0] for a in args)), ATOM


def derivative_rule(child: Value, k: int, names: ValueNames, d: Dialect) -> tuple[str, int] | None:
    """The derivative rule of `child`'s operation with respect to its operand `k`, written
    on the operands' names: ('1', atom) for an addition, None for a user's primitive."""
    if child._fn is None or OPS.get(child.op) is not child._fn:
        return None  # a user's primitive or a node with its own _backward: no rule to show
    op = child.op
    parents = child.parents

    def arg(i: int) -> tuple[str, int]:
        return names.part(parents[i], d)

    out = names.part(child, d)
    one = ("1", ATOM)
    minus_one = (d.paren(f"{d.minus}1"), ATOM)
    if op in ("+", "sum"):
        return one
    if op == "-":
        return one if k == 0 else minus_one
    if op == "*":
        return arg(1 - k)
    if op == "neg":
        return minus_one
    if op == "/":
        if k == 0:
            return d.fraction("1", arg(1)[0]), PRODUCT
        top = f"{d.minus}{wrap(arg(0), PRODUCT, d)}"
        return d.fraction(top, d.power(wrap(arg(1), ATOM, d), "2")), PRODUCT
    if op == "**":
        n = child.param
        if n == 2.0:
            return f"2{d.dot}{wrap(arg(0), PRODUCT, d)}", PRODUCT
        power = d.power(wrap(arg(0), ATOM, d), d.constant(n - 1.0))
        return f"{d.constant(n)}{d.dot}{power}", PRODUCT
    if op == "pow":
        if k == 0:
            power = d.power(wrap(arg(0), ATOM, d), f"{arg(1)[0]} {d.minus} 1")
            return f"{wrap(arg(1), PRODUCT, d)}{d.dot}{power}", PRODUCT
        return f"{wrap(out, PRODUCT, d)}{d.dot}{d.call(d.function('log'), arg(0)[0])}", \
            PRODUCT
    if op == "exp":
        return out
    if op == "log":
        return d.fraction("1", arg(0)[0]), PRODUCT
    if op == "sqrt":
        return d.fraction("1", f"2{d.dot}{wrap(out, PRODUCT, d)}"), PRODUCT
    if op == "tanh":
        return f"1 {d.minus} {d.power(wrap(out, ATOM, d), '2')}", SUM
    if op == "sigmoid":
        return (f"{wrap(out, PRODUCT, d)}{d.dot}"
                f"{d.paren(f'1 {d.minus} {out[0]}')}"), PRODUCT
    if op == "relu":
        return d.indicator(f"{arg(0)[0]} > 0"), ATOM
    if op == "leaky_relu":
        return (f"1 if {arg(0)[0]} > 0 else {d.constant(child.param)}" if type(d) is Dialect
                else d.indicator(f"{arg(0)[0]} > 0") + f" + {d.constant(child.param)}"
                + d.indicator(f"{arg(0)[0]} \\le 0")), SUM
    if op == "atan":
        return d.fraction("1", f"1 + {d.power(wrap(arg(0), ATOM, d), '2')}"), PRODUCT
    if op in ("maximum", "minimum"):  # the chosen operand takes the gradient; a tie halves it
        mine, other = arg(k)[0], arg(1 - k)[0]
        wins = ">" if op == "maximum" else "<"
        half = r"\tfrac{1}{2}" if isinstance(d, Latex) else "½"
        return (f"{d.indicator(f'{mine} {wins} {other}')} + "
                f"{half}{d.indicator(f'{mine} = {other}')}"), SUM
    if op == "softplus":
        return d.call(d.function("sigmoid"), arg(0)[0]), ATOM
    if op == "sin":
        return d.call(d.function("cos"), arg(0)[0]), ATOM
    if op == "cos":
        return f"{d.minus}{d.call(d.function('sin'), arg(0)[0])}", UNARY
    if op == "abs":
        return d.call(r"\operatorname{sign}" if isinstance(d, Latex) else "sign",
                      arg(0)[0]), ATOM
    if op == "dot":
        n = (len(parents) - 1) // 2
        if k == len(parents) - 1:
            return one
        return arg(k + n) if k < n else arg(k - n)
    return None
