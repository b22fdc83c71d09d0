"""The eager engine's numbers for a batch: the reference the compile tests compare with."""

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
