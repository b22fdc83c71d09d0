"""`autograd.explain`: the chain rule written out, checked against a published worked example,
against `backward()` on random graphs, and for LaTeX that parses.

References: the published 2-2-2 example (Matt Mazur, "A Step by Step Backpropagation
Example", 2015; the seeds' worked example), whose every intermediate figure is quoted here;
`Value.backward` for the final number (bit for bit); NumPy float64 central differences for
the folded factors; `latex2mathml`'s parser for the LaTeX.
"""

from __future__ import annotations

import math
import re

import latex2mathml.converter
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import autograd
from autograd import Value, explain, sum_values
from autograd.explain import MAX_EQUATIONS, MAX_TERMS, Equation, Explanation

# -- the published 2-2-2 network --------------------------------------------------------

I1, I2, T1, T2 = 0.05, 0.10, 0.01, 0.99
START = {"w1": 0.15, "w2": 0.20, "w3": 0.25, "w4": 0.30, "w5": 0.40, "w6": 0.45,
         "w7": 0.50, "w8": 0.55, "b1": 0.35, "b2": 0.60}


def named(value: Value, label: str) -> Value:
    value.label = label
    return value


def mazur() -> tuple[dict[str, Value], Value]:
    """The network with the example's names on every intermediate value."""
    p = {name: Value(x, label=name) for name, x in START.items()}
    out_h1 = named(named(p["w1"] * I1 + p["w2"] * I2 + p["b1"], "net_h1").sigmoid(), "out_h1")
    out_h2 = named(named(p["w3"] * I1 + p["w4"] * I2 + p["b1"], "net_h2").sigmoid(), "out_h2")
    net_o1 = named(p["w5"] * out_h1 + p["w6"] * out_h2 + p["b2"], "net_o1")
    net_o2 = named(p["w7"] * out_h1 + p["w8"] * out_h2 + p["b2"], "net_o2")
    out_o1 = named(net_o1.sigmoid(), "out_o1")
    out_o2 = named(net_o2.sigmoid(), "out_o2")
    e_o1 = named(0.5 * (T1 - out_o1) ** 2, "E_o1")
    e_o2 = named(0.5 * (T2 - out_o2) ** 2, "E_o2")
    return p, named(e_o1 + e_o2, "E_total")


def symbol_names(equation: Equation) -> list[list[tuple[str, str]]]:
    return [[(s.top.label, s.bottom.label) for s in term] for term in equation.terms]


def test_w5_one_path_with_the_published_figures():
    p, total = mazur()
    result = explain(total, p["w5"], digits=9)
    (equation,) = result.equations
    assert symbol_names(equation) == [[("E_total", "E_o1"), ("E_o1", "out_o1"),
                                       ("out_o1", "net_o1"), ("net_o1", "w5")]]
    figures = [round(s.value, 9) for s in equation.terms[0]]
    assert figures == [1.0, 0.74136507, 0.186815602, 0.593269992]  # as published
    assert round(result.value, 9) == 0.082167041
    text = str(result)
    assert "∂E_total/∂w5 = ∂E_total/∂E_o1 · ∂E_o1/∂out_o1 · ∂out_o1/∂net_o1 · ∂net_o1/∂w5" in text
    assert "= 1 · 0.74136507 · 0.186815602 · 0.593269992" in text
    # The unlabelled operations inside net_o1 fold into one factor, written symbolically.
    assert "∂net_o1/∂w5 = out_h1 = 0.593269992" in text
    assert "∂out_o1/∂net_o1 = out_o1·(1 - out_o1) = 0.186815602" in text


def test_w1_two_paths_summed_with_the_partial_results_named():
    p, total = mazur()
    result = explain(total, p["w1"], digits=9)
    top, merge, branch1, branch2 = result.equations
    assert symbol_names(top) == [[("E_total", "out_h1"), ("out_h1", "net_h1"),
                                  ("net_h1", "w1")]]
    assert [round(s.value, 9) for s in top.terms[0]] == [0.036350306, 0.241300709, 0.05]
    # ∂E/∂out_h1 = ∂E_o1/∂out_h1 + ∂E_o2/∂out_h1, each branch derived once, by name.
    assert symbol_names(merge) == [[("E_o1", "out_h1")], [("E_o2", "out_h1")]]
    # The example rounds as it goes: its -0.019049119 is -0.0190491183 to 1e-9.
    assert merge.term_values == pytest.approx([0.055399425, -0.019049119], abs=1e-9)
    assert round(merge.lhs.value, 9) == 0.036350306
    assert symbol_names(branch1) == [[("E_o1", "out_o1"), ("out_o1", "net_o1"),
                                      ("net_o1", "out_h1")]]
    assert round(branch1.lhs.value, 9) == 0.055399425
    assert [round(s.value, 9) for s in branch1.terms[0]] == [0.74136507, 0.186815602, 0.4]
    assert branch2.lhs.value == pytest.approx(-0.019049119, abs=1e-9)
    assert round(result.value, 9) == 0.000438568
    text = str(result)
    assert "∂E_total/∂out_h1 = ∂E_o1/∂out_h1 + ∂E_o2/∂out_h1" in text
    assert "= 0.0553994247 + (-0.0190491183)" in text


