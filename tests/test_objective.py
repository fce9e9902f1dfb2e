import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bpopt

from .conftest import central_difference_grad, make_objective

ACTS = sorted(bpopt.ACTIVATIONS)
LOSSES = sorted(bpopt.LOSSES)
# central-difference step for float64 objectives of O(1) curvature: truncation
# error ~ h^2 and rounding ~ eps / h balance near 1e-5 to 1e-6
H = 1e-6


def _relative_error(a, b):
    return np.abs(a - b).max() / max(np.abs(b).max(), 1e-12)


def _point(obj, seed):
    """A random point off the kinks: init plus noise."""
    rng = np.random.default_rng(seed)
    return obj.net.init(seed=seed) + 0.3 * rng.normal(size=obj.n_params)


@settings(max_examples=6, deadline=None)
@given(hidden=st.lists(st.integers(1, 5), min_size=1, max_size=3),
       n_in=st.integers(1, 4), n_out=st.integers(2, 3),
       seed=st.integers(0, 2**16), l2=st.sampled_from([0.0, 0.3]),
       weighted=st.booleans())
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("activation", ACTS)
def test_gradient_matches_central_differences(activation, loss, hidden, n_in,
                                              n_out, seed, l2, weighted):
    rng = np.random.default_rng(seed)
    n = 17
    sw = rng.uniform(0.1, 2.0, size=n) if weighted else None
    obj = make_objective([n_in, *hidden, n_out], activation, loss, n=n, seed=seed,
                         l2=l2, sample_weight=sw, block_size=5)
    theta = _point(obj, seed)
    f, g = obj.loss_and_grad(theta)
    assert f == obj.loss(theta)
    fd = central_difference_grad(obj.loss, theta, H)
    assert _relative_error(g, fd) < 1e-6


def test_negative_control_wrong_gradient_fails_the_check():
    obj = make_objective([3, 4, 2], loss="squared_error", l2=0.1)
    theta = _point(obj, 0)
    g = obj.grad(theta)
    g[3] *= 1.001
    assert _relative_error(g, central_difference_grad(obj.loss, theta, H)) > 1e-6


@pytest.mark.parametrize("block_size", [1, 7, 30, 1000])
def test_blocks_sum_to_the_one_block_result(block_size):
    ref = make_objective([4, 6, 3], "relu", "softmax_cross_entropy", n=30,
                         sample_weight=np.linspace(0.1, 1, 30), l2=0.01)
    obj = make_objective([4, 6, 3], "relu", "softmax_cross_entropy", n=30,
                         sample_weight=np.linspace(0.1, 1, 30), l2=0.01,
                         block_size=block_size)
    theta = _point(ref, 1)
    f0, g0 = ref.loss_and_grad(theta)
    f1, g1 = obj.loss_and_grad(theta)
    np.testing.assert_allclose(f1, f0, rtol=1e-14)
    np.testing.assert_allclose(g1, g0, rtol=1e-12, atol=1e-15)


def test_loss_matches_its_definition(rng):
    net = bpopt.MLP([3, 4, 2])
    X, y = rng.normal(size=(9, 3)), rng.normal(size=(9, 2))
    w = rng.uniform(size=9)
    obj = bpopt.Objective(net, X, y, loss="squared_error", l2=0.5, sample_weight=w)
    theta = net.init(seed=3)
    per_sample = 0.5 * ((net.forward(theta, X) - y) ** 2).sum(axis=1)
    weights = np.concatenate([W.ravel() for W, _ in net.unflatten(theta)])
    expected = w @ per_sample / w.sum() + 0.25 * weights @ weights
    np.testing.assert_allclose(obj.loss(theta), expected, rtol=1e-14)


def test_l2_spares_the_biases():
    obj = make_objective([2, 3, 1], l2=1.0)
    theta = np.zeros(obj.n_params)
    theta[[6, 7, 8]] = 5.0  # the first layer's biases
    plain = make_objective([2, 3, 1])
    assert obj.loss(theta) == plain.loss(theta)


