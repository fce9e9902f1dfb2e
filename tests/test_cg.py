"""Truncated conjugate gradients of the Hessian-free method."""

import numpy as np
import pytest

from bpopt._cg import backtrack_points, truncated_cg


def _spd(n, seed):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(n, n))
    return A @ A.T / n + 0.1 * np.eye(n), rng.normal(size=n)


def _phi(A, g, p):
    return g @ p + 0.5 * p @ A @ p


def test_backtrack_points_are_ceil_5_times_1_3_to_the_j():
    assert sorted(backtrack_points(40)) == [5, 7, 9, 11, 15, 19, 25, 32]


@pytest.mark.parametrize("preconditioned", [False, True])
def test_solves_a_small_spd_system(preconditioned):
    A, g = _spd(6, seed=0)
    precond = np.diag(A).copy() if preconditioned else None
    run = truncated_cg(lambda v: A @ v, g, np.zeros(6), 30, precond)
    np.testing.assert_allclose(run.p, np.linalg.solve(A, -g), rtol=1e-8)
    assert run.reason == "progress"


def test_model_values_of_kept_iterates_are_exact_and_decreasing():
    A, g = _spd(40, seed=1)
    # a tiny progress tolerance keeps the run to its cap
    run = truncated_cg(lambda v: A @ v, g, np.zeros(40), 20, progress_tol=1e-15)
    assert [i for i, _, _ in run.iterates] == [5, 7, 9, 11, 15, 19, 20]
    phis = [phi for _, _, phi in run.iterates]
    for _, p, phi in run.iterates:
        assert phi == pytest.approx(_phi(A, g, p), rel=1e-10)
    assert np.all(np.diff(phis) < 0)
    assert run.iterates[-1][1] is run.p and run.n_iter == 20


def test_warm_start_is_used_when_it_beats_zero_and_dropped_otherwise():
    A, g = _spd(30, seed=2)
    solution = np.linalg.solve(A, -g)
    products = []

    def Av(v):
        products.append(v)
        return A @ v

    good = truncated_cg(Av, g, 0.95 * solution, 3)
    assert good.iterates[-1][2] < _phi(A, g, 0.95 * solution) < 0
    bad = truncated_cg(Av, g, -solution, 3)  # phi(-solution) > 0
    cold = truncated_cg(lambda v: A @ v, g, np.zeros(30), 3)
    np.testing.assert_allclose(bad.p, cold.p, rtol=1e-12)


def test_negative_curvature_stops_at_the_last_good_iterate():
    # along -g the curvature is 1 + 2 - 1 > 0, so CG takes one step to
    # p = -1.5 g; the next direction meets the negative eigenvalue
    A = np.diag([1.0, 2.0, -1.0])
    g = np.ones(3)
    run = truncated_cg(lambda v: A @ v, g, np.zeros(3), 10)
    assert (run.reason, run.n_iter) == ("negative curvature", 1)
    np.testing.assert_allclose(run.p, -1.5 * g)
    assert run.iterates == [(1, run.p, pytest.approx(_phi(A, g, run.p)))]


def test_negative_curvature_at_the_first_step_from_zero_gives_a_direction():
    A = -np.eye(4)
    g = np.ones(4)
    run = truncated_cg(lambda v: A @ v, g, np.zeros(4), 10)
    assert run.reason == "negative curvature" and run.n_iter == 0
    np.testing.assert_array_equal(run.p, -g)
    assert run.iterates == [(0, run.p, run.iterates[0][2])]
    assert run.iterates[0][2] == pytest.approx(_phi(A, g, -g))
