"""Curvature products, Jacobians and row-subset views of an objective.

Every product runs forward and reverse passes through the same layers;
no matrix of size ``n_params**2`` is ever formed.
"""

import numpy as np
from scipy.sparse.linalg import LinearOperator

from ._validation import check_finite, check_nonnegative_real, real_array


class CurvatureMethods:
    """Methods of :class:`Objective` beyond the value and the gradient."""

    def hessp(self, theta, v):
        """Exact Hessian-vector product ``H v`` of the whole objective.

        Parameters
        ----------
        theta, v : array_like, shape (n_params,)

        Returns
        -------
        ndarray, shape (n_params,), float64

        Notes
        -----
        Pearlmutter's R-operator (Neural Computation 6(1), 1994): a tangent
        pass and a second-order backward pass that uses ``f''`` of the
        activations and the loss's output Hessian. It reuses the forward
        pass kept at ``theta`` and costs about 1.9 to 2.3 gradients.
        """
        theta, v = self._theta(theta), self._theta(v, "v")
        self._data.count("hessp")
        return self._finish_product(self._data.hessp(theta, self._inside(v),
                                                     self._buffer()), v)

    def gnvp(self, theta, v, damping=0.0):
        """Generalised Gauss-Newton product ``(J^T H_L J + l2 P_W + damping I) v``.

        Parameters
        ----------
        theta, v : array_like, shape (n_params,)
        damping : float, default 0
            Added multiple of ``v`` (Levenberg-Marquardt damping).

        Returns
        -------
        ndarray, shape (n_params,), float64

        Notes
        -----
        Schraudolph (Neural Computation 14(7), 2002): ``J`` is the Jacobian
        of the network output, ``H_L`` the loss's output Hessian, ``P_W``
        the projection on the weights. Positive semidefinite whenever
        ``H_L`` is, as it is for the built-in losses. One tangent pass and
        one backward pass on the kept forward pass.
        """
        theta, v = self._theta(theta), self._theta(v, "v")
        damping = check_nonnegative_real(damping, "damping")
        self._data.count("gnvp")
        out = self._finish_product(self._data.gnvp(theta, self._inside(v),
                                                   self._buffer()), v)
        if damping:
            out += damping * v
        return out

    def jvp(self, theta, v):
        """Tangent of the network outputs along ``v``: ``J v``, shape (n, k)."""
        theta, v = self._theta(theta), self._theta(v, "v")
        self._data.count("jvp")
        return self._data.jvp(theta, self._inside(v)).astype(np.float64,
                                                              copy=False)

    def vjp(self, theta, u):
        """Parameter cotangent ``J^T u`` of output cotangents ``u`` (n, k).

        Returns
        -------
        ndarray, shape (n_params,), float64
        """
        theta = self._theta(theta)
        u = self._outputs_like(u, "u")
        self._data.count("vjp")
        out = self._data.vjp(theta, u, self._buffer())
        return out.astype(np.float64, copy=False)

    # least squares

    def residuals(self, theta):
        """Residuals ``r`` with ``0.5 * ||r||^2 == loss(theta)`` (squared_error).

        Sample-major: ``sqrt(w_i) * (out_i - y_i)`` for each sample and
        output, ``w_i`` normalised to sum to one, then ``sqrt(l2) * W``
        when ``l2 > 0``.

        Returns
        -------
        ndarray, shape (n * k + n_weights,) or (n * k,), float64
        """
        self._require_squared_error("residuals")
        theta = self._theta(theta)
        self._data.count("residuals")
        r = self._scaled(self._data.outputs(theta) - self._data.y)
        return np.concatenate([r.ravel()] + self._l2_residuals(theta))

    def jacobian(self, theta, dense=False):
        """Jacobian of :meth:`residuals` at ``theta``.

        Parameters
        ----------
        theta : array_like, shape (n_params,)
        dense : bool, default False
            Return an array (for small problems and ``method="lm"``)
            instead of an operator.

        Returns
        -------
        scipy.sparse.linalg.LinearOperator or ndarray
            Shape ``(n_residuals, n_params)``. The operator's ``matvec`` is a
            tangent pass and its ``rmatvec`` a backward pass.
        """
        self._require_squared_error("jacobian")
        theta = self._theta(theta).copy()
        self._data.count("jacobian")
        n, k = self.n_samples, self.net.sizes[-1]
        mask = self.net.layout.weight_mask()
        n_l2 = self._n_residuals() - n * k
        sqrt_l2 = np.sqrt(self.l2)
        if dense:
            # the outputs' rows, scaled in place, then one row per weight
            J = np.empty((n * k + n_l2, self.n_params))
            outputs = J[: n * k].reshape(n, k, self.n_params)
            self._data.output_jacobian(theta, outputs)
            outputs *= self._row_scale(outputs.ndim)
            if n_l2:
                J[n * k:] = 0.0
                J[np.arange(n * k, n * k + n_l2), np.flatnonzero(mask)] = sqrt_l2
            return J

        def matvec(v):
            v = np.ravel(v)
            Jv = self._scaled(self.jvp(theta, v)).ravel()
            return np.concatenate([Jv, sqrt_l2 * v[mask]]) if n_l2 else Jv

        def rmatvec(u):
            u = np.ravel(u)
            out = self.vjp(theta, self._scaled(u[: n * k].reshape(n, k)))
            if n_l2:
                out[mask] += sqrt_l2 * u[n * k:]
            return out

        return LinearOperator((n * k + n_l2, self.n_params), matvec=matvec,
                              rmatvec=rmatvec, dtype=np.float64)

    def _n_residuals(self):
        """Rows of ``residuals``: one per sample and output, then one per
        weight when ``l2 > 0``."""
        n_l2 = int(self.net.layout.weight_mask().sum()) if self.l2 else 0
        return self.n_samples * self.net.sizes[-1] + n_l2

    def _scaled(self, r):
        """Rows of ``r`` times ``sqrt(w_i)`` (normalised weights)."""
        return np.asarray(r, dtype=np.float64) * self._row_scale(np.ndim(r))

    def _row_scale(self, ndim):
        """``sqrt(w_i)``, a float or shaped to scale the rows of an
        ``ndim``-dimensional array."""
        w = self._data.row_weight
        return np.sqrt(w) if isinstance(w, float) else np.sqrt(
            w.astype(np.float64)).reshape((-1,) + (1,) * (ndim - 1))

    def _l2_residuals(self, theta):
        if not self.l2:
            return []
        return [np.sqrt(self.l2) * theta[w] for w in self._weights]

    def _require_squared_error(self, method):
        if self.loss_function.name != "squared_error":
            raise ValueError(
                f"{method} is defined for loss 'squared_error' only; this "
                f"objective uses {self.loss_function.name!r}. For Gauss-Newton "
                "curvature with any loss, use gnvp")

    # row subsets

    def subset(self, rows):
        """An objective on a subset of the rows, for minibatch loops.

        Parameters
        ----------
        rows : array_like of int or slice
            Indices of the rows to keep.

        Returns
        -------
        Objective
            Its data term is the weighted mean over the kept rows; ``l2``
            is unchanged, so its gradient estimates the full one. Evaluation
            counts are shared with this objective.
        """
        rows = _check_rows(rows, self.n_samples)
        sw = None if self._sample_weight is None else self._sample_weight[rows]
        sub = type(self)(self.net, self._X[rows], self._y[rows],
                         self.loss_function, l2=self.l2, sample_weight=sw,
                         dtype=self.dtype, block_size=self.block_size,
                         cache_bytes=self.cache_bytes)
        sub._data.share_counts(self._data)
        return sub

    def curvature_batch(self, size, seed=None):
        """A view whose curvature products use ``size`` random rows.

        Parameters
        ----------
        size : int
            Rows drawn without replacement, ``1 <= size <= n``.
        seed : int, numpy.random.Generator or None

        Returns
        -------
        CurvatureBatch
            ``loss``, ``grad`` and ``loss_and_grad`` are this objective's
            (all rows); ``hessp``, ``gnvp``, ``jvp`` and ``vjp`` are
            those of :meth:`subset` on the drawn rows: weighted as the full
            objective is, plus the full l2 term.
        """
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not (
                1 <= size <= self.n_samples):
            raise ValueError(
                f"size must be an integer in 1..{self.n_samples}; got {size!r}")
        rng = np.random.default_rng(seed)
        rows = np.sort(rng.choice(self.n_samples, size=int(size), replace=False))
        return CurvatureBatch(self, self.subset(rows), rows)

    def _finish_product(self, out, v):
        out = out.astype(np.float64, copy=False)
        self._add_l2(v, out)
        return out

    def _outputs_like(self, u, name):
        n, k = self.n_samples, self.net.sizes[-1]
        u = real_array(u, name)
        if u.ndim == 1 and k == 1:
            u = u[:, None]
        if u.shape != (n, k):
            raise ValueError(f"{name} must have shape ({n}, {k}); got {u.shape}")
        check_finite(u, name)
        return np.ascontiguousarray(u, dtype=self.dtype)


