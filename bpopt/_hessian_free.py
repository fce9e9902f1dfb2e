"""Hessian-free optimisation (Martens 2010) as a custom SciPy method."""

import logging
import math

import numpy as np
from scipy.optimize import OptimizeResult

from ._cg import truncated_cg
from ._hf_interface import (
    Counted,
    call_callback_maybe_halt,
    check_options,
    check_problem,
    displayed,
    wrap_callback,
)

__all__ = ["hessian_free"]

_log = logging.getLogger(__name__)

_GTOL = 1e-5
#: Line searches failing in a row before the run gives up (status 2).
_MAX_FAILURES = 10

_MESSAGES = {
    0: "Optimization terminated successfully ({}).",
    1: "Maximum number of iterations reached (maxiter={}); raise maxiter to "
       "continue.",
    2: "No decrease along {} successive directions: precision loss, or "
       "curvature products that do not match the gradient.",
    3: "The objective or its gradient is not finite at x0.",
    99: "`callback` raised `StopIteration`.",
}


def hessian_free(fun, x0, args=(), jac=None, hess=None, hessp=None,
                 bounds=None, constraints=None, callback=None, **options):
    """Minimise by Hessian-free truncated Newton with damping (Martens 2010).

    A method for ``scipy.optimize.minimize(..., method=hessian_free)``;
    it may also be called directly with the same arguments.

    Parameters
    ----------
    fun : callable
        ``fun(x, *args) -> float``, or ``(float, ndarray)`` when
        ``jac is True``.
    x0 : array_like, shape (n,)
    args : tuple
        Extra arguments for ``fun``, ``jac`` and ``hessp``.
    jac : callable or True
        ``jac(x, *args) -> ndarray (n,)``, or ``True``. Required.
    hessp : callable
        ``hessp(x, v, *args) -> ndarray (n,)``, the curvature ``B v``:
        Gauss-Newton (``Objective.gnvp``), exact (``Objective.hessp``) or
        subsampled (``Objective.curvature_batch(m).gnvp``). Required.
    hess, bounds, constraints
        Not supported; giving them raises ``ValueError``.
    callback : callable, optional
        ``callback(xk)`` or ``callback(intermediate_result)``, as in
        ``minimize``, after each iteration; ``intermediate_result`` has
        ``x, fun, jac, nit, damping, rho, cg_iter``. Raising
        ``StopIteration`` ends the run with status 99.
    **options
        See the table in Notes; any other name raises ``TypeError``.

    Returns
    -------
    OptimizeResult
        ``x, fun, jac, nit, nfev, njev, nhev, success, status, message``
        and ``damping`` (the last lambda) and ``ncg`` (CG iterations in
        all). ``nfev``, ``njev`` and ``nhev`` count calls to ``fun``,
        ``jac`` and ``hessp``. Status: 0 converged (``gtol`` or
        ``ftol``), 1 ``maxiter``, 2 no decrease along ten directions in a
        row, 3 not finite at ``x0``, 99 stopped by the callback.

    Raises
    ------
    TypeError
        Unknown option.
    ValueError
        No ``jac`` or ``hessp``; ``hess``, ``bounds`` or ``constraints``
        given; an option out of range; ``x0`` not 1-D.

    Notes
    -----
    Each iteration solves ``(B + lambda I) p = -g`` approximately by
    preconditioned CG (:func:`bpopt._cg.truncated_cg`), backs up along
    the kept CG iterates while the objective improves, adapts ``lambda``
    from ``rho = (f(x + p) - f(x)) / (q(p) - q(0))`` with ``q`` the
    undamped model, and takes an Armijo step along ``p``. When ``fun``
    comes with ``jac=True`` every trial point also computes a gradient;
    ``fun=obj.loss, jac=obj.grad`` avoids that.

    ================== ========= =========================================
    option             default   meaning
    ================== ========= =========================================
    maxiter            1000      outer iterations
    gtol               1e-5      stop when ``max|g| <= gtol`` (``tol`` of
                                 ``minimize`` sets it when not given)
    ftol               2.2e-9    stop when ``(f_k - f_k+1) / max(|f_k|,
                                 |f_k+1|, 1) <= ftol`` after a step
    disp               False     log each iteration to stderr (logger
                                 ``bpopt._hessian_free``, level INFO)
    initial_damping    1.0       lambda at the start (mean losses)
    damping_boost      1.5       lambda factor when ``rho < rho_low``
    damping_drop       2/3       lambda factor when ``rho > rho_high``
    rho_low, rho_high  .25, .75  thresholds on rho (NaN counts as low)
    cg_decay           0.95      warm start: this times the last CG run
    cg_maxiter         250       cap on CG iterations
    cg_initial_maxiter 10        CG cap at iteration 0, times
    cg_growth          1.3       this per outer iteration
    cg_progress_tol    5e-4      Martens' relative-progress tolerance
    preconditioner     None      ``x -> d`` (n,), e.g.
                                 ``obj.squared_grads``; CG then uses
                                 ``(d + lambda) ** precond_exponent``
    precond_exponent   0.75      see ``preconditioner``
    backtracking       True      back up along the kept CG iterates
    armijo             1e-2      sufficient-decrease constant
    ls_shrink          0.8       step factor per line-search trial
    ls_maxiter         60        trials before the step is abandoned
    ================== ========= =========================================

    Martens, J. (2010). Deep learning via Hessian-free optimization.
    ICML. The damping and CG constants are those of the paper's code,
    with two departures: its initial lambda (45) was for sums over a
    mini-batch, whereas bpopt objectives are means; and its fixed cap of
    250 CG iterations is reached here by growth from
    ``cg_initial_maxiter``, so that early outer iterations, far from a
    minimum, stay cheap (``cg_initial_maxiter=250`` restores the fixed cap).
    """
    opts = check_options(options)
    x, f_and_g, jac = check_problem(fun, x0, jac, hess, hessp, bounds,
                                     constraints)
    problem = Counted(f_and_g, jac, hessp, args)
    callback = wrap_callback(callback)
    gtol = next(t for t in (opts["gtol"], opts["tol"], _GTOL) if t is not None)
    with displayed(opts["disp"], _log):
        return _minimize(problem, x, callback, gtol, opts)


