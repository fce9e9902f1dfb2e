"""Each example script runs and does what its docstring says."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import bpopt
from bpopt import problems

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load_example(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_digits_lbfgs_reaches_95_percent():
    pytest.importorskip("sklearn")
    ex = load_example("digits_lbfgs")
    X_train, X_test, y_train, y_test = ex.load_digits_split(seed=0)
    net, result = ex.train(X_train, y_train, hidden=32, maxiter=300, seed=0)
    assert ex.accuracy(net, result.x, X_test, y_test) >= 0.95


# reuse of the gradient in other solvers


def test_check_grad_accepts_the_gradient_and_catches_a_wrong_one():
    ex = load_example("check_grad")
    problem = problems.make("regression", hidden=8, seed=0)
    obj, theta = problem.train, problem.x0
    assert ex.gradient_error(obj.loss, obj.grad, theta) < 1e-6

    # negative control: a gradient 1% too large must be reported
    def wrong(t):
        return 1.01 * obj.grad(t)

    assert ex.gradient_error(obj.loss, wrong, theta) > 1e-3


def test_minibatch_adam_lowers_the_loss_on_row_subsets():
    ex = load_example("minibatch_adam")
    problem = problems.make("regression", hidden=8, seed=0)
    obj = problem.train
    epochs, batch_size = 20, 50
    seen = []
    theta = ex.adam(obj, problem.x0, epochs=epochs, batch_size=batch_size,
                    seed=0, callback=lambda t: seen.append(obj.loss(t)))
    assert len(seen) == epochs
    assert obj.loss(theta) < 0.5 * obj.loss(problem.x0)

    # every step is one gradient on a subset: ceil(n / batch) per epoch
    steps = epochs * -(-obj.n_samples // batch_size)
    assert obj.counts["loss_and_grad"] == steps


def test_minibatch_adam_runs_inside_compare():
    ex = load_example("minibatch_adam")
    problem = problems.make("regression", hidden=8, seed=0)
    result = bpopt.compare(problem.train, ["L-BFGS-B", ("adam", ex.adam_method)],
                           x0=problem.x0, maxiter=3, test=problem.test)
    adam = next(r for r in result.records if r["method"] == "adam")
    assert adam["nit"] == 3
    assert adam["loss"] < problem.train.loss(problem.x0)


@pytest.mark.parametrize("algorithm", ["LD_LBFGS", "LD_TNEWTON"])
def test_nlopt_trains_with_the_gradient_filled_in_place(algorithm):
    nlopt = pytest.importorskip("nlopt")
    ex = load_example("nlopt_lbfgs")
    problem = problems.make("regression", hidden=8, seed=0)
    obj = problem.train
    f = ex.nlopt_objective(obj)

    # the gradient lands in NLopt's own array, and equals obj.grad
    grad = np.empty(obj.n_params)
    value = f(problem.x0, grad)
    assert value == obj.loss(problem.x0)
    np.testing.assert_array_equal(grad, obj.grad(problem.x0))

    theta, value, code = ex.minimize_nlopt(obj, problem.x0, algorithm,
                                           maxeval=100)
    assert code > 0 or code == nlopt.ROUNDOFF_LIMITED
    assert value == obj.loss(theta)
    assert value < 0.1 * obj.loss(problem.x0)
