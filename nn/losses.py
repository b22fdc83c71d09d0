"""Loss functions made of `Value` operations, so their gradients flow into the model.

Each takes the model's outputs for a batch and the targets, and returns one `Value`:

* `mse`                 mean over examples of (prediction - target)^2
* `half_sse`            1/2 sum of (target - prediction)^2, the error of the classic
                        hand-worked examples (its derivative is prediction - target)
* `hinge`               mean of max(0, 1 - y * score), labels y in {-1, +1}
* `bce_with_logits`     mean of log(1 + e^z) - y z, labels y in {0, 1}
                        (= -y log s(z) - (1 - y) log(1 - s(z)), computed with softplus so
                        it stays finite for any logit z)
* `softmax_cross_entropy` mean of logsumexp(z) - z_y for class indices y; the maximum
                        logit is subtracted first (log-sum-exp trick) so exp never overflows
* `l2_penalty`          alpha * sum of p^2 over parameters

Predictions may be a single Value (one example) or a sequence; a model output of a
list of Values counts as one example for `softmax_cross_entropy` and, when every list
has one element, as that element elsewhere.

Everything else known about a loss -- the names it goes by, how it combines a batch's
examples, what accuracy means for it, whether ``fit(compiled=True)`` can run it, and its
NumPy form for `nn.reference` -- lives in its `Loss` record in `RECORDS`; `find_loss`
looks one up by name or by function.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

import autograd
from autograd import Value

__all__ = ["mse", "half_sse", "hinge", "bce_with_logits", "softmax_cross_entropy",
           "l2_penalty", "Loss", "MatrixForm", "RECORDS", "LOSSES", "find_loss", "get_loss",
           "sign_accuracy", "logit_accuracy", "argmax_accuracy"]


def _pairs(predictions: Any, targets: Any, where: str) -> tuple[list[Value], list[float]]:
    """Flatten (predictions, targets) into equally long lists of Values and floats."""
    if isinstance(predictions, Value) or isinstance(predictions, (int, float)):
        predictions = [predictions]
    if isinstance(targets, np.ndarray):
        targets = targets.reshape(-1).tolist()
    elif isinstance(targets, (int, float, np.number)):
        targets = [targets]
    preds = []
    for p in predictions:
        if isinstance(p, (list, tuple)):  # a one-output model returns a Value, but be kind
            if len(p) != 1:
                raise ValueError(f"{where}: each prediction must be one Value, got a list of "
                                 f"{len(p)}; use softmax_cross_entropy for several outputs")
            p = p[0]
        preds.append(autograd.lift(p))
    ts = []
    for t in targets:
        if isinstance(t, Value):
            ts.append(t)
            continue
        try:
            ts.append(float(t))
        except (TypeError, ValueError):
            raise TypeError(f"{where}: targets must be numbers, got {type(t).__name__} "
                            f"{t!r:.40}") from None
    if len(preds) != len(ts):
        raise ValueError(f"{where}: {len(preds)} predictions but {len(ts)} targets")
    if not preds:
        raise ValueError(f"{where}: needs at least one prediction, got none")
    return preds, ts


def _mean(terms: list[Value]) -> Value:
    return autograd.sum_values(terms) * (1.0 / len(terms))


def mse(predictions: Any, targets: Any) -> Value:
    """Mean squared error: (1/n) sum_i (p_i - t_i)^2."""
    preds, ts = _pairs(predictions, targets, "mse")
    return _mean([(p - t) ** 2 for p, t in zip(preds, ts)])


def half_sse(predictions: Any, targets: Any) -> Value:
    """Half the sum of squared errors: sum_i 1/2 (t_i - p_i)^2 (no mean).

    This is E_total of the classic 2-2-2 worked example; dE/dp_i = p_i - t_i.
    """
    preds, ts = _pairs(predictions, targets, "half_sse")
    return autograd.sum_values([0.5 * (t - p) ** 2 for p, t in zip(preds, ts)])


def hinge(scores: Any, labels: Any) -> Value:
    """Max-margin (SVM) loss: (1/n) sum_i max(0, 1 - y_i s_i), labels y_i in {-1, +1}."""
    preds, ys = _pairs(scores, labels, "hinge")
    for y in ys:
        if not isinstance(y, Value) and y not in (-1.0, 1.0):
            raise ValueError(f"hinge: labels must be -1 or +1, got {y!r}")
    return _mean([(1.0 - y * s).relu() for s, y in zip(preds, ys)])


def bce_with_logits(logits: Any, labels: Any) -> Value:
    """Binary cross-entropy on logits: (1/n) sum_i softplus(z_i) - y_i z_i, y_i in [0, 1].

    softplus(z) = log(1 + e^z) is computed stably, so a logit of +-1000 gives a finite
    loss and a gradient of s(z) - y.
    """
    preds, ys = _pairs(logits, labels, "bce_with_logits")
    for y in ys:
        if not isinstance(y, Value) and not 0.0 <= y <= 1.0:
            raise ValueError(f"bce_with_logits: labels must lie in [0, 1], got {y!r}")
    return _mean([z.softplus() - y * z for z, y in zip(preds, ys)])


def _logsumexp(z: Sequence[Value]) -> Value:
    # The shift m is a constant (its derivative would cancel anyway), so exp(z_i - m) <= 1.
    m = max(v.data for v in z)
    return autograd.sum_values([(v - m).exp() for v in z]).log() + m


def softmax_cross_entropy(logits: Any, classes: Any) -> Value:
    """(1/n) sum_i [log sum_k e^{z_ik} - z_{i,y_i}] for integer classes y_i.

    `logits` is one list of Values per example (or a single list for one example).
    """
    where = "softmax_cross_entropy"
    single = bool(logits) and isinstance(logits[0], (Value, int, float))
    if single:
        logits = [logits]
    if isinstance(classes, np.ndarray):
        classes = classes.reshape(-1).tolist()
    elif isinstance(classes, (int, np.integer)):
        classes = [classes]
    if single and len(classes) > 1 and len(logits[0]) == len(classes):
        # One number per example (a model with a single output), as nn.fit passes them.
        raise ValueError(f"{where}: got one number per example for {len(classes)} targets; "
                         "it needs a list of logits per example, one per class (a model "
                         "with as many outputs as classes)")
    if len(logits) != len(classes):
        raise ValueError(f"{where}: {len(logits)} predictions but {len(classes)} targets")
    if not logits:
        raise ValueError(f"{where}: needs at least one prediction, got none")
    terms = []
    for row, c in zip(logits, classes):
        row = [autograd.lift(v) for v in row]
        try:
            k = float(c)
        except (TypeError, ValueError):
            raise TypeError(f"{where}: classes must be numbers, got {type(c).__name__} "
                            f"{c!r:.40}") from None
        # is_integer() is False for NaN and infinity, which int() cannot convert.
        if not k.is_integer() or not 0 <= k < len(row):
            raise ValueError(f"{where}: class must be an integer in [0, {len(row)}), got {c!r}")
        terms.append(_logsumexp(row) - row[int(k)])
    return _mean(terms)


def l2_penalty(parameters: Sequence[Value], alpha: float = 1.0) -> Value:
    """alpha * sum_p p^2, as one dot node (p . p); its gradient is 2 alpha p."""
    params = list(parameters)
    if not params:
        raise ValueError("l2_penalty: needs at least one parameter, got none")
    if not math.isfinite(alpha) or alpha < 0:
        raise ValueError(f"l2_penalty: alpha must be a finite number >= 0, got {alpha!r}")
    return alpha * autograd.dot(params, params, 0.0)


# -- accuracy, from the output numbers (n,) or (n, k) and the targets -------------------------

def sign_accuracy(out: np.ndarray, y: np.ndarray) -> float:
    """The fraction of scores whose sign is the label's (labels -1 and +1)."""
    return float(np.mean((out > 0) == (y > 0)))


