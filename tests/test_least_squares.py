"""Residuals and Jacobians for squared error, and the least-squares solvers."""

import numpy as np
import pytest
import scipy.optimize as so
from scipy.sparse.linalg import LinearOperator

import bpopt

from ._curvature_problems import (
    ACTIVATIONS,
    FD_STEP,
    N_ROWS,
    assert_no_kink_crossed,
)
from ._curvature_problems import problem as seeded_problem

SIZES = (3, 5, 4, 2)


def problem(activation="tanh", sizes=SIZES, **kwargs):
    """Squared error by default, with sample weights and l2 = 0.1."""
    return seeded_problem(sizes, activation, **kwargs)


def fd_jacobian(p, h=FD_STEP):
    """Columns ``(r(theta + h e_j) - r(theta - h e_j)) / 2h`` of residuals."""
    columns = []
    for e in np.eye(p.theta.size):
        assert_no_kink_crossed(p, e, h)
        r = p.obj.residuals
        columns.append((r(p.theta + h * e) - r(p.theta - h * e)) / (2 * h))
    return np.column_stack(columns)


# residuals


@pytest.mark.parametrize("block_size", [None, 4])
@pytest.mark.parametrize("l2", [0.0, 0.1])
@pytest.mark.parametrize("weighted", [False, True])
def test_half_squared_residuals_are_the_loss(weighted, l2, block_size):
    obj, theta, *_ = problem(l2=l2, weighted=weighted, block_size=block_size)
    r = obj.residuals(theta)
    n_weights = int(obj.net.layout.weight_mask().sum())
    assert r.shape == (N_ROWS * 2 + (n_weights if l2 else 0),)
    assert r.dtype == np.float64
    np.testing.assert_allclose(0.5 * r @ r, obj.loss(theta), rtol=1e-13)


def test_residuals_are_sample_major_and_scaled():
    obj, theta, X, y, w, _ = problem()
    r = obj.residuals(theta)
    scaled = np.sqrt(w / w.sum())[:, None] * (obj.net.forward(theta, X) - y)
    np.testing.assert_allclose(r[: N_ROWS * 2], scaled.ravel(), rtol=1e-13)
    mask = obj.net.layout.weight_mask()
    np.testing.assert_allclose(r[N_ROWS * 2:], np.sqrt(0.1) * theta[mask],
                               rtol=1e-15)


def test_residuals_of_one_output_take_vector_targets():
    obj, theta, X, y, w, _ = problem(sizes=(3, 4, 1))
    flat = bpopt.Objective(obj.net, X, y[:, 0], loss="squared_error", l2=0.1,
                           sample_weight=w)
    np.testing.assert_array_equal(flat.residuals(theta), obj.residuals(theta))


# the Jacobian


@pytest.mark.parametrize("l2", [0.0, 0.1])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_dense_jacobian_matches_central_differences(activation, l2):
    p = problem(activation, l2=l2, block_size=4)
    obj, theta = p.obj, p.theta
    J = obj.jacobian(theta, dense=True)
    assert isinstance(J, np.ndarray) and J.dtype == np.float64
    assert J.shape == (obj.residuals(theta).size, obj.n_params)
    J_fd = fd_jacobian(p)
    assert np.abs(J - J_fd).max() <= 1e-6 * np.abs(J).max()


