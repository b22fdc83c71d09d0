"""Expressions that used to get the wrong reason: each now says the true one, in one line.

The reference for each number is Python's own float arithmetic: 1e308 * 10 is inf, a
4301-digit integer is beyond float's 1.8e308, and so on.
"""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest

from autograd import DomainError
from autograd.expression import ExpressionError, parse
from nn.cli import main

with np.errstate(over="ignore"):
    TWO_TO_2000 = float(np.float64(2.0) ** 2000.0)   # NumPy float64: overflows to inf


def error_of(text: str, **values: float) -> Exception:
    with pytest.raises((ExpressionError, DomainError)) as caught:
        parse(text).evaluate(values)
    return caught.value


def test_a_4301_digit_literal_is_too_large_not_an_early_end() -> None:
    with pytest.raises(OverflowError):
        float(int("1" * 4300))                    # Python: beyond any float
    err = error_of("x + " + "1" * 4301, x=1.0)
    assert isinstance(err, ExpressionError)
    assert err.message == "the number is too large for a float" and err.column == 5


def test_a_nul_byte_and_escape_sequences_are_named_never_echoed() -> None:
    for text, code, column in (("x\x00", "U+0000", 2), ("x + \x1b[31m1", "U+001B", 5)):
        err = error_of(text, x=1.0)
        assert isinstance(err, ExpressionError)
        assert err.message == f"the control character {code} is not allowed"
        assert err.column == column and "\x1b" not in str(err) and "\x00" not in str(err)


def test_comments_are_refused() -> None:
    err = error_of("x * 2  # double it", x=1.0)
    assert isinstance(err, ExpressionError) and err.message.startswith("comments are not")


def test_a_flat_sum_says_chain_not_nesting() -> None:
    terms = 3000
    err = error_of("+".join(["x"] * terms), x=1.0)
    assert isinstance(err, ExpressionError) and "nested" not in err.message
    assert err.message.startswith(f"the expression chains {terms - 1} operations")
    assert str(sys.getrecursionlimit()) in err.message


@pytest.mark.parametrize("text, exact", [
    ("1e308*10", 1e308 * 10), ("x*1e308*10", 1e308 * 10), ("1e308 + 1e308", 1e308 + 1e308),
    ("-1e308 - 1e308", -1e308 - 1e308), ("2**2000", TWO_TO_2000),
])
def test_overflow_is_refused_as_log_0_and_the_literal_1e400_are(text, exact) -> None:
    assert math.isinf(exact)                      # Python's floats overflow here too
    values = {"x": 1.0} if "x" in text else {}
    err = error_of(text, **values)
    assert isinstance(err, ExpressionError) and "result overflows a float" in err.message
    for refused in ("log(0)", "1e400"):           # the same kind of refusal as these
        assert isinstance(error_of(refused), ExpressionError)


def test_the_command_line_prints_one_line_and_exits_2(capsys) -> None:
    for text in ("1e308*10", "x + \x1b[31m1", "x # note"):
        status = main(["graph", text, "--set", "x=1"])
        captured = capsys.readouterr()
        assert status == 2 and captured.out == ""
        assert len(captured.err.strip().splitlines()) == 1 and "\x1b" not in captured.err


def test_a_caret_for_a_power_says_to_write_two_stars() -> None:
    # x^2 is Python's exclusive or, and the usual first try at a square.
    err = error_of("3*x^2", x=2.0)
    assert isinstance(err, ExpressionError)
    assert err.message == ("the operator '^' is not allowed (only + - * / **; a power is "
                           "written **, as in x**2)")
    assert err.column == 1
    assert parse("3*x**2").evaluate({"x": 2.0}).data == 3 * 2.0 ** 2   # as the hint says
    other = error_of("x % 2", x=2.0)                                    # no power hint
    assert other.message == "the operator '%' is not allowed (only + - * / **)"