def logit_accuracy(out: np.ndarray, y: np.ndarray) -> float:
    """The fraction of logits on the label's side of 0 (labels 0 and 1)."""
    return float(np.mean((out > 0) == (y > 0.5)))


def argmax_accuracy(out: np.ndarray, y: np.ndarray) -> float:
    """The fraction of examples whose largest logit is the one of their class."""
    return float(np.mean(np.argmax(out, axis=1) == y))


# -- the same losses in NumPy, for the reference network -------------------------------------

@dataclass(frozen=True)
class MatrixForm:
    """A loss written in NumPy for a batch of outputs A and targets Y, both (m, K).

    ``value(A, Y)`` is each example's loss, shape (m,); ``slope(A, Y)`` is dLoss/dA, shape
    (m, K).  `nn.reference` checks the engine with these: they are written here apart from
    the Value functions on purpose, as an independent peer.
    """

    value: Callable[[np.ndarray, np.ndarray], np.ndarray]
    slope: Callable[[np.ndarray, np.ndarray], np.ndarray]


_HALF_SSE_MATRIX = MatrixForm(
    value=lambda A, Y: 0.5 * np.sum((A - Y) ** 2, axis=1),
    slope=lambda A, Y: A - Y)
_MSE_MATRIX = MatrixForm(  # the mean over the K outputs of one example
    value=lambda A, Y: np.sum((A - Y) ** 2, axis=1) / A.shape[1],
    slope=lambda A, Y: 2.0 * (A - Y) / A.shape[1])


