"""chainrule's autograd: a scalar reverse-mode automatic differentiation engine.

Not HIPS autograd: this package is installed as ``chainrule`` and imported as
``autograd``.  ``autograd.__chainrule__`` is True to tell the two apart.
"""

from . import engine as _engine
from .collector import defer_full_gc
from .compile import GraphMismatchError, compile

# engine.__all__: Value, Op, OPS, ... and the function of every operation in OPS.
from .engine import *  # noqa: F403
from .explain import Explanation, explain
from .gradcheck import GradcheckError, central_difference, gradcheck
from .graph import count_nodes, edges, grad, hessian, leaves
from .viz import draw_dot

__version__ = "0.1.0"
__chainrule__ = True

__all__ = [
    *_engine.__all__, "grad", "hessian", "edges", "leaves",
    "count_nodes", "central_difference", "gradcheck", "GradcheckError", "draw_dot", "explain",
    "Explanation", "compile",
    "GraphMismatchError", "defer_full_gc", "__version__",
]