def _minimize(problem, x, callback, gtol, opts):
    f, g = problem.f(x), problem.g(x)
    lam, p_warm = opts["initial_damping"], np.zeros_like(x)
    nit, ncg, failures = 0, 0, 0
    cg_cap = float(min(opts["cg_initial_maxiter"], opts["cg_maxiter"]))
    status = 3 if not (np.isfinite(f) and np.isfinite(g).all()) else None
    detail = None
    while status is None:
        if np.max(np.abs(g), initial=0.0) <= gtol:
            status, detail = 0, "max|g| <= gtol"
            break
        if nit >= opts["maxiter"]:
            status, detail = 1, opts["maxiter"]
            break

        # damped curvature and preconditioner at x
        Av = _damped(problem, x, lam)
        precond = None
        if opts["preconditioner"] is not None:
            d = np.asarray(opts["preconditioner"](x), dtype=np.float64)
            precond = (d + lam) ** opts["precond_exponent"]

        # truncated CG from the decayed previous solution
        run = truncated_cg(Av, g, opts["cg_decay"] * p_warm,
                           math.ceil(cg_cap), precond, opts["cg_progress_tol"])
        cg_cap = min(cg_cap * opts["cg_growth"], opts["cg_maxiter"])
        p_warm, ncg = run.p, ncg + run.n_iter

        # CG backtracking: the best kept iterate by the objective
        kept = run.iterates if opts["backtracking"] else run.iterates[-1:]
        p, phi, f_new = _backtrack(problem.f, x, kept)

        # Levenberg-Marquardt damping from the reduction ratio
        predicted = phi - 0.5 * lam * (p @ p)
        rho = (f_new - f) / predicted if predicted < 0 else np.nan
        if not rho >= opts["rho_low"]:
            lam *= opts["damping_boost"]
        elif rho > opts["rho_high"]:
            lam *= opts["damping_drop"]

        # Armijo backtracking line search along p
        t, f_new = _armijo(problem.f, x, f, g @ p, p, f_new, opts)
        nit += 1
        _log.info("iter %4d  f %.6e  max|g| %.3e  lambda %.3e  rho %+.3f  "
                  "cg %3d (%s)  step %.3g", nit, f_new if t else f,
                  np.max(np.abs(g)), lam, rho, run.n_iter, run.reason, t)
        f_old = f
        if t:
            failures = 0
            x = x + t * p
            f, g = f_new, problem.g(x)
        else:
            failures += 1

        # the caller, then the stopping tests
        info = OptimizeResult(x=x, fun=f, jac=g, nit=nit, damping=lam,
                              rho=rho, cg_iter=run.n_iter)
        if call_callback_maybe_halt(callback, info):
            status = 99
        elif t and f_old - f <= opts["ftol"] * max(abs(f_old), abs(f), 1.0):
            status, detail = 0, "relative reduction <= ftol"
        elif failures >= _MAX_FAILURES:
            status, detail = 2, _MAX_FAILURES

    message = _MESSAGES[status].format(detail)
    _log.info("%s f %.6e after %d iterations", message, f, nit)
    return OptimizeResult(
        x=x, fun=f, jac=g, nit=nit, nfev=problem.nfev, njev=problem.njev,
        nhev=problem.nhev, status=status, success=status == 0,
        message=message, damping=lam, ncg=ncg)


def _damped(problem, x, lam):
    """``v -> (B + lam I) v`` at ``x``."""
    return lambda v: problem.Bv(x, v) + lam * v


def _backtrack(f, x, kept):
    """``(p, phi, f(x + p))`` of the best kept iterate, from the last back.

    Moves to an earlier iterate only while it lowers the objective.
    """
    _, p, phi = kept[-1]
    f_best = f(x + p)
    for _, p_i, phi_i in reversed(kept[:-1]):
        f_i = f(x + p_i)
        if not f_i < f_best:
            break
        p, phi, f_best = p_i, phi_i, f_i
    return p, phi, f_best


def _armijo(f, x, f0, slope, p, f_full, opts):
    """Step ``t`` with ``f(x + t p) <= f0 + armijo * t * slope`` and its
    value; ``(0, f0)`` when ``p`` is not a descent direction or every trial
    fails. ``f_full`` is ``f(x + p)``, already known."""
    if not slope < 0:
        return 0.0, f0
    t, f_t = 1.0, f_full
    for _ in range(opts["ls_maxiter"]):
        if f_t <= f0 + opts["armijo"] * t * slope:
            return t, f_t
        t *= opts["ls_shrink"]
        f_t = f(x + t * p)
    return 0.0, f0