# -- one record per loss ------------------------------------------------------------------

Accuracy = Callable[[np.ndarray, np.ndarray], float]


@dataclass(frozen=True)
class Loss:
    """Everything `nn` knows about one loss, in one place.

    ``names``         the names `fit` and `evaluate` accept; the first is the loss's own
    ``function``      (outputs, targets) -> Value: the loss of a batch
    ``reduction``     how that combines the examples' losses, ``"mean"`` or ``"sum"`` (None
                      when not known: a function of the user's)
    ``accuracy``      (output numbers, targets) -> the fraction right, None for regression
    ``not_compiled``  why ``fit(compiled=True)`` cannot run it, "" when it can (compile
                      records one example's graph and combines the examples by
                      ``reduction``, so that graph must not depend on the data)
    ``matrix``        its NumPy form for `nn.reference`, None when the reference lacks it
    """

    names: tuple[str, ...]
    function: Callable[..., Value]
    reduction: str | None
    accuracy: Accuracy | None = None
    not_compiled: str = ""
    matrix: MatrixForm | None = None

    @property
    def name(self) -> str | None:
        """The loss's own name, None for a function of the user's."""
        return self.names[0] if self.names else None

    @classmethod
    def custom(cls, function: Callable[..., Value]) -> Loss:
        """The record of a loss function the user wrote: only the function is known."""
        return cls((), function, None, not_compiled="a custom loss function (how it "
                   "combines the examples of a batch is not known)")


RECORDS: tuple[Loss, ...] = (
    Loss(("mse",), mse, "mean", matrix=_MSE_MATRIX),
    Loss(("half_sse",), half_sse, "sum", matrix=_HALF_SSE_MATRIX),
    Loss(("hinge",), hinge, "mean", sign_accuracy),
    Loss(("bce", "bce_with_logits"), bce_with_logits, "mean", logit_accuracy),
    Loss(("cross_entropy", "softmax_cross_entropy"), softmax_cross_entropy, "mean",
         argmax_accuracy, not_compiled="softmax cross-entropy shifts each example by its "
         "own largest logit, so its graph depends on the data"),
)

_BY_NAME: dict[str, Loss] = {name: record for record in RECORDS for name in record.names}

# name -> function, as before the records (the public table).
LOSSES: dict[str, Callable[..., Value]] = {name: record.function
                                           for name, record in _BY_NAME.items()}


def find_loss(loss: str | Callable[..., Value]) -> Loss:
    """The record of a loss given by name or as a function (`Loss.custom` for a function
    that is none of the records')."""
    if callable(loss):
        return next((record for record in RECORDS if record.function is loss),
                    None) or Loss.custom(loss)
    if loss not in _BY_NAME:
        raise ValueError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)} "
                         "or pass a function (predictions, targets) -> Value")
    return _BY_NAME[loss]


def get_loss(loss: str | Callable[..., Value]) -> Callable[..., Value]:
    """A loss function from its name (see `LOSSES`) or the callable itself."""
    return find_loss(loss).function
