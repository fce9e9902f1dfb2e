"""Scratch buffers for one block of rows, reused from call to call.

Arrays as wide as the network's output (the outputs, the output error
and their tangents) are laid out feature-major: a ``(b, k)`` array is the
transpose of a C-contiguous ``(k, b)`` one. The softmax normalisation and
the output bias act on whole rows; on ``k`` contiguous columns NumPy runs
them as ``k`` long loops rather than ``b`` loops of ``k`` entries each,
which for ten outputs is two to three times faster. Hidden layers keep
the row-major layout of ``X``.
"""

import numpy as np


def feature_major(flat, rows, width, start=0):
    """A ``(rows, width)`` view of ``flat`` stored column by column,
    beginning ``start`` rows in."""
    return flat[start * width:(start + rows) * width].reshape(width, rows).T


def layer_views(flats, sizes, rows, start=0):
    """Per-layer ``(rows, width)`` views of flat arrays, beginning ``start``
    rows in: row-major for hidden layers, feature-major for the output.
    ``flats`` is indexed by layer; entry 0 and missing arrays give None."""
    last = len(sizes) - 1
    views = [None]
    for l in range(1, len(flats)):
        flat, width = flats[l], sizes[l]
        if flat is None:
            views.append(None)
        elif l == last:
            views.append(feature_major(flat, rows, width, start))
        else:
            views.append(flat[start * width:(start + rows) * width]
                         .reshape(rows, width))
    return views


def is_feature_major(arr):
    """Whether ``arr`` is laid out column by column (and not also by rows)."""
    return arr.flags.f_contiguous and not arr.flags.c_contiguous


class Workspace:
    """Buffers sized for ``rows`` rows of a network of layer ``sizes``.

    Every buffer is allocated once, flat, and handed out as reshaped
    views, so that a pass allocates nothing per block. The views are made
    once and looked up afterwards: on small blocks, making them anew took
    a few microseconds of every call.
    """

    def __init__(self, sizes, rows, dtype, keep_z, cast_input=False,
                 activations=True):
        self.sizes, self.rows, self.dtype = sizes, rows, dtype
        widest = max(sizes[1:])
        flat = rows * widest
        self._delta = [np.empty(flat, dtype), np.empty(flat, dtype)]
        self._rdelta = None
        self._tmp = np.empty(flat, dtype)
        self._tmp2 = self._input_sized = None
        largest_W = max(i * o for i, o in zip(sizes[:-1], sizes[1:]))
        self._product = np.empty(max(largest_W, flat), dtype)
        # the block's activations, unless the caller keeps them elsewhere
        self._a = self._z = None
        if activations:
            self._a = [None] + [np.empty(rows * s, dtype) for s in sizes[1:]]
            self._z = [None] + [np.empty(rows * s, dtype) if keep else None
                                for s, keep in zip(sizes[1:], keep_z)]
        # the input block in the compute dtype, when X has another one
        self.x = np.empty((rows, sizes[0]), dtype) if cast_input else None
        self._tangent = None
        self._ones = np.ones(rows, dtype)
        self._views = {}

    def activations(self, b):
        """Lists ``a`` and ``z`` of views for a block of ``b`` rows, indexed
        by layer (``a[0]`` and the ``z`` of unkept layers are None)."""
        return (layer_views(self._a, self.sizes, b),
                layer_views(self._z, self.sizes, b))

    def _view(self, flat, rows, width, by_columns):
        """The ``(rows, width)`` view at the start of ``flat``, laid out
        column by column or by rows."""
        key = (id(flat), rows, width, by_columns)
        view = self._views.get(key)
        if view is None:
            view = (feature_major(flat, rows, width) if by_columns
                    else flat[: rows * width].reshape(rows, width))
            self._views[key] = view
        return view

    def output_error(self, rows):
        """A ``(rows, k)`` feature-major view for the output error."""
        return self._view(self._delta[0], rows, self.sizes[-1], True)

    def output_rerror(self, rows):
        """As :meth:`output_error`, for its directional derivative."""
        self._make_rdelta()
        return self._view(self._rdelta[0], rows, self.sizes[-1], True)

    def delta_buffer(self, current, width):
        """A ``(b, width)`` view of the delta buffer not holding ``current``,
        with ``b`` the rows of ``current``."""
        return self._other(self._delta, current, width)

    def rdelta_buffer(self, current, width):
        self._make_rdelta()
        return self._other(self._rdelta, current, width)

    def _make_rdelta(self):
        if self._rdelta is None:
            self._rdelta = [np.empty_like(self._tmp), np.empty_like(self._tmp)]

    def _like(self, flat, arr):
        """A view of ``flat`` with the shape and the memory order of ``arr``."""
        b, width = arr.shape
        return self._view(flat, b, width, is_feature_major(arr))

    def tmp(self, arr):
        """Scratch of the shape and memory order of ``arr``."""
        return self._like(self._tmp, arr)

    def tmp2(self, arr):
        """A second scratch like :meth:`tmp`, made on first use
        (second-order passes)."""
        if self._tmp2 is None:
            self._tmp2 = np.empty_like(self._tmp)
        return self._like(self._tmp2, arr)

    def input_sized(self, arr):
        """Scratch like ``arr``, as wide as any layer's input, made on first
        use."""
        if self._input_sized is None:
            self._input_sized = np.empty(self.rows * max(self.sizes[:-1]),
                                         self.dtype)
        return self._like(self._input_sized, arr)

    def product_buffer(self, shape):
        size = shape[0] * shape[1] if len(shape) == 2 else shape[0]
        return self._product[:size].reshape(shape)

    def ones(self, rows):
        return self._ones[:rows]

    def tangent_buffers(self, rows):
        """Lists ``Rz``, ``Ra`` of ``(rows, width)`` views, laid out as the
        activations are."""
        if self._tangent is None:
            self._tangent = ([None] + [np.empty(self.rows * s, self.dtype)
                                       for s in self.sizes[1:]],
                             [None] + [np.empty(self.rows * s, self.dtype)
                                       for s in self.sizes[1:-1]])
        Rz, Ra = self._tangent
        return (layer_views(Rz, self.sizes, rows),
                layer_views(Ra, self.sizes, rows))

    def _other(self, pair, current, width):
        # views made here have their flat buffer as base: no memory check
        base = current.base
        first = base is pair[0] or (base is not pair[1]
                                    and np.may_share_memory(current, pair[0]))
        return self._view(pair[1] if first else pair[0], current.shape[0],
                          width, False)
