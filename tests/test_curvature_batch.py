"""curvature_batch: full-batch value and gradient, curvature on a subsample."""

import numpy as np
import pytest

from ._curvature_problems import (
    N_ROWS,
    SMALL,
    problem,
    rel_err,
)

# curvature on a row subsample


def test_curvature_batch_uses_the_drawn_rows():
    p = problem(SMALL, "tanh", "softmax_cross_entropy", block_size=5)
    batch = p.obj.curvature_batch(6, seed=4)
    rows = batch.rows
    assert len(rows) == 6 and len(np.unique(rows)) == 6
    assert rows.min() >= 0 and rows.max() < N_ROWS
    sub = p.obj.subset(rows)
    v = p.rng.normal(size=p.obj.n_params)
    for name in ("hessp", "gnvp"):
        np.testing.assert_allclose(getattr(batch, name)(p.theta, v),
                                   getattr(sub, name)(p.theta, v),
                                   rtol=1e-13, atol=1e-15)
    assert batch.jvp(p.theta, v).shape == (6, 3)
    # value and gradient stay those of all rows
    assert batch.loss(p.theta) == p.obj.loss(p.theta)
    np.testing.assert_array_equal(batch.grad(p.theta), p.obj.grad(p.theta))
    f, g = batch.loss_and_grad(p.theta)
    assert f == p.obj.loss(p.theta)
    np.testing.assert_array_equal(g, p.obj.grad(p.theta))


def test_curvature_batch_of_all_rows_is_the_full_objective():
    p = problem(SMALL, "softplus", "squared_error", block_size=5)
    batch = p.obj.curvature_batch(N_ROWS, seed=0)
    v = p.rng.normal(size=p.obj.n_params)
    for name in ("hessp", "gnvp"):
        np.testing.assert_allclose(getattr(batch, name)(p.theta, v),
                                   getattr(p.obj, name)(p.theta, v),
                                   rtol=1e-12, atol=1e-15)


def test_curvature_batch_differs_from_the_full_objective():
    # negative control: a true subsample changes the product
    p = problem(SMALL, "softplus", "squared_error", block_size=5)
    batch = p.obj.curvature_batch(4, seed=0)
    v = p.rng.normal(size=p.obj.n_params)
    assert rel_err(batch.gnvp(p.theta, v), p.obj.gnvp(p.theta, v)) > 1e-3


def test_curvature_batch_is_deterministic_for_a_seed():
    p = problem(SMALL)
    first = p.obj.curvature_batch(5, seed=11).rows
    np.testing.assert_array_equal(p.obj.curvature_batch(5, seed=11).rows, first)
    others = [p.obj.curvature_batch(5, seed=s).rows for s in range(12, 16)]
    assert any(not np.array_equal(rows, first) for rows in others)


def test_curvature_batch_counts_into_the_full_objective():
    p = problem(SMALL)
    batch = p.obj.curvature_batch(5, seed=1)
    p.obj.reset_counts()
    batch.gnvp(p.theta, p.theta)
    batch.loss(p.theta)
    assert batch.counts["gnvp"] == p.obj.counts["gnvp"] == 1
    assert p.obj.counts["loss"] == 1


@pytest.mark.parametrize("size", [0, -1, N_ROWS + 1, 2.5, True, "3"])
def test_curvature_batch_rejects_bad_sizes(size):
    p = problem(SMALL)
    with pytest.raises((ValueError, TypeError), match="size"):
        p.obj.curvature_batch(size, seed=0)
