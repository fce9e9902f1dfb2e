"""hessp and gnvp on the cached forward pass, in threads and in float32."""

import numpy as np
import pytest

from ._curvature_problems import (
    LOSSES,
    N_ROWS,
    SMALL,
    problem,
    rel_err,
    unit,
)

# reuse of the forward pass


def forwards(obj, calls):
    obj.reset_counts()
    for call in calls:
        call()
    return obj.counts["forward"]


def activation_bytes(sizes, n, itemsize=8):
    # built-in activations keep only a = f(z) for each layer but the input
    return n * sum(sizes[1:]) * itemsize



@pytest.mark.parametrize("product", ["hessp", "gnvp"])
def test_products_reuse_the_forward_pass_of_loss(product):
    p = problem(SMALL, "tanh", "softmax_cross_entropy", block_size=5)
    v = p.rng.normal(size=p.obj.n_params)
    call = getattr(p.obj, product)
    p.obj.loss(p.theta)
    # same values, another array, as SciPy passes copies of x
    assert forwards(p.obj, [lambda: call(p.theta.copy(), v)]) == 0
    assert p.obj.counts[product] == 1 and p.obj.counts["tangent"] == 1
    assert forwards(p.obj, [lambda: call(p.theta + 1e-9, v)]) == 1


def test_several_gnvp_at_one_point_run_one_forward_pass():
    p = problem(SMALL, "relu", "squared_error", block_size=5)
    vs = p.rng.normal(size=(4, p.obj.n_params))
    calls = [lambda v=v: p.obj.gnvp(p.theta, v) for v in vs]
    calls += [lambda: p.obj.hessp(p.theta, vs[0]),
              lambda: p.obj.loss_and_grad(p.theta)]
    assert forwards(p.obj, calls) == 1


def test_cache_follows_values_not_identity():
    # Newton-CG updates its iterate in place between calls
    p = problem(SMALL, "tanh", "softmax_cross_entropy")
    fresh = problem(SMALL, "tanh", "softmax_cross_entropy")
    v = p.rng.normal(size=p.obj.n_params)
    x = p.theta.copy()
    p.obj.loss(x)
    x += 0.01 * v
    np.testing.assert_array_equal(p.obj.hessp(x, v), fresh.obj.hessp(x, v))
    np.testing.assert_array_equal(p.obj.gnvp(x, v), fresh.obj.gnvp(x, v))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("fits", [True, False])
def test_products_recompute_when_activations_exceed_the_cache(fits, dtype):
    limit = activation_bytes(SMALL, N_ROWS, np.dtype(dtype).itemsize)
    p = problem(SMALL, "tanh", "softmax_cross_entropy", dtype=dtype,
                block_size=5, cache_bytes=limit if fits else limit - 1)
    v = p.rng.normal(size=p.obj.n_params)
    runs = forwards(p.obj, [lambda: p.obj.loss(p.theta),
                            lambda: p.obj.hessp(p.theta, v)]
                    + [lambda: p.obj.gnvp(p.theta, v)] * 3)
    assert runs == (1 if fits else 5)


def test_no_cache_still_gives_the_same_products():
    cached = problem(SMALL, "logistic", "sigmoid_cross_entropy", block_size=5)
    uncached = problem(SMALL, "logistic", "sigmoid_cross_entropy",
                       block_size=5, cache_bytes=0)
    v = cached.rng.normal(size=cached.obj.n_params)
    for name in ("hessp", "gnvp"):
        np.testing.assert_allclose(
            getattr(uncached.obj, name)(cached.theta, v),
            getattr(cached.obj, name)(cached.theta, v), rtol=1e-13, atol=1e-15)


def test_products_leave_their_inputs_alone():
    p = problem(SMALL, "tanh", "softmax_cross_entropy", block_size=5)
    theta, v = p.theta.copy(), p.rng.normal(size=p.obj.n_params)
    v0 = v.copy()
    first = p.obj.gnvp(theta, v)
    kept = first.copy()
    p.obj.hessp(theta, 2 * v)
    p.obj.gnvp(theta, 3 * v)
    np.testing.assert_array_equal(theta, p.theta)
    np.testing.assert_array_equal(v, v0)
    np.testing.assert_array_equal(first, kept)


def test_products_leave_the_cached_forward_pass_intact():
    p = problem(SMALL, "softplus", "softmax_cross_entropy", block_size=5)
    fresh = problem(SMALL, "softplus", "softmax_cross_entropy", block_size=5)
    u, v = p.rng.normal(size=(2, p.obj.n_params))
    p.obj.loss(p.theta)
    first = p.obj.hessp(p.theta, v)
    p.obj.gnvp(p.theta, u)
    p.obj.jvp(p.theta, u)
    p.obj.vjp(p.theta, p.rng.normal(size=(N_ROWS, 3)))
    np.testing.assert_array_equal(p.obj.hessp(p.theta, v), first)
    f, g = p.obj.loss_and_grad(p.theta)
    f0, g0 = fresh.obj.loss_and_grad(p.theta)
    np.testing.assert_allclose(f, f0, rtol=1e-14)
    np.testing.assert_allclose(g, g0, rtol=1e-13, atol=1e-15)


def test_products_from_several_threads():
    # one objective serving solvers in threads: each thread its own point
    from concurrent.futures import ThreadPoolExecutor

    p = problem(SMALL, "tanh", "softmax_cross_entropy", block_size=5)
    points = [p.theta + 0.1 * p.rng.normal(size=p.obj.n_params)
              for _ in range(4)]
    v = p.rng.normal(size=p.obj.n_params)
    serial = [(p.obj.hessp(t, v), p.obj.gnvp(t, v)) for t in points]

    def work(i):
        out = None
        for _ in range(20):
            p.obj.loss(points[i])
            out = p.obj.hessp(points[i], v), p.obj.gnvp(points[i], v)
        return out

    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(work, range(4)))
    for (h, g), (h0, g0) in zip(threaded, serial):
        np.testing.assert_allclose(h, h0, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(g, g0, rtol=1e-13, atol=1e-15)


# float32 inside


@pytest.mark.parametrize("loss", LOSSES)
def test_float32_products_agree_with_float64(loss):
    p64 = problem(SMALL, "tanh", loss, block_size=5)
    p32 = problem(SMALL, "tanh", loss, block_size=5, dtype=np.float32)
    v = unit(p64.rng, p64.obj.n_params)
    for name in ("hessp", "gnvp"):
        got = getattr(p32.obj, name)(p64.theta, v)
        assert got.dtype == np.float64
        # float32 rounding (6e-8) grown by a few sums over rows and layers
        assert rel_err(got, getattr(p64.obj, name)(p64.theta, v)) < 1e-5
