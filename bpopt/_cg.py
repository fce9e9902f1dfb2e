"""Truncated preconditioned conjugate gradients for Hessian-free steps.

Conjugate gradients minimise the quadratic model

    phi(p) = g.p + 0.5 p.A p,    A = B + lambda I,

where ``B`` is the curvature the caller multiplies by (Gauss-Newton, the
exact Hessian or a subsampled one) and ``lambda`` the damping. The run is
truncated as in Martens (2010, section 4): it stops when the model has
stopped making relative progress, at an iteration cap, or at a direction
of non-positive curvature, and it keeps a few iterates along the way so
that the caller can back up to an earlier, shorter one.
"""

import math
from typing import NamedTuple

import numpy as np

__all__ = ["CGRun", "truncated_cg", "backtrack_points"]


class CGRun(NamedTuple):
    """What one truncated CG run returns.

    iterates : list of (int, ndarray, float)
        ``(i, p_i, phi(p_i))`` at the backtracking points and the last
        iterate, in increasing ``i``; never empty.
    p : ndarray
        The last iterate, from which the next run is warm-started.
    n_iter : int
        CG steps taken. Curvature products number one more at a stop on
        negative curvature, and one more for a nonzero warm start.
    reason : str
        ``"progress"``, ``"maxiter"`` or ``"negative curvature"``.
    """

    iterates: list
    p: np.ndarray
    n_iter: int
    reason: str


def backtrack_points(maxiter):
    """Iterations ``ceil(5 * 1.3**j)`` up to ``maxiter``, as a set."""
    points, j = set(), 0
    while (i := math.ceil(5 * 1.3**j)) <= maxiter:
        points.add(i)
        j += 1
    return points


def truncated_cg(Av, g, p0, maxiter, precond=None, progress_tol=5e-4):
    """Approximately minimise ``phi(p) = g.p + 0.5 p.A p`` from ``p0``.

    Parameters
    ----------
    Av : callable
        ``Av(v)`` returns ``A v``, shape (n,).
    g : ndarray, shape (n,)
        The gradient of the objective (the model's linear term).
    p0 : ndarray, shape (n,)
        Warm start; dropped for zero when its model value is not negative.
    maxiter : int
        Iteration cap (at least 1).
    precond : ndarray, shape (n,), optional
        Positive diagonal ``M`` of the preconditioner; CG then works with
        ``M^-1`` times the residual.
    progress_tol : float
        Martens' relative-progress tolerance (5e-4 in the paper).

    Returns
    -------
    CGRun

    Notes
    -----
    With ``k = max(10, ceil(0.1 i))``, the run stops at iteration ``i > k``
    when ``phi_i < 0`` and ``(phi_i - phi_{i-k}) / phi_i < k * progress_tol``.
    It stops before a step along which ``A`` has non-positive curvature
    and keeps the last iterate; if no step was taken from zero, it takes
    that direction once, so that the caller always gets a direction of
    decrease of the model. The residual ``r = A p + g`` is updated by
    recurrence, so ``phi(p) = 0.5 (p.r + g.p)`` costs two dot products.
    """
    save_at = backtrack_points(maxiter)

    # starting point: the warm start, unless zero is at least as good
    p, r, phi = np.zeros_like(g), g.copy(), 0.0
    if np.any(p0):
        r0 = Av(p0) + g
        phi0 = 0.5 * (p0 @ r0 + g @ p0)
        if phi0 < 0:
            p, r, phi = p0, r0, phi0
    y = r / precond if precond is not None else r
    s = -y
    rz = r @ y
    phis = [phi]
    iterates = []
    reason = "maxiter"

    for i in range(1, maxiter + 1):
        # curvature along the search direction
        As = Av(s)
        curvature = s @ As
        if not curvature > 0:
            reason = "negative curvature"
            if i == 1 and not np.any(p):
                p, phi = s, g @ s + 0.5 * curvature
            break

        # step to the minimum along s
        alpha = rz / curvature
        p = p + alpha * s
        r = r + alpha * As
        phi = 0.5 * (p @ r + g @ p)
        phis.append(phi)
        if i in save_at:
            iterates.append((i, p, phi))

        # relative progress of the model over the last k iterations
        k = max(10, math.ceil(0.1 * i))
        if i > k and phi < 0 and (phi - phis[i - k]) / phi < k * progress_tol:
            reason = "progress"
            break

        # next conjugate direction
        y = r / precond if precond is not None else r
        rz_next = r @ y
        s = -y + (rz_next / rz) * s
        rz = rz_next

    n_iter = len(phis) - 1
    if not iterates or iterates[-1][0] != n_iter:
        iterates.append((n_iter, p, phi))
    return CGRun(iterates, p, n_iter, reason)
