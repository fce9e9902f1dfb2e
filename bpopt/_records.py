"""What one run of a comparison records, without disturbing the run.

A :class:`Recorder` watches one solver on one objective. After every
iteration it appends the elapsed time, the loss, the gradient norm and
the evaluation counts so far to a history. Recording must not change what
it measures:

- the clock stops while a record is taken, so times are the solver's own;
- values the solver has just computed are reused (the wrapped objective
  remembers the last few points it saw); a missing value is computed in a
  separate thread, whose per-thread cache leaves the solver's untouched,
  and the counts it adds are subtracted.
"""

import time
from collections import Counter, OrderedDict

import numpy as np

#: Calls to these public methods count as evaluations of the value, of
#: first derivatives and of curvature products (``jvp`` and ``vjp`` are the
#: products of a least-squares Jacobian operator).
EVALUATIONS = {
    "n_loss": ("loss", "loss_and_grad", "residuals"),
    "n_grad": ("grad", "loss_and_grad", "jacobian"),
    "n_curv": ("hessp", "gnvp", "jvp", "vjp"),
}
#: Passes over the data, the unit of work.
PASSES = ("forward", "backward", "tangent")

_MEMO_POINTS = 4


class TimeLimit(StopIteration):
    """Raised by a recorder's callback once the run's time is spent.

    A StopIteration, so that SciPy's solvers that honour it stop cleanly;
    the others let it through and the comparison catches it.
    """


class Recorder:
    """History of one run: time, loss, gradient norm and counts per iteration.

    Parameters
    ----------
    obj : Objective
        The objective the solver evaluates; its counters are reset by
        :meth:`start`.
    side : concurrent.futures.Executor
        One worker thread, for values the solver did not compute.
    label : str
    progress : callable or None
        ``progress(label, iteration, loss, elapsed)`` after each record.
    max_time : float or None
        Seconds of solver time after which the callback raises
        :class:`TimeLimit`.
    """

    def __init__(self, obj, side, label, progress=None, max_time=None):
        self.obj, self.side, self.label = obj, side, label
        self.progress, self.max_time = progress, max_time
        self.history = {k: [] for k in ("time", "loss", "grad_norm", *EVALUATIONS,
                                        "passes")}
        self.hidden = Counter()
        self.memo = OrderedDict()
        self.x = None
        self.iterations = 0
        self.timed_out = False

    # the clock

    def start(self, x0):
        """Reset the counters, record the starting point, start the clock."""
        self.obj.reset_counts()
        self._record(np.array(x0, dtype=np.float64), None, 0.0)
        self._t0 = time.perf_counter()
        self._paused = 0.0

    def elapsed(self):
        """Solver time so far, seconds, recording excluded."""
        return time.perf_counter() - self._t0 - self._paused

    # what the solver computed

    def seen(self, x, f=None, g=None):
        """Remember ``f`` and ``|g|`` that the solver obtained at ``x``."""
        key = np.asarray(x, dtype=np.float64).tobytes()
        entry = self.memo.pop(key, {})
        if f is not None:
            entry["loss"] = float(f)
        if g is not None:
            entry["grad_norm"] = float(np.linalg.norm(g))
        self.memo[key] = entry
        while len(self.memo) > _MEMO_POINTS:
            self.memo.popitem(last=False)

    # records

    def record(self, x, f=None, grad_norm=None):
        """Append one iteration at ``x``; raise TimeLimit when time is up."""
        now = self.elapsed()
        pause = time.perf_counter()
        try:
            self.iterations += 1
            self._record(np.array(x, dtype=np.float64), f, now, grad_norm)
        finally:
            self._paused += time.perf_counter() - pause
        if self.max_time is not None and now >= self.max_time:
            self.timed_out = True
            raise TimeLimit(f"{self.label}: time limit of {self.max_time} s")

    def finish(self, x, elapsed):
        """End the history at the returned point ``x`` and the final counts.

        A last entry is added when ``x`` is not the last recorded point or
        the solver evaluated more after its last iteration.
        """
        x = np.array(x, dtype=np.float64)
        moved = not np.array_equal(self.x, x)
        if moved or any(self.history[k][-1] != n
                        for k, n in self.evaluations().items()):
            self._record(x, None, elapsed)

    def callback(self, x):
        """A plain callback: ``x`` is the iterate or an OptimizeResult."""
        if hasattr(x, "x"):
            self.record(x.x, getattr(x, "fun", None))
        else:
            self.record(x)

    def scipy_callback(self, intermediate_result):
        """SciPy's keyword callback: ``x``, ``fun`` (a float or residuals),
        and for some methods ``cost`` and the gradient as ``jac`` or
        ``grad``."""
        res = intermediate_result
        f = res.get("cost", res.get("fun"))
        # trust-constr's "jac" holds the constraints' Jacobians, least
        # squares' the residuals' Jacobian: the objective's gradient is
        # "grad" where present
        g = res.get("grad", res.get("jac"))
        g_norm = None if g is None or np.ndim(g) != 1 else float(np.linalg.norm(g))
        self.record(res.x, None if np.ndim(f) else f, g_norm)

    def _record(self, x, f, now, grad_norm=None):
        entry = self.memo.get(x.tobytes(), {})
        loss = entry.get("loss", f)
        grad_norm = entry.get("grad_norm", grad_norm)
        if loss is None or grad_norm is None:
            loss, grad_norm = self.off_the_record(_loss_and_grad_norm, x)
        self.x = x
        h = self.history
        h["time"].append(now)
        h["loss"].append(float(loss))
        h["grad_norm"].append(grad_norm)
        for key, n in self.evaluations().items():
            h[key].append(n)
        if self.progress is not None:
            self.progress(self.label, len(h["time"]) - 1, float(loss), now)

    # counts

    def off_the_record(self, fn, *args):
        """``fn(obj, *args)`` in the side thread, its counts subtracted."""
        before = Counter(self.obj.counts)
        result = self.side.submit(fn, self.obj, *args).result()
        self.hidden.update(Counter(self.obj.counts) - before)
        return result

    def counts(self):
        """The objective's counters minus what recording added."""
        return {k: v - self.hidden[k] for k, v in self.obj.counts.items()}

    def evaluations(self):
        """``n_loss``, ``n_grad``, ``n_curv`` and ``passes`` so far."""
        counts = self.counts()
        out = {key: sum(counts.get(name, 0) for name in names)
               for key, names in EVALUATIONS.items()}
        out["passes"] = sum(counts.get(name, 0) for name in PASSES)
        return out


def _loss_and_grad_norm(obj, x):
    f, g = obj.loss_and_grad(x)
    return float(f), float(np.linalg.norm(g))
