"""What :func:`bpopt.hessian_free` needs at the SciPy boundary.

Option defaults and checks, the caller's functions with call counts,
SciPy's two callback forms, and the ``disp`` switch. SciPy returns from
``minimize`` before it wraps a custom method's callback, so the method
wraps it with SciPy's own helper.
"""

import contextlib
import logging
import numbers
import sys

import numpy as np
from scipy.optimize._optimize import MemoizeJac

try:  # SciPy >= 1.11: its callback conventions, StopIteration included
    from scipy._lib._util import _call_callback_maybe_halt as call_callback_maybe_halt
    from scipy.optimize._optimize import _wrap_callback as wrap_callback
except ImportError:  # pragma: no cover - older SciPy: the same, by hand
    import inspect

    def wrap_callback(callback):
        if callback is None:
            return None
        params = set(inspect.signature(callback).parameters)
        if params == {"intermediate_result"}:
            def wrapped(res):
                return callback(intermediate_result=res)
        else:
            def wrapped(res):
                return callback(np.copy(res.x))
        return wrapped

    def call_callback_maybe_halt(callback, res):
        if callback is None:
            return False
        try:
            callback(res)
        except StopIteration:
            return True
        return False

__all__ = ["DEFAULTS", "Counted", "call_callback_maybe_halt", "check_options",
           "check_problem", "displayed", "wrap_callback"]

DEFAULTS = {
    "maxiter": 1000, "gtol": None, "ftol": 2.220446049250313e-09, "tol": None,
    "disp": False, "initial_damping": 1.0, "damping_boost": 1.5,
    "damping_drop": 2.0 / 3.0, "rho_low": 0.25, "rho_high": 0.75,
    "cg_decay": 0.95, "cg_maxiter": 250, "cg_initial_maxiter": 10,
    "cg_growth": 1.3, "cg_progress_tol": 5e-4, "preconditioner": None,
    "precond_exponent": 0.75, "backtracking": True, "armijo": 1e-2,
    "ls_shrink": 0.8, "ls_maxiter": 60,
}


class Counted:
    """The caller's functions with SciPy's ``args``, counting calls."""

    def __init__(self, fun, jac, hessp, args):
        self.fun, self.jac, self.hessp = fun, jac, hessp
        self.args = args if isinstance(args, tuple) else (args,)
        self.nfev = self.njev = self.nhev = 0

    def f(self, x):
        self.nfev += 1
        return np.asarray(self.fun(x, *self.args), dtype=np.float64).item()

    def g(self, x):
        self.njev += 1
        return np.array(self.jac(x, *self.args), dtype=np.float64).ravel()

    def Bv(self, x, v):
        self.nhev += 1
        return np.asarray(self.hessp(x, v, *self.args), dtype=np.float64).ravel()


def check_problem(fun, x0, jac, hess, hessp, bounds, constraints):
    """``x0`` as float64, ``fun`` and ``jac`` split when ``jac is True``."""
    x = np.array(x0, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"x0 must be 1-D; got shape {x.shape}")
    if jac is True:
        fun = MemoizeJac(fun)
        jac = fun.derivative
    if not callable(jac):
        raise ValueError(
            "hessian_free needs the gradient: jac=True with fun returning "
            f"(f, g), or a callable jac(x); got jac={jac!r}")
    if hessp is None:
        hint = (" (hess is not used; pass hessp=lambda x, v: hess(x) @ v)"
                if hess is not None else "")
        raise ValueError(
            "hessian_free needs hessp(x, v), a curvature-vector product such "
            f"as Objective.gnvp; got hessp=None{hint}")
    if not callable(hessp):
        raise ValueError(f"hessp must be callable; got {type(hessp).__name__}")
    if hess is not None:
        raise ValueError("hessian_free uses hessp only; got hess as well")
    if bounds is not None or (constraints is not None and not (
            isinstance(constraints, (list, tuple)) and len(constraints) == 0)):
        raise ValueError("hessian_free is unconstrained: it cannot honour "
                         "bounds or constraints; got "
                         f"bounds={bounds!r}, constraints={constraints!r}")
    return x, fun, jac


def _integer(low):
    def check(v):
        return (isinstance(v, numbers.Integral) and not isinstance(v, bool)
                and v >= low)
    return check


def _real(low, high, closed=False):
    def check(v):
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            return False
        return low <= v <= high if closed else low < v < high
    return check


_RULES = {
    "maxiter": (_integer(0), "an integer >= 0"),
    "gtol": (lambda v: v is None or _real(0, np.inf, True)(v), ">= 0"),
    "ftol": (_real(0, np.inf, True), ">= 0"),
    "tol": (lambda v: v is None or _real(0, np.inf, True)(v), ">= 0"),
    "initial_damping": (_real(0, np.inf), "> 0 and finite"),
    "damping_boost": (_real(1, np.inf), "> 1"),
    "damping_drop": (_real(0, 1), "in (0, 1)"),
    "rho_low": (_real(-np.inf, 1, True), "<= 1"),
    "rho_high": (_real(0, np.inf, True), ">= 0"),
    "cg_decay": (_real(0, 1, True), "in [0, 1]"),
    "cg_maxiter": (_integer(1), "an integer >= 1"),
    "cg_initial_maxiter": (_integer(1), "an integer >= 1"),
    "cg_growth": (_real(1, np.inf, True), ">= 1"),
    "cg_progress_tol": (_real(0, np.inf), "> 0"),
    "preconditioner": (lambda v: v is None or callable(v), "None or callable"),
    "precond_exponent": (_real(0, 1, True), "in [0, 1]"),
    "armijo": (_real(0, 1), "in (0, 1)"),
    "ls_shrink": (_real(0, 1), "in (0, 1)"),
    "ls_maxiter": (_integer(1), "an integer >= 1"),
}


def check_options(options):
    """The defaults updated by ``options``, each checked."""
    unknown = sorted(set(options) - set(DEFAULTS))
    if unknown:
        raise TypeError(
            f"hessian_free got unknown option(s) {', '.join(map(repr, unknown))}; "
            f"valid options: {', '.join(sorted(DEFAULTS))}")
    opts = {**DEFAULTS, **options}
    for name, (ok, expected) in _RULES.items():
        if not ok(opts[name]):
            raise ValueError(f"option {name} must be {expected}; got {opts[name]!r}")
    if opts["rho_low"] > opts["rho_high"]:
        raise ValueError(f"rho_low must not exceed rho_high; got {opts['rho_low']} "
                         f"and {opts['rho_high']}")
    return opts


@contextlib.contextmanager
def displayed(disp, log):
    """With ``disp``, send ``log``'s INFO records to stderr for the call."""
    if not disp:
        yield
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("hessian_free: %(message)s"))
    level, propagate = log.level, log.propagate
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.setLevel(level)
        log.propagate = propagate
