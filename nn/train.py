"""`fit`: the training loop, with the stopping rules of the seeds.

One epoch = one pass over the training set in minibatches.  For each batch a step object
(`nn.step`: `EagerStep`, or `CompiledStep` with ``compiled=True``) runs the forward pass,
the loss (plus ``l2 * sum p^2`` if asked) and the backward pass, and the optimizer
updates the weights; after each epoch the validation set is scored and the stopping
rules are read.  Everything `fit` knows about a loss (its function, how it combines a
batch, its accuracy, whether it compiles) comes from its record in `nn.losses.RECORDS`.

Training stops at the first of:

* ``max_epochs``     -- `epochs` epochs are done;
* ``target_loss``    -- the epoch's training loss is at or below `target_loss`;
* ``early_stopping`` -- the validation loss has not improved for `patience` epochs (the
  weights of the best validation epoch are put back unless ``restore_best=False``);
* ``non_finite``     -- a loss or gradient became NaN or infinite, an operation left its
  domain (exp overflow...), or the optimizer's step would write a NaN or an infinity
  into a weight or into its own state (lr * gradient overflowing, say): nothing of that
  batch is applied, so the weights (and the optimizer) stay as the batch found them, a
  `RuntimeWarning` says what happened, and the history's ``message`` repeats it.

Ctrl-C stops training at a step boundary: an optimizer step is written whole or not
at all (`nn.optim`), so the model holds the weights of the last complete step; `fit`
then raises `FitInterrupted`, a `KeyboardInterrupt` whose ``history`` holds the complete
epochs (``stop_reason`` ``"interrupted"``).

Progress is plain text on stderr (``verbose=False`` turns it off): on a terminal one line
that updates in place (a bar within the epoch, then the epoch's loss and accuracy); a file
or a pipe gets a handful of epoch lines (the first, every tenth of the run, the last).
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, TextIO

import numpy as np

import autograd
from autograd import Value

from .data import minibatches, train_val_split
from .inference import accuracy_function, evaluate, predict
from .interrupts import interrupts_held
from .losses import RECORDS, Accuracy, find_loss
from .module import Module
from .optim import SGD, Optimizer, Update
from .step import Batch, CompiledStep, EagerStep, NonFinite, Step

__all__ = ["fit", "History", "FitInterrupted", "predict", "evaluate", "ACCURACY"]

# loss name -> its accuracy (None for regression), read from the loss records.
ACCURACY: dict[str, Accuracy | None] = {name: record.accuracy for record in RECORDS
                                        for name in record.names}


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


class _Progress:
    """Training progress as text: on a terminal one line, redrawn in place (the batches of
    an epoch as a bar, then the epoch's numbers); in a file or a pipe a handful of lines.

    A terminal undoes carriage returns, so there every redraw replaces the last and the
    final epoch's line is what stays.  A log file or a pipe would keep every redraw, so
    there no bar is drawn and only the first epoch, every ``epochs / LOG_LINES``-th and
    the last one epoch get a line: at most about `LOG_LINES` + 2, however long the run.
    """

    LOG_LINES = 10

    def __init__(self, file: TextIO, epochs: int, batches: int, enabled: bool) -> None:
        self.file, self.epochs, self.batches, self.enabled = file, epochs, batches, enabled
        self.width = len(str(epochs))
        self.drawn = 0  # characters on the terminal's line now, for the next one to cover
        isatty = getattr(file, "isatty", None)
        self.bar = bool(isatty()) if callable(isatty) else False
        self.every = max(1, math.ceil(epochs / self.LOG_LINES))
        self.unwritten = ""  # a log's last epoch line, if it was skipped (written at the end)

    def _redraw(self, text: str) -> None:
        """Write `text` over the terminal's current line (spaces blank what is longer)."""
        self.file.write("\r" + text + " " * max(0, self.drawn - len(text)))
        self.drawn = len(text)
        self.file.flush()

    def batch(self, epoch: int, done: int, loss: float) -> None:
        if not self.enabled or not self.bar or self.batches < 2:
            return
        filled = round(20 * done / self.batches)
        self._redraw(f"epoch {epoch:>{self.width}}/{self.epochs} "
                     f"[{'#' * filled}{'.' * (20 - filled)}] {done}/{self.batches} "
                     f"loss {loss:.4f}")

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
        if self.bar:
            self._redraw(line)
        elif epoch == 1 or epoch % self.every == 0 or epoch == self.epochs:
            self.file.write(line + "\n")
            self.file.flush()
            self.unwritten = ""
        else:
            self.unwritten = line

    def finish(self) -> None:
        """End the progress: close the terminal's line, or write a log's last epoch."""
        if not self.enabled:
            return
        if self.drawn:
            self.file.write("\n")
            self.drawn = 0
        elif self.unwritten:
            self.file.write(self.unwritten + "\n")
        self.unwritten = ""
        self.file.flush()

    def say(self, text: str) -> None:
        if self.enabled:
            self.finish()
            self.file.write(text + "\n")
            self.file.flush()


class FitInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped `fit`.  It is still a `KeyboardInterrupt` (a script or a command
    line stops as it would); ``history`` holds what was done, with ``stop_reason``
    ``"interrupted"``, and the model holds the weights of the last complete step."""

    def __init__(self, message: str, history: History) -> None:
        super().__init__(message)
        self.history = history


def fit(model: Module, X: Any, y: Any, *, loss: str | Callable[..., Value] = "mse",
        optimizer: Optimizer | None = None, epochs: int = 100, batch_size: int | None = None,
        validation: float | tuple[Any, Any] | None = None, patience: int | None = None,
        target_loss: float | None = None, l2: float = 0.0, accuracy: Any = "auto",
        shuffle: bool = True, seed: int | None = None, restore_best: bool = True,
        verbose: bool = True, file: TextIO | None = None, compiled: bool = False) -> History:
    """Train `model` on (X, y) and return the `History`.

    `loss` is a name from `nn.losses.LOSSES` or a function (outputs, targets) -> Value;
    `optimizer` defaults to ``SGD(model.parameters(), lr=0.1)`` and must hold the model's
    parameters (none of them: ValueError; only some: a RuntimeWarning, and the others are
    not trained); ``batch_size=None`` trains on the full batch; `validation` is a
    fraction of (X, y) to hold out (split with `seed`) or an ``(X_val, y_val)`` pair;
    `patience` (needs validation) stops after that many epochs without a lower validation
    loss; `target_loss` stops once the epoch's training loss is at or below it; ``l2``
    adds ``l2 * sum p^2`` over the model's parameters.
    ``compiled=True`` runs each batch through `autograd.compile` (same numbers, NumPy
    speed; a one-output model and the loss mse, half_sse, hinge or bce only).
    """
    X, y = _training_data(X, y)
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
    record = find_loss(loss)
    acc_fn = accuracy_function(loss, accuracy)
    params = model.parameters()
    optimizer = _optimizer_for(model, optimizer)
    zero_grad = _zero_grad(params, optimizer)
    X, y, X_val, y_val = _held_out(X, y, validation, seed)
    step: Step = (CompiledStep(model, record, l2, acc_fn, zero_grad, y, loss)
                  if compiled else EagerStep(model, record, l2, acc_fn, zero_grad))

    rng = np.random.default_rng(seed)
    bar = _Progress(file or sys.stderr, epochs, math.ceil(len(X) / (batch_size or len(X))),
                    verbose)
    history = History()
    best = _BestEpoch(params)
    started = time.perf_counter()

    def stop(reason: str, message: str = "") -> History:
        history.stop_reason, history.message = reason, message
        history.seconds = time.perf_counter() - started
        bar.finish()
        if message:
            bar.say(message)
        return history

    def stop_non_finite(epoch: int, batch: int, problem: NonFinite) -> History:
        # Nothing of this batch was applied: the weights are those it started from.
        message = (f"fit: stopped in epoch {epoch}, batch {batch}: {problem}; the weights "
                   "that last gave a finite loss are kept")
        bar.finish()  # the warning goes below the progress, not into its line
        warnings.warn(message, RuntimeWarning, stacklevel=3)
        return stop("non_finite", message)

    def stop_interrupted(epoch: int) -> FitInterrupted:
        # Every write of the weights is whole (Optimizer.apply, _assign): the model is at
        # a step boundary.  A half-accumulated gradient is cleared.
        for p in params:
            p.grad = 0.0
        done = optimizer.steps - steps_before
        message = (f"fit: interrupted in epoch {epoch} after {done} complete "
                   f"step{'s' if done != 1 else ''}; the weights are those of the last "
                   f"complete step, the history holds the {history.epochs} complete "
                   f"epoch{'s' if history.epochs != 1 else ''}")
        return FitInterrupted(message, stop("interrupted", message))

    steps_before, epoch = optimizer.steps, 1
    try:
        for epoch in range(1, epochs + 1):
            seen = _EpochTotals(optimizer.lr)
            for done, (Xb, yb) in enumerate(minibatches(X, y, batch_size, shuffle, rng), 1):
                try:
                    batch = step(Xb, yb)                        # forward, loss, backward
                    update = _finite_update(optimizer, model)   # the update, checked...
                except NonFinite as problem:
                    return stop_non_finite(epoch, done, problem)
                optimizer.apply(update)                         # ...and applied whole
                seen.add(batch, yb)
                bar.batch(epoch, done, batch.loss)
            validated = step.validate(X_val, y_val) if X_val is not None else None  # validate
            _record(history, epoch, seen, acc_fn, validated, best)
            bar.epoch(epoch, history)

            if patience is not None and best.stale >= patience:  # stop
                if restore_best:
                    _assign(params, best.weights)
                return stop("early_stopping",
                            f"fit: validation loss did not improve for {patience} epochs; "
                            f"best was {best.loss:.6g} at epoch {history.best_epoch}"
                            + (" (its weights are restored)" if restore_best else ""))
            if target_loss is not None and history.loss[-1] <= target_loss:
                return stop("target_loss")
        return stop("max_epochs")
    except KeyboardInterrupt:
        raise stop_interrupted(epoch) from None


def _finite_update(optimizer: Optimizer, model: Module) -> Update:
    """The optimizer's next step, refused (`NonFinite`) if it would write a NaN or an
    infinity into a weight or into the optimizer's state (a learning rate so large that
    lr * gradient overflows, say): such a step is never applied."""
    update = optimizer.propose()
    bad = update.first_non_finite()
    if bad is None:
        return update
    what, i, value = bad
    param = optimizer.params[i]
    name = next((name for name, p in model.named_parameters() if p is param),
                f"parameter {i} of the optimizer")
    target = name if what == "data" else f"the optimizer's {what} of {name}"
    raise NonFinite(f"step {update.step + 1} (learning rate {update.lr:g}) would make "
                    f"{target} {value}")


class _EpochTotals:
    """What the batches of one epoch add up to."""

    def __init__(self, lr: float) -> None:
        self.lr = lr  # the rate the epoch starts with (a schedule may change it per step)
        self.weighted_loss, self.examples = 0.0, 0
        self.scores: list[np.ndarray] = []
        self.targets: list[np.ndarray] = []

    def add(self, batch: Batch, y: np.ndarray) -> None:
        self.weighted_loss += batch.loss * len(y)
        self.examples += len(y)
        if batch.scores is not None:
            self.scores.append(batch.scores)
        self.targets.append(y)

    def accuracy(self, accuracy: Accuracy | None) -> float | None:
        if accuracy is None:
            return None
        return accuracy(np.concatenate(self.scores), np.concatenate(self.targets))


def _record(history: History, epoch: int, seen: _EpochTotals, accuracy: Accuracy | None,
            validated: tuple[float, float | None] | None, best: _BestEpoch) -> None:
    """Add one epoch to the history, all of it or none (Ctrl-C is held off), so that an
    interrupted run's history holds complete epochs only."""
    train_accuracy = seen.accuracy(accuracy)
    with interrupts_held():
        history.lr.append(seen.lr)
        history.loss.append(seen.weighted_loss / seen.examples)
        history.accuracy.append(train_accuracy)
        if validated is not None:
            history.val_loss.append(validated[0])
            history.val_accuracy.append(validated[1])
            best.after(history, epoch)
        history.epochs = epoch


