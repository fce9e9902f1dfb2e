import numpy as np
import pytest

import bpopt


def make_targets(loss, n, k, rng):
    """Random targets of the right kind for ``loss``."""
    if loss == "softmax_cross_entropy":
        return rng.integers(0, k, size=n)
    if loss == "sigmoid_cross_entropy":
        return rng.integers(0, 2, size=(n, k)).astype(float)
    return rng.normal(size=(n, k))


def make_objective(sizes, activation="tanh", loss="squared_error", n=30, seed=0,
                   **kwargs):
    """A random objective with its data generator seeded by ``seed``."""
    rng = np.random.default_rng(seed)
    net = bpopt.MLP(sizes, activation=activation)
    X = rng.normal(size=(n, sizes[0]))
    y = make_targets(loss, n, sizes[-1], rng)
    return bpopt.Objective(net, X, y, loss=loss, **kwargs)


def central_difference_grad(f, theta, h):
    """Central differences of a scalar function along every coordinate."""
    g = np.empty_like(theta)
    for i in range(theta.size):
        e = np.zeros_like(theta)
        e[i] = h
        g[i] = (f(theta + e) - f(theta - e)) / (2 * h)
    return g


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
