"""Optimizers and learning-rate schedules over any list of `Value` parameters.

`step()` reads each parameter's ``.grad`` and writes ``.data`` in place, under
`autograd.no_grad()`, so parameters keep their identity and nothing is recorded.

A step is all or nothing.  It is computed in full before anything is written:
`propose()` returns the new value of every parameter and of every piece of the
optimizer's state as an `Update` (changing nothing), and `apply(update)` writes them all
and counts the step, with Ctrl-C held off until it is done (`nn.interrupts`);
``step()`` is the two together.  So a `KeyboardInterrupt` finds the parameters, the
state (momentum, Adam's moments) and ``steps`` all before the step or all after it.  A
caller can also look at an update before applying it: `nn.fit` refuses one that would
make a weight NaN or infinite.  Subclasses define `_new_values`.

The learning rate is a number or a `Schedule`, a function of the step count k
(0 for the first step): `LinearDecay` (micrograd's ``1.0 - 0.9 * k / 100`` is
``LinearDecay(1.0, 0.1, 100)``) and `StepDecay`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Union

import autograd
from autograd import Value

from .interrupts import interrupts_held

__all__ = ["Optimizer", "Update", "SGD", "Adam", "Schedule", "LinearDecay", "StepDecay",
           "Constant"]


def _positive(value: object, name: str, where: str, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{where}: {name} must be a finite number {bound}, got {value!r}")
    return float(value)


class Schedule:
    """A learning rate as a function of the step count k = 0, 1, 2, ..."""

    def __call__(self, k: int) -> float:  # pragma: no cover - subclasses define it
        raise NotImplementedError


class Constant(Schedule):
    """lr(k) = lr."""

    def __init__(self, lr: float) -> None:
        self.lr = _positive(lr, "lr", "Constant")

    def __call__(self, k: int) -> float:
        return self.lr

    def __repr__(self) -> str:
        return f"Constant({self.lr})"


class LinearDecay(Schedule):
    """lr(k) = start + (end - start) * min(k, steps) / steps: a straight line from `start`
    to `end` over `steps` steps, then `end`.  micrograd's demo uses (1.0, 0.1, 100)."""

    def __init__(self, start: float, end: float, steps: int) -> None:
        self.start = _positive(start, "start", "LinearDecay")
        self.end = _positive(end, "end", "LinearDecay", allow_zero=True)
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"LinearDecay: steps must be a positive integer, got {steps!r}")
        self.steps = steps

    def __call__(self, k: int) -> float:
        return self.start + (self.end - self.start) * min(k, self.steps) / self.steps

    def __repr__(self) -> str:
        return f"LinearDecay({self.start}, {self.end}, {self.steps})"


