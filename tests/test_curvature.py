"""Exact Hessian and Gauss-Newton products: hessp and gnvp.

Every product is checked against a route that does not share its code:
central differences of ``grad``, dense matrices built column by column,
and identities that hold exactly (symmetry, the Gauss-Newton matrix equal
to the Hessian where the second-order term vanishes).
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bpopt

from ._curvature_problems import (
    ACTIVATIONS,
    LOSSES,
    N_ROWS,
    SIZES,
    SMALL,
    Problem,
    fd_hessp,
    problem,
    rel_err,
    sizes_id,
    unit,
)

# exact Hessian-vector product


@pytest.mark.parametrize("block_size", [None, 5], ids=["one_block", "blocks_5_5_3"])
@pytest.mark.parametrize("sizes", SIZES, ids=sizes_id)
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_hessp_matches_central_differences(activation, loss, sizes, block_size):
    p = problem(sizes, activation, loss, block_size=block_size)
    for _ in range(2):
        v = unit(p.rng, p.obj.n_params)
        assert rel_err(fd_hessp(p, v), p.obj.hessp(p.theta, v)) < 1e-6


@pytest.mark.parametrize("loss", LOSSES)
def test_hessp_with_probability_targets_and_own_activation(loss):
    # an activation that keeps z (from_output=False) and soft targets
    sine = bpopt.Activation("sine", np.sin, _cos, _minus_sin)
    rng = np.random.default_rng(3)
    net = bpopt.MLP([3, 5, 4, 3], activation=[sine, "tanh"])
    X = rng.normal(size=(N_ROWS, 3))
    if loss == "squared_error":
        y = rng.normal(size=(N_ROWS, 3))
    else:
        y = rng.dirichlet(np.ones(3), size=N_ROWS)
    obj = bpopt.Objective(net, X, y, loss=loss, l2=0.05, block_size=4)
    theta = net.init(seed=rng) + 0.1 * rng.normal(size=net.n_params)
    p = Problem(obj, theta, X, y, None, rng)
    v = unit(rng, net.n_params)
    assert rel_err(fd_hessp(p, v), obj.hessp(p.theta, v)) < 1e-6


def _cos(z, a):
    return np.cos(z)


def _minus_sin(z, a):
    return -np.sin(z)


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_dense_hessian_two_routes(activation, loss):
    # 83 parameters: columns from hessp of unit vectors, and from
    # central differences of grad along the same unit vectors
    p = problem((4, 6, 5, 3), activation, loss, block_size=4)
    eye = np.eye(p.obj.n_params)
    H = np.column_stack([p.obj.hessp(p.theta, e) for e in eye])
    H_fd = np.column_stack([fd_hessp(p, e) for e in eye])
    scale = np.abs(H).max()
    assert np.abs(H - H.T).max() <= 1e-12 * scale
    assert np.abs(H - H_fd).max() <= 1e-6 * scale


def test_gnvp_fails_the_hessian_check():
    # negative control: the Gauss-Newton product is not the Hessian of a
    # network with a hidden layer, and the central-difference check says so
    p = problem(SMALL, "tanh", "softmax_cross_entropy")
    v = unit(p.rng, p.obj.n_params)
    assert rel_err(p.obj.gnvp(p.theta, v), fd_hessp(p, v)) > 1e-3


def test_l2_adds_l2_times_the_weights_of_v():
    p = problem(SMALL, "softplus", "sigmoid_cross_entropy", l2=0.3)
    bare = problem(SMALL, "softplus", "sigmoid_cross_entropy", l2=0.0)
    v = unit(p.rng, p.obj.n_params)
    mask = p.obj.net.layout.weight_mask()
    for product in ("hessp", "gnvp"):
        with_l2 = getattr(p.obj, product)(p.theta, v)
        without = getattr(bare.obj, product)(p.theta, v)
        np.testing.assert_allclose(with_l2 - without, 0.3 * v * mask,
                                   rtol=0, atol=1e-14)


@pytest.mark.parametrize("block_size", [1, 4, 5, 12])
def test_products_do_not_depend_on_blocks(block_size):
    one = problem(SMALL, "tanh", "softmax_cross_entropy")
    blocked = problem(SMALL, "tanh", "softmax_cross_entropy",
                      block_size=block_size)
    theta, v = one.theta, unit(one.rng, one.obj.n_params)
    u = one.rng.normal(size=(N_ROWS, 3))
    for name, args in [("hessp", (v,)), ("gnvp", (v,)), ("jvp", (v,)),
                       ("vjp", (u,))]:
        expected = getattr(one.obj, name)(theta, *args)
        got = getattr(blocked.obj, name)(theta, *args)
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)


# symmetry and positive semidefiniteness, over random networks


@st.composite
def networks(draw):
    loss = draw(st.sampled_from(LOSSES))
    hidden = draw(st.lists(st.integers(1, 6), min_size=0, max_size=3))
    k = draw(st.integers(2 if loss == "softmax_cross_entropy" else 1, 4))
    sizes = (draw(st.integers(1, 5)), *hidden, k)
    return dict(sizes=sizes, loss=loss,
                activation=draw(st.sampled_from(ACTIVATIONS)),
                n=draw(st.integers(1, 20)),
                block_size=draw(st.integers(1, 8)),
                l2=draw(st.sampled_from([0.0, 0.1])),
                weighted=draw(st.booleans()),
                seed=draw(st.integers(0, 2**32 - 1)))


def bilinear_gap(product, theta, u, v):
    """``|u.Av - v.Au|`` over its Cauchy-Schwarz scale."""
    Au, Av = product(theta, u), product(theta, v)
    scale = np.linalg.norm(u) * np.linalg.norm(Av) + np.linalg.norm(
        v) * np.linalg.norm(Au)
    return abs(u @ Av - v @ Au) / scale if scale else 0.0


@settings(max_examples=60, deadline=None, derandomize=True)
@given(networks())
def test_hessp_is_symmetric(case):
    p = problem(**case)
    u, v = (p.rng.normal(size=p.obj.n_params) for _ in range(2))
    assert bilinear_gap(p.obj.hessp, p.theta, u, v) <= 1e-10


@settings(max_examples=60, deadline=None, derandomize=True)
@given(networks())
def test_gnvp_is_symmetric_positive_semidefinite(case):
    p = problem(**case)
    u, v = (p.rng.normal(size=p.obj.n_params) for _ in range(2))
    assert bilinear_gap(p.obj.gnvp, p.theta, u, v) <= 1e-10
    Gv = p.obj.gnvp(p.theta, v)
    assert v @ Gv >= -1e-12 * np.linalg.norm(v) * np.linalg.norm(Gv)


def test_symmetry_check_catches_a_nonsymmetric_product():
    # negative control for bilinear_gap
    rng = np.random.default_rng(5)
    A = rng.normal(size=(6, 6))
    u, v = rng.normal(size=(2, 6))
    assert bilinear_gap(lambda theta, x: A @ x, None, u, v) > 1e-3
    S = A + A.T
    assert bilinear_gap(lambda theta, x: S @ x, None, u, v) <= 1e-15


def test_hessian_is_indefinite_where_gauss_newton_is_not():
    # negative control for the semidefiniteness check: the exact Hessian
    # of a tanh network at a generic point has negative eigenvalues
    p = problem((4, 6, 5, 3), "tanh", "softmax_cross_entropy", l2=0.0)
    eye = np.eye(p.obj.n_params)
    H = np.column_stack([p.obj.hessp(p.theta, e) for e in eye])
    G = np.column_stack([p.obj.gnvp(p.theta, e) for e in eye])
    h, g = np.linalg.eigvalsh(H), np.linalg.eigvalsh(G)
    assert h.min() < -1e-3 * h.max()
    assert g.min() >= -1e-12 * g.max()


# where the Gauss-Newton matrix is the Hessian


@pytest.mark.parametrize("loss", LOSSES)
def test_gnvp_is_hessp_without_hidden_layer(loss):
    # the outputs are linear in theta, so H = J^T H_L J exactly
    p = problem((4, 3), loss=loss, block_size=5)
    for _ in range(3):
        v = unit(p.rng, p.obj.n_params)
        np.testing.assert_allclose(p.obj.gnvp(p.theta, v),
                                   p.obj.hessp(p.theta, v), rtol=1e-12,
                                   atol=1e-15)


def zero_residual_problem(activation, exact):
    p = problem((3, 5, 4, 2), activation, block_size=5)
    y = p.obj.net.forward(p.theta, p.X)
    if not exact:
        y = y + p.rng.normal(size=y.shape)
    obj = bpopt.Objective(p.obj.net, p.X, y, loss="squared_error", l2=0.1,
                          sample_weight=p.rng.uniform(0.2, 2.0, N_ROWS),
                          block_size=5)
    return p._replace(obj=obj)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_gnvp_is_hessp_where_residuals_vanish(activation):
    p = zero_residual_problem(activation, exact=True)
    for _ in range(3):
        v = unit(p.rng, p.obj.n_params)
        np.testing.assert_allclose(p.obj.gnvp(p.theta, v),
                                   p.obj.hessp(p.theta, v), rtol=1e-12,
                                   atol=1e-14)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_gnvp_differs_from_hessp_where_residuals_do_not_vanish(activation):
    # negative control: the delta V^T term survives even for linear layers
    p = zero_residual_problem(activation, exact=False)
    v = unit(p.rng, p.obj.n_params)
    assert rel_err(p.obj.gnvp(p.theta, v), p.obj.hessp(p.theta, v)) > 1e-3


def test_gnvp_damping_adds_a_multiple_of_v():
    p = problem(SMALL, "tanh", "softmax_cross_entropy")
    v = p.rng.normal(size=p.obj.n_params)
    plain = p.obj.gnvp(p.theta, v)
    damped = p.obj.gnvp(p.theta, v, damping=0.75)
    np.testing.assert_allclose(damped - plain, 0.75 * v, rtol=0, atol=1e-14)


# input errors


@pytest.mark.parametrize("method", ["hessp", "gnvp", "jvp"])
def test_direction_errors_name_v(method):
    p = problem(SMALL)
    call = getattr(p.obj, method)
    n = p.obj.n_params
    with pytest.raises(ValueError, match=f"v has {n - 1} entries"):
        call(p.theta, np.ones(n - 1))
    bad = np.ones(n)
    bad[3] = np.nan
    with pytest.raises(ValueError, match="v contains NaN"):
        call(p.theta, bad)
    bad[3] = np.inf
    with pytest.raises(ValueError, match="v contains NaN or infinite"):
        call(p.theta, bad)
    with pytest.raises(ValueError, match="v must be 1-D"):
        call(p.theta, np.ones((n, 1)))
    with pytest.raises(TypeError, match="v must hold real numbers"):
        call(p.theta, np.full(n, "a"))
    with pytest.raises(ValueError, match="theta has 2 entries"):
        call(np.ones(2), np.ones(n))


def test_cotangent_errors_name_u():
    p = problem(SMALL)
    with pytest.raises(ValueError, match=r"u must have shape \(13, 3\)"):
        p.obj.vjp(p.theta, np.ones((N_ROWS, 2)))
    with pytest.raises(ValueError, match=r"u must have shape \(13, 3\)"):
        p.obj.vjp(p.theta, np.ones(N_ROWS * 3))
    bad = np.ones((N_ROWS, 3))
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="u contains NaN"):
        p.obj.vjp(p.theta, bad)


@pytest.mark.parametrize("damping", [-1e-3, np.nan, np.inf])
def test_gnvp_rejects_bad_damping_values(damping):
    p = problem(SMALL)
    with pytest.raises(ValueError, match="damping"):
        p.obj.gnvp(p.theta, p.theta, damping=damping)


@pytest.mark.parametrize("damping", ["0.1", None, [0.1, 0.2], True])
def test_gnvp_rejects_damping_that_is_not_a_number(damping):
    p = problem(SMALL)
    with pytest.raises(TypeError, match="damping"):
        p.obj.gnvp(p.theta, p.theta, damping=damping)
