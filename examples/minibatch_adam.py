"""A hand-written minibatch Adam loop on row subsets of an objective.

``Objective.subset(rows)`` is the objective restricted to some rows: the
mean loss over them plus the same ``l2`` term, so its gradient is an
unbiased estimate of the full one. It shares the counters of the full
objective. ``adam_method`` has the signature ``bpopt.compare`` expects of
a user's method, so Adam can be compared with SciPy's solvers. Needs
scikit-learn for the digits data (``pip install "bpopt[data]"``).
"""

import numpy as np

import bpopt
from bpopt import problems


def adam(obj, theta0, epochs=20, batch_size=64, lr=1e-2, beta1=0.9, beta2=0.999,
         eps=1e-8, seed=0, callback=None):
    """Minimise ``obj`` by Adam on shuffled minibatches (Kingma and Ba, 2015).

    Parameters
    ----------
    obj : bpopt.Objective
    theta0 : ndarray, shape (n_params,)
    epochs : int
        Passes over the rows.
    batch_size : int
        Rows per step; the last batch of an epoch may be smaller.
    lr, beta1, beta2, eps : float
        Step size and Adam's decay rates and safeguard.
    seed : int
        Seeds the shuffling.
    callback : callable, optional
        ``callback(theta)`` after each epoch.

    Returns
    -------
    theta : ndarray, shape (n_params,)
    """
    rng = np.random.default_rng(seed)
    theta = np.array(theta0, dtype=np.float64)
    m, v = np.zeros_like(theta), np.zeros_like(theta)
    g = np.empty_like(theta)
    t = 0
    for _ in range(epochs):
        order = rng.permutation(obj.n_samples)
        for start in range(0, obj.n_samples, batch_size):
            batch = obj.subset(order[start:start + batch_size])
            t += 1

            # gradient on the minibatch, into a reused buffer
            batch.loss_and_grad(theta, out=g)

            # moment estimates and their bias corrections
            m = beta1 * m + (1 - beta1) * g
            v = beta2 * v + (1 - beta2) * g * g
            m_hat = m / (1 - beta1**t)
            v_hat = v / (1 - beta2**t)

            # step
            theta -= lr * m_hat / (np.sqrt(v_hat) + eps)
        if callback is not None:
            callback(theta)
    return theta


def adam_method(obj, x0, maxiter, callback, seed=0):
    """``adam`` in the form of a user method for ``bpopt.compare``.

    One iteration is one epoch; ``callback`` may raise StopIteration when
    the comparison's time is up, which ends the run at the last epoch.
    """
    return adam(obj, x0, epochs=maxiter, seed=seed, callback=callback)


if __name__ == "__main__":
    epochs, batch_size, lr, hidden, seed = 30, 64, 1e-2, 32, 0

    problem = problems.make("digits", hidden=hidden, seed=seed)
    theta = adam(problem.train, problem.x0, epochs, batch_size, lr, seed=seed)
    print(f"Adam, {epochs} epochs: train loss {problem.train.loss(theta):.4g}, "
          f"test loss {problem.test.loss(theta):.4g}")

    # the same loop beside L-BFGS-B, from the same start, on the same clock
    result = bpopt.compare(problem.train, ["L-BFGS-B", ("adam", adam_method)],
                           x0=problem.x0, maxiter=epochs, test=problem.test)
    print(result.table())
