"""A NumPy reference network: backpropagation in matrix form, to check the scalar engine.

The network has L layers.  Layer l has a weight matrix W_l of shape (n_l, n_{l-1}) (the
Theta of the classic write-ups, and PyTorch's ``nn.Linear.weight`` layout), a bias vector
b_l of shape (n_l,) and an activation g_l.  With the m examples as the rows of X:

    forward    a_0 = X,   z_l = a_{l-1} W_l^T + b_l,   a_l = g_l(z_l)
    output     delta_L = dLoss/da_L * g_L'(z_L)                 (elementwise)
    backward   delta_l = (delta_{l+1} W_{l+1}) * g_l'(z_l)      (through the transposed
               weights: row by row this is W_{l+1}^T delta_{l+1})
    sums       Delta_l = delta_l^T a_{l-1}  (the sum over examples of delta a^T)
    gradients  dJ/dW_l = (Delta_l + lambda W_l) / m,    dJ/db_l = (sum of delta_l rows) / m

for the cost, averaged over the m examples, with an L2 term on the weights (never the
biases):

    J = (1/m) sum_t loss(a_L(x_t), y_t) + (lambda / 2m) sum_l ||W_l||^2.

Two losses (per example, K outputs), the ones whose `nn.losses` record carries a NumPy
form (its ``matrix``, written apart from the Value functions so that it stays a peer):

* ``'half_sse'``: loss = 1/2 sum_k (a_k - y_k)^2, so dLoss/da = a - y: the half sum of
  squares of the hand-worked examples, and the d_L = a_L - y of the matrix write-up.
* ``'mse'``: loss = (1/K) sum_k (a_k - y_k)^2, so dLoss/da = 2 (a - y) / K; averaged over
  the examples this is the mean over every output of every example.

Activations: linear, sigmoid, tanh, relu, leaky_relu (slope `leaky_alpha` below 0, 0.01 as
in the engine) and softplus; relu's slope at 0 is taken as 0, as the engine does.

`compare_gradients(model, X, Y)` builds the same cost from an `nn` model's Values, asks the
engine for every parameter's gradient and sets them beside this reference's, layer by layer.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

import autograd

from .losses import RECORDS, Loss, find_loss, l2_penalty

__all__ = ["ReferenceNetwork", "LayerComparison", "GradientComparison", "compare_gradients",
           "ACTIVATIONS", "LOSSES"]

# The losses whose record carries a NumPy form (`nn.losses.MatrixForm`).
LOSSES = tuple(record.name for record in RECORDS if record.matrix is not None)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    # exp of a non-positive number only, so nothing overflows.
    e = np.exp(-np.abs(z))
    return np.where(z >= 0.0, 1.0 / (1.0 + e), e / (1.0 + e))


def _softplus(z: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))


# name -> (g(z), g'(z) given z and a = g(z), with alpha the leaky slope)
_Activation = tuple[Callable[[np.ndarray, float], np.ndarray],
                    Callable[[np.ndarray, np.ndarray, float], np.ndarray]]
ACTIVATIONS: dict[str, _Activation] = {
    "linear": (lambda z, alpha: z, lambda z, a, alpha: np.ones_like(z)),
    "sigmoid": (lambda z, alpha: _sigmoid(z), lambda z, a, alpha: a * (1.0 - a)),
    "tanh": (lambda z, alpha: np.tanh(z), lambda z, a, alpha: 1.0 - a * a),
    "relu": (lambda z, alpha: np.where(z > 0.0, z, 0.0),
             lambda z, a, alpha: (z > 0.0).astype(np.float64)),
    "leaky_relu": (lambda z, alpha: np.where(z > 0.0, z, alpha * z),
                   lambda z, a, alpha: np.where(z > 0.0, 1.0, alpha)),
    "softplus": (lambda z, alpha: _softplus(z), lambda z, a, alpha: _sigmoid(z)),
}


def _matrix(array: Any, what: str, where: str) -> np.ndarray:
    try:
        out = np.array(array, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{where}: {what} must be numeric: {err}") from None
    if not np.all(np.isfinite(out)):
        raise ValueError(f"{where}: {what} holds non-finite numbers")
    return out


def _check_loss(loss: str, where: str) -> Loss:
    """The record of `loss`, which must be one the reference has a NumPy form of."""
    if loss not in LOSSES:
        raise ValueError(f"{where}: unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")
    return find_loss(loss)


def _check_l2(l2: Any, where: str) -> float:
    if isinstance(l2, bool) or not isinstance(l2, (int, float, np.floating, np.integer)):
        raise TypeError(f"{where}: l2 must be a number, got {type(l2).__name__}")
    value = float(l2)
    if not (value >= 0.0 and math.isfinite(value)):
        raise ValueError(f"{where}: l2 must be >= 0 and finite, got {value!r}")
    return value


class ReferenceNetwork:
    """A fully connected network held as NumPy matrices (see the module docstring).

    ``weights[l]`` has shape (n_out, n_in); ``biases[l]`` has shape (n_out,) or is None for
    a layer without bias; ``activations[l]`` names layer l's activation.
    """

    def __init__(self, weights: Sequence[Any], biases: Sequence[Any | None],
                 activations: Sequence[str], leaky_alpha: float = 0.01) -> None:
        where = "ReferenceNetwork"
        if not (len(weights) == len(biases) == len(activations)) or not weights:
            raise ValueError(f"{where}: needs one weight matrix, bias and activation per layer, "
                             f"got {len(weights)} weights, {len(biases)} biases and "
                             f"{len(activations)} activations")
        self.weights: list[np.ndarray] = []
        self.biases: list[np.ndarray | None] = []
        for i, (w, b, act) in enumerate(zip(weights, biases, activations)):
            w = _matrix(w, f"weights[{i}]", where)
            if w.ndim != 2:
                raise ValueError(f"{where}: weights[{i}] must be a matrix, got shape {w.shape}")
            if self.weights and w.shape[1] != self.weights[-1].shape[0]:
                raise ValueError(f"{where}: weights[{i}] has shape {w.shape} but layer {i - 1} "
                                 f"has {self.weights[-1].shape[0]} outputs")
            if b is not None:
                b = _matrix(b, f"biases[{i}]", where)
                if b.shape != (w.shape[0],):
                    raise ValueError(f"{where}: biases[{i}] has shape {b.shape}, "
                                     f"expected ({w.shape[0]},)")
            if act not in ACTIVATIONS:
                raise ValueError(f"{where}: unknown activation {act!r} for layer {i}; choose "
                                 f"one of {', '.join(ACTIVATIONS)}")
            self.weights.append(w)
            self.biases.append(b)
        self.activations = list(activations)
        self.leaky_alpha = float(leaky_alpha)

    def __repr__(self) -> str:
        return f"ReferenceNetwork(sizes={self.sizes}, activations={self.activations})"

    @property
    def sizes(self) -> list[int]:
        """[n_in, n_1, ..., n_L]."""
        return [self.weights[0].shape[1]] + [w.shape[0] for w in self.weights]

    # -- building ----------------------------------------------------------------------
    @classmethod
    def random(cls, sizes: Sequence[int], activations: Sequence[str] | str,
               seed: int = 0, scale: float = 1.0, bias: bool = True) -> ReferenceNetwork:
        """Weights and biases drawn from U(-scale, scale) with NumPy's generator for `seed`."""
        rng = np.random.default_rng(seed)
        layers = len(sizes) - 1
        if layers < 1:
            raise ValueError(f"ReferenceNetwork.random: needs at least 2 sizes, got {sizes!r}")
        acts = [activations] * layers if isinstance(activations, str) else list(activations)
        weights = [rng.uniform(-scale, scale, size=(sizes[i + 1], sizes[i]))
                   for i in range(layers)]
        biases = [rng.uniform(-scale, scale, size=sizes[i + 1]) if bias else None
                  for i in range(layers)]
        return cls(weights, biases, acts)

    @classmethod
    def from_model(cls, model: Any) -> ReferenceNetwork:
        """The matrices of an `nn` model (an MLP, a Layer or a Neuron), read from its
        parameters: row j of W_l is neuron j's weights ``w``, b_l[j] its bias ``b``."""
        return cls(*_model_matrices(model))

    @classmethod
    def from_state_dict(cls, state: dict[str, Any], activations: Sequence[str],
                        leaky_alpha: float = 0.01) -> ReferenceNetwork:
        """From PyTorch-layout arrays ``layers.<l>.weight`` / ``layers.<l>.bias``."""
        weights, biases = [], []
        for i in range(len(activations)):
            key = f"layers.{i}.weight"
            if key not in state:
                raise KeyError(f"ReferenceNetwork.from_state_dict: missing key {key!r}")
            weights.append(state[key])
            biases.append(state.get(f"layers.{i}.bias"))
        known = {f"layers.{i}.{part}" for i in range(len(activations))
                 for part in ("weight", "bias")}
        extra = [k for k in state if k not in known]
        if extra:
            raise KeyError(f"ReferenceNetwork.from_state_dict: unexpected key {extra[0]!r}")
        return cls(weights, biases, activations, leaky_alpha)

    def state_dict(self) -> dict[str, np.ndarray]:
        """The matrices under PyTorch ``nn.Linear`` names, as `nn` models' state_dict()."""
        state = {}
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            state[f"layers.{i}.weight"] = w.copy()
            if b is not None:
                state[f"layers.{i}.bias"] = b.copy()
        return state

    def to_model(self, model: Any) -> Any:
        """Write these matrices into an `nn` model's parameters (in place) and return it.

        Every shape is checked first, so a mismatch leaves the model untouched.
        """
        where = "ReferenceNetwork.to_model"
        layers = _model_layers(model, where)
        if len(layers) != len(self.weights):
            raise ValueError(f"{where}: the model has {len(layers)} layers, "
                             f"the reference {len(self.weights)}")
        for i, (neurons, _) in enumerate(layers):
            w, b = self.weights[i], self.biases[i]
            shape = (len(neurons), len(neurons[0].w))
            if w.shape != shape:
                raise ValueError(f"{where}: layer {i} of the model is {shape} "
                                 f"(outputs, inputs), the reference has {w.shape}")
            if (b is None) != (neurons[0].b is None):
                raise ValueError(f"{where}: layer {i} has a bias in only one of the two")
        for (neurons, _), w, b in zip(layers, self.weights, self.biases):
            for j, neuron in enumerate(neurons):
                for value, number in zip(neuron.w, w[j].tolist()):
                    value.data = number
                if b is not None:
                    neuron.b.data = float(b[j])
        return model

    # -- forward and backward ----------------------------------------------------------
    def _inputs(self, X: Any, where: str) -> np.ndarray:
        X = _matrix(X, "X", where)
        if X.ndim == 1:
            # One input per example: a column of examples; otherwise one example.
            X = X.reshape(-1, 1) if self.sizes[0] == 1 else X.reshape(1, -1)
        if X.ndim != 2 or X.shape[1] != self.sizes[0] or X.shape[0] == 0:
            raise ValueError(f"{where}: X must have shape (m, {self.sizes[0]}) with m >= 1, "
                             f"got {X.shape}")
        return X

    def _targets(self, Y: Any, m: int, where: str) -> np.ndarray:
        Y = _matrix(Y, "Y", where)
        k = self.sizes[-1]
        if Y.ndim == 1 and Y.size == m * k:
            Y = Y.reshape(m, k)
        if Y.shape != (m, k):
            raise ValueError(f"{where}: Y must have shape ({m}, {k}), got {Y.shape}")
        return Y

    def forward(self, X: Any) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """The weighted inputs z_1..z_L and activations a_0 = X, a_1..a_L, each (m, n_l)."""
        a = self._inputs(X, "ReferenceNetwork.forward")
        zs, activations = [], [a]
        for w, b, name in zip(self.weights, self.biases, self.activations):
            z = a @ w.T
            if b is not None:
                z = z + b
            a = ACTIVATIONS[name][0](z, self.leaky_alpha)
            zs.append(z)
            activations.append(a)
        return zs, activations

    def predict(self, X: Any) -> np.ndarray:
        """The outputs a_L, shape (m, n_L)."""
        return self.forward(X)[1][-1]

    def cost(self, X: Any, Y: Any, loss: str = "half_sse", l2: float = 0.0) -> float:
        """J = (1/m) sum_t loss_t + (l2 / 2m) sum_l ||W_l||^2."""
        where = "ReferenceNetwork.cost"
        form = _check_loss(loss, where).matrix
        l2 = _check_l2(l2, where)
        out = self.predict(X)
        Y = self._targets(Y, out.shape[0], where)
        m = out.shape[0]
        per_example = form.value(out, Y)
        penalty = 0.5 * l2 * sum(float(np.sum(w * w)) for w in self.weights)
        return float((np.sum(per_example) + penalty) / m)

    def gradients(self, X: Any, Y: Any, loss: str = "half_sse", l2: float = 0.0
                  ) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
        """dJ/dW_l and dJ/db_l for every layer, by the matrix algorithm above."""
        where = "ReferenceNetwork.gradients"
        form = _check_loss(loss, where).matrix
        l2 = _check_l2(l2, where)
        zs, acts = self.forward(X)
        out = acts[-1]
        Y = self._targets(Y, out.shape[0], where)
        m = out.shape[0]
        # Output layer: d_L = dLoss/da_L * g'(z_L).
        dloss = form.slope(out, Y)
        layers = len(self.weights)
        grad_w: list[np.ndarray] = [np.empty(0)] * layers
        grad_b: list[np.ndarray | None] = [None] * layers
        delta = dloss * ACTIVATIONS[self.activations[-1]][1](zs[-1], acts[-1], self.leaky_alpha)
        for i in range(layers - 1, -1, -1):
            # Delta_l = sum over examples of delta a^T; the L2 term only on weights.
            grad_w[i] = (delta.T @ acts[i] + l2 * self.weights[i]) / m
            if self.biases[i] is not None:
                grad_b[i] = delta.sum(axis=0) / m
            if i > 0:
                slope = ACTIVATIONS[self.activations[i - 1]][1](zs[i - 1], acts[i],
                                                                self.leaky_alpha)
                delta = (delta @ self.weights[i]) * slope
        return grad_w, grad_b


