"""`fit`: the training loop, with the stopping rules of the seeds.

One epoch = one pass over the training set in minibatches.  For each batch: forward
every example through the model, compute the loss (plus ``l2 * sum p^2`` if asked),
zero the gradients, backpropagate, and let the optimizer step.

Training stops at the first of:

* ``max_epochs``     -- `epochs` epochs are done;
* ``target_loss``    -- the epoch's training loss is at or below `target_loss`;
* ``early_stopping`` -- the validation loss has not improved for `patience` epochs (the
  weights of the best validation epoch are put back unless ``restore_best=False``);
* ``non_finite``     -- a loss or gradient became NaN or infinite, or an operation left its
  domain (exp overflow...): the weights that last gave a finite loss are put back, a
  `RuntimeWarning` says what happened, and the history's ``message`` repeats it.

The progress bar is plain text on stderr (``verbose=False`` turns it off); the bar within
an epoch is drawn on a terminal only, a file or a pipe gets one line per epoch.
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, TextIO

import numpy as np

import autograd
from autograd import Value

from .data import minibatches, train_val_split
from .losses import LOSSES, get_loss, l2_penalty
from .module import Module
from .optim import SGD, Optimizer

__all__ = ["fit", "History", "predict", "evaluate", "ACCURACY"]


@dataclass
class History:
    """What happened during `fit`, one entry per completed epoch.

    ``loss`` is the mean training objective over the epoch's batches (data loss plus the
    L2 term), ``val_loss`` the data loss on the validation set after the epoch.
    Accuracies are fractions in [0, 1], or None when the loss has no notion of it.
    Also readable as a dict: ``history['loss']``.
    """

    loss: list[float] = field(default_factory=list)
    accuracy: list[float | None] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float | None] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    epochs: int = 0
    stop_reason: str = ""
    message: str = ""
    best_epoch: int | None = None
    seconds: float = 0.0

    def __getitem__(self, key: str) -> Any:
        if key not in self.__dataclass_fields__:
            raise KeyError(f"History has no entry {key!r}; it has "
                           f"{', '.join(self.__dataclass_fields__)}")
        return getattr(self, key)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- accuracy, from output numbers (n,) or (n, k) and targets -------------------------------

def _sign_accuracy(out: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean((out > 0) == (y > 0)))


def _logit_accuracy(out: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean((out > 0) == (y > 0.5)))


def _argmax_accuracy(out: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.argmax(out, axis=1) == y))


ACCURACY: dict[str, Callable[[np.ndarray, np.ndarray], float] | None] = {
    "hinge": _sign_accuracy,
    "bce": _logit_accuracy,
    "bce_with_logits": _logit_accuracy,
    "cross_entropy": _argmax_accuracy,
    "softmax_cross_entropy": _argmax_accuracy,
    "mse": None,
    "half_sse": None,
}


def _loss_name(loss: Any) -> str | None:
    """The name of a loss given by name or as one of `LOSSES`' functions (None: custom)."""
    if isinstance(loss, str):
        return loss
    return next((name for name, fn in LOSSES.items() if fn is loss), None)


def _accuracy_for(loss: Any, accuracy: Any) -> Callable[[np.ndarray, np.ndarray], float] | None:
    if accuracy == "auto":
        name = _loss_name(loss)
        return None if name is None else ACCURACY.get(name)
    if accuracy is None or callable(accuracy):
        return accuracy
    raise ValueError(f"fit: accuracy must be 'auto', None or a function (outputs, y) -> "
                     f"float, got {accuracy!r}")


def _numbers(outputs: Sequence[Any]) -> np.ndarray:
    """Model outputs (Values or lists of Values) as a float array (n,) or (n, k)."""
    first = outputs[0]
    if isinstance(first, (list, tuple)):
        return np.array([[v.data for v in row] for row in outputs], dtype=np.float64)
    return np.array([v.data for v in outputs], dtype=np.float64)


