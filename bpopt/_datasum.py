"""The data term of an objective: a weighted sum over rows, block by block.

One :class:`DataSum` holds the rows of a data set (or of one shard of it)
and evaluates ``sum_i w_i loss_i`` and its derivatives by running the
passes of :mod:`bpopt._passes` over row blocks. The weights ``w_i`` are
already normalised by the caller, so that the same code serves a whole
data set in one process and a shard of it on a worker.

Two things are kept between calls when they fit in ``cache_bytes``: the
forward activations of the last point (otherwise every call recomputes
them block by block, and memory stays bounded by one block), then, in what
is left, a copy of the inputs in the compute dtype with a column of ones
appended, so that the first layer's bias rides in its matrix product
instead of costing a pass over the block's pre-activations.
"""

import functools
import threading
from collections import Counter

import numpy as np

from . import _passes as passes
from ._workspace import Workspace, layer_views


def _input_width(n_features, dtype):
    """Row length of the kept inputs: ``n_features + 1`` rounded up to
    whole 64-byte cache lines."""
    per_line = 64 // np.dtype(dtype).itemsize
    return -(-(n_features + 1) // per_line) * per_line


def _quiet(method):
    """Run ``method`` without floating-point warnings: a wild trial point may
    overflow, and the objective reports that as an infinite value instead."""

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        with np.errstate(over="ignore", invalid="ignore", divide="ignore",
                         under="ignore"):
            return method(*args, **kwargs)

    return wrapper


class _PointState:
    """What one thread knows about the last point it evaluated."""

    def __init__(self, layout, dtype):
        n_params = layout.n_params
        self.key = np.full(n_params, np.nan)
        self.theta = self.key if dtype == np.float64 else np.empty(n_params, dtype)
        self.params = layout.unflatten(self.theta)
        self.Wb1 = layout.stacked(self.theta)
        self.f = None
        self.g = None
        self.g_buffer = np.empty(n_params, dtype)
        self.grads = layout.unflatten(self.g_buffer)
        self.acts_ok = False
        self.stored = None
        self.ws = None
        self.blocks = None


class DataSum:
    """Weighted per-sample losses of ``net`` on rows ``X``, ``y``.

    Parameters
    ----------
    net : MLP
    X : ndarray, shape (n, n_features)
        Validated; any real dtype, cast block by block when it differs
        from ``dtype``.
    y : ndarray
        Targets as returned by ``loss.check_targets``.
    loss : Loss
    row_weight : float or ndarray of shape (n,)
        Normalised weight of each row (``1/n`` or ``w_i / sum w``).
    dtype : numpy dtype
        Compute precision, float64 or float32.
    block_rows : int
        Most rows per block; the blocks are made near-equal in size.
    cache_bytes : int
        Most memory kept between calls: forward activations first, then
        the inputs with a column of ones (see the module's notes).
    """

    def __init__(self, net, X, y, loss, row_weight, dtype, block_rows,
                 cache_bytes):
        self.net, self.X, self.loss = net, X, loss
        self.dtype = np.dtype(dtype)
        self.y = y.astype(self.dtype, copy=False) if y.dtype.kind == "f" else y
        if np.ndim(row_weight):
            row_weight = np.asarray(row_weight, self.dtype)[:, None]
        else:
            row_weight = float(row_weight)
        self.row_weight = row_weight
        self.n = X.shape[0]
        # as few blocks as ``block_rows`` allows, of near-equal size: no
        # small last block for the matrix products to be slow on
        n_blocks = -(-self.n // max(1, int(block_rows)))
        self.block_rows = -(-self.n // n_blocks)
        self.keep_z = [not act.from_output for act in net.activations] + [False]
        self.stored_bytes = self.n * self._row_floats() * self.dtype.itemsize
        self.store = self.stored_bytes <= cache_bytes
        left = cache_bytes - (self.stored_bytes if self.store else 0)
        self.keep_input = self.n * _input_width(X.shape[1], self.dtype) \
            * self.dtype.itemsize <= left
        self._inputs = None
        self.counts = Counter()
        self._lock = threading.Lock()
        self._init_local()

    def __getstate__(self):
        state = self.__dict__.copy()
        del state["_local"], state["_lock"]
        state["_inputs"] = None     # remade from X where it is used
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._init_local()
        self._lock = threading.Lock()

    def _init_local(self):
        self._local = threading.local()

    def share_counts(self, other):
        """Count into ``other``'s counters from now on."""
        self.counts, self._lock = other.counts, other._lock

    def count(self, *names):
        with self._lock:
            counts = self.counts
            for name in names:
                counts[name] += 1

    # the point and its blocks

    def point(self, theta):
        """This thread's state at ``theta`` (float64), reset if it moved."""
        st = getattr(self._local, "state", None)
        if st is None:
            st = self._local.state = _PointState(self.net.layout, self.dtype)
        # the first entry settles most moves without comparing them all
        if st.key[0] != theta[0] or not (st.key == theta).all():
            st.key[...] = theta
            if st.theta is not st.key:
                st.theta[...] = theta
            st.f = st.g = None
            st.acts_ok = False
        return st

    def blocks(self, st):
        """Yield ``(rows, w, a, z, x1)`` per block with the forward pass
        done; ``x1`` is the block's inputs with a column of ones, or None."""
        fresh = not st.acts_ok
        if fresh:
            self.count("forward")
        if st.blocks is None:
            st.blocks = self._block_views(st)
        cast = self._cast()
        for rows, w, a, z, x1 in st.blocks:
            if cast:
                a[0][...] = self.X[rows]
            if fresh:
                passes.forward(st.params, self.net.activations, a, z, x1, st.Wb1)
            yield rows, w, a, z, x1
        if fresh and self.store:
            st.acts_ok = True

    def _cast(self):
        """Whether each block's inputs are cast from ``X`` on every pass."""
        return not self.keep_input and self.X.dtype != self.dtype

    def _block_views(self, st):
        """Work arrays of ``st`` and, per block, ``(rows, w, a, z, x1)``.

        Made once per thread: later calls reuse the same views. ``a[0]``
        is a view of the kept inputs (``x1`` without its column of ones),
        of ``X``, or of a buffer of the compute dtype that :meth:`blocks`
        fills from ``X`` when the dtypes differ.
        """
        cast = self._cast()
        st.ws = Workspace(self.net.sizes, self.block_rows, self.dtype,
                          self.keep_z, cast_input=cast, activations=not self.store)
        if self.store:
            st.stored = self._allocate_stored()
        inputs = self._input_copy() if self.keep_input else None
        views = []
        for start in range(0, self.n, self.block_rows):
            rows = slice(start, min(start + self.block_rows, self.n))
            b = rows.stop - rows.start
            if self.store:
                a, z = (layer_views(flats, self.net.sizes, b, start)
                        for flats in st.stored)
            else:
                a, z = st.ws.activations(b)
            x1 = None
            if inputs is not None:
                x1 = inputs[rows]
                a[0] = x1[:, :-1]
            else:
                a[0] = st.ws.x[:b] if cast else self.X[rows]
            views.append((rows, self._weights(rows), a, z, x1))
        return views

    def _input_copy(self):
        """``[X 1]`` in the compute dtype, shape (n, n_features + 1), made
        once and shared by the threads.

        Its rows are padded to whole cache lines: products reading the
        ``X`` part as a strided view are then as fast as on ``X`` itself
        (on 784 features in float64, an unpadded copy slowed the weight
        gradient of the first layer by 5 to 10%).
        """
        with self._lock:
            if self._inputs is None:
                n, d = self.X.shape
                padded = np.empty((n, _input_width(d, self.dtype)), self.dtype)
                padded[:, :d] = self.X
                padded[:, d] = 1.0
                padded[:, d + 1:] = 0.0
                self._inputs = padded[:, :d + 1]
            return self._inputs

    def _weights(self, rows):
        w = self.row_weight
        return w if isinstance(w, float) else w[rows]

    def _row_floats(self):
        sizes = self.net.sizes[1:]
        return sum(sizes) + sum(s for s, keep in zip(sizes, self.keep_z) if keep)

    def _allocate_stored(self):
        """Flat arrays for every layer's ``a`` (and kept ``z``) on all rows."""
        sizes = self.net.sizes[1:]
        a = [None] + [np.empty(self.n * s, self.dtype) for s in sizes]
        z = [None] + [np.empty(self.n * s, self.dtype) if keep else None
                      for s, keep in zip(sizes, self.keep_z)]
        return a, z

    # value and gradient

    @_quiet
    def outputs(self, theta):
        """Network outputs at ``theta``, shape (n, k), a new array."""
        st = self.point(theta)
        out = np.empty((self.n, self.net.sizes[-1]), self.dtype)
        for rows, _, a, _, _ in self.blocks(st):
            out[rows] = a[-1]
        return out

    @_quiet
    def value(self, theta):
        """``sum_i w_i loss_i`` at ``theta``."""
        st = self.point(theta)
        if st.f is None:
            if not self.store:
                # the forward pass is not kept: take the gradient with it
                return self.value_and_grad(theta)[0]
            st.f = sum(
                self.loss.weighted_value(a[-1], self.y[rows], w)
                for rows, w, a, _, _ in self.blocks(st)
            )
        return st.f

    @_quiet
    def value_and_grad(self, theta):
        """Value and gradient; the gradient is this thread's buffer."""
        st = self.point(theta)
        if st.g is None:
            self.count("backward")
            grads = st.grads
            f = 0.0
            for i, (rows, w, a, z, _) in enumerate(self.blocks(st)):
                # output error, then backward pass
                delta = st.ws.output_error(len(a[0]))
                f += self.loss.weighted_grad(a[-1], self.y[rows], w, delta)
                passes.backward(st.params, self.net.activations, a, z, delta,
                                grads, st.ws, accumulate=i > 0)
            st.f, st.g = f, st.g_buffer
        return st.f, st.g

    @_quiet
    def squared_grads(self, theta, out):
        """``sum_i w_i g_i**2`` with ``g_i`` the per-sample gradients."""
        st = self.point(theta)
        self.count("backward")
        sq = self.net.layout.unflatten(out)
        for i, (rows, w, a, z, _) in enumerate(self.blocks(st)):
            delta = st.ws.output_error(len(a[0]))
            self.loss.weighted_grad(a[-1], self.y[rows], w, delta)
            passes.square_backward(st.params, self.net.activations, a, z, delta,
                                   w, sq, st.ws, accumulate=i > 0)
        return out

    # curvature

    @_quiet
    def gnvp(self, theta, v, out):
        """``J^T H_L J v`` of the data term into ``out``."""
        st = self.point(theta)
        self.count("tangent", "backward")
        vparams = self.net.layout.unflatten(v)
        Vc1 = self.net.layout.stacked(v)
        Gv = self.net.layout.unflatten(out)
        for i, (rows, w, a, z, x1) in enumerate(self.blocks(st)):
            # tangent pass, curvature at the output, backward pass
            Rz, _ = passes.tangent(st.params, vparams, self.net.activations,
                                   a, z, st.ws, x1, Vc1)
            u = st.ws.output_error(len(a[0]))
            self.loss.weighted_hvp(a[-1], self.y[rows], w, Rz[-1], u)
            passes.backward(st.params, self.net.activations, a, z, u, Gv,
                            st.ws, accumulate=i > 0)
        return out

    @_quiet
    def hessp(self, theta, v, out):
        """Exact ``H v`` of the data term into ``out`` (R-operator)."""
        st = self.point(theta)
        self.count("tangent", "backward")
        vparams = self.net.layout.unflatten(v)
        Vc1 = self.net.layout.stacked(v)
        Hv = self.net.layout.unflatten(out)
        for i, (rows, w, a, z, x1) in enumerate(self.blocks(st)):
            # tangent pass
            Rz, Ra = passes.tangent(st.params, vparams, self.net.activations,
                                    a, z, st.ws, x1, Vc1)

            # output error and its directional derivative
            b = len(a[0])
            delta = st.ws.output_error(b)
            Rdelta = st.ws.output_rerror(b)
            self.loss.weighted_grad(a[-1], self.y[rows], w, delta)
            self.loss.weighted_hvp(a[-1], self.y[rows], w, Rz[-1], Rdelta)

            # second-order backward pass
            passes.r_backward(st.params, vparams, self.net.activations, a, z,
                              delta, Rdelta, Rz, Ra, Hv, st.ws,
                              accumulate=i > 0)
        return out

    @_quiet
    def jvp(self, theta, v):
        """Output tangents ``J v``, shape (n, k)."""
        st = self.point(theta)
        self.count("tangent")
        vparams = self.net.layout.unflatten(v)
        Vc1 = self.net.layout.stacked(v)
        out = np.empty((self.n, self.net.sizes[-1]), self.dtype)
        for rows, _, a, z, x1 in self.blocks(st):
            Rz, _ = passes.tangent(st.params, vparams, self.net.activations,
                                   a, z, st.ws, x1, Vc1)
            out[rows] = Rz[-1]
        return out

    @_quiet
    def vjp(self, theta, u, out):
        """``J^T u`` for output cotangents ``u`` (n, k), into ``out``."""
        st = self.point(theta)
        self.count("backward")
        grads = self.net.layout.unflatten(out)
        for i, (rows, _, a, z, _) in enumerate(self.blocks(st)):
            delta = st.ws.output_error(len(a[0]))
            delta[...] = u[rows]
            passes.backward(st.params, self.net.activations, a, z, delta,
                            grads, st.ws, accumulate=i > 0)
        return out

    @_quiet
    def output_jacobian(self, theta, J):
        """Dense ``d z_L / d theta`` into ``J``, shape (n, k, n_params)."""
        st = self.point(theta)
        k = self.net.sizes[-1]
        self.count(*["backward"] * k)
        layout = self.net.layout
        for rows, _, a, z, _ in self.blocks(st):
            for j in range(k):
                passes.sample_gradients(st.params, self.net.activations, a, z,
                                        j, layout.slices, J[rows, j], st.ws)
        return J
