"""The eager engine's numbers for a batch, the reference the compile tests compare with,
and the comparison itself."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

import autograd
from autograd import Value


def eager_batch(fn: Callable[..., Value], rows: np.ndarray,
                params: Sequence[Value]) -> tuple[np.ndarray, float, np.ndarray]:
    """fn on every row, built and backpropagated by the eager engine: (each row's value,
    their mean, d mean / d p for every parameter).  The parameters' .grad are left at 0."""
    for p in params:
        p.grad = 0.0
    losses = [fn(*[Value(v) for v in row]) for row in rows.tolist()]
    mean = autograd.sum_values(losses) / len(losses)
    mean.backward()
    grads = np.array([p.grad for p in params])
    for p in params:
        p.grad = 0.0
    return np.array([v.data for v in losses]), mean.data, grads


RTOL = 1e-12


def assert_close(actual: object, expected: object, rtol: float = RTOL) -> None:
    """Equal to `rtol`, relative to the largest magnitude in play (a value that happens
    to be near zero is not held to a relative error its rounding cannot meet)."""
    actual = np.asarray(actual, dtype=float)
    expected = np.asarray(expected, dtype=float)
    scale = max(np.max(np.abs(expected), initial=0.0), 1e-300)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)
