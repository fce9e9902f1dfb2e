"""bpopt.compare: every method, fair records, seeds, test metrics, errors."""

import json
import logging
import sys
import time
import warnings

import numpy as np
import pytest
import scipy.optimize as so

import bpopt
from bpopt import _methods

from .conftest import make_objective

MAXITER = 8

# every method name, and both curvatures where a method takes them
METHODS = ["L-BFGS-B", "BFGS", "CG", "TNC", "Newton-CG", "Newton-CG:gn",
           "trust-ncg", "trust-ncg:gn", "trust-krylov", "trust-krylov:gn",
           "trust-constr", "trust-constr:gn", "hessian_free",
           "hessian_free:hessian", "trf", "lm"]


def regression(seed=0):
    """22 parameters, 30 rows of squared error (lm needs residuals >= params)."""
    return make_objective([5, 3, 1], loss="squared_error", n=30, seed=seed,
                          l2=1e-3)


def softmax(seed=0, n=40):
    return make_objective([4, 5, 3], loss="softmax_cross_entropy", n=n,
                          seed=seed, l2=1e-3)


def direct(name, obj, x0, maxiter):
    """The same solver run by hand, as a user would, without recording."""
    base, _, curv = name.partition(":")
    B = obj.gnvp if curv == "gn" or (base == "hessian_free" and not curv) \
        else obj.hessp
    opts = {"maxiter": maxiter}
    if base in ("L-BFGS-B", "BFGS", "CG"):
        return so.minimize(obj.loss_and_grad, x0, jac=True, method=base,
                           options=opts)
    if base == "TNC":
        return so.minimize(obj.loss_and_grad, x0, jac=True, method=base,
                           options={"maxfun": maxiter})
    if base == "Newton-CG":
        return so.minimize(obj.loss_and_grad, x0, jac=True, hessp=B, method=base,
                           options=opts)
    if base == "hessian_free":
        return so.minimize(obj.loss, x0, jac=obj.grad, hessp=B,
                           method=bpopt.hessian_free, options=opts)
    if base == "trf":
        return so.least_squares(obj.residuals, x0, jac=obj.jacobian,
                                tr_solver="lsmr", max_nfev=maxiter)
    if base == "lm":
        return so.least_squares(obj.residuals, x0, method="lm", max_nfev=maxiter,
                                jac=lambda t: obj.jacobian(t, dense=True))
    return so.minimize(obj.loss, x0, jac=obj.grad, hessp=B, method=base,
                       options=opts)


# every method, recorded fairly

@pytest.mark.parametrize("method", METHODS)
def test_records_match_a_run_without_recording(method):
    obj = regression()
    x0 = obj.net.init(0)
    record = bpopt.compare(obj, [method], x0=x0, maxiter=MAXITER).records[0]
    obj.reset_counts()
    direct(method, obj, x0, MAXITER)
    assert record["counts"] == obj.counts
    assert record["method"] == method
    assert record["status"] in ("converged", "iteration limit", "failed")


@pytest.mark.parametrize("method", METHODS)
def test_record_is_consistent(method):
    obj = regression()
    record = bpopt.compare(obj, method, maxiter=MAXITER).records[0]
    h = record["history"]

    # final loss is the objective's value at the returned point
    assert record["loss"] == obj.loss(record["x"])
    assert record["loss"] < h["loss"][0]

    # times start at zero, never go back, end at the run's time
    assert h["time"][0] == 0.0
    assert np.all(np.diff(h["time"]) >= 0)
    assert h["time"][-1] <= record["time"]

    # counts: cumulative, start at zero, end at the record's totals
    for key in ("n_loss", "n_grad", "n_curv", "passes"):
        assert h[key][0] == 0
        assert np.all(np.diff(h[key]) >= 0)
        assert h[key][-1] == record[key]
    assert len({len(v) for v in h.values()}) == 1
    assert record["passes"] == sum(record[f"n_{p}"]
                                   for p in ("forward", "backward", "tangent"))
    uses_curvature = method.partition(":")[0] in _methods.WITH_CURVATURE
    assert (record["n_curv"] > 0) == (uses_curvature or method == "trf")


