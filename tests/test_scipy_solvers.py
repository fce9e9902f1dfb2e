"""SciPy's solvers on the pieces bpopt gives them.

``SOLVER_LINES`` are the runnable lines of the README's solver table; each
is run here on a tiny regression problem, and the README's table is
checked to hold exactly these lines.
"""

import re
from pathlib import Path

import numpy as np
import pytest
import scipy.optimize as so

import bpopt

README = Path(__file__).resolve().parents[1] / "README.md"
TABLE_HEADING = "## Which SciPy method uses what"

SOLVER_LINES = {
    "L-BFGS-B": 'so.minimize(obj.loss_and_grad, theta0, jac=True, '
                'method="L-BFGS-B")',
    "BFGS": 'so.minimize(obj.loss_and_grad, theta0, jac=True, method="BFGS")',
    "CG": 'so.minimize(obj.loss_and_grad, theta0, jac=True, method="CG")',
    "TNC": 'so.minimize(obj.loss_and_grad, theta0, jac=True, method="TNC")',
    "Newton-CG": 'so.minimize(obj.loss_and_grad, theta0, jac=True, '
                 'hessp=obj.gnvp, method="Newton-CG")',
    "trust-ncg": 'so.minimize(obj.loss, theta0, jac=obj.grad, '
                 'hessp=obj.hessp, method="trust-ncg")',
    "trust-krylov": 'so.minimize(obj.loss, theta0, jac=obj.grad, '
                    'hessp=obj.hessp, method="trust-krylov")',
    "trust-constr": 'so.minimize(obj.loss, theta0, jac=obj.grad, '
                    'hessp=obj.hessp, method="trust-constr")',
    "least_squares trf": 'so.least_squares(obj.residuals, theta0, '
                         'jac=obj.jacobian, tr_solver="lsmr")',
    "least_squares lm": 'so.least_squares(obj.residuals, theta0, '
                        'jac=lambda t: obj.jacobian(t, dense=True), '
                        'method="lm")',
}


def regression(n=80, hidden=8, seed=0):
    """Squared error of a tanh network fitting a smooth function."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = np.sin(X @ np.array([1.0, -0.5, 0.3]))
    net = bpopt.MLP([3, hidden, 1], activation="tanh")
    obj = bpopt.Objective(net, X, y, loss="squared_error", l2=1e-3)
    return obj, net.init(seed=seed)


def digits():
    datasets = pytest.importorskip("sklearn.datasets")
    X, y = datasets.load_digits(return_X_y=True)
    net = bpopt.MLP([64, 16, 10], activation="tanh")
    obj = bpopt.Objective(net, X / 16.0, y, loss="softmax_cross_entropy",
                          l2=1e-3)
    return obj, net.init(seed=0), X / 16.0, y


# the README's table


@pytest.mark.parametrize("method", list(SOLVER_LINES))
def test_solver_line_runs(method):
    obj, theta0 = regression(n=40, hidden=4)
    f0 = obj.loss(theta0)
    namespace = {"so": so, "bpopt": bpopt, "obj": obj, "theta0": theta0}
    res = eval(SOLVER_LINES[method], namespace)
    assert res.x.shape == theta0.shape
    assert obj.loss(res.x) < 0.05 * f0


def readme_table_lines():
    text = README.read_text(encoding="utf-8") if README.exists() else ""
    if TABLE_HEADING not in text:
        return None
    section = text.split(TABLE_HEADING, 1)[1].split("\n## ", 1)[0]
    return [cell for row in section.splitlines() if row.startswith("|")
            for cell in re.findall(r"`(so\.[^`]+)`", row)]


def test_readme_table_holds_the_tested_lines():
    lines = readme_table_lines()
    assert lines is not None, f"README.md has no section {TABLE_HEADING!r}"
    assert sorted(lines) == sorted(SOLVER_LINES.values())


# truncated Newton on curvature products


@pytest.mark.parametrize("method", ["Newton-CG", "trust-krylov"])
def test_truncated_newton_converges_on_regression(method):
    obj, theta0 = regression()
    if method == "Newton-CG":
        res = so.minimize(obj.loss_and_grad, theta0, jac=True,
                          hessp=obj.gnvp, method=method)
    else:
        res = so.minimize(obj.loss, theta0, jac=obj.grad, hessp=obj.hessp,
                          method=method)
    assert res.success
    # from 0.75 at the start to a stationary point near 0.0032
    assert obj.loss(res.x) < 0.0035
    assert np.linalg.norm(obj.grad(res.x)) < 1e-4


@pytest.mark.parametrize("method", ["Newton-CG", "trust-krylov"])
def test_truncated_newton_trains_the_digits_classifier(method):
    obj, theta0, X, y = digits()
    # 15 iterations keep the test near a second; the loss starts at 2.35
    options = {"maxiter": 15}
    if method == "Newton-CG":
        res = so.minimize(obj.loss_and_grad, theta0, jac=True,
                          hessp=obj.gnvp, method=method, options=options)
    else:
        res = so.minimize(obj.loss, theta0, jac=obj.grad, hessp=obj.hessp,
                          method=method, options=options)
    assert obj.loss(res.x) < 0.25
    accuracy = np.mean(obj.net.forward(res.x, X).argmax(axis=1) == y)
    assert accuracy > 0.97
    assert obj.counts["hessp" if method == "trust-krylov" else "gnvp"] > 0


def test_newton_cg_with_curvature_on_a_subsample():
    obj, theta0 = regression()
    batch = obj.curvature_batch(20, seed=0)
    res = so.minimize(batch.loss_and_grad, theta0, jac=True,
                      hessp=batch.gnvp, method="Newton-CG",
                      options={"maxiter": 50})
    # from 0.75 to near the full problem's 0.0032 in 50 iterations, since
    # the gradient is the full one; the subsampled curvature slows the end
    assert obj.loss(res.x) < 0.005
    assert obj.counts["gnvp"] > 0
