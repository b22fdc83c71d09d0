"""Training steps written by hand in NumPy: the speed limit for compiled code.

The moons demo's network is an MLP 2-16-16-1 with ReLU hidden layers and a linear
output, the mean hinge loss max(0, 1 - y s) over the batch plus ``alpha * sum p^2`` over
every weight and bias, and one plain gradient-descent update.  The same step runs with
tanh hidden layers, and with softmax cross-entropy for a model with one output per
class (the spiral benchmark).  Weights are stored as
matrices in PyTorch's ``nn.Linear`` layout (W of shape (nout, nin), b of shape (nout,)),
the same layout as ``nn.Module.state_dict()``, so the four implementations in
`benchmarks/run.py` can start from identical weights.

Run alone: ``python benchmarks/bench_numpy.py`` prints the median time of a step.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

Layers = list[tuple[np.ndarray, np.ndarray]]


def init_layers(sizes: list[int], seed: int) -> Layers:
    """micrograd's initialisation: every weight and bias uniform in [-1, 1]."""
    rng = np.random.default_rng(seed)
    return [(rng.uniform(-1.0, 1.0, (nout, nin)), rng.uniform(-1.0, 1.0, nout))
            for nin, nout in zip(sizes[:-1], sizes[1:])]


ACTIVATIONS = {
    # name: (activation, its slope from the pre-activation z and the activation a)
    "relu": (lambda z: np.maximum(z, 0.0), lambda z, a: z > 0.0),
    "tanh": (np.tanh, lambda z, a: 1.0 - a * a),
}


def loss_and_grads(layers: Layers, X: np.ndarray, y: np.ndarray, alpha: float,
                   activation: str = "relu", loss: str = "hinge"
                   ) -> tuple[float, list[tuple[np.ndarray, np.ndarray]]]:
    """Mean loss + alpha * sum p^2, and its gradient for every W and b.

    Forward: a_0 = X, z_k = a_{k-1} W_k^T + b_k, a_k = act(z_k) except for the last
    layer (linear); s = z_last.  ``loss='hinge'`` (labels -1, +1, one output): the mean
    of max(0, 1 - y_i s_i), so d loss / d s_i = -y_i / n where the margin is positive,
    else 0.  ``loss='softmax'`` (integer classes, one output per class): the mean of
    log sum_k e^{s_ik} - s_{i,y_i}, computed with each row's largest score subtracted
    first, so d loss / d s_i = (softmax(s_i) - onehot(y_i)) / n.  Backward:
    delta_k = (delta_{k+1} W_{k+1}) * act'(z_k), dW_k = delta_k^T a_{k-1},
    db_k = sum_i delta_k; the penalty adds 2 alpha p.
    """
    act, slope = ACTIVATIONS[activation]
    activations = [X]
    pre = []
    for k, (W, b) in enumerate(layers):
        z = activations[-1] @ W.T + b
        pre.append(z)
        activations.append(act(z) if k < len(layers) - 1 else z)
    scores = activations[-1]
    n = len(y)
    penalty = sum(float(np.sum(W * W) + np.sum(b * b)) for W, b in layers)
    if loss == "hinge":
        margins = 1.0 - y * scores[:, 0]
        data_loss = float(np.mean(np.maximum(margins, 0.0)))
        delta = np.where(margins > 0.0, -y, 0.0)[:, None] / n
    elif loss == "softmax":
        classes = y.astype(np.intp)
        shifted = scores - scores.max(axis=1, keepdims=True)
        e = np.exp(shifted)
        total = e.sum(axis=1, keepdims=True)
        rows = np.arange(n)
        data_loss = float(np.mean(np.log(total[:, 0]) - shifted[rows, classes]))
        delta = e / total
        delta[rows, classes] -= 1.0
        delta /= n
    else:
        raise ValueError(f"loss_and_grads: unknown loss {loss!r}")
    value = data_loss + alpha * penalty

    grads: list[tuple[np.ndarray, np.ndarray]] = [None] * len(layers)  # type: ignore[list-item]
    for k in range(len(layers) - 1, -1, -1):
        W, b = layers[k]
        grads[k] = (delta.T @ activations[k] + 2.0 * alpha * W,
                    delta.sum(axis=0) + 2.0 * alpha * b)
        if k:
            delta = (delta @ W) * slope(pre[k - 1], activations[k])
    return value, grads


def step(layers: Layers, X: np.ndarray, y: np.ndarray, lr: float, alpha: float,
         activation: str = "relu", loss: str = "hinge") -> float:
    """One training step in place: loss, gradients, p -= lr * grad.  Returns the loss."""
    value, grads = loss_and_grads(layers, X, y, alpha, activation, loss)
    for (W, b), (dW, db) in zip(layers, grads):
        W -= lr * dW
        b -= lr * db
    return value


def main() -> dict[str, float]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 2))
    y = np.where(rng.normal(size=100) > 0, 1.0, -1.0)
    layers = init_layers([2, 16, 16, 1], seed=0)
    times = []
    for _ in range(200):
        start = time.perf_counter()
        step(layers, X, y, 0.05, 1e-4)
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    print(f"hand-written NumPy moons step: {median * 1e6:.1f} us (median of 200)")
    return {"seconds": median}


if __name__ == "__main__":
    main()
