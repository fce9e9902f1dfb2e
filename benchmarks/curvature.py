"""Cost of hessp and gnvp against one loss_and_grad, on the core shapes.

Shapes (b) 784-256-256-10 on 10,000 rows and (c) 784-1024-1024-10 on
20,000 rows: random inputs, random integer labels, tanh, softmax
cross-entropy, float64, forward activations cached (``cache_bytes``
512 MiB; those of (c) take about 330 MB). Each figure is a time over the
time of ``loss_and_grad`` at a new point (one never evaluated before):

- ``hessp new`` and ``gnvp new``: the product at a new point, so its
  forward pass runs inside the call;
- ``gnvp cached``: the product at a point whose forward pass ``loss`` has
  just kept (the call to ``loss`` is not timed).

The four measurements are interleaved round by round, so that a noisy
machine slows them alike; the table gives the ratio of the best times and,
in brackets, of the medians. The last row of each shape counts the
multiply-adds of the matrix products each call needs, the floor of any
implementation. Usage::

    python benchmarks/curvature.py [--threads 1 default] [--shapes b c]
                                   [--repeats 5] [--rows N]
"""

import argparse
import time

import numpy as np
from _common import SHAPES, make_problem
from threadpoolctl import threadpool_limits

CACHE_BYTES = 512 * 2**20
KINDS = ("loss_and_grad", "hessp new", "gnvp new", "gnvp cached")


def product_counts(sizes):
    """Multiply-adds per row of each call's matrix products, over those of
    ``loss_and_grad``.

    With ``F`` the forward products (``sum fan_in * fan_out``) and ``F1``
    the first layer's: loss_and_grad is the forward pass, ``a^T delta`` per
    layer and ``delta W^T`` below the first: ``3F - F1``. The tangent pass
    is ``a V`` per layer and ``R{a} W`` below the first: ``2F - F1``.
    gnvp adds one backward pass: ``5F - 2F1`` with its forward pass,
    ``4F - 2F1`` without. The second-order backward pass of hessp has
    ``a^T R{delta}`` per layer and, below the first, ``R{a}^T delta``,
    ``delta W^T``, ``R{delta} W^T`` and ``delta V^T``: ``5F - 4F1``, so
    hessp is ``8F - 5F1``.
    """
    layers = [i * o for i, o in zip(sizes[:-1], sizes[1:])]
    F, F1 = sum(layers), layers[0]
    gradient = 3 * F - F1
    return {"loss_and_grad": 1.0, "hessp new": (8 * F - 5 * F1) / gradient,
            "gnvp new": (5 * F - 2 * F1) / gradient,
            "gnvp cached": (4 * F - 2 * F1) / gradient}


def measure(shape, repeats, seed=0):
    """Times of each kind of call, ``repeats`` rounds of interleaved calls."""
    obj, theta = make_problem(shape, seed=seed, activation="tanh",
                              cache_bytes=CACHE_BYTES)
    v = np.random.default_rng(seed + 1).normal(size=obj.n_params)
    out = np.empty(obj.n_params)

    def new_point():
        # a point never evaluated: the cache is keyed by values
        theta[0] += 1e-9
        return theta

    def timed(call, *args):
        start = time.perf_counter()
        call(*args)
        return time.perf_counter() - start

    def gnvp_cached():
        point = new_point()
        obj.loss(point)
        forwards = obj.counts["forward"]
        elapsed = timed(obj.gnvp, point, v)
        if obj.counts["forward"] != forwards:
            raise RuntimeError("the forward pass was not cached; raise "
                               "CACHE_BYTES")
        return elapsed

    rounds = {
        "loss_and_grad": lambda: timed(obj.loss_and_grad, new_point(), out),
        "hessp new": lambda: timed(obj.hessp, new_point(), v),
        "gnvp new": lambda: timed(obj.gnvp, new_point(), v),
        "gnvp cached": gnvp_cached,
    }
    # one untimed round allocates the cache and the work arrays
    for call in rounds.values():
        call()
    times = {kind: [] for kind in KINDS}
    for _ in range(repeats):
        for kind, call in rounds.items():
            times[kind].append(call())
    return {kind: np.array(t) for kind, t in times.items()}


def report(shape, threads, times):
    sizes, n = SHAPES[shape]
    label = f"({shape}) {'-'.join(map(str, sizes))}, n={n}"
    base = times["loss_and_grad"]
    cells = [f"{base.min() * 1e3:>10.0f} ms"]
    for kind in KINDS[1:]:
        best = times[kind].min() / base.min()
        median = np.median(times[kind]) / np.median(base)
        cells.append(f"{best:>6.2f} ({median:4.2f})")
    print(f"{label:<34}{threads:>8} " + "".join(f"{c:>15}" for c in cells))


def threads_arg(text):
    if text == "default":
        return text
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("threads must be positive or 'default'")
    return value


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=threads_arg, nargs="+",
                        default=[1, "default"],
                        help="BLAS threads: integers and/or 'default'")
    parser.add_argument("--shapes", nargs="+", default=["b", "c"],
                        choices=sorted(SHAPES))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rows", type=int, default=None,
                        help="rows instead of each shape's own (a quick check)")
    args = parser.parse_args()
    if args.rows is not None:
        for shape in args.shapes:
            SHAPES[shape] = (SHAPES[shape][0], args.rows)

    print(f"time / loss_and_grad at a new point: best of {args.repeats} "
          "interleaved rounds (ratio of medians)")
    print(f"{'shape':<34}{'threads':>8} {'loss_and_grad':>15}"
          + "".join(f"{kind:>15}" for kind in KINDS[1:]))
    for shape in args.shapes:
        for threads in args.threads:
            limit = None if threads == "default" else threads
            with threadpool_limits(limits=limit):
                times = measure(shape, args.repeats)
            report(shape, threads, times)
        counts = product_counts(SHAPES[shape][0])
        print(f"{'  matrix-product count ratio':<43}{'':>15}"
              + "".join(f"{counts[kind]:>15.2f}" for kind in KINDS[1:]))
    print("targets: hessp new <= 2.2, gnvp new <= 1.5, gnvp cached <= 1.25; "
          "no implementation runs below the matrix-product count")


if __name__ == "__main__":
    main()
