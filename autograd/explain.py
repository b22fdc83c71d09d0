"""The chain rule written out: `explain(output, wrt)` derives d output / d wrt by hand.

A textbook writes a gradient as a product of local derivatives, each a number, and where a
value feeds two others as the sum of both branches::

    ∂E/∂w1 = ∂E/∂out_h1 · ∂out_h1/∂net_h1 · ∂net_h1/∂w1
    ∂E/∂out_h1 = ∂E_o1/∂out_h1 + ∂E_o2/∂out_h1

`explain` writes that derivation from the graph the engine recorded.

**Granularity: the user's labels.**  The values the derivation runs through (its
*stations*) are `wrt`, `output` and every labelled value between them.  The unlabelled
operations between two stations are folded into one factor, the derivative of the later
station with respect to the earlier one (summed over the paths between them that pass no
other station), written symbolically when it is a product along at most `MAX_PATHS`
paths (``∂net_o1/∂w5 = out_h1``).  When no value between `wrt` and `output` has a label,
every operation is a station, named by its operation and operands (``σ(w·x + b)``).

**Structure.**  ``∂output/∂s`` for a station `s` with one way forward is the product along
the chain up to the next station where paths split or merge; for a station with several
ways forward it is the sum of the branches, each branch written once.  A branch's chain of
stations gets a name of its own (``∂E_o1/∂out_h1``), and a quantity that several branches
share is derived once and referred to by name.

**Numbers.**  Every ``∂output/∂s`` is taken from a backpropagation walk (`chain_rule`) with
the same float operations as `Value.backward`, so the final number is the one
``backward()`` puts in ``wrt.grad`` (starting from zero), bit for bit; every other number
is the product or sum the line shows.  Numbers print with `digits` significant digits.

**Bounds.**  At most `MAX_EQUATIONS` equations, `MAX_TERMS` branches in one sum and
`MAX_CHAIN` factors in one product (a longer chain is split into named parts); what is cut
is said in a note.  Label intermediate values to fold a long derivation into fewer
factors.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .engine import Value, chain_rule, local_derivatives, topological_order
from .naming import ATOM, PRODUCT, Dialect, Latex, ValueNames, derivative_rule, wrap

__all__ = ["explain", "Explanation", "Equation", "Factor", "Symbol", "MAX_EQUATIONS",
           "MAX_TERMS", "MAX_CHAIN", "MAX_PATHS"]

MAX_EQUATIONS = 40  # equations written before the derivation is cut, with a note
MAX_TERMS = 8  # branches written in one sum; the rest is one number, with a note
MAX_CHAIN = 8  # factors in one product; a longer chain is split into named parts
MAX_PATHS = 4  # a folded factor is written symbolically over at most this many paths
_RULE_WIDTH = 160  # a symbolic factor longer than this is shown by its number only


# --------------------------------------------------------------------------------------
# The derivation as data.
# --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Symbol:
    """∂top/∂bottom, with its number."""

    top: Value
    bottom: Value
    value: float


@dataclass(frozen=True)
class Equation:
    """``lhs = product`` (one term) or ``lhs = sum of branches`` (one term per branch).

    ``term_values[i]`` is the product of ``terms[i]``'s symbols' values; ``rest`` is the sum
    of the ``rest_count`` branches cut by `MAX_TERMS` (0.0 when none).
    """

    lhs: Symbol
    terms: tuple[tuple[Symbol, ...], ...]
    term_values: tuple[float, ...]
    rest: float
    rest_count: int

    @property
    def is_sum(self) -> bool:
        return len(self.terms) + self.rest_count > 1


@dataclass(frozen=True)
class Factor:
    """One local derivative ∂top/∂bottom between neighbouring stations.

    ``paths`` lists the graph's edges ``(child, position)`` along each path from bottom to
    top (None when there are more than `MAX_PATHS`): the factor is the sum over paths of
    the product of the operations' derivative rules.
    """

    symbol: Symbol
    paths: tuple[tuple[tuple[Value, int], ...], ...] | None

    @property
    def operations(self) -> int:
        """How many operations the factor folds (0 when the paths are not kept)."""
        if self.paths is None:
            return 0
        return len({id(child) for path in self.paths for child, _ in path})


# --------------------------------------------------------------------------------------
# The derivation.
# --------------------------------------------------------------------------------------

class Explanation:
    """The derivation of d output / d wrt: ``str()`` is plain text, `markdown` and `latex`
    the other forms; in Jupyter it displays as mathematics.

    ``value`` is d output / d wrt (what ``backward()`` gives); ``equations`` and
    ``factors`` hold the derivation as data; ``notes`` say what was cut.
    """

    def __init__(self, output: Value, wrt: Value, value: float, equations: list[Equation],
                 factors: list[Factor], notes: list[str], names: ValueNames, digits: int) -> None:
        self.output = output
        self.wrt = wrt
        self.value = value
        self.equations = tuple(equations)
        self.factors = tuple(factors)
        self.notes = tuple(notes)
        self.digits = digits
        self._names = names

    # -- pieces, per dialect -------------------------------------------------------------
    def _symbol(self, s: Symbol, d: Dialect) -> str:
        top = wrap(self._names.part(s.top, d), ATOM, d)
        bottom = wrap(self._names.part(s.bottom, d), ATOM, d)
        return d.partial(top, bottom)

    def _number(self, x: float, d: Dialect, inner: bool = False) -> str:
        text = d.number(x)
        return d.paren(text) if inner and text.startswith("-") else text

    def _factorderivative_rule(self, f: Factor, d: Dialect) -> str | None:
        """The factor written symbolically: the sum over its paths of the product of the
        derivative rules along each (1s left out), or None when it cannot be."""
        if f.paths is None:
            return None
        sums = []
        for path in f.paths:
            parts = []
            for child, k in reversed(path):  # from the top of the chain down, as written
                rule = derivative_rule(child, k, self._names, d)
                if rule is None:
                    return None
                if rule[0] != "1":
                    parts.append(rule)
            if not parts:
                sums.append("1")
            elif len(parts) == 1:
                sums.append(parts[0][0])
            else:
                sums.append(d.dot.join(wrap(p, PRODUCT, d) for p in parts))
        text = " + ".join(sums)
        return text if len(text) <= _RULE_WIDTH else None

    def _lines(self, d: Dialect) -> list[tuple[str, list[str]]]:
        """(left side, [right sides]) of every line: equations first, then factors."""
        rows: list[tuple[str, list[str]]] = []
        for e in self.equations:
            lhs = self._symbol(e.lhs, d)
            symbolic, numeric = [], []
            for term in e.terms:
                symbolic.append(d.times.join(self._symbol(s, d) for s in term))
                numeric.append(d.times.join(self._number(s.value, d, len(term) > 1)
                                            for s in term) if len(term) > 1
                               else self._number(term[0].value, d, e.is_sum))
            if e.rest_count:
                more = "branch" if e.rest_count == 1 else "branches"
                symbolic.append(f"{d.ellipsis}" + (f" \\text{{({e.rest_count} more {more})}}"
                                                   if isinstance(d, Latex)
                                                   else f" ({e.rest_count} more {more})"))
                numeric.append(self._number(e.rest, d, True))
            if e.is_sum:
                products = [self._number(v, d, True) for v in e.term_values]
                if e.rest_count:
                    products.append(self._number(e.rest, d, True))
            right = [" + ".join(symbolic), " + ".join(numeric)]
            if e.is_sum and any(len(t) > 1 for t in e.terms):
                right.append(" + ".join(products))
            right.append(self._number(e.lhs.value, d))
            rows.append((lhs, right))
        return rows

    def _factor_rows(self, d: Dialect) -> list[tuple[str, list[str], str]]:
        rows = []
        for f in self.factors:
            rule = self._factorderivative_rule(f, d)
            number = self._number(f.symbol.value, d)
            same = rule is None or rule in (number, d.paren(number))
            right = [number] if same else [rule, number]
            ops = f.operations
            why = ""
            if f.paths is None:
                why = "summed over more paths than can be written"
            elif ops > 1:
                why = f"through {ops} operations"
            rows.append((self._symbol(f.symbol, d), right, why))
        return rows

    def _headline(self, d: Dialect) -> str | None:
        """The whole answer on one line, when there is no chain to write."""
        if self.equations:
            return None
        symbol = self._symbol(Symbol(self.output, self.wrt, self.value), d)
        return f"{symbol} = {self._number(self.value, d)}"

    # -- the three forms ---------------------------------------------------------------
    def __str__(self) -> str:
        d = Dialect(self.digits)
        out: list[str] = []
        headline = self._headline(d)
        if headline is not None:
            out.append(headline)
        for n, (lhs, right) in enumerate(self._lines(d)):
            if n == 1:
                out.append("where")
            pad = " " * len(lhs)
            out.append(f"{lhs} = {right[0]}")
            out.extend(f"{pad} = {r}" for r in right[1:])
        factor_rows = self._factor_rows(d)
        if factor_rows:
            out.append("")
            out.append("local derivatives (one factor per operation, or per stretch of "
                       "unlabelled operations):")
            for lhs, right, why in factor_rows:
                out.append(f"  {lhs} = {' = '.join(right)}" + (f"   ({why})" if why else ""))
        for note in self.notes:
            out.append(f"note: {note}")
        return "\n".join(out)

    def latex(self) -> str:
        """The derivation as one LaTeX ``aligned`` block (KaTeX and MathJax render it)."""
        d = Latex(self.digits)
        rows: list[str] = []
        headline = self._headline(d)
        if headline is not None:
            rows.append(headline.replace(" = ", " &= ", 1))
        for lhs, right in self._lines(d):
            rows.append(f"{lhs} &= {right[0]}")
            rows.extend(f"&= {r}" for r in right[1:])
        for lhs, right, why in self._factor_rows(d):
            note = rf" &&\text{{{why}}}" if why else ""
            rows.append(f"{lhs} &= {' = '.join(right)}{note}")
        for note in self.notes:
            rows.append(rf"&\text{{{_latex_text(note)}}}")
        return "\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}"

    def markdown(self) -> str:
        """The derivation in Markdown: display mathematics, one block per equation, and
        the local derivatives as a list."""
        d = Latex(self.digits)
        parts: list[str] = []
        headline = self._headline(d)
        if headline is not None:
            parts.append(f"$${headline}$$")
        for n, (lhs, right) in enumerate(self._lines(d)):
            if n == 1:
                parts.append("where")
            body = f"{lhs} &= {right[0]}" + "".join(f" \\\\\n&= {r}" for r in right[1:])
            parts.append(f"$$\n\\begin{{aligned}}\n{body}\n\\end{{aligned}}\n$$")
        factor_rows = self._factor_rows(d)
        if factor_rows:
            parts.append("Local derivatives:")
            parts.append("\n".join(f"- ${lhs} = {' = '.join(right)}$"
                                   + (f" ({why})" if why else "")
                                   for lhs, right, why in factor_rows))
        parts.extend(f"*Note: {note}*" for note in self.notes)
        return "\n\n".join(parts) + "\n"

    def _repr_markdown_(self) -> str:
        return self.markdown()

    def _repr_latex_(self) -> str:
        return "$$" + self.latex() + "$$"

    def __repr__(self) -> str:
        d = Dialect(self.digits)
        symbol = self._symbol(Symbol(self.output, self.wrt, self.value), d)
        return f"<Explanation {symbol} = {d.number(self.value)}>"


def _latex_text(text: str) -> str:
    """Our own note text inside ``\\text{...}``."""
    return "".join({"{": r"\{", "}": r"\}", "_": r"\_", "\\": "", "$": r"\$", "#": r"\#",
                    "%": r"\%", "&": r"\&", "^": "", "~": ""}.get(c, c) for c in text)


class _Builder:
    """Computes the stations, the folded factors and the equations of one explanation."""

    def __init__(self, output: Value, wrt: Value, order: list[Value]) -> None:
        self.output = output
        self.wrt = wrt
        self.order = order
        self.position = {v: i for i, v in enumerate(order)}  # Values hash by identity
        # d output / d v for every v, by the walk `backward` does, with its float operations.
        grads: dict[Value, Any] = {output: 0.0 + 1.0}
        for _child, parent, _k, upstream, local in chain_rule(order, grads):
            grads[parent] = grads.get(parent, 0.0) + upstream * local
        self.grads = grads
        # The values on a path from wrt to output: wrt's descendants.
        start = self.position[wrt]
        relevant = {wrt}
        for v in order[start + 1:]:
            if any(p in relevant for p in v.parents):
                relevant.add(v)
        self.children: dict[Value, list[Value]] = {}
        for v in order[start + 1:]:
            if v in relevant:
                for p in dict.fromkeys(v.parents):  # a repeated operand: one child entry
                    if p in relevant:
                        self.children.setdefault(p, []).append(v)
        labelled = {v for v in relevant if v.label and v is not wrt and v is not output}
        self.stations = (labelled | {wrt, output}) if labelled else relevant
        self._locals: dict[Value, Sequence[float]] = {}
        self._folds: dict[Value, dict[Value, Factor]] = {}
        self.indegree: dict[Value, int] = {}
        for s in sorted(self.stations, key=self.position.__getitem__):
            for t in self.fold(s):
                self.indegree[t] = self.indegree.get(t, 0) + 1

    def local(self, v: Value) -> Sequence[float]:
        if v not in self._locals:
            self._locals[v] = [float(x) for x in local_derivatives(v)]
        return self._locals[v]

    def fold(self, s: Value) -> dict[Value, Factor]:
        """∂t/∂s for every station t reached from station s through no other station:
        forward mode from s over the unlabelled values, in topological order."""
        if s in self._folds:
            return self._folds[s]
        tangent: dict[Value, float] = {s: 1.0}
        paths: dict[Value, list[tuple[tuple[Value, int], ...]] | None] = {s: [()]}
        reached: dict[Value, Factor] = {}
        heap: list[int] = []
        queued: set[Value] = set()

        def push_children(v: Value) -> None:
            for child in self.children.get(v, ()):
                if child not in queued:
                    queued.add(child)
                    heapq.heappush(heap, self.position[child])

        push_children(s)
        while heap:
            v = self.order[heapq.heappop(heap)]
            locals_ = self.local(v)
            total = 0.0
            found: list[tuple[tuple[Value, int], ...]] | None = []
            for k, p in enumerate(v.parents):
                if p not in tangent or (p is not s and p in self.stations):
                    continue
                total += tangent[p] * locals_[k]
                before = paths[p]
                if found is None or before is None:
                    found = None
                else:
                    found.extend(path + ((v, k),) for path in before)
                    if len(found) > MAX_PATHS:
                        found = None
            tangent[v] = total
            paths[v] = found
            if v in self.stations:
                reached[v] = Factor(Symbol(v, s, total),
                                    None if found is None else tuple(found))
            else:
                push_children(v)
        self._folds[s] = reached
        return reached

    def successors(self, s: Value) -> list[Value]:
        return sorted(self.fold(s), key=self.position.__getitem__)

    def stops(self, c: Value) -> bool:
        """A chain of stations ends here: the output, a split or a merge."""
        return (c is self.output or len(self.fold(c)) != 1
                or self.indegree.get(c, 0) >= 2)


def explain(output: Value, wrt: Value, *, digits: int = 4) -> Explanation:
    """The chain-rule derivation of d output / d wrt, every factor with its number.

    See the module docstring for how the derivation is organised (by the graph's labels)
    and bounded.  ``str(result)`` is plain text, ``result.markdown()`` Markdown with
    display mathematics, ``result.latex()`` a LaTeX ``aligned`` block; in Jupyter the
    result displays as mathematics.  ``result.value`` is the number ``backward()`` gives.
    The graph's ``.grad`` fields are not touched.
    """
    if not isinstance(output, Value):
        raise TypeError(f"explain: output must be a Value, got {type(output).__name__}")
    if not isinstance(wrt, Value):
        raise TypeError(f"explain: wrt must be a Value, got {type(wrt).__name__}")
    if isinstance(digits, bool) or not isinstance(digits, int) or not 1 <= digits <= 17:
        raise ValueError(f"explain: digits must be a whole number from 1 to 17, got {digits!r}")
    order = topological_order(output)
    names = ValueNames(digits, order)
    if wrt is output:
        return Explanation(output, wrt, 1.0, [], [], [], names, digits)
    if wrt not in set(order):
        note = "the output does not depend on this value: no path leads from it to the output"
        return Explanation(output, wrt, 0.0, [], [], [note], names, digits)
    b = _Builder(output, wrt, order)
    equations: list[Equation] = []
    factors: dict[tuple[int, int], Factor] = {}
    notes: list[str] = []

    def factor(bottom: Value, top: Value) -> Symbol:
        f = b.fold(bottom)[top]
        factors.setdefault((id(top), id(bottom)), f)
        return f.symbol

    def total(s: Value) -> Symbol:
        if b.successors(s) == [output]:
            return factor(s, output)  # ∂output/∂s is one factor: no equation of its own
        if ("G", s) not in queued:
            queued.add(("G", s))
            pending.append(("G", (s,)))
        return Symbol(output, s, b.grads[s])

    def partial(chain: list[Value]) -> Symbol:
        """∂chain[-1]/∂chain[0] along the chain, derived in an equation of its own."""
        key = ("Q", tuple(chain))
        value = math.prod(b.fold(a)[c].symbol.value for a, c in zip(chain, chain[1:]))
        if key not in queued:
            queued.add(key)
            pending.append(key)
        return Symbol(chain[-1], chain[0], value)

    def identity(f: Symbol) -> bool:
        """A factor that is 1 whatever the numbers: one addition's operand."""
        paths = b.fold(f.bottom)[f.top].paths
        if paths is None or len(paths) != 1 or len(paths[0]) != 1:
            return False
        child, k = paths[0][0]
        return derivative_rule(child, k, names, Dialect(digits)) == ("1", ATOM)

    def product(lhs: Symbol, symbols: list[Symbol]) -> Equation:
        return Equation(lhs, (tuple(symbols),), (math.prod(s.value for s in symbols),), 0.0, 0)

    def chain_equation(s: Value) -> Equation:
        chain = [s]
        while True:
            chain.append(b.successors(chain[-1])[0])
            if b.stops(chain[-1]) or len(chain) > MAX_CHAIN:
                break
        symbols = [] if chain[-1] is output else [total(chain[-1])]
        symbols += [factor(a, c) for a, c in reversed(list(zip(chain, chain[1:])))]
        return product(Symbol(output, s, b.grads[s]), symbols)

    def branch(s: Value, t: Value) -> list[Symbol]:
        chain = [s, t]
        while not b.stops(chain[-1]) and len(chain) <= MAX_CHAIN:
            chain.append(b.successors(chain[-1])[0])
        end = chain[-1]
        symbols = [] if end is output else [total(end)]
        if len(chain) == 2:
            return symbols + [factor(s, t)]
        last = factor(chain[-2], end)
        inner = chain[:-1]
        rest = factor(s, inner[1]) if len(inner) == 2 else partial(inner)
        if end is output and identity(last):
            return [rest]  # ∂E/∂E_o1 = 1: the branch is ∂E_o1/∂s (still listed as a factor)
        return symbols + [last, rest]

    def sum_equation(s: Value) -> Equation:
        successors = b.successors(s)
        terms = [tuple(branch(s, t)) for t in successors[:MAX_TERMS]]
        values = tuple(math.prod(x.value for x in term) for term in terms)
        cut = len(successors) - len(terms)
        rest = (math.fsum(b.grads[t] * b.fold(s)[t].symbol.value if t is not output
                          else b.fold(s)[t].symbol.value for t in successors[MAX_TERMS:])
                if cut else 0.0)
        return Equation(Symbol(output, s, b.grads[s]), tuple(terms), values, rest, cut)

    queued: set[Any] = set()
    pending: deque[tuple[str, tuple[Value, ...]]] = deque()
    total(wrt)
    while pending:
        if len(equations) >= MAX_EQUATIONS:
            notes.append(f"the derivation is cut after {MAX_EQUATIONS} equations "
                         f"(autograd.explain.MAX_EQUATIONS); {len(pending)} more quantities "
                         "are not derived here. Label intermediate values to fold the chain "
                         "into fewer factors.")
            break
        kind, key = pending.popleft()
        if kind == "G":
            s = key[0]
            equation = chain_equation(s) if len(b.successors(s)) == 1 else sum_equation(s)
            if equation.rest_count:
                notes.append(f"a sum is cut after {MAX_TERMS} branches "
                             "(autograd.explain.MAX_TERMS); the rest are added as one number.")
        else:
            chain = list(key)
            equation = product(partial(chain),
                               [factor(a, c) for a, c in reversed(list(zip(chain, chain[1:])))])
        equations.append(equation)
    if (len(equations) == 1 and len(equations[0].terms) == 1 and not equations[0].rest_count
            and len(equations[0].terms[0]) == 1):
        equations = []  # d output / d wrt is itself one factor: the factor line says it all
    return Explanation(output, wrt, b.grads[wrt], equations, list(factors.values()),
                       notes, names, digits)
