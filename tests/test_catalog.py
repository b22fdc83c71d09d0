"""docs/operations.md's DomainError column agrees with what the operations do."""

from __future__ import annotations

import pytest

import autograd
from autograd import DomainError, Value
from autograd.catalog import operation_table


def _column(name: str) -> str:
    row = next(line for line in operation_table().splitlines()
               if line.startswith(f"| `{name}` |"))
    return row.rstrip(" |").rsplit("|", 1)[1].strip()


@pytest.mark.parametrize("build", [
    lambda: autograd.sum_values([Value(1e308), Value(1e308)]),
    lambda: autograd.dot([Value(1e308), Value(1e308)], [1.0, 1.0], 0.0),
], ids=["sum", "dot"])
def test_fsum_operations_raise_on_overflow_and_the_table_says_so(build) -> None:
    with pytest.raises(DomainError, match="overflow"):
        build()


@pytest.mark.parametrize("name", ["sum", "dot"])
def test_table_marks_fsum_operations_as_raising(name: str) -> None:
    assert _column(name) == "yes"


def test_table_marks_plain_arithmetic_as_not_raising() -> None:
    assert (Value(1e308) + Value(1e308)).data == float("inf")
    assert _column("+") == "no"
