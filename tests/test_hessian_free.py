"""hessian_free as a custom method of scipy.optimize.minimize."""

import logging

import numpy as np
import pytest
import scipy.optimize as so

import bpopt

XOR_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_Y = np.array([0.0, 1.0, 1.0, 0.0])


class Quadratic:
    """``f(x) = 0.5 x.Q x - b.x`` with a random SPD ``Q``; ``hessp`` returns
    ``scale * Q v``, a curvature ``scale`` times the true one."""

    def __init__(self, n=8, seed=0, scale=1.0):
        rng = np.random.default_rng(seed)
        A = rng.normal(size=(n, n))
        self.Q = A @ A.T / n + 0.5 * np.eye(n)
        self.b = rng.normal(size=n)
        self.scale = scale
        self.calls = {"fun": 0, "jac": 0, "hessp": 0}

    def fun(self, x):
        self.calls["fun"] += 1
        return 0.5 * x @ self.Q @ x - self.b @ x

    def jac(self, x):
        self.calls["jac"] += 1
        return self.Q @ x - self.b

    def fun_and_jac(self, x):
        self.calls["fun"] += 1
        return 0.5 * x @ self.Q @ x - self.b @ x, self.Q @ x - self.b

    def hessp(self, x, v):
        self.calls["hessp"] += 1
        return self.scale * (self.Q @ v)

    @property
    def solution(self):
        return np.linalg.solve(self.Q, self.b)


def _xor():
    return bpopt.Objective(bpopt.MLP([2, 4, 1], "tanh"), XOR_X, XOR_Y,
                           loss="squared_error")


def _regression(n=200):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 3))
    y = np.sin(X @ [1.0, -0.5, 0.3]) + 0.1 * X[:, 0] ** 2
    return bpopt.Objective(bpopt.MLP([3, 8, 1], "tanh"), X, y,
                           loss="squared_error")


def _hf(fun, x0, options=None, **kwargs):
    return so.minimize(fun, x0, method=bpopt.hessian_free, options=options,
                       **kwargs)


# convergence


@pytest.mark.parametrize("jac_true", [True, False], ids=["jac=True", "jac=callable"])
@pytest.mark.parametrize("initial_damping, max_nit", [(1e-3, 3), (1.0, 12)])
def test_convex_quadratic_converges_in_a_handful_of_iterations(
        jac_true, initial_damping, max_nit):
    q = Quadratic()
    fun, jac = (q.fun_and_jac, True) if jac_true else (q.fun, q.jac)
    res = _hf(fun, np.zeros(8), {"initial_damping": initial_damping,
                                 "gtol": 1e-8, "ftol": 0.0}, jac=jac,
              hessp=q.hessp)
    assert res.success, res.message
    assert res.nit <= max_nit
    np.testing.assert_allclose(res.x, q.solution, atol=1e-7)


@pytest.mark.parametrize("curvature", ["gnvp", "hessp"])
@pytest.mark.parametrize("seed", [0, 1])
def test_xor_is_solved(curvature, seed):
    obj = _xor()
    res = _hf(obj.loss_and_grad, obj.net.init(seed), {"maxiter": 100}, jac=True,
              hessp=getattr(obj, curvature))
    assert res.success, res.message
    assert res.fun < 1e-8
    np.testing.assert_allclose(obj.net.forward(res.x, XOR_X)[:, 0], XOR_Y,
                               atol=1e-3)


@pytest.mark.parametrize("variant", ["plain", "preconditioned"])
def test_regression_net_converges(variant):
    obj = _regression()
    # ftol=0: run to a stationary point, not to a short step near f = 0
    options = {"maxiter": 100, "ftol": 0.0}
    if variant == "preconditioned":
        options["preconditioner"] = obj.squared_grads
    res = _hf(obj.loss, obj.net.init(0), options, jac=obj.grad, hessp=obj.gnvp)
    assert res.success, res.message
    assert np.max(np.abs(obj.grad(res.x))) <= 1e-5
    assert res.fun < 1e-5


def test_subsampled_gauss_newton_from_curvature_batch_makes_progress():
    obj = _regression()
    x0 = obj.net.init(0)
    batch = obj.curvature_batch(50, seed=0)
    res = _hf(batch.loss, x0, {"maxiter": 40}, jac=batch.grad, hessp=batch.gnvp)
    assert res.fun < 1e-2 * obj.loss(x0)
    assert obj.counts["gnvp"] == res.nhev