def test_recording_adds_work_that_is_subtracted():
    # trust-krylov evaluates the gradient after its callback: recording
    # needs one first, off the record (negative control for the subtraction)
    obj = regression()
    result = bpopt.compare(obj, ["trust-krylov"], maxiter=MAXITER)
    record = result.records[0]
    assert obj.counts != record["counts"]  # the objective saw more
    assert record["counts"]["grad"] == record["n_grad"]


def test_clock_stops_while_recording():
    obj = regression()
    pause = 0.02

    def slow_progress(method, iteration, loss, elapsed):
        time.sleep(pause)

    record = bpopt.compare(obj, ["L-BFGS-B"], maxiter=MAXITER,
                           progress=slow_progress).records[0]
    slept = pause * len(record["history"]["time"])
    assert record["time"] < slept / 2


def test_gradient_norm_is_read_from_grad_before_jac():
    # trust-constr reports the objective's gradient as "grad" and the
    # constraints' Jacobians (none here) as "jac"
    from concurrent.futures import ThreadPoolExecutor

    from bpopt._records import Recorder

    obj = regression()
    x = obj.net.init(1)
    g = obj.grad(x)
    with ThreadPoolExecutor(1) as side:
        rec = Recorder(obj, side, "trust-constr")
        rec.start(obj.net.init(0))
        rec.scipy_callback(so.OptimizeResult(x=x, fun=obj.loss(x), grad=g,
                                             jac=[]))
    assert rec.history["grad_norm"][-1] == pytest.approx(np.linalg.norm(g))


# seeds and starting points

def test_seeds_give_each_method_the_same_starts():
    obj = regression()
    result = bpopt.compare(obj, ["L-BFGS-B", "CG"], seeds=[0, 1, 2], maxiter=4)
    assert [(r["method"], r["seed"]) for r in result.records] == [
        (m, s) for m in ("L-BFGS-B", "CG") for s in (0, 1, 2)]
    for r in result.records:
        assert r["history"]["loss"][0] == obj.loss(obj.net.init(r["seed"]))
    starts = {r["history"]["loss"][0] for r in result.records}
    assert len(starts) == 3


def test_given_x0_is_used_for_every_seed():
    obj = regression()
    x0 = obj.net.init(7)
    result = bpopt.compare(obj, ["CG"], x0=x0, seeds=[0, 1], maxiter=4)
    losses = {r["history"]["loss"][0] for r in result.records}
    assert losses == {obj.loss(x0)}


def test_summary_and_table_show_median_and_range():
    obj = regression()
    result = bpopt.compare(obj, ["L-BFGS-B", "CG"], seeds=[0, 1, 2], maxiter=4)
    rows = result.summary()
    losses = [r["loss"] for r in result.records if r["method"] == "CG"]
    assert rows[1]["loss"] == (np.median(losses), min(losses), max(losses))
    table = result.table().splitlines()
    assert "loss range" in table[0] and "time range" in table[0]
    assert [line.split()[0] for line in table[2:]] == ["L-BFGS-B", "CG"]


# a user's method

def adam_like(obj, x0, maxiter, callback, seed=0):
    """Plain gradient descent; takes ``seed`` to show that it is passed."""
    x = x0.copy()
    for _ in range(maxiter):
        x -= 0.1 * obj.grad(x)
        callback(x)
    return so.OptimizeResult(x=x, nit=maxiter, success=True, message=str(seed))


def test_user_callable():
    obj = regression()
    result = bpopt.compare(obj, [adam_like, ("descent", adam_like)],
                           seeds=[3], maxiter=5)
    first, second = result.records
    assert first["method"] == "adam_like" and second["method"] == "descent"
    assert first["message"] == "3"  # the seed reached the callable
    assert first["counts"]["grad"] == 5 == first["n_grad"]
    assert first["nit"] == 5 and len(first["history"]["time"]) == 6
    assert first["loss"] == obj.loss(first["x"])


