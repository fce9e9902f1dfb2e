"""Speed of loss_and_grad against the matrix products backprop cannot avoid.

For each core shape, the floor is the bare matrix products on the same
shapes, into preallocated outputs: forward ``a @ W`` per layer, backward
``a.T @ delta`` per layer and ``delta @ W.T`` for every layer but the
first. Figures are ratios measured in one run. Usage::

    python benchmarks/core.py [--threads 1 2] [--shapes a b c] [--repeats 7]
                              [--seconds 4] [--big]
"""

import argparse
import time

import numpy as np
import scipy.optimize as so
from _common import SHAPES, interleaved, make_problem, mib, peak_memory
from threadpoolctl import threadpool_limits

import bpopt


def floor_products(sizes, n, dtype, seed=0):
    """A function running the bare products of one gradient evaluation."""
    rng = np.random.default_rng(seed)
    a = [rng.normal(size=(n, s)).astype(dtype) for s in sizes]
    W = [rng.normal(size=(i, o)).astype(dtype) for i, o in zip(sizes, sizes[1:])]
    gW = [np.empty_like(w) for w in W]
    below = [np.empty_like(x) for x in a]

    def run():
        for l in range(len(W)):
            np.matmul(a[l], W[l], out=a[l + 1])
        for l in reversed(range(len(W))):
            np.matmul(a[l].T, a[l + 1], out=gW[l])
            if l > 0:
                np.matmul(a[l + 1], W[l].T, out=below[l])

    return run


def gradient_ratio(shape, dtype, repeats, seconds):
    """Ratio of loss_and_grad at new points to the floor, and memory.

    The time is that of the default objective, which keeps (within its
    cache) a copy of the inputs with a column of ones; the memory is that
    of an objective with the cache off, whose calls are bounded by one
    block's work arrays.

    Rounds run at least ``repeats`` times and for about ``seconds``: a
    cheap shape gets many rounds, so that a busy spell of the machine
    cannot cover all of them.
    """
    sizes, n = SHAPES[shape]
    # the default objective for the time; with the cache off for memory
    obj, theta = make_problem(shape, dtype)
    bounded = make_problem(shape, dtype, cache_bytes=0)[0]
    out = np.empty(obj.n_params)

    def call(obj=obj):
        # a new point each time: no activations are reused from the last call
        theta[0] += 1e-9
        obj.loss_and_grad(theta, out=out)

    floor = floor_products(sizes, n, dtype)
    start = time.perf_counter()
    call()
    floor()
    rounds = max(repeats, int(seconds / (time.perf_counter() - start)))
    t_call, t_floor = interleaved([call, floor], rounds)
    first = make_problem(shape, dtype, cache_bytes=0)[0]
    call(bounded)
    return (t_call / t_floor, t_floor, peak_memory(lambda: call(bounded)),
            peak_memory(lambda: first.loss_and_grad(theta, out=out)))


def solver_run(iterations=50):
    """One L-BFGS-B run on shape (a): its total time, the time spent in
    ``loss_and_grad`` and the points it asked for."""
    obj, theta0 = make_problem("a")
    inside, points = [0.0], []

    def fun(theta):
        points.append(theta.copy())
        start = time.perf_counter()
        result = obj.loss_and_grad(theta)
        inside[0] += time.perf_counter() - start
        return result

    start = time.perf_counter()
    res = so.minimize(fun, theta0, jac=True, method="L-BFGS-B",
                      options={"maxiter": iterations})
    return time.perf_counter() - start, inside[0], points, res.nit


