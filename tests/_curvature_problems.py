"""Seeded problems and finite-difference routes shared by the curvature tests.

Not a test module: the curvature test modules import it relatively.
"""

from typing import NamedTuple

import numpy as np

import bpopt

ACTIVATIONS = sorted(bpopt.ACTIVATIONS)
LOSSES = sorted(bpopt.LOSSES)
KINKED = ("relu", "leaky_relu")

# 13 rows: block_size 5 gives blocks of 5, 5 and an uneven last one of 3
N_ROWS = 13

# Central differences of a smooth function err by about h**2 |f'''| / 6
# (truncation) plus eps |f| / h (rounding). For a unit direction and
# parameters of order one the two balance near h = eps**(1/3), about 6e-6,
# where the relative error is near 1e-10: four orders below the 1e-6 the
# tests ask for.
FD_STEP = 6e-6


class Problem(NamedTuple):
    obj: bpopt.Objective
    theta: np.ndarray
    X: np.ndarray
    y: np.ndarray
    w: np.ndarray
    rng: np.random.Generator


def targets(loss, n, k, rng):
    """Random targets of the kind each built-in loss takes."""
    if loss == "softmax_cross_entropy":
        return rng.integers(0, k, n)
    if loss == "sigmoid_cross_entropy":
        return rng.integers(0, 2, (n, k)).astype(float)
    return rng.normal(size=(n, k))


def problem(sizes, activation="tanh", loss="squared_error", seed=0, n=N_ROWS,
            l2=0.1, weighted=True, **kwargs):
    """An objective with sample weights and l2, at a generic point."""
    rng = np.random.default_rng(seed)
    net = bpopt.MLP(sizes, activation=activation)
    X = rng.normal(size=(n, sizes[0]))
    y = targets(loss, n, sizes[-1], rng)
    w = rng.uniform(0.2, 2.0, n) if weighted else None
    obj = bpopt.Objective(net, X, y, loss=loss, l2=l2, sample_weight=w,
                          **kwargs)
    # glorot weights plus noise, so that biases are not zero
    theta = net.init(seed=rng) + 0.1 * rng.normal(size=net.n_params)
    return Problem(obj, theta, X, y, w, rng)


def unit(rng, n):
    v = rng.normal(size=n)
    return v / np.linalg.norm(v)


def rel_err(approx, exact):
    return np.linalg.norm(approx - exact) / np.linalg.norm(exact)


def hidden_preactivations(net, theta, X):
    """``z`` of each hidden layer, as the output of the prefix network."""
    out = []
    for l in range(1, len(net.sizes) - 1):
        prefix = bpopt.MLP(net.sizes[: l + 1],
                           activation=list(net.activations[: l - 1]))
        out.append(prefix.forward(theta[: prefix.n_params], X))
    return out


def assert_no_kink_crossed(p, v, h=FD_STEP):
    """Central differences through relu's kink would be meaningless."""
    net = p.obj.net
    if not any(act.name in KINKED for act in net.activations):
        return
    lo = hidden_preactivations(net, p.theta - h * v, p.X)
    hi = hidden_preactivations(net, p.theta + h * v, p.X)
    for zl, zh in zip(lo, hi):
        assert np.array_equal(zl > 0, zh > 0), "the step crosses a kink"


def fd_hessp(p, v, h=FD_STEP):
    assert_no_kink_crossed(p, v, h)
    g = p.obj.grad
    return (g(p.theta + h * v) - g(p.theta - h * v)) / (2 * h)


def fd_jvp(p, v, h=FD_STEP):
    assert_no_kink_crossed(p, v, h)
    f = p.obj.net.forward
    return (f(p.theta + h * v, p.X) - f(p.theta - h * v, p.X)) / (2 * h)


SIZES = [(3, 4, 2), (3, 5, 4, 3), (3, 4, 4, 3, 2)]
SMALL = (3, 5, 4, 3)


def sizes_id(sizes):
    return "-".join(map(str, sizes))
