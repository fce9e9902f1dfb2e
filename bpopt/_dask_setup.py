"""Setting up a DaskObjective: the cluster to use, checks of its arguments."""

import numbers

import distributed
import numpy as np
from dask.system import CPU_COUNT

from ._validation import real_array


def connect(client, timeout):
    """``(client, resources to close with the objective)``."""
    if client is None:
        cluster = distributed.LocalCluster(
            n_workers=CPU_COUNT, threads_per_worker=1, processes=True,
            dashboard_address=":0")
        try:
            client = distributed.Client(cluster)
        except BaseException:
            cluster.close()
            raise
        return client, [client, cluster]
    if isinstance(client, str):
        client = distributed.Client(client, timeout=timeout or "30s")
        return client, [client]
    if isinstance(client, distributed.Client):
        return client, []
    raise TypeError("client must be None, a scheduler address or a "
                    f"distributed.Client; got {type(client).__name__}")


def check_npy_headers(X_path, y_path, w_path, net):
    """Number of rows of ``.npy`` data, from the files' headers only (each
    worker checks the values of its rows)."""
    X, n_features = real_array(np.load(X_path, mmap_mode="r"), "X"), net.sizes[0]
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, {n_features}); got "
                         f"{X.ndim}-D, shape {X.shape}")
    if X.shape[1] != n_features:
        raise ValueError(
            f"X has {X.shape[1]} columns; the network expects {n_features}")
    n = X.shape[0]
    if n == 0:
        raise ValueError("X is empty: it has 0 rows")
    y_shape = np.load(y_path, mmap_mode="r").shape
    if not 1 <= len(y_shape) <= 2 or y_shape[0] != n:
        raise ValueError(f"y must be 1-D or 2-D with one row per row of X "
                         f"({n}); got shape {y_shape}")
    if w_path is not None:
        w = real_array(np.load(w_path, mmap_mode="r"), "sample_weight")
        if w.shape != (n,):
            raise ValueError(f"sample_weight must be 1-D of length {n}; "
                             f"got shape {w.shape}")
    return n


def check_timeout(timeout):
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real):
        raise TypeError(f"timeout must be a number of seconds or None; got "
                        f"{type(timeout).__name__}")
    if not timeout > 0:
        raise ValueError(f"timeout must be positive or None; got {timeout!r}")
    return float(timeout)


def check_n_shards(n_shards, n_threads, n):
    if n_shards is None:
        return min(n_threads, n)
    if isinstance(n_shards, bool) or not isinstance(n_shards, (int, np.integer)):
        raise TypeError(f"n_shards must be an integer; got {type(n_shards).__name__}")
    if not 1 <= n_shards <= n:
        raise ValueError(f"n_shards must be in 1..{n} (the rows); got {n_shards}")
    return int(n_shards)
