"""Helpers shared by the benchmark scripts: problems, timers, memory."""

import time
import tracemalloc

import numpy as np

import bpopt

# the core benchmark shapes: name -> (layer sizes, rows)
SHAPES = {
    "a": ([64, 32, 10], 1797),
    "b": ([784, 256, 256, 10], 10000),
    "c": ([784, 1024, 1024, 10], 20000),
}


def make_problem(shape, dtype=np.float64, seed=0, activation="relu", **kwargs):
    """A network and random softmax data of a benchmark shape."""
    sizes, n = SHAPES[shape]
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, sizes[0])).astype(dtype)
    y = rng.integers(0, sizes[-1], size=n)
    net = bpopt.MLP(sizes, activation=activation)
    obj = bpopt.Objective(net, X, y, loss="softmax_cross_entropy", dtype=dtype,
                          **kwargs)
    return obj, net.init(seed=seed)


def interleaved(fns, repeats):
    """Best time of each function, the calls interleaved round by round so
    that a noisy machine slows all of them alike."""
    best = [np.inf] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - start)
    return best


def peak_memory(fn):
    """Peak bytes allocated (NumPy and Python) during one call of ``fn``."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def mib(nbytes):
    return f"{nbytes / 2**20:.1f} MiB"
