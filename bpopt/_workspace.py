"""Scratch buffers for one block of rows, reused from call to call."""

import numpy as np


class Workspace:
    """Buffers sized for ``rows`` rows of a network of layer ``sizes``.

    Every buffer is allocated once, flat, and handed out as reshaped
    views, so that a pass allocates nothing per block.
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
        self.a = self.z = None
        if activations:
            self.a = [None] + [np.empty((rows, s), dtype) for s in sizes[1:]]
            self.z = [None] + [
                np.empty((rows, s), dtype) if keep else None
                for s, keep in zip(sizes[1:], keep_z)
            ]
        # the input block in the compute dtype, when X has another one
        self.x = np.empty((rows, sizes[0]), dtype) if cast_input else None
        self._tangent = None
        self._ones = np.ones(rows, dtype)

    def delta_buffer(self, current, width, rows=None):
        """A ``(b, width)`` view of the delta buffer not holding ``current``.

        ``b`` is the number of rows of ``current``, or ``rows`` without it.
        """
        return self._other(self._delta, current, width, rows)

    def rdelta_buffer(self, current, width, rows=None):
        if self._rdelta is None:
            self._rdelta = [np.empty_like(self._tmp), np.empty_like(self._tmp)]
        return self._other(self._rdelta, current, width, rows)

    def tmp(self, shape):
        return self._tmp[: shape[0] * shape[1]].reshape(shape)

    def input_sized(self, shape):
        """Scratch as wide as any layer's input, made on first use."""
        if self._input_sized is None:
            self._input_sized = np.empty(self.rows * max(self.sizes[:-1]),
                                         self.dtype)
        return self._input_sized[: shape[0] * shape[1]].reshape(shape)

    def tmp2(self, shape):
        """A second scratch buffer, made on first use (second-order passes)."""
        if self._tmp2 is None:
            self._tmp2 = np.empty_like(self._tmp)
        return self._tmp2[: shape[0] * shape[1]].reshape(shape)

    def product_buffer(self, shape):
        size = int(np.prod(shape))
        return self._product[:size].reshape(shape)

    def ones(self, rows):
        return self._ones[:rows]

    def tangent_buffers(self, rows):
        """Lists ``Rz``, ``Ra`` of ``(rows, width)`` views."""
        if self._tangent is None:
            Rz = [None] + [np.empty((self.rows, s), self.dtype)
                           for s in self.sizes[1:]]
            Ra = [None] + [np.empty((self.rows, s), self.dtype)
                           for s in self.sizes[1:-1]]
            self._tangent = Rz, Ra
        Rz, Ra = self._tangent
        return [None] + [r[:rows] for r in Rz[1:]], [None] + [r[:rows] for r in Ra[1:]]

    @staticmethod
    def _other(pair, current, width, rows):
        if current is None:
            buf = pair[0]
        else:
            rows = current.shape[0]
            buf = pair[1] if np.may_share_memory(current, pair[0]) else pair[0]
        return buf[: rows * width].reshape(rows, width)
