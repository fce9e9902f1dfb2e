import numpy as np
import pytest

import bpopt
from bpopt import LOSSES, Loss

from .conftest import make_targets

# central-difference step: float64 losses are smooth, error ~ h^2
H = 1e-6


def _data(name, rng, n=7, k=4):
    z = rng.normal(scale=2.0, size=(n, k))
    y = LOSSES[name].check_targets(make_targets(name, n, k, rng), k)
    return z, y


def _fd_rows(fn, z):
    """Central differences of a per-row function along each output entry."""
    g = np.empty_like(z)
    for j in range(z.shape[1]):
        e = np.zeros_like(z)
        e[:, j] = H
        g[:, j] = (fn(z + e) - fn(z - e)) / (2 * H)
    return g


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_grad_matches_central_differences(name, rng):
    loss = LOSSES[name]
    z, y = _data(name, rng)
    fd = _fd_rows(lambda zz: loss.value(zz, y), z)
    np.testing.assert_allclose(loss.grad(z, y), fd, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_hvp_matches_central_differences_of_grad(name, rng):
    loss = LOSSES[name]
    z, y = _data(name, rng)
    u = rng.normal(size=z.shape)
    fd = (loss.grad(z + H * u, y) - loss.grad(z - H * u, y)) / (2 * H)
    np.testing.assert_allclose(loss.hvp(z, y, u), fd, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_hvp_is_positive_semidefinite(name, rng):
    loss = LOSSES[name]
    z, y = _data(name, rng)
    for _ in range(5):
        u = rng.normal(size=z.shape)
        assert (np.einsum("ij,ij->i", u, loss.hvp(z, y, u)) >= -1e-14).all()


@pytest.mark.parametrize("weights", ["scalar", "column"])
@pytest.mark.parametrize("name", sorted(LOSSES))
def test_fused_weighted_operations_agree_with_per_sample_ones(name, weights, rng):
    loss = LOSSES[name]
    z, y = _data(name, rng)
    w = 0.25 if weights == "scalar" else rng.uniform(size=(len(z), 1))
    u = rng.normal(size=z.shape)
    out = np.empty_like(z)
    f = loss.weighted_grad(z, y, w, out)
    np.testing.assert_allclose(f, np.sum(np.ravel(w) * loss.value(z, y)), rtol=1e-14)
    np.testing.assert_allclose(out, w * loss.grad(z, y), rtol=1e-14)
    loss.weighted_hvp(z, y, w, u, out)
    np.testing.assert_allclose(out, w * loss.hvp(z, y, u), rtol=1e-14, atol=1e-16)
    np.testing.assert_allclose(loss.weighted_value(z, y, w), f, rtol=1e-14)


def _layout(arr, layout):
    """``arr`` copied into a block of the named memory layout."""
    if layout == "C":
        return np.ascontiguousarray(arr)
    if layout == "F":
        return np.asfortranarray(arr)
    strided = np.zeros((arr.shape[0], 2 * arr.shape[1]))[:, ::2]
    strided[...] = arr
    return strided


@pytest.mark.parametrize("layouts", ["CC", "FF", "CF", "FC", "SS", "FS"])
@pytest.mark.parametrize("name", sorted(LOSSES))
def test_weighted_operations_for_every_memory_layout(name, layouts, rng):
    # the passes hand the output layer over feature-major (F); any layout
    # of z and out must give the same numbers
    loss = LOSSES[name]
    z, y = _data(name, rng)
    w = rng.uniform(size=(len(z), 1))
    u = rng.normal(size=z.shape)
    zl = _layout(z, layouts[0])
    out = _layout(np.full_like(z, np.nan), layouts[1])
    f = loss.weighted_grad(zl, y, w, out)
    np.testing.assert_allclose(f, np.sum(w[:, 0] * loss.value(z, y)), rtol=1e-14)
    np.testing.assert_allclose(out, w * loss.grad(z, y), rtol=1e-14)
    loss.weighted_hvp(zl, y, w, _layout(u, layouts[0]), out)
    np.testing.assert_allclose(out, w * loss.hvp(z, y, u), rtol=1e-14, atol=1e-16)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("top", [-50.0, 0.0, 40.0, 300.0, 400.0, 1e4])
def test_softmax_with_and_without_a_shift(dtype, top):
    # logits up to half the log of the largest float go to exp unshifted;
    # above it the block's maximum is subtracted first: both agree with
    # the float64 reference of each row shifted by its own maximum
    loss = LOSSES["softmax_cross_entropy"]
    rng = np.random.default_rng(3)
    z64 = top + rng.normal(size=(6, 4))
    y = rng.integers(0, 4, size=6)
    z = z64.astype(dtype)
    out = np.empty_like(z)
    with np.errstate(all="raise", under="ignore"):
        f = loss.weighted_grad(z, y, 0.5, out)
    r = z.astype(np.float64) - z.astype(np.float64).max(axis=1, keepdims=True)
    p = np.exp(r) / np.exp(r).sum(axis=1, keepdims=True)
    expected = -0.5 * np.log(p[np.arange(6), y]).sum()
    tol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(f, expected, rtol=tol, atol=tol * abs(top))
    np.testing.assert_allclose(out, 0.5 * (p - np.eye(4)[y]), rtol=tol, atol=tol)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_stable_for_huge_logits(name):
    loss = LOSSES[name]
    z = np.array([[1e4, -1e4], [-1e4, 1e4], [0.0, 1e4]])
    y = loss.check_targets(make_targets(name, 3, 2, np.random.default_rng(0)), 2)
    out = np.empty_like(z)
    with np.errstate(all="raise", under="ignore"):
        f = loss.weighted_grad(z, y, 1.0, out)
        loss.weighted_hvp(z, y, 1.0, np.ones_like(z), out)
    assert np.isfinite(f) and np.isfinite(out).all()


def test_softmax_values_for_huge_logits_are_exact():
    loss = LOSSES["softmax_cross_entropy"]
    z = np.array([[1e4, -1e4], [-1e4, 1e4]])
    np.testing.assert_allclose(loss.value(z, np.array([0, 0])), [0.0, 2e4])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("gap", [10.0, 200.0, 2000.0])
def test_softmax_rows_far_below_the_block_maximum(dtype, gap):
    # a row whose logits lie ``gap`` below the block's largest one: a shared
    # shift would underflow its exponentials (float32 already at gap 104)
    loss = LOSSES["softmax_cross_entropy"]
    z64 = np.array([[0.0, 0.5, -1.0], [-gap, -gap + 1.0, -gap - 2.0]])
    y = np.array([1, 0])
    z = z64.astype(dtype)
    out = np.empty_like(z)
    with np.errstate(all="raise", under="ignore"):
        f = loss.weighted_grad(z, y, 0.5, out)
        hvp = np.empty_like(z)
        loss.weighted_hvp(z, y, 0.5, np.ones_like(z), hvp)

    # each row on its own, in float64, is the reference
    rows = [z64[i:i + 1] - z64[i].max() for i in range(2)]
    p = np.vstack([np.exp(r) / np.exp(r).sum() for r in rows])
    expected = -0.5 * np.log(p[[0, 1], y]).sum()
    # float32: the value is lse - z_y, both near -gap, so it keeps about
    # gap * 6e-8 absolutely; the probabilities keep float32's 6e-8 relatively
    tol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(f, expected, rtol=tol, atol=tol * gap)
    np.testing.assert_allclose(out, 0.5 * (p - np.eye(3)[y]), rtol=tol, atol=tol)
    np.testing.assert_allclose(hvp, np.zeros_like(z), atol=tol)  # H 1 = 0


def test_softmax_probability_rows_equal_labels_when_one_hot(rng):
    loss = LOSSES["softmax_cross_entropy"]
    z = rng.normal(size=(5, 3))
    labels = np.array([0, 2, 1, 1, 0])
    onehot = loss.check_targets(np.eye(3)[labels], 3)
    np.testing.assert_allclose(loss.value(z, onehot), loss.value(z, labels))
    np.testing.assert_allclose(loss.grad(z, onehot), loss.grad(z, labels))


def test_sigmoid_cross_entropy_value():
    loss = LOSSES["sigmoid_cross_entropy"]
    z, y = np.array([[0.3, -1.2]]), np.array([[1.0, 0.0]])
    p = 1 / (1 + np.exp(-z))
    expected = -(y * np.log(p) + (1 - y) * np.log(1 - p)).sum(axis=1)
    np.testing.assert_allclose(loss.value(z, y), expected, rtol=1e-14)


def test_target_errors_name_y():
    soft = LOSSES["softmax_cross_entropy"]
    with pytest.raises(TypeError, match=r"integer labels.*got float64 labels.*astype"):
        soft.check_targets(np.array([0.0, 1.0]), 3)
    with pytest.raises(ValueError,
                       match=r"0\.\.2 for 3 outputs; got values from 0 to 3"):
        soft.check_targets(np.array([0, 3]), 3)
    with pytest.raises(ValueError, match="row 1 sums to"):
        soft.check_targets(np.array([[1.0, 0, 0], [0.5, 0.2, 0.2]]), 3)
    with pytest.raises(ValueError, match="negative"):
        soft.check_targets(np.array([[1.5, -0.5, 0.0]]), 3)
    with pytest.raises(ValueError, match="at least 2 outputs"):
        soft.check_targets(np.array([0, 0]), 1)
    with pytest.raises(ValueError, match=r"shape \(n, 2\); got shape \(3, 3\)"):
        LOSSES["squared_error"].check_targets(np.zeros((3, 3)), 2)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        LOSSES["sigmoid_cross_entropy"].check_targets(np.array([[2.0]]), 1)


def test_unknown_loss_lists_valid_names():
    net = bpopt.MLP([2, 1])
    with pytest.raises(ValueError, match=r"squared_error.*got 'mse'"):
        bpopt.Objective(net, np.zeros((2, 2)), np.zeros(2), loss="mse")


class _Huber(Loss):
    """A user loss through the per-sample hooks only."""

    name = "huber"

    def value(self, z, y):
        r = np.abs(z - y)
        return np.where(r < 1, 0.5 * r**2, r - 0.5).sum(axis=1)

    def grad(self, z, y):
        return np.clip(z - y, -1, 1)

    def hvp(self, z, y, u):
        return (np.abs(z - y) < 1) * u


def test_user_loss_drives_the_objective(rng):
    net = bpopt.MLP([3, 4, 2])
    X, y = rng.normal(size=(20, 3)), rng.normal(size=(20, 2))
    obj = bpopt.Objective(net, X, y, loss=_Huber())
    theta = net.init(seed=1)
    f, g = obj.loss_and_grad(theta)
    out = net.forward(theta, X)
    np.testing.assert_allclose(f, _Huber().value(out, y).mean(), rtol=1e-14)
    assert g.shape == (net.n_params,)


def test_loss_subclass_must_define_all_hooks():
    class Half(Loss):
        def value(self, z, y):
            return z.sum(axis=1)

    with pytest.raises(TypeError, match="abstract"):
        Half()
