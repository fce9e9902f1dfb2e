"""Deep autoencoder on the digits: hessian_free against SciPy's solvers.

scikit-learn's 8x8 digits (1797 images, pixels / 16) are encoded and
decoded by a 64-128-32-8-32-128-64 network: logistic hidden units, a
linear 8-unit code layer (as in Hinton and Salakhutdinov's and Martens'
autoencoders), a linear output and ``squared_error`` (mean over images of
``0.5 * ||out - image||^2``). Every solver starts from the same Glorot
initialisation and gets the same wall-clock budget; a callback records the
training loss after each iteration and raises ``StopIteration`` once the
budget is spent, so the last iteration may overrun it. The figures at a
time mark are the loss of the last iteration finished by then.

Gradient-equivalent evaluations (``grad-eq``) count the passes through the
network that each solver asked for (``Objective.counts``), each weighted
by its cost measured at the start of the run, in units of one
``loss_and_grad`` at a new point: a forward pass is ``t(loss)``, a
backward pass ``t(loss_and_grad) - t(loss)``, a tangent pass
``t(gnvp) - t(backward)`` and the second-order part of ``hessp``
``t(hessp) - t(gnvp)`` (products timed with the forward pass cached).

Every solver is given ``fun=obj.loss, jac=obj.grad`` so that trial
points of line searches and trust regions cost a forward pass only.

The solvers run one after another, so other jobs on the machine can slow
one more than another. Each trace keeps the process CPU time beside the
wall time, and the table prints their ratio per solver (near 1 with one
BLAS thread on an idle machine); ``--clock cpu`` budgets and compares by
CPU time instead. Needs scikit-learn; ``--plot`` needs matplotlib. Usage::

    python benchmarks/autoencoder.py [--budget 40] [--threads 1] [--clock wall]
                                     [--plot out.png]
"""

import argparse
import time

import numpy as np
import scipy.optimize as so
from threadpoolctl import threadpool_limits

import bpopt

SIZES = [64, 128, 32, 8, 32, 128, 64]
ACTIVATIONS = ["logistic", "logistic", "identity", "logistic", "logistic"]