def test_the_final_number_is_backwards_bit_for_bit_and_grads_are_untouched():
    p, total = mazur()
    result = explain(total, p["w1"])
    assert all(v.grad == 0.0 for v in autograd.topological_order(total))
    total.backward()
    assert result.value == p["w1"].grad


# -- random graphs ----------------------------------------------------------------------

UNARY = ["tanh", "sigmoid", "exp", "sin", "cos", "relu", "neg", "sq"]
BINARY = ["+", "-", "*"]


def build(data: list[float], steps: list[tuple[str, int, int, bool]]) -> list[Value]:
    pool = [Value(x, label=f"x{i}") for i, x in enumerate(data)]
    for n, (op, i, j, label) in enumerate(steps):
        a, b = pool[i % len(pool)], pool[j % len(pool)]
        if op == "+":
            v = a + b
        elif op == "-":
            v = a - b
        elif op == "*":
            v = a * b
        elif op == "neg":
            v = -a
        elif op == "sq":
            v = a ** 2
        elif op == "sum":
            v = sum_values([a, b, a])
        else:
            v = getattr(a, op)()
        if label:
            v.label = f"v{n}"
        pool.append(v)
    return pool


def check_consistent(result: Explanation) -> None:
    """Every line's symbols multiply (and add) to the number on its left."""
    for e in result.equations:
        for term, value in zip(e.terms, e.term_values):
            assert value == math.prod(s.value for s in term)
        total = math.fsum(e.term_values) + e.rest
        assert total == pytest.approx(e.lhs.value, rel=1e-9, abs=1e-12 * (1 + abs(total))), e


@settings(max_examples=60, deadline=None)
@given(data=st.lists(st.floats(-1.5, 1.5), min_size=1, max_size=4),
       steps=st.lists(st.tuples(st.sampled_from(BINARY + UNARY + ["sum"]),
                                st.integers(0, 99), st.integers(0, 99), st.booleans()),
                      min_size=1, max_size=14),
       pick=st.integers(0, 99))
def test_random_graphs_give_backwards_number_and_a_consistent_derivation(data, steps, pick):
    pool = build(data, steps)
    output = pool[-1]
    wrt = pool[pick % len(pool)]
    result = explain(output, wrt)
    for v in autograd.topological_order(output):
        v.grad = 0.0
    output.backward()
    order = set(autograd.topological_order(output))
    expected = wrt.grad if wrt in order else 0.0
    assert result.value == expected or (math.isnan(result.value) and math.isnan(expected))
    if all(math.isfinite(s.value) for e in result.equations for t in e.terms for s in t):
        check_consistent(result)
    text = str(result)
    assert "#" not in text  # every value named by label or by operation
    assert latex2mathml.converter.convert(result.latex())


def central(f, x: Value, h: float = 1e-6) -> float:
    saved = x.data
    x.data = saved + h
    up = f()
    x.data = saved - h
    down = f()
    x.data = saved
    return (up - down) / (2 * h)


def test_folded_factors_match_their_closed_form_and_the_total_central_differences():
    # y = tanh(a * b + a) with only `a` and `y` labelled: one folded factor with two paths.
    a = Value(0.3, label="a")
    b = Value(-0.8)

    def forward() -> float:
        return math.tanh(a.data * b.data + a.data)

    y = named((a * b + a).tanh(), "y")
    result = explain(y, a)
    # No labelled value between a and y: one factor per operation, the sum of two branches.
    assert result.value == pytest.approx(central(forward, a), rel=1e-7)
    u = named(a * b + a, "u")
    y2 = named(u.tanh(), "y")
    folded = explain(y2, a)
    factor = next(f for f in folded.factors if f.symbol.top is u)
    assert len(factor.paths) == 2 and factor.symbol.value == pytest.approx(b.data + 1.0)
    assert "∂u/∂a = (-0.8) + 1 = 0.2" in str(folded)  # b + 1, summed over both paths


# -- forms and bounds -------------------------------------------------------------------

# Every command the LaTeX uses, each rendered by KaTeX 0.16 and MathJax 3 (checked when
# this list was written, by rendering every form of every operation in both).
LATEX_COMMANDS = {"begin", "end", "frac", "partial", "cdot", "left", "right", "mathrm",
                  "text", "sigma", "tanh", "exp", "log", "sin", "cos", "sqrt", "operatorname",
                  "times", "ldots", "infty", "backslash", "wedge", "sim", "le", "_", "$",
                  "#", "%", "&", "{", "}", " ", "\\", "tfrac"}


