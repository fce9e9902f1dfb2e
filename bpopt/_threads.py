"""Keep SciPy's BLAS thread pool from fighting NumPy's.

Wheels of NumPy and SciPy each bundle an OpenBLAS with a thread pool of its
own. A solver alternates between SciPy's BLAS (its own linear algebra) and
NumPy's (the objective's matrix products); after each call a pool's idle
threads spin for a while, and the two pools take each other's cores. On
two cores this made L-BFGS-B three to four times slower than the same
evaluations in a loop. SciPy's solvers do little linear algebra of their
own, so one thread serves them well; bpopt lowers SciPy's pool to one
thread when the first :class:`Objective` is made, unless the user chose a
setting with :func:`scipy_blas_threads` or ``BPOPT_SCIPY_BLAS_THREADS``.
"""

import logging
import os

import numpy as np
import scipy.linalg  # noqa: F401  (loads SciPy's BLAS so it can be found)
from threadpoolctl import ThreadpoolController

__all__ = ["scipy_blas_threads"]

logger = logging.getLogger(__name__)

_ENV = "BPOPT_SCIPY_BLAS_THREADS"
_state = {"chosen": False, "original": None}


def _numpy_dirs():
    root = os.path.dirname(np.__file__)
    return (root + os.sep, root + ".libs" + os.sep)


def _separate_pools():
    """threadpoolctl controllers of BLAS libraries that NumPy does not use."""
    controller = ThreadpoolController()
    numpy_dirs = _numpy_dirs()
    paths = [lib.filepath for lib in controller.lib_controllers
             if lib.user_api == "blas"
             and not os.path.realpath(lib.filepath).startswith(numpy_dirs)
             and not lib.filepath.startswith(numpy_dirs)]
    return [lib for lib in controller.lib_controllers if lib.filepath in paths]


def _set(limits):
    for lib in _separate_pools():
        lib.set_num_threads(limits.get(lib.filepath, lib.num_threads))


def _current():
    return {lib.filepath: lib.num_threads for lib in _separate_pools()}


class scipy_blas_threads:  # noqa: N801  (reads like threadpoolctl's limiters)
    """Set the threads of the BLAS pools that NumPy does not share.

    Usable as a call (the setting stays) or as a context manager (the
    previous setting returns on exit). Where NumPy and SciPy share one BLAS
    library (conda, system builds) there is no separate pool and this does
    nothing.

    Parameters
    ----------
    limit : int or None, default 1
        Threads for SciPy's own BLAS; None restores the number the pool had
        before bpopt first changed it.

    Examples
    --------
    >>> import bpopt
    >>> with bpopt.scipy_blas_threads(None):   # SciPy's default, for a while
    ...     pass
    """

    def __init__(self, limit=1):
        if limit is not None and (isinstance(limit, bool) or not isinstance(
                limit, (int, np.integer)) or limit < 1):
            raise ValueError(f"limit must be a positive integer or None; got {limit!r}")
        _state["chosen"] = True
        self._previous = _current()
        if _state["original"] is None:
            _state["original"] = dict(self._previous)
        target = _state["original"] if limit is None else dict.fromkeys(
            self._previous, int(limit))
        _set(target)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _set(self._previous)


def apply_default():
    """Lower SciPy's pool to one thread once, unless the user chose."""
    if _state["chosen"]:
        return
    _state["chosen"] = True
    value = os.environ.get(_ENV, "1").strip().lower()
    if value in ("", "default", "none"):
        return
    try:
        limit = int(value)
    except ValueError:
        logger.warning("%s=%r is not an integer; SciPy's BLAS threads left as "
                       "they are", _ENV, value)
        return
    _state["original"] = _current()
    if _state["original"]:
        _set(dict.fromkeys(_state["original"], max(limit, 1)))
        logger.info("SciPy's BLAS pool set to %d thread(s) so that it does not "
                    "compete with NumPy's; see bpopt.scipy_blas_threads", limit)
