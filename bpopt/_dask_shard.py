"""The worker side of a DaskObjective: shards of rows kept on Dask workers.

A shard is a :class:`~bpopt._datasum.DataSum` on a contiguous range of
rows whose weights are normalised by the whole data set (``1/n`` or
``w_i / sum w``), so that the partial sums of all shards add up to the
data term. Each worker keeps its shards in a registry that lives as long
as the worker; a shard missing from it (a fresh worker, or one that took
over from a worker that left) is built again from its source: rows
scattered from the client, or a range of rows in ``.npy`` files that the
worker memory-maps itself.

Every shard computes on a thread of its own. ``DataSum`` keeps the
forward pass of the last point per thread, so running a shard always on
the same thread lets consecutive calls at one point (a gradient, then
curvature products) reuse it, whichever Dask thread runs the task.
"""

import os
import threading
import weakref
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from distributed import get_worker

from ._datasum import DataSum
from ._validation import check_finite, check_targets, check_X, real_array

# worker -> {token of an objective: {shard index: WorkerShard}}
_REGISTRY = weakref.WeakKeyDictionary()
_REGISTRY_LOCK = threading.Lock()


class ShardError(RuntimeError):
    """A shard of a :class:`~bpopt.distributed.DaskObjective` failed to answer."""


class MissingShard(LookupError):
    """This worker does not hold the shard and was not sent its rows."""


class NpyRows:
    """Rows ``start:stop`` of ``.npy`` files, opened where they are used.

    ``total`` is the sum of all sample weights (None without weights);
    the client sets it after a first pass over the weights.
    """

    def __init__(self, X_path, y_path, w_path, start, stop):
        self.X_path, self.y_path, self.w_path = X_path, y_path, w_path
        self.start, self.stop = start, stop
        self.total = None

    def weight_sum(self):
        """Sum of this range's sample weights, checked (float)."""
        w = np.load(self.w_path, mmap_mode="r")[self.start:self.stop]
        w = real_array(w, "sample_weight")
        check_finite(w, "sample_weight")
        if w.size and w.min() < 0:
            raise ValueError(
                f"sample_weight must be non-negative; got minimum {w.min()!r}")
        return float(w.sum(dtype=np.float64))

    def load(self, loss, n_features, n_outputs, n_samples):
        """``(X, targets, row_weight)`` of the range, checked as Objective does."""
        X = check_X(np.load(self.X_path, mmap_mode="r")[self.start:self.stop],
                    n_features)
        y = np.load(self.y_path, mmap_mode="r")[self.start:self.stop]
        targets = loss.check_targets(check_targets(y, len(X)), n_outputs)
        if self.w_path is None:
            return X, targets, 1.0 / n_samples
        w = np.load(self.w_path, mmap_mode="r")[self.start:self.stop]
        return X, targets, np.asarray(w, dtype=np.float64) / self.total


class WorkerShard:
    """One shard on one worker: its DataSum and the thread it runs on."""

    def __init__(self, index, data_sum):
        self.index, self.sum = index, data_sum
        self.thread = ThreadPoolExecutor(1, thread_name_prefix="bpopt-shard")

    def submit(self, method, theta, v):
        return self.thread.submit(self._evaluate, method, theta, v)

    def _evaluate(self, method, theta, v):
        """``(index, rows, passes run, partial result)`` of ``method``."""
        before = Counter(self.sum.counts)
        ds, n_params = self.sum, self.sum.net.n_params
        if v is not None:
            v = np.require(v, requirements="A")   # as X, for its matrix products
        if method == "rows":
            value = None
        elif method == "value":
            value = ds.value(theta)
        elif method == "value_and_grad":
            f, g = ds.value_and_grad(theta)
            value = (f, g.copy())        # g is the thread's reusable buffer
        elif method == "squared_grads":
            value = ds.squared_grads(theta, np.empty(n_params, ds.dtype))
        else:                            # hessp, gnvp
            value = getattr(ds, method)(theta, v, np.empty(n_params, ds.dtype))
        return self.index, ds.n, dict(Counter(ds.counts) - before), value

    def close(self):
        self.thread.shutdown(wait=False)