def every_operation() -> list[tuple[Value, Value, Value]]:
    x = Value(0.7, label="x")
    y = Value(1.3, label="y_{odd}$#%&^~\\ α")
    return [(e, x, y) for e in (x + y, x - y, x * y, x / y, -x, x ** 3, x ** y, x.exp(),
                                x.log(), x.sqrt(), x.tanh(), x.sigmoid(), x.relu(),
                                x.leaky_relu(0.1), x.softplus(), x.sin(), x.cos(), abs(x),
                                sum_values([x, y, x]), autograd.dot([x, y], [y, x], x),
                                (x * 1e-9 + y) * 1e12, autograd.atan(x),
                                autograd.maximum(x, y), autograd.minimum(x, y))]


def test_latex_parses_and_uses_only_commands_katex_and_mathjax_render():
    p, total = mazur()
    forms = [explain(total, p[name]).latex() for name in START]
    for e, x, y in every_operation():
        forms += [explain(e, x).latex(), explain(e, y).latex()]
    for latex in forms:
        assert latex.startswith("\\begin{aligned}") and latex.endswith("\\end{aligned}")
        assert latex2mathml.converter.convert(latex)
        used = set(re.findall(r"\\([A-Za-z]+|[^A-Za-z])", latex))
        assert used <= LATEX_COMMANDS, used - LATEX_COMMANDS


def test_markdown_and_jupyter_forms():
    p, total = mazur()
    result = explain(total, p["w1"])
    markdown = result.markdown()
    blocks = re.findall(r"\$\$(.*?)\$\$", markdown, re.S)
    assert len(blocks) == len(result.equations)
    for block in blocks:
        assert latex2mathml.converter.convert(block.strip())
    assert result._repr_markdown_() == markdown
    assert result._repr_latex_() == f"$${result.latex()}$$"
    assert repr(result) == "<Explanation ∂E_total/∂w1 = 0.0004386>"


def test_a_long_chain_is_cut_with_a_note_and_keeps_the_number():
    x = Value(0.5, label="x")
    y = x
    for _ in range(300):
        y = (y * 0.99).sin()
    result = explain(y, x)
    assert len(result.equations) == MAX_EQUATIONS
    assert any(f"cut after {MAX_EQUATIONS} equations" in note for note in result.notes)
    assert "note: the derivation is cut" in str(result)
    y.backward()
    assert result.value == x.grad


def test_a_wide_sum_shows_the_first_branches_and_adds_the_rest():
    x = Value(0.5, label="x")
    terms = [named(x * float(k), f"t{k}") for k in range(1, 21)]
    y = named(sum_values(terms), "y")
    result = explain(y, x)
    (equation,) = result.equations
    assert len(equation.terms) == MAX_TERMS and equation.rest_count == 20 - MAX_TERMS
    assert equation.rest == pytest.approx(sum(range(MAX_TERMS + 1, 21)))
    assert result.value == pytest.approx(210.0)
    assert "(12 more branches)" in str(result)


def test_repeated_labels_are_told_apart_by_scope():
    with autograd.scope("first"):
        a = Value(1.0, label="w0")
        ha = named(a * 2.0, "h")
    with autograd.scope("second"):
        b = Value(1.0, label="w0")
        hb = named(b * 3.0, "h")
    x = Value(0.5, label="x")
    y = named(ha * x + hb * x, "y")
    text = str(explain(y, x))
    assert "∂(first.h·x)/∂x = first.h = 2" in text
    assert "∂(second.h·x)/∂x = second.h = 3" in text


def test_trivial_cases_and_mistakes():
    x = Value(2.0, label="x")
    assert explain(x, x).value == 1.0 and str(explain(x, x)) == "∂x/∂x = 1"
    other = Value(1.0, label="z")
    y = named(x * 3.0, "y")
    lone = explain(y, other)
    assert lone.value == 0.0 and "does not depend" in str(lone)
    assert str(explain(y, x)) .startswith("∂y/∂x = 3")
    with pytest.raises(TypeError, match="explain: wrt must be a Value"):
        explain(y, 2.0)
    with pytest.raises(TypeError, match="explain: output must be a Value"):
        explain(1.0, x)
    with pytest.raises(ValueError, match="digits must be a whole number from 1 to 17"):
        explain(y, x, digits=0)


def test_a_node_built_micrograds_way_is_explained_by_its_number():
    a = Value(3.0, label="a")
    out = Value(a.data * 2.0, (a,), "double")
    out.label = "out"

    def step() -> None:
        a.grad += 2.0 * out.grad

    out._backward = step
    text = str(explain(out, a))
    assert text.startswith("∂out/∂a = 2")  # its _backward's number, no rule made up
    assert "= 2 = 2" not in text
