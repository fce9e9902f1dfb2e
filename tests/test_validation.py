"""Every bad input fails early with a message naming the argument."""

import numpy as np
import pytest

import bpopt

NET = bpopt.MLP([3, 4, 2])
X = np.random.default_rng(0).normal(size=(5, 3))
Y = np.zeros((5, 2))
LABELS = np.array([0, 1, 1, 0, 1])


def _objective(X=X, y=Y, loss="squared_error", **kwargs):
    return bpopt.Objective(NET, X, y, loss=loss, **kwargs)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(X=X[0]), ValueError, r"X must be 2-D \(n_samples, 3\); got 1-D"),
        (dict(X=X[:, :2]), ValueError, "X has 2 columns; the network expects 3"),
        (dict(X=np.zeros((0, 3)), y=np.zeros((0, 2))), ValueError, "X is empty"),
        (dict(X=np.where(np.eye(5, 3) > 0, np.nan, X)), ValueError,
         "X contains NaN or infinite"),
        (dict(X=X.astype(complex)), TypeError, "X must hold real numbers"),
        (dict(y=np.zeros((4, 2))), ValueError, r"y must have one row per row of X "
         r"\(5\); got shape \(4, 2\)"),
        (dict(y=np.zeros((5, 3))), ValueError, r"shape \(n, 2\); got shape \(5, 3\)"),
        (dict(y=np.full((5, 2), np.inf)), ValueError, "y contains NaN or infinite"),
        (dict(y=LABELS.astype(float), loss="softmax_cross_entropy"), TypeError,
         "integer labels"),
        (dict(y=LABELS + 1, loss="softmax_cross_entropy"), ValueError,
         "labels in y must lie in 0..1"),
        (dict(sample_weight=np.ones((5, 1))), ValueError,
         r"sample_weight must be 1-D of length 5; got shape \(5, 1\)"),
        (dict(sample_weight=np.ones(4)), ValueError,
         "sample_weight has 4 entries; X has 5 rows"),
        (dict(sample_weight=[1, 1, -1, 1, 1]), ValueError,
         "sample_weight must be non-negative"),
        (dict(sample_weight=np.zeros(5)), ValueError, "sample_weight sums to zero"),
        (dict(sample_weight=[1, 1, np.nan, 1, 1]), ValueError,
         "sample_weight contains NaN"),
        (dict(loss="hinge"), ValueError, "loss must be one of"),
        (dict(l2=-1.0), ValueError, "l2 must be finite and non-negative"),
        (dict(l2="big"), TypeError, "l2 must be a real number"),
        (dict(dtype=np.int32), ValueError, "dtype must be numpy.float64 or"),
        (dict(block_size=0), ValueError, "block_size must be positive"),
        (dict(cache_bytes=-1), ValueError, "cache_bytes must be non-negative"),
    ],
)
def test_construction_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        _objective(**kwargs)


def test_net_must_be_an_mlp():
    with pytest.raises(TypeError, match="net must be an MLP; got list"):
        bpopt.Objective([3, 4, 2], X, Y, loss="squared_error")


@pytest.mark.parametrize(
    "theta, error, match",
    [
        (np.zeros(25), ValueError, "theta has 25 entries; this network has 26"),
        (np.zeros((26, 1)), ValueError, r"theta must be 1-D with 26 entries; got "
         r"shape \(26, 1\)"),
        (np.full(26, np.nan), ValueError, "theta contains NaN or infinite"),
        (np.zeros(26, dtype=complex), TypeError, "theta must hold real numbers"),
    ],
)
@pytest.mark.parametrize("method", ["loss", "grad", "loss_and_grad"])
def test_theta_errors(method, theta, error, match):
    with pytest.raises(error, match=match):
        getattr(_objective(), method)(theta)


@pytest.mark.parametrize(
    "out, error, match",
    [
        (np.zeros(25), ValueError, r"out must be float64 of shape \(26,\)"),
        (np.zeros(26, dtype=np.float32), ValueError, "got float32"),
        ([0.0] * 26, TypeError, "out must be a NumPy array"),
    ],
)
def test_out_errors(out, error, match):
    with pytest.raises(error, match=match):
        _objective().loss_and_grad(np.zeros(26), out=out)


def test_read_only_out_is_rejected():
    out = np.zeros(26)
    out.flags.writeable = False
    with pytest.raises(ValueError, match="out is read-only"):
        _objective().loss_and_grad(np.zeros(26), out=out)


def test_integer_theta_is_accepted_exactly():
    obj = _objective()
    assert obj.loss(np.zeros(26, dtype=int)) == obj.loss(np.zeros(26))