def solver_ratios(repeats=3):
    """L-BFGS-B on shape (a) with bpopt's default thread setting and with
    SciPy's BLAS pool at its own default, against the same calls in a loop.

    SciPy's own work is the solver's time outside the objective in its
    fastest run; the loop replays the points the solver asked for. Runs
    alternate between the two settings; each figure is the best of
    ``repeats``.
    """
    best = {"bpopt default": [np.inf] * 2, "SciPy default": [np.inf] * 2}
    loop, own, nit = np.inf, np.inf, 0
    obj = make_problem("a")[0]
    points = solver_run()[2]      # warm up, and the points to replay
    for _ in range(repeats):
        # idle BLAS threads spin for a while after their last call: let
        # them settle so that no measurement pays for the one before
        time.sleep(0.5)
        start = time.perf_counter()
        for theta in points:
            obj.loss_and_grad(theta)
        loop = min(loop, time.perf_counter() - start)
        for setting in best:
            time.sleep(0.5)
            with bpopt.scipy_blas_threads(1 if setting == "bpopt default"
                                          else None):
                total, inside, points, nit = solver_run()
            best[setting][0] = min(best[setting][0], total)
            best[setting][1] = min(best[setting][1], inside)
            own = min(own, total - inside)
    return best, loop, own, nit


def big_memory(rows=1_000_000, seed=0):
    """Extra memory of one call on a million rows of float32 data."""
    sizes = SHAPES["b"][0]
    rng = np.random.default_rng(seed)
    X = np.empty((rows, sizes[0]), np.float32)
    for i in range(0, rows, 100_000):
        X[i:i + 100_000] = rng.standard_normal((min(100_000, rows - i), sizes[0]),
                                               dtype=np.float32)
    y = rng.integers(0, sizes[-1], size=rows)
    net = bpopt.MLP(sizes)
    obj = bpopt.Objective(net, X, y, loss="softmax_cross_entropy",
                          dtype=np.float32)
    theta = net.init(seed=0)
    start = time.perf_counter()
    peak = peak_memory(lambda: obj.loss_and_grad(theta))
    elapsed = time.perf_counter() - start
    block = obj.block_size
    return peak, elapsed, block, X.nbytes


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--shapes", nargs="+", default=["a", "b", "c"])
    parser.add_argument("--repeats", type=int, default=7,
                        help="fewest interleaved rounds per shape")
    parser.add_argument("--seconds", type=float, default=4.0,
                        help="time that the rounds of a cheap shape fill")
    parser.add_argument("--big", action="store_true",
                        help="also measure memory on 1,000,000 float32 rows")
    args = parser.parse_args()

    # first, before any thread limit below can touch SciPy's pool
    best, loop, own, nit = solver_ratios()
    print(f"L-BFGS-B on (a), {nit} iterations: the same calls in a loop take "
          f"{loop * 1e3:.0f} ms, SciPy's own work {own * 1e3:.0f} ms")
    for setting, (total, inside) in best.items():
        print(f"  {setting + ' threads:':<24}{total * 1e3:6.0f} ms in all, "
              f"{inside * 1e3:5.0f} ms in the objective; ratio to loop + own "
              f"{total / (loop + own):.2f}")
    print()

    print("loss_and_grad at a new point / bare matrix products (best of at "
          f"least {args.repeats} rounds or {args.seconds:g} s, interleaved)")
    print(f"{'shape':<22}{'dtype':<9}{'threads':>8}{'floor ms':>10}{'ratio':>7}"
          f"{'extra memory':>14}{'first call':>12}")
    for threads in args.threads:
        with threadpool_limits(threads):
            for shape in args.shapes:
                sizes, n = SHAPES[shape]
                for dtype in (np.float64, np.float32):
                    ratio, floor, peak, first = gradient_ratio(
                        shape, dtype, args.repeats, args.seconds)
                    label = f"({shape}) {'-'.join(map(str, sizes))}"
                    print(f"{label:<22}{np.dtype(dtype).name:<9}{threads:>8}"
                          f"{floor * 1e3:>10.2f}{ratio:>7.2f}{mib(peak):>14}"
                          f"{mib(first):>12}")
    print("(extra memory: peak allocation of one call at a new point, cache off;"
          " first call: including the block's work arrays)")

    if args.big:
        peak, elapsed, block, nbytes = big_memory()
        print(f"\n1,000,000 x 784 float32 rows ({mib(nbytes)} of data), "
              f"784-256-256-10 in float32: one loss_and_grad in {elapsed:.1f} s, "
              f"peak extra memory {mib(peak)} (block of {block} rows)")


if __name__ == "__main__":
    main()
