"""The moons training step written by hand in NumPy: the speed limit for compiled code.

The network is the moons demo's: an MLP 2-16-16-1 with ReLU hidden layers and a linear
output, the mean hinge loss max(0, 1 - y s) over the batch plus ``alpha * sum p^2`` over
every weight and bias, and one plain gradient-descent update.  Weights are stored as
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


def loss_and_grads(layers: Layers, X: np.ndarray, y: np.ndarray,
                   alpha: float) -> tuple[float, list[tuple[np.ndarray, np.ndarray]]]:
    """Mean hinge loss + alpha * sum p^2, and its gradient for every W and b.

    Forward: a_0 = X, z_k = a_{k-1} W_k^T + b_k, a_k = relu(z_k) except for the last
    layer (linear); s = z_last.  Backward: d loss / d s_i = -y_i / n where the margin
    1 - y_i s_i is positive, else 0; then delta_k = (delta_{k+1} W_{k+1}) * [z_k > 0],
    dW_k = delta_k^T a_{k-1}, db_k = sum_i delta_k; the penalty adds 2 alpha p.
    """
    activations = [X]
    pre = []
    for k, (W, b) in enumerate(layers):
        z = activations[-1] @ W.T + b
        pre.append(z)
        activations.append(np.maximum(z, 0.0) if k < len(layers) - 1 else z)
    scores = activations[-1][:, 0]
    margins = 1.0 - y * scores
    n = len(y)
    penalty = sum(float(np.sum(W * W) + np.sum(b * b)) for W, b in layers)
    loss = float(np.mean(np.maximum(margins, 0.0))) + alpha * penalty

    delta = np.where(margins > 0.0, -y, 0.0)[:, None] / n
    grads: list[tuple[np.ndarray, np.ndarray]] = [None] * len(layers)  # type: ignore[list-item]
    for k in range(len(layers) - 1, -1, -1):
        W, b = layers[k]
        grads[k] = (delta.T @ activations[k] + 2.0 * alpha * W,
                    delta.sum(axis=0) + 2.0 * alpha * b)
        if k:
            delta = (delta @ W) * (pre[k - 1] > 0.0)
    return loss, grads


def step(layers: Layers, X: np.ndarray, y: np.ndarray, lr: float, alpha: float) -> float:
    """One training step in place: loss, gradients, p -= lr * grad.  Returns the loss."""
    loss, grads = loss_and_grads(layers, X, y, alpha)
    for (W, b), (dW, db) in zip(layers, grads):
        W -= lr * dW
        b -= lr * db
    return loss


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