@pytest.mark.parametrize("returns", ["array", "dict"])
def test_user_callable_may_return_x_or_a_dict(returns):
    def method(obj, x0, maxiter, callback):
        x = x0 - 0.1 * obj.grad(x0)
        callback(x)
        return x if returns == "array" else {"x": x}

    record = bpopt.compare(regression(), [method], maxiter=3).records[0]
    assert record["status"] == "done" and record["nit"] == 1


def test_user_callable_without_x_is_an_error():
    with pytest.raises(TypeError, match="without x"):
        bpopt.compare(regression(), [lambda obj, x0, m, cb: {"y": 1}])


def test_scipy_custom_method_in_one_line():
    def hf(obj, x0, maxiter, callback):
        return so.minimize(obj.loss_and_grad, x0, jac=True, hessp=obj.gnvp,
                           method=bpopt.hessian_free, callback=callback,
                           options={"maxiter": maxiter})

    record = bpopt.compare(regression(), [hf], maxiter=4).records[0]
    assert record["nit"] == 4 and record["n_curv"] > 0


def test_warnings_are_recorded_not_raised(caplog):
    def noisy(obj, x0, maxiter, callback):
        warnings.warn("careful", RuntimeWarning, stacklevel=1)
        return x0

    with caplog.at_level(logging.WARNING, logger="bpopt._compare"):
        record = bpopt.compare(regression(), [noisy]).records[0]
    assert record["warnings"] == ["careful"]
    assert "careful" in caplog.text


# time limit

@pytest.mark.parametrize("method", ["L-BFGS-B", "TNC", "trust-krylov", "trf", "lm",
                                    "hessian_free", adam_like])
def test_time_limit_stops_every_kind_of_method(method):
    obj = regression()
    record = bpopt.compare(obj, [method], maxiter=50, max_time=1e-9).records[0]
    assert record["status"] == "time limit"
    assert record["nit"] <= 2
    assert record["loss"] == obj.loss(record["x"])


# held-out metrics

def test_test_metrics_softmax():
    train, test = softmax(0), softmax(1, n=25)
    record = bpopt.compare(train, ["L-BFGS-B"], maxiter=20,
                           test=test).records[0]
    x = record["x"]
    assert record["test_loss"] == test.loss(x)
    expected = np.mean(test.net.forward(x, test._X).argmax(axis=1) == test._y)
    assert record["test_accuracy"] == expected


def test_test_accuracy_sigmoid_and_probability_rows():
    rng = np.random.default_rng(0)
    net = bpopt.MLP([2, 1])
    X = rng.normal(size=(50, 2))
    y = (X[:, 0] > 0).astype(float)
    sigmoid = bpopt.Objective(net, X, y, loss="sigmoid_cross_entropy")
    theta = np.array([5.0, 0.0, 0.0])  # logit 5 x0: exactly the rule
    assert bpopt._compare.accuracy(sigmoid, theta) == 1.0
    assert bpopt._compare.accuracy(sigmoid, -theta) == 0.0
    net3 = bpopt.MLP([2, 2])
    probs = np.column_stack([1 - y, y]) * 0.8 + 0.1
    soft = bpopt.Objective(net3, X, probs, loss="softmax_cross_entropy")
    w = np.array([-5.0, 5.0, 0.0, 0.0, 0.0, 0.0])
    assert bpopt._compare.accuracy(soft, w) == 1.0


def test_regression_has_test_loss_but_no_accuracy():
    record = bpopt.compare(regression(0), ["CG"], maxiter=3,
                           test=regression(1)).records[0]
    assert record["test_loss"] > 0 and record["test_accuracy"] is None
    assert "test acc" not in bpopt.compare(regression(0), ["CG"], maxiter=3,
                                           test=regression(1)).table()


# progress

