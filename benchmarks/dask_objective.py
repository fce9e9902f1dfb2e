"""Cost of a DaskObjective call against the in-process Objective.

Two measurements, ratios taken in one run:

- per-call overhead on a small problem (core shape "a", 64-32-10 on 1797
  rows), where the evaluation itself takes about a millisecond;
- time per ``loss_and_grad`` on the large core shape "c" (784-1024-1024-10
  on 20000 random float64 rows) with the rows in 1 and in 2 shards.

The workers are single-threaded processes of one ``LocalCluster``, one
shard per worker (Dask's nanny gives each worker one BLAS thread); the
in-process objective runs with NumPy's default BLAS threads and with one.
Ratios are to the faster in-process row. Every call is at a new point, as
in an optimization. Usage::

    python benchmarks/dask_objective.py [--repeats 3] [--shapes a c]
"""

import argparse
import os
import time

import numpy as np
from _common import SHAPES, interleaved
from threadpoolctl import threadpool_limits

import bpopt

try:
    import distributed

    from bpopt.distributed import DaskObjective
except ImportError as exc:
    raise SystemExit('this benchmark needs the dask extra: pip install '
                     '"bpopt[dask]"') from exc


def random_problem(shape, seed=0):
    """A network, random softmax data of a core shape, and a start point."""
    sizes, n = SHAPES[shape]
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, sizes[0]))
    y = rng.integers(0, sizes[-1], size=n)
    net = bpopt.MLP(sizes, activation="relu")
    return net, X, y, net.init(seed=seed)


def timed_calls(obj, theta, step, calls, blas_threads=None):
    """A function calling ``loss_and_grad`` ``calls`` times, each at a new
    point, with NumPy's BLAS limited to ``blas_threads`` (None: as it is)."""
    state = {"theta": theta.copy()}

    def run():
        with threadpool_limits(blas_threads, user_api="blas"):
            for _ in range(calls):
                state["theta"] += step
                obj.loss_and_grad(state["theta"])

    return run


def compare(shape, client, repeats, calls):
    """Seconds per loss_and_grad: in process, then with 1 and 2 shards."""
    net, X, y, theta = random_problem(shape)
    step = np.full(net.n_params, 1e-6)
    local = bpopt.Objective(net, X, y, "softmax_cross_entropy")
    objectives, setup = [local], []
    for n_shards in (1, 2):
        start = time.perf_counter()
        obj = DaskObjective(net, X, y, "softmax_cross_entropy", client=client,
                            n_shards=n_shards)
        obj.loss_and_grad(theta)                 # first call: workers warm up
        setup.append(time.perf_counter() - start)
        objectives.append(obj)
    # each function walks its own points: no call may find another's cache
    starts = [theta + 1e-3 * k for k in range(4)]
    fns = [timed_calls(local, starts[0], step, calls),
           timed_calls(local, starts[1], step, calls, blas_threads=1)]
    fns += [timed_calls(obj, start, step, calls)
            for obj, start in zip(objectives[1:], starts[2:])]
    best = interleaved(fns, repeats)
    for obj in objectives[1:]:
        obj.close()
    return [t / calls for t in best], setup


def report(shape, seconds, setup):
    sizes, n = SHAPES[shape]
    local = min(seconds[:2])
    print(f"shape {shape}: {'-'.join(map(str, sizes))}, n={n}, "
          f"{bpopt.MLP(sizes).n_params} parameters")
    print(f"  {'':<30}{'ms/call':>10}{'ratio':>8}{'extra ms':>10}")
    names = ["in process, default BLAS", "in process, 1 BLAS thread",
             "dask, 1 worker (1 shard)", "dask, 2 workers (2 shards)"]
    for i, (name, t) in enumerate(zip(names, seconds)):
        extra = "" if i < 2 else f"   setup + first call {setup[i - 2]:.2f} s"
        print(f"  {name:<30}{t * 1e3:10.2f}{t / local:7.2f}x"
              f"{(t - local) * 1e3:10.2f}{extra}")


def main(shapes, repeats):
    print(f"{os.cpu_count()} cores; numpy {np.__version__}, "
          f"distributed {distributed.__version__}")
    calls = {"a": 20, "b": 3, "c": 1}
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1,
                                  processes=True, dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        for shape in shapes:
            seconds, setup = compare(shape, client, repeats, calls[shape])
            report(shape, seconds, setup)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3,
                        help="rounds of timed calls; the best round counts")
    parser.add_argument("--shapes", nargs="+", default=["a", "c"],
                        choices=sorted(SHAPES))
    args = parser.parse_args()
    main(args.shapes, args.repeats)