class _BestEpoch:
    """The epoch with the lowest validation loss so far, its weights, and how many epochs
    have passed without a lower one (for early stopping)."""

    def __init__(self, params: list[Value]) -> None:
        self.params = params
        self.loss = math.inf
        self.weights: list[float] = []
        self.stale = 0

    def after(self, history: History, epoch: int) -> None:
        if history.val_loss[-1] < self.loss:
            self.loss, self.stale, history.best_epoch = history.val_loss[-1], 0, epoch
            self.weights = [p.data for p in self.params]
        else:
            self.stale += 1


# -- fit's checks of its arguments -----------------------------------------------------------

def _check_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"fit: {name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _training_data(X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
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
    return X, y


def _optimizer_for(model: Module, optimizer: Any) -> Optimizer:
    """The optimizer to train with, which must hold the model's parameters: one that holds
    none of them would train nothing (an error), one that holds some leaves the others as
    they are (a warning, since freezing part of a model can be meant)."""
    if optimizer is None:
        return SGD(model.parameters(), lr=0.1)
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"fit: optimizer must be an nn.optim.Optimizer, "
                        f"got {type(optimizer).__name__}")
    held, named = {id(p) for p in optimizer.params}, model.named_parameters()
    left_out = [name for name, p in named if id(p) not in held]
    if len(left_out) == len(named):
        raise ValueError(f"fit: the optimizer holds none of the model's {len(named)} "
                         f"parameters (it holds {len(optimizer.params)} others), so training "
                         "would change nothing; build it from model.parameters()")
    if left_out:
        shown = ", ".join(left_out[:3]) + (", ..." if len(left_out) > 3 else "")
        warnings.warn(f"fit: the optimizer holds {len(named) - len(left_out)} of the model's "
                      f"{len(named)} parameters; the other {len(left_out)} ({shown}) are "
                      "not trained", RuntimeWarning, stacklevel=3)
    return optimizer


