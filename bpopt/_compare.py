"""Run several optimizers on one objective from the same starts."""

import logging
import numbers
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ._comparison import Comparison
from ._methods import LEAST_SQUARES, parse_methods, run
from ._records import PASSES, Recorder, TimeLimit

__all__ = ["compare"]

logger = logging.getLogger(__name__)

_CLASSIFICATION = ("softmax_cross_entropy", "sigmoid_cross_entropy")


def compare(obj, methods, x0=None, seeds=(0,), maxiter=100, max_time=None,
            test=None, progress=None):
    """Run each method from the same starting points and record every iteration.

    Parameters
    ----------
    obj : Objective
        The training objective; its counters are reset before each run.
    methods : str or sequence
        Method names (a comma-separated string or a list), callables, or
        ``(label, callable)`` pairs. Names: ``"L-BFGS-B"``, ``"BFGS"``,
        ``"CG"``, ``"TNC"``, ``"Newton-CG"``, ``"trust-ncg"``,
        ``"trust-krylov"``, ``"trust-constr"``, ``"hessian_free"``,
        ``"trf"``, ``"lm"`` (the last two for ``squared_error`` only).
        A method that takes curvature products accepts a suffix:
        ``":hessian"`` for the exact ``obj.hessp``, ``":gn"`` for the
        Gauss-Newton ``obj.gnvp`` (default: exact for SciPy's methods,
        Gauss-Newton for ``hessian_free``), so ``"Newton-CG:hessian"``
        and ``"Newton-CG:gn"`` can run side by side.
    x0 : array_like, shape (n_params,), optional
        One start for every run. By default each seed gives its own,
        ``obj.net.init(seed)``, shared by all methods.
    seeds : sequence of int, default (0,)
        One run per method and seed.
    maxiter : int, default 100
        Iterations per run. TNC, ``"trf"`` and ``"lm"`` count function
        evaluations instead (their ``maxfun`` or ``max_nfev``).
    max_time : float, optional
        Seconds of solver time per run; the run stops at the first
        iteration past it, with status ``"time limit"``.
    test : Objective, optional
        Held-out objective: the final ``test_loss``, and
        ``test_accuracy`` for the classification losses (argmax of the
        logits for softmax; logit > 0 for sigmoid, per output).
    progress : bool or callable, optional
        ``progress(method, iteration, loss, elapsed)`` after each
        iteration; True logs it at INFO level on this module's logger.

    Returns
    -------
    Comparison
        ``records``: one dict per method and seed, with the iteration
        ``history``; ``table()``, ``to_csv``, ``to_json``, ``plot``.

    Raises
    ------
    ValueError, TypeError
        For an unknown method or curvature, a least-squares method on
        another loss, bad ``seeds``, ``maxiter``, ``max_time`` or ``x0``.
        All checks happen before the first run.

    Notes
    -----
    Fairness: every method starts from the same point, and its counts and
    times are its own. Values the records need and the solver did not
    compute are computed in a separate thread (whose cache leaves the
    solver's alone) while the clock is stopped, and the counts they add
    are subtracted. A record's counts therefore equal those of the same
    solver run without recording.

    A user callable is called as ``fn(obj, x0, maxiter, callback)``, plus
    ``seed=seed`` when it has a ``seed`` parameter. It calls
    ``callback(x)`` once per iteration (``callback`` may raise
    StopIteration when the time is up; let it through, or stop) and
    returns an ``OptimizeResult``, anything with an ``x`` attribute or
    key, or the final ``x`` itself. A SciPy custom method ``my_method``
    fits in one line::

        lambda obj, x0, maxiter, callback: scipy.optimize.minimize(
            obj.loss_and_grad, x0, jac=True, hessp=obj.gnvp,
            method=my_method, callback=callback, options={"maxiter": maxiter})
    """
    specs = parse_methods(methods, obj)
    seeds = _check_seeds(seeds)
    maxiter = _check_maxiter(maxiter)
    max_time = _check_max_time(max_time)
    if x0 is not None:
        x0 = _check_x0(x0, obj.n_params)
    elif not hasattr(obj, "net"):
        raise TypeError(f"x0 is needed: {type(obj).__name__} has no net to "
                        "initialise from seeds")
    if test is not None and test.n_params != obj.n_params:
        raise ValueError(f"test has {test.n_params} parameters; obj has "
                         f"{obj.n_params}")
    progress = _progress(progress)

    records = []
    with ThreadPoolExecutor(1, thread_name_prefix="bpopt-record") as side:
        for spec in specs:
            for seed in seeds:
                start = x0 if x0 is not None else obj.net.init(seed)
                label = spec.label if len(seeds) == 1 else f"{spec.label} seed={seed}"
                rec = Recorder(obj, side, label, progress, max_time)
                record = _run_one(spec, obj, start, maxiter, rec, seed)
                record.update(_test_metrics(test, record["x"]))
                records.append(record)
    settings = {"methods": [s.label for s in specs], "seeds": seeds,
                "maxiter": maxiter, "max_time": max_time,
                "n_params": obj.n_params}
    return Comparison(records, settings)