def make_objective():
    """The autoencoder objective on all 1797 digits."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise SystemExit('this benchmark needs scikit-learn: pip install '
                         '"bpopt[data]"') from exc
    X = load_digits().data / 16.0
    return bpopt.Objective(bpopt.MLP(SIZES, ACTIVATIONS), X, X,
                           loss="squared_error")


def solvers():
    """Name -> keyword arguments of ``scipy.optimize.minimize`` for ``obj``.

    Tolerances are zero or tiny so that the time budget ends every run.
    """
    big = 10**9
    return {
        "hessian_free (GN)": lambda obj: dict(
            hessp=obj.gnvp, method=bpopt.hessian_free,
            options={"maxiter": big, "gtol": 0.0, "ftol": 0.0}),
        "hessian_free (GN, precond)": lambda obj: dict(
            hessp=obj.gnvp, method=bpopt.hessian_free,
            options={"maxiter": big, "gtol": 0.0, "ftol": 0.0,
                     "preconditioner": obj.squared_grads}),
        "Newton-CG (GN)": lambda obj: dict(
            hessp=obj.gnvp, method="Newton-CG",
            options={"maxiter": big, "xtol": 0.0}),
        "trust-krylov (exact H)": lambda obj: dict(
            hessp=obj.hessp, method="trust-krylov",
            options={"maxiter": big, "gtol": 0.0}),
        "L-BFGS-B": lambda obj: dict(
            method="L-BFGS-B",
            options={"maxiter": big, "maxfun": big, "ftol": 0.0, "gtol": 0.0}),
    }


def pass_costs(obj, theta, repeats=15):
    """Cost of each kind of pass, in ``loss_and_grad`` evaluations."""
    rng = np.random.default_rng(0)
    v = rng.normal(size=theta.size)

    def best(fn, fresh):
        times = []
        for _ in range(repeats):
            point = theta + 1e-9 * rng.normal(size=theta.size) if fresh else theta
            start = time.perf_counter()
            fn(point)
            times.append(time.perf_counter() - start)
        return min(times)

    lg = best(obj.loss_and_grad, fresh=True)
    loss = best(obj.loss, fresh=True)
    obj.loss(theta)  # keep the forward pass at theta for the products
    gnvp = best(lambda t: obj.gnvp(t, v), fresh=False)
    hessp = best(lambda t: obj.hessp(t, v), fresh=False)
    backward = (lg - loss) / lg
    return {"forward": loss / lg, "backward": backward,
            "tangent": gnvp / lg - backward, "hessp": (hessp - gnvp) / lg}


def grad_equivalents(counts, costs):
    """Gradient-equivalent evaluations of the passes in ``counts``."""
    return sum(costs[k] * counts[k] for k in costs)


# columns of a trace
WALL, CPU, LOSS, GRAD_EQ = range(4)


def run(kwargs_of, x0, budget, costs, clock):
    """One solver on a fresh objective; its trace, one row per iteration:
    wall and CPU seconds, loss, gradient-equivalents."""
    obj = make_objective()
    trace = [(0.0, 0.0, obj.loss(x0), 0.0)]
    obj.reset_counts()
    start = (time.perf_counter(), time.process_time())

    def callback(intermediate_result):
        trace.append((time.perf_counter() - start[0],
                       time.process_time() - start[1],
                       float(intermediate_result.fun),
                       grad_equivalents(obj.counts, costs)))
        if trace[-1][clock] >= budget:
            raise StopIteration

    res = so.minimize(obj.loss, x0, jac=obj.grad, callback=callback,
                      **kwargs_of(obj))
    return np.array(trace), res


def at(trace, t, clock, column=LOSS):
    """``column`` of the last iteration finished by time ``t``."""
    return trace[trace[:, clock] <= t][-1, column]


def report(traces, results, budget, marks, clock):
    """Print the per-method table and the losses at the time marks."""
    name_of_clock = "wall" if clock == WALL else "CPU"
    print(f"\nbudget {budget:g} s ({name_of_clock} time) per solver; "
          "loss = mean 0.5 ||out - x||^2")
    print(f"{'method':28s} {'iters':>6s} {'grad-eq':>8s} {'cpu/wall':>9s} "
          f"{'loss at budget':>15s}")
    for name, trace in traces.items():
        last = trace[-1]
        print(f"{name:28s} {results[name].nit:6d} "
              f"{at(trace, budget, clock, GRAD_EQ):8.0f} "
              f"{last[CPU] / last[WALL]:9.2f} {at(trace, budget, clock):15.6g}")
    print(f"\nloss at {name_of_clock} time marks (s):")
    print(f"{'method':28s}" + "".join(f"{m:>11g}" for m in marks))
    for name, trace in traces.items():
        print(f"{name:28s}" + "".join(f"{at(trace, m, clock):11.5g}"
                                      for m in marks))
    for name, res in results.items():
        print(f"{name}: status {res.status}: {res.message}")


def plot(traces, path, clock):
    """Loss against time and against gradient-equivalents, to ``path``."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise SystemExit('--plot needs matplotlib: pip install "bpopt[plot]"') from exc
    fig, (ax_t, ax_e) = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for name, trace in traces.items():
        ax_t.plot(trace[:, clock], trace[:, LOSS], label=name)
        ax_e.plot(trace[:, GRAD_EQ], trace[:, LOSS], label=name)
    ax_t.set(xlabel=f"{'wall' if clock == WALL else 'CPU'} time (s)",
             ylabel="training loss", yscale="log")
    ax_e.set(xlabel="gradient-equivalent evaluations")
    ax_t.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=40.0,
                        help="wall-clock seconds per solver (default 40)")
    parser.add_argument("--threads", type=int, default=1,
                        help="BLAS threads (default 1)")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="time that the budget counts (default wall)")
    parser.add_argument("--seed", type=int, default=0, help="initialisation seed")
    parser.add_argument("--plot", metavar="PATH", help="save a PNG plot here")
    args = parser.parse_args()
    clock = WALL if args.clock == "wall" else CPU

    with threadpool_limits(args.threads):
        obj = make_objective()
        x0 = obj.net.init(seed=args.seed)
        costs = pass_costs(obj, x0)
        print(f"{obj!r}, {obj.n_params} parameters, {args.threads} BLAS thread(s)")
        print("pass costs in loss_and_grad units: " + ", ".join(
            f"{k} {c:.2f}" for k, c in costs.items()))
        traces, results = {}, {}
        for name, kwargs_of in solvers().items():
            traces[name], results[name] = run(kwargs_of, x0, args.budget, costs,
                                              clock)
            print(f"{name}: {results[name].nit} iterations, loss "
                  f"{at(traces[name], args.budget, clock):.6g}", flush=True)

    marks = [args.budget * f for f in (0.1, 0.25, 0.5, 1.0)]
    report(traces, results, args.budget, marks, clock)
    if args.plot:
        plot(traces, args.plot, clock)
        print(f"plot saved to {args.plot}")


if __name__ == "__main__":
    main()
