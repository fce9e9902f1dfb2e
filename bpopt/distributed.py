"""Data-parallel objectives on Dask: rows on workers, sums on the client.

:class:`DaskObjective` is an :class:`~bpopt.Objective` whose rows live on
the workers of a Dask cluster, in shards of contiguous rows. Each call
sends ``theta`` (and ``v``) to the workers and adds the partial sums they
return; the client adds the l2 term. Needs the ``dask`` extra::

    pip install "bpopt[dask]"
"""

import weakref

import numpy as np

try:
    import distributed  # noqa: F401  (the extra's check)
except ImportError as exc:  # pragma: no cover - exercised without dask
    raise ImportError(
        "bpopt.distributed needs Dask's distributed scheduler; install it "
        "with: pip install 'bpopt[dask]'") from exc

from ._dask_setup import check_n_shards, check_npy_headers, check_timeout, connect
from ._dask_shard import NpyRows, ShardError, absolute
from ._dask_sum import Shard, ShardedSum, place
from ._objective import CACHE_BYTES, Objective

__all__ = ["DaskObjective", "ShardError"]


class DaskObjective(Objective):
    """Mean loss of a network on data held by Dask workers, with derivatives.

    The same function as :class:`~bpopt.Objective` with the same
    arguments, and the same ``loss``, ``grad``, ``loss_and_grad``,
    ``hessp``, ``gnvp``, ``squared_grads``, ``counts`` and
    ``reset_counts``; the rows are split into ``n_shards`` shards of
    contiguous rows held by the workers.

    Parameters
    ----------
    net : MLP
    X, y, loss, l2, sample_weight
        As for :class:`~bpopt.Objective`. ``X``, ``y`` and the weights
        are checked and converted on the client, then each shard's rows
        are sent once to its worker. The client keeps its references to
        them (no copy) to rebuild a shard whose worker is lost.
    client : None, str or distributed.Client
        None starts a ``LocalCluster`` with one single-threaded worker
        process per core, closed with the objective. A string is a
        scheduler address (``"tcp://host:8786"``) to connect to; the
        connection is closed with the objective, the cluster is not. A
        ``Client`` is used as it is and left open.
    n_shards : int, optional
        Number of shards, ``1 <= n_shards <= n``; by default one per
        worker thread. Shard sizes differ by at most one row.
    dtype, block_size, cache_bytes
        As for :class:`~bpopt.Objective`, for each shard.
    timeout : float, optional
        Seconds a call may take before it raises ``TimeoutError``; None
        waits as long as it takes.

    Raises
    ------
    ShardError
        From a call whose shard raised on its worker, or answered wrongly.
    TypeError
        From ``jvp``, ``vjp``, ``residuals``, ``jacobian``, ``subset`` and
        ``curvature_batch``, which need the rows in this process.

    Notes
    -----
    Each shard is a weighted sum over its rows with weights normalised by
    the whole data set, so the partial sums add up to the data term; they
    are added in shard order, whichever worker computed them. Each worker
    keeps the forward pass of the last point per shard, so curvature
    products at the point of the last gradient need no new forward pass.

    When a worker leaves, during a call or between calls, its shards move
    to the workers that remain and are rebuilt there from their source
    (the client's arrays, or the ``.npy`` files), and the call completes
    with the same sums. ``counts["lost_shards"]`` counts the shards
    rebuilt on another worker, or sent again, after such a loss. Dask's
    work stealing may also run a shard's task on an idle worker while its
    own is busy: the shard is then rebuilt there (counted the same way),
    and the copy on the busy worker is dropped.

    ``counts``: the client counts calls to each public method; the pass
    counters (``forward``, ``backward``, ``tangent``) are the passes the
    workers ran, summed over shards.

    Workers need bpopt installed; with processes (the default cluster),
    a script that builds a DaskObjective runs its main code under
    ``if __name__ == "__main__":``.
    """

    def __init__(self, net, X, y, loss, l2=0.0, sample_weight=None, client=None,
                 n_shards=None, *, dtype=np.float64, block_size=None,
                 cache_bytes=CACHE_BYTES, timeout=None):
        self._configure(net, loss, l2, dtype, block_size, cache_bytes, timeout)
        X, _, targets, _, row_weight = self._check_data(X, y, sample_weight)

        def rows(start, stop):
            w = row_weight if np.ndim(row_weight) == 0 else row_weight[start:stop]
            return X[start:stop], targets[start:stop], w

        self._start(client, n_shards, rows)

    @classmethod
    def from_npy(cls, net, X_path, y_path, loss, l2=0.0, sample_weight=None,
                 client=None, n_shards=None, *, dtype=np.float64,
                 block_size=None, cache_bytes=CACHE_BYTES, timeout=None):
        """An objective on ``.npy`` files that each worker opens itself.

        Parameters
        ----------
        X_path, y_path : str or path-like
            ``.npy`` files of ``X`` (n, sizes[0]) and ``y``, readable at
            the same path by the client and every worker (a shared file
            system). The client reads their headers only; each worker
            memory-maps the rows of its shards and checks them.
        sample_weight : str or path-like, optional
            A ``.npy`` file of ``n`` weights. Workers check their rows
            and return partial sums for the normaliser.
        Other parameters
            As for :class:`DaskObjective`.

        Returns
        -------
        DaskObjective
        """
        self = cls.__new__(cls)
        self._configure(net, loss, l2, dtype, block_size, cache_bytes, timeout)
        paths = [absolute(p) for p in (X_path, y_path, sample_weight)]
        self.n_samples = check_npy_headers(*paths, net)
        self._start(client, n_shards, lambda a, b: NpyRows(*paths, a, b))
        return self

    def _configure(self, net, loss, l2, dtype, block_size, cache_bytes, timeout):
        super()._configure(net, loss, l2, dtype, block_size, cache_bytes)
        self.timeout = check_timeout(timeout)

    def _start(self, client, n_shards, rows):
        """Connect, place the shards, build them on their workers."""
        if n_shards is not None:   # bad input fails before a cluster starts
            check_n_shards(n_shards, 0, self.n_samples)
        client, owned = connect(client, self.timeout)
        try:
            nthreads = client.nthreads()
            if not nthreads:
                client.wait_for_workers(1, timeout=self.timeout)
                nthreads = client.nthreads()
            n_shards = check_n_shards(n_shards, sum(nthreads.values()),
                                       self.n_samples)
            bounds = np.linspace(0, self.n_samples, n_shards + 1).round()
            shards = [Shard(i, int(a), int(b), rows(int(a), int(b)), worker)
                      for i, (a, b, worker) in enumerate(zip(
                          bounds[:-1], bounds[1:], place(n_shards, nthreads)))]
            config = (self.net, self.loss_function, self.dtype, self.block_size,
                      self.cache_bytes, self.n_samples)
            self._data = ShardedSum(client, config, shards, self.timeout, owned)
            self._finalizer = weakref.finalize(self, self._data.shutdown)
            if isinstance(shards[0].source, NpyRows) and shards[0].source.w_path:
                _set_weight_total(self._data)
            self._data.map("rows")
        except BaseException:
            if hasattr(self, "_finalizer"):
                self._finalizer()
            else:
                for resource in owned:
                    resource.close()
            raise

    def __repr__(self):
        return (f"DaskObjective({self.net!r}, n_samples={self.n_samples}, "
                f"loss={self.loss_function.name!r}, l2={self.l2}, "
                f"n_shards={self.n_shards})")

    @property
    def counts(self):
        """Calls to each public method (on the client), passes run by the
        workers summed over shards, and ``lost_shards``, as a dict."""
        counts = super().counts
        counts.setdefault("lost_shards", 0)
        return counts

    @property
    def n_shards(self):
        return len(self._data.shards)

    @property
    def client(self):
        """The ``distributed.Client`` this objective sends its calls through."""
        return self._data.client

    def rebalance(self):
        """Spread the shards over the workers present now, as at the start.

        After a worker is lost, its shards stay on the workers that took
        them over, even when a replacement joins; this moves them back
        into balance (each moved shard is rebuilt at the next call).
        """
        self._data.rebalance()

    def close(self):
        """Drop the shards on the workers; close the cluster or connection
        this objective started. Calls after ``close`` raise ``RuntimeError``."""
        self._finalizer()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __reduce__(self):
        raise TypeError(
            "a DaskObjective holds a connection to a Dask cluster and does not "
            "pickle; pickle the network and the data (or their paths) instead")

    def _local_only(self, name):
        raise TypeError(
            f"{name} is not available on a DaskObjective; it offers loss, grad, "
            "loss_and_grad, hessp, gnvp and squared_grads. Use an in-process "
            "Objective for the others")

    def jvp(self, theta, v):
        self._local_only("jvp")

    def vjp(self, theta, u):
        self._local_only("vjp")

    def residuals(self, theta):
        self._local_only("residuals")

    def jacobian(self, theta, dense=False):
        self._local_only("jacobian")

    def subset(self, rows):
        self._local_only("subset")

    def curvature_batch(self, size, seed=None):
        self._local_only("curvature_batch")


def _set_weight_total(data):
    """Normaliser of ``.npy`` weights: partial sums from the workers."""
    total = sum(data.map("weight_sum"))
    if total <= 0:
        raise ValueError("sample_weight sums to zero; at least one weight must "
                         "be positive")
    for shard in data.shards:
        shard.source.total = total