def test_progress_callable_and_logging(caplog):
    calls = []
    bpopt.compare(regression(), ["CG"], seeds=[0, 1], maxiter=3,
                  progress=lambda *a: calls.append(a))
    assert calls[0][:2] == ("CG seed=0", 0) and calls[-1][0] == "CG seed=1"
    assert all(len(c) == 4 and c[3] >= 0 for c in calls)
    with caplog.at_level(logging.INFO, logger="bpopt._compare"):
        bpopt.compare(regression(), ["CG"], maxiter=2, progress=True)
    assert "CG  iteration 0" in caplog.text


# bad arguments, all caught before any run

@pytest.mark.parametrize("kwargs, error, match", [
    ({"methods": ["nope"]}, ValueError, "unknown method 'nope'"),
    ({"methods": "Newton-CG:exact"}, ValueError, "unknown curvature 'exact'"),
    ({"methods": "L-BFGS-B:gn"}, ValueError, "takes no curvature"),
    ({"methods": "CG,cg"}, ValueError, "repeated labels: CG"),
    ({"methods": []}, ValueError, "methods is empty"),
    ({"methods": [3]}, TypeError, "names or callables"),
    ({"seeds": 3}, TypeError, r"range\(3\)"),
    ({"seeds": [0, 0]}, ValueError, "repeated"),
    ({"seeds": [0.5]}, ValueError, "integers"),
    ({"maxiter": 0}, ValueError, "maxiter"),
    ({"max_time": -1}, ValueError, "max_time"),
    ({"x0": np.zeros(3)}, ValueError, r"shape \(22,\)"),
    ({"x0": np.full(22, np.nan)}, ValueError, "NaN"),
    ({"test": softmax()}, ValueError, "test has"),
    ({"progress": "yes"}, TypeError, "progress"),
])
def test_bad_arguments(kwargs, error, match):
    kwargs = {"methods": ["CG"], **kwargs}
    with pytest.raises(error, match=match):
        bpopt.compare(regression(), **kwargs)


@pytest.mark.parametrize("method", ["trf", "lm"])
def test_least_squares_needs_squared_error(method):
    with pytest.raises(ValueError, match="squared_error"):
        bpopt.compare(softmax(), [method])


def test_lm_needs_enough_residuals_and_memory(monkeypatch):
    wide = make_objective([5, 20, 1], loss="squared_error", n=10)
    with pytest.raises(ValueError, match="at least as many residuals"):
        bpopt.compare(wide, ["lm"])
    monkeypatch.setattr(_methods, "_LM_BYTES", 100)
    with pytest.raises(ValueError, match="dense Jacobian"):
        bpopt.compare(regression(), ["lm"])


# the result object

def test_csv_and_json(tmp_path):
    result = bpopt.compare(regression(0), ["L-BFGS-B", "trf"], seeds=[0, 1],
                           maxiter=3, test=regression(1))
    result.to_csv(tmp_path / "r.csv")
    lines = (tmp_path / "r.csv").read_text().splitlines()
    assert lines[0].split(",")[:4] == ["method", "curvature", "seed", "loss"]
    assert len(lines) == 5 and "history" not in lines[0]
    result.to_json(tmp_path / "r.json")
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["settings"]["methods"] == ["L-BFGS-B", "trf"]
    first = data["records"][0]
    assert "x" not in first and first["test_accuracy"] is None
    assert first["history"]["loss"] == result.records[0]["history"]["loss"]


def test_plot(tmp_path):
    pytest.importorskip("matplotlib")
    result = bpopt.compare(regression(), ["CG", "Newton-CG:gn"], seeds=[0, 1],
                           maxiter=3)
    fig = result.plot(tmp_path / "p.png")
    assert (tmp_path / "p.png").stat().st_size > 1000
    time_ax, passes_ax = fig.axes
    assert time_ax.get_yscale() == "log"
    assert time_ax.get_xscale() == passes_ax.get_xscale() == "log"
    assert [t.get_text() for t in passes_ax.get_legend().get_texts()] == [
        "CG", "Newton-CG:gn"]
    assert len(time_ax.collections) == 2  # one band per method


def test_plot_without_matplotlib(monkeypatch):
    result = bpopt.compare(regression(), ["CG"], maxiter=2)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"bpopt\[plot\]"):
        result.plot()