def test_preconditioner_removes_diagonal_scaling_from_cg():
    # Q diagonal with condition 1e4; the preconditioner (d + lambda)**0.75
    # with d = diag(Q)**(4/3) is nearly Q itself, so CG needs few steps
    diag = np.logspace(0, 4, 40)
    fun = lambda x: 0.5 * x @ (diag * x) - x.sum()  # noqa: E731
    jac = lambda x: diag * x - 1.0  # noqa: E731
    hessp = lambda x, v: diag * v  # noqa: E731
    runs = {}
    for name, precond in [("none", None), ("diag", lambda x: diag ** (4 / 3))]:
        runs[name] = _hf(fun, np.zeros(40), {"preconditioner": precond,
                                             "initial_damping": 1e-6,
                                             "gtol": 1e-9},
                         jac=jac, hessp=hessp)
        assert runs[name].success, runs[name].message
    assert runs["diag"].ncg < runs["none"].ncg / 3


# damping


@pytest.mark.parametrize("scale, factor", [
    (1.0, 2 / 3),   # exact model: rho = 1, lambda shrinks
    (2 / 3, 1.0),   # rho = 0.5, between the thresholds: lambda unchanged
    (0.01, 1.5),    # curvature 100 times too small: rho < 0, lambda grows
])
def test_damping_follows_the_reduction_ratio(scale, factor):
    # with hessp = scale * Q and negligible damping the step is the Newton
    # step over scale, and rho = 2 - 1 / scale exactly
    q = Quadratic(scale=scale)
    seen = []
    lam0 = 1e-8
    _hf(q.fun, np.zeros(8), {"maxiter": 1, "initial_damping": lam0}, jac=q.jac,
        hessp=q.hessp, callback=lambda intermediate_result: seen.append(
            intermediate_result))
    assert seen[0].rho == pytest.approx(2 - 1 / scale, rel=1e-5)
    assert seen[0].damping == pytest.approx(lam0 * factor, rel=1e-12)


def test_a_nan_objective_at_the_trial_point_counts_as_a_bad_step():
    q = Quadratic()
    res = _hf(lambda x: np.nan if np.any(x) else q.fun(x), np.zeros(8),
              {"maxiter": 1}, jac=q.jac, hessp=q.hessp)
    assert res.damping == pytest.approx(1.5)
    np.testing.assert_array_equal(res.x, 0.0)


def test_damping_constants_are_options():
    q = Quadratic()
    res = _hf(q.fun, np.zeros(8), {"maxiter": 1, "damping_drop": 0.1,
                                   "initial_damping": 2.0},
              jac=q.jac, hessp=q.hessp)
    assert res.damping == pytest.approx(0.2)


# callbacks and the result


def test_callback_with_x_gets_a_copy_of_each_iterate():
    q = Quadratic()
    xs = []
    res = _hf(q.fun, np.zeros(8), jac=q.jac, hessp=q.hessp, callback=xs.append)
    assert len(xs) == res.nit
    np.testing.assert_array_equal(xs[-1], res.x)
    assert xs[-1] is not res.x


def test_callback_with_intermediate_result_gets_the_iteration_data():
    obj = _xor()
    seen = []
    res = _hf(obj.loss_and_grad, obj.net.init(0), {"maxiter": 100}, jac=True,
              hessp=obj.gnvp,
              callback=lambda intermediate_result: seen.append(intermediate_result))
    assert [r.nit for r in seen] == list(range(1, res.nit + 1))
    for r in seen:
        assert isinstance(r, so.OptimizeResult)
        assert r.fun == obj.loss(r.x)
        np.testing.assert_array_equal(r.jac, obj.grad(r.x))
        assert r.damping > 0 and r.cg_iter >= 1
    assert seen[-1].fun == res.fun


@pytest.mark.parametrize("form", ["x", "intermediate_result"])
def test_stop_iteration_from_the_callback_ends_the_run(form):
    q = Quadratic()

    def stop_at_two(res):
        if len(xs) == 2:
            raise StopIteration
        xs.append(res)

    xs = []
    callback = (stop_at_two if form == "x" else
                lambda intermediate_result: stop_at_two(intermediate_result))
    res = _hf(q.fun, np.zeros(8), jac=q.jac, hessp=q.hessp, callback=callback)
    assert (res.status, res.success, res.nit) == (99, False, 3)
    assert "StopIteration" in res.message


@pytest.mark.parametrize("jac_true", [True, False], ids=["jac=True", "jac=callable"])
def test_result_fields_and_evaluation_counts(jac_true):
    q = Quadratic()
    fun, jac = (q.fun_and_jac, True) if jac_true else (q.fun, q.jac)
    res = _hf(fun, np.zeros(8), jac=jac, hessp=q.hessp)
    for field in ("x", "fun", "jac", "nit", "nfev", "njev", "nhev", "success",
                  "status", "message", "damping", "ncg"):
        assert field in res
    assert (res.status, res.success) == (0, True)
    assert res.fun == q.fun(res.x)
    np.testing.assert_array_equal(res.jac, q.jac(res.x))
    q.calls["fun"] -= 1
    q.calls["jac"] -= 1
    assert res.nhev == q.calls["hessp"]
    if jac_true:
        # SciPy's memo answers both fun and jac at the last evaluated point
        assert 0 < q.calls["fun"] <= res.nfev + res.njev
    else:
        assert (res.nfev, res.njev) == (q.calls["fun"], q.calls["jac"])


