"""One batch of `fit`: forward, loss and backward, eager or compiled.

A step object takes a batch, computes the batch's objective (the loss, plus the L2 term
when asked) and leaves its gradient in every parameter's ``.grad``; what to do with the
gradient is the optimizer's business, and when to stop is `fit`'s.  Two implementations
give the same numbers:

* `EagerStep` builds every example's graph with the engine and calls ``backward`` on
  the batch's objective;
* `CompiledStep` records one example's graph once with `autograd.compile` and runs each
  batch through it with NumPy, combining the examples as the loss record's
  ``reduction`` says (one-output models, and losses whose record says they compile).

Both raise `NonFinite`, naming the reason, when an operation leaves its domain or the
objective or a gradient is NaN or infinite; the parameters' ``.data`` is never touched.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import autograd
from autograd import Value

from .inference import evaluate, output_numbers
from .losses import RECORDS, Accuracy, Loss, l2_penalty
from .module import Module

__all__ = ["Step", "EagerStep", "CompiledStep", "Batch", "NonFinite"]


class NonFinite(Exception):
    """A batch gave no usable gradient; the message says why (its loss is nan, ...)."""


@dataclass(frozen=True)
class Batch:
    """What a step reports for one batch: its objective and, when an accuracy is wanted,
    the model's outputs as numbers."""

    loss: float
    scores: np.ndarray | None


class Step:
    """The part both implementations share: the model, the loss record, the L2 factor and
    the order of the work.  Subclasses define `_forward`, `_backward` and `validate`."""

    def __init__(self, model: Module, loss: Loss, l2: float, accuracy: Accuracy | None,
                 zero_grad: Callable[[], None]) -> None:
        self.model, self.loss, self.l2, self.accuracy = model, loss, l2, accuracy
        self.zero_grad = zero_grad
        self.params = model.parameters()

    def __call__(self, X: np.ndarray, y: np.ndarray) -> Batch:
        """Forward, loss and backward for the batch (X, y): the gradient of its objective
        is left in the parameters' ``.grad``.  Raises `NonFinite`."""
        try:
            batch = self._forward(X, y)
        except autograd.DomainError as err:
            raise NonFinite(f"an operation left its domain ({err})") from None
        if not math.isfinite(batch.loss):  # no usable gradient: no backward pass
            raise NonFinite(f"the loss is {batch.loss}")
        self._backward()
        if not all(math.isfinite(p.grad) for p in self.params):
            bad = next(name for name, p in self.model.named_parameters()
                       if not math.isfinite(p.grad))
            raise NonFinite(f"the gradient of {bad} is not finite")
        return batch

    def _forward(self, X: np.ndarray, y: np.ndarray) -> Batch:
        """The batch's objective (and scores); the gradient may be left for `_backward`."""
        raise NotImplementedError  # pragma: no cover - subclasses define it

    def _backward(self) -> None:
        """Complete the gradient of the objective `_forward` computed last."""
        raise NotImplementedError  # pragma: no cover - subclasses define it

    def validate(self, X: np.ndarray, y: np.ndarray) -> tuple[float, float | None]:
        """(data loss, accuracy) on a held-out set, without recording a graph."""
        raise NotImplementedError  # pragma: no cover - subclasses define it


class EagerStep(Step):
    """Every example's graph built by the engine; one ``backward`` per batch."""

    _objective: Value | None = None

    def _forward(self, X: np.ndarray, y: np.ndarray) -> Batch:
        self._objective = None
        outputs = [self.model(row) for row in X.tolist()]
        objective = self.loss.function(outputs, y)
        if self.l2:
            objective = objective + l2_penalty(self.params, self.l2)
        self._objective = objective
        # The numbers for the accuracy only: no batch's graph outlives its step.
        scores = output_numbers(outputs) if self.accuracy is not None else None
        return Batch(objective.data, scores)

    def _backward(self) -> None:
        objective, self._objective = self._objective, None
        self.zero_grad()
        if objective is not None:
            objective.backward()

    def validate(self, X: np.ndarray, y: np.ndarray) -> tuple[float, float | None]:
        return evaluate(self.model, X, y, self.loss.function, accuracy=self.accuracy)


class CompiledStep(Step):
    """One example's loss recorded once with `autograd.compile`, run for a whole batch with
    NumPy; the model's output is compiled too when an accuracy is wanted."""

    def __init__(self, model: Module, loss: Loss, l2: float, accuracy: Accuracy | None,
                 zero_grad: Callable[[], None], y: np.ndarray, shown_as: Any = None) -> None:
        super().__init__(model, loss, l2, accuracy, zero_grad)
        if loss.not_compiled:
            what = (loss.not_compiled if loss.name is None
                    else f"{shown_as or loss.name!r} ({loss.not_compiled})")
            compilable = [record.name for record in RECORDS if not record.not_compiled]
            raise ValueError(f"fit: compiled=True works with the losses "
                             f"{', '.join(compilable)}, not {what}; use compiled=False")
        if y.ndim != 1:
            raise ValueError(f"fit: compiled=True needs one target number per example, got "
                             f"y of shape {y.shape}")
        with autograd.no_grad():  # the loss's own check of the targets (hinge wants +-1...)
            loss.function([Value(0.0) for _ in range(len(y))], y)
        nin, loss_fn = model.nin, loss.function

        def example_loss(*values: Value) -> Value:
            return loss_fn([model(values[:nin])], [values[nin]])

        def example_output(*values: Value) -> Value:
            return model(values)

        self.example_loss = autograd.compile(example_loss, nin + 1)
        self.example_output = (autograd.compile(example_output, nin)
                               if accuracy is not None else None)

    _penalty: Value | None = None

    def _forward(self, X: np.ndarray, y: np.ndarray) -> Batch:
        # The compiled function computes the data loss and its gradient together; the
        # L2 term's gradient waits for `_backward`.
        self.zero_grad()
        value = self.example_loss.backward(np.column_stack([X, y]), self.loss.reduction)
        self._penalty = l2_penalty(self.params, self.l2) if self.l2 else None
        objective = value + (self._penalty.data if self._penalty is not None else 0.0)
        scores = self.example_output(X) if self.example_output is not None else None
        return Batch(objective, scores)

    def _backward(self) -> None:
        penalty, self._penalty = self._penalty, None
        if penalty is not None:
            penalty.backward()

    def validate(self, X: np.ndarray, y: np.ndarray) -> tuple[float, float | None]:
        # The compiled functions evaluate the whole set at once.
        per_example = self.example_loss(np.column_stack([X, y])).tolist()
        loss = math.fsum(per_example) / (len(per_example)
                                         if self.loss.reduction == "mean" else 1)
        accuracy = (self.accuracy(self.example_output(X), np.asarray(y))
                    if self.accuracy is not None and self.example_output is not None
                    else None)
        return loss, accuracy