def test_out_buffer_is_filled_and_returned():
    obj = make_objective([3, 4, 2], l2=0.1)
    theta = _point(obj, 0)
    out = np.full(obj.n_params, np.nan)
    f, g = obj.loss_and_grad(theta, out=out)
    assert g is out
    np.testing.assert_array_equal(out, obj.grad(theta))


def test_out_may_be_theta_itself():
    # as with NumPy's out=, the result may overwrite the input; the l2 term
    # must still use theta's values, not the gradient written over them
    obj = make_objective([3, 4, 2], l2=0.5)
    theta = _point(obj, 0)
    f, g = obj.loss_and_grad(theta.copy())
    f_in_place, g_in_place = obj.loss_and_grad(theta, out=theta)
    assert g_in_place is theta
    assert f_in_place == f
    np.testing.assert_array_equal(g_in_place, g)


def test_grad_returns_a_fresh_array_each_time():
    obj = make_objective([3, 4, 2])
    theta = _point(obj, 0)
    g1 = obj.grad(theta)
    g1[:] = 0
    assert obj.grad(theta).any()


def test_float32_agrees_with_float64():
    kwargs = dict(sizes=[5, 16, 8, 3], activation="tanh",
                  loss="softmax_cross_entropy", n=200, l2=1e-3)
    obj64 = make_objective(**kwargs)
    obj32 = make_objective(**kwargs, dtype=np.float32)
    theta = _point(obj64, 2)
    f64, g64 = obj64.loss_and_grad(theta)
    f32, g32 = obj32.loss_and_grad(theta)
    assert isinstance(f32, float) and g32.dtype == np.float64
    np.testing.assert_allclose(f32, f64, rtol=1e-6)
    assert _relative_error(g32, g64) < 1e-5


def test_float32_inputs_are_cast_block_by_block():
    obj64 = make_objective([4, 5, 2], n=40)
    X32 = obj64._X.astype(np.float32)
    obj = bpopt.Objective(obj64.net, X32, obj64._y, loss="squared_error",
                          block_size=16, cache_bytes=0)
    assert obj._X is X32
    ref = bpopt.Objective(obj64.net, X32.astype(np.float64), obj64._y,
                          loss="squared_error")
    theta = _point(obj64, 0)
    np.testing.assert_allclose(obj.loss_and_grad(theta)[1],
                               ref.loss_and_grad(theta)[1], rtol=1e-13)