# --------------------------------------------------------------------------------------
# nn models
# --------------------------------------------------------------------------------------

def _model_layers(model: Any, where: str) -> list[tuple[list[Any], str]]:
    """(neurons, activation) per layer of an MLP, a Layer or a single Neuron."""
    if hasattr(model, "layers"):
        layers = [(list(layer.neurons), getattr(layer, "activation", None))
                  for layer in model.layers]
    elif hasattr(model, "neurons"):
        layers = [(list(model.neurons), getattr(model, "activation", None))]
    elif hasattr(model, "w"):
        layers = [([model], getattr(model, "activation", None))]
    else:
        raise TypeError(f"{where}: expected an nn MLP, Layer or Neuron, "
                        f"got {type(model).__name__}")
    for i, (neurons, activation) in enumerate(layers):
        if not neurons:
            raise ValueError(f"{where}: layer {i} has no neurons")
        if activation not in ACTIVATIONS:
            raise ValueError(f"{where}: layer {i} has activation {activation!r}, which the "
                             f"reference does not model (it knows {', '.join(ACTIVATIONS)})")
        if len({len(n.w) for n in neurons}) != 1:
            raise ValueError(f"{where}: the neurons of layer {i} differ in input count")
        if len({n.b is None for n in neurons}) != 1:
            raise ValueError(f"{where}: only some neurons of layer {i} have a bias")
    return layers