def _zero_grad(params: list[Value], optimizer: Optimizer) -> Callable[[], None]:
    """Clears the gradient of the model's parameters and the optimizer's before each
    backward pass (a parameter the optimizer leaves out must not pile up gradients)."""
    held = {id(p) for p in optimizer.params}
    model_only = [p for p in params if id(p) not in held]

    def zero_grad() -> None:
        optimizer.zero_grad()
        for p in model_only:
            p.grad = 0.0

    return zero_grad


def _held_out(X: np.ndarray, y: np.ndarray, validation: Any, seed: int | None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """(X, y, X_val, y_val): the training data and the validation data, if any."""
    if validation is None:
        return X, y, None, None
    if isinstance(validation, (int, float)) and not isinstance(validation, bool):
        return train_val_split(X, y, float(validation), seed=seed)
    if isinstance(validation, (tuple, list)) and len(validation) == 2:
        X_val = np.asarray(validation[0], dtype=np.float64)
        y_val = np.asarray(validation[1])
        if X_val.ndim != 2 or len(X_val) != len(y_val) or X_val.shape[1] != X.shape[1]:
            raise ValueError(f"fit: validation must be (X_val, y_val) with {X.shape[1]} "
                             f"features per row, got shapes {X_val.shape} and {y_val.shape}")
        return X, y, X_val, y_val
    raise ValueError(f"fit: validation must be a fraction or an (X_val, y_val) pair, "
                     f"got {type(validation).__name__}")


def _assign(params: list[Value], values: list[float]) -> None:
    """Put saved weights back (outside any graph), all of them: Ctrl-C is held off."""
    with autograd.no_grad(), interrupts_held():
        for p, value in zip(params, values):
            p.data = value
