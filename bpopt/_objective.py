"""The data-bound objective: loss, gradient and curvature at ``theta``."""

import math
import numbers

import numpy as np

from ._curvature import CurvatureMethods
from ._datasum import DataSum
from ._losses import get_loss
from ._network import MLP
from ._threads import apply_default as _limit_scipy_blas
from ._validation import (
    check_nonnegative_real,
    check_out,
    check_sample_weight,
    check_targets,
    check_vector,
    check_X,
)

__all__ = ["Objective", "BLOCK_BYTES", "CACHE_BYTES"]

#: Default memory for the work arrays of one row block, in bytes.
BLOCK_BYTES = 32 * 2**20
#: Fewest rows in a default block: each block adds its share of the
#: gradient into the flat vector, and below about a thousand rows those
#: additions and the smaller matrix products cost more than the memory saves.
MIN_BLOCK_ROWS = 1024
#: Most memory for the work arrays of a block made taller for wide layers.
WIDE_BLOCK_BYTES = 256 * 2**20
#: Default limit on the forward activations kept between calls, in bytes.
CACHE_BYTES = 256 * 2**20

_COUNTS = ("forward", "backward", "tangent", "loss", "grad", "loss_and_grad",
           "hessp", "gnvp", "jvp", "vjp", "residuals", "jacobian",
           "squared_grads")


