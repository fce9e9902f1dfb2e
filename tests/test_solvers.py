"""The objective inside scipy.optimize."""

import threading

import numpy as np
import pytest
import scipy.optimize as so

import bpopt

XOR_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_Y = np.array([0.0, 1.0, 1.0, 0.0])


def _xor():
    return bpopt.Objective(bpopt.MLP([2, 4, 1], "tanh"), XOR_X, XOR_Y,
                           loss="squared_error")


# a start from which every solver below finds the XOR solution
XOR_START = 1


@pytest.mark.parametrize("method, options", [
    ("L-BFGS-B", {"maxiter": 2000, "ftol": 0, "gtol": 1e-12}),
    ("BFGS", {"maxiter": 2000, "gtol": 1e-10}),
    ("CG", {"maxiter": 4000, "gtol": 1e-10}),
    ("TNC", {"maxfun": 4000, "ftol": 0, "gtol": 1e-12}),
])
def test_xor_is_solved(method, options):
    obj = _xor()
    x0 = obj.net.init(seed=XOR_START)
    res = so.minimize(obj.loss_and_grad, x0, jac=True, method=method,
                      options=options)
    assert res.fun < 1e-6
    np.testing.assert_allclose(obj.net.forward(res.x, XOR_X)[:, 0], XOR_Y, atol=2e-3)


@pytest.mark.parametrize("method", ["L-BFGS-B", "BFGS", "CG"])
def test_separate_fun_and_jac_run_one_forward_pass_per_point(method):
    obj = _xor()
    seen = set()

    def loss(theta):
        seen.add(theta.tobytes())
        return obj.loss(theta)

    def grad(theta):
        seen.add(theta.tobytes())
        return obj.grad(theta)

    so.minimize(loss, obj.net.init(seed=XOR_START), jac=grad, method=method,
                options={"maxiter": 50})
    assert obj.counts["forward"] == len(seen)
    assert obj.counts["backward"] <= len(seen)


@pytest.mark.parametrize("l2", [0.0, 0.5])
@pytest.mark.parametrize("method", ["L-BFGS-B", "BFGS", "CG", "TNC"])
def test_linear_regression_reaches_the_least_squares_solution(method, l2):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3))
    y = X @ [1.0, -2.0, 0.5] + 0.3 + 0.1 * rng.normal(size=50)
    obj = bpopt.Objective(bpopt.MLP([3, 1]), X, y, loss="squared_error", l2=l2)

    # known optimum: ridge on the weights, free intercept, mean squared error
    A = np.hstack([X, np.ones((50, 1))])
    P = np.diag([l2, l2, l2, 0.0])
    exact = np.linalg.solve(A.T @ A / 50 + P, A.T @ y / 50)

    res = so.minimize(obj.loss_and_grad, np.zeros(4), jac=True, method=method,
                      options={"gtol": 1e-12} if method != "TNC" else {"gtol": 1e-12})
    np.testing.assert_allclose(res.x, exact, rtol=1e-5, atol=1e-6)


def test_two_threads_share_one_objective_exactly():
    rng = np.random.default_rng(0)
    net = bpopt.MLP([5, 8, 3])
    X = rng.normal(size=(300, 5))
    y = rng.integers(0, 3, size=300)
    obj = bpopt.Objective(net, X, y, loss="softmax_cross_entropy", l2=1e-3,
                          block_size=64)
    starts = [net.init(seed=s) for s in (0, 1)]

    def run(x0):
        return so.minimize(obj.loss_and_grad, x0, jac=True, method="L-BFGS-B",
                           options={"maxiter": 60}).x

    sequential = [run(x0) for x0 in starts]
    threaded = [None, None]

    def work(i):
        threaded[i] = run(starts[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for a, b in zip(sequential, threaded):
        np.testing.assert_array_equal(a, b)


def test_float32_objective_drives_lbfgs():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(100, 4))
    y = np.tanh(X @ rng.normal(size=(4, 2)))
    net = bpopt.MLP([4, 6, 2])
    obj32 = bpopt.Objective(net, X, y, loss="squared_error", dtype=np.float32)
    obj64 = bpopt.Objective(net, X, y, loss="squared_error")
    res = so.minimize(obj32.loss_and_grad, net.init(seed=0), jac=True,
                      method="L-BFGS-B", options={"maxiter": 200})
    assert res.x.dtype == np.float64
    np.testing.assert_allclose(obj64.loss(res.x), res.fun, rtol=1e-4, atol=1e-9)
    assert res.fun < 0.01
