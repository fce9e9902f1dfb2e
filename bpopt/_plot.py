"""Plot a comparison: loss against time and against passes over the data."""

import numpy as np

__all__ = ["plot_comparison"]

_GRID = 300
_AXES = (("time", "solver time (s)"),
         ("passes", "passes over the data (forward + backward + tangent)"))


def plot_comparison(comparison, path=None):
    """A figure of two panels, one line per method and a band over seeds."""
    try:
        import matplotlib
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError("Comparison.plot needs matplotlib: "
                          'pip install "bpopt[plot]"') from exc
    del matplotlib
    fig = Figure(figsize=(10, 4), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for label in comparison.settings["methods"]:
        runs = [r["history"] for r in comparison.records if r["method"] == label]
        color = None
        for ax, (key, _) in zip(axes, _AXES):
            grid, mid, low, high = _band(runs, key)
            (line,) = ax.plot(grid, mid, label=label, color=color,
                              drawstyle="steps-post")
            color = line.get_color()
            if len(runs) > 1:
                ax.fill_between(grid, low, high, color=color, alpha=0.2,
                                step="post", linewidth=0)
    for ax, (_, xlabel) in zip(axes, _AXES):
        # log-log: runs that differ tenfold in cost all stay readable; the
        # start (at zero time and passes) is the first point after it
        ax.set_xscale("log", nonpositive="mask")
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("training loss")
    seeds = len(comparison.settings["seeds"])
    if seeds > 1:
        fig.suptitle(f"median over {seeds} seeds; band: lowest to highest")
    axes[1].legend(fontsize="small")
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig


def _band(histories, key):
    """Losses of each run as step functions of ``key`` on a common grid.

    The grid is geometric, from the smallest positive ``key`` of any run
    to the largest, for log axes. Each run keeps its last loss after it
    ends. Returns the grid and the
    median, lowest and highest loss over runs at each grid point.
    """
    if len(histories) == 1:
        h = histories[0]
        loss = _positive(h["loss"])
        return np.asarray(h[key], dtype=float), loss, loss, loss
    end = max(h[key][-1] for h in histories)
    positive = [v for h in histories for v in h[key] if v > 0]
    start = min(positive, default=end)
    grid = np.geomspace(start, end, _GRID) if 0 < start < end else np.array([end])
    curves = []
    for h in histories:
        at = np.searchsorted(np.asarray(h[key], dtype=float), grid, side="right")
        curves.append(_positive(h["loss"])[np.maximum(at - 1, 0)])
    curves = np.array(curves)
    return (grid, np.median(curves, axis=0), curves.min(axis=0),
            curves.max(axis=0))


def _positive(loss):
    """Losses, with zeros raised to the smallest positive float for log axes."""
    return np.maximum(np.asarray(loss, dtype=float), np.finfo(float).tiny)
