"""The methods a comparison can run, and how each is wired to an objective.

A method is named by a string, optionally with a curvature suffix, or
given as a callable:

``"L-BFGS-B"``, ``"BFGS"``, ``"CG"``, ``"TNC"``
    SciPy's first-order methods, given ``loss_and_grad`` (``jac=True``).
``"Newton-CG"``, ``"trust-ncg"``, ``"trust-krylov"``, ``"trust-constr"``
    SciPy's methods that take ``hessp``. Newton-CG, whose line search
    wants both at every trial point, gets ``loss_and_grad``; the
    trust-region methods get ``loss`` and ``grad`` apart, so that a
    rejected trial point costs no gradient.
``"hessian_free"``
    :func:`bpopt.hessian_free` through ``scipy.optimize.minimize``, with
    ``loss`` and ``grad`` apart for the same reason.
``"trf"``, ``"lm"``
    ``scipy.optimize.least_squares`` on ``residuals`` and ``jacobian``
    (squared error only): trf with the Jacobian operator and LSMR, lm
    with the dense Jacobian (at least as many residuals as parameters).

Curvature: ``"NAME:hessian"`` passes the exact ``obj.hessp``,
``"NAME:gn"`` the Gauss-Newton ``obj.gnvp``. Without a suffix, the SciPy
methods get the exact Hessian and ``hessian_free`` gets Gauss-Newton.
"""

import inspect
from dataclasses import dataclass

import numpy as np
import scipy.optimize as so

FIRST_ORDER = ("L-BFGS-B", "BFGS", "CG", "TNC")
WITH_CURVATURE = ("Newton-CG", "trust-ncg", "trust-krylov", "trust-constr",
                  "hessian_free")
LEAST_SQUARES = ("trf", "lm")
#: Every method name :func:`bpopt.compare` knows.
METHODS = FIRST_ORDER + WITH_CURVATURE + LEAST_SQUARES
#: Curvature suffix -> Objective method giving the product.
CURVATURES = {"hessian": "hessp", "gn": "gnvp"}

# the dense Jacobian that "lm" needs, at most this many bytes
_LM_BYTES = 256 * 2**20
_CANONICAL = {name.lower(): name for name in METHODS}


@dataclass(frozen=True)
class Method:
    """One method of a comparison: its label, name, curvature, callable."""

    label: str
    name: str
    curvature: str | None = None
    fn: object = None


def parse_methods(methods, obj):
    """Validated :class:`Method` list from names, callables or pairs.

    ``methods`` is a comma-separated string or a sequence whose entries are
    names, callables, or ``(label, callable)`` pairs.
    """
    if isinstance(methods, str):
        methods = [m.strip() for m in methods.split(",") if m.strip()]
    elif callable(methods):
        methods = [methods]
    methods = list(methods)
    if not methods:
        raise ValueError("methods is empty; name at least one method")
    parsed = [_parse_one(m, obj) for m in methods]
    labels = [m.label for m in parsed]
    repeated = sorted({lab for lab in labels if labels.count(lab) > 1})
    if repeated:
        raise ValueError(f"methods has repeated labels: {', '.join(repeated)}")
    return parsed


def _parse_one(method, obj):
    if isinstance(method, tuple) and len(method) == 2 and callable(method[1]):
        return Method(str(method[0]), "callable", fn=method[1])
    if callable(method):
        label = getattr(method, "__name__", type(method).__name__)
        return Method(label, "callable", fn=method)
    if not isinstance(method, str):
        raise TypeError(f"methods entries must be names or callables; got "
                        f"{type(method).__name__}")
    base, _, curvature = method.partition(":")
    name = _CANONICAL.get(base.strip().lower())
    if name is None:
        raise ValueError(f"unknown method {base!r}; choose from "
                         f"{', '.join(METHODS)}, or pass a callable")
    curvature = curvature.strip().lower() or None
    if curvature is not None and name not in WITH_CURVATURE:
        raise ValueError(f"{name} takes no curvature products; drop "
                         f"':{curvature}' from {method!r}")
    if curvature is not None and curvature not in CURVATURES:
        raise ValueError(f"unknown curvature {curvature!r} in {method!r}; use "
                         f"{' or '.join(':' + c for c in CURVATURES)}")
    if name in LEAST_SQUARES:
        _check_least_squares(name, obj)
    label = name if curvature is None else f"{name}:{curvature}"
    if curvature is None and name in WITH_CURVATURE:
        curvature = "gn" if name == "hessian_free" else "hessian"
    return Method(label, name, curvature)