def _run_one(spec, obj, x0, maxiter, rec, seed):
    """One run, as a record dict (the test metrics are added later)."""
    rec.start(x0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = run(spec, obj, x0, maxiter, rec, seed)
            x = _result_x(result)
        except TimeLimit:
            result, x = None, rec.x
    elapsed = rec.elapsed()
    rec.finish(x, elapsed)
    loss = rec.off_the_record(lambda o, x: o.loss(x), x)
    counts = rec.counts()
    history = rec.history
    for w in caught:
        logger.warning("%s: %s", rec.label, w.message)
    record = {
        "method": spec.label, "curvature": spec.curvature, "seed": seed,
        "loss": loss, "grad_norm": history["grad_norm"][-1], "time": elapsed,
        "nit": _get(result, "nit", rec.iterations),
        **{k: v[-1] for k, v in history.items() if k.startswith("n_")},
        "passes": history["passes"][-1],
        **{f"n_{name}": counts.get(name, 0) for name in PASSES},
    }
    record.update(_status(spec, result, record["nit"], maxiter, rec.timed_out))
    record.update(counts=counts, warnings=[str(w.message) for w in caught],
                  history=history, x=x)
    return record


def _status(spec, result, nit, maxiter, timed_out):
    success = _get(result, "success", None)
    message = str(_get(result, "message", ""))
    if timed_out:
        status = "time limit"
    elif success:
        status = "converged"
    elif (nit >= maxiter or (spec.name in LEAST_SQUARES and result.status == 0)
          or (spec.name == "TNC" and result.status == 3)):
        status = "iteration limit"
    elif success is None:
        status = "done"
    else:
        status = "failed"
    return {"status": status, "success": success, "message": message}


def _test_metrics(test, x):
    if test is None:
        return {"test_loss": None, "test_accuracy": None}
    return {"test_loss": test.loss(x), "test_accuracy": accuracy(test, x)}


def accuracy(obj, theta):
    """Share of correct predictions of ``obj``'s network on its own rows.

    Softmax: argmax of the logits against the label (or the largest
    target probability). Sigmoid: logit > 0 against target > 0.5, averaged
    over outputs. Weighted by ``sample_weight``. None for other losses.
    """
    name = getattr(obj.loss_function, "name", None)
    if name not in _CLASSIFICATION:
        return None
    out = obj.net.forward(theta, obj._X)
    y = obj._y
    if name == "softmax_cross_entropy":
        truth = y if y.ndim == 1 else y.argmax(axis=1)
        correct = out.argmax(axis=1) == truth
    else:
        correct = ((out > 0) == (y.reshape(out.shape) > 0.5)).mean(axis=1)
    return float(np.average(correct, weights=obj._sample_weight))


# helpers

def _result_x(result):
    if isinstance(result, np.ndarray):
        return result
    x = result.get("x") if isinstance(result, dict) else getattr(result, "x", None)
    if x is None:
        raise TypeError(f"a method returned {type(result).__name__} without x; "
                        "return an OptimizeResult, an object with x, or x")
    return np.asarray(x, dtype=np.float64)


def _get(result, key, default):
    if result is None or isinstance(result, np.ndarray):
        return default
    if isinstance(result, dict):
        return result.get(key, default)
    return getattr(result, key, default)


def _progress(progress):
    if progress is True:
        return lambda method, it, loss, t: logger.info(
            "%s  iteration %d  loss %.6g  %.2f s", method, it, loss, t)
    if progress is None or progress is False:
        return None
    if not callable(progress):
        raise TypeError(f"progress must be a bool or a callable; got "
                        f"{type(progress).__name__}")
    return progress


def _check_seeds(seeds):
    if isinstance(seeds, numbers.Integral):
        raise TypeError(f"seeds must be a sequence of integers; got the integer "
                        f"{seeds} (for that many seeds, pass range({seeds}))")
    seeds = list(seeds)
    if not seeds or not all(isinstance(s, numbers.Integral) and
                            not isinstance(s, bool) for s in seeds):
        raise ValueError(f"seeds must be a non-empty sequence of integers; got "
                         f"{seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds has repeated entries: {seeds}")
    return [int(s) for s in seeds]


def _check_maxiter(maxiter):
    if isinstance(maxiter, bool) or not isinstance(maxiter, numbers.Integral) or (
            maxiter < 1):
        raise ValueError(f"maxiter must be a positive integer; got {maxiter!r}")
    return int(maxiter)


def _check_max_time(max_time):
    if max_time is None:
        return None
    if isinstance(max_time, bool) or not isinstance(max_time, numbers.Real) or not (
            max_time > 0 and np.isfinite(max_time)):
        raise ValueError(f"max_time must be a positive number of seconds; got "
                         f"{max_time!r}")
    return float(max_time)


def _check_x0(x0, n_params):
    x0 = np.array(x0, dtype=np.float64)
    if x0.shape != (n_params,):
        raise ValueError(f"x0 must have shape ({n_params},); got {x0.shape}")
    if not np.isfinite(x0).all():
        raise ValueError("x0 contains NaN or infinite values")
    return x0
