"""The result of :func:`bpopt.compare`: records, a table, files and a plot."""

import csv
import json
import math
from collections import Counter

import numpy as np

__all__ = ["Comparison"]

#: Columns of :meth:`Comparison.to_csv`, in order.
CSV_COLUMNS = ("method", "curvature", "seed", "loss", "grad_norm", "time", "nit",
               "n_loss", "n_grad", "n_curv", "passes", "n_forward", "n_backward",
               "n_tangent", "status", "success", "message", "test_loss",
               "test_accuracy")
_SUMMARISED = ("loss", "time", "nit", "n_loss", "n_grad", "n_curv", "passes",
               "test_loss", "test_accuracy")


class Comparison:
    """Runs of several methods on one objective, one record per method and seed.

    Attributes
    ----------
    records : list of dict
        Per run: ``method`` (its label), ``curvature``, ``seed``, final
        ``loss`` (equal to ``obj.loss(x)``), ``grad_norm``, ``time``
        (seconds of solver time), ``nit``; evaluation counts ``n_loss``,
        ``n_grad``, ``n_curv`` (calls of value, first-derivative and
        curvature-product methods), passes over the data ``n_forward``,
        ``n_backward``, ``n_tangent`` and their sum ``passes``;
        ``counts`` (every counter); ``status`` (``"converged"``,
        ``"iteration limit"``, ``"time limit"``, ``"failed"``, or
        ``"done"`` for a callable that reports no success), ``success``,
        ``message``, ``warnings``; ``test_loss``, ``test_accuracy`` (None
        without a test set or for a regression loss); ``x`` the final
        point; and ``history``, a dict of lists with one entry per
        iteration (the start first, and a last one at the returned point
        when the solver evaluated more after its last iteration):
        ``time``, ``loss``, ``grad_norm``, and the cumulative ``n_loss``,
        ``n_grad``, ``n_curv``, ``passes``.
    settings : dict
        ``methods`` (labels, in order), ``seeds``, ``maxiter``,
        ``max_time``, ``n_params``.
    """

    def __init__(self, records, settings):
        self.records = records
        self.settings = settings

    def __repr__(self):
        return (f"Comparison(methods={self.settings['methods']}, "
                f"seeds={self.settings['seeds']})")

    def summary(self):
        """Per method, the median, min and max over seeds of each figure.

        Returns
        -------
        list of dict
            ``method``, ``runs``, ``status`` (counts of each status) and
            for each of loss, time, nit, n_loss, n_grad, n_curv, passes,
            test_loss and test_accuracy a ``(median, min, max)`` tuple, or
            None when no run has it.
        """
        rows = []
        for label in self.settings["methods"]:
            runs = [r for r in self.records if r["method"] == label]
            row = {"method": label, "runs": len(runs),
                   "status": Counter(r["status"] for r in runs)}
            for key in _SUMMARISED:
                values = [r[key] for r in runs if r[key] is not None]
                row[key] = (float(np.median(values)), min(values),
                            max(values)) if values else None
            rows.append(row)
        return rows

    def table(self):
        """A plain-text table, one line per method.

        Columns: method, final loss, solver time in seconds, iterations,
        evaluations of value / gradient / curvature products, passes over
        the data, test loss and accuracy (with a test set), status. With
        several seeds each figure is the median, and the loss and time
        get a ``min..max`` range column.
        """
        several = len(self.settings["seeds"]) > 1
        summary = self.summary()
        has_test = any(r["test_loss"] is not None for r in summary)
        has_acc = any(r["test_accuracy"] is not None for r in summary)
        columns = [("method", lambda r: r["method"]),
                   ("loss", lambda r: _num(r["loss"][0]))]
        if several:
            columns.append(("loss range", lambda r: _range(r["loss"], _num)))
        columns.append(("time s", lambda r: _secs(r["time"][0])))
        if several:
            columns.append(("time range", lambda r: _range(r["time"], _secs)))
        columns += [("iters", lambda r: _int(r["nit"][0])),
                    ("evals f/g/Hv", lambda r: "/".join(
                        _int(r[k][0]) for k in ("n_loss", "n_grad", "n_curv"))),
                    ("passes", lambda r: _int(r["passes"][0]))]
        if has_test:
            columns.append(("test loss", lambda r: _num(_first(r["test_loss"]))))
        if has_acc:
            columns.append(("test acc", lambda r: _acc(_first(r["test_accuracy"]))))
        columns.append(("status", lambda r: _statuses(r["status"], several)))
        cells = [[name for name, _ in columns]]
        cells += [[fmt(row) for _, fmt in columns] for row in summary]
        widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
        lines = ["  ".join(c.ljust(w) if i == 0 or i == len(widths) - 1 else
                           c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
                 .rstrip() for row in cells]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)

    def to_csv(self, path):
        """Write one row per method and seed, columns :data:`CSV_COLUMNS`.

        The per-iteration history is not in the CSV: use :meth:`to_json`.
        """
        with open(path, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS,
                                    extrasaction="ignore")
            writer.writeheader()
            for record in self.records:
                writer.writerow({k: "" if record[k] is None else record[k]
                                 for k in CSV_COLUMNS})

    def to_json(self, path):
        """Write ``{"settings": ..., "records": [...]}`` with the histories.

        Every record field but ``x`` (the final point) is kept; non-finite
        numbers become null.
        """
        records = [{k: v for k, v in r.items() if k != "x"} for r in self.records]
        with open(path, "w") as fh:
            json.dump(_finite({"settings": self.settings, "records": records}),
                      fh, indent=1, allow_nan=False)

    def plot(self, path=None):
        """Loss against time and against passes over the data, log scale.

        One line per method (the median over seeds), with a band from the
        lowest to the highest seed. Needs matplotlib (the ``plot`` extra).

        Parameters
        ----------
        path : str or path-like, optional
            Where to save the figure (the format follows the suffix).

        Returns
        -------
        matplotlib.figure.Figure
        """
        from ._plot import plot_comparison

        return plot_comparison(self, path)


# formatting

def _num(v):
    return "-" if v is None else f"{v:.4g}" if 1e-3 <= abs(v) < 1e4 else f"{v:.3e}"


def _secs(v):
    return f"{v:.3g}" if v < 100 else f"{v:.0f}"


def _int(v):
    return str(int(round(v)))


def _acc(v):
    return "-" if v is None else f"{v:.4f}"


def _first(triple):
    return None if triple is None else triple[0]


def _range(triple, fmt):
    return f"{fmt(triple[1])}..{fmt(triple[2])}"


def _statuses(counter, several):
    if not several or len(counter) == 1:
        (status, n), = counter.most_common(1)
        return status if not several else f"{status} x{n}"
    return ", ".join(f"{s} x{n}" for s, n in counter.most_common())


def _finite(value):
    """``value`` with NumPy scalars as Python numbers and non-finite as None."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, np.ndarray):
        return _finite(value.tolist())
    if isinstance(value, (np.integer, np.bool_)):
        return value.item()
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value