class Objective(CurvatureMethods):
    """Mean loss of a network on a data set, with its derivatives.

    ``f(theta) = sum_i w_i loss_i(theta) / sum_i w_i + l2 / 2 * sum ||W||^2``
    (biases are not penalised; without ``sample_weight`` every ``w_i = 1``).

    Parameters
    ----------
    net : MLP
    X : array_like, shape (n, sizes[0])
        Inputs, real, finite. Referenced, not copied, when it is a
        C-contiguous array; a copy with a column of ones may be kept as
        well (see ``cache_bytes``). Without that copy, blocks are cast
        one by one when the dtype of ``X`` differs from ``dtype``.
    y : array_like
        Targets: integer labels ``(n,)`` or probability rows ``(n, k)``
        for ``softmax_cross_entropy``; ``(n, k)`` (or ``(n,)`` when
        ``k == 1``) for ``squared_error`` and ``sigmoid_cross_entropy``.
    loss : str or Loss
        ``"squared_error"``, ``"softmax_cross_entropy"``,
        ``"sigmoid_cross_entropy"`` or a :class:`Loss`.
    l2 : float, default 0
        Weight decay on the weights.
    sample_weight : array_like, shape (n,), optional
        Non-negative, not all zero.
    dtype : {numpy.float64, numpy.float32}
        Precision of the computation inside; the interface is float64.
    block_size : int, optional
        Most rows per block (the rows are split into the fewest blocks of
        near-equal size that respect it). By default, as many as keep one
        block's work arrays within ``BLOCK_BYTES`` (32 MiB), and at least
        ``MIN_BLOCK_ROWS`` (1024) and twice the widest layer, the latter
        while the work arrays stay within ``WIDE_BLOCK_BYTES`` (256 MiB).
    cache_bytes : int, optional
        Most memory kept between calls (default ``CACHE_BYTES``, 256 MiB;
        0 keeps nothing). First the forward activations of the last point,
        for the next call at the same point; without them, a call's extra
        memory is one block's work arrays plus the gradient, whatever the
        number of rows, and ``loss`` computes the gradient along with the
        value so that ``grad`` at the same point is free. Then, in what is
        left, a copy of ``X`` in ``dtype`` with a column of ones appended
        (rows padded to 64 bytes), made at the first call: the first
        layer's bias then rides in its matrix product, which saves a pass
        over every block, and ``X`` is cast once rather than at every call.

    Notes
    -----
    Every method takes ``theta`` as SciPy passes ``x``. Results at the last
    point are kept per thread and keyed by the values of ``theta``, so
    several solvers may share one objective from several threads. A value
    that is not finite (overflow at a wild trial point) is returned as
    ``inf`` with a zero gradient, so that line searches step back.
    """

    def __init__(self, net, X, y, loss, l2=0.0, sample_weight=None,
                 dtype=np.float64, block_size=None, cache_bytes=CACHE_BYTES):
        self._configure(net, loss, l2, dtype, block_size, cache_bytes)
        X, self._y, targets, self._sample_weight, row_weight = self._check_data(
            X, y, sample_weight)
        self._X = np.ascontiguousarray(X)
        self._data = DataSum(net, self._X, targets, self.loss_function,
                             row_weight, self.dtype, self.block_size,
                             self.cache_bytes)

    def _check_data(self, X, y, sample_weight):
        """Checked ``X``, ``y``, the loss's targets, the normalised sample
        weights (or None) and each row's weight; sets ``n_samples``."""
        X = check_X(X, self.net.sizes[0])
        n = self.n_samples = X.shape[0]
        y = check_targets(y, n)
        targets = self.loss_function.check_targets(y, self.net.sizes[-1])
        weights = (None if sample_weight is None
                   else check_sample_weight(sample_weight, n))
        return X, y, targets, weights, 1.0 / n if weights is None else weights

    def _configure(self, net, loss, l2, dtype, block_size, cache_bytes):
        """Check and keep the arguments that do not involve the data."""
        if not isinstance(net, MLP):
            raise TypeError(f"net must be an MLP; got {type(net).__name__}")
        self.net = net
        self.loss_function = get_loss(loss)
        self.l2 = check_nonnegative_real(l2, "l2")
        self.dtype = _check_dtype(dtype)
        self.block_size = _check_block_size(block_size, net, self.dtype)
        self.cache_bytes = _check_nonnegative_int(cache_bytes, "cache_bytes")
        self._weights = [w for w, _ in net.layout.slices]
        _limit_scipy_blas()    # the solver runs in this process

    def __repr__(self):
        return (f"Objective({self.net!r}, n_samples={self.n_samples}, "
                f"loss={self.loss_function.name!r}, l2={self.l2})")

    @property
    def n_params(self):
        return self.net.n_params

    # counters

    @property
    def counts(self):
        """Passes run (``forward``, ``backward``, ``tangent``) and calls made
        to each public method, as a dict."""
        counts = dict.fromkeys(_COUNTS, 0)
        counts.update(self._data.counts)
        return counts

    def reset_counts(self):
        """Set every counter to zero."""
        with self._data._lock:
            self._data.counts.clear()

    # value and gradient

    def loss(self, theta):
        """Objective value at ``theta``.

        Parameters
        ----------
        theta : array_like, shape (n_params,)

        Returns
        -------
        float
            ``inf`` where the value is not finite.
        """
        theta = self._theta(theta)
        self._data.count("loss")
        return self._value(self._data.value(theta), theta)

    def grad(self, theta):
        """Gradient at ``theta``, shape (n_params,), float64 (a new array)."""
        theta = self._theta(theta)
        self._data.count("grad")
        f, g = self._data.value_and_grad(theta)
        return self._gradient(f, g, theta, np.empty(self.n_params))

    def loss_and_grad(self, theta, out=None):
        """Value and gradient at ``theta`` in one forward and backward pass.

        Parameters
        ----------
        theta : array_like, shape (n_params,)
        out : ndarray, shape (n_params,), float64, optional
            Buffer for the gradient, returned filled.

        Returns
        -------
        f : float
        g : ndarray, shape (n_params,)
            ``out`` when given, else a new array.

        Notes
        -----
        Backpropagation costs about three forward passes of matrix
        products (two when the network has no hidden layer).
        """
        theta = self._theta(theta)
        if out is None:
            out = np.empty(self.n_params)
        elif np.may_share_memory(check_out(out, self.n_params), theta):
            theta = theta.copy()    # out=theta: the l2 term needs theta intact
        self._data.count("loss_and_grad")
        f, g = self._data.value_and_grad(theta)
        return self._value(f, theta), self._gradient(f, g, theta, out)

    def squared_grads(self, theta):
        """Weighted mean of squared per-sample gradients of the data term.

        ``sum_i w_i g_i**2 / sum_i w_i`` with ``g_i`` the gradient of
        sample ``i``'s loss: the diagonal of the empirical Fisher matrix,
        as Martens (2010) uses to precondition conjugate gradients. One
        backward pass, no loop over samples; the l2 term is not included.

        Returns
        -------
        ndarray, shape (n_params,), float64
        """
        theta = self._theta(theta)
        self._data.count("squared_grads")
        out = np.empty(self.n_params, self.dtype)
        return self._data.squared_grads(theta, out).astype(np.float64, copy=False)

    def _value(self, f, theta):
        if not math.isfinite(f):
            return np.inf
        if self.l2:
            f += 0.5 * self.l2 * sum(np.dot(theta[w], theta[w])
                                     for w in self._weights)
        return float(f)

    def _gradient(self, f, g, theta, out):
        out[...] = g
        if not (math.isfinite(f) and np.isfinite(out).all()):
            out[...] = 0.0
            return out
        self._add_l2(theta, out)
        return out

    def _add_l2(self, v, out):
        if self.l2:
            for w in self._weights:
                out[w] += self.l2 * v[w]

    # boundary helpers

    def _theta(self, theta, name="theta"):
        return check_vector(theta, name, self.n_params)

    def _inside(self, v):
        """A float64 vector in the compute dtype, contiguous."""
        return np.ascontiguousarray(v, dtype=self.dtype)

    def _buffer(self):
        return np.empty(self.n_params, self.dtype)


def _check_dtype(dtype):
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in (np.dtype(np.float64), np.dtype(np.float32)):
        raise ValueError(f"dtype must be numpy.float64 or numpy.float32; got {dtype!r}")
    return dt


def _check_nonnegative_int(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer; got {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} must be non-negative; got {value}")
    return int(value)


def _check_block_size(block_size, net, dtype):
    if block_size is None:
        sizes = net.sizes
        row_bytes = (sizes[0] + 3 * sum(sizes[1:]) + 4 * max(sizes[1:])) \
            * dtype.itemsize
        # on 784-1024-1024-10, calls with 1024-row blocks ran 1 to 12%
        # slower than with 2048 (two BLAS threads, both dtypes)
        tall = min(2 * max(sizes[1:]), WIDE_BLOCK_BYTES // row_bytes)
        return max(MIN_BLOCK_ROWS, tall, BLOCK_BYTES // row_bytes)
    block_size = _check_nonnegative_int(block_size, "block_size")
    if block_size == 0:
        raise ValueError("block_size must be positive; got 0")
    return block_size
