"""Train with NLopt's L-BFGS and truncated Newton on bpopt's gradient.

NLopt asks for the value and writes the gradient into an array it owns;
``Objective.loss_and_grad(theta, out=grad)`` fills that array in place,
so no gradient is copied. Needs NLopt (``pip install "bpopt[nlopt]"``)
and, for the digits data, scikit-learn (``pip install "bpopt[data]"``).
"""

import time

import numpy as np

from bpopt import problems


def nlopt_objective(obj):
    """The ``f(x, grad)`` NLopt calls: the value, the gradient into ``grad``."""

    def f(x, grad):
        if grad.size:
            value, _ = obj.loss_and_grad(x, out=grad)
            return value
        return obj.loss(x)

    return f


def minimize_nlopt(obj, theta0, algorithm="LD_LBFGS", maxeval=200, ftol_rel=1e-10,
                   callback=None):
    """Minimise ``obj`` from ``theta0`` with an NLopt gradient-based algorithm.

    Parameters
    ----------
    obj : bpopt.Objective
    theta0 : ndarray, shape (n_params,)
    algorithm : str
        An NLopt algorithm name, such as ``"LD_LBFGS"`` or ``"LD_TNEWTON"``.
    maxeval : int
        Most evaluations of the objective.
    ftol_rel : float
        Stop when the value changes by less than this fraction.
    callback : callable, optional
        ``callback(x)`` after each evaluation.

    Returns
    -------
    theta : ndarray, shape (n_params,)
    value : float
    code : int
        NLopt's result code (positive: success; 5: ``maxeval`` reached;
        -4: stopped by roundoff, with the best point so far).
    """
    import nlopt

    f = nlopt_objective(obj)
    best = {"value": np.inf, "theta": np.array(theta0, dtype=np.float64)}

    def tracked(x, grad):
        value = f(x, grad)
        if value < best["value"]:
            best.update(value=value, theta=x.copy())
        if callback is not None:
            callback(x)
        return value

    opt = nlopt.opt(getattr(nlopt, algorithm), obj.n_params)
    opt.set_min_objective(tracked)
    opt.set_maxeval(maxeval)
    opt.set_ftol_rel(ftol_rel)
    try:
        opt.optimize(np.array(theta0, dtype=np.float64))
        code = opt.last_optimize_result()
    except nlopt.RoundoffLimited:
        # no further progress in floating point: the best point is still good
        code = nlopt.ROUNDOFF_LIMITED
    return best["theta"], best["value"], code


if __name__ == "__main__":
    algorithms, maxeval, hidden, seed = ("LD_LBFGS", "LD_TNEWTON"), 300, 32, 0

    problem = problems.make("digits", hidden=hidden, seed=seed)
    for algorithm in algorithms:
        problem.train.reset_counts()
        start = time.perf_counter()
        theta, value, code = minimize_nlopt(problem.train, problem.x0, algorithm,
                                            maxeval)
        elapsed = time.perf_counter() - start
        counts = problem.train.counts
        print(f"{algorithm:10s} loss {value:.4g}  test loss "
              f"{problem.test.loss(theta):.4g}  {counts['loss_and_grad']} "
              f"gradients  {elapsed:.2f} s  (NLopt code {code})")
