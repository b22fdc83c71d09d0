"""A trained model's outputs and scores, computed without recording a graph.

`predict` gives the model's outputs for every row as numbers; `evaluate` gives the loss and
the accuracy on a data set.  `fit` uses the same pieces for its validation and accuracy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

import autograd

from .losses import Accuracy, find_loss
from .module import Module

__all__ = ["predict", "evaluate", "output_numbers", "accuracy_function"]


def output_numbers(outputs: Sequence[Any]) -> np.ndarray:
    """Model outputs (Values or lists of Values) as a float array (n,) or (n, k)."""
    first = outputs[0]
    if isinstance(first, (list, tuple)):
        return np.array([[v.data for v in row] for row in outputs], dtype=np.float64)
    return np.array([v.data for v in outputs], dtype=np.float64)


def accuracy_function(loss: Any, accuracy: Any) -> Accuracy | None:
    """The accuracy to report: the loss record's for ``"auto"``, else the caller's own
    function, or None."""
    if accuracy == "auto":
        return find_loss(loss).accuracy
    if accuracy is None or callable(accuracy):
        return accuracy
    raise ValueError(f"fit: accuracy must be 'auto', None or a function (outputs, y) -> "
                     f"float, got {accuracy!r}")


def predict(model: Module, X: np.ndarray) -> np.ndarray:
    """Model outputs for every row of X as numbers, computed without recording a graph."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim and len(X) == 0:
        raise ValueError("predict: X has no rows: there is nothing to predict")
    with autograd.no_grad():
        return output_numbers([model(row) for row in X.tolist()])


def evaluate(model: Module, X: np.ndarray, y: np.ndarray, loss: Any = "mse",
             accuracy: Any = "auto") -> tuple[float, float | None]:
    """(loss, accuracy) of the model on (X, y), without recording a graph."""
    loss_fn = find_loss(loss).function
    acc_fn = accuracy_function(loss, accuracy)
    X = np.asarray(X, dtype=np.float64)
    with autograd.no_grad():
        outputs = [model(row) for row in X.tolist()]
        value = loss_fn(outputs, y).data
    acc = acc_fn(output_numbers(outputs), np.asarray(y)) if acc_fn is not None else None
    return value, acc
