"""Losses on the network output, each with its output gradient and Hessian.

The output nonlinearity lives inside the loss (softmax, logistic), so each
loss is matched to the linear last layer and its Hessian with respect to
the network output ``z`` is simple and positive semidefinite.
"""

import abc
import functools

import numpy as np
from scipy.special import expit

__all__ = ["Loss", "LOSSES", "get_loss"]


class Loss(abc.ABC):
    """Per-sample loss of the network output, for subclassing.

    A subclass sets ``name`` and implements :meth:`value`, :meth:`grad`
    and :meth:`hvp` for a block of rows; :meth:`check_targets` may be
    overridden to validate and convert ``y``. The objective weights the
    rows and sums them; it never calls these methods with empty blocks.

    Notes
    -----
    :meth:`hvp` must be the product with a positive semidefinite matrix
    for the Gauss-Newton product to stay positive semidefinite.

    The objective hands over blocks of outputs laid out column by column
    (Fortran order), which makes row-wise steps such as a softmax faster;
    NumPy operations do not depend on the layout, code that reads raw
    memory does.
    """

    name = "loss"

    def __repr__(self):
        return f"{type(self).__name__}()"

    def check_targets(self, y, n_outputs):
        """Validate ``y`` and return it as the array the loss works on.

        Parameters
        ----------
        y : array_like, shape (n,) or (n, n_outputs)
        n_outputs : int

        Returns
        -------
        ndarray, shape (n, n_outputs)
        """
        return _float_targets(y, n_outputs, self.name)

    @abc.abstractmethod
    def value(self, z, y):
        """Per-sample losses, shape ``(n,)``, of outputs ``z`` (n, k)."""

    @abc.abstractmethod
    def grad(self, z, y):
        """Gradient of each sample's loss with respect to its output, (n, k)."""

    @abc.abstractmethod
    def hvp(self, z, y, u):
        """Each sample's output Hessian times ``u[i]``, shape (n, k)."""

    # weighted block operations used by the passes; ``w`` is a scalar or
    # an (n, 1) column of normalised sample weights

    def weighted_value(self, z, y, w):
        """``sum_i w_i * loss_i`` over the block."""
        return _weighted_sum(self.value(z, y), w)

    def weighted_grad(self, z, y, w, out):
        """Write ``w_i * dloss_i/dz_i`` into ``out``; return the weighted sum."""
        out[...] = self.grad(z, y)
        out *= w
        return self.weighted_value(z, y, w)

    def weighted_hvp(self, z, y, w, u, out):
        """Write ``w_i * H_i u_i`` into ``out``."""
        out[...] = self.hvp(z, y, u)
        out *= w


class SquaredError(Loss):
    """``0.5 * ||z - y||^2`` per sample; output Hessian ``I``."""

    name = "squared_error"

    def value(self, z, y):
        r = z - y
        return 0.5 * np.einsum("ij,ij->i", r, r)

    def grad(self, z, y):
        return z - y

    def hvp(self, z, y, u):
        return np.array(u, copy=True)

    def weighted_grad(self, z, y, w, out):
        np.subtract(z, y, out=out)
        f = 0.5 * _weighted_sum(np.einsum("ij,ij->i", out, out), w)
        out *= w
        return f

    def weighted_hvp(self, z, y, w, u, out):
        np.multiply(u, w, out=out)


