"""chainrule's autograd: a scalar reverse-mode automatic differentiation engine.

Not HIPS autograd: this package is installed as ``chainrule`` and imported as
``autograd``.  ``autograd.__chainrule__`` is True to tell the two apart.
"""

from .collector import defer_full_gc
from .compile import GraphMismatchError, compile
from .engine import (
    OPS,
    DomainError,
    Op,
    Value,
    absolute,
    chain_rule,
    cos,
    current_scope,
    dot,
    enable_grad,
    exp,
    is_grad_enabled,
    leaky_relu,
    lift,
    local_derivatives,
    log,
    no_grad,
    observe_reads,
    primitive,
    relu,
    scope,
    sigmoid,
    sin,
    softplus,
    sqrt,
    sum_values,
    tanh,
)
from .gradcheck import GradcheckError, central_difference, gradcheck
from .graph import count_nodes, edges, grad, hessian, leaves, topological_order
from .viz import draw_dot

__version__ = "0.1.0"
__chainrule__ = True

__all__ = [
    "Value", "Op", "OPS", "DomainError", "primitive", "no_grad", "enable_grad",
    "is_grad_enabled", "scope", "current_scope", "lift", "grad", "hessian",
    "topological_order", "chain_rule", "local_derivatives", "observe_reads", "edges", "leaves",
    "count_nodes",
    "exp", "log", "sqrt", "tanh", "sigmoid", "relu", "leaky_relu", "softplus", "sin", "cos",
    "absolute", "dot", "sum_values", "central_difference", "gradcheck", "GradcheckError",
    "draw_dot", "compile", "GraphMismatchError", "defer_full_gc", "__version__",
]
