"""Output-level products: jvp (tangent of the outputs) and vjp (J^T u)."""

import numpy as np
import pytest

from ._curvature_problems import (
    ACTIVATIONS,
    LOSSES,
    N_ROWS,
    SMALL,
    fd_jvp,
    problem,
    rel_err,
    unit,
)

# output-level products


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_jvp_matches_central_differences_of_forward(activation, loss):
    p = problem(SMALL, activation, loss, block_size=5)
    v = unit(p.rng, p.obj.n_params)
    Jv = p.obj.jvp(p.theta, v)
    assert Jv.shape == (N_ROWS, 3) and Jv.dtype == np.float64
    # outputs only: no sample weight, no l2
    assert rel_err(fd_jvp(p, v), Jv) < 1e-6


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_vjp_is_the_transpose_of_the_output_jacobian(activation):
    p = problem(SMALL, activation, "softmax_cross_entropy",
                block_size=5)
    eye = np.eye(p.obj.n_params)
    J = np.stack([fd_jvp(p, e) for e in eye], axis=-1)   # (n, k, n_params)
    u = p.rng.normal(size=(N_ROWS, 3))
    g = p.obj.vjp(p.theta, u)
    assert g.shape == (p.obj.n_params,) and g.dtype == np.float64
    expected = np.einsum("ik,ikp->p", u, J)
    assert rel_err(g, expected) < 1e-6


@pytest.mark.parametrize("block_size", [None, 4])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_jvp_vjp_adjoint(activation, block_size):
    p = problem(SMALL, activation, "squared_error",
                block_size=block_size)
    v = p.rng.normal(size=p.obj.n_params)
    u = p.rng.normal(size=(N_ROWS, 3))
    left, right = u.ravel() @ p.obj.jvp(p.theta, v).ravel(), p.obj.vjp(
        p.theta, u) @ v
    assert abs(left - right) <= 1e-12 * (abs(left) + abs(right))


def test_vjp_accepts_a_vector_for_one_output():
    p = problem((3, 4, 1), "tanh", "squared_error")
    u = p.rng.normal(size=N_ROWS)
    np.testing.assert_array_equal(p.obj.vjp(p.theta, u),
                                  p.obj.vjp(p.theta, u[:, None]))
    assert p.obj.jvp(p.theta, p.theta).shape == (N_ROWS, 1)
