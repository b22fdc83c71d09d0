"""`chainrule explain`: the derivation printed in each format, checked against a closed form,
and mistakes reported on one line with status 2."""

from __future__ import annotations

import math
import re

import latex2mathml.converter
import pytest

from nn.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_text_derivation_of_a_neuron_matches_the_closed_form(capsys):
    status, out, err = run(capsys, "explain", "tanh(x*w + b)", "--wrt", "w", "--set",
                           "x=0.5", "w=-1.2", "b=0.3", "--digits", "9")
    assert status == 0 and err == ""
    t = math.tanh(0.5 * -1.2 + 0.3)
    lines = out.splitlines()
    # One factor per operation, named by operation and operands; the numbers multiply.
    assert lines[0] == ("∂tanh(x·w + b)/∂w = ∂tanh(x·w + b)/∂(x·w + b) · ∂(x·w + b)/∂(x·w)"
                        " · ∂(x·w)/∂w")
    factors = [float(n) for n in lines[1].split("=")[1].split("·")]
    assert factors == pytest.approx([1 - t * t, 1.0, 0.5], rel=1e-8)
    assert float(lines[2].split("=")[1]) == pytest.approx(0.5 * (1 - t * t), rel=1e-8)
    assert "∂tanh(x·w + b)/∂(x·w + b) = 1 - tanh(x·w + b)^2 = " in out


def test_two_paths_are_summed(capsys):
    status, out, _ = run(capsys, "explain", "x*x + sin(x)", "--wrt", "x", "--set", "x=2")
    assert status == 0
    assert "∂(x·x + sin(x))/∂x = ∂(x·x)/∂x + ∂sin(x)/∂x" in out
    total = float(re.findall(r"^\s+= (\S+)$", out, re.M)[-1])
    assert total == pytest.approx(2 * 2 + math.cos(2), rel=1e-3)


@pytest.mark.parametrize("form", ["markdown", "latex"])
def test_markdown_and_latex_parse(capsys, form):
    status, out, _ = run(capsys, "explain", "x*x + sin(x)", "--wrt", "x", "--set", "x=2",
                         "--format", form)
    assert status == 0
    blocks = re.findall(r"\$\$(.*?)\$\$", out, re.S) if form == "markdown" else [out]
    assert blocks
    for block in blocks:
        assert latex2mathml.converter.convert(block.strip())


@pytest.mark.parametrize("argv, message", [
    (["x*2", "--wrt", "y", "--set", "x=1"], "--wrt 'y': not a variable of the expression"),
    (["x*2", "--set", "x=1"], "the following arguments are required: --wrt"),
    (["x*", "--wrt", "x", "--set", "x=1"], "ends too early"),
    (["x*2", "--wrt", "x"], "give it a value with --set x=VALUE"),
    (["x*2", "--wrt", "x", "--set", "x=1", "--format", "html"], "invalid choice"),
    (["x*2", "--wrt", "x", "--set", "x=1", "--digits", "18"], "must be at most 17"),
])
def test_mistakes_are_one_line_with_status_2(capsys, argv, message):
    status, out, err = run(capsys, "explain", *argv)
    assert status == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and message in err, err
    assert err.startswith("chainrule explain: error: ")