def _model_matrices(model: Any) -> tuple[list[np.ndarray], list[np.ndarray | None], list[str]]:
    layers = _model_layers(model, "ReferenceNetwork.from_model")
    weights = [np.array([[w.data for w in n.w] for n in neurons], dtype=np.float64)
               for neurons, _ in layers]
    biases = [None if neurons[0].b is None
              else np.array([n.b.data for n in neurons], dtype=np.float64)
              for neurons, _ in layers]
    return weights, biases, [activation for _, activation in layers]


@dataclass(frozen=True)
class LayerComparison:
    """Engine against reference for one layer's parameters.

    ``max_abs`` is the largest |engine - reference| over the layer's weights and biases;
    ``max_rel`` is that divided by the largest |reference gradient| in the layer (0 when
    the layer's gradient is all zero), a scale-free measure that tiny entries cannot blow up.
    """

    layer: int
    parameters: int
    max_abs: float
    max_rel: float
    max_abs_weight: float
    max_abs_bias: float


@dataclass(frozen=True)
class GradientComparison:
    """Per-layer comparisons, the cost both sides computed, and the overall maxima."""

    layers: list[LayerComparison]
    engine_cost: float
    reference_cost: float

    @property
    def max_abs(self) -> float:
        return max(c.max_abs for c in self.layers)

    @property
    def max_rel(self) -> float:
        return max(c.max_rel for c in self.layers)

    def agrees(self, tolerance: float = 1e-10) -> bool:
        """True when every gradient agrees to `tolerance` (absolute or relative) and the
        costs do too."""
        cost_ok = abs(self.engine_cost - self.reference_cost) <= tolerance * max(
            1.0, abs(self.reference_cost))
        return cost_ok and all(c.max_abs <= tolerance or c.max_rel <= tolerance
                               for c in self.layers)


