"""Every value's gradient estimated by central differences: the step-through page's check.

For each Value of a graph, its number is nudged by ``±h`` and the root recomputed from
there with the operations' forward rules (only the values downstream are recomputed):
``(root(x + h) - root(x - h)) / 2h`` estimates d root / d value without the chain rule, so
it is an independent check of every gradient backpropagation computes.  A value at a kink
(``relu`` at 0) or near a domain edge shows a disagreement there, as it should.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from .engine import Value

__all__ = ["Estimate", "central_differences", "MAX_VALUES"]

MAX_VALUES = 3000  # each value costs a recomputation of its descendants: O(n^2) in all
_EPS = sys.float_info.epsilon


@dataclass(frozen=True)
class Estimate:
    """The central-difference estimate of one value's gradient and whether the analytic
    gradient agrees with it (``value`` None: the root cannot be recomputed from there,
    for a node with its own ``_backward`` or a step that leaves an operation's domain)."""

    value: float | None
    agrees: bool | None
    tolerance: float


def central_differences(order: Sequence[Value], analytic: Sequence[float],
                        seed: float = 1.0) -> list[Estimate]:
    """One `Estimate` per Value of `order` (a `topological_order`, root last), compared
    with `analytic` (seed x d root / d value, what backward computes).

    The step is ``h = 1e-6 * max(1, |x|)``.  They agree within ``1e-5 * max(1, |g|)`` plus
    the rounding of the root's value amplified by the step, ``1000 eps |root| / h``.
    """
    n = len(order)
    if n > MAX_VALUES:
        raise ValueError(f"central_differences: {n} values, more than {MAX_VALUES}")
    index = {v: i for i, v in enumerate(order)}  # Values hash by identity
    data = [v._data for v in order]
    parents = [[index[p] for p in v.parents] for v in order]
    root = data[-1]

    def root_with(i: int, x: float) -> float | None:
        changed = {i: x}
        for j in range(i + 1, n):
            if not any(p in changed for p in parents[j]):
                continue
            node = order[j]
            fn = node._fn
            args: list[float] = [changed.get(p, data[p]) for p in parents[j]]
            if fn.has_param:
                args.append(node._param)
            try:
                if fn.check is not None:
                    fn.check(*args)
                changed[j] = float(fn.forward(*args))
            except Exception:  # a node with its own _backward, or out of the domain
                return None
        return changed.get(n - 1, root)

    estimates = []
    for i in range(n):
        h = 1e-6 * max(1.0, abs(data[i])) if math.isfinite(data[i]) else math.nan
        up = root_with(i, data[i] + h)
        down = root_with(i, data[i] - h)
        tolerance = 1e-5 * max(1.0, abs(analytic[i]) if math.isfinite(analytic[i]) else 1.0)
        if up is None or down is None or not math.isfinite(h):
            estimates.append(Estimate(None, None, tolerance))
            continue
        tolerance += 1e3 * _EPS * max(1.0, abs(root)) / h * abs(seed)
        value = (up - down) / (2.0 * h) * seed
        if math.isfinite(value) and math.isfinite(analytic[i]):
            agrees = abs(value - analytic[i]) <= tolerance
        else:
            agrees = value == analytic[i] or (math.isnan(value) and math.isnan(analytic[i]))
        estimates.append(Estimate(value, agrees, tolerance))
    return estimates
