"""Toy datasets generated with NumPy from a seed (no downloads), and the plumbing to
split, standardise and batch them.

Every generator returns ``(X, y)``: ``X`` a float64 array of shape (n, 2) and ``y`` an
array of n labels.  Binary sets take ``labels=(negative, positive)``: ``(0, 1)`` by default,
``(-1, 1)`` for the hinge loss.  The same seed always gives the same points.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

__all__ = ["moons", "circles", "xor", "spiral", "train_val_split", "Standardizer",
           "standardize", "minibatches", "DATASETS"]


def _check_n(n: object, where: str, minimum: int = 2) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < minimum:
        raise ValueError(f"{where}: n must be an integer >= {minimum}, got {n!r}")
    return int(n)


def _check_noise(noise: object, where: str) -> float:
    if isinstance(noise, bool) or not isinstance(noise, (int, float)) \
            or not math.isfinite(noise) or noise < 0:
        raise ValueError(f"{where}: noise must be a finite number >= 0, got {noise!r}")
    return float(noise)


def _labels(y01: np.ndarray, labels: tuple[float, float], where: str) -> np.ndarray:
    if len(labels) != 2 or labels[0] == labels[1]:
        raise ValueError(f"{where}: labels must be two different numbers, got {labels!r}")
    out = np.where(y01 == 1, labels[1], labels[0])
    kinds = {type(v) for v in labels}
    return out.astype(np.int64) if kinds <= {int} else out.astype(np.float64)


def _finish(points: np.ndarray, y01: np.ndarray, noise: float, rng: np.random.Generator,
            labels: tuple[float, float], where: str) -> tuple[np.ndarray, np.ndarray]:
    # The shuffle is drawn first, so the same seed orders the points the same way
    # whatever the noise level.
    order = rng.permutation(len(points))  # interleave the classes
    points = points + rng.normal(0.0, noise, size=points.shape) if noise else points
    return points[order].astype(np.float64), _labels(y01[order], labels, where)


def moons(n: int = 100, noise: float = 0.1, seed: int | None = None,
          labels: tuple[float, float] = (0, 1)) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles: (cos t, sin t) and (1 - cos t, 1/2 - sin t), t in [0, pi].

    The first ceil(n/2) points form the upper moon (label ``labels[0]``), the rest the
    lower one; Gaussian noise of standard deviation `noise` is added, then the points are
    shuffled.
    """
    n = _check_n(n, "moons")
    noise = _check_noise(noise, "moons")
    rng = np.random.default_rng(seed)
    n_upper = n - n // 2
    t_up = np.linspace(0.0, math.pi, n_upper)
    t_low = np.linspace(0.0, math.pi, n // 2)
    points = np.concatenate([np.stack([np.cos(t_up), np.sin(t_up)], axis=1),
                             np.stack([1.0 - np.cos(t_low), 0.5 - np.sin(t_low)], axis=1)])
    y01 = np.concatenate([np.zeros(n_upper, int), np.ones(n // 2, int)])
    return _finish(points, y01, noise, rng, labels, "moons")


def circles(n: int = 100, noise: float = 0.05, factor: float = 0.5, seed: int | None = None,
            labels: tuple[float, float] = (0, 1)) -> tuple[np.ndarray, np.ndarray]:
    """Two concentric circles: radius 1 (label ``labels[0]``) and radius `factor` in (0, 1)."""
    n = _check_n(n, "circles")
    noise = _check_noise(noise, "circles")
    if not isinstance(factor, (int, float)) or not 0.0 < factor < 1.0:
        raise ValueError(f"circles: factor must be between 0 and 1, got {factor!r}")
    rng = np.random.default_rng(seed)
    n_outer = n - n // 2
    t_out = np.linspace(0.0, 2 * math.pi, n_outer, endpoint=False)
    t_in = np.linspace(0.0, 2 * math.pi, n // 2, endpoint=False)
    points = np.concatenate([np.stack([np.cos(t_out), np.sin(t_out)], axis=1),
                             factor * np.stack([np.cos(t_in), np.sin(t_in)], axis=1)])
    y01 = np.concatenate([np.zeros(n_outer, int), np.ones(n // 2, int)])
    return _finish(points, y01, noise, rng, labels, "circles")


def xor(n: int = 100, noise: float = 0.1, seed: int | None = None,
        labels: tuple[float, float] = (0, 1)) -> tuple[np.ndarray, np.ndarray]:
    """Points around the four corners (+-1, +-1); the label is positive where the signs of
    the two coordinates differ (exclusive or)."""
    n = _check_n(n, "xor", minimum=4)
    noise = _check_noise(noise, "xor")
    rng = np.random.default_rng(seed)
    corners = np.array([[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]])
    which = np.arange(n) % 4
    points = corners[which]
    y01 = (np.sign(points[:, 0]) != np.sign(points[:, 1])).astype(int)
    return _finish(points, y01, noise, rng, labels, "xor")


def spiral(n: int = 150, classes: int = 3, noise: float = 0.2, seed: int | None = None
           ) -> tuple[np.ndarray, np.ndarray]:
    """`classes` interleaved spiral arms with n points in all; labels are 0..classes-1.

    Arm k: radius r in [0, 1], angle 4 r + 2 pi k / classes (plus `noise` radians of
    Gaussian jitter), point r (sin angle, cos angle).
    """
    n = _check_n(n, "spiral")
    noise = _check_noise(noise, "spiral")
    if isinstance(classes, bool) or not isinstance(classes, int) or not 2 <= classes <= n:
        raise ValueError(f"spiral: classes must be an integer between 2 and n, got {classes!r}")
    rng = np.random.default_rng(seed)
    counts = [n // classes + (1 if k < n % classes else 0) for k in range(classes)]
    points, ys = [], []
    for k, count in enumerate(counts):
        r = np.linspace(0.0, 1.0, count)
        angle = 4.0 * r + 2.0 * math.pi * k / classes + rng.normal(0.0, noise, count)
        points.append(np.stack([r * np.sin(angle), r * np.cos(angle)], axis=1))
        ys.append(np.full(count, k, dtype=np.int64))
    X, y = np.concatenate(points), np.concatenate(ys)
    order = rng.permutation(n)
    return X[order], y[order]


DATASETS = {"moons": moons, "circles": circles, "xor": xor, "spiral": spiral}


def _check_xy(X: object, y: object, where: str) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    if X.ndim != 2:
        raise ValueError(f"{where}: X must be 2-D (examples x features), got shape {X.shape}")
    if len(y) != len(X):
        raise ValueError(f"{where}: X has {len(X)} rows but y has {len(y)} labels")
    return X, y


def train_val_split(X: np.ndarray, y: np.ndarray, val_fraction: float = 0.2,
                    seed: int | None = None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Shuffle and split into ``(X_train, y_train, X_val, y_val)``.

    The validation part has round(val_fraction * n) rows, at least 1, and the training
    part keeps at least one row.
    """
    X, y = _check_xy(X, y, "train_val_split")
    if not isinstance(val_fraction, (int, float)) or not 0.0 < val_fraction < 1.0:
        raise ValueError(f"train_val_split: val_fraction must be between 0 and 1, "
                         f"got {val_fraction!r}")
    n = len(X)
    if n < 2:
        raise ValueError(f"train_val_split: needs at least 2 examples, got {n}")
    n_val = min(max(1, round(val_fraction * n)), n - 1)
    order = np.random.default_rng(seed).permutation(n)
    val, train = order[:n_val], order[n_val:]
    return X[train], y[train], X[val], y[val]


class Standardizer:
    """Per-feature standardisation x' = (x - mean) / std, with mean and std learnt from
    the training set only (a constant feature keeps std 1, so it maps to 0)."""

    def __init__(self) -> None:
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None

    def fit(self, X: np.ndarray) -> Standardizer:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or len(X) == 0:
            raise ValueError(f"Standardizer.fit: X must be a non-empty 2-D array, "
                             f"got shape {X.shape}")
        self.mean = X.mean(axis=0)
        std = X.std(axis=0)
        self.std = np.where(std > 0.0, std, 1.0)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        if self.mean is None or self.std is None:
            raise RuntimeError("Standardizer.transform: call fit(X_train) first")
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != len(self.mean):
            raise ValueError(f"Standardizer.transform: expected {len(self.mean)} features, "
                             f"got shape {X.shape}")
        return (X - self.mean) / self.std

    def fit_transform(self, X: np.ndarray) -> np.ndarray:
        return self.fit(X).transform(X)

    def inverse_transform(self, X: np.ndarray) -> np.ndarray:
        if self.mean is None or self.std is None:
            raise RuntimeError("Standardizer.inverse_transform: call fit(X_train) first")
        return np.asarray(X, dtype=np.float64) * self.std + self.mean


def standardize(X: np.ndarray) -> tuple[np.ndarray, Standardizer]:
    """Standardise `X` with its own statistics; returns the result and the fitted scaler."""
    scaler = Standardizer()
    return scaler.fit_transform(X), scaler


def minibatches(X: np.ndarray, y: np.ndarray, batch_size: int | None = None,
                shuffle: bool = True, rng: np.random.Generator | None = None,
                seed: int | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(X_batch, y_batch)`` pairs covering every example once.

    ``batch_size=None`` gives one full batch; the last batch may be smaller.  With
    ``shuffle`` the order comes from `rng` (or a new generator from `seed`).
    """
    X, y = _check_xy(X, y, "minibatches")
    n = len(X)
    if batch_size is None:
        batch_size = n
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise ValueError(f"minibatches: batch_size must be a positive integer, "
                         f"got {batch_size!r}")
    if shuffle:
        order = (rng if rng is not None else np.random.default_rng(seed)).permutation(n)
    else:
        order = np.arange(n)
    for start in range(0, n, int(batch_size)):
        idx = order[start:start + int(batch_size)]
        yield X[idx], y[idx]