@pytest.mark.parametrize("l2", [0.0, 0.1])
@pytest.mark.parametrize("activation", ["tanh", "relu", "softplus"])
def test_operator_is_the_dense_jacobian(activation, l2):
    obj, theta, *_, rng = problem(activation, l2=l2, block_size=4)
    J = obj.jacobian(theta)
    dense = obj.jacobian(theta, dense=True)
    assert isinstance(J, LinearOperator) and J.shape == dense.shape
    assert J.dtype == np.float64
    v = rng.normal(size=J.shape[1])
    u = rng.normal(size=J.shape[0])
    np.testing.assert_allclose(J.matvec(v), dense @ v, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(J.rmatvec(u), dense.T @ u, rtol=1e-12,
                               atol=1e-14)
    # several columns at once, as lsmr and least_squares may ask
    V = rng.normal(size=(J.shape[1], 3))
    np.testing.assert_allclose(J @ V, dense @ V, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(J.T @ u, dense.T @ u, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_operator_passes_the_adjoint_test(activation, weighted):
    obj, theta, *_, rng = problem(activation, weighted=weighted, block_size=4)
    J = obj.jacobian(theta)
    for _ in range(3):
        v = rng.normal(size=J.shape[1])
        u = rng.normal(size=J.shape[0])
        left, right = u @ J.matvec(v), J.rmatvec(u) @ v
        assert abs(left - right) <= 1e-12 * (abs(left) + abs(right))


def test_operator_keeps_its_point():
    obj, theta, *_, rng = problem()
    J = obj.jacobian(theta)
    v = rng.normal(size=obj.n_params)
    before = J.matvec(v)
    theta += 1.0          # the caller reuses its array
    np.testing.assert_array_equal(J.matvec(v), before)


def test_operator_products_run_one_forward_pass():
    obj, theta, *_, rng = problem(block_size=4)
    obj.reset_counts()
    J = obj.jacobian(theta)
    for _ in range(5):
        J.matvec(rng.normal(size=J.shape[1]))
        J.rmatvec(rng.normal(size=J.shape[0]))
    assert obj.counts["forward"] == 1
    assert obj.counts["tangent"] == 5 and obj.counts["backward"] == 5


# the Gauss-Newton product of squared error is J^T J


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_gnvp_is_jtj_plus_l2(activation):
    obj, theta, X, y, w, rng = problem(activation, block_size=4)
    bare = bpopt.Objective(obj.net, X, y, loss="squared_error",
                           sample_weight=w)
    mask = obj.net.layout.weight_mask()
    J = obj.jacobian(theta, dense=True)        # with the sqrt(l2) rows
    J0 = bare.jacobian(theta, dense=True)      # data rows only
    for _ in range(3):
        v = rng.normal(size=obj.n_params)
        Gv = obj.gnvp(theta, v)
        np.testing.assert_allclose(Gv, J.T @ (J @ v), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(Gv, J0.T @ (J0 @ v) + 0.1 * mask * v,
                                   rtol=1e-12, atol=1e-14)


# other losses


@pytest.mark.parametrize("loss", ["softmax_cross_entropy",
                                  "sigmoid_cross_entropy"])
def test_other_losses_point_to_gnvp(loss):
    obj, theta, *_ = problem(loss=loss)
    for call in (lambda: obj.residuals(theta), lambda: obj.jacobian(theta),
                 lambda: obj.jacobian(theta, dense=True)):
        with pytest.raises(ValueError, match=f"squared_error.*{loss}.*gnvp"):
            call()


# least-squares solvers on a regression problem


def regression():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 3))
    y = np.sin(X @ np.array([1.0, -0.5, 0.3]))
    net = bpopt.MLP([3, 8, 1], activation="tanh")
    obj = bpopt.Objective(net, X, y, loss="squared_error", l2=1e-3)
    return obj, net.init(seed=0)


@pytest.mark.parametrize("method", ["trf-lsmr", "lm"])
def test_least_squares_converges_on_regression(method):
    obj, theta0 = regression()
    if method == "lm":
        res = so.least_squares(obj.residuals, theta0, method="lm",
                               jac=lambda t: obj.jacobian(t, dense=True))
    else:
        res = so.least_squares(obj.residuals, theta0, jac=obj.jacobian,
                               tr_solver="lsmr")
    assert res.success
    # from 0.75 at the start to a stationary point near 0.0032
    assert obj.loss(res.x) < 0.0035
    assert np.linalg.norm(obj.grad(res.x)) < 1e-5