def evaluate(token, config, specs, method, vectors):
    """Dask task: ``method`` on this worker's shards ``specs``.

    Parameters
    ----------
    token : str
        Identifies the objective.
    config : tuple
        ``(net, loss, dtype, block_rows, cache_bytes, n_samples)``.
    specs : list of (index, start, stop, source)
        ``source`` is ``(X, targets, row_weight)`` (scattered rows,
        resolved by Dask), an :class:`NpyRows`, or None for a shard the
        worker should hold already (else it raises :class:`MissingShard`).
    method : str
        ``"rows"`` (build only), ``"weight_sum"``, ``"value"``,
        ``"value_and_grad"``, ``"hessp"``, ``"gnvp"`` or ``"squared_grads"``.
    vectors : tuple
        ``(theta, v)``; ``v`` is None for value and gradient.

    Returns
    -------
    address : str
        The worker that answered.
    answers : list of tuple
        ``(index, rows, passes, partial result)``, one per shard.
    """
    address = get_worker().address
    if method == "weight_sum":
        return address, [(index, stop - start, {}, source.weight_sum())
                         for index, start, stop, source in specs]
    shards = {index: _shard(token, config, index, start, stop, source)
              for index, start, stop, source in specs}
    pending = {index: shard.submit(method, *vectors)
               for index, shard in shards.items()}
    answers = []
    for (index, start, stop, _), future in zip(specs, pending.values()):
        try:
            answers.append(future.result())
        except Exception as exc:
            raise ShardError(
                f"shard {index} (rows {start}..{stop - 1}) on worker {address} "
                f"raised {type(exc).__name__}: {exc}") from exc
    return address, answers


def _shard(token, config, index, start, stop, source):
    """The shard from this worker's registry, built from its source if absent."""
    shards = _worker_shards(token)
    with _REGISTRY_LOCK:
        shard = shards.get(index)
    if shard is not None:
        return shard
    if source is None:
        raise MissingShard(index)
    net, loss, dtype, block_rows, cache_bytes, n_samples = config
    if isinstance(source, NpyRows):
        try:
            source = source.load(loss, net.sizes[0], net.sizes[-1], n_samples)
        except (ValueError, TypeError) as exc:
            # keep the type (bad input), say where it came from
            exc.args = (f"rows {start}..{stop - 1} of {source.X_path}, "
                        f"{source.y_path}: {exc}",)
            raise
    X, targets, row_weight = source
    # rows that came over the network may sit at any offset in a buffer;
    # BLAS wants them aligned (a copy only when they are not)
    X = np.require(X, requirements="A")
    data_sum = DataSum(net, X, targets, loss, row_weight, dtype, block_rows,
                       cache_bytes)
    with _REGISTRY_LOCK:
        shard = shards.setdefault(index, WorkerShard(index, data_sum))
    return shard


def _worker_shards(token):
    with _REGISTRY_LOCK:
        objectives = _REGISTRY.setdefault(get_worker(), {})
        return objectives.setdefault(token, {})


def drop(token, indices=None, dask_worker=None):
    """Forget shards ``indices`` (all by default) of objective ``token`` on
    this worker; run through ``client.run``."""
    with _REGISTRY_LOCK:
        objectives = _REGISTRY.get(dask_worker, {})
        if indices is None:
            shards = list(objectives.pop(token, {}).values())
        else:
            kept = objectives.get(token, {})
            shards = [kept.pop(i) for i in indices if i in kept]
    for shard in shards:
        shard.close()
    return len(shards)


def absolute(path):
    """``path`` as an absolute string, for workers with another directory."""
    return None if path is None else os.path.abspath(os.fspath(path))