def _input_bytes(n, n_features, itemsize):
    # the kept inputs: n_features + 1 columns padded to 64-byte lines
    per_line = 64 // itemsize
    return n * -(-(n_features + 1) // per_line) * per_line * itemsize


@pytest.mark.parametrize("x_dtype", [np.float64, np.float32])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kept", ["inputs", "inputs and activations"])
def test_kept_inputs_give_the_results_of_the_plain_passes(kept, dtype, x_dtype):
    # with a copy of X and a column of ones, the first layer's bias rides in
    # its matrix product; every method must give what the passes give on X
    sizes, n = [5, 9, 6, 3], 40   # activations larger than the inputs
    itemsize = np.dtype(dtype).itemsize
    cache = _input_bytes(n, sizes[0], itemsize)
    if kept == "inputs and activations":
        cache += n * sum(sizes[1:]) * itemsize
    base = make_objective(sizes, "softplus", "softmax_cross_entropy", n=n)
    X = base._X.astype(x_dtype)

    def objective(cache_bytes):
        return bpopt.Objective(base.net, X, base._y, "softmax_cross_entropy",
                               dtype=dtype, block_size=16,
                               cache_bytes=cache_bytes)

    plain, obj = objective(0), objective(cache)
    assert not plain._data.keep_input and obj._data.keep_input
    assert obj._data.store == (kept == "inputs and activations")
    rng = np.random.default_rng(1)
    theta, v = _point(base, 1), rng.normal(size=base.n_params)
    u = rng.normal(size=(n, sizes[-1]))
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    f, g = obj.loss_and_grad(theta)
    f0, g0 = plain.loss_and_grad(theta)
    np.testing.assert_allclose(f, f0, rtol=rtol)
    assert _relative_error(g, g0) < rtol
    for name, arg in [("hessp", v), ("gnvp", v), ("jvp", v), ("vjp", u)]:
        got, want = getattr(obj, name)(theta, arg), getattr(plain, name)(theta, arg)
        assert _relative_error(got, want) < rtol, name
    assert _relative_error(obj.squared_grads(theta),
                           plain.squared_grads(theta)) < rtol
    # the copy is made once, in the compute dtype, and X is left alone
    inputs = obj._data._inputs
    assert inputs.dtype == dtype and inputs.shape == (n, sizes[0] + 1)
    np.testing.assert_array_equal(inputs[:, -1], 1.0)
    np.testing.assert_array_equal(inputs[:, :-1], X.astype(dtype))
    assert obj._X is X or x_dtype != np.float64


def test_kept_inputs_share_the_cache_with_the_activations():
    # activations come first; the inputs are kept only in what is left
    sizes, n = [5, 7, 3], 40
    activations = n * sum(sizes[1:]) * 8
    inputs = _input_bytes(n, sizes[0], 8)
    for cache, store, keep in [(activations + inputs, True, True),
                               (activations + inputs - 1, True, False),
                               (activations - 1, False, True),
                               (inputs - 1, False, False)]:
        data = make_objective(sizes, n=n, cache_bytes=cache)._data
        assert (data.store, data.keep_input) == (store, keep), cache


def test_pickled_objective_remakes_its_kept_inputs():
    obj = make_objective([4, 5, 2], n=20)
    theta = _point(obj, 0)
    f, g = obj.loss_and_grad(theta)
    assert obj._data._inputs is not None
    clone = pickle.loads(pickle.dumps(obj))
    assert clone._data._inputs is None
    f1, g1 = clone.loss_and_grad(theta)
    assert f1 == f
    np.testing.assert_array_equal(g1, g)


# caching and counters


def test_loss_then_grad_runs_one_forward_pass():
    obj = make_objective([3, 4, 2])
    theta = _point(obj, 0)
    obj.loss(theta)
    obj.grad(theta.copy())
    obj.loss_and_grad(theta.copy())
    counts = obj.counts
    assert counts["forward"] == 1 and counts["backward"] == 1
    assert counts["loss"] == counts["grad"] == counts["loss_and_grad"] == 1
    obj.reset_counts()
    assert not any(obj.counts.values())


def test_without_cache_loss_computes_the_gradient_too():
    obj = make_objective([3, 4, 2], cache_bytes=0)
    theta = _point(obj, 0)
    obj.loss(theta)
    obj.grad(theta)
    assert obj.counts["forward"] == 1 and obj.counts["backward"] == 1


def test_cache_is_keyed_by_values_not_identity():
    obj = make_objective([3, 4, 2])
    theta = _point(obj, 0)
    f0 = obj.loss(theta)
    theta += 0.1  # same object, new values
    assert obj.loss(theta) != f0
    assert obj.counts["forward"] == 2


def test_non_finite_loss_returns_inf_and_a_finite_gradient():
    obj = make_objective([2, 3, 1], activation="identity", l2=0.1)
    theta = np.full(obj.n_params, 1e200)
    f, g = obj.loss_and_grad(theta)
    assert f == np.inf and np.isfinite(g).all()
    # the cache is not poisoned: a finite point afterwards is right
    good = _point(obj, 0)
    np.testing.assert_allclose(obj.loss(good), make_objective(
        [2, 3, 1], activation="identity", l2=0.1).loss(good), rtol=1e-15)


def test_objective_pickles_with_identical_values():
    obj = make_objective([3, 4, 2], "softplus", "sigmoid_cross_entropy", l2=0.1,
                         sample_weight=np.linspace(1, 2, 30))
    theta = _point(obj, 0)
    obj.loss(theta)  # a warm cache must not travel
    again = pickle.loads(pickle.dumps(obj))
    f, g = obj.loss_and_grad(theta)
    f2, g2 = again.loss_and_grad(theta)
    assert f == f2
    np.testing.assert_array_equal(g, g2)


def test_repr():
    obj = make_objective([3, 4, 2], l2=0.5)
    assert repr(obj) == ("Objective(MLP([3, 4, 2], activation='tanh'), "
                         "n_samples=30, loss='squared_error', l2=0.5)")