def compare_gradients(model: Any, X: Any, Y: Any, loss: str = "half_sse",
                      l2: float = 0.0) -> GradientComparison:
    """Every parameter gradient of `model` on (X, Y), engine against the NumPy reference.

    The engine side runs the model on each row of X and builds, from Values and with
    `nn.losses` (``half_sse`` or ``mse`` per example, ``l2_penalty`` for the weights),
    J = (1/m) sum_t loss(model(x_t), y_t) + (l2 / 2m) sum of squared weights, then asks
    `autograd.grad` for dJ/dp (the parameters' ``.grad`` is left alone).  The reference
    side converts the model to matrices and runs `ReferenceNetwork.gradients`.
    """
    where = "compare_gradients"
    example_loss = _check_loss(loss, where).function
    l2 = _check_l2(l2, where)
    reference = ReferenceNetwork.from_model(model)
    X = reference._inputs(X, where)
    m = X.shape[0]
    Y = reference._targets(Y, m, where)
    layers = _model_layers(model, where)

    # nn's own loss functions, so that they are checked too.
    per_example = []
    for x, y in zip(X.tolist(), Y.tolist()):
        out = model(x)
        outputs = list(out) if isinstance(out, (list, tuple)) else [out]
        per_example.append(example_loss(outputs, y))
    cost = autograd.sum_values(per_example) / m
    if l2 > 0.0:
        weights = [w for neurons, _ in layers for n in neurons for w in n.w]
        cost = cost + l2_penalty(weights, alpha=0.5 * l2 / m)
    params = [p for neurons, _ in layers for n in neurons
              for p in (*n.w, *([n.b] if n.b is not None else []))]
    slopes = dict(zip(map(id, params), autograd.grad(cost, params)))

    ref_w, ref_b = reference.gradients(X, Y, loss=loss, l2=l2)
    rows = []
    for i, (neurons, _) in enumerate(layers):
        eng_w = np.array([[slopes[id(w)] for w in n.w] for n in neurons])
        diff_w = np.abs(eng_w - ref_w[i])
        scale = float(np.max(np.abs(ref_w[i])))
        max_bias = 0.0
        count = diff_w.size
        if ref_b[i] is not None:
            eng_b = np.array([slopes[id(n.b)] for n in neurons])
            diff_b = np.abs(eng_b - ref_b[i])
            max_bias = float(np.max(diff_b))
            scale = max(scale, float(np.max(np.abs(ref_b[i]))))
            count += diff_b.size
        max_abs = max(float(np.max(diff_w)), max_bias)
        if scale > 0.0:
            max_rel = max_abs / scale
        else:  # the reference says the whole layer's gradient is zero
            max_rel = 0.0 if max_abs == 0.0 else math.inf
        rows.append(LayerComparison(i, count, max_abs, max_rel, float(np.max(diff_w)), max_bias))
    return GradientComparison(rows, float(cost.data), reference.cost(X, Y, loss, l2))