class SoftmaxCrossEntropy(Loss):
    """Cross-entropy of ``softmax(z)``; integer labels or probability rows.

    Output Hessian ``diag(p) - p p^T`` with ``p = softmax(z)``.
    """

    name = "softmax_cross_entropy"

    def check_targets(self, y, n_outputs):
        if n_outputs < 2:
            raise ValueError(
                "loss 'softmax_cross_entropy' needs a network with at least 2 "
                f"outputs; this one has {n_outputs} (use sigmoid_cross_entropy)"
            )
        y = np.asarray(y)
        if y.ndim == 1:
            return _labels(y, n_outputs)
        y = _float_targets(y, n_outputs, self.name)
        if (y < 0).any():
            raise ValueError("y holds probability rows; found negative entries")
        sums = y.sum(axis=1)
        bad = np.flatnonzero(np.abs(sums - 1.0) > 1e-6)
        if bad.size:
            raise ValueError(
                "y holds probability rows, each summing to 1; row "
                f"{bad[0]} sums to {sums[bad[0]]!r}"
            )
        return y

    def value(self, z, y):
        lse = _logsumexp(z)
        return lse - _dot_targets(z, y)

    def grad(self, z, y):
        p = _softmax(z)
        _subtract_targets(p, y)
        return p

    def hvp(self, z, y, u):
        p = _softmax(z)
        pu = np.einsum("ij,ij->i", p, u)[:, None]
        return p * (u - pu)

    def weighted_grad(self, z, y, w, out):
        index = _label_index(z, y) if y.ndim == 1 else None
        zy = _dot_targets(z, y, index)

        # value: sum_i w_i (log s_i + shift - z[i, y_i]), s_i = sum_j exp(z_ij - shift)
        s, shift = _exp_shifted(z, out)
        lse = np.log(s)
        lse -= zy
        if isinstance(shift, np.ndarray):
            lse += shift
            shift = 0.0
        f = _weighted_sum(lse, w) + float(shift) * _weight_total(w, len(s))

        # w * (softmax - y): the normalisation and the weight in one pass
        w_rows = w if isinstance(w, float) else w[:, 0]
        scale = np.divide(w_rows, s, out=s)
        out *= scale[:, None]
        _subtract_targets(out, y, w_rows, index if out.strides == z.strides else None)
        return f

    def weighted_hvp(self, z, y, w, u, out):
        s, _ = _exp_shifted(z, out)
        out /= s[:, None]
        pu = _row_sums(out * u)[:, None]
        out *= u - pu
        out *= w


class SigmoidCrossEntropy(Loss):
    """Binary cross-entropy of ``logistic(z)``, summed over columns.

    Targets lie in [0, 1]; output Hessian ``diag(p (1 - p))``.
    """

    name = "sigmoid_cross_entropy"

    def check_targets(self, y, n_outputs):
        y = _float_targets(y, n_outputs, self.name)
        if ((y < 0) | (y > 1)).any():
            raise ValueError(
                "y for 'sigmoid_cross_entropy' must lie in [0, 1]; got values "
                f"from {y.min()!r} to {y.max()!r}"
            )
        return y

    def value(self, z, y):
        # log(1 + e^z) - y z, stable for large |z|
        return (np.logaddexp(0.0, z) - y * z).sum(axis=1)

    def grad(self, z, y):
        return expit(z) - y

    def hvp(self, z, y, u):
        p = expit(z)
        return p * (1.0 - p) * u

    def weighted_grad(self, z, y, w, out):
        f = _weighted_sum(self.value(z, y), w)
        expit(z, out=out)
        out -= y
        out *= w
        return f

    def weighted_hvp(self, z, y, w, u, out):
        expit(z, out=out)
        out *= 1.0 - out
        out *= u
        out *= w


def _weighted_sum(values, w):
    if isinstance(w, float):
        return w * float(values.sum(dtype=np.float64))
    return float(np.dot(w[:, 0].astype(np.float64), values))


def _weight_total(w, rows):
    return w * rows if isinstance(w, float) else float(w.sum(dtype=np.float64))


@functools.cache
def _smallest_sum(dtype):
    # below the square root of the smallest normal float, a row sum of
    # exponentials has lost precision to underflow
    return np.sqrt(np.finfo(dtype).tiny)


@functools.cache
def _largest_unshifted(dtype):
    # below this, exp(z) and its row sums are far from overflow
    return float(np.log(np.finfo(dtype).max)) / 2


def _exp_shifted(z, out):
    """``exp(z - shift)`` into ``out``; return its row sums and ``shift``.

    ``shift`` is 0 when the block's largest entry is moderate, else that
    entry; either way no ``exp`` overflows. If some row lies so far below
    it that its exponentials would lose precision (row sum under the
    square root of the smallest normal float), ``shift`` is instead each
    row's own largest entry, shape (b,).
    """
    shift = z.max()
    if shift <= _largest_unshifted(z.dtype):
        shift = 0.0
        np.exp(z, out=out)
    else:
        np.subtract(z, shift, out=out)
        np.exp(out, out=out)
    s = _row_sums(out)
    if s.min() >= _smallest_sum(z.dtype):
        return s, shift
    shift = z.max(axis=1)
    np.subtract(z, shift[:, None], out=out)
    np.exp(out, out=out)
    return _row_sums(out), shift


_ONES = {}


