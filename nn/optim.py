"""Optimizers and learning-rate schedules over any list of `Value` parameters.

`step()` reads each parameter's ``.grad`` and writes ``.data`` in place, under
`autograd.no_grad()`, so parameters keep their identity and nothing is recorded.

The learning rate is a number or a `Schedule`, a function of the step count k
(0 for the first step): `LinearDecay` (micrograd's ``1.0 - 0.9 * k / 100`` is
``LinearDecay(1.0, 0.1, 100)``) and `StepDecay`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Union

import autograd
from autograd import Value

__all__ = ["Optimizer", "SGD", "Adam", "Schedule", "LinearDecay", "StepDecay", "Constant"]


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


class Optimizer:
    """Holds the parameters and the learning rate; subclasses define `_update`."""

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
        self.steps += 1

    def _update(self, lr: float) -> None:  # pragma: no cover - subclasses define it
        raise NotImplementedError


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

    def _update(self, lr: float) -> None:
        mu, wd = self.momentum, self.weight_decay
        if mu == 0.0 and wd == 0.0:
            for p in self.params:
                p.data -= lr * p.grad
            return
        velocity = self.velocity
        for i, p in enumerate(self.params):
            g = p.grad + wd * p.data
            v = mu * velocity[i] + g
            velocity[i] = v
            p.data -= lr * v

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

    def _update(self, lr: float) -> None:
        b1, b2 = self.betas
        t = self.steps + 1
        correct1 = 1.0 - b1 ** t
        correct2 = 1.0 - b2 ** t
        m, v, wd, eps = self.m, self.v, self.weight_decay, self.eps
        for i, p in enumerate(self.params):
            g = p.grad + wd * p.data
            m[i] = b1 * m[i] + (1.0 - b1) * g
            v[i] = b2 * v[i] + (1.0 - b2) * g * g
            p.data -= lr * (m[i] / correct1) / (math.sqrt(v[i] / correct2) + eps)

    def __repr__(self) -> str:
        return (f"Adam({len(self.params)} parameters, lr={self.schedule!r}, "
                f"betas={self.betas}, eps={self.eps}, weight_decay={self.weight_decay})")
