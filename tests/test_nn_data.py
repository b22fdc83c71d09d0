"""Datasets against their defining equations; splitting, standardising and batching."""

import numpy as np
import pytest

import nn
from nn.data import Standardizer


def test_moons_without_noise_lie_on_their_half_circles():
    X, y = nn.moons(101, noise=0.0, seed=0)
    assert X.shape == (101, 2) and X.dtype == np.float64
    assert np.sum(y == 0) == 51 and np.sum(y == 1) == 50
    upper, lower = X[y == 0], X[y == 1]
    np.testing.assert_allclose(np.hypot(upper[:, 0], upper[:, 1]), 1.0, rtol=1e-14)
    assert np.all(upper[:, 1] >= -1e-15)
    np.testing.assert_allclose(np.hypot(lower[:, 0] - 1.0, lower[:, 1] - 0.5), 1.0, rtol=1e-14)
    assert np.all(lower[:, 1] <= 0.5 + 1e-15)


def test_noise_has_the_requested_spread_and_seeds_repeat():
    clean, y0 = nn.moons(2000, noise=0.0, seed=1)
    noisy, y1 = nn.moons(2000, noise=0.1, seed=1)
    # the same seed shuffles the same way, so the difference is the noise alone
    np.testing.assert_array_equal(y0, y1)
    assert np.std(noisy - clean) == pytest.approx(0.1, rel=0.05)
    a, b = nn.moons(50, noise=0.1, seed=7), nn.moons(50, noise=0.1, seed=7)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], nn.moons(50, noise=0.1, seed=8)[0])


def test_labels_option_gives_signed_labels():
    _, y = nn.moons(10, seed=0, labels=(-1, 1))
    assert set(y.tolist()) == {-1, 1} and y.dtype == np.int64
    with pytest.raises(ValueError, match="moons: labels must be two different numbers"):
        nn.moons(10, labels=(1, 1))


def test_circles_xor_and_spiral_follow_their_definitions():
    X, y = nn.circles(40, noise=0.0, factor=0.3, seed=0)
    radii = np.hypot(X[:, 0], X[:, 1])
    np.testing.assert_allclose(radii[y == 0], 1.0, rtol=1e-14)
    np.testing.assert_allclose(radii[y == 1], 0.3, rtol=1e-14)
    X, y = nn.xor(40, noise=0.0, seed=0)
    assert np.all(np.abs(X) == 1.0)
    np.testing.assert_array_equal(y, (X[:, 0] * X[:, 1] < 0).astype(int))
    X, y = nn.spiral(90, classes=3, noise=0.0, seed=0)
    assert sorted(np.bincount(y).tolist()) == [30, 30, 30]
    r = np.hypot(X[:, 0], X[:, 1])
    angle = np.arctan2(X[:, 0], X[:, 1])  # points are r (sin a, cos a)
    expected = 4 * r + 2 * np.pi * y / 3
    wrapped = np.angle(np.exp(1j * (angle - expected)))
    np.testing.assert_allclose(wrapped[r > 1e-9], 0.0, atol=1e-9)


def test_generators_reject_bad_arguments():
    with pytest.raises(ValueError, match="moons: n must be an integer >= 2, got 1"):
        nn.moons(1)
    with pytest.raises(ValueError, match="circles: noise must be a finite number >= 0"):
        nn.circles(10, noise=-0.1)
    with pytest.raises(ValueError, match="circles: factor must be between 0 and 1"):
        nn.circles(10, factor=1.5)
    with pytest.raises(ValueError, match="spiral: classes must be an integer between 2"):
        nn.spiral(10, classes=1)


def test_train_val_split_partitions_the_rows():
    X = np.arange(20.0).reshape(10, 2)
    y = np.arange(10)
    Xt, yt, Xv, yv = nn.train_val_split(X, y, 0.3, seed=0)
    assert len(Xv) == 3 and len(Xt) == 7
    assert sorted(yt.tolist() + yv.tolist()) == list(range(10))
    np.testing.assert_array_equal(Xt[:, 0], 2 * yt)  # rows stay paired with their labels
    again = nn.train_val_split(X, y, 0.3, seed=0)
    np.testing.assert_array_equal(again[3], yv)
    with pytest.raises(ValueError, match="X has 10 rows but y has 9 labels"):
        nn.train_val_split(X, y[:9])


def test_standardizer_uses_training_statistics():
    rng = np.random.default_rng(0)
    train = rng.normal([3.0, -2.0, 5.0], [2.0, 0.5, 0.0], size=(200, 3))
    scaled, scaler = nn.standardize(train)
    np.testing.assert_allclose(scaled[:, :2].mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(scaled[:, :2].std(axis=0), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(scaled[:, 2], 0.0)  # constant feature
    test = np.array([[3.0, -2.0, 5.0]])
    expected = (test - train.mean(axis=0)) / np.where(train.std(axis=0) > 0, train.std(axis=0), 1)
    np.testing.assert_allclose(scaler.transform(test), expected, rtol=1e-12)
    np.testing.assert_allclose(scaler.inverse_transform(scaled), train, rtol=1e-12, atol=1e-12)
    with pytest.raises(RuntimeError, match="call fit"):
        Standardizer().transform(test)


def test_minibatches_cover_every_example_once():
    X = np.arange(14.0).reshape(7, 2)
    y = np.arange(7)
    batches = list(nn.minibatches(X, y, batch_size=3, seed=0))
    assert [len(b[1]) for b in batches] == [3, 3, 1]
    assert sorted(np.concatenate([b[1] for b in batches]).tolist()) == list(range(7))
    for Xb, yb in batches:
        np.testing.assert_array_equal(Xb[:, 0], 2 * yb)
    ordered = list(nn.minibatches(X, y, batch_size=None, shuffle=False))
    assert len(ordered) == 1 and ordered[0][1].tolist() == list(range(7))
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        list(nn.minibatches(X, y, batch_size=0))