def _check_least_squares(name, obj):
    loss = getattr(getattr(obj, "loss_function", None), "name", None)
    if loss != "squared_error":
        raise ValueError(f"method {name!r} needs an objective with loss "
                         f"'squared_error' (residuals); this one uses {loss!r}")
    if name == "lm":
        n_res = obj._n_residuals()
        if n_res < obj.n_params:
            raise ValueError(
                f"method 'lm' needs at least as many residuals as parameters; "
                f"this objective has {n_res} residuals and {obj.n_params} "
                f"parameters: use 'trf'")
        size = 8 * n_res * obj.n_params
        if size > _LM_BYTES:
            raise ValueError(
                f"method 'lm' needs the dense Jacobian, {n_res} x "
                f"{obj.n_params} ({size / 2**20:.0f} MiB, over "
                f"{_LM_BYTES // 2**20} MiB): use 'trf'")


# running one method

def run(method, obj, x0, maxiter, rec, seed):
    """Run ``method`` from ``x0``; the recorder sees every iteration."""
    if method.name == "callable":
        return _run_callable(method.fn, obj, x0, maxiter, rec, seed)
    if method.name in LEAST_SQUARES:
        return _run_least_squares(method.name, obj, x0, maxiter, rec)
    return _run_minimize(method, obj, x0, maxiter, rec)


def _run_minimize(method, obj, x0, maxiter, rec):
    seen = _Seen(obj, rec)
    kwargs = {"callback": rec.scipy_callback, "options": {"maxiter": maxiter}}
    if method.name.startswith("trust") or method.name == "hessian_free":
        fun, kwargs["jac"] = seen.loss, seen.grad
    else:
        fun, kwargs["jac"] = seen.loss_and_grad, True
    if method.curvature is not None:
        kwargs["hessp"] = getattr(obj, CURVATURES[method.curvature])
    solver = method.name
    if solver == "TNC":
        # TNC counts function evaluations, and takes only callback(x)
        kwargs.update(callback=rec.callback, options={"maxfun": maxiter})
    elif solver == "hessian_free":
        from ._hessian_free import hessian_free

        solver = hessian_free
    return so.minimize(fun, x0, method=solver, **kwargs)


def _run_least_squares(name, obj, x0, maxiter, rec):
    seen = _Seen(obj, rec)
    if name == "trf":
        return so.least_squares(seen.residuals, x0, jac=obj.jacobian,
                                method="trf", tr_solver="lsmr",
                                max_nfev=maxiter, callback=rec.scipy_callback)

    # lm (MINPACK) has no callback: record each evaluation that lowers the cost
    best = [rec.history["loss"][0]]

    def residuals(x):
        r = seen.residuals(x)
        cost = 0.5 * float(r @ r)
        if cost < best[0] and not np.array_equal(x, x0):
            best[0] = cost
            rec.record(x, cost)
        return r

    def jacobian(x):
        return obj.jacobian(x, dense=True)

    return so.least_squares(residuals, x0, jac=jacobian, method="lm",
                            max_nfev=maxiter)


def _run_callable(fn, obj, x0, maxiter, rec, seed):
    kwargs = {}
    try:
        if "seed" in inspect.signature(fn).parameters:
            kwargs["seed"] = seed
    except (TypeError, ValueError):  # no signature to inspect
        pass
    return fn(obj, x0.copy(), maxiter, rec.callback, **kwargs)


class _Seen:
    """The objective's value methods, telling the recorder what they computed."""

    def __init__(self, obj, rec):
        self.obj, self.rec = obj, rec

    def loss(self, x):
        f = self.obj.loss(x)
        self.rec.seen(x, f=f)
        return f

    def grad(self, x):
        g = self.obj.grad(x)
        self.rec.seen(x, g=g)
        return g

    def loss_and_grad(self, x):
        f, g = self.obj.loss_and_grad(x)
        self.rec.seen(x, f, g)
        return f, g

    def residuals(self, x):
        r = self.obj.residuals(x)
        self.rec.seen(x, f=0.5 * float(r @ r))
        return r