def _row_sums(p):
    # a product with a vector of ones: far faster than a reduction for
    # narrow rows
    key = (p.shape[1], p.dtype)
    ones = _ONES.get(key)
    if ones is None:
        ones = _ONES[key] = np.ones(p.shape[1], p.dtype)
    return p @ ones


def _logsumexp(z):
    s, shift = _exp_shifted(z, np.empty_like(z))
    return np.log(s) + shift


def _softmax(z):
    p = np.empty_like(z)
    s, _ = _exp_shifted(z, p)
    p /= s[:, None]
    return p


def _label_index(p, y):
    """Indices of ``p[i, y_i]`` in :func:`_flat` of ``p``, or None.

    Blocks are C- or feature-major contiguous (see
    :mod:`bpopt._workspace`); other layouts get None, and the callers index
    in two dimensions.
    """
    rows, k = p.shape
    if p.flags.c_contiguous:
        return _starts(rows, k) + y
    if p.flags.f_contiguous:
        index = y * rows
        index += _starts(rows, 1)
        return index
    return None


def _flat(p):
    """A contiguous block as a 1-D view in memory order."""
    return p.reshape(-1) if p.flags.c_contiguous else p.T.reshape(-1)


@functools.lru_cache(maxsize=16)
def _starts(rows, step):
    starts = np.arange(0, rows * step, step)
    starts.flags.writeable = False
    return starts


def _dot_targets(z, y, index=None):
    """``z[i, y_i]`` for labels, ``y_i . z_i`` for probability rows;
    ``index`` is :func:`_label_index` of ``z`` where known."""
    if y.ndim == 2:
        return np.einsum("ij,ij->i", z, y)
    if index is None:
        index = _label_index(z, y)
    if index is None:
        return z[np.arange(len(y)), y]
    return _flat(z)[index]


def _subtract_targets(p, y, w=1.0, index=None):
    """``p -= w * y`` with ``y`` labels (one-hot rows) or probability rows;
    ``w`` is a float or one weight per row, shape (b,); ``index`` is
    :func:`_label_index` of ``p`` where known."""
    if y.ndim == 2:
        if isinstance(w, float):
            p -= y if w == 1.0 else w * y
        else:
            p -= y * w[:, None]
        return
    if index is None:
        index = _label_index(p, y)
    if index is None:
        p[np.arange(len(y)), y] -= w
    else:
        # unbuffered, and in the block's dtype: faster than fancy -=
        np.subtract.at(_flat(p), index, p.dtype.type(w) if isinstance(w, float) else w)


def _labels(y, n_outputs):
    if not np.issubdtype(y.dtype, np.integer):
        hint = ""
        if np.issubdtype(y.dtype, np.floating):
            hint = " (convert whole-number floats with y.astype(int))"
        raise TypeError(
            "y for 'softmax_cross_entropy' must be integer labels of shape (n,) "
            f"or probability rows of shape (n, {n_outputs}); got {y.dtype} "
            f"labels{hint}"
        )
    if y.size and (y.min() < 0 or y.max() >= n_outputs):
        raise ValueError(
            f"labels in y must lie in 0..{n_outputs - 1} for {n_outputs} outputs; "
            f"got values from {y.min()} to {y.max()}"
        )
    return y.astype(np.intp, copy=False)


def _float_targets(y, n_outputs, name):
    y = np.asarray(y)
    if y.dtype == bool or not np.issubdtype(y.dtype, np.number):
        raise TypeError(f"y for {name!r} must be numeric; got dtype {y.dtype}")
    if y.ndim == 1 and n_outputs == 1:
        y = y[:, None]
    if y.ndim != 2 or y.shape[1] != n_outputs:
        raise ValueError(
            f"y for {name!r} must have shape (n, {n_outputs})"
            + (" or (n,)" if n_outputs == 1 else "")
            + f"; got shape {y.shape}"
        )
    return y.astype(np.float64, copy=False)


LOSSES = {
    cls.name: cls()
    for cls in (SquaredError, SoftmaxCrossEntropy, SigmoidCrossEntropy)
}


def get_loss(loss):
    """A :class:`Loss` from a name or an instance."""
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, str):
        try:
            return LOSSES[loss]
        except KeyError:
            raise ValueError(
                f"loss must be one of {sorted(LOSSES)} or a Loss; got {loss!r}"
            ) from None
    raise TypeError(f"loss must be a name or a Loss; got {type(loss).__name__}")