def test_maxiter_ends_the_run_with_status_1():
    obj = _xor()
    res = _hf(obj.loss_and_grad, obj.net.init(0), {"maxiter": 2}, jac=True,
              hessp=obj.gnvp)
    assert (res.status, res.success, res.nit) == (1, False, 2)
    assert "maxiter=2" in res.message


def test_cg_cap_grows_to_cg_maxiter_without_overflow():
    # a growth so fast that growth**nit overflows a float by the third
    # iteration: the cap must simply stay at cg_maxiter
    obj = _xor()
    res = _hf(obj.loss_and_grad, obj.net.init(0),
              {"maxiter": 6, "gtol": 0.0, "ftol": 0.0, "cg_growth": 1e200,
               "cg_maxiter": 20}, jac=True, hessp=obj.gnvp)
    assert (res.status, res.nit) == (1, 6)
    assert res.ncg <= 20 * res.nit


def test_args_reach_fun_jac_and_hessp():
    q = Quadratic()
    res = _hf(lambda x, c: c * q.fun(x), np.zeros(8), {"ftol": 0.0}, args=(2.0,),
              jac=lambda x, c: c * q.jac(x), hessp=lambda x, v, c: c * q.hessp(x, v))
    np.testing.assert_allclose(res.x, q.solution, atol=1e-5)


def test_minimize_tol_sets_gtol():
    q = Quadratic()
    loose = _hf(q.fun, np.zeros(8), jac=q.jac, hessp=q.hessp, tol=1e-1)
    tight = _hf(q.fun, np.zeros(8), jac=q.jac, hessp=q.hessp, tol=1e-10)
    assert np.max(np.abs(loose.jac)) <= 1e-1
    assert loose.nit < tight.nit


def test_objective_not_finite_at_x0_returns_status_3():
    q = Quadratic()
    res = _hf(lambda x: np.inf, np.zeros(8), jac=q.jac, hessp=q.hessp)
    assert (res.status, res.success, res.nit) == (3, False, 0)


def test_disp_logs_each_iteration_to_stderr(capsys):
    q = Quadratic()
    res = _hf(q.fun, np.zeros(8), {"disp": True}, jac=q.jac, hessp=q.hessp)
    err = capsys.readouterr().err
    assert err.count("hessian_free: iter") == res.nit
    assert "terminated successfully" in err
    logger = logging.getLogger("bpopt._hessian_free")
    assert logger.handlers == [] and logger.propagate
    _hf(q.fun, np.zeros(8), jac=q.jac, hessp=q.hessp)
    assert capsys.readouterr().err == ""


# errors


def test_unknown_option_is_named_with_the_valid_ones():
    q = Quadratic()
    with pytest.raises(TypeError, match=r"'cg_iters'.*valid options:.*cg_maxiter"):
        _hf(q.fun, np.zeros(8), {"cg_iters": 10}, jac=q.jac, hessp=q.hessp)


@pytest.mark.parametrize("name, value", [
    ("maxiter", -1), ("maxiter", 2.5), ("initial_damping", 0.0),
    ("damping_boost", 0.9), ("damping_drop", 1.0), ("cg_decay", 1.5),
    ("cg_maxiter", 0), ("armijo", 1.0), ("ls_shrink", 0.0),
    ("preconditioner", "diag"), ("gtol", -1.0),
])
def test_option_out_of_range_is_named(name, value):
    q = Quadratic()
    with pytest.raises(ValueError, match=f"option {name} must be"):
        _hf(q.fun, np.zeros(8), {name: value}, jac=q.jac, hessp=q.hessp)


@pytest.mark.parametrize("kwargs, match", [
    ({"jac": None}, "needs the gradient"),
    ({"hessp": None}, "needs hessp"),
    ({"hessp": None, "hess": lambda x: np.eye(8)}, r"hess\(x\) @ v"),
    ({"bounds": [(0, 1)] * 8}, "cannot honour bounds"),
    ({"constraints": {"type": "eq", "fun": np.sum}}, "cannot honour"),
])
def test_missing_or_unsupported_arguments_are_refused(kwargs, match):
    q = Quadratic()
    call = {"jac": q.jac, "hessp": q.hessp, **kwargs}
    with pytest.raises(ValueError, match=match):
        _hf(q.fun, np.zeros(8), **call)


def test_called_directly_with_jac_true():
    q = Quadratic()
    res = bpopt.hessian_free(q.fun_and_jac, np.zeros(8), jac=True,
                             hessp=q.hessp, ftol=0.0)
    assert res.success
    np.testing.assert_allclose(res.x, q.solution, atol=1e-5)