class StepDecay(Schedule):
    """lr(k) = lr * gamma ** (k // every): multiply by gamma every `every` steps."""

    def __init__(self, lr: float, every: int, gamma: float = 0.1) -> None:
        self.lr = _positive(lr, "lr", "StepDecay")
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"StepDecay: every must be a positive integer, got {every!r}")
        self.every = every
        self.gamma = _positive(gamma, "gamma", "StepDecay")

    def __call__(self, k: int) -> float:
        return self.lr * self.gamma ** (k // self.every)

    def __repr__(self) -> str:
        return f"StepDecay({self.lr}, every={self.every}, gamma={self.gamma})"


LR = Union[float, Schedule]


@dataclass(frozen=True)
class Update:
    """One optimizer step, computed but not applied (see `Optimizer.propose`).

    ``data[i]`` is the new value of parameter i; ``state`` maps the name of each of the
    optimizer's per-parameter lists (``velocity`` for SGD with momentum or weight decay,
    ``m`` and ``v`` for Adam) to its new values; ``step`` is the step count it was
    computed at and ``lr`` the learning rate it used.
    """

    step: int
    lr: float
    data: list[float]
    state: dict[str, list[float]]

    def first_non_finite(self) -> tuple[str, int, float] | None:
        """(``"data"`` or the state's name, parameter index, value) of the first NaN or
        infinite number the update would write, or None when all are finite."""
        for what, values in (("data", self.data), *self.state.items()):
            # A sum is NaN or infinite if any term is (and, rarely, when finite terms
            # overflow it): only then is the list walked, at C speed otherwise.
            if math.isfinite(sum(values)):
                continue
            for i, value in enumerate(values):
                if not math.isfinite(value):
                    return what, i, value
        return None


class Optimizer:
    """Holds the parameters and the learning rate; subclasses define `_new_values`."""

    def __init__(self, params: Iterable[Value], lr: LR) -> None:
        where = type(self).__name__
        self.params: list[Value] = list(params)
        if not self.params:
            raise ValueError(f"{where}: got an empty parameter list")
        for i, p in enumerate(self.params):
            if not isinstance(p, Value):
                raise TypeError(f"{where}: parameter {i} must be a Value, "
                                f"got {type(p).__name__}")
        if len({id(p) for p in self.params}) != len(self.params):
            raise ValueError(f"{where}: a parameter appears twice in the list")
        self.schedule: Schedule = lr if isinstance(lr, Schedule) else Constant(
            _positive(lr, "lr", where))
        self.steps = 0  # how many updates have been made (k of the schedule)

    @property
    def lr(self) -> float:
        """The learning rate the next `step()` will use."""
        return self.schedule(self.steps)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = 0.0

    def step(self) -> None:
        """Apply one update from the current ``.grad`` values, then advance the schedule."""
        lr = self.lr
        with autograd.no_grad():
            self._update(lr)

    def propose(self) -> Update:
        """The next step, computed from the current ``.grad`` and ``.data`` values; nothing
        is changed until it is given to `apply`."""
        return self._proposal(self.lr)

    def apply(self, update: Update) -> None:
        """Write every new value of `update` (from `propose`) and count the step, all or
        nothing: a Ctrl-C that arrives meanwhile is held until all is written."""
        if update.step != self.steps:
            raise ValueError(f"{type(self).__name__}: this update was computed at step "
                             f"{update.step}, but the optimizer is at step {self.steps}")
        # Only assignments of numbers computed beforehand run here, so nothing in the
        # block can fail half-way, and Ctrl-C is held off (see nn.interrupts).
        with autograd.no_grad(), interrupts_held():
            for p, value in zip(self.params, update.data):
                p.data = value
            for name, values in update.state.items():
                getattr(self, name)[:] = values
            self.steps += 1

    def _update(self, lr: float) -> None:
        self.apply(self._proposal(lr))

    def _proposal(self, lr: float) -> Update:
        data, state = self._new_values(lr)
        return Update(self.steps, lr, data, state)

    def _new_values(self, lr: float) -> tuple[list[float], dict[str, list[float]]]:
        """The new ``.data`` of every parameter and the new values of the state lists,
        computed without changing anything."""
        raise NotImplementedError  # pragma: no cover - subclasses define it


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum and weight decay.

    g = grad + weight_decay * p;  v = momentum * v + g;  p = p - lr * v
    (with momentum 0 this is the plain rule p = p - lr * grad, as in the seeds).
    """

    def __init__(self, params: Iterable[Value], lr: LR = 0.01, momentum: float = 0.0,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, lr)
        self.momentum = _positive(momentum, "momentum", "SGD", allow_zero=True)
        if self.momentum >= 1.0:
            raise ValueError(f"SGD: momentum must be < 1, got {momentum!r}")
        self.weight_decay = _positive(weight_decay, "weight_decay", "SGD", allow_zero=True)
        self.velocity = [0.0] * len(self.params)

    def _new_values(self, lr: float) -> tuple[list[float], dict[str, list[float]]]:
        mu, wd = self.momentum, self.weight_decay
        if mu == 0.0 and wd == 0.0:
            return [p.data - lr * p.grad for p in self.params], {}
        velocity = [mu * v + (p.grad + wd * p.data) for p, v in zip(self.params, self.velocity)]
        return [p.data - lr * v for p, v in zip(self.params, velocity)], {"velocity": velocity}

    def __repr__(self) -> str:
        return (f"SGD({len(self.params)} parameters, lr={self.schedule!r}, "
                f"momentum={self.momentum}, weight_decay={self.weight_decay})")


class Adam(Optimizer):
    """Adam (Kingma and Ba, 2015) with bias correction; weight decay is added to the
    gradient (L2), as in ``torch.optim.Adam``.

    m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
    p = p - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
    """

    def __init__(self, params: Iterable[Value], lr: LR = 0.001,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, lr)
        b1, b2 = betas
        for name, b in (("betas[0]", b1), ("betas[1]", b2)):
            if not isinstance(b, (int, float)) or not 0.0 <= b < 1.0:
                raise ValueError(f"Adam: {name} must be in [0, 1), got {b!r}")
        self.betas = (float(b1), float(b2))
        self.eps = _positive(eps, "eps", "Adam")
        self.weight_decay = _positive(weight_decay, "weight_decay", "Adam", allow_zero=True)
        self.m = [0.0] * len(self.params)
        self.v = [0.0] * len(self.params)

    def _new_values(self, lr: float) -> tuple[list[float], dict[str, list[float]]]:
        b1, b2 = self.betas
        t = self.steps + 1
        correct1 = 1.0 - b1 ** t
        correct2 = 1.0 - b2 ** t
        wd, eps = self.weight_decay, self.eps
        grads = [p.grad + wd * p.data for p in self.params]
        m = [b1 * mi + (1.0 - b1) * g for mi, g in zip(self.m, grads)]
        v = [b2 * vi + (1.0 - b2) * g * g for vi, g in zip(self.v, grads)]
        data = [p.data - lr * (mi / correct1) / (math.sqrt(vi / correct2) + eps)
                for p, mi, vi in zip(self.params, m, v)]
        return data, {"m": m, "v": v}

    def __repr__(self) -> str:
        return (f"Adam({len(self.params)} parameters, lr={self.schedule!r}, "
                f"betas={self.betas}, eps={self.eps}, weight_decay={self.weight_decay})")