def predict(model: Module, X: np.ndarray) -> np.ndarray:
    """Model outputs for every row of X as numbers, computed without recording a graph."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim and len(X) == 0:
        raise ValueError("predict: X has no rows: there is nothing to predict")
    with autograd.no_grad():
        return _numbers([model(row) for row in X.tolist()])


def evaluate(model: Module, X: np.ndarray, y: np.ndarray, loss: Any = "mse",
             accuracy: Any = "auto") -> tuple[float, float | None]:
    """(loss, accuracy) of the model on (X, y), without recording a graph."""
    loss_fn = get_loss(loss)
    acc_fn = _accuracy_for(loss, accuracy)
    X = np.asarray(X, dtype=np.float64)
    with autograd.no_grad():
        outputs = [model(row) for row in X.tolist()]
        value = loss_fn(outputs, y).data
    acc = acc_fn(_numbers(outputs), np.asarray(y)) if acc_fn is not None else None
    return value, acc


class _Progress:
    """A one-line text progress bar for the batches of an epoch, then one line per epoch."""

    def __init__(self, file: TextIO, epochs: int, batches: int, enabled: bool) -> None:
        self.file, self.epochs, self.batches, self.enabled = file, epochs, batches, enabled
        self.width = len(str(epochs))
        # The bar redraws itself with carriage returns, which only a terminal undoes: in a
        # log file or a pipe every redraw would stay, so there only the epoch lines go.
        isatty = getattr(file, "isatty", None)
        self.bar = bool(isatty()) if callable(isatty) else False

    def batch(self, epoch: int, done: int, loss: float) -> None:
        if not self.enabled or not self.bar or self.batches < 2:
            return
        filled = round(20 * done / self.batches)
        self.file.write(f"\repoch {epoch:>{self.width}}/{self.epochs} "
                        f"[{'#' * filled}{'.' * (20 - filled)}] {done}/{self.batches} "
                        f"loss {loss:.4f}")
        self.file.flush()

    def epoch(self, epoch: int, history: History) -> None:
        if not self.enabled:
            return
        parts = [f"epoch {epoch:>{self.width}}/{self.epochs}", f"loss {history.loss[-1]:.4f}"]
        if history.accuracy[-1] is not None:
            parts.append(f"acc {100 * history.accuracy[-1]:5.1f}%")
        if history.val_loss:
            parts.append(f"val_loss {history.val_loss[-1]:.4f}")
            if history.val_accuracy[-1] is not None:
                parts.append(f"val_acc {100 * history.val_accuracy[-1]:5.1f}%")
        line = "  ".join(parts)
        self.file.write("\r" + line + " " * 12 + "\n" if self.bar else line + "\n")
        self.file.flush()

    def say(self, text: str) -> None:
        if self.enabled:
            self.file.write(text + "\n")
            self.file.flush()


# How each named loss combines its examples, for the compiled path: the compiled
# function returns one example's loss, and `reduction` rebuilds the batch's.
_COMPILED_REDUCTIONS = {"mse": "mean", "hinge": "mean", "bce": "mean",
                        "bce_with_logits": "mean", "half_sse": "sum"}


def _compile_for_fit(model: Module, loss: Any, loss_fn: Callable[..., Value], y: np.ndarray,
                     need_outputs: bool) -> tuple[Any, Any, str]:
    """The compiled per-example loss (and model output, for the accuracy) for `fit`."""
    name = _loss_name(loss)
    if name not in _COMPILED_REDUCTIONS:
        if name is None:
            what = ("a custom loss function (how it combines the examples of a batch is "
                    "not known)")
        elif LOSSES.get(name) is LOSSES["cross_entropy"]:
            what = (f"{name!r} (softmax cross-entropy shifts each example by its own "
                    "largest logit, so its graph depends on the data)")
        else:
            what = repr(name)
        raise ValueError(f"fit: compiled=True works with the losses "
                         f"{', '.join(_COMPILED_REDUCTIONS)}, not {what}; use compiled=False")
    if y.ndim != 1:
        raise ValueError(f"fit: compiled=True needs one target number per example, got y of "
                         f"shape {y.shape}")
    with autograd.no_grad():  # the loss's own check of the targets (hinge wants +-1...)
        loss_fn([Value(0.0) for _ in range(len(y))], y)
    nin = model.nin

    def example_loss(*values: Value) -> Value:
        return loss_fn([model(values[:nin])], [values[nin]])

    def example_output(*values: Value) -> Value:
        return model(values)

    outputs = autograd.compile(example_output, nin) if need_outputs else None
    return autograd.compile(example_loss, nin + 1), outputs, _COMPILED_REDUCTIONS[name]


def _check_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"fit: {name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def fit(model: Module, X: Any, y: Any, *, loss: str | Callable[..., Value] = "mse",
        optimizer: Optimizer | None = None, epochs: int = 100, batch_size: int | None = None,
        validation: float | tuple[Any, Any] | None = None, patience: int | None = None,
        target_loss: float | None = None, l2: float = 0.0, accuracy: Any = "auto",
        shuffle: bool = True, seed: int | None = None, restore_best: bool = True,
        verbose: bool = True, file: TextIO | None = None, compiled: bool = False) -> History:
    """Train `model` on (X, y) and return the `History`.

    `loss` is a name from `nn.losses.LOSSES` or a function (outputs, targets) -> Value;
    `optimizer` defaults to ``SGD(model.parameters(), lr=0.1)``; ``batch_size=None`` trains
    on the full batch; `validation` is a fraction of (X, y) to hold out (split with `seed`)
    or an ``(X_val, y_val)`` pair; `patience` (needs validation) stops after that many
    epochs without a lower validation loss; `target_loss` stops once the epoch's training
    loss is at or below it; ``l2`` adds ``l2 * sum p^2`` over the model's parameters.
    ``compiled=True`` runs each batch through `autograd.compile` (same numbers, NumPy
    speed; a one-output model and the loss mse, half_sse, hinge or bce only).
    """
    try:
        X = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"fit: X must hold numbers only ({err})") from None
    y = np.asarray(y)
    if X.ndim != 2:
        raise ValueError(f"fit: X must be 2-D (examples x features), got shape {X.shape}")
    if len(X) == 0:
        raise ValueError("fit: X has no rows: there is nothing to train on")
    if len(y) != len(X):
        raise ValueError(f"fit: X has {len(X)} rows but y has {len(y)} targets")
    if not np.all(np.isfinite(X)):
        raise ValueError("fit: X holds NaN or infinite numbers")
    epochs = _check_int(epochs, "epochs", 1)
    if batch_size is not None:
        batch_size = _check_int(batch_size, "batch_size", 1)
    if patience is not None:
        patience = _check_int(patience, "patience", 1)
        if validation is None:
            raise ValueError("fit: patience (early stopping) needs validation= data")
    if target_loss is not None and not isinstance(target_loss, (int, float)):
        raise ValueError(f"fit: target_loss must be a number, got {target_loss!r}")
    if not isinstance(l2, (int, float)) or not math.isfinite(l2) or l2 < 0:
        raise ValueError(f"fit: l2 must be a finite number >= 0, got {l2!r}")
    loss_fn = get_loss(loss)
    acc_fn = _accuracy_for(loss, accuracy)
    params = model.parameters()
    if optimizer is None:
        optimizer = SGD(params, lr=0.1)
    elif not isinstance(optimizer, Optimizer):
        raise TypeError(f"fit: optimizer must be an nn.optim.Optimizer, "
                        f"got {type(optimizer).__name__}")

    if validation is None:
        X_val = y_val = None
    elif isinstance(validation, (int, float)) and not isinstance(validation, bool):
        X, y, X_val, y_val = train_val_split(X, y, float(validation), seed=seed)
    elif isinstance(validation, (tuple, list)) and len(validation) == 2:
        X_val = np.asarray(validation[0], dtype=np.float64)
        y_val = np.asarray(validation[1])
        if X_val.ndim != 2 or len(X_val) != len(y_val) or X_val.shape[1] != X.shape[1]:
            raise ValueError(f"fit: validation must be (X_val, y_val) with {X.shape[1]} "
                             f"features per row, got shapes {X_val.shape} and {y_val.shape}")
    else:
        raise ValueError(f"fit: validation must be a fraction or an (X_val, y_val) pair, "
                         f"got {type(validation).__name__}")

    step_c, outputs_c, reduction = (_compile_for_fit(model, loss, loss_fn, y, acc_fn is not None)
                                    if compiled else (None, None, "mean"))
    rng = np.random.default_rng(seed)
    n_batches = math.ceil(len(X) / (batch_size or len(X)))
    bar = _Progress(file or sys.stderr, epochs, n_batches, verbose)
    history = History()
    best_val, best_weights, stale = math.inf, None, 0
    started = time.perf_counter()

    def stop(reason: str, message: str) -> History:
        history.stop_reason, history.message = reason, message
        history.seconds = time.perf_counter() - started
        if message:
            bar.say(message)
        return history

    for epoch in range(1, epochs + 1):
        total, scores_seen, targets_seen = 0.0, [], []
        lr_used = optimizer.lr
        for done, (Xb, yb) in enumerate(minibatches(X, y, batch_size, shuffle, rng), 1):
            good = [p.data for p in params]  # the weights this batch starts from
            problem = ""
            penalty = None
            try:
                if step_c is None:
                    outputs = [model(row) for row in Xb.tolist()]
                    objective = loss_fn(outputs, yb)
                    if l2:
                        objective = objective + l2_penalty(params, l2)
                    # The numbers for the accuracy only: no batch's graph outlives its step.
                    scores = _numbers(outputs) if acc_fn is not None else None
                else:  # the compiled step computes the loss and its gradient together
                    optimizer.zero_grad()
                    value = step_c.backward(np.column_stack([Xb, yb]), reduction)
                    penalty = l2_penalty(params, l2) if l2 else None
                    objective = Value(value + (penalty.data if penalty is not None else 0.0))
                    scores = outputs_c(Xb) if outputs_c is not None else None
            except autograd.DomainError as err:
                problem = f"an operation left its domain ({err})"
            else:
                if not math.isfinite(objective.data):
                    problem = f"the loss is {objective.data}"
                else:
                    if step_c is None:
                        optimizer.zero_grad()
                        objective.backward()
                    elif penalty is not None:
                        penalty.backward()
                    if not all(math.isfinite(p.grad) for p in params):
                        bad = next(name for name, p in model.named_parameters()
                                   if not math.isfinite(p.grad))
                        problem = f"the gradient of {bad} is not finite"
            if problem:
                with autograd.no_grad():
                    for p, value in zip(params, good):
                        p.data = value
                message = (f"fit: stopped in epoch {epoch}, batch {done}: {problem}; the "
                           "weights that last gave a finite loss are kept")
                warnings.warn(message, RuntimeWarning, stacklevel=2)
                return stop("non_finite", message)
            optimizer.step()
            total += objective.data * len(Xb)
            if scores is not None:
                scores_seen.append(scores)
            targets_seen.append(yb)
            bar.batch(epoch, done, objective.data)

        history.epochs = epoch
        history.lr.append(lr_used)
        history.loss.append(total / len(X))
        seen_y = np.concatenate(targets_seen)
        history.accuracy.append(acc_fn(np.concatenate(scores_seen), seen_y) if acc_fn else None)
        if X_val is not None:
            if step_c is not None:  # the compiled functions evaluate the whole set at once
                per_example = step_c(np.column_stack([X_val, y_val])).tolist()
                val_loss = math.fsum(per_example) / (len(per_example)
                                                     if reduction == "mean" else 1)
                val_acc = (acc_fn(outputs_c(X_val), np.asarray(y_val))
                           if acc_fn is not None and outputs_c is not None else None)
            else:
                val_loss, val_acc = evaluate(model, X_val, y_val, loss_fn, accuracy=acc_fn)
            history.val_loss.append(val_loss)
            history.val_accuracy.append(val_acc)
        bar.epoch(epoch, history)

        if X_val is not None:
            if history.val_loss[-1] < best_val:
                best_val, stale, history.best_epoch = history.val_loss[-1], 0, epoch
                best_weights = [p.data for p in params]
            else:
                stale += 1
            if patience is not None and stale >= patience:
                if restore_best and best_weights is not None:
                    with autograd.no_grad():
                        for p, value in zip(params, best_weights):
                            p.data = value
                return stop("early_stopping",
                            f"fit: validation loss did not improve for {patience} epochs; "
                            f"best was {best_val:.6g} at epoch {history.best_epoch}"
                            + (" (its weights are restored)" if restore_best else ""))
        if target_loss is not None and history.loss[-1] <= target_loss:
            return stop("target_loss", "")
    return stop("max_epochs", "")