class CurvatureBatch:
    """Full-batch value and gradient, curvature products on a row subset.

    Made by :meth:`Objective.curvature_batch`; ``rows`` are the drawn rows.
    """

    def __init__(self, full, batch, rows):
        self.full, self.batch, self.rows = full, batch, rows
        self.loss, self.grad = full.loss, full.grad
        self.loss_and_grad = full.loss_and_grad
        self.hessp, self.gnvp = batch.hessp, batch.gnvp
        self.jvp, self.vjp = batch.jvp, batch.vjp

    @property
    def n_params(self):
        return self.full.n_params

    @property
    def counts(self):
        return self.full.counts

    def reset_counts(self):
        self.full.reset_counts()

    def __repr__(self):
        return f"CurvatureBatch({self.full!r}, size={len(self.rows)})"


def _check_rows(rows, n):
    if isinstance(rows, slice):
        return np.arange(n)[rows]
    idx = np.asarray(rows)
    if idx.ndim != 1 or idx.dtype.kind not in "iu":
        raise TypeError(
            f"rows must be a 1-D array of integer indices or a slice; got "
            f"{idx.dtype} of shape {idx.shape}")
    if idx.size == 0:
        raise ValueError("rows is empty; a subset needs at least one row")
    if idx.min() < -n or idx.max() >= n:
        raise ValueError(
            f"rows must lie in -{n}..{n - 1}; got {idx.min()}..{idx.max()}")
    return idx
